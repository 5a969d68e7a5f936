package document

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var benchRows = flag.Int("bench-rows", 100_000, "root rows the build benchmark adds to the examples' store")

// flatSchema reads only the root row of the listings table.
const flatSchema = `
version: 1
table: listings
schema: stays
primary_key: id
fields:
  - uuid: id
  - text: title
  - text: description
  - enum: kind
  - keyword: status
  - decimal: nightlyPrice
    column: nightly_price
  - keyword: currency
  - short: maxGuests
    column: max_guests
  - integer: bedrooms
  - geo: location
    lat: latitude
    lon: longitude
  - json: attributes
  - date: publishedOn
    column: published_on
  - timestamp: createdAt
    column: created_at
  - timestamp: updatedAt
    column: updated_at
  - float: rating
`

type benchStore struct {
	db   *pgtest.Database
	pool *pgxpool.Pool
	cfg  *config.Config
	rows int
}

var (
	benchOnce  sync.Once
	benchData  *benchStore
	benchFloor float64
)

func loadBenchStore(b *testing.B) *benchStore {
	benchOnce.Do(func() {
		cfg, db := examples(b)
		start := time.Now()
		script, err := os.ReadFile(testdata("bench.sql"))
		if err != nil {
			b.Fatal(err)
		}
		db.Exec(b, strings.ReplaceAll(string(script), ":rows", fmt.Sprint(*benchRows)))
		pcfg, err := pgxpool.ParseConfig(db.URL)
		if err != nil {
			b.Fatal(err)
		}
		ConfigureConn(pcfg.ConnConfig)
		pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
		if err != nil {
			b.Fatal(err)
		}
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM stays.listings").Scan(&n); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d listings with their related rows in %s", n, time.Since(start).Round(time.Millisecond))
		benchData = &benchStore{db: db, pool: pool, cfg: cfg, rows: n}
	})
	if benchData == nil {
		b.Fatal("the benchmark store did not load")
	}
	return benchData
}

// peakHeap samples the Go heap until stop is closed.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var m runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// buildAll builds every listing in batches on workers connections and
// returns the documents built. The keys stream from a cursor, as backfill
// tasks would bring them, so that the heap measured is the builder's.
func buildAll(b *testing.B, bl *Builder, pool *pgxpool.Pool, batch, workers int) int64 {
	var built int64
	batches := make(chan [][]string, workers)
	var wg sync.WaitGroup
	var failure atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ks := range batches {
				err := bl.Build(context.Background(), pool, ks, func(d Doc) error {
					atomic.AddInt64(&built, 1)
					return nil
				})
				if err != nil {
					failure.Store(err)
				}
			}
		}()
	}
	conn, err := pgx.Connect(context.Background(), benchData.db.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), "SELECT id::text FROM stays.listings")
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][]string, 0, batch)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, []string{id})
		if len(keys) == batch {
			batches <- keys
			keys = make([][]string, 0, batch)
		}
	}
	if len(keys) > 0 {
		batches <- keys
	}
	rows.Close()
	close(batches)
	wg.Wait()
	if err, _ := failure.Load().(error); err != nil {
		b.Fatal(err)
	}
	return built
}

// BenchmarkBuild times the bare Postgres floor (row_to_json of every root
// row, streamed by COPY) against building the flat and the rich listings
// documents of the same rows:
//
//	go test ./pkg/document -run '^$' -bench Build -benchtime 1x [-bench-rows 100000]
func BenchmarkBuild(b *testing.B) {
	store := loadBenchStore(b)
	n := store.rows
	ctx := context.Background()

	b.Run("floor", func(b *testing.B) {
		conn, err := pgx.Connect(ctx, store.db.URL)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		start := time.Now()
		for range b.N {
			var sink countingWriter
			if _, err := conn.PgConn().CopyTo(ctx, &sink, "COPY (SELECT row_to_json(t) FROM stays.listings AS t) TO STDOUT"); err != nil {
				b.Fatal(err)
			}
		}
		benchFloor = float64(n*b.N) / time.Since(start).Seconds()
		b.ReportMetric(benchFloor, "docs/s")
	})

	flat, diags := config.ParseSchema("flat.schema.yml", []byte(flatSchema), "flat")
	if err := diags.Err(); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		schema  *config.Schema
		workers int
	}{
		{"flat", flat, 1},
		{"rich", store.cfg.Index("listings").Schema, 1},
		{"rich-2-connections", store.cfg.Index("listings").Schema, 2},
		{"rich-3-connections", store.cfg.Index("listings").Schema, 3},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bl, err := New(ctx, tc.name, tc.schema, catalog.New(store.pool))
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			stop := make(chan struct{})
			peak := peakHeap(stop)
			start := time.Now()
			var built int64
			for range b.N {
				built += buildAll(b, bl, store.pool, 1000, tc.workers)
			}
			rate := float64(built) / time.Since(start).Seconds()
			close(stop)
			b.ReportMetric(rate, "docs/s")
			// The heap the build adds on top of the benchmark's own key list.
			b.ReportMetric(float64(<-peak-before.HeapInuse)/(1<<20), "build-heap-MB")
			if benchFloor > 0 {
				b.ReportMetric(benchFloor/rate, "x-floor")
			}
		})
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
