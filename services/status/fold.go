package status

// The fold: the pure part of the service, which turns a set of events into
// one statusapi.Status. Events come from several replicas over a stream
// that may hold them out of order and more than once, and a status replica
// started later replays the same set in another order, so every field is a
// function of the set of distinct events, never of their order:
//
//   - counters are sums over the distinct events;
//   - "latest" fields (slot lag, last flush, errors, roles, a replica's
//     lifecycle) keep the value of the event with the greatest (ce-time,
//     ce-id), the id breaking ties between equal times;
//   - an index's state is that of its highest generation (generation, then
//     hash), and within it seeded beats backfilling beats pending;
//   - backfill progress counts distinct task numbers of that generation;
//   - the capture's index states in the state bucket join the index states
//     under the same rule (applyState), so that a state whose events have
//     aged out of the stream (24 h or 256 MB) is still known.
//
// Distinct means distinct CloudEvents ids, remembered in a bounded ring
// (seenIDs): a duplicate arriving after more than seenIDs other distinct
// events is counted again. JetStream already drops a re-published event
// within its duplicate window (Nats-Msg-Id is the event id), so a duplicate
// that far apart takes a publisher retrying minutes later; 100k ids cost a
// few MB.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/statusapi"
)

const (
	// seenIDs bounds the memory of event ids used to drop duplicates.
	seenIDs = 100_000
	// heartbeatInterval is how often every service emits a heartbeat; a
	// replica silent for aliveWindow is taken for dead.
	heartbeatInterval = 10 * time.Second
	aliveWindow       = 3 * heartbeatInterval
	// recentErrors is how many errors the status keeps, newest first.
	recentErrors = 20
)

// flushBuckets are the upper bounds, in seconds, of the flush duration
// histogram: from a small stdout batch to a slow bulk write.
var flushBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// stamp orders events: by time, then by id.
type stamp struct {
	t  time.Time
	id string
}

func (s stamp) after(o stamp) bool {
	if !s.t.Equal(o.t) {
		return s.t.After(o.t)
	}
	return s.id > o.id
}

// latest keeps the value of the greatest stamp offered.
type latest[T any] struct {
	at  stamp
	v   T
	set bool
}

func (l *latest[T]) offer(at stamp, v T) {
	if !l.set || at.after(l.at) {
		l.at, l.v, l.set = at, v, true
	}
}

// idRing remembers the last n distinct ids.
type idRing struct {
	n    int
	ids  []string
	next int
	set  map[string]struct{}
}

func newIDRing(n int) *idRing {
	return &idRing{n: n, ids: make([]string, 0, min(n, 1024)), set: map[string]struct{}{}}
}

// add reports whether id is new, remembering it and forgetting the oldest
// id when full.
func (r *idRing) add(id string) bool {
	if _, ok := r.set[id]; ok {
		return false
	}
	if len(r.ids) < r.n {
		r.ids = append(r.ids, id)
	} else {
		delete(r.set, r.ids[r.next])
		r.ids[r.next] = id
		r.next = (r.next + 1) % r.n
	}
	r.set[id] = struct{}{}
	return true
}

// histogram counts the flush durations per bucket.
type histogram struct {
	counts []uint64 // per bucket of flushBuckets, not cumulative
	count  uint64
	sum    float64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(flushBuckets))
	}
	h.count++
	h.sum += v
	if i := sort.SearchFloat64s(flushBuckets, v); i < len(flushBuckets) {
		h.counts[i]++
	}
}

// cumulative returns the buckets as Prometheus wants them.
func (h *histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(flushBuckets))
	var acc uint64
	for i, b := range flushBuckets {
		if h.counts != nil {
			acc += h.counts[i]
		}
		out[b] = acc
	}
	return out
}

// Capture modes, from its latest lifecycle event.
const (
	modeStarting  = "starting"  // started, not streaming yet
	modeStreaming = "streaming" // live.started, changes, slot lag or an active heartbeat
	modeStandby   = "standby"   // waits for the slot
	modeStopped   = "stopped"
)

// replicaFold is what the events of one source say about it.
type replicaFold struct {
	source, service, instance string
	lastSeen                  latest[string] // value: the event name
	started                   latest[struct{}]
	heartbeat                 latest[struct{}]
	role                      latest[string]
	mode                      latest[string] // capture only
	batches                   int64
}

func (r *replicaFold) stopped() bool { return r.lastSeen.v == events.Stopped }

func (r *replicaFold) alive(now time.Time) bool {
	return !r.stopped() && now.Sub(r.lastSeen.at.t) < aliveWindow
}

// genKey orders the generations of an index.
type genKey struct {
	gen  int
	hash string
}

func (k genKey) less(o genKey) bool {
	if k.gen != o.gen {
		return k.gen < o.gen
	}
	return k.hash < o.hash
}

type startedInfo struct {
	reason string
	tasks  int
	keys   int64
}

type taskInfo struct {
	tasks      int
	keys, docs int64
}

// kvState is the part of the capture's index.<name> value in the state
// bucket the status reads (services/capture/state.go documents it).
type kvState struct {
	Index      string     `json:"index"`
	Hash       string     `json:"hash"`
	Generation int        `json:"generation"`
	State      string     `json:"state"`
	Reason     string     `json:"reason"`
	Tasks      int        `json:"tasks"`
	Keys       int64      `json:"keys"`
	PlannedAt  *time.Time `json:"planned_at"`
	SeededAt   *time.Time `json:"seeded_at"`
}

// genFold is one generation of an index.
type genFold struct {
	key     genKey
	started latest[startedInfo]
	// tasks keeps, per task number, its latest progress event: a task
	// built twice (redelivered) counts once.
	tasks map[int]*latest[taskInfo]
	// seededAt is the earliest time the generation was reported seeded.
	seededAt *time.Time
	// kv is the latest state bucket value of the generation (by revision).
	kv    *kvState
	kvRev uint64
}

func (g *genFold) seeded() bool {
	return g.seededAt != nil || (g.kv != nil && g.kv.State == statusapi.IndexSeeded)
}

func (g *genFold) state() string {
	switch {
	case g.seeded():
		return statusapi.IndexSeeded
	case g.started.set || len(g.tasks) > 0 || (g.kv != nil && g.kv.State == statusapi.IndexBackfilling):
		return statusapi.IndexBackfilling
	}
	return statusapi.IndexPending
}

func (g *genFold) markSeeded(t time.Time) {
	if g.seededAt == nil || t.Before(*g.seededAt) {
		g.seededAt = &t
	}
}

// indexFold is what the events say of one index: its highest generation,
// and which generations were seeded (a counter of seedings).
type indexFold struct {
	cur    *genFold
	seeded map[genKey]struct{}
}

// gen returns the generation k when it is the highest seen (making it so
// if it is higher), or nil for an older one.
func (ix *indexFold) gen(k genKey) *genFold {
	switch {
	case ix.cur == nil || ix.cur.key.less(k):
		ix.cur = &genFold{key: k, tasks: map[int]*latest[taskInfo]{}}
	case k.less(ix.cur.key):
		return nil
	}
	return ix.cur
}

type errorEntry struct {
	at   stamp
	info statusapi.ErrorInfo
}

// fold accumulates events; see the comment at the top of the file. It is
// not safe for concurrent use.
type fold struct {
	pipeline string
	enabled  []string
	seen     *idRing

	events  int64
	updated time.Time

	captured, committed, built, batches, quarantined, errors int64
	docsByIndex, quarantinedByIndex                          map[string]int64
	lastFlush, slotLag                                       latest[int64]
	recent                                                   []errorEntry // newest first
	flush                                                    histogram

	indexes  map[string]*indexFold
	replicas map[string]*replicaFold
}

func newFold(pipeline string, enabled []string) *fold {
	return &fold{
		pipeline: pipeline, enabled: enabled, seen: newIDRing(seenIDs),
		docsByIndex: map[string]int64{}, quarantinedByIndex: map[string]int64{},
		indexes: map[string]*indexFold{}, replicas: map[string]*replicaFold{},
	}
}

func (f *fold) index(name string) *indexFold {
	ix := f.indexes[name]
	if ix == nil {
		ix = &indexFold{seeded: map[genKey]struct{}{}}
		f.indexes[name] = ix
	}
	return ix
}

func (f *fold) replica(source string) *replicaFold {
	r := f.replicas[source]
	if r == nil {
		r = &replicaFold{source: source}
		r.service, r.instance = parseSource(source)
		f.replicas[source] = r
	}
	return r
}

// parseSource splits /flusso/<pipeline>/<service>/<instance>; a source of
// another shape is an instance of no known service.
func parseSource(source string) (service, instance string) {
	parts := strings.SplitN(strings.TrimPrefix(source, "/"), "/", 4)
	if len(parts) == 4 && parts[0] == "flusso" {
		return parts[2], parts[3]
	}
	return "", source
}

// apply folds an event in. It reports whether the event was new; an error
// says its data could not be read (the event still counts as seen).
func (f *fold) apply(e cloudevents.Event) (bool, error) {
	if !f.seen.add(e.ID()) {
		return false, nil
	}
	f.events++
	at := stamp{t: e.Time(), id: e.ID()}
	if at.t.After(f.updated) {
		f.updated = at.t
	}
	name, known := events.NameOf(e.Type())
	r := f.replica(e.Source())
	r.lastSeen.offer(at, name)
	if !known {
		return true, nil
	}
	data := events.NewData(name)
	if data == nil {
		return true, nil // a newer catalogue's event: seen, not understood
	}
	if err := e.DataAs(data); err != nil {
		return true, fmt.Errorf("event %s %s from %s: %w", e.ID(), e.Type(), e.Source(), err)
	}
	isCapture := r.service == "capture"
	switch d := data.(type) {
	case *events.StartedData:
		r.started.offer(at, struct{}{})
		if isCapture {
			r.mode.offer(at, modeStarting)
		}
	case *events.StoppedData:
		if isCapture {
			r.mode.offer(at, modeStopped)
		}
	case *events.HeartbeatData:
		r.heartbeat.offer(at, struct{}{})
		if d.Role != "" {
			r.role.offer(at, d.Role)
		}
		if isCapture {
			switch d.Role {
			case "active":
				r.mode.offer(at, modeStreaming)
			case "standby":
				r.mode.offer(at, modeStandby)
			}
		}
	case *events.LiveStartedData, *events.ChangesCapturedData, *events.SlotLagData:
		if isCapture {
			r.mode.offer(at, modeStreaming)
		}
		switch d := d.(type) {
		case *events.ChangesCapturedData:
			f.captured += d.Changes
		case *events.SlotLagData:
			f.slotLag.offer(at, d.LagBytes)
		}
	case *events.ErrorData:
		f.errors++
		f.addError(errorEntry{at: at, info: statusapi.ErrorInfo{
			Time: at.t, Source: e.Source(), Component: d.Component, Message: d.Message, Fatal: d.Fatal,
		}})
	case *events.BackfillStartedData:
		k := genKey{d.Generation, d.Hash}
		ix := f.index(d.Index)
		if d.Tasks == 0 {
			// The capture seeds an empty root table at once (it then also
			// emits index.seeded, which may be lost: Emit is best-effort).
			ix.seeded[k] = struct{}{}
		}
		if g := ix.gen(k); g != nil {
			g.started.offer(at, startedInfo{reason: d.Reason, tasks: d.Tasks, keys: d.Keys})
			if d.Tasks == 0 {
				g.markSeeded(at.t)
			}
		}
	case *events.BackfillProgressData:
		if g := f.index(d.Index).gen(genKey{d.Generation, d.Hash}); g != nil {
			t := g.tasks[d.Task]
			if t == nil {
				t = &latest[taskInfo]{}
				g.tasks[d.Task] = t
			}
			t.offer(at, taskInfo{tasks: d.Tasks, keys: d.Keys, docs: d.Documents})
		}
	case *events.IndexSeededData:
		k := genKey{d.Generation, d.Hash}
		ix := f.index(d.Index)
		ix.seeded[k] = struct{}{}
		if g := ix.gen(k); g != nil {
			g.markSeeded(at.t)
		}
	case *events.BatchCommittedData:
		f.batches++
		r.batches++
		f.committed += int64(d.Changes)
		f.built += int64(d.Documents)
		for index, n := range d.Indexes {
			f.docsByIndex[index] += int64(n)
		}
		f.lastFlush.offer(at, d.FlushMicros)
		f.flush.observe(float64(d.FlushMicros) / 1e6)
	case *events.DocumentsRejectedData:
		f.quarantined += int64(d.Count)
		f.quarantinedByIndex[d.Index] += int64(d.Count)
	}
	return true, nil
}

// applyState folds in a value of the state bucket's index.<name> key at
// revision rev. The bucket is the capture's record of each index's latest
// generation: it keeps the index states right once the events that told
// them have aged out of the events stream.
func (f *fold) applyState(s kvState, rev uint64) {
	if s.Index == "" {
		return
	}
	k := genKey{s.Generation, s.Hash}
	ix := f.index(s.Index)
	if s.State == statusapi.IndexSeeded {
		ix.seeded[k] = struct{}{}
	}
	if g := ix.gen(k); g != nil && (g.kv == nil || rev > g.kvRev) {
		g.kv, g.kvRev = &s, rev
	}
}

func (f *fold) addError(e errorEntry) {
	i := sort.Search(len(f.recent), func(i int) bool { return e.at.after(f.recent[i].at) })
	if i >= recentErrors {
		return
	}
	f.recent = append(f.recent, errorEntry{})
	copy(f.recent[i+1:], f.recent[i:])
	f.recent[i] = e
	if len(f.recent) > recentErrors {
		f.recent = f.recent[:recentErrors]
	}
}

// indexState is the state of an index (pending when never mentioned).
func (f *fold) indexState(name string) string {
	if ix := f.indexes[name]; ix != nil && ix.cur != nil {
		return ix.cur.state()
	}
	return statusapi.IndexPending
}

// phase is stopped when a capture replica stopped and none is alive;
// starting while no capture replica streams (its latest lifecycle event by
// time is live.started, changes captured, slot lag or an active heartbeat,
// not started, a standby heartbeat or stopped); then backfilling while an
// enabled index is not seeded, else live. Each capture replica is judged by
// its own latest event rather than the captures' latest overall, so that a
// standby stopping while the active one streams does not stop the
// pipeline. A capture that crashed (silent, never stopped) keeps its last
// mode: its replica's liveness tells it went silent.
func (f *fold) phase(now time.Time) string {
	var streaming, stopped, alive bool
	for _, r := range f.replicas {
		if r.service != "capture" {
			continue
		}
		stopped = stopped || r.stopped()
		alive = alive || r.alive(now)
		streaming = streaming || (r.mode.v == modeStreaming && !r.stopped())
	}
	switch {
	case stopped && !alive:
		return statusapi.PhaseStopped
	case !streaming:
		return statusapi.PhaseStarting
	}
	for _, name := range f.enabled {
		if f.indexState(name) != statusapi.IndexSeeded {
			return statusapi.PhaseBackfilling
		}
	}
	return statusapi.PhaseLive
}

// status renders the fold as of now. Every map, slice and pointer of the
// result is new: the caller owns it.
func (f *fold) status(now time.Time) statusapi.Status {
	st := statusapi.Status{
		Phase:                f.phase(now),
		Indexes:              make(map[string]string, len(f.enabled)),
		ChangesCaptured:      f.captured,
		ChangesCommitted:     f.committed,
		DocumentsBuilt:       f.built,
		DocumentsQuarantined: f.quarantined,
		Batches:              f.batches,
		LastFlushMicros:      f.lastFlush.v,
		SlotLagBytes:         f.slotLag.v,
		Errors:               f.errors,
		Pipeline:             f.pipeline,
		Backfill:             map[string]*statusapi.Backfill{},
		Replicas:             make([]statusapi.Replica, 0, len(f.replicas)),
		DocumentsByIndex:     make(map[string]int64, len(f.docsByIndex)),
		QuarantinedByIndex:   make(map[string]int64, len(f.quarantinedByIndex)),
		RecentErrors:         make([]statusapi.ErrorInfo, 0, len(f.recent)),
		Events:               f.events,
	}
	for _, name := range f.enabled {
		st.Indexes[name] = f.indexState(name)
		if ix := f.indexes[name]; ix != nil && ix.cur != nil {
			if b := ix.cur.backfill(now); b != nil {
				st.Backfill[name] = b
			}
		}
	}
	for k, v := range f.docsByIndex {
		st.DocumentsByIndex[k] = v
	}
	for k, v := range f.quarantinedByIndex {
		st.QuarantinedByIndex[k] = v
	}
	for _, e := range f.recent {
		st.RecentErrors = append(st.RecentErrors, e.info)
	}
	if len(st.RecentErrors) > 0 {
		last := st.RecentErrors[0]
		st.LastError = &last
	}
	if !f.updated.IsZero() {
		t := f.updated
		st.UpdatedAt = &t
	}
	for _, r := range f.replicas {
		st.Replicas = append(st.Replicas, r.status(now))
	}
	sort.Slice(st.Replicas, func(i, j int) bool { return st.Replicas[i].Source < st.Replicas[j].Source })
	return st
}

func (r *replicaFold) status(now time.Time) statusapi.Replica {
	out := statusapi.Replica{
		Source: r.source, Service: r.service, Instance: r.instance, Role: r.role.v,
		LastSeen: r.lastSeen.at.t, Stopped: r.stopped(), Alive: r.alive(now), Batches: r.batches,
	}
	if r.started.set {
		t := r.started.at.t
		out.StartedAt = &t
	}
	if r.heartbeat.set {
		t := r.heartbeat.at.t
		out.LastHeartbeat = &t
	}
	return out
}

// backfill renders the progress of the generation; nil while it is only
// pending (no task planned yet).
func (g *genFold) backfill(now time.Time) *statusapi.Backfill {
	state := g.state()
	if state == statusapi.IndexPending {
		return nil
	}
	b := &statusapi.Backfill{Hash: g.key.hash, Generation: g.key.gen, State: state, TasksDone: len(g.tasks)}
	var keysDone, maxTasks = int64(0), 0
	for _, t := range g.tasks {
		keysDone += t.v.keys
		b.Documents += t.v.docs
		maxTasks = max(maxTasks, t.v.tasks)
	}
	// The started event is the capture's word on the plan; the state bucket
	// stands in for it once it aged out; the tasks themselves come last.
	switch {
	case g.started.set:
		s := g.started
		b.Reason, b.TasksTotal, b.Keys = s.v.reason, s.v.tasks, s.v.keys
		t := s.at.t
		b.StartedAt = &t
	case g.kv != nil && g.kv.State != statusapi.IndexPending:
		b.Reason, b.TasksTotal, b.Keys = g.kv.Reason, g.kv.Tasks, g.kv.Keys
		if g.kv.PlannedAt != nil {
			t := *g.kv.PlannedAt
			b.StartedAt = &t
		}
	default:
		b.TasksTotal, b.Keys = maxTasks, keysDone
	}
	if g.seededAt != nil {
		t := *g.seededAt
		b.SeededAt = &t
	} else if g.kv != nil && g.kv.SeededAt != nil {
		t := *g.kv.SeededAt
		b.SeededAt = &t
	}
	if state == statusapi.IndexSeeded {
		// Seeded means every task was done, whatever progress events got lost.
		b.TasksDone = max(b.TasksDone, b.TasksTotal)
	}
	if b.StartedAt == nil {
		return b
	}
	end := now
	if b.SeededAt != nil {
		end = *b.SeededAt
	}
	elapsed := end.Sub(*b.StartedAt).Seconds()
	if elapsed <= 0 {
		return b
	}
	b.DocsPerSecond = float64(b.Documents) / elapsed
	if state == statusapi.IndexBackfilling && keysDone > 0 {
		// Keys, not documents, measure what is left: filters may make a
		// key build no document.
		eta := float64(max(b.Keys-keysDone, 0)) / (float64(keysDone) / elapsed)
		b.ETASeconds = &eta
	}
	return b
}
