// Package indexer is the indexer service: it consumes the row changes and
// backfill tasks the capture publishes to JetStream, finds the documents they
// affect, builds those documents from the current state of Postgres, writes
// them to every sink, and acknowledges the messages only after the writes
// succeeded or were settled by the index's failure policy. Any number of
// replicas share one durable consumer. It owns the consumer, the batches, the
// failure policy, and marking a backfilled generation seeded in the state
// bucket. It does not read the replication stream, decide what to seed, or
// know how a sink stores documents; process signals, flags and the NATS
// connection belong to its command.
package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/resolve"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// ConsumerName is the durable consumer every indexer replica of a pipeline
// shares.
const ConsumerName = "flusso-indexer"

// Options are what an indexer needs from its composition root.
type Options struct {
	Config    *config.Config
	JetStream jetstream.JetStream
	// Sinks receive every document; at least one.
	Sinks  []sink.Sink
	Logger *slog.Logger
	// Instance names this process in events (host and pid, or a pod name).
	Instance string
	// Env resolves the secrets of the config; nil is the process
	// environment.
	Env config.LookupEnv
}

// Indexer is one indexer replica.
type Indexer struct {
	cfg      *config.Config
	js       jetstream.JetStream
	sinks    []sink.Sink
	log      *slog.Logger
	names    changes.Names
	events   *events.Publisher
	instance string
	started  time.Time

	pool     *pgxpool.Pool
	cat      *catalog.Catalog
	resolver *resolve.Resolver
	builders map[string]*document.Builder // by enabled index
	indexes  map[string]*config.Index     // enabled indexes
	kv       jetstream.KeyValue

	// ensured remembers, per sink and index, the target last ensured, and
	// which generations were made serving by this process.
	mu      sync.Mutex
	ensured map[string]string
	seeded  map[string]bool
	// refreshers counts, per sink, the writes in flight that refresh.
	refreshers map[string]int
	// serving are the views of indexes whose serving generation has
	// another schema than the one seeding (serving.go).
	serving map[string]*servingView
}

// New connects to the source, makes sure the pipeline's streams exist and
// plans the resolution and the build of every enabled index.
func New(ctx context.Context, o Options) (*Indexer, error) {
	cfg := o.Config
	if len(o.Sinks) == 0 {
		return nil, errors.New("indexer: no sink")
	}
	url, err := cfg.Source.Connection.Resolve(o.Env)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	ix := &Indexer{
		cfg: cfg, js: o.JetStream, sinks: o.Sinks, log: log.With("service", "indexer"), names: changes.NamesFor(cfg.Pipeline()),
		instance: o.Instance, started: time.Now(), builders: map[string]*document.Builder{}, indexes: map[string]*config.Index{},
		ensured: map[string]string{}, seeded: map[string]bool{}, serving: map[string]*servingView{},
	}
	ix.events = events.NewPublisher(o.JetStream, ix.names, "indexer", o.Instance)
	if err := changes.EnsureStreams(ctx, o.JetStream, ix.names, changes.StreamOptions{
		Replicas: cfg.NATS.StreamReplicas, MaxAge: cfg.NATS.MaxAge.D(), MaxBytes: cfg.NATS.MaxBytes, DuplicateWindow: cfg.NATS.DuplicateWindow.D(),
	}); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if ix.kv, err = o.JetStream.KeyValue(ctx, ix.names.StateBucket()); err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", ix.names.StateBucket(), err)
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source.Connection, err)
	}
	document.ConfigureConn(pcfg.ConnConfig)
	if ix.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source.Connection, err)
	}
	ix.cat = catalog.New(ix.pool)
	if ix.resolver, err = resolve.New(ctx, cfg, ix.cat); err != nil {
		ix.pool.Close()
		return nil, err
	}
	for _, c := range cfg.Indexes {
		if !c.Enabled || c.Schema == nil {
			continue
		}
		b, err := document.New(ctx, c.Name, c.Schema, ix.cat)
		if err != nil {
			ix.pool.Close()
			return nil, err
		}
		ix.builders[c.Name], ix.indexes[c.Name] = b, c
	}
	return ix, nil
}

// Close releases the database connections; the sinks belong to the caller.
func (ix *Indexer) Close() { ix.pool.Close() }

// Run consumes until ctx ends (it returns nil) or an index whose policy is
// stop rejects a document (it returns an error naming the index, the
// document and the reason, and leaves that batch unacknowledged).
// indexer.concurrency batches are processed at once.
func (ix *Indexer) Run(ctx context.Context) error {
	ic := ix.cfg.Indexer
	cons, err := ix.js.CreateOrUpdateConsumer(ctx, ix.names.ChangesStream(), jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "flusso " + ix.names.Pipeline + ": the indexer replicas",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ic.AckWait.D(),
		MaxAckPending: ic.MaxAckPending,
		MaxDeliver:    ic.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consumer %s on %s: %w", ConsumerName, ix.names.ChangesStream(), err)
	}
	ix.emit(ctx, events.Started, events.StartedData{Instance: ix.instance, Indexes: ix.cfg.EnabledIndexes()})
	// Sinks learn their targets before the first batch; a failure here is
	// retried by the batches, which ensure again.
	if err := ix.ensure(ctx, ix.cfg.EnabledIndexes()); err != nil && ctx.Err() == nil {
		ix.log.Warn("ensure indexes", "err", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { ix.heartbeat(gctx); return nil })
	for range max(ic.Concurrency, 1) {
		g.Go(func() error { return ix.consume(gctx, cons) })
	}
	err = g.Wait()
	reason := "shutdown"
	if err != nil {
		reason = err.Error()
	}
	ix.emit(context.WithoutCancel(ctx), events.Stopped, events.StoppedData{Instance: ix.instance, Reason: reason})
	return err
}

// consume fetches and processes batches until ctx ends or a batch fails
// for good.
func (ix *Indexer) consume(ctx context.Context, cons jetstream.Consumer) error {
	ic := ix.cfg.Indexer
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		batch, err := cons.Fetch(max(ic.BatchSize, 1), jetstream.FetchMaxWait(max(ic.BatchWait.D(), 10*time.Millisecond)))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ix.log.Warn("fetch failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		fetched := time.Now()
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			continue
		}
		err = ix.process(ctx, msgs, fetched)
		var fatal *fatalError
		switch {
		case errors.As(err, &fatal):
			ix.emit(context.WithoutCancel(ctx), events.Error, events.ErrorData{Instance: ix.instance, Component: "sink", Message: err.Error(), Fatal: true})
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			ix.log.Error("batch failed; redelivering", "err", err, "in", backoff)
			ix.emit(ctx, events.Error, events.ErrorData{Instance: ix.instance, Component: "indexer", Message: err.Error()})
			backoff = min(2*backoff, 10*time.Second)
		default:
			backoff = 250 * time.Millisecond
		}
	}
	return nil
}

// heartbeat emits Heartbeat every 10 s until ctx ends.
func (ix *Indexer) heartbeat(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ix.emit(ctx, events.Heartbeat, events.HeartbeatData{Instance: ix.instance, UptimeSeconds: int64(time.Since(ix.started).Seconds()), Role: "active"})
		}
	}
}

// emit publishes an event; a failure is logged, never fatal.
func (ix *Indexer) emit(ctx context.Context, name string, data any) {
	ix.events.Emit(ctx, ix.log, name, data)
}

// fatalError stops the indexer: a rejection under on_error = stop.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }
