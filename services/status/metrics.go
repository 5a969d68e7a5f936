package status

// The Prometheus metrics of the pipeline. They are read from the folded
// status at scrape time by one collector, not kept in counters updated as
// events arrive: a scrape is then one consistent snapshot, and the values
// are the same on every status replica whatever order it read the events
// in. The flush duration histogram is folded too, so it is rebuilt exactly
// by a replica that replays the stream.
//
//	flusso_changes_captured_total                  counter  changes the captures published
//	flusso_changes_committed_total                 counter  changes the indexers wrote and acked
//	flusso_changes_in_flight                       gauge    changes not acked yet (pending + unacked)
//	flusso_documents_built_total{index}            counter  documents written
//	flusso_documents_quarantined_total{index}      counter  documents rejected under on_error = skip
//	flusso_batches_total                           counter  batches committed
//	flusso_flush_duration_seconds                  histogram one observation per batch committed
//	flusso_replication_slot_lag_bytes              gauge    latest slot lag
//	flusso_indexes{state}                          gauge    enabled indexes per state (pending,
//	                                                        backfilling, seeded); the sum is the
//	                                                        number of enabled indexes
//	flusso_index_state{index,state}                gauge    1 for the index's state, 0 for the others
//	flusso_indexes_seeded_total{index}             counter  generations of the index seeded
//	flusso_errors_total                            counter  error events
//	flusso_dead_letters                            gauge    messages in the dead-letter stream
//	flusso_events_total                            counter  distinct events folded
//	flusso_phase{phase}                            gauge    1 for the pipeline's phase, 0 for the others
//	flusso_replica_up{service,instance}            gauge    1 while the replica is alive
//	flusso_replica_batches_total{service,instance} counter  batches an indexer replica committed
//	flusso_backfill_tasks_done{index}              gauge    tasks done of the latest generation
//	flusso_backfill_tasks{index}                   gauge    its tasks
//	flusso_backfill_documents{index}               gauge    documents its tasks built

import (
	"maps"
	"slices"

	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	indexStates = []string{statusapi.IndexPending, statusapi.IndexBackfilling, statusapi.IndexSeeded}
	phases      = []string{statusapi.PhaseStarting, statusapi.PhaseBackfilling, statusapi.PhaseLive, statusapi.PhaseStopped}
)

// collector renders an aggregator's fold as metrics.
type collector struct {
	a *Aggregator

	captured, committed, inFlight, built, quarantined, batches, flush, slotLag,
	indexes, indexState, seeded, errors, deadLetters, events, phase,
	replicaUp, replicaBatches, tasksDone, tasksTotal, backfillDocs *prometheus.Desc
}

func newCollector(a *Aggregator) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		a:              a,
		captured:       d("flusso_changes_captured_total", "Row changes the captures published."),
		committed:      d("flusso_changes_committed_total", "Row changes the indexers wrote and acknowledged."),
		inFlight:       d("flusso_changes_in_flight", "Changes and backfill tasks the indexers have not acknowledged yet."),
		built:          d("flusso_documents_built_total", "Documents written, per index.", "index"),
		quarantined:    d("flusso_documents_quarantined_total", "Documents the sinks rejected under on_error = skip, per index.", "index"),
		batches:        d("flusso_batches_total", "Batches the indexers committed."),
		flush:          d("flusso_flush_duration_seconds", "Time a batch took to write to the sinks."),
		slotLag:        d("flusso_replication_slot_lag_bytes", "How far the replication slot is behind the WAL."),
		indexes:        d("flusso_indexes", "Enabled indexes per state; their sum is the number of enabled indexes.", "state"),
		indexState:     d("flusso_index_state", "1 for the state an enabled index is in, 0 for the others.", "index", "state"),
		seeded:         d("flusso_indexes_seeded_total", "Generations of the index seeded.", "index"),
		errors:         d("flusso_errors_total", "Error events of every service."),
		deadLetters:    d("flusso_dead_letters", "Messages in the dead-letter stream."),
		events:         d("flusso_events_total", "Distinct events folded into the status."),
		phase:          d("flusso_phase", "1 for the pipeline's phase, 0 for the others.", "phase"),
		replicaUp:      d("flusso_replica_up", "1 while a service replica is alive (an event in the last 30 s, not stopped).", "service", "instance"),
		replicaBatches: d("flusso_replica_batches_total", "Batches an indexer replica committed.", "service", "instance"),
		tasksDone:      d("flusso_backfill_tasks_done", "Backfill tasks done of the index's latest generation.", "index"),
		tasksTotal:     d("flusso_backfill_tasks", "Backfill tasks of the index's latest generation.", "index"),
		backfillDocs:   d("flusso_backfill_documents", "Documents the backfill tasks of the index's latest generation built.", "index"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.captured, c.committed, c.inFlight, c.built, c.quarantined, c.batches, c.flush, c.slotLag,
		c.indexes, c.indexState, c.seeded, c.errors, c.deadLetters, c.events, c.phase,
		c.replicaUp, c.replicaBatches, c.tasksDone, c.tasksTotal, c.backfillDocs,
	} {
		ch <- d
	}
}

// snapshot is what one scrape reads, taken under one lock.
type snapshot struct {
	st      statusapi.Status
	buckets map[float64]uint64
	count   uint64
	sum     float64
	seeded  map[string]int
}

func (a *Aggregator) snapshot() snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := snapshot{
		st:      a.statusLocked(a.now()),
		buckets: a.fold.flush.cumulative(),
		count:   a.fold.flush.count,
		sum:     a.fold.flush.sum,
		seeded:  map[string]int{},
	}
	for name, ix := range a.fold.indexes {
		s.seeded[name] = len(ix.seeded)
	}
	return s
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.snapshot()
	st := s.st
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	counter(c.captured, float64(st.ChangesCaptured))
	counter(c.committed, float64(st.ChangesCommitted))
	gauge(c.inFlight, float64(st.ChangesInFlight))
	counter(c.batches, float64(st.Batches))
	ch <- prometheus.MustNewConstHistogram(c.flush, s.count, s.sum, s.buckets)
	gauge(c.slotLag, float64(st.SlotLagBytes))
	counter(c.errors, float64(st.Errors))
	gauge(c.deadLetters, float64(st.DeadLetters))
	counter(c.events, float64(st.Events))
	for _, p := range phases {
		gauge(c.phase, bool01(st.Phase == p), p)
	}

	// Per-index series exist for every enabled index from the start, so
	// that a rate over them has a zero to start from.
	enabled := c.a.fold.enabled
	built := withZeros(st.DocumentsByIndex, enabled)
	for _, index := range slices.Sorted(maps.Keys(built)) {
		counter(c.built, float64(built[index]), index)
	}
	quarantined := withZeros(st.QuarantinedByIndex, enabled)
	for _, index := range slices.Sorted(maps.Keys(quarantined)) {
		counter(c.quarantined, float64(quarantined[index]), index)
	}
	seeded := map[string]int64{}
	for index, n := range s.seeded {
		seeded[index] = int64(n)
	}
	seeded = withZeros(seeded, enabled)
	for _, index := range slices.Sorted(maps.Keys(seeded)) {
		counter(c.seeded, float64(seeded[index]), index)
	}
	perState := map[string]int{}
	for _, index := range enabled {
		state := st.Indexes[index]
		perState[state]++
		for _, s := range indexStates {
			gauge(c.indexState, bool01(state == s), index, s)
		}
	}
	for _, s := range indexStates {
		gauge(c.indexes, float64(perState[s]), s)
	}
	for _, index := range slices.Sorted(maps.Keys(st.Backfill)) {
		b := st.Backfill[index]
		gauge(c.tasksDone, float64(b.TasksDone), index)
		gauge(c.tasksTotal, float64(b.TasksTotal), index)
		gauge(c.backfillDocs, float64(b.Documents), index)
	}

	// A source outside /flusso/<pipeline>/<service>/<instance> could repeat
	// a label pair; a repeated series would fail the whole scrape.
	seen := map[[2]string]bool{}
	for _, r := range st.Replicas {
		if seen[[2]string{r.Service, r.Instance}] {
			continue
		}
		seen[[2]string{r.Service, r.Instance}] = true
		gauge(c.replicaUp, bool01(r.Alive), r.Service, r.Instance)
		if r.Service == "indexer" || r.Batches > 0 {
			counter(c.replicaBatches, float64(r.Batches), r.Service, r.Instance)
		}
	}
}

// withZeros returns m with a zero for every name it lacks.
func withZeros(m map[string]int64, names []string) map[string]int64 {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]int64{}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			out[n] = 0
		}
	}
	return out
}
