package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/memory"
	"github.com/flusso-go/flusso/services/capture"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harness is a source database, an embedded NATS server and a config for
// one test; captures and indexers run against it as libraries.
type harness struct {
	DB      *pgtest.Database
	Pool    *pgxpool.Pool
	JS      jetstream.JetStream
	Names   changes.Names
	cfg     func(t testing.TB, extra map[string]string) *config.Config
	env     config.LookupEnv
	NATSURL string
	// Sinks are added to every config the harness makes.
	Sinks []*config.Sink
	// Env are environment variables the config sees besides DATABASE_URL.
	Env map[string]string
}

// newHarness builds a world with the given SQL and config: either schemas
// (index name -> YAML, each an enabled index) or a flusso.toml file whose
// source URL is replaced by the test database's.
func newHarness(t testing.TB, sql string, schemas map[string]string, tomlPath string, settings map[string]string) *harness {
	t.Helper()
	db := pgtest.NewDatabase(t)
	if sql != "" {
		db.Exec(t, sql)
	}
	srv := natstest.Embedded(t)
	h := &harness{DB: db, Pool: db.Pool(t), NATSURL: srv.URL()}
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	if h.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	slot := "flusso_" + strings.TrimPrefix(db.Name, "t_")
	h.Names = changes.NamesFor(slot)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = h.Pool.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot)
	})
	env := func(name string) (string, bool) {
		if name == "DATABASE_URL" {
			return db.URL, true
		}
		v, ok := h.Env[name]
		return v, ok
	}
	h.env = env
	h.cfg = func(t testing.TB, extra map[string]string) *config.Config {
		t.Helper()
		flags := map[string]string{
			"capture.slot": slot, "capture.publication": "flusso", "nats.url": srv.URL(),
			"capture.standby_retry": "100ms", "capture.lag_interval": "1s",
			"indexer.batch_wait": "50ms", "indexer.ack_wait": "5s",
		}
		for _, m := range []map[string]string{settings, extra} {
			for k, v := range m {
				flags[k] = v
			}
		}
		if tomlPath != "" {
			cfg, diags := config.Load(tomlPath, config.Options{Flags: flags, Env: env})
			if err := diags.Err(); err != nil {
				t.Fatalf("config %s: %v", tomlPath, err)
			}
			cfg.Sinks = append(cfg.Sinks, h.Sinks...)
			return cfg
		}
		var toml strings.Builder
		fmt.Fprintf(&toml, "[source]\ntype = \"postgres\"\nconnection_url = %q\n\n", db.URL)
		names := sortedKeys(schemas)
		for _, name := range names {
			fmt.Fprintf(&toml, "[[index]]\nname = %q\nschema = %q\n\n", name, name+".schema.yml")
		}
		read := func(path string) ([]byte, error) {
			yml, ok := schemas[strings.TrimSuffix(filepath.Base(path), ".schema.yml")]
			if !ok {
				return nil, os.ErrNotExist
			}
			return []byte(yml), nil
		}
		cfg, diags := config.Parse("/test/flusso.toml", []byte(toml.String()), config.Options{Flags: flags, Env: env}, read)
		if err := diags.Err(); err != nil {
			t.Fatalf("test config:\n%s\n%v", toml.String(), err)
		}
		cfg.Sinks = append(cfg.Sinks, h.Sinks...)
		return cfg
	}
	return h
}

// testLogger writes logs to the test log until the test ends.
func testLogger(t testing.TB, prefix string) *slog.Logger {
	w := &testWriter{t: t, prefix: prefix}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	prefix string
	done   bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s: %s", w.prefix, strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// running is a service's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func start(t testing.TB, run func(context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx)
	}()
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// Stop cancels the run and waits for it (30 s at most).
func (r *running) Stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(30 * time.Second):
		return errors.New("did not stop within 30s of its context's end")
	}
}

// StartCapture runs a capture.
func (h *harness) StartCapture(t testing.TB, instance string) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := capture.New(ctx, capture.Options{Config: h.cfg(t, nil), JetStream: h.JS, Logger: testLogger(t, instance), Instance: instance, Env: h.env})
	if err != nil {
		t.Fatalf("capture.New: %v", err)
	}
	t.Cleanup(c.Close)
	return start(t, c.Run)
}

// StartIndexer runs an indexer writing to sinks.
func (h *harness) StartIndexer(t testing.TB, instance string, extra map[string]string, sinks ...sink.Sink) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ix, err := New(ctx, Options{Config: h.cfg(t, extra), JetStream: h.JS, Sinks: sinks, Logger: testLogger(t, instance), Instance: instance, Env: h.env})
	if err != nil {
		t.Fatalf("indexer.New: %v", err)
	}
	t.Cleanup(ix.Close)
	return start(t, ix.Run)
}

// Exec runs SQL on the source.
func (h *harness) Exec(t testing.TB, sql string) { t.Helper(); h.DB.Exec(t, sql) }

// Oracle builds every document of every enabled index afresh: index -> id
// -> document, deletes absent.
func (h *harness) Oracle(t testing.TB) map[string]map[string]json.RawMessage {
	t.Helper()
	ctx := context.Background()
	cfg := h.cfg(t, nil)
	cat := catalog.New(h.Pool)
	out := map[string]map[string]json.RawMessage{}
	for _, c := range cfg.Indexes {
		if !c.Enabled {
			continue
		}
		b, err := document.New(ctx, c.Name, c.Schema, cat)
		if err != nil {
			t.Fatalf("oracle %s: %v", c.Name, err)
		}
		docs := map[string]json.RawMessage{}
		if err := b.BuildAll(ctx, h.Pool, 1000, func(d document.Doc) error {
			if d.Source != nil {
				docs[d.ID] = d.Source
			}
			return nil
		}); err != nil {
			t.Fatalf("oracle %s: %v", c.Name, err)
		}
		out[c.Name] = docs
	}
	return out
}

// diff describes how a sink's documents differ from the oracle's; "" when
// they are equal.
func diff(oracle map[string]map[string]json.RawMessage, s *memory.Sink) string {
	var out []string
	for _, index := range sortedKeys(oracle) {
		want, got := oracle[index], s.Docs(index)
		for _, id := range sortedKeys(want) {
			g, ok := got[id]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s/%s missing, want %s", index, id, want[id]))
			case !jsonEqual(g, want[id]):
				out = append(out, fmt.Sprintf("%s/%s = %s, want %s", index, id, g, want[id]))
			}
		}
		for _, id := range sortedKeys(got) {
			if _, ok := want[id]; !ok {
				out = append(out, fmt.Sprintf("%s/%s = %s, want absent", index, id, got[id]))
			}
		}
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("… and %d more", len(out)-10))
	}
	return strings.Join(out, "\n")
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// waitConverged waits until every sink holds the oracle's documents.
func (h *harness) waitConverged(t testing.TB, timeout time.Duration, what string, sinks ...*memory.Sink) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		oracle := h.Oracle(t)
		var d string
		for _, s := range sinks {
			if d = diff(oracle, s); d != "" {
				d = "sink " + s.Name() + ":\n" + d
				break
			}
		}
		if d == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not converged after %s:\n%s", what, timeout, d)
		}
		tick := time.NewTimer(50 * time.Millisecond)
		select {
		case <-tick.C:
		case <-sinks[0].Changed():
			tick.Stop()
		}
	}
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// indexState reads index.<name> from the state bucket.
func (h *harness) indexState(t testing.TB, index string) *capture.IndexState {
	t.Helper()
	ctx := context.Background()
	kv, err := h.JS.KeyValue(ctx, h.Names.StateBucket())
	if err != nil {
		return nil
	}
	e, err := kv.Get(ctx, "index."+index)
	if err != nil {
		return nil
	}
	var st capture.IndexState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func sortedIDs(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
