package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

// buildFlusso builds this command into a temporary folder.
func buildFlusso(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flusso")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// flussoRun is a running `flusso run` process.
type flussoRun struct {
	cmd       *exec.Cmd
	done      chan struct{}
	err       error
	statusURL chan string
}

var statusURLLog = regexp.MustCompile(`msg="flusso running".* status=(\S+)`)

// startRun starts `flusso run` with env; its stderr goes to the test log
// (stdout, the audit sink's lines, is dropped). It is killed when the test
// ends.
func startRun(t *testing.T, bin string, env []string, args ...string) *flussoRun {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "--log-format", "text"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &flussoRun{cmd: cmd, done: make(chan struct{}), statusURL: make(chan string, 1)}
	var logMu sync.Mutex
	ended := false
	t.Cleanup(func() { logMu.Lock(); ended = true; logMu.Unlock() })
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := statusURLLog.FindStringSubmatch(line); m != nil {
				select {
				case r.statusURL <- m[1]:
				default:
				}
			}
			logMu.Lock()
			if !ended {
				t.Log(line)
			}
			logMu.Unlock()
		}
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

// oracle builds every document of every enabled index afresh.
func oracle(t *testing.T, cfg *config.Config, db *pgtest.Database) map[string]map[string]json.RawMessage {
	t.Helper()
	ctx := context.Background()
	pool := db.Pool(t)
	cat := catalog.New(pool)
	out := map[string]map[string]json.RawMessage{}
	for _, ix := range cfg.Indexes {
		if !ix.Enabled {
			continue
		}
		b, err := document.New(ctx, ix.Name, ix.Schema, cat)
		if err != nil {
			t.Fatal(err)
		}
		docs := map[string]json.RawMessage{}
		if err := b.BuildAll(ctx, pool, 1000, func(d document.Doc) error {
			if d.Source != nil {
				docs[d.ID] = d.Source
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		out[ix.Name] = docs
	}
	return out
}

// standInDiff tells how the documents served through each alias differ
// from the oracle's; "" when equal.
func standInDiff(want map[string]map[string]json.RawMessage, srv *opensearchtest.Server, prefix string) string {
	var out []string
	indexes := make([]string, 0, len(want))
	for name := range want {
		indexes = append(indexes, name)
	}
	sort.Strings(indexes)
	for _, name := range indexes {
		got := srv.Docs(prefix + name)
		for id, w := range want[name] {
			var a, b any
			g, ok := got[id]
			if ok && json.Unmarshal(g, &a) == nil && json.Unmarshal(w, &b) == nil && reflect.DeepEqual(a, b) {
				continue
			}
			out = append(out, fmt.Sprintf("%s/%s = %s, want %s", name, id, g, w))
		}
		for id := range got {
			if _, ok := want[name][id]; !ok {
				out = append(out, fmt.Sprintf("%s/%s present, want absent", name, id))
			}
		}
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("… and %d more", len(out)-5))
	}
	return strings.Join(out, "\n")
}

// flusso run on the examples into the OpenSearch stand-in: it backfills
// every index, follows live changes, is killed with SIGKILL in the middle of
// a stream of changes, and restarted on the same data folder: it resumes,
// and every alias ends up serving what a fresh build produces.
func TestRunKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildFlusso(t)
	db := examplesDatabase(t)
	srv := opensearchtest.New(t)
	slot := "flusso_" + strings.TrimPrefix(db.Name, "t_")
	env := []string{
		"DATABASE_URL=" + db.URL, "SEARCH_OPENSEARCH_URL=" + srv.URL(),
		"SEARCH_USERNAME=flusso", "SEARCH_PASSWORD=" + secret, "FLUSSO_STATUS_TOKEN=t0ken",
	}
	args := []string{"-c", "../../examples/flusso.toml", "--nats-data-dir", t.TempDir(),
		"--capture-slot", slot, "--server-public-address", "127.0.0.1:0", "--server-private-address", "127.0.0.1:0",
		"--indexer-batch-wait", "50ms"}
	cfg, diags := config.Load("../../examples/flusso.toml", config.Options{Env: func(string) (string, bool) { return "", false }})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	waitConverged := func(what string, r *flussoRun) {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for {
			d := standInDiff(oracle(t, cfg, db), srv, cfg.Prefix)
			if d == "" {
				return
			}
			select {
			case <-r.done:
				t.Fatalf("%s: flusso run exited: %v", what, r.err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not converged after 2m:\n%s", what, d)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	first := startRun(t, bin, env, args...)
	select {
	case url := <-first.statusURL:
		t.Logf("status at %s", url)
	case <-first.done:
		t.Fatalf("flusso run exited at start: %v", first.err)
	case <-time.After(60 * time.Second):
		t.Fatal("flusso run did not report its status URL within 60s")
	}
	waitConverged("backfill", first)

	// Changes keep coming while the process is killed.
	pool := db.Pool(t)
	ctx := context.Background()
	for i := range 40 {
		if _, err := pool.Exec(ctx, `UPDATE stays.listings SET title = title || '.' WHERE id = (SELECT id FROM stays.listings ORDER BY id OFFSET $1 LIMIT 1)`, i%10); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			_ = first.cmd.Process.Signal(syscall.SIGKILL)
			<-first.done
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE stays.hosts SET display_name = display_name || ' II' WHERE id = (SELECT min(id) FROM stays.hosts)`); err != nil {
		t.Fatal(err)
	}

	second := startRun(t, bin, env, args...)
	waitConverged("after the restart", second)
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("OpenAPI violations: %v", v)
	}
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-second.done:
		if second.err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0", second.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("flusso run did not stop within 30s of SIGTERM")
	}
}
