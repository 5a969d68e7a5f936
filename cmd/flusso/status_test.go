package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/flusso-go/flusso/services/status"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeSource is a status.Source the test sets. Registry comes from the
// nil embedded interface: no command reads /metrics.
type fakeSource struct {
	status.Source
	mu      sync.Mutex
	st      statusapi.Status
	changed chan struct{}
}

func (f *fakeSource) Status() statusapi.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeSource) Ready() bool { return true }

func (f *fakeSource) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// set changes the status as the aggregator does: under the lock, then
// closing and replacing the channel. fn gets a copy whose maps it may
// change.
func (f *fakeSource) set(fn func(st *statusapi.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Indexes = copyMap(f.st.Indexes)
	st.Backfill = map[string]*statusapi.Backfill{}
	for k, v := range f.st.Backfill {
		b := *v
		st.Backfill[k] = &b
	}
	fn(&st)
	f.st = st
	close(f.changed)
	f.changed = make(chan struct{})
}

func copyMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sampleStatus is a pipeline seeding hosts while listings is seeded, with
// three replicas (one stopped), an error and dead letters.
func sampleStatus(now time.Time) statusapi.Status {
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	eta := 6.0
	return statusapi.Status{
		Phase: statusapi.PhaseBackfilling, UptimeSeconds: 3723,
		Indexes:         map[string]string{"listings": statusapi.IndexSeeded, "hosts": statusapi.IndexBackfilling, "cities": statusapi.IndexPending},
		ChangesCaptured: 1234567, ChangesCommitted: 1234500, ChangesInFlight: 67,
		DocumentsBuilt: 1750, DocumentsQuarantined: 2, Batches: 12, LastFlushMicros: 30000, SlotLagBytes: 4096, Errors: 1,
		LastError: &statusapi.ErrorInfo{Time: now.Add(-90 * time.Second), Source: "/flusso/stays/indexer/idx-2", Component: "sink", Message: "bulk: 503"},
		Pipeline:  "stays",
		Backfill: map[string]*statusapi.Backfill{
			"listings": {Hash: "1f2e3d4c", Generation: 1, Reason: "first run", State: statusapi.IndexSeeded, TasksDone: 4, TasksTotal: 4, Keys: 1500, Documents: 1500, StartedAt: ago(time.Hour), SeededAt: ago(50 * time.Minute)},
			"hosts":    {Hash: "9a8b7c6d", Generation: 1, Reason: "first run", State: statusapi.IndexBackfilling, TasksDone: 1, TasksTotal: 4, Keys: 1000, Documents: 250, StartedAt: ago(5 * time.Second), DocsPerSecond: 50, ETASeconds: &eta},
		},
		Replicas: []statusapi.Replica{
			{Source: "/flusso/stays/indexer/idx-3", Service: "indexer", Instance: "idx-3", StartedAt: ago(time.Hour), LastSeen: now.Add(-5 * time.Minute), LastHeartbeat: ago(5 * time.Minute), Stopped: true, Batches: 4},
			{Source: "/flusso/stays/capture/db1-1", Service: "capture", Instance: "db1-1", Role: "active", StartedAt: ago(time.Hour), LastSeen: now.Add(-2 * time.Second), LastHeartbeat: ago(2 * time.Second), Alive: true},
			{Source: "/flusso/stays/indexer/idx-2", Service: "indexer", Instance: "idx-2", StartedAt: ago(time.Hour), LastSeen: now.Add(-time.Second), LastHeartbeat: ago(3 * time.Second), Alive: true, Batches: 8},
		},
		DeadLetters:        3,
		DocumentsByIndex:   map[string]int64{"listings": 1500, "hosts": 250},
		QuarantinedByIndex: map[string]int64{"listings": 2},
		RecentErrors:       []statusapi.ErrorInfo{{Time: now.Add(-90 * time.Second), Source: "/flusso/stays/indexer/idx-2", Component: "sink", Message: "bulk: 503"}},
		Events:             40,
		UpdatedAt:          ago(time.Second),
	}
}

// statusHarness is a real status server over a fakeSource, on free ports.
type statusHarness struct {
	src             *fakeSource
	public, private string // base URLs
	js              jetstream.JetStream
	names           changes.Names
	stop            func()
}

type harnessOptions struct {
	nats               bool // an embedded NATS with the pipeline's streams, for 202s
	username, password string
	publicAddr         string // a fixed address (to restart a server on it)
}

const testToken = "secret-token"

func examplesConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, diags := config.Load(examples, config.Options{Env: func(string) (string, bool) { return "", false }})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newStatusHarness(t *testing.T, o harnessOptions) *statusHarness {
	t.Helper()
	cfg := examplesConfig(t)
	h := &statusHarness{
		src:   &fakeSource{st: sampleStatus(time.Now().UTC().Round(0)), changed: make(chan struct{})},
		names: changes.NamesFor(cfg.Pipeline()),
	}
	so := status.ServerOptions{Config: cfg, Instance: "test", StreamInterval: 5 * time.Millisecond}
	if o.username != "" {
		so.Username, so.Password = o.username, o.password
	} else {
		so.Token = testToken
	}
	if o.nats {
		h.js = natstest.Embedded(t).JetStream(t)
		if err := changes.EnsureStreams(context.Background(), h.js, h.names, changes.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		so.JetStream = h.js
	}
	if o.publicAddr == "" {
		o.publicAddr = "127.0.0.1:0"
	}
	pub, priv := listen(t, o.publicAddr), listen(t, "127.0.0.1:0")
	h.public, h.private = "http://"+pub.Addr().String(), "http://"+priv.Addr().String()
	srv := status.NewServer(h.src, so)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, pub, priv) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	// A port just closed may take a moment to be free again.
	for range 50 {
		if l, err = net.Listen("tcp", addr); err == nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l := listen(t, "127.0.0.1:0")
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// syncBuffer is a buffer written by a command running in the background
// and read by the test meanwhile.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput waits until buf holds want n times, and returns it.
func waitOutput(t *testing.T, buf *syncBuffer, want string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := buf.String()
		if strings.Count(s, want) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q within 20s; output:\n%s", n, want, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// background runs flusso in the background, its output readable meanwhile.
type background struct {
	out, errOut syncBuffer
	code        chan int
}

func startFlusso(args ...string) *background {
	b := &background{code: make(chan int, 1)}
	go func() { b.code <- run(args, &b.out, &b.errOut) }()
	return b
}

func (b *background) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-b.code:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("flusso did not end within 30s; stdout:\n%s\nstderr:\n%s", b.out.String(), b.errOut.String())
		return -1
	}
}

// executeContext runs flusso under ctx, as cobra gives it to a command.
func executeContext(ctx context.Context, args []string, out, errOut io.Writer) error {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

func TestStatusOnceHuman(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	code, out, errOut := flusso(t, "status", "--once", "--url", h.public)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"flusso status  " + h.public + "  pipeline stays",
		"phase      backfilling  uptime 1h02m",
		"changes    1,234,567 captured  1,234,500 committed  67 in flight  slot lag 4.0 KiB",
		"documents  1,750 built  2 quarantined  12 batches  last flush 30ms",
		"errors     1  dead letters 3",
		"  cities    pending",
		"  hosts     backfilling  ▕██████",
		" 25%  1/4 tasks  250 docs  50.0 docs/s  ETA 6s  (generation 1, first run)",
		"  listings  seeded       generation 1, 1,500 docs written, 2 quarantined",
		"  capture  db1-1  active   alive    heartbeat 2s ago",
		"  indexer  idx-2           alive    heartbeat 3s ago, 8 batches",
		"  indexer  idx-3           stopped  heartbeat 5m00s ago, last seen 5m00s ago, 4 batches",
		"last error  1m30s ago  indexer/idx-2  sink: bulk: 503",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the view lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("terminal control sequences in plain output:\n%q", out)
	}
}

func TestStatusOnceJSONIsAsServed(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	code, out, errOut := flusso(t, "status", "--once", "--format", "json", "--url", h.public+"/")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	resp, err := http.Get(h.public + "/status")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if out != string(served) {
		t.Errorf("printed\n%s\nserved\n%s", out, served)
	}
	var got statusapi.Status
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not a status: %v\n%s", err, out)
	}
	if want := h.src.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

// snapshotHead starts every snapshot of the plain view.
const snapshotHead = "flusso status  http://"

func TestStatusPrintsEachChangeUntilCancelled(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- executeContext(ctx, []string{"status", "--url", h.public}, &out, &errOut) }()
	waitOutput(t, &out, snapshotHead, 1)
	h.src.set(func(st *statusapi.Status) {
		st.Indexes["hosts"] = statusapi.IndexSeeded
		st.Backfill["hosts"].State, st.Backfill["hosts"].TasksDone = statusapi.IndexSeeded, 4
		st.Phase = statusapi.PhaseLive
	})
	s := waitOutput(t, &out, snapshotHead, 2)
	second := s[strings.LastIndex(s, snapshotHead):]
	if !strings.Contains(second, "phase      live") || !strings.Contains(second, "  hosts     seeded       generation 1, 250 docs written") {
		t.Errorf("the second snapshot misses the change:\n%s", second)
	}
	h.src.set(func(st *statusapi.Status) { st.DeadLetters = 4 })
	waitOutput(t, &out, "dead letters 4", 1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flusso status did not end within 10s of its context")
	}
	if n := strings.Count(out.String(), snapshotHead); n != 3 {
		t.Errorf("%d snapshots for 3 statuses:\n%s", n, out.String())
	}
	if errOut.String() != "" {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestStatusRunsUntilSIGTERM(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	b := startFlusso("status", "--url", h.public)
	// The command catches the signal once it prints: the test process lives on.
	waitOutput(t, &b.out, snapshotHead, 1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, stderr:\n%s", code, b.errOut.String())
	}
}

func TestStatusReconnects(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- executeContext(ctx, []string{"status", "--url", h.public}, &out, &errOut) }()
	waitOutput(t, &out, snapshotHead, 1)
	h.stop()
	waitOutput(t, &errOut, "retrying in", 1)
	if s := errOut.String(); !strings.Contains(s, h.public) {
		t.Errorf("the notice does not name the URL: %s", s)
	}
	// The service comes back on the same address with news.
	h2 := newStatusHarness(t, harnessOptions{publicAddr: strings.TrimPrefix(h.public, "http://")})
	h2.src.set(func(st *statusapi.Status) { st.Phase = statusapi.PhaseStopped })
	waitOutput(t, &out, "phase      stopped", 1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

func TestStatusPollsWithoutAStream(t *testing.T) {
	src := &fakeSource{st: sampleStatus(time.Now().UTC()), changed: make(chan struct{})}
	// A service of /status alone: /status/stream is a 404.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(src.Status())
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- executeContext(ctx, []string{"status", "--url", srv.URL, "--interval", "20ms"}, &out, &errOut)
	}()
	waitOutput(t, &out, snapshotHead, 1)
	time.Sleep(100 * time.Millisecond) // polls of an unchanged status print nothing
	if n := strings.Count(out.String(), snapshotHead); n != 1 {
		t.Errorf("%d snapshots of one status:\n%s", n, out.String())
	}
	src.set(func(st *statusapi.Status) { st.Phase = statusapi.PhaseLive })
	waitOutput(t, &out, "phase      live", 1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

func TestStatusNamesAnUnreachableURL(t *testing.T) {
	u := closedURL(t)
	for _, args := range [][]string{
		{"status", "--url", u},
		{"status", "--once", "--url", u},
		{"status", "--once", "--format", "json", "--url", u},
	} {
		code, out, errOut := flusso(t, args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "cannot reach the status service at "+u) || !strings.Contains(errOut, "must be running") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestStatusURLFromTheConfigAndTheEnvironment(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	addr := strings.TrimPrefix(h.public, "http://")
	code, out, errOut := flusso(t, "status", "--once", "-c", examples, "--server-public-address", addr)
	if code != 0 || !strings.Contains(out, "flusso status  "+h.public) {
		t.Errorf("from server.public_address: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("FLUSSO_SERVER_PUBLIC_ADDRESS", "0.0.0.0:"+strings.Split(addr, ":")[1])
	code, out, errOut = flusso(t, "status", "--once", "-c", examples)
	if code != 0 || !strings.Contains(out, "flusso status  http://127.0.0.1:") {
		t.Errorf("from an unspecified address: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The URL given, flusso.toml is not read.
	t.Setenv("FLUSSO_STATUS_URL", h.public)
	code, _, errOut = flusso(t, "status", "--once", "-c", "no/such/flusso.toml")
	if code != 0 {
		t.Errorf("from FLUSSO_STATUS_URL: exit %d, stderr %q", code, errOut)
	}
	// --url beats the environment.
	code, _, errOut = flusso(t, "status", "--once", "--url", closedURL(t))
	if code != 1 {
		t.Errorf("--url over FLUSSO_STATUS_URL: exit %d, stderr %q", code, errOut)
	}
}

func TestStatusUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--format", "json"},
		{"--once", "--format", "yaml"},
		{"--url", "ftp://127.0.0.1:9464"},
		{"--url", "http://"},
		{"--url", "http://127.0.0.1:9464/?x=1"},
		{"--interval", "0s"},
		{"--once", "extra"},
		{"--no-such-flag"},
	} {
		code, out, errOut := flusso(t, append([]string{"status"}, args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "flusso: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2", args, code, out, errOut)
		}
	}
}

func TestStatusTerminalView(t *testing.T) {
	was := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	defer func() { isTerminal = was }()
	h := newStatusHarness(t, harnessOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- executeContext(ctx, []string{"status", "--url", h.public}, &out, &errOut) }()
	waitOutput(t, &out, cursorHome, 1)
	h.src.set(func(st *statusapi.Status) { st.Phase = statusapi.PhaseLive })
	waitOutput(t, &out, "phase      live", 1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after cancel: %v", err)
	}
	s := out.String()
	if !strings.HasPrefix(s, enterScreen+cursorHome+snapshotHead) || strings.Count(s, enterScreen) != 1 {
		t.Errorf("the view does not start on the alternate screen: %q", s[:min(len(s), 80)])
	}
	if !strings.Contains(s, clearEOL+"\nphase      live  uptime") || !strings.Contains(s, clearBelow) {
		t.Errorf("no redraw in place: %q", s)
	}
	// The last frame stays on the main screen, as plain text.
	last := s[strings.LastIndex(s, leaveScreen)+len(leaveScreen):]
	if !strings.HasPrefix(last, snapshotHead) || !strings.Contains(last, "phase      live") || strings.Contains(last, "\x1b") {
		t.Errorf("after leaving the alternate screen: %q", last)
	}
}

func TestRenderHelpers(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{bar(0, 4), "▕····▏"},
		{bar(0.5, 4), "▕██··▏"},
		{bar(0.5625, 4), "▕██▎·▏"},
		{bar(1, 4), "▕████▏"},
		{bar(2, 4), "▕████▏"},
		{age(0), "0s"},
		{age(59 * time.Second), "59s"},
		{age(61 * time.Second), "1m01s"},
		{age(3723 * time.Second), "1h02m"},
		{age(50 * time.Hour), "2d02h"},
		{age(-time.Second), "0s"},
		{count(0), "0"},
		{count(999), "999"},
		{count(1000), "1,000"},
		{count(-1234567), "-1,234,567"},
		{byteSize(512), "512 B"},
		{byteSize(1536), "1.5 KiB"},
		{byteSize(3 << 30), "3.0 GiB"},
		{rate(2.25), "2.2"},
		{rate(1234.6), "1,235"},
		{addressURL("127.0.0.1:9464"), "http://127.0.0.1:9464"},
		{addressURL(":9464"), "http://127.0.0.1:9464"},
		{addressURL("0.0.0.0:9464"), "http://127.0.0.1:9464"},
		{addressURL("[::]:9465"), "http://127.0.0.1:9465"},
		{addressURL("status.internal:9465"), "http://status.internal:9465"},
		{sourceName("/flusso/stays/capture/db1-1"), "capture/db1-1"},
		{sourceName("elsewhere"), "elsewhere"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestIdleStreamIsClosed: a body silent past the idle limit is closed, so
// that a connection that died quietly is reopened.
func TestIdleStreamIsClosed(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	b := newIdleBody(r, 30*time.Millisecond)
	go func() { _, _ = w.Write([]byte("x")) }()
	buf := make([]byte, 8)
	if n, err := b.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	_, err := b.Read(buf)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("a silent body: %v, want it closed", err)
	}
}
