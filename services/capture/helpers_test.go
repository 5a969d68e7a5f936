package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harnessOptions describe the world of one test.
type harnessOptions struct {
	// SQL runs on the new database before anything else.
	SQL string
	// Schemas are the indexes: index name -> schema YAML. Each becomes an
	// enabled [[index]] of the config.
	Schemas map[string]string
	// Settings override config settings, keyed like flusso.toml
	// (capture.publish_window); they apply as command-line flags would.
	Settings map[string]string
	// NATSURL is the NATS server to use; empty starts an embedded one.
	NATSURL string
	// Cluster holds the database; nil is the shared cluster.
	Cluster *pgtest.Cluster
}

// harness is a source database, a NATS server with JetStream and a config
// naming both, for one test. The slot name is unique to the test (slots are
// cluster-wide); the pipeline is named after it.
type harness struct {
	DB          *pgtest.Database
	Pool        *pgxpool.Pool
	NATSURL     string
	NC          *nats.Conn
	JS          jetstream.JetStream
	Slot        string
	Publication string
	Names       changes.Names
	opts        harnessOptions

	mu      sync.Mutex
	readers map[string]*streamReader // by filter subject
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	var db *pgtest.Database
	if o.Cluster != nil {
		db = o.Cluster.NewDatabase(t)
	} else {
		db = pgtest.NewDatabase(t)
	}
	if o.SQL != "" {
		db.Exec(t, o.SQL)
	}
	h := &harness{
		DB: db, Pool: db.Pool(t), NATSURL: o.NATSURL, opts: o,
		Slot: "flusso_" + strings.TrimPrefix(db.Name, "t_"), Publication: "flusso",
		readers: map[string]*streamReader{},
	}
	if h.NATSURL == "" {
		h.NATSURL = natstest.Embedded(t).URL()
	}
	nc, err := nats.Connect(h.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.Name("capture test"))
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", h.NATSURL, err)
	}
	t.Cleanup(nc.Close)
	h.NC = nc
	if h.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	h.Names = changes.NamesFor(h.Slot)
	// Drop the slot even when it is still held by a connection the test
	// leaked, so the database can be dropped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = h.Pool.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, h.Slot)
	})
	return h
}

func noEnv(string) (string, bool) { return "", false }

// Config builds the config in memory: the options' settings, then extra.
// The environment of the test process is not read.
func (h *harness) Config(t testing.TB, extra map[string]string) *config.Config {
	t.Helper()
	var toml strings.Builder
	fmt.Fprintf(&toml, "[source]\ntype = \"postgres\"\nconnection_url = %q\n\n", h.DB.URL)
	names := make([]string, 0, len(h.opts.Schemas))
	for name := range h.opts.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&toml, "[[index]]\nname = %q\nschema = %q\n\n", name, name+".schema.yml")
	}
	flags := map[string]string{
		"capture.slot": h.Slot, "capture.publication": h.Publication, "nats.url": h.NATSURL,
		"capture.standby_retry": "100ms", "capture.lag_interval": "1s",
	}
	for k, v := range h.opts.Settings {
		flags[k] = v
	}
	for k, v := range extra {
		flags[k] = v
	}
	readFile := func(path string) ([]byte, error) {
		yml, ok := h.opts.Schemas[strings.TrimSuffix(filepath.Base(path), ".schema.yml")]
		if !ok {
			return nil, os.ErrNotExist
		}
		return []byte(yml), nil
	}
	cfg, diags := config.Parse("/test/flusso.toml", []byte(toml.String()), config.Options{Flags: flags, Env: noEnv}, readFile)
	if err := diags.Err(); err != nil {
		t.Fatalf("test config:\n%s\n%v", toml.String(), err)
	}
	return cfg
}

// testLogger writes a capture's logs to the test log, prefixed by the
// instance, and drops them once the test is over.
func testLogger(t testing.TB, instance string) *slog.Logger {
	w := &testWriter{t: t, prefix: instance}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
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

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// NewCapture builds a capture named instance on the harness's config with
// extra settings, closed when the test ends.
func (h *harness) NewCapture(t testing.TB, instance string, extra map[string]string) *Capture {
	t.Helper()
	cfg := h.Config(t, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, Options{Config: cfg, JetStream: h.JS, Logger: testLogger(t, instance), Instance: instance, Env: noEnv})
	if err != nil {
		t.Fatalf("capture.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// running is a capture's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start runs c until Stop or the end of the test.
func (h *harness) Start(t testing.TB, c *Capture) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = c.Run(ctx)
	}()
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// StartCapture builds and starts a capture.
func (h *harness) StartCapture(t testing.TB, instance string, extra map[string]string) *running {
	t.Helper()
	return h.Start(t, h.NewCapture(t, instance, extra))
}

// Stop cancels the run and waits for it to return (30 s at most).
func (r *running) Stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(30 * time.Second):
		return errors.New("the capture did not stop within 30s of its context's end")
	}
}

// Done is closed when Run returned.
func (r *running) Done() <-chan struct{} { return r.done }

// Exec runs SQL on the source database.
func (h *harness) Exec(t testing.TB, sql string) { t.Helper(); h.DB.Exec(t, sql) }

// waitFor polls cond until it holds, failing the test after timeout with
// what was awaited.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		<-tick.C
	}
}

// streamReader reads one subject filter of a stream in order, from the
// start, across calls.
type streamReader struct {
	it jetstream.MessagesContext
}

func (h *harness) reader(t testing.TB, stream, filter string) *streamReader {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.readers[filter]; r != nil {
		return r
	}
	// The capture creates the streams: wait for them.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cons jetstream.Consumer
	var err error
	waitFor(t, 60*time.Second, "stream "+stream, func() bool {
		cons, err = h.JS.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
		return !errors.Is(err, jetstream.ErrStreamNotFound)
	})
	if err != nil {
		t.Fatalf("ordered consumer on %s (%s): %v", stream, filter, err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatalf("consume %s (%s): %v", stream, filter, err)
	}
	t.Cleanup(it.Stop)
	r := &streamReader{it: it}
	h.readers[filter] = r
	return r
}

// next returns the next message, or nil when none came before the deadline.
func (r *streamReader) next(t testing.TB, deadline time.Time) jetstream.Msg {
	t.Helper()
	wait := time.Until(deadline)
	if wait <= 0 {
		wait = time.Millisecond
	}
	msg, err := r.it.Next(jetstream.NextMaxWait(wait))
	if err != nil {
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages) {
			return nil
		}
		t.Fatalf("read stream: %v", err)
	}
	return msg
}

// ReadChanges returns the next n change messages of the changes stream (the
// reader continues where the previous call stopped), failing after timeout.
// Each message's headers and id are checked against its body.
func (h *harness) ReadChanges(t testing.TB, n int, timeout time.Duration) []*changes.Change {
	t.Helper()
	r := h.reader(t, h.Names.ChangesStream(), "flusso."+h.Names.Pipeline+".changes.>")
	deadline := time.Now().Add(timeout)
	out := make([]*changes.Change, 0, n)
	for len(out) < n {
		msg := r.next(t, deadline)
		if msg == nil {
			t.Fatalf("read %d of %d changes within %s; got:\n%s", len(out), n, timeout, dump(out))
		}
		c, err := changes.DecodeChange(msg.Data())
		if err != nil {
			t.Fatalf("message on %s: %v\n%s", msg.Subject(), err, msg.Data())
		}
		if want := h.Names.ChangeSubject(c.Schema, c.Table); msg.Subject() != want {
			t.Errorf("change of %s.%s on subject %s, want %s", c.Schema, c.Table, msg.Subject(), want)
		}
		if got := msg.Headers().Get(jetstream.MsgIDHeader); got != c.MsgID() {
			t.Errorf("change %s has message id %q", c.MsgID(), got)
		}
		if got := msg.Headers().Get(changes.HeaderKind); got != string(changes.KindChange) {
			t.Errorf("change %s has %s %q", c.MsgID(), changes.HeaderKind, got)
		}
		out = append(out, c)
	}
	return out
}

// NoMoreChanges fails if a change message arrives within d.
func (h *harness) NoMoreChanges(t testing.TB, d time.Duration) {
	t.Helper()
	r := h.reader(t, h.Names.ChangesStream(), "flusso."+h.Names.Pipeline+".changes.>")
	if msg := r.next(t, time.Now().Add(d)); msg != nil {
		t.Fatalf("unexpected change on %s: %s", msg.Subject(), msg.Data())
	}
}

// ReadTasks returns the next n backfill tasks (of any index), failing after
// timeout.
func (h *harness) ReadTasks(t testing.TB, n int, timeout time.Duration) []*changes.Task {
	t.Helper()
	r := h.reader(t, h.Names.ChangesStream(), "flusso."+h.Names.Pipeline+".backfill.>")
	deadline := time.Now().Add(timeout)
	out := make([]*changes.Task, 0, n)
	for len(out) < n {
		msg := r.next(t, deadline)
		if msg == nil {
			t.Fatalf("read %d of %d backfill tasks within %s", len(out), n, timeout)
		}
		task, err := changes.DecodeTask(msg.Data())
		if err != nil {
			t.Fatalf("message on %s: %v\n%s", msg.Subject(), err, msg.Data())
		}
		out = append(out, task)
	}
	return out
}

// StreamCount is the number of messages stored on a subject filter of the
// changes stream.
func (h *harness) StreamCount(t testing.TB, filter string) uint64 {
	t.Helper()
	// Retried: the server may be restarting under the test.
	var info *jetstream.StreamInfo
	var err error
	waitFor(t, 20*time.Second, "stream info of "+h.Names.ChangesStream(), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var s jetstream.Stream
		if s, err = h.JS.Stream(ctx, h.Names.ChangesStream()); err == nil {
			info, err = s.Info(ctx, jetstream.WithSubjectFilter(filter))
		}
		return err == nil
	})
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// event is one CloudEvent read back from the events stream.
type event struct {
	Name   string
	Source string
	Data   json.RawMessage
}

// WaitEvent reads the events of the capture named name (from the start of
// the events stream, continuing across calls for the same name) until one
// matches, failing after timeout. A nil match takes the first.
func (h *harness) WaitEvent(t testing.TB, name string, timeout time.Duration, match func(event) bool) event {
	t.Helper()
	r := h.reader(t, h.Names.EventsStream(), h.Names.EventSubject("capture", name))
	deadline := time.Now().Add(timeout)
	for {
		msg := r.next(t, deadline)
		if msg == nil {
			t.Fatalf("no %s event matched within %s", name, timeout)
		}
		e, err := events.FromMsg(msg.Headers(), msg.Data())
		if err != nil {
			t.Fatalf("event on %s: %v", msg.Subject(), err)
		}
		if want := events.TypeOf(name); e.Type() != want {
			t.Errorf("event on %s has type %s, want %s", msg.Subject(), e.Type(), want)
		}
		ev := event{Name: name, Source: e.Source(), Data: json.RawMessage(e.Data())}
		if match == nil || match(ev) {
			return ev
		}
	}
}

// decodeData unmarshals an event's data, failing the test on error.
func decodeData[T any](t testing.TB, e event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("%s event data %s: %v", e.Name, e.Data, err)
	}
	return v
}

// SlotState reads the slot's confirmed_flush_lsn and whether a connection
// holds it; ok is false when the slot does not exist.
func (h *harness) SlotState(t testing.TB) (confirmed changes.LSN, active, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lsn *string
	err := h.Pool.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, active FROM pg_replication_slots WHERE slot_name = $1`, h.Slot).Scan(&lsn, &active)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return 0, false, false
		}
		t.Fatalf("read slot %s: %v", h.Slot, err)
	}
	if lsn != nil {
		if confirmed, err = changes.ParseLSN(*lsn); err != nil {
			t.Fatal(err)
		}
	}
	return confirmed, active, true
}

// CurrentLSN is pg_current_wal_insert_lsn(): past every commit made so far
// (pg_current_wal_lsn() lags behind them with synchronous_commit off).
func (h *harness) CurrentLSN(t testing.TB) changes.LSN {
	t.Helper()
	var s string
	if err := h.Pool.QueryRow(context.Background(), `SELECT pg_current_wal_insert_lsn()::text`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := changes.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// dump renders changes one JSON line each, for failure messages.
func dump(cs []*changes.Change) string {
	var b strings.Builder
	for _, c := range cs {
		data, _ := json.Marshal(c)
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}
