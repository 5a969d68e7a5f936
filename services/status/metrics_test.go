package status

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// foldAggregator is an aggregator over a fold, with no NATS: what the
// metrics read.
func foldAggregator(f *fold, now time.Time, inFlight, dead int64) *Aggregator {
	a := &Aggregator{fold: f, now: func() time.Time { return now }, start: now, changed: make(chan struct{}), inFlight: inFlight, deadLetters: dead}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(newCollector(a))
	return a
}

func TestMetrics(t *testing.T) {
	sc := newScenario(t)
	f := newFold(pipeline, []string{"users", "orders"})
	applyAll(t, f, sc.events(t)...)
	a := foldAggregator(f, sc.now, 3, 2)

	expected := `
# HELP flusso_changes_captured_total Row changes the captures published.
# TYPE flusso_changes_captured_total counter
flusso_changes_captured_total 22
# HELP flusso_changes_committed_total Row changes the indexers wrote and acknowledged.
# TYPE flusso_changes_committed_total counter
flusso_changes_committed_total 22
# HELP flusso_changes_in_flight Changes and backfill tasks the indexers have not acknowledged yet.
# TYPE flusso_changes_in_flight gauge
flusso_changes_in_flight 3
# HELP flusso_documents_built_total Documents written, per index.
# TYPE flusso_documents_built_total counter
flusso_documents_built_total{index="orders"} 7
flusso_documents_built_total{index="users"} 475
# HELP flusso_documents_quarantined_total Documents the sinks rejected under on_error = skip, per index.
# TYPE flusso_documents_quarantined_total counter
flusso_documents_quarantined_total{index="orders"} 0
flusso_documents_quarantined_total{index="users"} 2
# HELP flusso_batches_total Batches the indexers committed.
# TYPE flusso_batches_total counter
flusso_batches_total 7
# HELP flusso_replication_slot_lag_bytes How far the replication slot is behind the WAL.
# TYPE flusso_replication_slot_lag_bytes gauge
flusso_replication_slot_lag_bytes 1024
# HELP flusso_indexes Enabled indexes per state; their sum is the number of enabled indexes.
# TYPE flusso_indexes gauge
flusso_indexes{state="backfilling"} 1
flusso_indexes{state="pending"} 0
flusso_indexes{state="seeded"} 1
# HELP flusso_index_state 1 for the state an enabled index is in, 0 for the others.
# TYPE flusso_index_state gauge
flusso_index_state{index="orders",state="backfilling"} 0
flusso_index_state{index="orders",state="pending"} 0
flusso_index_state{index="orders",state="seeded"} 1
flusso_index_state{index="users",state="backfilling"} 1
flusso_index_state{index="users",state="pending"} 0
flusso_index_state{index="users",state="seeded"} 0
# HELP flusso_indexes_seeded_total Generations of the index seeded.
# TYPE flusso_indexes_seeded_total counter
flusso_indexes_seeded_total{index="orders"} 1
flusso_indexes_seeded_total{index="users"} 1
# HELP flusso_errors_total Error events of every service.
# TYPE flusso_errors_total counter
flusso_errors_total 1
# HELP flusso_dead_letters Messages in the dead-letter stream.
# TYPE flusso_dead_letters gauge
flusso_dead_letters 2
# HELP flusso_phase 1 for the pipeline's phase, 0 for the others.
# TYPE flusso_phase gauge
flusso_phase{phase="backfilling"} 1
flusso_phase{phase="live"} 0
flusso_phase{phase="starting"} 0
flusso_phase{phase="stopped"} 0
# HELP flusso_replica_up 1 while a service replica is alive (an event in the last 30 s, not stopped).
# TYPE flusso_replica_up gauge
flusso_replica_up{instance="c1",service="capture"} 1
flusso_replica_up{instance="i1",service="indexer"} 1
flusso_replica_up{instance="i2",service="indexer"} 1
flusso_replica_up{instance="i3",service="indexer"} 0
# HELP flusso_replica_batches_total Batches an indexer replica committed.
# TYPE flusso_replica_batches_total counter
flusso_replica_batches_total{instance="i1",service="indexer"} 3
flusso_replica_batches_total{instance="i2",service="indexer"} 2
flusso_replica_batches_total{instance="i3",service="indexer"} 2
# HELP flusso_backfill_tasks_done Backfill tasks done of the index's latest generation.
# TYPE flusso_backfill_tasks_done gauge
flusso_backfill_tasks_done{index="orders"} 0
flusso_backfill_tasks_done{index="users"} 1
# HELP flusso_backfill_tasks Backfill tasks of the index's latest generation.
# TYPE flusso_backfill_tasks gauge
flusso_backfill_tasks{index="orders"} 0
flusso_backfill_tasks{index="users"} 2
# HELP flusso_events_total Distinct events folded into the status.
# TYPE flusso_events_total counter
flusso_events_total ` + jsonOf(t, len(sc.msgs)) + `
`
	names := []string{
		"flusso_changes_captured_total", "flusso_changes_committed_total", "flusso_changes_in_flight",
		"flusso_documents_built_total", "flusso_documents_quarantined_total", "flusso_batches_total",
		"flusso_replication_slot_lag_bytes", "flusso_indexes", "flusso_index_state", "flusso_indexes_seeded_total",
		"flusso_errors_total", "flusso_dead_letters", "flusso_phase", "flusso_replica_up", "flusso_replica_batches_total",
		"flusso_backfill_tasks_done", "flusso_backfill_tasks", "flusso_events_total",
	}
	if err := testutil.GatherAndCompare(a.Registry(), strings.NewReader(expected), names...); err != nil {
		t.Error(err)
	}

	// The histogram: one observation per distinct batch (the flush of each
	// scenario batch: four of 40 ms, 2 ms, 5 ms, 30 ms).
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mf := range mfs {
		if mf.GetName() != "flusso_flush_duration_seconds" {
			continue
		}
		found = true
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 7 || math.Abs(h.GetSampleSum()-0.197) > 1e-9 {
			t.Errorf("flush histogram: %d samples summing %v s; want 7 summing 0.197 s", h.GetSampleCount(), h.GetSampleSum())
		}
		want := map[float64]uint64{0.001: 0, 0.0025: 1, 0.005: 2, 0.025: 2, 0.05: 7, 60: 7}
		for _, b := range h.GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
				t.Errorf("flush histogram bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
		}
	}
	if !found {
		t.Error("no flusso_flush_duration_seconds")
	}

	problems, err := testutil.GatherAndLint(a.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsBeforeAnyEvent: every enabled index has its series from the
// start, at zero.
func TestMetricsBeforeAnyEvent(t *testing.T) {
	a := foldAggregator(newFold(pipeline, []string{"users"}), t0, 0, 0)
	expected := `
# HELP flusso_documents_built_total Documents written, per index.
# TYPE flusso_documents_built_total counter
flusso_documents_built_total{index="users"} 0
# HELP flusso_indexes Enabled indexes per state; their sum is the number of enabled indexes.
# TYPE flusso_indexes gauge
flusso_indexes{state="backfilling"} 0
flusso_indexes{state="pending"} 1
flusso_indexes{state="seeded"} 0
# HELP flusso_indexes_seeded_total Generations of the index seeded.
# TYPE flusso_indexes_seeded_total counter
flusso_indexes_seeded_total{index="users"} 0
# HELP flusso_phase 1 for the pipeline's phase, 0 for the others.
# TYPE flusso_phase gauge
flusso_phase{phase="backfilling"} 0
flusso_phase{phase="live"} 0
flusso_phase{phase="starting"} 1
flusso_phase{phase="stopped"} 0
`
	if err := testutil.GatherAndCompare(a.Registry(), strings.NewReader(expected),
		"flusso_documents_built_total", "flusso_indexes", "flusso_indexes_seeded_total", "flusso_phase"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(a.Registry(), "flusso_flush_duration_seconds"); err != nil || n != 1 {
		t.Errorf("flush histogram series: %d (%v), want 1 even empty", n, err)
	}
}
