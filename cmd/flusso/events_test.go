package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// eventsHarness is a NATS server holding a pipeline's streams, and the
// publishers of a capture and an indexer.
type eventsHarness struct {
	url     string
	names   changes.Names
	js      jetstream.JetStream
	capture *events.Publisher
	indexer *events.Publisher
}

func newEventsHarness(t *testing.T) *eventsHarness {
	t.Helper()
	srv := natstest.Embedded(t)
	js := srv.JetStream(t)
	names := changes.NamesFor("evtest")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := changes.EnsureStreams(ctx, js, names, changes.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return &eventsHarness{
		url: srv.URL(), names: names, js: js,
		capture: events.NewPublisher(js, names, "capture", "db1-1"),
		indexer: events.NewPublisher(js, names, "indexer", "idx1-2"),
	}
}

func (h *eventsHarness) publish(t *testing.T, p *events.Publisher, name string, data any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Publish(ctx, name, data); err != nil {
		t.Fatal(err)
	}
}

// history publishes one event of each kind the tests filter on: capture
// events on capture.*, indexer events on indexer.*.
func (h *eventsHarness) history(t *testing.T) {
	t.Helper()
	h.publish(t, h.capture, events.Started, events.StartedData{Instance: "db1-1", Indexes: []string{"listings"}})
	h.publish(t, h.capture, events.BackfillStarted, events.BackfillStartedData{Index: "listings", Hash: "1f2e3d4c", Generation: 1, Reason: "first run", Tasks: 2, Keys: 7})
	h.publish(t, h.indexer, events.Started, events.StartedData{Instance: "idx1-2", Indexes: []string{"listings"}})
	h.publish(t, h.indexer, events.BatchCommitted, events.BatchCommittedData{Instance: "idx1-2", Tasks: 1, Documents: 4, Indexes: map[string]int{"listings": 4}})
	h.publish(t, h.indexer, events.BackfillProgress, events.BackfillProgressData{Index: "listings", Hash: "1f2e3d4c", Generation: 1, Task: 1, Tasks: 2, Keys: 4, Documents: 4})
	h.publish(t, h.indexer, events.BatchCommitted, events.BatchCommittedData{Instance: "idx1-2", Tasks: 1, Documents: 3, Indexes: map[string]int{"listings": 3}})
	h.publish(t, h.capture, events.Heartbeat, events.HeartbeatData{Instance: "db1-1", UptimeSeconds: 10, Role: "active"})
	h.publish(t, h.indexer, events.Heartbeat, events.HeartbeatData{Instance: "idx1-2", UptimeSeconds: 9, Role: "active"})
}

// events runs flusso events against the harness and returns its output
// lines. Every call passes -n, so it ends.
func (h *eventsHarness) events(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errOut := h.run(t, args...)
	if code != 0 {
		t.Fatalf("flusso events %v: exit %d, stderr:\n%s", args, code, errOut)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// eventsResult is how flusso events ended.
type eventsResult struct {
	code        int
	out, errOut string
}

// start runs flusso events against the harness in the background.
func (h *eventsHarness) start(t *testing.T, args ...string) <-chan eventsResult {
	done := make(chan eventsResult, 1)
	go func() {
		code, out, errOut := flusso(t, append([]string{"events", "-c", examples, "--nats-url", h.url, "--nats-pipeline", h.names.Pipeline}, args...)...)
		done <- eventsResult{code, out, errOut}
	}()
	return done
}

// wait waits for a run of flusso events to end.
func wait(t *testing.T, done <-chan eventsResult) eventsResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("flusso events did not end within 30s")
		return eventsResult{}
	}
}

func (h *eventsHarness) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	r := wait(t, h.start(t, args...))
	return r.code, r.out, r.errOut
}

// fields splits a human line: time, source, name, data.
func fields(t *testing.T, line string) (time.Time, string, string, string) {
	t.Helper()
	parts := strings.SplitN(line, "  ", 4)
	if len(parts) != 4 {
		t.Fatalf("not time  source  name  data: %q", line)
	}
	at, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return at, parts[1], parts[2], parts[3]
}

func TestEventsAllInOrder(t *testing.T) {
	h := newEventsHarness(t)
	h.history(t)
	lines := h.events(t, "--all", "-n", "8")
	want := []string{
		"/flusso/evtest/capture/db1-1 started", "/flusso/evtest/capture/db1-1 backfill.started",
		"/flusso/evtest/indexer/idx1-2 started", "/flusso/evtest/indexer/idx1-2 batch.committed",
		"/flusso/evtest/indexer/idx1-2 backfill.progress", "/flusso/evtest/indexer/idx1-2 batch.committed",
		"/flusso/evtest/capture/db1-1 heartbeat", "/flusso/evtest/indexer/idx1-2 heartbeat",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		at, source, name, data := fields(t, line)
		if source+" "+name != want[i] {
			t.Errorf("line %d: %q, want %s", i, line, want[i])
		}
		if time.Since(at) > time.Minute {
			t.Errorf("line %d: time %s", i, at)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(data)); err != nil || compact.String() != data {
			t.Errorf("line %d: data %q is not compact JSON", i, data)
		}
	}
	if _, _, _, data := fields(t, lines[1]); data != `{"index":"listings","hash":"1f2e3d4c","generation":1,"reason":"first run","tasks":2,"keys":7,"snapshot_lsn":""}` {
		t.Errorf("backfill.started data %s", data)
	}
}

func TestEventsFilters(t *testing.T) {
	h := newEventsHarness(t)
	h.history(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string // source service and name of each line
	}{
		{"a service", []string{"--subject", "indexer.>"}, []string{"indexer started", "indexer batch.committed", "indexer backfill.progress", "indexer batch.committed", "indexer heartbeat"}},
		{"names of one token", []string{"--subject", "indexer.*"}, []string{"indexer started", "indexer heartbeat"}},
		{"a subtree", []string{"--subject", "capture.backfill.>"}, []string{"capture backfill.started"}},
		{"every service", []string{"--subject", "*.started"}, []string{"capture started", "indexer started"}},
		{"an absolute subject", []string{"--subject", "flusso.evtest.events.capture.heartbeat"}, []string{"capture heartbeat"}},
		{"a service and a type", []string{"--subject", "indexer.>", "--type", "heartbeat"}, []string{"indexer heartbeat"}},
		{"a type", []string{"--type", "batch.committed"}, []string{"indexer batch.committed", "indexer batch.committed"}},
		{"types", []string{"--type", "heartbeat", "--type", "backfill.progress", "--type", "heartbeat"}, []string{"indexer backfill.progress", "capture heartbeat", "indexer heartbeat"}},
		{"a full type", []string{"--type", "dev.flusso.backfill.started.v1"}, []string{"capture backfill.started"}},
		{"a subject and a type", []string{"--subject", "capture.>", "--type", "started"}, []string{"capture started"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := h.events(t, append([]string{"--all", "-n", fmt.Sprint(len(tc.want))}, tc.args...)...)
			var got []string
			for _, line := range lines {
				_, source, name, _ := fields(t, line)
				got = append(got, strings.Split(source, "/")[3]+" "+name)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got\n  %v\nwant\n  %v", got, tc.want)
			}
		})
	}
}

func TestEventsJSONIsCloudEvents(t *testing.T) {
	h := newEventsHarness(t)
	h.history(t)
	lines := h.events(t, "--all", "--format", "json", "-n", "2", "--type", "batch.committed")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	docs := 0
	for _, line := range lines {
		var e cloudevents.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a CloudEvent: %v\n%s", err, line)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%v\n%s", err, line)
		}
		if e.SpecVersion() != "1.0" || e.Type() != "dev.flusso.batch.committed.v1" || e.Source() != "/flusso/evtest/indexer/idx1-2" ||
			e.Subject() != events.BatchCommitted || e.DataContentType() != "application/json" || e.ID() == "" || time.Since(e.Time()) > time.Minute {
			t.Errorf("event %v", e)
		}
		var d events.BatchCommittedData
		if err := e.DataAs(&d); err != nil {
			t.Fatal(err)
		}
		docs += d.Documents
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil || raw["data"][0] != '{' {
			t.Errorf("data is not inline JSON: %s", line)
		}
	}
	if docs != 7 {
		t.Errorf("documents %d, want 7", docs)
	}
}

func TestEventsShowsOnlyNewEventsByDefault(t *testing.T) {
	h := newEventsHarness(t)
	h.history(t)
	done := h.start(t, "-n", "2")
	h.waitConsumer(t)
	h.publish(t, h.indexer, events.IndexSeeded, events.IndexSeededData{Index: "listings", Hash: "1f2e3d4c", Generation: 1})
	h.publish(t, h.indexer, events.BackfillCompleted, events.BackfillCompletedData{Indexes: []string{"listings"}})
	r := wait(t, done)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
	}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), r.out)
	}
	for i, want := range []string{`index.seeded  {"index":"listings","hash":"1f2e3d4c","generation":1}`, `backfill.completed  {"indexes":["listings"]}`} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d: %q, want ...%s", i, lines[i], want)
		}
	}
	if !strings.Contains(r.errOut, "following flusso.evtest.events.> on "+h.url) {
		t.Errorf("stderr %q", r.errOut)
	}
}

// waitConsumer waits until flusso events has its consumer on the stream.
func (h *eventsHarness) waitConsumer(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, h.names.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		info, err := s.Info(ctx)
		if err == nil && info.State.Consumers > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("flusso events made no consumer within 10s")
}

func TestEventsSince(t *testing.T) {
	h := newEventsHarness(t)
	h.history(t)
	time.Sleep(20 * time.Millisecond)
	cut := time.Now()
	time.Sleep(20 * time.Millisecond)
	h.publish(t, h.capture, events.SlotLag, events.SlotLagData{Slot: "flusso", LagBytes: 4096})
	lines := h.events(t, "--since", cut.UTC().Format(time.RFC3339Nano), "-n", "1")
	if _, _, name, _ := fields(t, lines[0]); name != events.SlotLag {
		t.Errorf("--since a time: %q", lines[0])
	}
	lines = h.events(t, "--since", "1h", "-n", "1")
	if _, _, name, _ := fields(t, lines[0]); name != events.Started {
		t.Errorf("--since a duration: %q", lines[0])
	}
}

func TestEventsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--all", "--since", "1h"},
		{"--since", "yesterday"},
		{"--since", "-5m"},
		{"--format", "yaml"},
		{"-n", "-1"},
		{"--subject", "indexer..x"},
		{"--subject", ">.x"},
		{"--subject", "index*"},
		{"--type", "batch.comitted"},
		{"--type", "dev.flusso.batch"},
		{"extra"},
	} {
		code, _, errOut := flusso(t, append([]string{"events", "-c", examples, "--nats-url", "nats://127.0.0.1:1"}, args...)...)
		if code != 2 || !strings.HasPrefix(errOut, "flusso: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2", args, code, errOut)
		}
	}
}

func TestEventsNamesAnUnreachableServer(t *testing.T) {
	code, out, errOut := flusso(t, "events", "-c", examples, "--nats-url", "nats://127.0.0.1:1")
	if code != 1 || out != "" || !strings.Contains(errOut, "nats://127.0.0.1:1") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestEventsWithoutTheStream(t *testing.T) {
	srv := natstest.Embedded(t)
	code, _, errOut := flusso(t, "events", "-c", examples, "--nats-url", srv.URL(), "--nats-pipeline", "nowhere")
	if code != 1 || !strings.Contains(errOut, "no stream FLUSSO_NOWHERE_EVENTS") || !strings.Contains(errOut, srv.URL()) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestEventsRunsUntilSIGTERM(t *testing.T) {
	h := newEventsHarness(t)
	done := h.start(t, "--all")
	h.waitConsumer(t)
	h.history(t)
	// The command's handler catches the signal: the test process lives on.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := wait(t, done); r.code != 0 {
		t.Errorf("exit %d after SIGTERM, stderr:\n%s", r.code, r.errOut)
	}
}
