package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/sink/memory"
	"github.com/nats-io/nats.go/jetstream"
)

// A seeding tells its generation in every event of it, the sink's target
// is reported, and the end of the backfill is announced.
func TestSeedingEvents(t *testing.T) {
	h := usersHarness(t, map[string]string{"capture.backfill_chunk": "100"})
	mem := memory.New("mem")
	h.StartCapture(t, "c1")
	h.StartIndexer(t, "i1", nil, mem)
	h.waitConverged(t, 60*time.Second, "backfill", mem)
	st := h.indexState(t, "users")
	var (
		started   events.BackfillStartedData
		progress  []events.BackfillProgressData
		seeded    events.IndexSeededData
		completed *events.BackfillCompletedData
		ensured   []events.IndexesEnsuredData
	)
	waitFor(t, 30*time.Second, "backfill.completed", func() bool {
		started, progress, seeded, completed, ensured = events.BackfillStartedData{}, nil, events.IndexSeededData{}, nil, nil
		for _, e := range h.events(t) {
			name, _ := events.NameOf(e.typ)
			switch name {
			case events.BackfillStarted:
				started = decodeEvent[events.BackfillStartedData](t, e)
			case events.BackfillProgress:
				progress = append(progress, decodeEvent[events.BackfillProgressData](t, e))
			case events.IndexSeeded:
				seeded = decodeEvent[events.IndexSeededData](t, e)
			case events.BackfillCompleted:
				d := decodeEvent[events.BackfillCompletedData](t, e)
				completed = &d
			case events.IndexesEnsured:
				ensured = append(ensured, decodeEvent[events.IndexesEnsuredData](t, e))
			}
		}
		return completed != nil
	})
	if started.Generation != st.Generation || started.Hash != st.Hash || started.Tasks != 3 {
		t.Errorf("backfill.started %+v, state %+v", started, st)
	}
	if len(progress) != 3 || slices.ContainsFunc(progress, func(p events.BackfillProgressData) bool { return p.Generation != st.Generation }) {
		t.Errorf("backfill.progress %+v, generation %d", progress, st.Generation)
	}
	if seeded != (events.IndexSeededData{Index: "users", Hash: st.Hash, Generation: st.Generation}) {
		t.Errorf("index.seeded %+v", seeded)
	}
	if !slices.Equal(completed.Indexes, []string{"users"}) {
		t.Errorf("backfill.completed %+v", completed)
	}
	// First while seeding (nothing serves), then seeded: serving.
	cur := events.GenerationRef{Hash: st.Hash, Generation: st.Generation}
	if len(ensured) < 2 {
		t.Fatalf("indexes.ensured %+v", ensured)
	}
	first, last := ensured[0], ensured[len(ensured)-1]
	if first.Instance != "i1" || first.Sink != "mem" || first.Index != "users" || !slices.Equal(first.Write, []events.GenerationRef{cur}) || first.Serving != nil {
		t.Errorf("first indexes.ensured %+v", first)
	}
	if last.Serving == nil || *last.Serving != cur || !slices.Equal(last.Write, []events.GenerationRef{cur}) {
		t.Errorf("last indexes.ensured %+v", last)
	}
}

type storedEvent struct {
	typ  string
	data []byte
}

// events reads every event the pipeline's events stream holds.
func (h *harness) events(t *testing.T) []storedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := h.JS.OrderedConsumer(ctx, h.Names.EventsStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []storedEvent
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, storedEvent{typ: m.Headers().Get("ce-type"), data: m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

func decodeEvent[T any](t *testing.T, e storedEvent) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.data, &v); err != nil {
		t.Fatalf("%s: %v", e.typ, err)
	}
	return v
}
