package status

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/statusapi"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(seconds float64) time.Time { return t0.Add(time.Duration(seconds * float64(time.Second))) }

func applyAll(t *testing.T, f *fold, evs ...cloudevents.Event) {
	t.Helper()
	for _, e := range evs {
		if _, err := f.apply(e); err != nil {
			t.Fatal(err)
		}
	}
}

// sameInAnyOrder folds evs in their order and in shuffled orders (each
// with duplicates) and fails unless every status is the same; it returns
// that status.
func sameInAnyOrder(t *testing.T, now time.Time, enabled []string, evs ...cloudevents.Event) statusapi.Status {
	t.Helper()
	f := newFold(pipeline, enabled)
	applyAll(t, f, evs...)
	want := f.status(now)
	for seed := range uint64(12) {
		order := append([]cloudevents.Event(nil), evs...)
		order = append(order, evs[:len(evs)/2]...) // duplicates
		r := rand.New(rand.NewPCG(seed, 1))
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		g := newFold(pipeline, enabled)
		applyAll(t, g, order...)
		if got := g.status(now); jsonOf(t, got) != jsonOf(t, want) {
			t.Fatalf("order %d gives another status:\n got %s\nwant %s", seed, jsonOf(t, got), jsonOf(t, want))
		}
	}
	return want
}

func TestFoldScenarioInAnyOrder(t *testing.T) {
	sc := newScenario(t)
	st := sameInAnyOrder(t, sc.now, []string{"users", "orders"}, sc.events(t)...)
	checkScenario(t, st)
	if st.Events != int64(len(sc.msgs)) || st.UpdatedAt == nil || st.Pipeline != pipeline {
		t.Errorf("events %d updated %v pipeline %q; want %d distinct events, a time, %q", st.Events, st.UpdatedAt, st.Pipeline, len(sc.msgs), pipeline)
	}
}

func TestFoldGenerations(t *testing.T) {
	capture := src("capture", "c1")
	indexer := src("indexer", "i1")
	started := func(id string, sec float64, gen, tasks int) cloudevents.Event {
		return ev(capture, events.BackfillStarted, at(sec), id, events.BackfillStartedData{Index: "users", Hash: "h", Generation: gen, Reason: "reindex", Tasks: tasks, Keys: int64(tasks) * 10})
	}
	progress := func(id string, sec float64, gen, task int) cloudevents.Event {
		return ev(indexer, events.BackfillProgress, at(sec), id, events.BackfillProgressData{Index: "users", Hash: "h", Generation: gen, Task: task, Tasks: 2, Keys: 10, Documents: 10})
	}
	seeded := func(id string, sec float64, gen int) cloudevents.Event {
		return ev(indexer, events.IndexSeeded, at(sec), id, events.IndexSeededData{Index: "users", Hash: "h", Generation: gen})
	}
	tests := []struct {
		name      string
		evs       []cloudevents.Event
		state     string
		gen       int
		tasksDone int
		seedings  int
	}{
		{"never mentioned", nil, statusapi.IndexPending, 0, 0, 0},
		{"started", []cloudevents.Event{started("a", 1, 1, 2)}, statusapi.IndexBackfilling, 1, 0, 0},
		{"progress alone", []cloudevents.Event{progress("b", 2, 1, 0)}, statusapi.IndexBackfilling, 1, 1, 0},
		{"seeded beats backfilling", []cloudevents.Event{started("a", 1, 1, 2), progress("b", 2, 1, 0), progress("c", 3, 1, 1), seeded("d", 4, 1)}, statusapi.IndexSeeded, 1, 2, 1},
		{"seeded before its start", []cloudevents.Event{seeded("d", 1, 1), started("a", 5, 1, 2)}, statusapi.IndexSeeded, 1, 2, 1},
		{"no task: seeded at once", []cloudevents.Event{started("a", 1, 1, 0)}, statusapi.IndexSeeded, 1, 0, 1},
		{"a newer generation supersedes", []cloudevents.Event{started("a", 1, 1, 2), seeded("d", 4, 1), started("e", 5, 2, 2)}, statusapi.IndexBackfilling, 2, 0, 1},
		{"an older generation's late events do not", []cloudevents.Event{started("e", 5, 2, 2), seeded("f", 9, 2), started("a", 10, 1, 2), progress("b", 11, 1, 0), seeded("d", 12, 1)}, statusapi.IndexSeeded, 2, 2, 2},
		{"a task built twice counts once", []cloudevents.Event{started("a", 1, 1, 2), progress("b", 2, 1, 0), progress("c", 3, 1, 0)}, statusapi.IndexBackfilling, 1, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := sameInAnyOrder(t, at(20), []string{"users"}, tc.evs...)
			if st.Indexes["users"] != tc.state {
				t.Errorf("state %q, want %q", st.Indexes["users"], tc.state)
			}
			if b := st.Backfill["users"]; tc.gen > 0 && (b == nil || b.Generation != tc.gen || b.TasksDone != tc.tasksDone) {
				t.Errorf("backfill %s; want generation %d with %d tasks done", jsonOf(t, b), tc.gen, tc.tasksDone)
			}
			f := newFold(pipeline, []string{"users"})
			applyAll(t, f, tc.evs...)
			if ix := f.indexes["users"]; tc.seedings > 0 && (ix == nil || len(ix.seeded) != tc.seedings) {
				t.Errorf("seedings counted: %v, want %d", ix, tc.seedings)
			}
		})
	}
}

func TestFoldBackfillRates(t *testing.T) {
	capture, indexer := src("capture", "c1"), src("indexer", "i1")
	f := newFold(pipeline, []string{"users"})
	applyAll(t, f,
		ev(capture, events.BackfillStarted, at(0), "s", events.BackfillStartedData{Index: "users", Hash: "h", Generation: 1, Tasks: 4, Keys: 400}),
		ev(indexer, events.BackfillProgress, at(5), "p0", events.BackfillProgressData{Index: "users", Hash: "h", Generation: 1, Task: 0, Tasks: 4, Keys: 100, Documents: 90}),
		ev(indexer, events.BackfillProgress, at(9), "p1", events.BackfillProgressData{Index: "users", Hash: "h", Generation: 1, Task: 1, Tasks: 4, Keys: 100, Documents: 110}),
	)
	b := f.status(at(10)).Backfill["users"]
	// 200 documents in 10 s; 200 of 400 keys in 10 s leaves 10 s.
	if b.DocsPerSecond != 20 || b.ETASeconds == nil || *b.ETASeconds != 10 || b.Documents != 200 || b.TasksDone != 2 {
		t.Fatalf("backfill %s; want 20 docs/s, ETA 10 s, 200 documents, 2 tasks", jsonOf(t, b))
	}
	applyAll(t, f, ev(indexer, events.IndexSeeded, at(20), "d", events.IndexSeededData{Index: "users", Hash: "h", Generation: 1}))
	b = f.status(at(100)).Backfill["users"]
	// Seeded: the rate stops at the seeding, there is no ETA, and every
	// task counts as done though two progress events are missing.
	if b.State != statusapi.IndexSeeded || b.DocsPerSecond != 10 || b.ETASeconds != nil || b.TasksDone != 4 || b.SeededAt == nil || !b.SeededAt.Equal(at(20)) {
		t.Fatalf("seeded backfill %s; want 10 docs/s, no ETA, 4/4 tasks, seeded at +20s", jsonOf(t, b))
	}
}

func TestFoldPhase(t *testing.T) {
	c1, c2 := src("capture", "c1"), src("capture", "c2")
	f := newFold(pipeline, []string{"users"})
	step := func(sec float64, want string, evs ...cloudevents.Event) {
		t.Helper()
		applyAll(t, f, evs...)
		if got := f.status(at(sec)).Phase; got != want {
			t.Fatalf("at +%vs: phase %q, want %q", sec, got, want)
		}
	}
	step(0, statusapi.PhaseStarting)
	step(1, statusapi.PhaseStarting, ev(c1, events.Started, at(1), "1", events.StartedData{}))
	step(2, statusapi.PhaseStarting, ev(c2, events.Heartbeat, at(2), "2", events.HeartbeatData{Role: "standby"}))
	step(3, statusapi.PhaseBackfilling, ev(c1, events.LiveStarted, at(3), "3", events.LiveStartedData{}))
	step(4, statusapi.PhaseLive, ev(c1, events.BackfillStarted, at(4), "4", events.BackfillStartedData{Index: "users", Generation: 1, Tasks: 0}))
	// The standby stopping does not stop the pipeline.
	step(5, statusapi.PhaseLive, ev(c2, events.Stopped, at(5), "5", events.StoppedData{}))
	step(6, statusapi.PhaseStopped, ev(c1, events.Stopped, at(6), "6", events.StoppedData{}))
	// A capture started again is starting until it streams.
	step(7, statusapi.PhaseStarting, ev(c1, events.Started, at(7), "7", events.StartedData{}))
	step(8, statusapi.PhaseLive, ev(c1, events.Heartbeat, at(8), "8", events.HeartbeatData{Role: "active"}))
	// A reindex makes it backfill again.
	step(9, statusapi.PhaseBackfilling, ev(c1, events.BackfillStarted, at(9), "9", events.BackfillStartedData{Index: "users", Generation: 2, Tasks: 3}))
	// A late event of the first run changes nothing: by time, c1 started
	// again after it stopped.
	step(10, statusapi.PhaseBackfilling, ev(c1, events.ChangesCaptured, at(2.5), "late", events.ChangesCapturedData{Changes: 1}))
}

func TestFoldLiveness(t *testing.T) {
	i1, i2 := src("indexer", "i1"), src("indexer", "i2")
	f := newFold(pipeline, nil)
	applyAll(t, f,
		ev(i1, events.Started, at(0), "a", events.StartedData{}),
		ev(i1, events.Heartbeat, at(10), "b", events.HeartbeatData{Role: "active"}),
		ev(i2, events.Started, at(0), "c", events.StartedData{}),
		ev(i2, events.Stopped, at(5), "d", events.StoppedData{}),
	)
	alive := func(sec float64) map[string]bool {
		out := map[string]bool{}
		for _, r := range f.status(at(sec)).Replicas {
			out[r.Instance] = r.Alive
		}
		return out
	}
	if a := alive(39.9); !a["i1"] || a["i2"] {
		t.Errorf("at +39.9s: %v; want i1 alive (heartbeat 29.9 s ago), i2 not (stopped)", a)
	}
	if a := alive(40); a["i1"] {
		t.Errorf("at +40s: %v; want i1 dead after 3 heartbeat intervals of silence", a)
	}
	r := f.status(at(40)).Replicas[0]
	if r.Service != "indexer" || r.Instance != "i1" || r.Role != "active" || r.StartedAt == nil || !r.StartedAt.Equal(at(0)) ||
		r.LastHeartbeat == nil || !r.LastHeartbeat.Equal(at(10)) || !r.LastSeen.Equal(at(10)) || r.Stopped {
		t.Errorf("replica %s", jsonOf(t, r))
	}
}

func TestFoldDedupeBound(t *testing.T) {
	c := src("capture", "c1")
	captured := func(id string) cloudevents.Event {
		return ev(c, events.ChangesCaptured, at(1), id, events.ChangesCapturedData{Changes: 1})
	}
	f := newFold(pipeline, nil)
	f.seen = newIDRing(3)
	for _, id := range []string{"a", "b", "c", "a", "b", "c"} {
		applyAll(t, f, captured(id))
	}
	if f.captured != 3 {
		t.Fatalf("captured %d after duplicates within the bound, want 3", f.captured)
	}
	// d pushes a out of the memory: a is then new again, and pushes b out.
	for _, id := range []string{"d", "a", "c", "d", "b"} {
		applyAll(t, f, captured(id))
	}
	if f.captured != 6 || f.events != 6 {
		t.Fatalf("captured %d, events %d; want 6 (a and b counted again once forgotten)", f.captured, f.events)
	}
	if len(f.seen.set) != 3 || len(f.seen.ids) != 3 {
		t.Fatalf("the id memory holds %d ids, want the bound 3", len(f.seen.set))
	}
}

func TestFoldLatestValues(t *testing.T) {
	c := src("capture", "c1")
	lag := func(id string, sec float64, bytes int64) cloudevents.Event {
		return ev(c, events.SlotLag, at(sec), id, events.SlotLagData{LagBytes: bytes})
	}
	st := sameInAnyOrder(t, at(10), nil, lag("x", 1, 100), lag("y", 3, 300), lag("a", 3, 299), lag("z", 2, 200))
	if st.SlotLagBytes != 300 {
		t.Fatalf("slot lag %d; want 300, the latest (the tie at +3s goes to the greater id)", st.SlotLagBytes)
	}
}

func TestFoldRecentErrors(t *testing.T) {
	var evs []cloudevents.Event
	for i := range 25 {
		evs = append(evs, ev(src("indexer", "i1"), events.Error, at(float64(i)), fmt.Sprintf("e%02d", i), events.ErrorData{Component: "sink", Message: fmt.Sprint(i), Fatal: i == 24}))
	}
	st := sameInAnyOrder(t, at(30), nil, evs...)
	if st.Errors != 25 || len(st.RecentErrors) != recentErrors || st.RecentErrors[0].Message != "24" || st.RecentErrors[19].Message != "5" {
		t.Fatalf("errors %d, recent %s; want 25 and the newest 20, newest first", st.Errors, jsonOf(t, st.RecentErrors))
	}
	if st.LastError == nil || st.LastError.Message != "24" || !st.LastError.Fatal || st.LastError.Component != "sink" {
		t.Fatalf("last error %s", jsonOf(t, st.LastError))
	}
}

func TestFoldStateBucket(t *testing.T) {
	planned, seededAt := at(1), at(2)
	f := newFold(pipeline, []string{"users", "orders"})
	f.applyState(kvState{Index: "users", Hash: "h", Generation: 3, State: "seeded", Reason: "first run", Tasks: 2, Keys: 20, PlannedAt: &planned, SeededAt: &seededAt}, 5)
	f.applyState(kvState{Index: "orders", Hash: "o", Generation: 1, State: "pending", Reason: "first run"}, 6)
	st := f.status(at(10))
	if st.Indexes["users"] != statusapi.IndexSeeded || st.Indexes["orders"] != statusapi.IndexPending {
		t.Fatalf("indexes %v; want users seeded, orders pending (from the state bucket alone)", st.Indexes)
	}
	if b := st.Backfill["users"]; b == nil || b.TasksDone != 2 || b.Keys != 20 || !b.StartedAt.Equal(planned) || !b.SeededAt.Equal(seededAt) {
		t.Fatalf("users backfill %s", jsonOf(t, b))
	}
	// An event of an older generation changes nothing; a newer one wins.
	applyAll(t, f, ev(src("capture", "c1"), events.BackfillStarted, at(3), "a", events.BackfillStartedData{Index: "users", Hash: "h", Generation: 2, Tasks: 5}))
	if got := f.status(at(10)).Indexes["users"]; got != statusapi.IndexSeeded {
		t.Fatalf("users %s after an older generation's event", got)
	}
	applyAll(t, f, ev(src("capture", "c1"), events.BackfillStarted, at(4), "b", events.BackfillStartedData{Index: "users", Hash: "h", Generation: 4, Tasks: 5}))
	if got := f.status(at(10)).Indexes["users"]; got != statusapi.IndexBackfilling {
		t.Fatalf("users %s after generation 4 started", got)
	}
}

func TestFoldUnreadable(t *testing.T) {
	f := newFold(pipeline, nil)
	bad := ev(src("indexer", "i1"), events.BatchCommitted, at(1), "bad", map[string]any{"changes": "many"})
	if fresh, err := f.apply(bad); !fresh || err == nil {
		t.Fatalf("apply of bad data: fresh %v, err %v; want counted and an error", fresh, err)
	}
	other := ev(src("indexer", "i1"), "something.new", at(2), "new", map[string]any{})
	other.SetType("dev.flusso.something.new.v1")
	if fresh, err := f.apply(other); !fresh || err != nil {
		t.Fatalf("apply of an unknown event: fresh %v, err %v; want counted, no error", fresh, err)
	}
	st := f.status(at(3))
	if st.Events != 2 || st.Batches != 0 || len(st.Replicas) != 1 || !st.Replicas[0].LastSeen.Equal(at(2)) {
		t.Fatalf("status %s", jsonOf(t, st))
	}
}
