package indexer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/opensearchtest"
)

// Tests of flusso-indexer processes sharing the work, one of them killed.

// buildIndexer builds flusso-indexer into a temporary folder.
func buildIndexer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flusso-indexer")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/flusso-indexer").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeOSConfig writes a flusso.toml for the users index with one
// OpenSearch sink named os (its URL is given to each process in
// OS_OPENSEARCH_URL) and returns its path.
func (h *harness) writeOSConfig(t *testing.T, schema string) string {
	t.Helper()
	dir := t.TempDir()
	toml := fmt.Sprintf(`[source]
type = "postgres"
connection_url = %q

[sinks.os]
type = "opensearch"
url = "http://127.0.0.1:1"
max_retries = 30
refresh_interval = "1s"

[[index]]
name = "users"
schema = "users.schema.yml"
`, h.DB.URL)
	if err := os.WriteFile(filepath.Join(dir, "users.schema.yml"), []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flusso.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// indexerProc is a running flusso-indexer.
type indexerProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startIndexerProcess runs the binary with its OpenSearch sink at osURL;
// its logs go to the test log. It is killed when the test ends.
func (h *harness) startIndexerProcess(t *testing.T, bin, config, instance, osURL string, settings map[string]string) *indexerProc {
	t.Helper()
	args := []string{"-c", config, "--instance", instance, "--log-format", "text",
		"--nats-url", h.NATSURL, "--capture-slot", h.Names.Pipeline, "--capture-publication", "flusso"}
	for k, v := range settings {
		args = append(args, "--"+strings.NewReplacer(".", "-", "_", "-").Replace(k), v)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "OS_OPENSEARCH_URL=" + osURL}
	w := &testWriter{t: t, prefix: instance}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &indexerProc{name: instance, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// holdingProxy stands between one indexer process and the stand-in. Once
// Hold is set, it passes the next _bulk request on (the stand-in applies
// it) but never answers: the process is caught between its write and its
// ack, and Held is closed.
type holdingProxy struct {
	*httptest.Server
	hold atomic.Bool
	once atomic.Bool
	Held chan struct{}
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &holdingProxy{Held: make(chan struct{})}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.hold.Load() || !strings.HasSuffix(r.URL.Path, "_bulk") || !p.once.CompareAndSwap(false, true) {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r)
		close(p.Held)
		<-r.Context().Done() // until the client is gone
	}))
	t.Cleanup(p.Close)
	return p
}

// randomWrites is n random transactions on both tables of usersSQL.
func randomWrites(rng *rand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		u, o := 1+rng.IntN(300), 1+rng.IntN(900)
		switch rng.IntN(5) {
		case 0:
			out[i] = fmt.Sprintf(`UPDATE users SET email = 'w%d-' || email WHERE id = %d`, i, u)
		case 1:
			out[i] = fmt.Sprintf(`UPDATE orders SET amount = amount + %d WHERE id = %d`, 1+rng.IntN(50), o)
		case 2:
			out[i] = fmt.Sprintf(`UPDATE orders SET user_id = %d WHERE id = %d`, u, o)
		case 3:
			out[i] = fmt.Sprintf(`INSERT INTO orders VALUES (%d, %d, %d)`, 10000+i, u, i)
		default:
			out[i] = fmt.Sprintf(`BEGIN; DELETE FROM orders WHERE id = %d; UPDATE users SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END WHERE id = %d; COMMIT`, o, u)
		}
	}
	return out
}

// Two flusso-indexer processes share the consumer through backfill and
// random writes on both tables, into the real OpenSearch sink and the
// stand-in. One is killed (SIGKILL) between a _bulk the stand-in applied
// and the ack of its batch: its unacked changes are redelivered to the
// other, and the stand-in ends with what a fresh build produces, nothing
// lost, nothing in the dead-letter stream.
func TestReplicaKilledMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildIndexer(t)
	h := usersHarness(t, map[string]string{"capture.backfill_chunk": "20"})
	srv := opensearchtest.New(t)
	proxy := newHoldingProxy(t, srv.URL())
	config := h.writeOSConfig(t, usersYAML)
	settings := map[string]string{"indexer.batch_size": "10", "indexer.batch_wait": "20ms", "indexer.ack_wait": "3s"}
	h.StartCapture(t, "c1")
	a := h.startIndexerProcess(t, bin, config, "a", proxy.URL, settings)
	b := h.startIndexerProcess(t, bin, config, "b", srv.URL(), settings)
	h.waitConvergedOS(t, 90*time.Second, "backfill by two processes", srv)

	writes := randomWrites(rand.New(rand.NewPCG(1, 2)), 300)
	for _, w := range writes[:100] {
		h.Exec(t, w)
	}
	proxy.hold.Store(true)
	next := 100
	for caught := false; !caught; {
		select {
		case <-proxy.Held:
			caught = true
		case <-a.done:
			t.Fatalf("replica a exited: %v", a.err)
		default:
			if next == len(writes) {
				t.Fatal("replica a wrote nothing during the writes")
			}
			h.Exec(t, writes[next])
			next++
		}
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	t.Logf("replica a killed mid-batch after %d writes", next)
	for _, w := range writes[next:] {
		h.Exec(t, w)
	}
	t.Logf("all writes committed")
	h.waitConvergedOS(t, 90*time.Second, "after the kill", srv)
	t.Logf("converged")
	waitFor(t, 30*time.Second, "everything acked", func() bool { return pending(t, h) == 0 })
	ctx := context.Background()
	c, err := h.JS.Consumer(ctx, h.Names.ChangesStream(), ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer <= info.Delivered.Stream {
		t.Errorf("%d deliveries of %d messages: the killed replica's batch was not redelivered", info.Delivered.Consumer, info.Delivered.Stream)
	}
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	select {
	case <-b.done:
		t.Fatalf("replica b exited: %v", b.err)
	default:
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("OpenAPI violations: %v", v)
	}
}
