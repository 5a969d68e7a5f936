// Package status is the status service: it replays and then follows the
// pipeline's events stream, folds every service's events into one
// statusapi.Status, adds what the events do not carry (the changes waiting
// for the indexers, the dead letters), and serves the result: /status, a
// server-sent-events stream, Prometheus metrics and a dashboard on the
// public surface, and /indexes and /reindex (which publishes a control
// command to the capture) behind authentication on the private one. It
// keeps no state of its own: any number of replicas agree because each
// folds the same stream. The aggregation is aggregator.go, fold.go and
// metrics.go; the transport is http.go and auth.go.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// indexerConsumer is the durable consumer the indexer replicas share on the
// changes stream (indexer.ConsumerName; the status does not link the
// indexer).
const indexerConsumer = "flusso-indexer"

// pollInterval is how often the queue depths are read and the liveness of
// the replicas reconsidered.
const pollInterval = time.Second

// Options are what an aggregator needs from its composition root.
type Options struct {
	JetStream jetstream.JetStream
	// Config names the pipeline (Config.Pipeline()) and its enabled indexes.
	Config *config.Config
	Logger *slog.Logger
	// Instance is this status replica's name in its own events (service
	// "status").
	Instance string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Aggregator folds the events of one pipeline into its status.
type Aggregator struct {
	js       jetstream.JetStream
	cfg      *config.Config
	log      *slog.Logger
	names    changes.Names
	pub      *events.Publisher
	instance string
	now      func() time.Time
	start    time.Time
	registry *prometheus.Registry

	ready atomic.Bool

	mu          sync.Mutex
	fold        *fold
	inFlight    int64
	deadLetters int64
	changed     chan struct{}
	// timeSig is the part of the status that moves with the clock alone
	// (phase, liveness), as last seen by the poll loop.
	timeSig string
}

// New makes sure the pipeline's streams exist and returns an aggregator
// that has folded nothing yet.
func New(ctx context.Context, o Options) (*Aggregator, error) {
	if o.JetStream == nil || o.Config == nil {
		return nil, errors.New("status: JetStream and Config are required")
	}
	cfg := o.Config
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	names := changes.NamesFor(cfg.Pipeline())
	if err := changes.EnsureStreams(ctx, o.JetStream, names, changes.StreamOptions{
		Replicas: cfg.NATS.StreamReplicas, MaxAge: cfg.NATS.MaxAge.D(), MaxBytes: cfg.NATS.MaxBytes, DuplicateWindow: cfg.NATS.DuplicateWindow.D(),
	}); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	a := &Aggregator{
		js: o.JetStream, cfg: cfg, log: log.With("service", "status"), names: names,
		pub:      events.NewPublisher(o.JetStream, names, "status", o.Instance),
		instance: o.Instance, now: now, start: now(),
		fold:    newFold(cfg.Pipeline(), cfg.EnabledIndexes()),
		changed: make(chan struct{}),
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(newCollector(a))
	return a, nil
}

// Ready reports whether the replay has reached the last event the stream
// held when Run started (and the state bucket's index states are read):
// before that the status tells an older past.
func (a *Aggregator) Ready() bool { return a.ready.Load() }

// Status returns the current status; the caller owns it.
func (a *Aggregator) Status() statusapi.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.statusLocked(a.now())
}

func (a *Aggregator) statusLocked(now time.Time) statusapi.Status {
	st := a.fold.status(now)
	st.UptimeSeconds = int64(now.Sub(a.start).Seconds())
	st.ChangesInFlight = a.inFlight
	st.DeadLetters = a.deadLetters
	return st
}

// Changed returns a channel closed at the next change of the status: a
// new event, new queue depths, or a phase or liveness that moved with the
// clock. Call it again for the change after that.
func (a *Aggregator) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// notifyLocked wakes the waiters of Changed; a.mu is held.
func (a *Aggregator) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// Registry holds the pipeline's metrics (metrics.go).
func (a *Aggregator) Registry() *prometheus.Registry { return a.registry }

// Run replays the events stream from its start and follows it, watches the
// state bucket, polls the queue depths every second and emits this
// replica's own events (started, a heartbeat every 10 s, stopped), until
// ctx ends; it then returns nil. It fails only when the events stream or
// the state bucket is missing at the start; later failures are logged and
// retried while the last status keeps being served.
func (a *Aggregator) Run(ctx context.Context) error {
	stream, err := a.js.Stream(ctx, a.names.EventsStream())
	if err != nil {
		return a.quiet(ctx, fmt.Errorf("events stream %s: %w", a.names.EventsStream(), err))
	}
	// What "caught up" means is fixed now: the events published later are
	// the present, not the replay.
	info := stream.CachedInfo().State
	target := info.LastSeq
	kv, err := a.js.KeyValue(ctx, a.names.StateBucket())
	if err != nil {
		return a.quiet(ctx, fmt.Errorf("state bucket %s: %w", a.names.StateBucket(), err))
	}

	var eventsCaught, stateCaught atomic.Bool
	eventsCaught.Store(target == 0 || info.Msgs == 0)
	caughtUp := func() {
		if eventsCaught.Load() && stateCaught.Load() && !a.ready.Swap(true) {
			a.mu.Lock()
			a.notifyLocked() // readiness is news to the waiters too
			n := a.fold.events
			a.mu.Unlock()
			a.log.Info("status caught up with the events stream", "events", n)
		}
	}

	a.pub.Emit(ctx, a.log, events.Started, events.StartedData{Instance: a.instance, Indexes: a.cfg.EnabledIndexes()})
	// Every part runs until ctx ends, retrying its own failures.
	var wg sync.WaitGroup
	wg.Go(func() { a.follow(ctx, target, &eventsCaught, caughtUp) })
	wg.Go(func() { a.watchState(ctx, kv, &stateCaught, caughtUp) })
	wg.Go(func() { a.pollLoop(ctx) })
	wg.Go(func() { a.heartbeat(ctx) })
	wg.Wait()
	a.pub.Emit(context.WithoutCancel(ctx), a.log, events.Stopped, events.StoppedData{Instance: a.instance, Reason: "shutdown"})
	return nil
}

// quiet drops an error caused by ctx ending.
func (a *Aggregator) quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// follow folds the events stream in, from its first message on, until ctx
// ends. A failure is logged and the reading resumes after the last event
// folded: the status keeps serving what it knows meanwhile.
func (a *Aggregator) follow(ctx context.Context, target uint64, caught *atomic.Bool, caughtUp func()) {
	caughtUp()
	var next uint64 // the stream sequence to resume from; 0: the start
	for ctx.Err() == nil {
		err := a.followFrom(ctx, &next, target, caught, caughtUp)
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("reading the events stream failed; retrying", "stream", a.names.EventsStream(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(pollInterval):
		}
	}
}

// followFrom reads the stream from sequence *next with a new ordered
// consumer (one cannot be iterated again once stopped), advancing *next.
func (a *Aggregator) followFrom(ctx context.Context, next *uint64, target uint64, caught *atomic.Bool, caughtUp func()) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"flusso." + a.names.Pipeline + ".events.>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if *next > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, *next
	}
	cons, err := a.js.OrderedConsumer(ctx, a.names.EventsStream(), cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		a.apply(msg)
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		*next = md.Sequence.Stream + 1
		if !caught.Load() && (md.Sequence.Stream >= target || md.NumPending == 0) {
			caught.Store(true)
			caughtUp()
		}
	}
}

// apply folds one message of the events stream in.
func (a *Aggregator) apply(msg jetstream.Msg) {
	e, err := events.FromMsg(msg.Headers(), msg.Data())
	if err != nil {
		a.log.Warn("unreadable event skipped", "subject", msg.Subject(), "err", err)
		return
	}
	a.mu.Lock()
	fresh, err := a.fold.apply(e)
	if fresh {
		a.notifyLocked()
	}
	a.mu.Unlock()
	if err != nil {
		a.log.Warn("event data unreadable", "err", err)
	}
}

// watchState folds in the index states of the state bucket, now and as
// they change, until ctx ends; a failed watch is logged and started again.
func (a *Aggregator) watchState(ctx context.Context, kv jetstream.KeyValue, caught *atomic.Bool, caughtUp func()) {
	for ctx.Err() == nil {
		w, err := kv.Watch(ctx, "index.*")
		if err == nil {
			a.drainState(ctx, w, caught, caughtUp)
			_ = w.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("watching the state bucket failed; watching again", "bucket", a.names.StateBucket(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(pollInterval):
		}
	}
}

func (a *Aggregator) drainState(ctx context.Context, w jetstream.KeyWatcher, caught *atomic.Bool, caughtUp func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return
			case e == nil: // the values present at the start are all in
				caught.Store(true)
				caughtUp()
				continue
			case e.Operation() != jetstream.KeyValuePut:
				continue
			}
			var s kvState
			if err := json.Unmarshal(e.Value(), &s); err != nil {
				a.log.Warn("unreadable index state skipped", "key", e.Key(), "err", err)
				continue
			}
			if s.Index == "" {
				s.Index = strings.TrimPrefix(e.Key(), "index.")
			}
			a.mu.Lock()
			a.fold.applyState(s, e.Revision())
			a.notifyLocked()
			a.mu.Unlock()
		}
	}
}

// pollLoop reads the queue depths every second, and signals the changes
// that come with the clock alone (a replica going silent).
func (a *Aggregator) pollLoop(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		a.poll(ctx)
		a.checkClock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reads changes_in_flight (messages of the changes stream the
// indexers have not acked: pending plus unacknowledged) and dead_letters.
// A failed read keeps the previous value.
func (a *Aggregator) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*pollInterval)
	defer cancel()
	inFlight, dead := int64(-1), int64(-1)
	c, err := a.js.Consumer(ctx, a.names.ChangesStream(), indexerConsumer)
	switch {
	case err == nil:
		ci := c.CachedInfo()
		inFlight = int64(ci.NumPending) + int64(ci.NumAckPending)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		inFlight = 0 // no indexer has started yet
	case ctx.Err() == nil:
		a.log.Debug("read the indexers' consumer", "err", err)
	}
	s, err := a.js.Stream(ctx, a.names.DLQStream())
	switch {
	case err == nil:
		dead = int64(s.CachedInfo().State.Msgs)
	case ctx.Err() == nil:
		a.log.Debug("read the dead-letter stream", "err", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := false
	if inFlight >= 0 && inFlight != a.inFlight {
		a.inFlight, changed = inFlight, true
	}
	if dead >= 0 && dead != a.deadLetters {
		a.deadLetters, changed = dead, true
	}
	if changed {
		a.notifyLocked()
	}
}

// checkClock signals a change of phase or liveness that no event caused.
func (a *Aggregator) checkClock() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	alive := []string{a.fold.phase(now)}
	for _, r := range a.fold.replicas {
		if r.alive(now) {
			alive = append(alive, r.source)
		}
	}
	slices.Sort(alive[1:])
	sig := strings.Join(alive, "\n")
	if sig != a.timeSig {
		a.timeSig = sig
		a.notifyLocked()
	}
}

// heartbeat emits this replica's heartbeat every heartbeatInterval.
func (a *Aggregator) heartbeat(ctx context.Context) {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.pub.Emit(ctx, a.log, events.Heartbeat, events.HeartbeatData{Instance: a.instance, UptimeSeconds: int64(a.now().Sub(a.start).Seconds())})
		}
	}
}
