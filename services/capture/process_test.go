package capture

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

// Tests of the flusso-capture binary as a process: killed, and with its
// NATS server and Postgres restarted under it.

// buildCapture builds flusso-capture into a temporary folder.
func buildCapture(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flusso-capture")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/flusso-capture")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeConfig writes the harness's config as files: a flusso.toml naming
// the database and the schemas beside it. Settings go as flags.
func (h *harness) writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var toml strings.Builder
	fmt.Fprintf(&toml, "[source]\ntype = \"postgres\"\nconnection_url = %q\n\n", h.DB.URL)
	for name, yml := range h.opts.Schemas {
		fmt.Fprintf(&toml, "[[index]]\nname = %q\nschema = %q\n\n", name, name+".schema.yml")
		if err := os.WriteFile(filepath.Join(dir, name+".schema.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "flusso.toml")
	if err := os.WriteFile(path, []byte(toml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureProc is a running flusso-capture.
type captureProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProcess runs the binary on the harness's config; its logs go to
// the test log. It is killed when the test ends.
func (h *harness) startProcess(t *testing.T, bin, config, instance string, settings map[string]string) *captureProc {
	t.Helper()
	args := []string{"-c", config, "--instance", instance, "--log-format", "text",
		"--nats-url", h.NATSURL, "--capture-slot", h.Slot, "--capture-publication", h.Publication,
		"--capture-standby-retry", "200ms"}
	for k, v := range settings {
		args = append(args, "--"+strings.NewReplacer(".", "-", "_", "-").Replace(k), v)
	}
	cmd := exec.Command(bin, args...)
	// Only what the config asks for: no FLUSSO_* or DATABASE_URL of the
	// test's environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	w := &testWriter{t: t, prefix: instance}
	t.Cleanup(w.close)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &captureProc{name: instance, cmd: cmd, done: make(chan struct{})}
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

// kill ends the process with SIGKILL, as a crash would.
func (p *captureProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process with SIGTERM and checks it exits cleanly (0).
func (p *captureProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of SIGTERM", p.name)
	}
	if p.err != nil {
		t.Fatalf("%s after SIGTERM: %v, want exit status 0", p.name, p.err)
	}
}

// waitLive waits for the process's live.started event, failing at once if
// the process exits.
func (h *harness) waitLive(t *testing.T, p *captureProc) {
	t.Helper()
	r := h.reader(t, h.Names.EventsStream(), h.Names.EventSubject("capture", events.LiveStarted))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before streaming: %v", p.name, p.err)
		default:
		}
		if msg := r.next(t, time.Now().Add(200*time.Millisecond)); msg != nil {
			if e, err := events.FromMsg(msg.Headers(), msg.Data()); err == nil && strings.HasSuffix(e.Source(), "/"+p.name) {
				return
			}
		}
	}
	t.Fatalf("%s did not start streaming within 60s", p.name)
}

// plainUsersYAML indexes users alone.
const plainUsersYAML = `
version: 1
table: users
primary_key: id
fields:
  - integer: id
  - text: name
`

// Killed (SIGKILL) in the middle of publishing a 50k-row transaction and
// restarted, the capture publishes the whole transaction again from the
// slot's confirmed position; JetStream drops the copies by message id: every
// change is in the stream, once.
func TestProcessKilledMidTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const rows = 50000
	bin := buildCapture(t)
	srv := natstest.Process(t)
	h := newHarness(t, harnessOptions{
		SQL:     `CREATE TABLE users (id int PRIMARY KEY, name text, bio text);`,
		Schemas: map[string]string{"users": plainUsersYAML}, NATSURL: srv.URL(),
	})
	config := h.writeConfig(t)
	// A small window slows publishing down enough to be caught in the middle.
	slow := map[string]string{"capture.publish_window": "16"}
	p := h.startProcess(t, bin, config, "p1", slow)
	h.waitLive(t, p)

	h.tx(t, fmt.Sprintf(`INSERT INTO users SELECT g, 'u' || g, NULL FROM generate_series(1, %d) g`, rows), false)
	subject := "flusso." + h.Names.Pipeline + ".changes.>"
	waitFor(t, 60*time.Second, "the transaction's publishing to start", func() bool { return h.StreamCount(t, subject) > 2000 })
	p.kill(t)
	atKill := h.StreamCount(t, subject)
	if atKill >= rows {
		t.Fatalf("the whole transaction was published before the kill (%d changes): the test did not catch it in the middle", atKill)
	}
	first := h.ReadChanges(t, 1, 10*time.Second)[0]
	if confirmed, _, _ := h.SlotState(t); confirmed >= first.LSN {
		t.Fatalf("killed with %d of %d changes stored, the slot confirmed %s, at or past the transaction's commit %s", atKill, rows, confirmed, first.LSN)
	}
	t.Logf("killed with %d of %d changes stored", atKill, rows)

	p2 := h.startProcess(t, bin, config, "p2", nil)
	end := h.CurrentLSN(t)
	waitFor(t, 60*time.Second, "the slot to confirm the transaction", func() bool {
		confirmed, _, _ := h.SlotState(t)
		return confirmed >= end
	})
	if n := h.StreamCount(t, subject); n != rows {
		t.Fatalf("%d changes in the stream, want exactly %d", n, rows)
	}
	got := append([]*changes.Change{first}, h.ReadChanges(t, rows-1, 30*time.Second)...)
	seen := make([]bool, rows)
	for _, c := range got {
		if c.LSN != first.LSN || c.Op != changes.Insert || c.Seq < 0 || c.Seq >= rows || seen[c.Seq] {
			t.Fatalf("unexpected change %s", dump([]*changes.Change{c}))
		}
		if want := fmt.Sprint(c.Seq + 1); c.Key[0] != want {
			t.Fatalf("change %d has key %s, want %s", c.Seq, c.Key[0], want)
		}
		seen[c.Seq] = true
	}
	p2.stop(t)
}

// The NATS server is killed and restarted, then Postgres is restarted,
// while rows are written: every committed row's change reaches the stream.
func TestProcessServersRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, restarts servers")
	}
	bin := buildCapture(t)
	srv := natstest.Process(t)
	cluster := pgtest.Private(t)
	h := newHarness(t, harnessOptions{
		SQL:     `CREATE TABLE users (id int PRIMARY KEY, name text, bio text);`,
		Schemas: map[string]string{"users": plainUsersYAML}, NATSURL: srv.URL(), Cluster: cluster,
	})
	config := h.writeConfig(t)
	p := h.startProcess(t, bin, config, "p1", nil)
	h.waitLive(t, p)

	// A writer commits batches of 10 rows; a batch whose commit fails may
	// or may not have committed, so the database says what was written.
	ctx, stopWriting := context.WithCancel(context.Background())
	var batches atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for next := 0; ctx.Err() == nil; <-tick.C {
			// Not ctx: a statement cancelled by the client may still commit
			// on the server after the writer stopped, unseen by the count.
			qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := h.Pool.Exec(qctx, `INSERT INTO users SELECT g, 'w', NULL FROM generate_series($1::int, $1::int + 9) g ON CONFLICT DO NOTHING`, next)
			qcancel()
			if err == nil {
				batches.Add(1)
			}
			next += 10
		}
	}()
	subject := "flusso." + h.Names.Pipeline + ".changes.>"
	flowing := func(what string) {
		t.Helper()
		n, b := h.StreamCount(t, subject), batches.Load()
		waitFor(t, 60*time.Second, "changes to flow "+what, func() bool {
			return batches.Load() > b+20 && h.StreamCount(t, subject) > n+200
		})
	}
	flowing("at first")

	srv.Kill()
	down := batches.Load()
	waitFor(t, 10*time.Second, "writes while NATS is down", func() bool { return batches.Load() > down+10 })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	flowing("after the NATS restart")

	if err := cluster.Restart(); err != nil {
		t.Fatal(err)
	}
	flowing("after the Postgres restart")
	stopWriting()
	wg.Wait()

	var ids []string
	waitFor(t, 10*time.Second, "the database", func() bool {
		rows, err := h.Pool.Query(context.Background(), `SELECT id::text FROM users ORDER BY id`)
		if err != nil {
			return false
		}
		defer rows.Close()
		ids = ids[:0]
		for rows.Next() {
			var s string
			if rows.Scan(&s) != nil {
				return false
			}
			ids = append(ids, s)
		}
		return rows.Err() == nil
	})
	// Every row committed is streamed: wait for as many distinct changes.
	distinct := map[string]bool{}
	keys := map[string][]string{} // key -> message ids
	var duplicates int
	waitFor(t, 90*time.Second, fmt.Sprintf("%d distinct changes", len(ids)), func() bool {
		for _, c := range h.ReadChanges(t, int(h.StreamCount(t, subject))-len(distinct)-duplicates, 30*time.Second) {
			id := c.MsgID()
			if distinct[id] {
				duplicates++
				continue
			}
			distinct[id] = true
			keys[c.Key[0]] = append(keys[c.Key[0]], id)
		}
		return len(distinct) >= len(ids)
	})
	var missing []string
	inDB := map[string]bool{}
	for _, id := range ids {
		inDB[id] = true
		if len(keys[id]) == 0 {
			missing = append(missing, id)
		}
	}
	var extra []string
	for k, msgs := range keys {
		if !inDB[k] || len(msgs) > 1 {
			extra = append(extra, fmt.Sprintf("%s%v", k, msgs))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(distinct) != len(ids) {
		t.Fatalf("%d rows written, %d distinct changes; rows with no change: %v; changes of rows not in the database, or several changes of one row: %v", len(ids), len(distinct), missing, extra)
	}
	t.Logf("%d rows written across the restarts, all streamed (%d duplicate messages)", len(ids), duplicates)
	p.stop(t)
}
