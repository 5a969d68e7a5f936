package capture

// Setup before streaming: the publication, the replication slot, and which
// index generations must be seeded. The rule that keeps every change: the
// slot exists, and is at or behind a seeding's snapshot, before that
// snapshot's keys are read. A new slot exports its own snapshot for the
// scan; an existing slot is behind any snapshot taken now.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/dbcheck"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
)

// controlConsumer is the durable consumer of reindex commands. The control
// stream is a work queue: a command is gone once acked.
const controlConsumer = "capture_reindex"

// setup makes the publication cover what the enabled indexes read, takes or
// creates the replication slot, seeds the index generations that need it
// (first run, new schema, reindex command, lost slot, interrupted seeding)
// and starts serving reindex commands for the life of the returned
// connection. It returns the replication connection, not yet streaming, and
// the LSN to stream from.
func (c *Capture) setup(ctx context.Context) (_ *pgconn.PgConn, _ changes.LSN, err error) {
	added, err := c.ensurePublication(ctx)
	if err != nil {
		return nil, 0, err
	}
	st, err := c.stateStore(ctx)
	if err != nil {
		return nil, 0, err
	}
	if err := st.recordSchemas(ctx, c.cfg); err != nil {
		return nil, 0, err
	}
	conn, err := c.replicationConn(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	slot, err := c.checkSlot(ctx, conn, st)
	if err != nil {
		return nil, 0, err
	}

	// Reindex commands are taken once the slot is known to be free: a
	// standby leaves them to the active capture.
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.names.ControlStream(), jetstream.ConsumerConfig{
		Durable: controlConsumer, Description: "capture: reindex commands",
		FilterSubject: c.names.ControlSubject("reindex"), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute, MaxAckPending: 1000,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("nats: control consumer: %w", err)
	}
	reindex, msgs, err := c.pendingReindex(cons)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			for _, m := range msgs {
				_ = m.Nak() // back in the queue for the next attempt
			}
		}
	}()

	todo, err := c.requestSeedings(ctx, st, slot, reindex, added)
	if err != nil {
		return nil, 0, err
	}
	// The requests are recorded: the commands are done with.
	for _, m := range msgs {
		_ = m.Ack()
	}
	msgs = nil

	var start changes.LSN
	if slot.exists {
		start = slot.confirmed
		if err := c.seedFresh(ctx, st, todo); err != nil {
			return nil, 0, err
		}
		if slot.ident == nil || slot.lost != "" {
			// A slot made by hand or by an earlier flusso, or not the
			// recorded one: it is the state's from now on.
			if err := st.setSlot(ctx, SlotIdentity{Slot: slot.name, SystemID: slot.systemID, Database: slot.current, CreatedLSN: slot.confirmed, CreatedAt: time.Now().UTC()}); err != nil {
				return nil, 0, err
			}
		}
	} else if start, err = c.createSlotAndSeed(ctx, conn, st, todo, slot); err != nil {
		return nil, 0, err
	}
	go c.serveReindex(ctx, cons, conn.CleanupDone())
	return conn, start, nil
}

// checkSlot reads the slot and tells whether it can be used, or is lost:
// invalidated (then dropped here, to be created again), dropped since the
// last run, or not the one the state was built with.
func (c *Capture) checkSlot(ctx context.Context, conn *pgconn.PgConn, st *stateStore) (*slotInfo, error) {
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("source: IDENTIFY_SYSTEM: %w", err)
	}
	slot, err := c.readSlot(ctx)
	if err != nil {
		return nil, err
	}
	slot.systemID = sys.SystemID
	if slot.ident, _, err = st.slot(ctx); err != nil {
		return nil, err
	}
	name := slot.name
	switch {
	case !slot.exists:
		if slot.ident != nil {
			slot.lost = fmt.Sprintf("replication slot %s was dropped since the last run", name)
		}
	case slot.plugin != "pgoutput":
		what := "a physical slot"
		if slot.plugin != "" {
			what = "a logical slot of plugin " + slot.plugin
		}
		return nil, fmt.Errorf("replication slot %s exists and is %s: flusso needs a pgoutput slot; choose another slot name (capture.slot) or drop it", name, what)
	case slot.database != slot.current:
		return nil, fmt.Errorf("replication slot %s belongs to database %s, not %s: choose another slot name (capture.slot)", name, slot.database, slot.current)
	case slot.active:
		return nil, errSlotActive
	case slot.walStatus == "lost":
		// Postgres removed WAL the slot still needed: the changes since its
		// confirmed position are gone. A new slot and new generations
		// replace it.
		slot.lost = fmt.Sprintf("replication slot %s was invalidated (wal_status lost: max_slot_wal_keep_size exceeded)", name)
		if err := pglogrepl.DropReplicationSlot(ctx, conn, name, pglogrepl.DropReplicationSlotOptions{}); err != nil {
			return nil, fmt.Errorf("drop invalidated replication slot %s: %w", name, err)
		}
		slot.exists = false
	case slot.ident != nil && !slot.ident.same(slot.systemID, slot.current, slot.confirmed):
		slot.lost = fmt.Sprintf("replication slot %s is not the one the state was built with (system %s, database %s, created at %s)", name, slot.ident.SystemID, slot.ident.Database, slot.ident.CreatedLSN)
	case slot.walStatus == "unreserved":
		c.log.Warn("the replication slot is about to lose WAL it needs (wal_status unreserved): the next checkpoint invalidates it unless it catches up", "slot", name)
	}
	return slot, nil
}

// requestSeedings decides which enabled indexes need a new generation and
// records each as pending.
func (c *Capture) requestSeedings(ctx context.Context, st *stateStore, slot *slotInfo, reindex map[string]bool, added []config.TableRef) ([]*seeding, error) {
	var decided []decision
	for _, ix := range c.cfg.Indexes {
		if !ix.Enabled || ix.Schema == nil {
			continue
		}
		prev, _, err := st.index(ctx, ix.Name)
		if err != nil {
			return nil, err
		}
		decided = append(decided, decision{ix: ix, prev: prev})
	}
	if !slot.exists && slot.lost == "" {
		// No slot and no identity: a state of any index means there was one.
		for _, d := range decided {
			if d.prev != nil {
				slot.lost = fmt.Sprintf("replication slot %s does not exist but index %s has state", slot.name, d.ix.Name)
				break
			}
		}
	}
	if slot.lost != "" {
		c.log.Warn("the changes since the slot's last confirmed position are lost: reseeding every index", "slot", slot.name, "why", slot.lost)
		c.emit(ctx, events.Error, events.ErrorData{Instance: c.instance, Component: "slot", Message: slot.lost + ": reseeding every index"})
	}
	var todo []*seeding
	for i := range decided {
		d := &decided[i]
		if err := c.decide(ctx, d, slot.lost != "", slot.exists, reindex[d.ix.Name], added); err != nil {
			return nil, err
		}
		if d.reason == "" {
			continue
		}
		s, err := c.request(ctx, st, d.ix, d.reason, d.resume)
		if err != nil {
			return nil, err
		}
		todo = append(todo, s)
	}
	return todo, nil
}

// decision is what one enabled index needs at setup.
type decision struct {
	ix     *config.Index
	prev   *IndexState
	reason string // "" when nothing
	resume bool   // redo the recorded seeding (same reason)
}

// decide fills in why an index must be seeded, if it must.
func (c *Capture) decide(ctx context.Context, d *decision, lost, slotExists, reindex bool, added []config.TableRef) error {
	prev, hash := d.prev, d.ix.Schema.Hash()
	switch {
	case prev == nil:
		d.reason = reasonFirstRun
	case lost:
		d.reason = reasonSlotLost
	case reindex:
		d.reason = reasonReindex
	case prev.Hash != hash:
		d.reason = reasonNewSchema
	case prev.Sinks != "" && prev.Sinks != c.sinkStores():
		d.reason = reasonSinks
	case prev.State == statePending:
		// Decided, then interrupted before its tasks were planned.
		d.reason, d.resume = prev.Reason, true
	case prev.State == stateBackfilling:
		done, err := c.tasksPublished(ctx, prev)
		if err != nil {
			return err
		}
		if !done {
			// Interrupted while publishing its tasks: a new generation,
			// so the indexer never counts tasks of two scans together.
			d.reason = prev.Reason
		}
	}
	if d.reason == "" && slotExists {
		// Tables just added to the publication: their changes before that
		// were never streamed.
		tables := d.ix.Schema.Tables()
		for _, ref := range added {
			if slices.Contains(tables, ref) {
				d.reason = reasonPublication
				break
			}
		}
	}
	if d.reason != "" {
		c.log.Info("index needs seeding", "index", d.ix.Name, "hash", hash, "reason", d.reason, "resume", d.resume)
	}
	return nil
}

// createSlotAndSeed creates the slot, exporting its snapshot, and plans the
// seedings under that snapshot while the replication connection stays idle
// (a command on it would end the export). It returns the slot's consistent
// point: the changes of every transaction the snapshot misses come after it.
func (c *Capture) createSlotAndSeed(ctx context.Context, conn *pgconn.PgConn, st *stateStore, todo []*seeding, slot *slotInfo) (changes.LSN, error) {
	name := slot.name
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, name, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT",
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object: another capture was faster
			return 0, fmt.Errorf("create replication slot %s: %w", name, errSlotActive)
		}
		return 0, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	start, err := changes.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	c.log.Info("created replication slot", "slot", name, "consistent_point", start, "snapshot", res.SnapshotName)
	if err := st.setSlot(ctx, SlotIdentity{Slot: name, SystemID: slot.systemID, Database: slot.current, CreatedLSN: start, CreatedAt: time.Now().UTC()}); err != nil {
		return 0, err
	}
	if len(todo) == 0 {
		return start, nil
	}
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("backfill: snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(res.SnapshotName, "'", "''")+"'"); err != nil {
		return 0, fmt.Errorf("backfill: import the snapshot of slot %s: %w", name, err)
	}
	for _, s := range todo {
		if err := c.plan(ctx, tx, st, s, start); err != nil {
			return 0, err
		}
	}
	return start, nil // the read-only transaction ends with the deferred rollback
}

// replicationConn opens a connection in logical replication mode.
func (c *Capture) replicationConn(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(c.connURL)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", c.cfg.Source.Connection, err)
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("source %s: replication connection: %w", c.cfg.Source.Connection, err)
	}
	return conn, nil
}

// slotInfo is the slot as pg_replication_slots shows it, and what setup
// makes of it.
type slotInfo struct {
	name      string
	exists    bool
	plugin    string // "" for a physical slot
	database  string
	current   string // the database we are connected to
	active    bool
	walStatus string
	confirmed changes.LSN

	systemID string        // of the cluster (IDENTIFY_SYSTEM)
	ident    *SlotIdentity // recorded in the state; nil when none
	lost     string        // why the changes since the last run are lost; "" when they are not
}

func (c *Capture) readSlot(ctx context.Context) (*slotInfo, error) {
	s := &slotInfo{name: c.cfg.Capture.Slot}
	var plugin, database, walStatus, confirmed *string
	var active *bool
	err := c.pool.QueryRow(ctx, `SELECT current_database(), s.slot_name IS NOT NULL, s.plugin, s.database, s.active, s.wal_status, s.confirmed_flush_lsn::text
FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`, c.cfg.Capture.Slot).
		Scan(&s.current, &s.exists, &plugin, &database, &active, &walStatus, &confirmed)
	if err != nil {
		return s, fmt.Errorf("read replication slot %s: %w", c.cfg.Capture.Slot, err)
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	s.plugin, s.database, s.walStatus = deref(plugin), deref(database), deref(walStatus)
	s.active = active != nil && *active
	if confirmed != nil {
		if s.confirmed, err = changes.ParseLSN(*confirmed); err != nil {
			return s, fmt.Errorf("read replication slot %s: %w", c.cfg.Capture.Slot, err)
		}
	}
	return s, nil
}

// ensurePublication makes the publication cover every table the enabled
// indexes read, when manage_publication is on and the role may; otherwise
// it fails with the SQL to run. It returns the tables it added.
func (c *Capture) ensurePublication(ctx context.Context) ([]config.TableRef, error) {
	refs := c.resolver.Tables()
	name := c.cfg.Capture.Publication
	pub, diags, err := dbcheck.PublicationFor(ctx, c.cfg, c.pool, refs)
	if err != nil {
		return nil, err
	}
	for _, d := range diags.Warnings() {
		c.log.Warn("publication", "problem", d.Message, "fix", d.Hint)
	}
	// Errors are what flusso will not fix: tables it may not add, a
	// publication that does not publish every insert, update and delete.
	var errs []error
	for _, d := range diags.Errors() {
		errs = append(errs, fmt.Errorf("%s: %s", d.Message, d.Hint))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(pub.Missing) == 0 {
		return nil, nil
	}
	before, err := catalog.ReadPublication(ctx, c.pool, name)
	if err != nil {
		return nil, err
	}
	c.log.Info("extending the publication", "publication", name, "sql", pub.SQL)
	if _, err := c.pool.Exec(ctx, pub.SQL); err != nil {
		// Another capture may have done it meanwhile.
		again, _, err2 := dbcheck.PublicationFor(ctx, c.cfg, c.pool, refs)
		if err2 != nil || len(again.Missing) > 0 {
			return nil, fmt.Errorf("publication %s: %s failed: %w; run it as a role that may", name, pub.SQL, err)
		}
	}
	after, err := catalog.ReadPublication(ctx, c.pool, name)
	if err != nil {
		return nil, err
	}
	var added []config.TableRef
	for _, ref := range refs {
		if after.Covers(ref) && !before.Covers(ref) {
			added = append(added, ref)
		}
	}
	return added, nil
}

// pendingReindex takes the reindex commands waiting in the control stream:
// the indexes to reseed, and the messages to ack once that is recorded.
// Malformed commands and unknown indexes are dropped with an error event.
func (c *Capture) pendingReindex(cons jetstream.Consumer) (map[string]bool, []jetstream.Msg, error) {
	out := map[string]bool{}
	var keep []jetstream.Msg
	const batch = 100
	for {
		b, err := cons.FetchNoWait(batch)
		if err != nil {
			return nil, nil, fmt.Errorf("nats: read reindex commands: %w", err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			if name, ok := c.reindexTarget(m); ok {
				out[name] = true
				keep = append(keep, m)
			}
		}
		if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			for _, m := range keep {
				_ = m.Nak()
			}
			return nil, nil, fmt.Errorf("nats: read reindex commands: %w", err)
		}
		if n < batch {
			return out, keep, nil
		}
	}
}

// reindexTarget reads a reindex command; a bad one is terminated (never
// redelivered) and reported.
func (c *Capture) reindexTarget(m jetstream.Msg) (string, bool) {
	var cmd changes.ReindexCommand
	err := json.Unmarshal(m.Data(), &cmd)
	if err == nil {
		if ix := c.cfg.Index(cmd.Index); ix == nil || !ix.Enabled {
			err = fmt.Errorf("no enabled index %q", cmd.Index)
		}
	}
	if err != nil {
		msg := fmt.Sprintf("reindex command %q dropped: %v", m.Data(), err)
		c.log.Error(msg)
		c.emit(context.Background(), events.Error, events.ErrorData{Instance: c.instance, Component: "control", Message: msg})
		_ = m.Term()
		return "", false
	}
	return cmd.Index, true
}

// serveReindex acts on reindex commands while the capture streams, until
// ctx ends or the replication connection (done) is closed: each is a
// reseed under a fresh snapshot beside the live stream.
func (c *Capture) serveReindex(ctx context.Context, cons jetstream.Consumer, done <-chan struct{}) {
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		c.log.Error("reindex commands are not served", "err", err)
		return
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return
		}
		if err != nil {
			c.log.Warn("reading reindex commands", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		name, ok := c.reindexTarget(m)
		if !ok {
			continue
		}
		if err := c.reseedAcking(ctx, m, name); err != nil {
			if ctx.Err() != nil {
				_ = m.Nak() // for the next run
				return
			}
			c.log.Error("reindex failed; retrying", "index", name, "err", err)
			c.emit(ctx, events.Error, events.ErrorData{Instance: c.instance, Component: "backfill", Message: fmt.Sprintf("reindex %s: %v", name, err)})
			_ = m.NakWithDelay(5 * time.Second)
			continue
		}
		_ = m.Ack()
	}
}

// reseedAcking reseeds one index, telling JetStream the command is being
// worked on while the key scan runs.
func (c *Capture) reseedAcking(ctx context.Context, m jetstream.Msg, index string) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(20 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return c.reseed(ctx, []string{index}, reasonReindex)
}

// sinkStores fingerprints where documents are kept: the prefix and each
// opensearch sink's name and URL (hashed: it may carry credentials). A
// stdout sink keeps nothing, so adding one seeds nothing. A URL that cannot
// be resolved here (a capture without the sinks' secrets) counts by how it
// is configured.
func (c *Capture) sinkStores() string {
	var parts []string
	for _, s := range c.cfg.Sinks {
		if s.Type != config.SinkOpenSearch || s.OpenSearch == nil {
			continue
		}
		url, err := s.OpenSearch.URL.Resolve(c.env)
		if err != nil {
			url = "unresolved " + s.OpenSearch.URL.String()
		}
		sum := sha256.Sum256([]byte(url))
		parts = append(parts, s.Name+"="+hex.EncodeToString(sum[:4]))
	}
	sort.Strings(parts)
	return "prefix=" + c.cfg.Prefix + ";" + strings.Join(parts, ";")
}
