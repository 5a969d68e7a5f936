package status

// A reindex end to end: POST /reindex on the private surface, the command
// through the control stream, the capture seeding a new generation beside
// the serving one, the indexer writing it to the OpenSearch stand-in and
// flipping the alias, and the status following it all. Readers poll _count
// through the alias the whole time and must never see fewer documents than
// the table has.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/flusso-go/flusso/services/capture"
	"github.com/flusso-go/flusso/services/indexer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const e2eRows = 1500

// e2eWorld is a database, NATS, the stand-in, and the three services
// running as libraries on one config.
type e2eWorld struct {
	cfg    *config.Config
	env    config.LookupEnv
	js     jetstream.JetStream
	names  changes.Names
	os     *opensearchtest.Server
	agg    *Aggregator
	client *statusapi.Client
}

func newE2EWorld(t *testing.T) *e2eWorld {
	t.Helper()
	// A cluster of this test's own: the package needs no TestMain.
	db := pgtest.Private(t).NewDatabase(t)
	db.Exec(t, fmt.Sprintf(`
		CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);
		INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, %d) g;`, e2eRows))
	ns := natstest.Embedded(t)
	nc, err := nats.Connect(ns.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	w := &e2eWorld{js: js, os: opensearchtest.New(t)}
	w.env = func(name string) (string, bool) {
		if name == "DATABASE_URL" {
			return db.URL, true
		}
		return "", false
	}
	slot := "flusso_" + strings.TrimPrefix(db.Name, "t_")
	toml := fmt.Sprintf(`
[source]
type = "postgres"
connection_url = "postgres://unused/db"

[sinks.os]
type = "opensearch"
url = %q
max_retries = 30
refresh_interval = "1s"

[[index]]
name = "users"
schema = "users.schema.yml"
`, w.os.URL())
	schema := "version: 1\ntable: users\nfields:\n  - integer: id\n  - text: name\n"
	read := func(string) ([]byte, error) { return []byte(schema), nil }
	flags := map[string]string{
		"capture.slot": slot, "capture.publication": "flusso", "nats.url": ns.URL(),
		"capture.standby_retry": "100ms", "capture.lag_interval": "1s", "capture.backfill_chunk": "100",
		"indexer.batch_wait": "50ms", "indexer.ack_wait": "5s", "indexer.batch_size": "50",
	}
	cfg, diags := config.Parse("/test/flusso.toml", []byte(toml), config.Options{Flags: flags, Env: w.env}, read)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	w.cfg, w.names = cfg, changes.NamesFor(cfg.Pipeline())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pool := db.Pool(t)
		_, _ = pool.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot)
	})
	return w
}

// e2eLogger writes to the test log until the test ends.
func e2eLogger(t *testing.T, prefix string) *slog.Logger {
	w := &e2eLogWriter{t: t, prefix: prefix}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type e2eLogWriter struct {
	mu     sync.Mutex
	t      *testing.T
	prefix string
	done   bool
}

func (w *e2eLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s: %s", w.prefix, strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// runE2E runs fn until the test ends, and fails the test if it returns an
// error before that.
func runE2E(t *testing.T, what string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("%s stopped: %v", what, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s", what)
		}
	})
}

func (w *e2eWorld) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := capture.New(ctx, capture.Options{Config: w.cfg, JetStream: w.js, Logger: e2eLogger(t, "capture"), Instance: "c1", Env: w.env})
	if err != nil {
		t.Fatalf("capture.New: %v", err)
	}
	t.Cleanup(c.Close)
	runE2E(t, "capture", c.Run)

	s, err := opensearch.New(w.cfg, w.cfg.Sinks[0], w.env, e2eLogger(t, "sink"))
	if err != nil {
		t.Fatal(err)
	}
	s.BaseBackoff = 5 * time.Millisecond
	t.Cleanup(func() { _ = s.Close() })
	ix, err := indexer.New(ctx, indexer.Options{Config: w.cfg, JetStream: w.js, Sinks: []sink.Sink{s}, Logger: e2eLogger(t, "indexer"), Instance: "i1", Env: w.env})
	if err != nil {
		t.Fatalf("indexer.New: %v", err)
	}
	t.Cleanup(ix.Close)
	runE2E(t, "indexer", ix.Run)

	w.agg, err = New(ctx, Options{JetStream: w.js, Config: w.cfg, Logger: e2eLogger(t, "status"), Instance: "s1"})
	if err != nil {
		t.Fatalf("status.New: %v", err)
	}
	runE2E(t, "status", w.agg.Run)
	srv := NewServer(w.agg, ServerOptions{Config: w.cfg, JetStream: w.js, Logger: e2eLogger(t, "http"), Instance: "s1", Token: "e2e-token"})
	public, private := httptest.NewServer(srv.Public()), httptest.NewServer(srv.Private())
	t.Cleanup(public.Close)
	t.Cleanup(private.Close)
	w.client = &statusapi.Client{BaseURL: public.URL, PrivateURL: private.URL, Token: "e2e-token"}
}

// waitStatus polls /status until cond holds.
func (w *e2eWorld) waitStatus(t *testing.T, timeout time.Duration, what string, cond func(statusapi.Status) bool) statusapi.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := w.client.Status(context.Background())
		if err == nil && cond(*st) {
			return *st
		}
		if time.Now().After(deadline) {
			data, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("waited %s for %s; last status (err %v):\n%s", timeout, what, err, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count reads _count through the alias, as a search client would.
func (w *e2eWorld) count(alias string) (int, error) {
	resp, err := http.Get(w.os.URL() + "/" + alias + "/_count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	var out struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, err
	}
	return out.Count, nil
}

// reader polls _count through the alias until stopped, and remembers every
// read that did not see the whole table.
type reader struct {
	stop  chan struct{}
	done  chan struct{}
	reads atomic.Int64
	bad   []string // read after Stop
}

func (w *e2eWorld) startReader(alias string) *reader {
	r := &reader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			n, err := w.count(alias)
			i := r.reads.Add(1)
			if err != nil || n != e2eRows {
				if len(r.bad) < 10 {
					r.bad = append(r.bad, fmt.Sprintf("read %d: count %d, err %v", i, n, err))
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return r
}

func (r *reader) Stop() { close(r.stop); <-r.done }

func TestReindexEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres, NATS, capture, indexer and status")
	}
	w := newE2EWorld(t)
	w.start(t)
	ctx := context.Background()
	names := w.cfg.Names(w.cfg.Index("users"))

	st := w.waitStatus(t, 60*time.Second, "users seeded and the pipeline live", func(st statusapi.Status) bool {
		b := st.Backfill["users"]
		return st.Phase == statusapi.PhaseLive && st.Indexes["users"] == statusapi.IndexSeeded && b != nil && b.State == statusapi.IndexSeeded
	})
	first := st.Backfill["users"].Generation
	firstName := names.Generation(first)
	waitAlias(t, w.os, names.Alias, firstName)
	if n, err := w.count(names.Alias); err != nil || n != e2eRows {
		t.Fatalf("before the reindex: count %d, %v", n, err)
	}
	if ixs, err := w.client.Indexes(ctx); err != nil || ixs["users"] != statusapi.IndexSeeded {
		t.Fatalf("GET /indexes: %v, %v", ixs, err)
	}

	// Slow writes stretch the seeding so that the readers and the busy
	// check see it under way.
	w.os.Inject(opensearchtest.Fault{Path: "*_bulk", Delay: 100 * time.Millisecond, Times: 25})
	rd := w.startReader(names.Alias)
	defer func() {
		select {
		case <-rd.done:
		default:
			rd.Stop()
		}
	}()

	resp, err := w.client.Reindex(ctx, "users")
	if err != nil {
		t.Fatalf("POST /reindex: %v", err)
	}
	if *resp != (statusapi.ReindexResponse{Index: "users", Status: "queued"}) {
		t.Errorf("POST /reindex answered %+v", resp)
	}

	w.waitStatus(t, 60*time.Second, "the reindex under way", func(st statusapi.Status) bool {
		b := st.Backfill["users"]
		return b != nil && b.Generation > first
	})
	// While it seeds, another request is refused.
	if b := w.agg.Status().Backfill["users"]; b.State == statusapi.IndexBackfilling {
		_, err := w.client.Reindex(ctx, "users")
		var e *statusapi.Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e.Message, "being seeded (reindex") {
			t.Errorf("a second reindex while seeding: %v", err)
		}
	} else {
		t.Log("the seeding ended before the second request: the busy answer is not checked")
	}

	st = w.waitStatus(t, 90*time.Second, "the new generation seeded", func(st statusapi.Status) bool {
		b := st.Backfill["users"]
		return b != nil && b.Generation > first && b.State == statusapi.IndexSeeded && st.Indexes["users"] == statusapi.IndexSeeded
	})
	b := st.Backfill["users"]
	if b.Reason != "reindex" || b.Keys != e2eRows {
		t.Errorf("backfill of the new generation: reason %q, keys %d; want reindex, %d", b.Reason, b.Keys, e2eRows)
	}
	waitAlias(t, w.os, names.Alias, names.Generation(b.Generation))
	// Some reads after the flip too.
	for n := rd.reads.Load(); rd.reads.Load() < n+20; {
		time.Sleep(10 * time.Millisecond)
	}
	rd.Stop()

	if len(rd.bad) > 0 {
		t.Errorf("%d reads through %s, some not seeing the whole table:\n%s", rd.reads.Load(), names.Alias, strings.Join(rd.bad, "\n"))
	}
	t.Logf("%d reads through %s", rd.reads.Load(), names.Alias)
	if n := rd.reads.Load(); n < 100 {
		t.Errorf("only %d reads during the reindex", n)
	}
	if v := w.os.Docs(names.Generation(b.Generation)); len(v) != e2eRows {
		t.Errorf("the new generation holds %d documents, want %d", len(v), e2eRows)
	}
	if ixs, err := w.client.Indexes(ctx); err != nil || ixs["users"] != statusapi.IndexSeeded {
		t.Errorf("GET /indexes after the reindex: %v, %v", ixs, err)
	}
	if v := w.os.Violations(); len(v) > 0 {
		t.Errorf("OpenSearch API violations: %v", v)
	}
}

// waitAlias waits until alias points at exactly index.
func waitAlias(t *testing.T, srv *opensearchtest.Server, alias, index string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := srv.Aliases()[alias]
		if len(got) == 1 && got[0] == index {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alias %s -> %v, want [%s]", alias, got, index)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
