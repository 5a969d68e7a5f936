package capture

// Backfill planning: an index generation is seeded by counting and scanning
// its root table's keys under one snapshot and publishing key ranges of
// Capture.BackfillChunk keys as tasks, which the indexer replicas share. The
// capture never builds a document; it holds one chunk's bounds at a time,
// whatever the table's size.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// seeding is one index generation to seed, as recorded (pending) in the
// state bucket.
type seeding struct {
	ix    *config.Index
	state IndexState
	rev   uint64 // revision of our last write of index.<name>
}

// reseed seeds new generations of the named indexes under a fresh snapshot,
// while the stream goes on: it is how a reindex command or a TRUNCATE of a
// table an index reads (indexesReading) is acted on. The slot stays where
// it is, behind the snapshot, so every change committed after it is still
// streamed. Unknown or disabled indexes are an error; a seeding that a
// newer one replaced meanwhile is not.
func (c *Capture) reseed(ctx context.Context, indexes []string, reason string) error {
	st, err := c.stateStore(ctx)
	if err != nil {
		return err
	}
	var todo []*seeding
	for _, name := range indexes {
		ix := c.cfg.Index(name)
		if ix == nil || !ix.Enabled || ix.Schema == nil {
			return fmt.Errorf("reseed %s: no such enabled index", name)
		}
		if slices.ContainsFunc(todo, func(s *seeding) bool { return s.ix == ix }) {
			continue
		}
		s, err := c.request(ctx, st, ix, reason, false)
		if err != nil {
			return err
		}
		todo = append(todo, s)
	}
	return c.seedFresh(ctx, st, todo)
}

// indexesReading names the enabled indexes that read a table (root, related,
// junction or aggregated): those a TRUNCATE of it must reseed.
func (c *Capture) indexesReading(ref config.TableRef) []string {
	var out []string
	for _, ix := range c.cfg.Indexes {
		if ix.Enabled && ix.Schema != nil && slices.Contains(ix.Schema.Tables(), ref) {
			out = append(out, ix.Name)
		}
	}
	return out
}

// request records that ix is to be seeded: a pending state with a new
// generation, or, for resume, the generation of a pending state no task was
// published for. It retries when another writer got in between.
func (c *Capture) request(ctx context.Context, st *stateStore, ix *config.Index, reason string, resume bool) (*seeding, error) {
	hash := ix.Schema.Hash()
	for attempt := 0; ; attempt++ {
		prev, rev, err := st.index(ctx, ix.Name)
		if err != nil {
			return nil, err
		}
		next := IndexState{Index: ix.Name, Hash: hash, Generation: 1, State: statePending, Reason: reason, RequestedAt: time.Now().UTC(), Sinks: c.sinkStores()}
		if prev != nil {
			next.Generation = prev.Generation + 1
			next.Serving = prev.Serving
			if prev.State == stateSeeded {
				next.Serving = &Generation{Hash: prev.Hash, Generation: prev.Generation}
			}
			if resume && prev.State == statePending && prev.Hash == hash {
				next.Generation, next.RequestedAt = prev.Generation, prev.RequestedAt
			}
		}
		rev, err = st.put(ctx, indexKey(ix.Name), next, rev)
		if errors.Is(err, errSuperseded) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &seeding{ix: ix, state: next, rev: rev}, nil
	}
}

// seedFresh plans seedings under a snapshot taken now. The slot is behind
// that point, so it is safe: documents are built from the database's
// current state when an indexer runs a task, whatever the snapshot; the
// snapshot LSN only versions them. A transaction the snapshot misses
// commits after it, so its changes are streamed with a commit LSN at or
// above the snapshot LSN and are written over (or beside) the backfilled
// documents; one whose commit record precedes the snapshot LSN had
// committed before the indexer's later build, which sees it.
//
// The snapshot LSN is pg_current_wal_insert_lsn(), not pg_current_wal_lsn():
// the latter is the WAL write position, which with asynchronous commit lags
// behind commits the snapshot already sees and stays put on an idle
// database.
func (c *Capture) seedFresh(ctx context.Context, st *stateStore, todo []*seeding) error {
	if len(todo) == 0 {
		return nil
	}
	// A commit record moves the WAL, so this snapshot's LSN is after any
	// earlier seeding's, and its tasks' message ids (index, hash, snapshot
	// LSN, seq) are not dropped as duplicates of an earlier seeding's on an
	// idle database. The transaction changes nothing: pgoutput skips it.
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`)
		return err
	})
	if err != nil {
		return fmt.Errorf("backfill: move the WAL: %w", err)
	}
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("backfill: snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	// The first statement takes the snapshot; the LSN is read after it.
	var text string
	if err := tx.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&text); err != nil {
		return fmt.Errorf("backfill: snapshot: %w", err)
	}
	lsn, err := changes.ParseLSN(text)
	if err != nil {
		return fmt.Errorf("backfill: snapshot: %w", err)
	}
	for _, s := range todo {
		if err := c.plan(ctx, tx, st, s, lsn); err != nil {
			return err
		}
	}
	return nil // the read-only transaction ends with the deferred rollback
}

// emitIfCompleted emits BackfillCompleted when every enabled index is
// seeded. Whoever marks the last one seeded sees that: the capture for an
// empty root table, else an indexer (two racing may both report it).
func (c *Capture) emitIfCompleted(ctx context.Context, st *stateStore) {
	names := c.cfg.EnabledIndexes()
	for _, name := range names {
		s, _, err := st.index(ctx, name)
		if err != nil || s == nil || s.State != stateSeeded {
			return // a failed read costs only the event
		}
	}
	c.emit(ctx, events.BackfillCompleted, events.BackfillCompletedData{Indexes: names})
}

// rootKey is the key of an index's documents: the schema's primary_key, or
// the root table's primary key.
func (c *Capture) rootKey(ctx context.Context, ix *config.Index) ([]string, error) {
	if len(ix.Schema.PrimaryKey) > 0 {
		return ix.Schema.PrimaryKey, nil
	}
	t, err := c.cat.Table(ctx, ix.Schema.Table)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", ix.Name, err)
	}
	key, err := t.Key()
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", ix.Name, err)
	}
	return key, nil
}

// plan counts the root keys of a seeding in tx's snapshot, records the
// totals, then streams the keys in key order and publishes one task per
// chunk. An empty root table is seeded at once.
func (c *Capture) plan(ctx context.Context, tx pgx.Tx, st *stateStore, s *seeding, snapshot changes.LSN) error {
	ix := s.ix
	keyCols, err := c.rootKey(ctx, ix)
	if err != nil {
		return err
	}
	root := pgx.Identifier{ix.Schema.Table.Schema, ix.Schema.Table.Name}.Sanitize()
	quoted := make([]string, len(keyCols))
	texts := make([]string, len(keyCols))
	notNull := make([]string, len(keyCols))
	for i, k := range keyCols {
		// Qualified: a bare name in ORDER BY would sort the text output
		// column of that name instead (10 before 9).
		quoted[i] = "r." + pgx.Identifier{k}.Sanitize()
		texts[i] = quoted[i] + "::text"
		notNull[i] = quoted[i] + " IS NOT NULL"
	}
	// A row with a null key has no document: the scan and the count skip it.
	where := strings.Join(notNull, " AND ")

	var count int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+root+" AS r WHERE "+where).Scan(&count); err != nil {
		return fmt.Errorf("backfill %s: count %s: %w", ix.Name, ix.Schema.Table, err)
	}
	chunk := int64(max(c.cfg.Capture.BackfillChunk, 1))
	now := time.Now().UTC()
	s.state.SnapshotLSN, s.state.Keys, s.state.KeyColumns, s.state.PlannedAt = snapshot, count, keyCols, &now
	s.state.Tasks = int((count + chunk - 1) / chunk)
	s.state.State = stateBackfilling
	if count == 0 {
		s.state.State, s.state.SeededAt = stateSeeded, &now
	}
	rev, err := st.advance(ctx, s.state, s.rev)
	if errors.Is(err, errSuperseded) {
		c.log.Info("seeding replaced by a newer one", "index", ix.Name, "generation", s.state.Generation)
		return nil
	}
	if err != nil {
		return err
	}
	s.rev = rev
	c.emit(ctx, events.BackfillStarted, events.BackfillStartedData{
		Index: ix.Name, Hash: s.state.Hash, Generation: s.state.Generation, Reason: s.state.Reason, Tasks: s.state.Tasks, Keys: count, SnapshotLSN: snapshot.String(),
	})
	c.log.Info("seeding index", "index", ix.Name, "hash", s.state.Hash, "generation", s.state.Generation,
		"reason", s.state.Reason, "keys", count, "tasks", s.state.Tasks, "snapshot_lsn", snapshot)
	if count == 0 {
		c.emit(ctx, events.IndexSeeded, events.IndexSeededData{Index: ix.Name, Hash: s.state.Hash, Generation: s.state.Generation})
		c.emitIfCompleted(ctx, st)
		return nil
	}

	rows, err := tx.Query(ctx, "SELECT "+strings.Join(texts, ", ")+" FROM "+root+" AS r WHERE "+where+" ORDER BY "+strings.Join(quoted, ", "))
	if err != nil {
		return fmt.Errorf("backfill %s: scan %s: %w", ix.Name, ix.Schema.Table, err)
	}
	defer rows.Close()
	task := changes.Task{Index: ix.Name, Hash: s.state.Hash, SnapshotLSN: snapshot, Tasks: s.state.Tasks, KeyColumns: keyCols}
	key := make([]string, len(keyCols))
	scan := make([]any, len(keyCols))
	for i := range key {
		scan[i] = &key[i]
	}
	var seen int64
	for rows.Next() {
		if err := rows.Scan(scan...); err != nil {
			return fmt.Errorf("backfill %s: scan %s: %w", ix.Name, ix.Schema.Table, err)
		}
		seen++
		if task.Keys == 0 {
			task.From = slices.Clone(key)
		}
		task.Keys++
		if int64(task.Keys) == chunk {
			task.To = slices.Clone(key)
			if err := c.publishTask(ctx, &task); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill %s: scan %s: %w", ix.Name, ix.Schema.Table, err)
	}
	if task.Keys > 0 {
		task.To = slices.Clone(key)
		if err := c.publishTask(ctx, &task); err != nil {
			return err
		}
	}
	// Same snapshot, same rows: anything else is a bug that would leave
	// the generation waiting for tasks that never come.
	if seen != count || task.Seq != s.state.Tasks {
		return fmt.Errorf("backfill %s: counted %d keys (%d tasks) but scanned %d (%d tasks)", ix.Name, count, s.state.Tasks, seen, task.Seq)
	}
	return nil
}

// publishTask publishes the next task of a seeding and resets the chunk.
func (c *Capture) publishTask(ctx context.Context, t *changes.Task) error {
	t.Seq++
	data, err := changes.Encode(t)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(c.names.TaskSubject(t.Index))
	msg.Header.Set(changes.HeaderKind, string(changes.KindTask))
	msg.Header.Set(changes.HeaderVersion, strconv.Itoa(changes.Version))
	msg.Data = data
	if _, err := c.js.PublishMsg(ctx, msg, jetstream.WithMsgID(t.MsgID())); err != nil {
		return fmt.Errorf("backfill %s: publish task %d of %d: %w", t.Index, t.Seq, t.Tasks, err)
	}
	t.Keys, t.From, t.To = 0, nil, nil
	return nil
}

// tasksPublished reports whether every task of a backfilling generation
// reached the stream: tasks go out in order, so the last one on the index's
// subject tells.
func (c *Capture) tasksPublished(ctx context.Context, s *IndexState) (bool, error) {
	stream, err := c.js.Stream(ctx, c.names.ChangesStream())
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", c.names.ChangesStream(), err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, c.names.TaskSubject(s.Index))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stream %s: last task of %s: %w", c.names.ChangesStream(), s.Index, err)
	}
	var t changes.Task
	if err := json.Unmarshal(msg.Data, &t); err != nil {
		return false, nil
	}
	return t.Hash == s.Hash && t.SnapshotLSN == s.SnapshotLSN && t.Seq == s.Tasks && t.Tasks == s.Tasks, nil
}
