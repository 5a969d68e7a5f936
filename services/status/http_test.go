package status

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeSource is a Source the test sets.
type fakeSource struct {
	mu      sync.Mutex
	st      statusapi.Status
	ready   bool
	changed chan struct{}
	reg     *prometheus.Registry
}

func newFakeSource() *fakeSource {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "flusso_changes_captured_total", Help: "Row changes captured."})
	c.Add(3)
	reg.MustRegister(c)
	return &fakeSource{
		st:      statusapi.Status{Phase: statusapi.PhaseStarting, Indexes: map[string]string{}},
		changed: make(chan struct{}),
		reg:     reg,
	}
}

func (f *fakeSource) Status() statusapi.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeSource) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeSource) Registry() *prometheus.Registry { return f.reg }

// set changes the status as the aggregator would: under the lock, then
// closing and replacing the channel.
func (f *fakeSource) set(fn func(st *statusapi.Status), ready bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Indexes = map[string]string{}
	for k, v := range f.st.Indexes {
		st.Indexes[k] = v
	}
	fn(&st)
	f.st, f.ready = st, ready
	close(f.changed)
	f.changed = make(chan struct{})
}

// httpConfig is a loaded config with the enabled index users and the
// disabled index orders.
func httpConfig(t *testing.T) *config.Config {
	t.Helper()
	files := map[string]string{
		"users.schema.yml":  "version: 1\ntable: users\nfields:\n  - integer: id\n",
		"orders.schema.yml": "version: 1\ntable: orders\nfields:\n  - integer: id\n",
	}
	toml := "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://127.0.0.1/shop\"\n" +
		"[[index]]\nname = \"users\"\nschema = \"users.schema.yml\"\n" +
		"[[index]]\nname = \"orders\"\nschema = \"orders.schema.yml\"\nenabled = false\n" +
		"[capture]\nslot = \"shop\"\n"
	read := func(p string) ([]byte, error) {
		for name, body := range files {
			if strings.HasSuffix(p, name) {
				return []byte(body), nil
			}
		}
		return nil, fmt.Errorf("no file %s", p)
	}
	cfg, diags := config.Parse("/etc/flusso/flusso.toml", []byte(toml), config.Options{Env: func(string) (string, bool) { return "", false }}, read)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logBuffer collects log lines safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type httpHarness struct {
	src     *fakeSource
	srv     *Server
	public  *httptest.Server
	private *httptest.Server
	logs    *logBuffer
}

func newHTTPHarness(t *testing.T, o ServerOptions) *httpHarness {
	t.Helper()
	h := &httpHarness{src: newFakeSource(), logs: &logBuffer{}}
	if o.Config == nil {
		o.Config = httpConfig(t)
	}
	if o.Token == "" && o.Username == "" {
		o.Token = "secret-token"
	}
	o.Logger = newTestLogger(h.logs)
	h.srv = NewServer(h.src, o)
	h.public = httptest.NewServer(h.srv.Public())
	h.private = httptest.NewServer(h.srv.Private())
	t.Cleanup(h.public.Close)
	t.Cleanup(h.private.Close)
	return h
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func httpDo(t *testing.T, method, url string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(body)}
}

var bearer = map[string]string{"Authorization": "Bearer secret-token"}

// errorOf decodes an ErrorResponse, failing when the body is not one.
func errorOf(t *testing.T, a answer) string {
	t.Helper()
	var e statusapi.ErrorResponse
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || e.Error == "" {
		t.Fatalf("answer %d %q is not an ErrorResponse", a.code, a.body)
	}
	return e.Error
}

func TestHealthzAndStatus(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{})
	if a := httpDo(t, "GET", h.public.URL+"/healthz", nil); a.code != 200 || a.body != "ok\n" {
		t.Errorf("healthz: %d %q", a.code, a.body)
	}
	h.src.set(func(st *statusapi.Status) {
		st.Phase = statusapi.PhaseLive
		st.Indexes["users"] = statusapi.IndexSeeded
		st.ChangesCaptured = 7
	}, true)
	a := httpDo(t, "GET", h.public.URL+"/status", nil)
	if a.code != 200 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status: %d %s", a.code, a.header.Get("Content-Type"))
	}
	var st statusapi.Status
	if err := json.Unmarshal([]byte(a.body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Phase != statusapi.PhaseLive || st.Indexes["users"] != statusapi.IndexSeeded || st.ChangesCaptured != 7 {
		t.Errorf("status %+v", st)
	}
	// FORMAT.md's keys are all there, last_error as null.
	var raw map[string]any
	_ = json.Unmarshal([]byte(a.body), &raw)
	for _, k := range []string{"phase", "uptime_seconds", "indexes", "changes_captured", "changes_committed", "changes_in_flight", "documents_built", "documents_quarantined", "batches", "last_flush_micros", "slot_lag_bytes", "errors", "last_error"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/status has no %q", k)
		}
	}
}

func TestReadyz(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{})
	for _, tc := range []struct {
		phase    string
		caughtUp bool
		code     int
		reason   string
	}{
		{statusapi.PhaseLive, false, 503, "still reading the events stream"},
		{statusapi.PhaseStarting, true, 503, "the pipeline is starting"},
		{statusapi.PhaseBackfilling, true, 200, ""},
		{statusapi.PhaseLive, true, 200, ""},
		{statusapi.PhaseStopped, true, 503, "the pipeline is stopped"},
	} {
		h.src.set(func(st *statusapi.Status) { st.Phase = tc.phase }, tc.caughtUp)
		a := httpDo(t, "GET", h.public.URL+"/readyz", nil)
		if a.code != tc.code {
			t.Errorf("%s, caught up %t: %d %s, want %d", tc.phase, tc.caughtUp, a.code, a.body, tc.code)
			continue
		}
		if tc.code == 200 {
			if !strings.Contains(a.body, `"ready":true`) {
				t.Errorf("%s: body %s", tc.phase, a.body)
			}
		} else if msg := errorOf(t, a); !strings.Contains(msg, tc.reason) {
			t.Errorf("%s, caught up %t: reason %q, want %q", tc.phase, tc.caughtUp, msg, tc.reason)
		}
	}
}

func TestMetricsAreServed(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{})
	a := httpDo(t, "GET", h.public.URL+"/metrics", nil)
	if a.code != 200 || !strings.Contains(a.body, "flusso_changes_captured_total 3") {
		t.Errorf("metrics: %d\n%s", a.code, a.body)
	}
}

func TestDashboardAndUnknownPaths(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{})
	a := httpDo(t, "GET", h.public.URL+"/", nil)
	if a.code != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.Contains(a.body, "/stream") {
		t.Errorf("dashboard: %d %s", a.code, a.header.Get("Content-Type"))
	}
	a = httpDo(t, "GET", h.public.URL+"/nope", nil)
	if a.code != 404 || !strings.Contains(errorOf(t, a), "/nope") {
		t.Errorf("unknown path: %d %s", a.code, a.body)
	}
	a = httpDo(t, "GET", h.private.URL+"/nope", bearer)
	if a.code != 404 {
		t.Errorf("unknown private path: %d %s", a.code, a.body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{})
	for _, tc := range []struct{ method, url, allow string }{
		{"POST", h.public.URL + "/status", "GET, HEAD"},
		{"DELETE", h.public.URL + "/", "GET, HEAD"},
		{"GET", h.private.URL + "/reindex?index=users", "POST"},
		{"PUT", h.private.URL + "/indexes", "GET, HEAD"},
	} {
		a := httpDo(t, tc.method, tc.url, bearer)
		if a.code != http.StatusMethodNotAllowed || a.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q", tc.method, tc.url, a.code, a.header.Get("Allow"))
			continue
		}
		errorOf(t, a)
	}
}

func TestIndexes(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{})
	a := httpDo(t, "GET", h.private.URL+"/indexes", bearer)
	if a.code != 200 || strings.TrimSpace(a.body) != "{}" {
		t.Errorf("indexes before any event: %d %s", a.code, a.body)
	}
	h.src.set(func(st *statusapi.Status) {
		st.Indexes["users"] = statusapi.IndexSeeded
		st.Indexes["orders"] = statusapi.IndexBackfilling
	}, true)
	a = httpDo(t, "GET", h.private.URL+"/indexes", bearer)
	if strings.TrimSpace(a.body) != `{"orders":"backfilling","users":"seeded"}` {
		t.Errorf("indexes: %d %s", a.code, a.body)
	}
}

// sse reads server-sent events of one connection.
type sse struct {
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
}

type sseEvent struct {
	at     time.Time
	status statusapi.Status
}

func openStream(t *testing.T, url string) (*sse, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sse{events: make(chan sseEvent, 100), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event == "status" {
					var st statusapi.Status
					if err := json.Unmarshal([]byte(data), &st); err != nil {
						t.Errorf("event data %q: %v", data, err)
					}
					s.events <- sseEvent{time.Now(), st}
				} else if data != "" || event != "" {
					t.Errorf("unexpected message: event %q data %q", event, data)
				}
				event, data = "", ""
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{at: time.Now()} // a heartbeat: no phase
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	return s, resp
}

// next waits for the next status message, skipping heartbeats.
func (s *sse) next(t *testing.T, within time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-s.events:
			if e.status.Phase != "" {
				return e
			}
		case <-deadline:
			t.Fatalf("no status message within %s", within)
		}
	}
}

func TestStreamSendsTheStatusAtConnectAndOnChange(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{StreamInterval: 10 * time.Millisecond})
	s, resp := openStream(t, h.public.URL+"/status/stream")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if e := s.next(t, 5*time.Second); e.status.Phase != statusapi.PhaseStarting {
		t.Errorf("first message %+v", e.status)
	}
	h.src.set(func(st *statusapi.Status) { st.Phase = statusapi.PhaseLive; st.Events = 9 }, true)
	if e := s.next(t, 5*time.Second); e.status.Phase != statusapi.PhaseLive || e.status.Events != 9 {
		t.Errorf("after a change %+v", e.status)
	}
}

func TestStreamCoalescesChanges(t *testing.T) {
	const interval = 200 * time.Millisecond
	h := newHTTPHarness(t, ServerOptions{StreamInterval: interval})
	s, _ := openStream(t, h.public.URL+"/status/stream")
	first := s.next(t, 5*time.Second)

	// 50 changes in about 100 ms: at most one message per interval.
	began := time.Now()
	for i := 1; i <= 50; i++ {
		h.src.set(func(st *statusapi.Status) { st.Events = int64(i) }, true)
		time.Sleep(2 * time.Millisecond)
	}
	span := time.Since(began)
	got := []sseEvent{first}
	for got[len(got)-1].status.Events != 50 {
		got = append(got, s.next(t, 5*time.Second))
	}
	// The last change arrived; nothing more comes.
	select {
	case e := <-s.events:
		if e.status.Phase != "" {
			t.Errorf("a message after the last change: %+v", e.status)
		}
	case <-time.After(2 * interval):
	}
	// The first, one per interval the changes span, and the last.
	if most := 2 + int(span/interval) + 1; len(got) > most {
		t.Errorf("%d messages for 50 changes within %s at one per %s", len(got), span, interval)
	}
	const slack = 60 * time.Millisecond // the reader's own scheduling
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < interval-slack {
			t.Errorf("messages %d and %d only %s apart", i-1, i, gap)
		}
	}
}

func TestStreamHeartbeatAndEnd(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{StreamHeartbeat: 20 * time.Millisecond})
	s, _ := openStream(t, h.public.URL+"/status/stream")
	s.next(t, 5*time.Second)
	deadline := time.After(5 * time.Second)
	for beats := 0; beats < 2; {
		select {
		case e := <-s.events:
			if e.status.Phase == "" {
				beats++
			}
		case <-deadline:
			t.Fatal("no heartbeat comments")
		}
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end when the client went")
	}
}

// TestServeShutsDownWithOpenStreams runs Serve on real listeners: an open
// event stream does not hold the shutdown.
func TestServeShutsDownWithOpenStreams(t *testing.T) {
	src := newFakeSource()
	srv := NewServer(src, ServerOptions{Config: httpConfig(t), Token: "t"})
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, pub, priv) }()
	s, _ := openStream(t, "http://"+pub.Addr().String()+"/status/stream")
	s.next(t, 5*time.Second)
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Serve did not return with an open stream")
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after the shutdown")
	}
}

// TestStreamOutlivesTheServerTimeouts: the read and write timeouts of the
// server bound plain requests, not an event stream.
func TestStreamOutlivesTheServerTimeouts(t *testing.T) {
	src := newFakeSource()
	srv := NewServer(src, ServerOptions{Config: httpConfig(t), Token: "t", StreamHeartbeat: 50 * time.Millisecond})
	srv.ioTimeout = 200 * time.Millisecond
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, pub, priv) }()
	defer func() { cancel(); <-served }()

	s, _ := openStream(t, "http://"+pub.Addr().String()+"/status/stream")
	s.next(t, 5*time.Second)
	// Heartbeats for five times the timeouts.
	for end := time.Now().Add(5 * srv.ioTimeout); time.Now().Before(end); {
		select {
		case <-s.events:
		case <-s.done:
			t.Fatal("the stream ended within the server's timeouts")
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat")
		}
	}
	src.set(func(st *statusapi.Status) { st.Phase = statusapi.PhaseLive }, true)
	if e := s.next(t, 5*time.Second); e.status.Phase != statusapi.PhaseLive {
		t.Errorf("after the timeouts: %+v", e.status)
	}
}

// natsHTTPHarness is a harness whose server publishes to an embedded NATS with
// the pipeline's streams.
func natsHTTPHarness(t *testing.T) (*httpHarness, jetstream.JetStream, changes.Names) {
	t.Helper()
	ns := natstest.Embedded(t)
	js := ns.JetStream(t)
	cfg := httpConfig(t)
	names := changes.NamesFor(cfg.Pipeline())
	if err := changes.EnsureStreams(context.Background(), js, names, changes.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return newHTTPHarness(t, ServerOptions{Config: cfg, JetStream: js, Instance: "test"}), js, names
}

// controlCommands reads every command on the control stream.
func controlCommands(t *testing.T, js jetstream.JetStream, names changes.Names) []changes.ReindexCommand {
	t.Helper()
	ctx := context.Background()
	stream, err := js.Stream(ctx, names.ControlStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []changes.ReindexCommand
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != names.ControlSubject("reindex") {
			t.Errorf("command on %s", m.Subject)
		}
		if src := m.Header.Get("Flusso-Source"); src != "/flusso/shop/status/test" {
			t.Errorf("Flusso-Source %q", src)
		}
		var cmd changes.ReindexCommand
		if err := json.Unmarshal(m.Data, &cmd); err != nil {
			t.Fatal(err)
		}
		out = append(out, cmd)
	}
	return out
}

func TestReindex(t *testing.T) {
	h, js, names := natsHTTPHarness(t)
	for _, tc := range []struct {
		name, query string
		code        int
		msg         string
	}{
		{"missing", "", 400, "missing the index"},
		{"empty", "index=", 400, "missing the index"},
		{"starts with a digit", "index=1users", 400, "not a valid index name"},
		{"punctuation", "index=users%3Bdrop", 400, "not a valid index name"},
		{"bad query", "index=users;drop", 400, "bad query string"},
		{"too long", "index=" + strings.Repeat("a", 64), 400, "not a valid index name"},
		{"unknown", "index=invoices", 404, `unknown index "invoices" (enabled: users)`},
		{"disabled", "index=orders", 404, `index "orders" is disabled`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := httpDo(t, "POST", h.private.URL+"/reindex?"+tc.query, bearer)
			if a.code != tc.code || !strings.Contains(errorOf(t, a), tc.msg) {
				t.Errorf("%d %s, want %d %q", a.code, a.body, tc.code, tc.msg)
			}
		})
	}
	if cmds := controlCommands(t, js, names); len(cmds) != 0 {
		t.Fatalf("refused requests queued %v", cmds)
	}

	a := httpDo(t, "POST", h.private.URL+"/reindex?index=%20Users%20", bearer)
	if a.code != http.StatusAccepted || strings.TrimSpace(a.body) != `{"index":"users","status":"queued"}` {
		t.Fatalf("reindex: %d %s", a.code, a.body)
	}
	// A repeat within the window is the same command.
	if a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer); a.code != http.StatusAccepted {
		t.Fatalf("repeated reindex: %d %s", a.code, a.body)
	}
	if cmds := controlCommands(t, js, names); len(cmds) != 1 || cmds[0].Index != "users" {
		t.Fatalf("control stream holds %v, want one reindex of users", cmds)
	}
}

func TestReindexAfterTheWindowIsANewCommand(t *testing.T) {
	ns := natstest.Embedded(t)
	js := ns.JetStream(t)
	cfg := httpConfig(t)
	names := changes.NamesFor(cfg.Pipeline())
	if err := changes.EnsureStreams(context.Background(), js, names, changes.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)
	h := newHTTPHarness(t, ServerOptions{Config: cfg, JetStream: js, Instance: "test", Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	for range 2 {
		if a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer); a.code != 202 {
			t.Fatalf("%d %s", a.code, a.body)
		}
		mu.Lock()
		now = now.Add(DefaultReindexWindow)
		mu.Unlock()
	}
	if cmds := controlCommands(t, js, names); len(cmds) != 2 {
		t.Errorf("control stream holds %v, want two commands", cmds)
	}
}

func TestReindexRefusedWhileSeeding(t *testing.T) {
	h, js, names := natsHTTPHarness(t)
	h.src.set(func(st *statusapi.Status) {
		st.Indexes["users"] = statusapi.IndexBackfilling
		st.Backfill = map[string]*statusapi.Backfill{"users": {Generation: 2, Reason: "reindex", State: statusapi.IndexBackfilling, TasksDone: 1, TasksTotal: 4}}
	}, true)
	a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer)
	if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("reindex while seeding: %d %s", a.code, a.body)
	}
	if msg := errorOf(t, a); !strings.Contains(msg, `index "users" is being seeded (reindex, 1 of 4 tasks done)`) {
		t.Errorf("message %q", msg)
	}
	h.src.set(func(st *statusapi.Status) {
		st.Indexes["users"] = statusapi.IndexSeeded
		st.Backfill["users"] = &statusapi.Backfill{Generation: 2, Reason: "reindex", State: statusapi.IndexSeeded}
	}, true)
	if a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer); a.code != http.StatusAccepted {
		t.Fatalf("reindex once seeded: %d %s", a.code, a.body)
	}
	if cmds := controlCommands(t, js, names); len(cmds) != 1 {
		t.Errorf("control stream holds %v", cmds)
	}
}

func TestReindexWhenNATSIsDown(t *testing.T) {
	ns := natstest.Embedded(t)
	nc := ns.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpConfig(t)
	if err := changes.EnsureStreams(context.Background(), js, changes.NamesFor(cfg.Pipeline()), changes.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	h := newHTTPHarness(t, ServerOptions{Config: cfg, JetStream: js})
	nc.Close()
	a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer)
	if a.code != http.StatusServiceUnavailable || !strings.Contains(errorOf(t, a), "NATS is unavailable") {
		t.Errorf("with NATS gone: %d %s", a.code, a.body)
	}

	// No JetStream at all, and a stream that does not exist.
	h = newHTTPHarness(t, ServerOptions{Config: cfg})
	if a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer); a.code != http.StatusServiceUnavailable {
		t.Errorf("without JetStream: %d %s", a.code, a.body)
	}
	h = newHTTPHarness(t, ServerOptions{Config: cfg, JetStream: natstest.Embedded(t).JetStream(t)})
	if a := httpDo(t, "POST", h.private.URL+"/reindex?index=users", bearer); a.code != http.StatusServiceUnavailable || !strings.Contains(errorOf(t, a), "FLUSSO_SHOP_CONTROL") {
		t.Errorf("without the control stream: %d %s", a.code, a.body)
	}
}

// TestClientAgainstTheServer drives the surfaces through statusapi.Client.
func TestClientAgainstTheServer(t *testing.T) {
	h, js, names := natsHTTPHarness(t)
	h.src.set(func(st *statusapi.Status) {
		st.Phase = statusapi.PhaseLive
		st.Indexes["users"] = statusapi.IndexSeeded
	}, true)
	c := &statusapi.Client{BaseURL: h.public.URL, PrivateURL: h.private.URL, Token: "secret-token"}
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || st.Phase != statusapi.PhaseLive {
		t.Fatalf("Status: %+v %v", st, err)
	}
	ixs, err := c.Indexes(ctx)
	if err != nil || ixs["users"] != statusapi.IndexSeeded {
		t.Fatalf("Indexes: %v %v", ixs, err)
	}
	resp, err := c.Reindex(ctx, "users")
	if err != nil || resp.Status != "queued" {
		t.Fatalf("Reindex: %+v %v", resp, err)
	}
	if cmds := controlCommands(t, js, names); len(cmds) != 1 {
		t.Errorf("control stream holds %v", cmds)
	}

	_, err = c.Reindex(ctx, "nope")
	var e *statusapi.Error
	if !errors.As(err, &e) || e.StatusCode != 404 || !strings.Contains(err.Error(), h.private.URL+"/reindex?index=nope") || !strings.Contains(err.Error(), `unknown index "nope"`) {
		t.Errorf("unknown index: %v", err)
	}
	bad := *c
	bad.Token = "wrong"
	if _, err := bad.Indexes(ctx); !errors.As(err, &e) || e.StatusCode != 401 || !strings.Contains(err.Error(), "invalid credentials") {
		t.Errorf("wrong token: %v", err)
	}

	// Stream: the current status, then a change.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var seen []string
	err = c.Stream(sctx, func(st statusapi.Status) error {
		seen = append(seen, st.Phase)
		if len(seen) == 1 {
			h.src.set(func(st *statusapi.Status) { st.Phase = statusapi.PhaseStopped }, false)
			return nil
		}
		return errStop
	})
	if !errors.Is(err, errStop) || strings.Join(seen, " ") != "live stopped" {
		t.Errorf("Stream: %v, saw %v", err, seen)
	}
}

var errStop = errors.New("stop")
