package status

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const pipeline = "shop"

// testConfig is a config of pipeline shop with the given enabled indexes
// and a disabled one.
func testConfig(indexes ...string) *config.Config {
	cfg := &config.Config{NATS: config.NATS{Pipeline: pipeline}}
	for _, name := range indexes {
		cfg.Indexes = append(cfg.Indexes, &config.Index{Name: name, Enabled: true})
	}
	cfg.Indexes = append(cfg.Indexes, &config.Index{Name: "archive", Enabled: false})
	return cfg
}

// ev builds an event by hand, for the fold's unit tests.
func ev(source, name string, at time.Time, id string, data any) cloudevents.Event {
	e := cloudevents.New()
	e.SetID(id)
	e.SetType(events.TypeOf(name))
	e.SetSource(source)
	e.SetTime(at)
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		panic(err)
	}
	return e
}

func src(service, instance string) string {
	return "/flusso/" + pipeline + "/" + service + "/" + instance
}

// scenario is a pipeline's history: a capture and three indexer replicas
// seed two indexes, stream changes, reject documents, fail once, and start
// a reindex of users. msgs are the NATS messages in the order they were
// made (their ce-time order).
type scenario struct {
	msgs []*nats.Msg
	// now is just after the last event: every replica that did not stop
	// is alive then.
	now time.Time
}

func (s scenario) events(t *testing.T) []cloudevents.Event {
	t.Helper()
	out := make([]cloudevents.Event, len(s.msgs))
	for i, m := range s.msgs {
		e, err := events.FromMsg(m.Header, m.Data)
		if err != nil {
			t.Fatalf("decode %s: %v", m.Subject, err)
		}
		out[i] = e
	}
	return out
}

func newScenario(t *testing.T) scenario {
	t.Helper()
	names := changes.NamesFor(pipeline)
	var msgs []*nats.Msg
	pub := func(service, instance string) func(name string, data any) {
		p := events.NewPublisher(nil, names, service, instance)
		return func(name string, data any) {
			m, err := p.Message(name, data)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
	}
	c1 := pub("capture", "c1")
	ix := []func(string, any){pub("indexer", "i1"), pub("indexer", "i2"), pub("indexer", "i3")}

	c1(events.Started, events.StartedData{Instance: "c1", Indexes: []string{"users", "orders"}})
	for i, p := range ix {
		p(events.Started, events.StartedData{Instance: "i" + string(rune('1'+i))})
	}
	c1(events.BackfillStarted, events.BackfillStartedData{Index: "users", Hash: "h1", Generation: 1, Reason: "first run", Tasks: 3, Keys: 250})
	c1(events.BackfillStarted, events.BackfillStartedData{Index: "orders", Hash: "o1", Generation: 1, Reason: "first run", Tasks: 0, Keys: 0})
	c1(events.IndexSeeded, events.IndexSeededData{Index: "orders", Hash: "o1", Generation: 1})
	c1(events.LiveStarted, events.LiveStartedData{Slot: "shop", StartLSN: "0/16B3748"})
	c1(events.Heartbeat, events.HeartbeatData{Instance: "c1", Role: "active"})
	// Three tasks over three replicas, task 1 built twice (redelivered).
	tasks := []struct {
		by, task   int
		keys, docs int64
	}{{0, 0, 100, 100}, {1, 1, 100, 100}, {2, 2, 50, 50}, {2, 1, 100, 100}}
	for _, tk := range tasks {
		ix[tk.by](events.BackfillProgress, events.BackfillProgressData{Index: "users", Hash: "h1", Generation: 1, Task: tk.task, Tasks: 3, Keys: tk.keys, Documents: tk.docs})
		ix[tk.by](events.BatchCommitted, events.BatchCommittedData{Tasks: 1, Documents: int(tk.docs), Indexes: map[string]int{"users": int(tk.docs)}, FlushMicros: 40000})
	}
	ix[2](events.IndexSeeded, events.IndexSeededData{Index: "users", Hash: "h1", Generation: 1})
	c1(events.ChangesCaptured, events.ChangesCapturedData{Changes: 10, Transactions: 2})
	c1(events.SlotLag, events.SlotLagData{Slot: "shop", LagBytes: 4096})
	ix[0](events.BatchCommitted, events.BatchCommittedData{Changes: 12, Documents: 8, Indexes: map[string]int{"users": 5, "orders": 3}, FlushMicros: 2000})
	c1(events.ChangesCaptured, events.ChangesCapturedData{Changes: 7, Transactions: 1})
	c1(events.ChangesCaptured, events.ChangesCapturedData{Changes: 5, Transactions: 5})
	ix[1](events.DocumentsRejected, events.DocumentsRejectedData{Index: "users", Sink: "primary", Count: 2, IDs: []string{"7", "9"}})
	ix[0](events.Error, events.ErrorData{Component: "sink", Message: "bulk: 503"})
	ix[1](events.BatchCommitted, events.BatchCommittedData{Changes: 10, Documents: 4, Indexes: map[string]int{"orders": 4}, FlushMicros: 5000})
	c1(events.SlotLag, events.SlotLagData{Slot: "shop", LagBytes: 1024})
	// A reindex of users: generation 2, one of its two tasks done.
	c1(events.BackfillStarted, events.BackfillStartedData{Index: "users", Hash: "h1", Generation: 2, Reason: "reindex", Tasks: 2, Keys: 250})
	ix[0](events.BackfillProgress, events.BackfillProgressData{Index: "users", Hash: "h1", Generation: 2, Task: 0, Tasks: 2, Keys: 125, Documents: 120})
	ix[0](events.BatchCommitted, events.BatchCommittedData{Tasks: 1, Documents: 120, Indexes: map[string]int{"users": 120}, FlushMicros: 30000})
	ix[2](events.Stopped, events.StoppedData{Instance: "i3", Reason: "shutdown"})
	for _, p := range ix[:2] {
		p(events.Heartbeat, events.HeartbeatData{Role: "active"})
	}
	last, err := time.Parse(time.RFC3339Nano, msgs[len(msgs)-1].Header.Get("ce-time"))
	if err != nil {
		t.Fatal(err)
	}
	return scenario{msgs: msgs, now: last.Add(time.Second)}
}

// checkScenario asserts the exact outcome of the scenario's events.
func checkScenario(t *testing.T, st statusapi.Status) {
	t.Helper()
	type counters struct {
		Phase                                   string
		Captured, Committed, Built, Batches     int64
		Quarantined, Errors, LastFlush, SlotLag int64
		Indexes                                 map[string]string
		ByIndex, QuarantinedByIndex             map[string]int64
	}
	got := counters{st.Phase, st.ChangesCaptured, st.ChangesCommitted, st.DocumentsBuilt, st.Batches,
		st.DocumentsQuarantined, st.Errors, st.LastFlushMicros, st.SlotLagBytes, st.Indexes, st.DocumentsByIndex, st.QuarantinedByIndex}
	want := counters{
		Phase:    statusapi.PhaseBackfilling, // users generation 2 is seeding
		Captured: 22, Committed: 22, Built: 100 + 100 + 50 + 100 + 8 + 4 + 120, Batches: 7,
		Quarantined: 2, Errors: 1, LastFlush: 30000, SlotLag: 1024,
		Indexes:            map[string]string{"users": statusapi.IndexBackfilling, "orders": statusapi.IndexSeeded},
		ByIndex:            map[string]int64{"users": 475, "orders": 7},
		QuarantinedByIndex: map[string]int64{"users": 2},
	}
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Errorf("counters:\n got %s\nwant %s", g, w)
	}
	if st.LastError == nil || st.LastError.Message != "bulk: 503" || st.LastError.Source != src("indexer", "i1") || len(st.RecentErrors) != 1 {
		t.Errorf("last error %+v, recent %+v; want the sink's bulk: 503 of i1", st.LastError, st.RecentErrors)
	}
	b := st.Backfill["users"]
	if b == nil || b.Generation != 2 || b.TasksDone != 1 || b.TasksTotal != 2 || b.Keys != 250 || b.Documents != 120 ||
		b.State != statusapi.IndexBackfilling || b.Reason != "reindex" || b.StartedAt == nil || b.ETASeconds == nil {
		t.Errorf("users backfill %s; want generation 2, 1/2 tasks, 250 keys, 120 documents, an ETA", jsonOf(t, b))
	}
	if o := st.Backfill["orders"]; o == nil || o.State != statusapi.IndexSeeded || o.SeededAt == nil || o.TasksTotal != 0 {
		t.Errorf("orders backfill %s; want seeded at once", jsonOf(t, o))
	}
	replicas := map[string]string{}
	for _, r := range st.Replicas {
		if r.Service == "status" {
			continue
		}
		replicas[r.Service+"/"+r.Instance] = strings.Join([]string{
			map[bool]string{true: "alive", false: "dead"}[r.Alive],
			map[bool]string{true: "stopped", false: "running"}[r.Stopped],
			r.Role, jsonOf(t, r.Batches),
		}, " ")
	}
	wantReplicas := map[string]string{
		"capture/c1": "alive running active 0",
		"indexer/i1": "alive running active 3",
		"indexer/i2": "alive running active 2",
		"indexer/i3": "dead stopped  2",
	}
	if g, w := jsonOf(t, replicas), jsonOf(t, wantReplicas); g != w {
		t.Errorf("replicas:\n got %s\nwant %s", g, w)
	}
}

// normalize drops what differs between aggregators that folded the same
// events: their uptime, their own events, and the queue depths polled.
func normalize(st statusapi.Status) statusapi.Status {
	st.UptimeSeconds, st.Events, st.UpdatedAt = 0, 0, nil
	st.ChangesInFlight, st.DeadLetters = 0, 0
	var rs []statusapi.Replica
	for _, r := range st.Replicas {
		if r.Service != "status" {
			rs = append(rs, r)
		}
	}
	st.Replicas = rs
	return st
}

// reference folds the events with no NATS in between.
func reference(t *testing.T, evs []cloudevents.Event, now time.Time, enabled ...string) statusapi.Status {
	t.Helper()
	f := newFold(pipeline, enabled)
	for _, e := range evs {
		if _, err := f.apply(e); err != nil {
			t.Fatal(err)
		}
	}
	return f.status(now)
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// duplicate is a copy of msg that JetStream does not take for a retry of
// it: the same event under another Nats-Msg-Id.
func duplicate(msg *nats.Msg) *nats.Msg {
	d := nats.NewMsg(msg.Subject)
	for k, v := range msg.Header {
		d.Header[k] = append([]string(nil), v...)
	}
	d.Header.Set(nats.MsgIdHdr, msg.Header.Get(nats.MsgIdHdr)+"-again")
	d.Data = msg.Data
	return d
}

// shuffledWithDuplicates returns the messages in a random order with every
// third one published twice.
func shuffledWithDuplicates(msgs []*nats.Msg, seed uint64) []*nats.Msg {
	out := append([]*nats.Msg(nil), msgs...)
	for i := 0; i < len(msgs); i += 3 {
		out = append(out, duplicate(msgs[i]))
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func publish(t *testing.T, js jetstream.JetStream, msgs []*nats.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range msgs {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", m.Subject, err)
		}
	}
}

// run starts an aggregator's Run; the returned stop ends it and checks it
// returned nil (also done when the test ends).
func run(t *testing.T, js jetstream.JetStream, cfg *config.Config, instance string, now time.Time) (*Aggregator, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, Options{JetStream: js, Config: cfg, Instance: instance, Now: func() time.Time { return now }})
	if err != nil {
		cancel()
		t.Fatalf("new aggregator %s: %v", instance, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("aggregator %s: Run: %v", instance, err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("aggregator %s: Run did not return within 15s of its context ending", instance)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// waitFor waits, on Changed, until the aggregator is ready and cond holds
// of its status, and returns that status.
func waitFor(t *testing.T, a *Aggregator, what string, cond func(statusapi.Status) bool) statusapi.Status {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		changed := a.Changed() // before the check: a change after it wakes us
		st := a.Status()
		if a.Ready() && cond(st) {
			return st
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: not within 30s (ready %v); last status:\n%s", what, a.Ready(), jsonOf(t, st))
		}
	}
}

// ownEvents counts the events of status replicas in the stream.
func ownEvents(t *testing.T, js jetstream.JetStream) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, changes.NamesFor(pipeline).EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("flusso."+pipeline+".events.status.>"))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return int64(n)
}
