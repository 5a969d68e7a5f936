package status

// The dashboard as a user sees it: a running pipeline, the status service
// in front of it, and headless Chromium rendering the page from the event
// stream.

import (
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/memory"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/flusso-go/flusso/services/capture"
	"github.com/flusso-go/flusso/services/indexer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// chromium finds the browser: $FLUSSO_CHROMIUM, else /usr/bin/chromium. A
// machine without it skips, unless FLUSSO_REQUIRE_CHROMIUM=1 (CI installs
// it, so there a missing browser is a failure, not a silent skip).
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("FLUSSO_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	found, err := exec.LookPath(path)
	if err == nil {
		return found
	}
	msg := fmt.Sprintf("no headless Chromium at %s (%v): apt-get install chromium, or set FLUSSO_CHROMIUM", path, err)
	if os.Getenv("FLUSSO_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + " (FLUSSO_REQUIRE_CHROMIUM=1)")
	}
	t.Skip(msg)
	return ""
}

// dashboardPipeline runs Postgres, NATS, a capture, an indexer writing to
// a memory sink, the aggregator and the status server on a free port. It
// returns the aggregator, the public surface's base URL, and a function
// that stops the server.
func dashboardPipeline(t *testing.T) (*Aggregator, string, func()) {
	t.Helper()
	db := pgtest.Private(t).NewDatabase(t)
	db.Exec(t, `
		CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);
		CREATE TABLE orders (id integer PRIMARY KEY, user_id integer NOT NULL, amount integer NOT NULL);
		INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 300) g;
		INSERT INTO orders SELECT g, 1 + g % 300, g FROM generate_series(1, 200) g;`)
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
	env := func(name string) (string, bool) {
		if name == "DATABASE_URL" {
			return db.URL, true
		}
		return "", false
	}
	slot := "flusso_" + strings.TrimPrefix(db.Name, "t_")
	toml := `
[source]
type = "postgres"
connection_url = "postgres://unused/db"

[[index]]
name = "users"
schema = "users.schema.yml"

[[index]]
name = "orders"
schema = "orders.schema.yml"
`
	schemas := map[string]string{
		"/test/users.schema.yml":  "version: 1\ntable: users\nfields:\n  - integer: id\n  - text: name\n",
		"/test/orders.schema.yml": "version: 1\ntable: orders\nfields:\n  - integer: user_id\n  - integer: amount\n",
	}
	read := func(path string) ([]byte, error) {
		if s, ok := schemas[path]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	flags := map[string]string{
		"capture.slot": slot, "capture.publication": "flusso", "nats.url": ns.URL(),
		"capture.standby_retry": "100ms", "capture.lag_interval": "1s", "capture.backfill_chunk": "50",
		"indexer.batch_wait": "50ms", "indexer.ack_wait": "5s", "indexer.batch_size": "50",
	}
	cfg, diags := config.Parse("/test/flusso.toml", []byte(toml), config.Options{Flags: flags, Env: env}, read)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.Pool(t).Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := capture.New(ctx, capture.Options{Config: cfg, JetStream: js, Logger: e2eLogger(t, "capture"), Instance: "c1", Env: env})
	if err != nil {
		t.Fatalf("capture.New: %v", err)
	}
	t.Cleanup(c.Close)
	runE2E(t, "capture", c.Run)
	ix, err := indexer.New(ctx, indexer.Options{Config: cfg, JetStream: js, Sinks: []sink.Sink{memory.New("mem")}, Logger: e2eLogger(t, "indexer"), Instance: "i1", Env: env})
	if err != nil {
		t.Fatalf("indexer.New: %v", err)
	}
	t.Cleanup(ix.Close)
	runE2E(t, "indexer", ix.Run)
	agg, err := New(ctx, Options{JetStream: js, Config: cfg, Logger: e2eLogger(t, "status"), Instance: "s1"})
	if err != nil {
		t.Fatalf("status.New: %v", err)
	}
	runE2E(t, "status", agg.Run)

	srv := NewServer(agg, ServerOptions{Config: cfg, JetStream: js, Logger: e2eLogger(t, "http"), Instance: "s1", Token: "dashboard-token"})
	public, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	private, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, public, private) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopServe()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return agg, "http://" + public.Addr().String(), stop
}

func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres, NATS, capture, indexer, status and Chromium")
	}
	browser := chromium(t)
	agg, base, stopServer := dashboardPipeline(t)

	// The status says live, every index seeded, before the page is opened.
	deadline := time.Now().Add(60 * time.Second)
	var st statusapi.Status
	for {
		st = agg.Status()
		seeded := len(st.Indexes) == 2
		for name, state := range st.Indexes {
			b := st.Backfill[name]
			seeded = seeded && state == statusapi.IndexSeeded && b != nil && b.State == statusapi.IndexSeeded
		}
		if st.Phase == statusapi.PhaseLive && seeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline is not live with every index seeded after 60s: %s", jsonOf(t, st))
		}
		time.Sleep(50 * time.Millisecond)
	}
	indexes := slices.Sorted(maps.Keys(st.Indexes))

	// The same surface behind a path prefix, as a reverse proxy would
	// mount it: the page must reach its assets and stream relatively.
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // pass the events on at once
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	prefixed := httptest.NewServer(http.StripPrefix("/flusso", proxy))
	t.Cleanup(prefixed.Close)
	// And behind a proxy that does not pass server-sent events: the page
	// must fall back to polling.
	noStream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status/stream" {
			http.Error(w, "no event streams here", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(noStream.Close)

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		// Chromium's own calls home would fail on a closed network and
		// would count as requests made outside the server.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	// Every request the page makes, to check that it is self-contained.
	var mu sync.Mutex
	var requests []string
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}))
	t.Cleanup(cancelTab)
	// The first run starts the browser and must have no deadline: it would
	// bound the browser's life. Each step then gets one of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	const step = 30 * time.Second
	within := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}

	// dom describes the page for a failure message.
	dom := func() string {
		html, err := chromedp.Run(within(5*time.Second), chromedp.OuterHTML(chromedp.CSS("main")))
		if err != nil {
			return "(the DOM could not be read: " + err.Error() + ")"
		}
		return html
	}
	// must ends the test on an action's error, showing the page.
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\npage:\n%s", what, err, dom())
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(within(step), chromedp.Text(chromedp.CSS(sel)))
		must("read "+sel, err)
		if v == "" {
			// innerText comes from the layout, which has no text without a font.
			t.Logf("%s shows no text: if the DOM has some, Chromium has no font (apt-get install fonts-dejavu-core)", sel)
		}
		return strings.TrimSpace(v)
	}

	pages := []struct{ how, url string }{
		{"served directly", base + "/"},
		{"behind a path prefix", prefixed.URL + "/flusso/"},
		{"behind a proxy without event streams", noStream.URL + "/"},
	}
	for _, page := range pages {
		must("open the page "+page.how+" and wait for the phase to read live", chromedp.Do(within(step),
			chromedp.Navigate(page.url),
			chromedp.WaitVisible(chromedp.CSS(`#phase[data-phase="live"]`)),
		))
		// Seen, not merely present: a CSS display can override hidden.
		offline, err := chromedp.Run(within(step), chromedp.Evaluate[bool](`document.getElementById("conn").checkVisibility()`))
		must("read the disconnected badge", err)
		if phase, pipeline := text("#phase"), text("#pipeline"); phase != "live" || pipeline != st.Pipeline || offline {
			t.Errorf("page %s: phase %q, pipeline %q, disconnected badge shown %v; want live, %q, false", page.how, phase, pipeline, offline, st.Pipeline)
		}
	}

	for _, name := range indexes {
		item := fmt.Sprintf(`li[data-index=%q]`, name)
		bar := item + ` [role="progressbar"]`
		now, err := chromedp.Run(within(step), chromedp.AttributeValue(chromedp.CSS(bar), "aria-valuenow"))
		must("read the progress bar of "+name, err)
		// The bar is drawn full (once its transition ends), not only labelled so.
		_, err = chromedp.Run(within(step), chromedp.Poll[bool](fmt.Sprintf(`(() => {
			const bar = document.querySelector(%q), fill = bar && bar.firstElementChild;
			return !!fill && bar.getBoundingClientRect().width > 0 &&
				Math.abs(fill.getBoundingClientRect().width - bar.getBoundingClientRect().width) < 1;
		})()`, bar), chromedp.WithPollingTimeout(10*time.Second)))
		must("wait for the progress bar of "+name+" to be drawn full", err)
		if state := text(item + " .state"); state != statusapi.IndexSeeded || now.Value != "100" {
			t.Errorf("index %s shows state %q and a progress bar at %q %%; want seeded at 100", name, state, now.Value)
		}
	}

	replicas, err := chromedp.Run(within(step), chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#replicas tbody tr[data-alive=true]")].map(r => r.cells[0].textContent + "/" + r.cells[1].textContent)`))
	must("read the replicas", err)
	for _, want := range []string{"capture/c1", "indexer/i1"} {
		if !slices.Contains(replicas, want) {
			t.Errorf("alive replicas shown: %v; want %s among them", replicas, want)
		}
	}

	if path := os.Getenv("FLUSSO_DASHBOARD_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(within(step), chromedp.FullScreenshot(100))
		must("screenshot", err)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Error(err)
		}
	}

	// With the server gone, the page says so.
	stopServer()
	must("wait for the disconnected badge", chromedp.Do(within(step), chromedp.WaitVisible(chromedp.CSS("#conn"))))

	mu.Lock()
	defer mu.Unlock()
	allowed := []string{base, prefixed.URL, noStream.URL}
	for _, u := range requests {
		pu, err := url.Parse(u)
		if err == nil && (pu.Scheme == "data" || slices.Contains(allowed, pu.Scheme+"://"+pu.Host)) {
			continue
		}
		t.Errorf("the page requested %s, outside the status server", u)
	}
	if len(requests) < 4 {
		t.Errorf("only %d requests seen (%v): the network listener is not working", len(requests), requests)
	}
}
