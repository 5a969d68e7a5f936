// Package capture is the capture service: it reads the source database's
// logical replication stream (pgoutput) and publishes every committed row
// change, and the backfill tasks that seed indexes, to NATS JetStream. It
// owns the publication, the replication slot and the decision to seed an
// index; it confirms a WAL position to Postgres only once every change up to
// it is stored in JetStream. It does not build documents or talk to
// OpenSearch.
package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/resolve"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Options are what a capture needs from its composition root.
type Options struct {
	Config    *config.Config
	JetStream jetstream.JetStream
	Logger    *slog.Logger
	// Instance names this process in events (host and pid, or a pod name).
	Instance string
	// Env resolves the secrets of the config; nil is the process
	// environment.
	Env config.LookupEnv
}

// errSlotActive is returned when another capture holds the slot: this one
// then waits as a standby.
var errSlotActive = errors.New("the replication slot is in use by another capture")

// Capture is one capture instance.
type Capture struct {
	cfg      *config.Config
	js       jetstream.JetStream
	log      *slog.Logger
	names    changes.Names
	events   *events.Publisher
	instance string
	connURL  string // the resolved source URL: never log it
	env      config.LookupEnv

	pool     *pgxpool.Pool
	cat      *catalog.Catalog
	resolver *resolve.Resolver
	started  time.Time
}

// New connects to the source and to JetStream, makes sure the pipeline's
// streams exist, and plans what the enabled indexes read.
func New(ctx context.Context, o Options) (*Capture, error) {
	cfg := o.Config
	url, err := cfg.Source.Connection.Resolve(o.Env)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Capture{
		cfg: cfg, js: o.JetStream, log: log.With("service", "capture"), names: changes.NamesFor(cfg.Pipeline()),
		instance: o.Instance, connURL: url, env: o.Env, started: time.Now(),
	}
	c.events = events.NewPublisher(o.JetStream, c.names, "capture", o.Instance)
	if err := changes.EnsureStreams(ctx, o.JetStream, c.names, changes.StreamOptions{
		Replicas: cfg.NATS.StreamReplicas, MaxAge: cfg.NATS.MaxAge.D(), MaxBytes: cfg.NATS.MaxBytes, DuplicateWindow: cfg.NATS.DuplicateWindow.D(),
	}); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	c.pool, err = pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source.Connection, err)
	}
	c.cat = catalog.New(c.pool)
	if c.resolver, err = resolve.New(ctx, cfg, c.cat); err != nil {
		c.pool.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the connections.
func (c *Capture) Close() { c.pool.Close() }

// Run captures until ctx is cancelled: set up the publication and slot, seed
// what needs seeding, stream. It reconnects with backoff when Postgres or
// NATS goes away, and waits as a standby while another capture holds the
// slot. It returns nil after a clean shutdown.
func (c *Capture) Run(ctx context.Context) error {
	c.emit(ctx, events.Started, events.StartedData{Instance: c.instance, Indexes: c.cfg.EnabledIndexes()})
	backoff := time.Second
	for {
		err := c.runOnce(ctx)
		if ctx.Err() != nil {
			c.emit(context.WithoutCancel(ctx), events.Stopped, events.StoppedData{Instance: c.instance, Reason: "shutdown"})
			return nil
		}
		wait := backoff
		switch {
		case errors.Is(err, errSlotActive):
			c.log.Info("standing by: another capture holds the slot", "slot", c.cfg.Capture.Slot)
			c.emit(ctx, events.Heartbeat, events.HeartbeatData{Instance: c.instance, UptimeSeconds: int64(time.Since(c.started).Seconds()), Role: "standby"})
			wait = c.cfg.Capture.StandbyRetry.D()
		case err != nil:
			c.log.Error("capture failed; retrying", "err", err, "in", backoff)
			c.emit(ctx, events.Error, events.ErrorData{Instance: c.instance, Component: "capture", Message: err.Error()})
			backoff = min(2*backoff, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			c.emit(context.WithoutCancel(ctx), events.Stopped, events.StoppedData{Instance: c.instance, Reason: "shutdown"})
			return nil
		case <-time.After(wait):
		}
	}
}

// runOnce sets up and streams until an error or ctx ends.
func (c *Capture) runOnce(ctx context.Context) error {
	conn, start, err := c.setup(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return c.stream(ctx, conn, start)
}

// emit publishes an event; a failure is logged, never fatal.
func (c *Capture) emit(ctx context.Context, name string, data any) {
	c.events.Emit(ctx, c.log, name, data)
}

// The parts implemented beside this file:
//
//	setup.go:    func (c *Capture) setup(ctx) (*pgconn.PgConn, changes.LSN, error)
//	             publication, slot (created before any scan), seeding decisions
//	backfill.go: func (c *Capture) reseed(ctx, indexes []string, reason string) error
//	stream.go:   func (c *Capture) stream(ctx, conn *pgconn.PgConn, start changes.LSN) error
var _ = (*pgconn.PgConn)(nil)
