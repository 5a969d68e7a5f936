package capture

import (
	"slices"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/events"
)

// When every root table is empty the capture seeds every index itself, so
// it is the one that announces the end of the backfill; each event of a
// seeding names its generation.
func TestEmptyTablesCompleteTheBackfill(t *testing.T) {
	h := newHarness(t, shop())
	runSetup(t, h.NewCapture(t, "c1", nil))
	for _, index := range []string{"products", "users"} {
		st := h.indexState(t, index)
		if st == nil || st.State != stateSeeded || st.Generation != 1 {
			t.Fatalf("%s state %+v; want generation 1 seeded at once", index, st)
		}
		if ev := h.backfillStarted(t, index); ev.Generation != st.Generation {
			t.Errorf("backfill.started %+v, state generation %d", ev, st.Generation)
		}
	}
	seeded := map[string]int{}
	for len(seeded) < 2 {
		d := decodeData[events.IndexSeededData](t, h.WaitEvent(t, events.IndexSeeded, 10*time.Second, nil))
		seeded[d.Index] = d.Generation
	}
	if seeded["products"] != 1 || seeded["users"] != 1 {
		t.Errorf("index.seeded generations %v", seeded)
	}
	d := decodeData[events.BackfillCompletedData](t, h.WaitEvent(t, events.BackfillCompleted, 10*time.Second, nil))
	if want := h.Config(t, nil).EnabledIndexes(); !slices.Equal(d.Indexes, want) {
		t.Errorf("backfill.completed %+v, want indexes %v", d, want)
	}
}
