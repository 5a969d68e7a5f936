package indexer

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	e2eRows    = flag.Int("bench-rows", 50_000, "listings the end-to-end benchmark adds to the examples' store")
	e2eChanges = flag.Int("bench-changes", 20_000, "live changes the end-to-end benchmark commits at once, per cell")
	e2eRate    = flag.Int("bench-rate", 100, "changes/s of the end-to-end benchmark's paced phase (5 s per cell)")
)

// e2eSettings are production-like: the defaults, with backfill tasks of
// 1,000 keys.
var e2eSettings = map[string]string{
	"capture.backfill_chunk": "1000", "capture.lag_interval": "10s",
	"indexer.batch_size": "500", "indexer.batch_wait": "250ms", "indexer.ack_wait": "60s", "indexer.concurrency": "2",
}

// e2eSinkConfig is the examples' [sinks.search] against the stand-in.
func e2eSinkConfig(srv *opensearchtest.Server) *config.Sink {
	return &config.Sink{Name: "search", Type: config.SinkOpenSearch, OpenSearch: &config.OpenSearchSink{
		URL: config.SecretLiteral(srv.URL()), TLSVerify: true, BatchSize: 500, MaxBytes: 5 << 20,
		Timeout: config.Duration(20 * time.Second), MaxRetries: 5, NumberOfShards: 1, NumberOfReplicas: 0,
		RefreshInterval: "1s", TextAnalysis: config.AnalysisBuiltin, AutoSubfields: true,
	}}
}

// e2eResult is one cell of the matrix.
type e2eResult struct {
	backfillRate       float64 // documents/s
	liveRate           float64 // changes/s, committed at once
	pacedP50, pacedP99 float64 // ms, changes committed at -bench-rate
	pacedMax           float64
	burst, paced       int
	backfill, firstDoc time.Duration // until every document, until the first, acknowledged
	committing, live   time.Duration // the burst's commits; from its first commit to its last acknowledgement
}

// BenchmarkEndToEnd measures the pipeline from Postgres to the sink's
// acknowledgement, once per run (use -benchtime 1x; -v adds a markdown table
// of the figures at the end):
//
//	go test ./services/indexer -run '^$' -bench EndToEnd -benchtime 1x -v \
//		[-bench-rows 50000 -bench-changes 20000 -bench-rate 100]
//
// The examples' store plus -bench-rows generated listings (with photos,
// amenities, bookings, payments, reviews and night rates) is loaded once.
// The engine-* cells build every listing document with pkg/document alone,
// in batches of 1,000 keys on one or two connections. Then, for the rich
// (examples/listings.schema.yml) and the flat (the listing's own columns)
// index, with one and two indexer replicas, against the OpenSearch sink on
// the pkg/opensearchtest stand-in and against a sink that discards, each
// cell runs a capture on a slot and pipeline of its own and measures:
//
//   - backfill-docs/s: listings over the time from starting the capture and
//     the indexers to the operation of every listing (a delete for a draft,
//     in rich) acknowledged by the sink;
//   - live-changes/s: -bench-changes single-row updates of listings.title,
//     each its own transaction, committed back to back by a server-side
//     loop (faster than the pipeline takes them), over the time from the
//     loop's start to the last acknowledgement;
//   - p50-ms, p99-ms: commit-to-acknowledgement latency of changes committed
//     one by one by a client at a steady -bench-rate per second for 5 s
//     (the client's clock after COMMIT returned, the sink's after Write
//     returned).
//
// A change is matched to its acknowledgement by the sequence number in the
// title it sets.
func BenchmarkEndToEnd(b *testing.B) {
	if testing.Short() {
		b.Skip("long: loads and indexes the generated listings eight times")
	}
	ctx := context.Background()
	dir := e2eExamplesDir()
	rich, err := os.ReadFile(filepath.Join(dir, "listings.schema.yml"))
	if err != nil {
		b.Fatal(err)
	}
	h := newHarness(b, "", map[string]string{"rich": string(rich), "flat": e2eFlatSchema}, "", e2eSettings)
	began := time.Now()
	h.DB.ExecFiles(b, filepath.Join(dir, "postgres", "01_schema.sql"), filepath.Join(dir, "postgres", "02_seed.sql"))
	h.Exec(b, strings.ReplaceAll(e2eRowsSQL, ":rows", fmt.Sprint(*e2eRows)))
	// Set the hint bits and the statistics now, or the first to read the
	// fresh rows (the engine cells) would pay for writing them.
	h.Exec(b, "VACUUM (ANALYZE)")
	pcfg, err := pgxpool.ParseConfig(h.DB.URL)
	if err != nil {
		b.Fatal(err)
	}
	document.ConfigureConn(pcfg.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	keys, err := e2eKeys(ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	// The live changes touch distinct published listings, so that no batch
	// folds two of them into one document.
	rows, err := pool.Query(ctx, "SELECT id::text FROM stays.listings WHERE status = 'published' ORDER BY id")
	if err != nil {
		b.Fatal(err)
	}
	published, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d listings (%d published) with their related rows in %s", len(keys), len(published), time.Since(began).Round(time.Millisecond))

	cfg := h.cfg(b, nil)
	engine := map[string]float64{}
	var engineNames []string
	for _, index := range []string{"rich", "flat"} {
		bl, err := document.New(ctx, index, cfg.Index(index).Schema, catalog.New(pool))
		if err != nil {
			b.Fatal(err)
		}
		for _, conns := range []int{1, 2} {
			name := fmt.Sprintf("engine-%s-%dconn", index, conns)
			b.Run(name, func(b *testing.B) {
				n, took, err := e2eEngine(pool, bl, keys, conns)
				if err != nil {
					b.Fatal(err)
				}
				if n != len(keys) {
					b.Fatalf("built %d documents of %d keys", n, len(keys))
				}
				engine[name] = float64(n) / took.Seconds()
				engineNames = append(engineNames, name)
				b.ReportMetric(engine[name], "docs/s")
			})
		}
	}

	results := map[string]e2eResult{}
	var names []string
	cell := 0
	for _, index := range []string{"rich", "flat"} {
		for _, replicas := range []int{1, 2} {
			for _, standin := range []bool{true, false} {
				kind := "discard"
				if standin {
					kind = "standin"
				}
				name := fmt.Sprintf("%s-%dr-%s", index, replicas, kind)
				cell++
				tag := fmt.Sprintf("e2e-%d", cell)
				b.Run(name, func(b *testing.B) {
					r := h.e2eRun(b, name, index, replicas, standin, len(keys), published, tag)
					results[name] = r
					names = append(names, name)
					b.ReportMetric(r.backfillRate, "backfill-docs/s")
					b.ReportMetric(r.liveRate, "live-changes/s")
					b.ReportMetric(r.pacedP50, "p50-ms")
					b.ReportMetric(r.pacedP99, "p99-ms")
				})
			}
		}
	}

	var t strings.Builder
	if len(names) > 0 {
		fmt.Fprintf(&t, "\n| cell (%s listings, %s changes) | backfill docs/s | live changes/s | p50 / p99 ms at %d/s |\n|---|---|---|---|\n",
			e2eCommas(float64(len(keys))), e2eCommas(float64(results[names[0]].burst)), *e2eRate)
		for _, name := range names {
			r := results[name]
			fmt.Fprintf(&t, "| %s | %s | %s | %.0f / %.0f |\n", name, e2eCommas(r.backfillRate), e2eCommas(r.liveRate), r.pacedP50, r.pacedP99)
		}
	}
	if len(engineNames) > 0 {
		fmt.Fprintf(&t, "\n| engine alone | documents/s |\n|---|---|\n")
		for _, name := range engineNames {
			fmt.Fprintf(&t, "| %s | %s |\n", name, e2eCommas(engine[name]))
		}
	}
	b.Log(t.String())
}

// e2eRun is one cell: a fresh slot, publication and pipeline on the loaded
// store, a capture and replicas indexers writing to the stand-in or to a
// discarding sink.
func (h *harness) e2eRun(b *testing.B, name, index string, replicas int, standin bool, docs int, published []string, tag string) e2eResult {
	ctx := context.Background()
	slot := "e2e_" + strings.TrimPrefix(h.DB.Name, "t_") + "_" + e2eIdent(name)
	names := changes.NamesFor(slot)
	extra := map[string]string{"capture.slot": slot, "capture.publication": slot}
	configure := func() *config.Config {
		c := h.cfg(b, extra)
		for _, ix := range c.Indexes {
			ix.Enabled = ix.Name == index
		}
		return c
	}
	// Registered first, run last: after the services have stopped.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = h.Pool.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot)
		_, _ = h.Pool.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
		_, _ = h.Pool.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{slot}.Sanitize())
		for _, s := range []string{names.ChangesStream(), names.EventsStream(), names.DLQStream(), names.ControlStream()} {
			_ = h.JS.DeleteStream(ctx, s)
		}
		_ = h.JS.DeleteKeyValue(ctx, names.StateBucket())
	})

	paced := min(5**e2eRate, len(published)/2)
	burst := min(*e2eChanges, len(published)-paced)
	// The test cluster commits asynchronously; a commit that waits for its
	// WAL flush reaches the replication stream at once, as in production,
	// instead of at the WAL writer's next round (200 ms).
	ccfg, err := pgx.ParseConfig(h.DB.URL)
	if err != nil {
		b.Fatal(err)
	}
	ccfg.RuntimeParams["synchronous_commit"] = "on"
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)

	// The publication exists beforehand, as an operator would create it:
	// the capture then has nothing to warn about.
	var tables []string
	for _, t := range configure().Index(index).Schema.Tables() {
		if id := (pgx.Identifier{t.Schema, t.Name}).Sanitize(); !slices.Contains(tables, id) {
			tables = append(tables, id)
		}
	}
	h.Exec(b, "CREATE PUBLICATION "+pgx.Identifier{slot}.Sanitize()+" FOR TABLE "+strings.Join(tables, ", "))

	rec := newE2ERecorder(index)
	var srv *opensearchtest.Server
	if standin {
		srv = opensearchtest.New(b)
	}
	b.ResetTimer()
	began := time.Now()
	services := []*running{h.e2eStartCapture(b, name+"/capture", configure())}
	for i := range replicas {
		cfg := configure()
		var s sink.Sink = e2eDiscard{}
		if srv != nil {
			sc := e2eSinkConfig(srv)
			cfg.Sinks = append(cfg.Sinks, sc)
			search, err := opensearch.New(cfg, sc, h.env, e2eLogger(b, name+"/search"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = search.Close() })
			s = search
		}
		services = append(services, h.e2eStartIndexer(b, fmt.Sprintf("%s/indexer-%d", name, i+1), cfg, e2eRecording{Sink: s, rec: rec}))
	}
	var r e2eResult
	e2eWait(b, 2*time.Minute+time.Duration(docs)*10*time.Millisecond, "backfill: documents acknowledged", services, docs, rec.documents)
	r.backfill = time.Since(began)
	r.firstDoc = rec.firstAck().Sub(began)
	r.backfillRate = float64(docs) / r.backfill.Seconds()

	// The live phases start once the generation serves.
	view := *h
	view.Names = names
	e2eWait(b, time.Minute, "backfill: generation seeded", services, 1, func() int {
		if st := view.indexState(b, index); st != nil && st.State == "seeded" {
			return 1
		}
		return 0
	})

	r.burst, r.paced = burst, paced
	rec.expect(tag, burst+paced)
	// The same listings in the same order as published: sequence number i
	// updates published[i].
	loop := fmt.Sprintf(`DO $$
DECLARE ids uuid[] := ARRAY(SELECT id FROM stays.listings WHERE status = 'published' ORDER BY id LIMIT %d);
BEGIN
  FOR i IN 1..%d LOOP
    UPDATE stays.listings SET title = '%s-' || (i - 1) WHERE id = ids[i];
    COMMIT;
  END LOOP;
END $$`, burst, burst, tag)
	first := time.Now()
	if _, err := conn.Exec(ctx, loop, pgx.QueryExecModeSimpleProtocol); err != nil {
		b.Fatal(err)
	}
	r.committing = time.Since(first)
	// Past the ack wait (60 s): a change JetStream redelivers late still
	// counts, in the figures.
	e2eWait(b, 3*time.Minute+time.Duration(burst)*10*time.Millisecond, "live changes acknowledged", services, burst, rec.ackedChanges)
	r.live = slices.MaxFunc(rec.ackTimes()[:burst], time.Time.Compare).Sub(first)
	r.liveRate = float64(burst) / r.live.Seconds()

	commits := make([]time.Time, paced)
	interval := time.Second / time.Duration(max(*e2eRate, 1))
	next := time.Now()
	for i := range paced {
		time.Sleep(time.Until(next))
		seq := burst + i
		if _, err := conn.Exec(ctx, "UPDATE stays.listings SET title = $1 WHERE id = $2", fmt.Sprintf("%s-%d", tag, seq), published[seq]); err != nil {
			b.Fatal(err)
		}
		commits[i] = time.Now()
		next = next.Add(interval)
	}
	e2eWait(b, 3*time.Minute, "paced changes acknowledged", services, burst+paced, rec.ackedChanges)
	lat := e2eLatencies(commits, rec.ackTimes()[burst:])
	r.pacedP50, r.pacedP99 = e2ePercentile(lat, 50), e2ePercentile(lat, 99)
	r.pacedMax = e2ePercentile(lat, 100)
	b.StopTimer()
	b.Logf("%d documents acknowledged in %s (the first after %s); %d changes committed in %s, acknowledged %s after the first commit; %d at %d/s, the slowest acknowledged after %.0f ms",
		docs, r.backfill.Round(time.Millisecond), r.firstDoc.Round(time.Millisecond), burst, r.committing.Round(time.Millisecond), r.live.Round(time.Millisecond), paced, *e2eRate, r.pacedMax)
	return r
}
