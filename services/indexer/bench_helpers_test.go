package indexer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/services/capture"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// e2eFlatSchema reads only the root row of the listings table: 16 fields of
// every kind, no relation.
const e2eFlatSchema = `
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

// e2eRowsSQL adds :rows listings to the examples' store, each with 2 photos,
// 6 amenity links, 4 bookings with payments and reviews, and 5 night rates:
// the related rows the rich index reads. Every tenth listing is a draft,
// which the rich index writes as a delete. Deterministic.
const e2eRowsSQL = `SET search_path = stays;

INSERT INTO listings (id, host_id, city_code, title, description, kind, status, nightly_price, currency,
                      max_guests, bedrooms, latitude, longitude, attributes, thumbnail, published_on,
                      check_in_time, check_out_time, created_at, updated_at, rating)
SELECT md5('e2e-listing-' || g)::uuid,
       1 + g % 40,
       (ARRAY(SELECT code FROM cities ORDER BY code))[1 + g % 26],
       'Listing ' || g || ' near the station',
       'Generated listing number ' || g || '. Bright rooms, a balcony, shops round the corner, fast wifi.',
       (ARRAY['room', 'apartment', 'house', 'cabin']::listing_kind[])[1 + g % 4],
       CASE WHEN g % 10 = 0 THEN 'draft' ELSE 'published' END,
       50 + (g % 250) + 0.5 * (g % 2),
       'EUR',
       1 + g % 6,
       NULLIF(g % 4, 0),
       CASE WHEN g % 9 = 0 THEN NULL ELSE 36 + (g % 1500) / 100.0 END,
       CASE WHEN g % 9 = 0 THEN NULL ELSE -4 + (g % 2500) / 100.0 END,
       jsonb_build_object('wifi_mbps', g % 400, 'floor', g % 7, 'lift', g % 2 = 0),
       decode(md5('e2e-thumb-' || g), 'hex'),
       DATE '2021-01-01' + g % 1200,
       TIME '14:00' + (g % 3) * INTERVAL '1 hour',
       TIME '10:00',
       TIMESTAMP '2020-01-01 09:00' + g * INTERVAL '5 minutes',
       TIMESTAMPTZ '2024-03-01 00:00+00' + g * INTERVAL '1 minute',
       CASE WHEN g % 4 = 0 THEN NULL ELSE 3 + (g % 20) / 10.0 END
FROM generate_series(1, :rows) AS g;

INSERT INTO photos (id, listing_id, position, url, caption, checksum)
SELECT 20000000 + g * 2 + j, md5('e2e-listing-' || g)::uuid, j + 1,
       'https://img.stays.example/e2e/' || g || '/' || j || '.jpg',
       CASE WHEN j = 1 THEN NULL ELSE 'Photo ' || j END,
       decode(md5('e2e-photo-' || g || '-' || j), 'hex')
FROM generate_series(1, :rows) AS g, generate_series(0, 1) AS j;

INSERT INTO listing_amenities (listing_id, amenity_id)
SELECT md5('e2e-listing-' || g)::uuid, 1 + (g * 3 + k) % 16
FROM generate_series(1, :rows) AS g, generate_series(0, 5) AS k;

INSERT INTO bookings (id, listing_id, guest_id, check_in, check_out, guests, total, status, cancelled, created_at)
SELECT 20000000 + g * 4 + j, md5('e2e-listing-' || g)::uuid, 1 + (g * 7 + j) % 60,
       DATE '2024-02-01' + (g % 180) + j * 35, DATE '2024-02-01' + (g % 180) + j * 35 + 1 + (g + j) % 8,
       1 + (g + j) % 4, 120 + (g % 400) + j * 15,
       (ARRAY['requested', 'confirmed', 'cancelled', 'completed'])[1 + (g + j) % 4],
       (g + j) % 4 = 2,
       TIMESTAMPTZ '2024-01-01 00:00+00' + (g % 180) * INTERVAL '1 day'
FROM generate_series(1, :rows) AS g, generate_series(0, 3) AS j;

INSERT INTO payments (booking_id, seq, amount, method, paid_at)
SELECT b.id, s, b.total / 2, (ARRAY['card', 'transfer', 'voucher'])[1 + (b.id + s) % 3], b.created_at + s * INTERVAL '2 days'
FROM bookings b, generate_series(1, 2) AS s
WHERE b.id >= 20000000 AND (s = 1 OR b.id % 2 = 0);

INSERT INTO reviews (booking_id, rating, body, host_reply, created_at)
SELECT id, 1 + id % 5, 'Generated review ' || id, CASE WHEN id % 3 = 0 THEN 'Thank you!' END, created_at + INTERVAL '15 days'
FROM bookings WHERE id >= 20000000 AND status = 'completed';

INSERT INTO night_rates (listing_id, night, price, available, min_stay)
SELECT md5('e2e-listing-' || g)::uuid, DATE '2024-07-01' + d, 50 + (g % 250) + d, (g + d) % 6 <> 0, NULLIF(d % 3, 0)
FROM generate_series(1, :rows) AS g, generate_series(0, 4) AS d;

RESET search_path;
`

// e2eExamplesDir is the examples folder of the repository.
func e2eExamplesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples")
}

// e2eLogger writes warnings and errors to the benchmark's log: info lines
// would only add noise to the figures' output.
func e2eLogger(t testing.TB, prefix string) *slog.Logger {
	w := &testWriter{t: t, prefix: prefix}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// e2eDiscard is a sink that accepts every operation and keeps nothing: what
// is left is the pipeline's own cost.
type e2eDiscard struct{}

func (e2eDiscard) Name() string                                               { return "discard" }
func (e2eDiscard) Ensure(context.Context, sink.Target) error                  { return nil }
func (e2eDiscard) Write(context.Context, []sink.Op) ([]sink.Rejection, error) { return nil, nil }
func (e2eDiscard) Seeded(context.Context, string, sink.Generation) error      { return nil }
func (e2eDiscard) Close() error                                               { return nil }

// e2eRecorder observes what the sinks acknowledged, across the replicas:
// the distinct documents of the index (backfill), and when the document
// carrying each live change's sequence number was acknowledged.
type e2eRecorder struct {
	index string

	mu     sync.Mutex
	seen   map[string]struct{}
	first  time.Time   // the first acknowledgement
	marker []byte      // "<tag>-", the prefix of a live change's title
	acks   []time.Time // by sequence number; zero until acknowledged
	acked  int
}

func newE2ERecorder(index string) *e2eRecorder {
	return &e2eRecorder{index: index, seen: map[string]struct{}{}}
}

// expect starts matching titles "<tag>-<seq>" for sequence numbers below n.
func (r *e2eRecorder) expect(tag string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marker = []byte(tag + "-")
	r.acks = make([]time.Time, n)
	r.acked = 0
}

func (r *e2eRecorder) record(ops []sink.Op, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first.IsZero() {
		r.first = at
	}
	for _, op := range ops {
		if op.Index != r.index {
			continue
		}
		r.seen[op.ID] = struct{}{}
		if r.marker == nil || op.Doc == nil {
			continue
		}
		i := bytes.Index(op.Doc, r.marker)
		if i < 0 {
			continue
		}
		rest := op.Doc[i+len(r.marker):]
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		seq, err := strconv.Atoi(string(rest[:end]))
		if err != nil || seq >= len(r.acks) || !r.acks[seq].IsZero() {
			continue // a redelivery, or a change of an earlier phase
		}
		r.acks[seq] = at
		r.acked++
	}
}

// documents is the number of distinct documents acknowledged.
func (r *e2eRecorder) documents() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *e2eRecorder) firstAck() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// ackedChanges is the number of live changes acknowledged so far.
func (r *e2eRecorder) ackedChanges() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked
}

func (r *e2eRecorder) ackTimes() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.acks)
}

// e2eRecording decorates a sink: after a Write that returned no error, its
// operations count as acknowledged.
type e2eRecording struct {
	sink.Sink
	rec *e2eRecorder
}

func (s e2eRecording) Write(ctx context.Context, ops []sink.Op) ([]sink.Rejection, error) {
	rejected, err := s.Sink.Write(ctx, ops)
	if err == nil {
		s.rec.record(ops, time.Now())
	}
	return rejected, err
}

// SetRefresh passes the indexer's refresh switch on, as the undecorated
// sink would receive it.
func (s e2eRecording) SetRefresh(refresh string) {
	if r, ok := s.Sink.(refresher); ok {
		r.SetRefresh(refresh)
	}
}

// e2eStartCapture runs a capture with cfg (the harness's StartCapture always
// uses the harness's own slot).
func (h *harness) e2eStartCapture(t testing.TB, instance string, cfg *config.Config) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := capture.New(ctx, capture.Options{Config: cfg, JetStream: h.JS, Logger: e2eLogger(t, instance), Instance: instance, Env: h.env})
	if err != nil {
		t.Fatalf("capture.New: %v", err)
	}
	t.Cleanup(c.Close)
	return start(t, c.Run)
}

// e2eStartIndexer runs an indexer with cfg writing to sinks.
func (h *harness) e2eStartIndexer(t testing.TB, instance string, cfg *config.Config, sinks ...sink.Sink) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ix, err := New(ctx, Options{Config: cfg, JetStream: h.JS, Sinks: sinks, Logger: e2eLogger(t, instance), Instance: instance, Env: h.env})
	if err != nil {
		t.Fatalf("indexer.New: %v", err)
	}
	t.Cleanup(ix.Close)
	return start(t, ix.Run)
}

// e2eWait polls until done (n of want) holds; it fails when timeout passes
// or one of the services ends.
func e2eWait(t testing.TB, timeout time.Duration, what string, services []*running, want int, done func() int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := done(); n < want; n = done() {
		for _, r := range services {
			select {
			case <-r.done:
				t.Fatalf("%s: a service stopped: %v", what, r.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d after %s", what, n, want, timeout)
		}
		<-tick.C
	}
}

// e2eEngine builds the documents of keys with b in batches of 1000 on
// workers connections; it returns the documents emitted (deletes included)
// and the time taken.
func e2eEngine(pool *pgxpool.Pool, b *document.Builder, keys [][]string, workers int) (int, time.Duration, error) {
	batches := make(chan [][]string)
	var (
		mu    sync.Mutex
		built int
		errs  []error
		wg    sync.WaitGroup
	)
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for ks := range batches {
				if err := b.Build(context.Background(), pool, ks, func(document.Doc) error { n++; return nil }); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
			mu.Lock()
			built += n
			mu.Unlock()
		}()
	}
	for ks := range slices.Chunk(keys, 1000) {
		batches <- ks
	}
	close(batches)
	wg.Wait()
	return built, time.Since(began), errors.Join(errs...)
}

// e2eKeys reads the root keys of the listings as text, in key order.
func e2eKeys(ctx context.Context, pool *pgxpool.Pool) ([][]string, error) {
	rows, err := pool.Query(ctx, "SELECT id::text FROM stays.listings ORDER BY id")
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	keys := make([][]string, len(ids))
	for i, id := range ids {
		keys[i] = []string{id}
	}
	return keys, nil
}

// e2eLatencies is the acknowledgement time minus the commit time of each
// change, sorted.
func e2eLatencies(commits, acks []time.Time) []time.Duration {
	out := make([]time.Duration, 0, len(commits))
	for i, c := range commits {
		out = append(out, acks[i].Sub(c))
	}
	slices.Sort(out)
	return out
}

// e2ePercentile is the nearest-rank percentile of sorted durations, in ms.
func e2ePercentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// e2eIdent makes a Postgres identifier of a matrix cell's name.
func e2eIdent(s string) string { return strings.ReplaceAll(s, "-", "_") }

// e2eCommas writes n with thousands separators.
func e2eCommas(n float64) string {
	s := strconv.FormatInt(int64(math.Round(n)), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
