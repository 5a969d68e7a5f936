package capture

// Streaming: the slot's changes into JetStream, and the slot's confirmed
// position back to Postgres.
//
// Every change is published asynchronously; what is published and not yet
// settled waits in a FIFO queue in WAL order, with a mark after the last
// change of each transaction. The head of the queue settles when its PubAck
// arrives (a failed publish is retried there, synchronously, so a change is
// never skipped); a mark reaching the head means every change of its
// transaction and of all earlier ones is stored, and only then does its
// position become the one confirmed to Postgres. The queue holds at most
// capture.publish_window changes (and maxInFlightBytes of them): when it is
// full, reading the slot waits for the head, so memory is bounded whatever
// the size of a transaction.
//
// Changes of tables no index reads (the publication may cover more, such as
// FOR ALL TABLES) are not published: no indexer would use them. Their
// transactions still move the confirmed position, and so does a keepalive's
// WAL position received between transactions, queued as a mark like a
// commit: Postgres sends nothing for a transaction without a change for the
// publication, and the slot must not hold that WAL forever.
//
// The order of the stream follows the WAL, except around a failed publish:
// its retry lands after the changes published meanwhile. Consumers must not
// rely on the order (documents carry the commit LSN as their version).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// statusInterval is the longest time between two standby status
	// updates; Postgres drops a silent client after wal_sender_timeout
	// (60 s by default).
	statusInterval = 10 * time.Second
	// confirmDelay is how soon a newly confirmed position is reported.
	confirmDelay = 100 * time.Millisecond
	// maxInFlightBytes bounds the payload of unsettled changes, whatever
	// the window: rows with large old values stay in memory until acked.
	maxInFlightBytes = 64 << 20
	// ackTimeout is how long an asynchronous publish waits for its PubAck
	// before it is retried.
	ackTimeout = 5 * time.Second
	// retryFor is how long a change whose publish fails is retried before
	// the stream gives up and restarts from the confirmed position. A full
	// stream is waited for without limit.
	retryFor = 30 * time.Second
	// drainTimeout bounds how long a shutdown waits for in-flight PubAcks.
	drainTimeout = 10 * time.Second
	// capturedInterval is how often the changes.captured counts are sent.
	capturedInterval = 5 * time.Second
	// heartbeatInterval is how often an active capture says it is alive.
	heartbeatInterval = 10 * time.Second
	// pollInterval is how often the loop looks at PubAcks while changes are
	// in flight and the slot is quiet.
	pollInterval = 20 * time.Millisecond
	// sqlstateObjectInUse is what START_REPLICATION fails with when another
	// connection holds the slot.
	sqlstateObjectInUse = "55006"
)

// stream streams the slot from start until ctx ends or something fails.
// conn is a replication connection (replication=database) in the idle
// state. On ctx's end it waits, within drainTimeout, for what is in flight,
// confirms what got stored and returns ctx.Err().
func (c *Capture) stream(ctx context.Context, conn *pgconn.PgConn, start changes.LSN) error {
	slot := c.cfg.Capture.Slot
	err := pglogrepl.StartReplication(ctx, conn, slot, pglogrepl.LSN(start), pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		// Slot and publication names are identifiers (checked by config):
		// they need no quoting beyond the literal.
		PluginArgs: []string{"proto_version '1'", "publication_names '" + c.cfg.Capture.Publication + "'"},
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == sqlstateObjectInUse {
			return fmt.Errorf("slot %s: %w (%s)", slot, errSlotActive, pgErr.Message)
		}
		return fmt.Errorf("start replication on slot %s: %w", slot, err)
	}
	s, err := c.newStreamer(conn, start)
	if err != nil {
		return err
	}
	defer s.js.CleanupPublisher()

	c.log.Info("streaming", "slot", slot, "publication", c.cfg.Capture.Publication, "from", start)
	c.emit(ctx, events.LiveStarted, events.LiveStartedData{Slot: slot, StartLSN: start.String()})
	// The reports outlive ctx until the drain below is done, so that the
	// last counts include it.
	reports, stopReports := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.report(reports, s.stats)
	}()
	defer func() {
		stopReports()
		wg.Wait()
	}()
	// A cancelled ctx interrupts a read at once.
	stopWatch := context.AfterFunc(ctx, func() { _ = conn.Conn().SetReadDeadline(time.Now()) })
	defer stopWatch()

	err = s.run(ctx)
	if ctx.Err() == nil {
		return err
	}
	// Clean shutdown: confirm what the in-flight PubAcks allow.
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	_ = conn.Conn().SetReadDeadline(time.Time{})
	if err := s.settle(drain, settleAll); err != nil {
		c.log.Warn("shutdown: not every change in flight was stored; they will be published again", "err", err)
	}
	if err := s.sendStatus(); err != nil {
		c.log.Warn("shutdown: final status update failed", "err", err)
	} else {
		c.log.Info("stopped streaming", "confirmed", s.acked)
	}
	return ctx.Err()
}

// streamer is the state of one stream run.
type streamer struct {
	c      *Capture
	conn   *pgconn.PgConn
	js     jetstream.JetStream // a publisher of its own: its async state is this run's
	dec    *decoder
	window int
	stats  *captureStats

	queue      queue
	inFlight   int // changes in the queue
	bytes      int // their payload
	acked      changes.LSN
	sent       changes.LSN // last position reported to Postgres
	lastStatus time.Time
	deadline   time.Time // of the connection's reads

	// The open transaction's truncated tables.
	truncated []config.TableRef

	subjects map[config.TableRef]string
	kind     []string
	version  []string
}

func (c *Capture) newStreamer(conn *pgconn.PgConn, start changes.LSN) (*streamer, error) {
	window := max(c.cfg.Capture.PublishWindow, 1)
	opts := c.js.Options()
	jsOpts := []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncMaxPending(window + 1),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
	}
	var (
		js  jetstream.JetStream
		err error
	)
	switch {
	case opts.Domain != "":
		js, err = jetstream.NewWithDomain(c.js.Conn(), opts.Domain, jsOpts...)
	case opts.APIPrefix != "":
		js, err = jetstream.NewWithAPIPrefix(c.js.Conn(), opts.APIPrefix, jsOpts...)
	default:
		js, err = jetstream.New(c.js.Conn(), jsOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return &streamer{
		c: c, conn: conn, js: js, dec: newDecoder(c.resolver.KeyColumns), window: window,
		stats: newCaptureStats(start), acked: start, sent: 0, subjects: map[config.TableRef]string{},
		kind: []string{string(changes.KindChange)}, version: []string{strconv.Itoa(changes.Version)},
	}, nil
}

// run reads the replication stream until an error.
func (s *streamer) run(ctx context.Context) error {
	if err := s.sendStatus(); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.settle(ctx, settleReady); err != nil {
			return err
		}
		if err := s.statusIfDue(); err != nil {
			return err
		}
		s.setDeadline()
		msg, err := s.conn.ReceiveMessage(context.Background())
		if err != nil {
			if pgconn.Timeout(err) {
				s.deadline = time.Time{}
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("replication stream of slot %s: %w", s.c.cfg.Capture.Slot, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := s.copyData(ctx, m.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication stream of slot %s: %w", s.c.cfg.Capture.Slot, pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return fmt.Errorf("replication stream of slot %s: the server ended it", s.c.cfg.Capture.Slot)
		}
	}
}

// setDeadline sets when the next read gives up, so that PubAcks and status
// updates are looked at in time. A deadline that passes while messages
// flow costs one turn of the loop.
func (s *streamer) setDeadline() {
	now := time.Now()
	wait := max(time.Until(s.lastStatus.Add(statusInterval)), time.Millisecond)
	wait = min(wait, time.Second) // ctx's end also interrupts reads; this is a bound
	if s.queue.len() > 0 || s.acked > s.sent {
		wait = min(wait, pollInterval)
	}
	if s.deadline.IsZero() || s.deadline.After(now.Add(wait)) {
		s.deadline = now.Add(wait)
		_ = s.conn.Conn().SetReadDeadline(s.deadline)
	}
}

func (s *streamer) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("replication stream: %w", err)
		}
		// Between transactions, everything up to the server's position has
		// been received: once it is stored, that position can be confirmed,
		// so that WAL of tables no index reads is released.
		if !s.dec.inTransaction() {
			s.mark(changes.LSN(pkm.ServerWALEnd), 0)
		}
		if pkm.ReplyRequested {
			return s.sendStatus()
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("replication stream: %w", err)
		}
		d, err := s.dec.decode(changes.LSN(xld.WALStart), xld.WALData)
		if err != nil {
			return err
		}
		switch d.kind {
		case decodedBegin:
			s.truncated = s.truncated[:0]
		case decodedChange:
			for _, ch := range d.changes {
				if err := s.publish(ctx, ch); err != nil {
					return err
				}
			}
			s.truncated = append(s.truncated, d.truncated...)
		case decodedCommit:
			if len(s.truncated) > 0 {
				if err := s.reseedTruncated(ctx); err != nil {
					return err
				}
			}
			s.mark(d.endLSN, 1)
		}
	}
	return nil
}

// publish sends a change, first waiting for room in the window.
func (s *streamer) publish(ctx context.Context, ch *changes.Change) error {
	for s.inFlight >= s.window || s.bytes >= maxInFlightBytes {
		if err := s.settle(ctx, settleOne); err != nil {
			return err
		}
	}
	data, err := changes.Encode(ch)
	if err != nil {
		return err
	}
	ref := config.TableRef{Schema: ch.Schema, Name: ch.Table}
	subject, ok := s.subjects[ref]
	if !ok {
		subject = s.c.names.ChangeSubject(ch.Schema, ch.Table)
		s.subjects[ref] = subject
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{
		changes.HeaderKind: s.kind, changes.HeaderVersion: s.version,
	}}
	e := entry{msg: msg, id: ch.MsgID(), table: subject, lsn: ch.LSN}
	e.fut, e.err = s.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.id))
	s.queue.push(e)
	s.inFlight++
	s.bytes += len(data)
	return nil
}

// mark queues position end, to be confirmed once everything before it is
// stored; txns is the number of transactions it closes.
func (s *streamer) mark(end changes.LSN, txns int) {
	if end <= s.acked {
		s.stats.addTxns(txns)
		return
	}
	if s.queue.len() == 0 {
		s.acked = end
		s.stats.confirm(end, txns)
		return
	}
	if t := s.queue.tail(); t.isMark {
		t.lsn = max(t.lsn, end)
		t.txns += txns
		return
	}
	s.queue.push(entry{isMark: true, lsn: end, txns: txns})
}

type settleMode int

const (
	settleReady settleMode = iota // what has settled already, without waiting
	settleOne                     // wait for the head to settle, then what is ready
	settleAll                     // wait until the queue is empty
)

// settle pops settled entries from the head of the queue: changes with
// their PubAck (a failed one is published again first) and marks, which
// advance the confirmed position. While it waits it keeps Postgres informed.
func (s *streamer) settle(ctx context.Context, mode settleMode) error {
	wait := mode != settleReady
	var ticker *time.Ticker
	for s.queue.len() > 0 {
		e := s.queue.head()
		if e.isMark {
			s.acked = e.lsn
			s.stats.confirm(e.lsn, e.txns)
			s.queue.pop()
			continue
		}
		var failed error
		if e.err != nil {
			failed = e.err
		} else {
			okCh, errCh := e.fut.Ok(), e.fut.Err()
			if !wait {
				select {
				case <-okCh:
				case failed = <-errCh:
				default:
					return nil
				}
			} else {
				if ticker == nil {
					ticker = time.NewTicker(statusInterval / 2)
					defer ticker.Stop()
				}
				select {
				case <-okCh:
				case failed = <-errCh:
				case <-ticker.C:
					if err := s.sendStatus(); err != nil {
						return err
					}
					continue
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if failed != nil {
			if err := s.republish(ctx, e, failed); err != nil {
				return err
			}
		}
		s.stats.change(e.table)
		s.inFlight--
		s.bytes -= len(e.msg.Data)
		s.queue.pop()
		if mode == settleOne {
			wait = false
		}
	}
	return nil
}

// republish publishes a change again, synchronously, until it is stored:
// a full stream is waited for as long as it takes, other failures for
// retryFor.
func (s *streamer) republish(ctx context.Context, e *entry, cause error) error {
	giveUp := time.Now().Add(retryFor)
	backoff := 50 * time.Millisecond
	lastStatus := time.Now()
	for attempt := 1; ; attempt++ {
		full := changes.IsStreamFull(cause)
		if !full && time.Now().After(giveUp) {
			return fmt.Errorf("publish change %s on %s: %w", e.id, e.msg.Subject, cause)
		}
		if attempt == 1 || attempt%20 == 0 {
			if full {
				s.c.log.Warn("the changes stream is full; waiting for room", "stream", s.c.names.ChangesStream(), "change", e.id)
			} else {
				s.c.log.Warn("publish failed; retrying", "change", e.id, "err", cause, "attempt", attempt)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		if time.Since(lastStatus) > statusInterval/2 {
			if err := s.sendStatus(); err != nil {
				return err
			}
			lastStatus = time.Now()
		}
		pctx, cancel := context.WithTimeout(ctx, ackTimeout)
		_, err := s.js.PublishMsg(pctx, e.msg, jetstream.WithMsgID(e.id))
		cancel()
		if err == nil {
			return nil
		}
		cause = err
	}
}

// reseedTruncated asks for a reseed of the indexes reading the tables the
// open transaction truncated, once its changes are stored. The transaction
// is confirmed only after the request succeeded, so a failure replays it.
func (s *streamer) reseedTruncated(ctx context.Context) error {
	if err := s.settle(ctx, settleAll); err != nil {
		return err
	}
	tables := slices.Compact(slices.SortedFunc(slices.Values(s.truncated), func(a, b config.TableRef) int {
		return strings.Compare(a.String(), b.String())
	}))
	indexes := map[string]bool{}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.String()
		for _, ix := range s.c.indexesReading(t) {
			indexes[ix] = true
		}
	}
	s.truncated = s.truncated[:0]
	if len(indexes) == 0 {
		return nil
	}
	affected := slices.Sorted(maps.Keys(indexes))
	reason := "truncate of " + strings.Join(names, ", ")
	s.c.log.Info("reseeding after a truncate", "indexes", affected, "reason", reason)
	// The request may take a while: keep the replication connection alive.
	done := make(chan error, 1)
	go func() { done <- s.c.reseed(ctx, affected, reason) }()
	ticker := time.NewTicker(statusInterval / 2)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("reseed %s after the %s: %w", strings.Join(affected, ", "), reason, err)
			}
			return nil
		case <-ticker.C:
			if err := s.sendStatus(); err != nil {
				<-done
				return err
			}
		}
	}
}

// statusIfDue reports the confirmed position when it advanced (at most
// every confirmDelay) and at least every statusInterval.
func (s *streamer) statusIfDue() error {
	since := time.Since(s.lastStatus)
	if since >= statusInterval || (s.acked > s.sent && since >= confirmDelay) {
		return s.sendStatus()
	}
	return nil
}

// sendStatus confirms the acked position to Postgres: written, flushed and
// applied, since it is stored in JetStream.
func (s *streamer) sendStatus() error {
	pos := pglogrepl.LSN(s.acked)
	if err := pglogrepl.SendStandbyStatusUpdate(context.Background(), s.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pos, WALFlushPosition: pos, WALApplyPosition: pos,
	}); err != nil {
		return fmt.Errorf("standby status update to slot %s: %w", s.c.cfg.Capture.Slot, err)
	}
	s.sent, s.lastStatus = s.acked, time.Now()
	return nil
}

// entry is a published change or a mark in the queue.
type entry struct {
	isMark bool
	lsn    changes.LSN // a change's commit LSN; a mark's position to confirm
	txns   int         // transactions a mark closes

	msg   *nats.Msg
	id    string
	table string // subject, for the counts
	fut   jetstream.PubAckFuture
	err   error // the publish failed before it was sent
}

// queue is a FIFO of entries.
type queue struct {
	items []entry
	first int
}

func (q *queue) len() int     { return len(q.items) - q.first }
func (q *queue) head() *entry { return &q.items[q.first] }
func (q *queue) tail() *entry { return &q.items[len(q.items)-1] }
func (q *queue) push(e entry) { q.items = append(q.items, e) }
func (q *queue) pop() {
	q.items[q.first] = entry{}
	q.first++
	switch {
	case q.first == len(q.items):
		q.items, q.first = q.items[:0], 0
	case q.first >= 1024 && q.first >= len(q.items)/2:
		n := copy(q.items, q.items[q.first:])
		clear(q.items[n:])
		q.items, q.first = q.items[:n], 0
	}
}

// captureStats are the counts behind changes.captured, shared with the
// reporting goroutine.
type captureStats struct {
	mu        sync.Mutex
	changes   int64
	txns      int64
	tables    map[string]int64 // by subject
	lastLSN   changes.LSN
	confirmed changes.LSN
}

func newCaptureStats(start changes.LSN) *captureStats {
	return &captureStats{tables: map[string]int64{}, confirmed: start}
}

func (st *captureStats) change(subject string) {
	st.mu.Lock()
	st.changes++
	st.tables[subject]++
	st.mu.Unlock()
}

func (st *captureStats) addTxns(n int) {
	st.mu.Lock()
	st.txns += int64(n)
	st.mu.Unlock()
}

func (st *captureStats) confirm(lsn changes.LSN, txns int) {
	st.mu.Lock()
	st.txns += int64(txns)
	st.confirmed = lsn
	if txns > 0 {
		st.lastLSN = lsn
	}
	st.mu.Unlock()
}

// take returns the counts since the previous take, by schema.table; ok is
// false when nothing happened.
func (st *captureStats) take(names changes.Names) (events.ChangesCapturedData, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.changes == 0 && st.txns == 0 {
		return events.ChangesCapturedData{}, false
	}
	prefix := "flusso." + names.Pipeline + ".changes."
	d := events.ChangesCapturedData{
		Changes: st.changes, Transactions: st.txns, Tables: make(map[string]int64, len(st.tables)),
		LastLSN: st.lastLSN.String(), ConfirmedLSN: st.confirmed.String(),
	}
	for subject, n := range st.tables {
		d.Tables[strings.TrimPrefix(subject, prefix)] = n
	}
	st.changes, st.txns = 0, 0
	clear(st.tables)
	return d, true
}

// report emits the events of an active capture until ctx ends: slot lag,
// changes captured, heartbeats.
func (c *Capture) report(ctx context.Context, st *captureStats) {
	captured := time.NewTicker(capturedInterval)
	defer captured.Stop()
	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	var lagC <-chan time.Time
	if d := c.cfg.Capture.LagInterval.D(); d > 0 {
		lag := time.NewTicker(d)
		defer lag.Stop()
		lagC = lag.C
		c.reportLag(ctx)
	}
	c.emit(ctx, events.Heartbeat, events.HeartbeatData{Instance: c.instance, UptimeSeconds: int64(time.Since(c.started).Seconds()), Role: "active"})
	for {
		select {
		case <-ctx.Done():
			if d, ok := st.take(c.names); ok {
				c.emit(context.WithoutCancel(ctx), events.ChangesCaptured, d)
			}
			return
		case <-captured.C:
			if d, ok := st.take(c.names); ok {
				c.emit(ctx, events.ChangesCaptured, d)
			}
		case <-lagC:
			c.reportLag(ctx)
		case <-heartbeat.C:
			c.emit(ctx, events.Heartbeat, events.HeartbeatData{Instance: c.instance, UptimeSeconds: int64(time.Since(c.started).Seconds()), Role: "active"})
		}
	}
}

// reportLag samples how far the slot's confirmed position is behind the
// WAL.
func (c *Capture) reportLag(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var current, confirmed string
	var lag int64
	err := c.pool.QueryRow(qctx, `SELECT pg_current_wal_lsn()::text, coalesce(confirmed_flush_lsn::text, ''),
		coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, c.cfg.Capture.Slot).Scan(&current, &confirmed, &lag)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("slot lag not sampled", "slot", c.cfg.Capture.Slot, "err", err)
		}
		return
	}
	c.emit(ctx, events.SlotLag, events.SlotLagData{Slot: c.cfg.Capture.Slot, LagBytes: lag, ConfirmedLSN: confirmed, CurrentLSN: current})
}
