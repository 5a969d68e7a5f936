package indexer

// Backfill tasks and the index state. The capture records each index's
// generation in the state bucket (index.<name>, see services/capture/
// state.go) and publishes the key ranges that seed it as tasks. The indexer
// builds a task's range, counts the task done in progress.<index>.<generation>
// (a set of task numbers, so a redelivered task counts once), and when every
// task is done marks the generation seeded, naming the revision it read and
// only if the generation is still the one the tasks belong to. It keeps the
// sinks' targets in step with the state: the generations written, the one
// serving reads.

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
	"github.com/flusso-go/flusso/pkg/mapping"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

const stateSeeded = "seeded"

// indexState is what the indexer reads of index.<name>.
type indexState struct {
	Index       string      `json:"index"`
	Hash        string      `json:"hash"`
	Generation  int         `json:"generation"`
	State       string      `json:"state"`
	SnapshotLSN changes.LSN `json:"snapshot_lsn"`
	Tasks       int         `json:"tasks"`
	Serving     *struct {
		Hash       string `json:"hash"`
		Generation int    `json:"generation"`
	} `json:"serving"`
}

// progress is the value of progress.<index>.<generation>.
type progress struct {
	Hash        string      `json:"hash"`
	SnapshotLSN changes.LSN `json:"snapshot_lsn"`
	Tasks       int         `json:"tasks"`
	Done        []int       `json:"done"`
}

func progressKey(index string, generation int) string {
	return "progress." + index + "." + strconv.Itoa(generation)
}

// readState reads index.<name>: the state, its raw fields (to rewrite it
// without losing any) and its revision; nil when absent.
func (ix *Indexer) readState(ctx context.Context, index string) (*indexState, map[string]json.RawMessage, uint64, error) {
	e, err := ix.kv.Get(ctx, "index."+index)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, 0, nil
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read state index.%s: %w", index, err)
	}
	var st indexState
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, nil, 0, fmt.Errorf("read state index.%s: %w", index, err)
	}
	if err := json.Unmarshal(e.Value(), &raw); err != nil {
		return nil, nil, 0, fmt.Errorf("read state index.%s: %w", index, err)
	}
	return &st, raw, e.Revision(), nil
}

// ensure brings every sink's target of the indexes in line with the state,
// and makes a seeded generation serve.
func (ix *Indexer) ensure(ctx context.Context, indexes []string) error {
	for _, index := range indexes {
		st, _, _, err := ix.readState(ctx, index)
		if err != nil {
			return err
		}
		if st == nil {
			continue // not planned yet: the capture writes it before any change or task
		}
		if err := ix.keepServing(ctx, index, st); err != nil {
			return err
		}
		cur := sink.Generation{Hash: st.Hash, Number: st.Generation}
		fp := fmt.Sprintf("%s/%d/%s", st.Hash, st.Generation, st.State)
		t := sink.Target{Index: index, Write: []sink.Generation{cur}}
		if st.State == stateSeeded {
			t.Serving = &cur
		} else if st.Serving != nil {
			serving := sink.Generation{Hash: st.Serving.Hash, Number: st.Serving.Generation}
			t.Serving = &serving
			// A reindex of the same schema writes both generations, so reads
			// never see a gap. A new schema's documents do not fit the serving
			// generation's strict mapping: it gets its own schema's (serving.go).
			if serving.Hash == cur.Hash {
				t.Write = append([]sink.Generation{serving}, cur)
			}
			fp += fmt.Sprintf("/%s/%d", serving.Hash, serving.Number)
		}
		for _, s := range ix.sinks {
			key := s.Name() + "\x00" + index
			ix.mu.Lock()
			done, seeded := ix.ensured[key] == fp, ix.seeded[key+"\x00"+fp]
			ix.mu.Unlock()
			if !done {
				if t.Body, err = ix.body(s.Name(), index); err != nil {
					return err
				}
				if err := s.Ensure(ctx, t); err != nil {
					return fmt.Errorf("sink %s: ensure %s: %w", s.Name(), index, err)
				}
				ix.mu.Lock()
				ix.ensured[key] = fp
				ix.mu.Unlock()
			}
			if st.State == stateSeeded && !seeded {
				if err := s.Seeded(ctx, index, cur); err != nil {
					return fmt.Errorf("sink %s: seeded %s: %w", s.Name(), index, err)
				}
				ix.mu.Lock()
				ix.seeded[key+"\x00"+fp] = true
				ix.mu.Unlock()
			}
			if !done {
				ix.emit(ctx, events.IndexesEnsured, ensuredData(ix.instance, s.Name(), t))
			}
		}
	}
	return nil
}

// ensuredData reports the target a sink was brought in line with.
func ensuredData(instance, sinkName string, t sink.Target) events.IndexesEnsuredData {
	d := events.IndexesEnsuredData{Instance: instance, Sink: sinkName, Index: t.Index, Write: []events.GenerationRef{}}
	for _, g := range t.Write {
		d.Write = append(d.Write, events.GenerationRef{Hash: g.Hash, Generation: g.Number})
	}
	if t.Serving != nil {
		d.Serving = &events.GenerationRef{Hash: t.Serving.Hash, Generation: t.Serving.Number}
	}
	return d
}

// body is the index body of a new generation for an OpenSearch sink; nil
// for other sinks.
func (ix *Indexer) body(sinkName, index string) (map[string]any, error) {
	for _, sc := range ix.cfg.Sinks {
		if sc.Name == sinkName && sc.Type == config.SinkOpenSearch && sc.OpenSearch != nil {
			b, err := mapping.Body(ix.indexes[index].Schema, mapping.OptionsFor(sc.OpenSearch))
			if err != nil {
				return nil, fmt.Errorf("index %s: mapping for sink %s: %w", index, sinkName, err)
			}
			return b, nil
		}
	}
	return nil, nil
}

// processTask builds and writes a task's key range, counts it done, and
// acks it.
func (ix *Indexer) processTask(ctx context.Context, w *watch, tm taskMsg) error {
	t := tm.task
	b := ix.builders[t.Index]
	if b == nil {
		return fmt.Errorf("backfill task %s #%d: index %s is not enabled in this indexer's config", t.Index, t.Seq, t.Index)
	}
	st, _, _, err := ix.readState(ctx, t.Index)
	if err != nil {
		return err
	}
	if st == nil || st.Hash != t.Hash || st.SnapshotLSN != t.SnapshotLSN {
		ix.log.Info("backfill task of a superseded seeding; dropped", "index", t.Index, "task", t.Seq, "hash", t.Hash)
		return ackAll([]jetstream.Msg{tm.msg})
	}
	if st.State == stateSeeded {
		if err := ix.ensure(ctx, []string{t.Index}); err != nil {
			return err
		}
		return ackAll([]jetstream.Msg{tm.msg})
	}
	if !slices.Equal(b.KeyColumns(), t.KeyColumns) {
		return fmt.Errorf("backfill task %s #%d: key (%s), the index's key is (%s)", t.Index, t.Seq, strings.Join(t.KeyColumns, ", "), strings.Join(b.KeyColumns(), ", "))
	}
	keys, err := ix.taskKeys(ctx, t)
	if err != nil {
		return err
	}
	docs := 0
	var flush time.Duration
	size := max(ix.cfg.Indexer.BatchSize, 1)
	for chunk := range slices.Chunk(keys, size) {
		wanted := make(map[string]*want, len(chunk))
		for _, k := range chunk {
			wanted[strings.Join(k, ":")] = &want{key: k, version: uint64(t.SnapshotLSN)}
		}
		ops, err := ix.build(ctx, b, t.Index, wanted, nil)
		if err != nil {
			return err
		}
		spent, err := ix.write(ctx, w, ops)
		flush += spent
		if err != nil {
			return err
		}
		docs += len(ops)
	}
	seeded, err := ix.finishTask(ctx, t, st.Generation)
	if err != nil {
		return err
	}
	if err := ackAll([]jetstream.Msg{tm.msg}); err != nil {
		return err
	}
	ix.emit(ctx, events.BackfillProgress, events.BackfillProgressData{Index: t.Index, Hash: t.Hash, Generation: st.Generation, Task: t.Seq, Tasks: t.Tasks, Keys: int64(len(keys)), Documents: int64(docs)})
	ix.emit(ctx, events.BatchCommitted, events.BatchCommittedData{Instance: ix.instance, Tasks: 1, Documents: docs, Indexes: map[string]int{t.Index: docs}, FlushMicros: flush.Microseconds()})
	if seeded {
		ix.log.Info("index seeded", "index", t.Index, "hash", t.Hash, "generation", st.Generation)
		ix.emit(ctx, events.IndexSeeded, events.IndexSeededData{Index: t.Index, Hash: t.Hash, Generation: st.Generation})
		ix.emitIfCompleted(ctx)
	}
	return nil
}

// emitIfCompleted emits BackfillCompleted when every enabled index is
// seeded: the replica that marks the last one sees it (two racing may both
// report it).
func (ix *Indexer) emitIfCompleted(ctx context.Context) {
	names := ix.cfg.EnabledIndexes()
	for _, name := range names {
		st, _, _, err := ix.readState(ctx, name)
		if err != nil || st == nil || st.State != stateSeeded {
			return // a failed read costs only the event
		}
	}
	ix.emit(ctx, events.BackfillCompleted, events.BackfillCompletedData{Indexes: names})
}

// taskKeys reads the root keys of a task's range, in key order, as text.
// The bounds are cast to the key columns' types so that they compare as the
// capture's scan ordered them.
func (ix *Indexer) taskKeys(ctx context.Context, t *changes.Task) ([][]string, error) {
	c := ix.indexes[t.Index]
	tbl, err := ix.cat.Table(ctx, c.Schema.Table)
	if err != nil {
		return nil, fmt.Errorf("backfill task %s #%d: %w", t.Index, t.Seq, err)
	}
	n := len(t.KeyColumns)
	cols, texts, from, to := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	args := make([]any, 0, 2*n)
	for i, k := range t.KeyColumns {
		col := tbl.Column(k)
		if col == nil {
			return nil, fmt.Errorf("backfill task %s #%d: %s has no column %s", t.Index, t.Seq, c.Schema.Table, k)
		}
		cols[i] = "r." + pgx.Identifier{k}.Sanitize()
		texts[i] = cols[i] + "::text"
		from[i] = fmt.Sprintf("$%d::%s", i+1, col.Type)
		to[i] = fmt.Sprintf("$%d::%s", n+i+1, col.Type)
	}
	for _, v := range t.From {
		args = append(args, v)
	}
	for _, v := range t.To {
		args = append(args, v)
	}
	list := strings.Join(cols, ", ")
	sql := "SELECT " + strings.Join(texts, ", ") + " FROM " + pgx.Identifier{c.Schema.Table.Schema, c.Schema.Table.Name}.Sanitize() +
		" AS r WHERE (" + list + ") BETWEEN (" + strings.Join(from, ", ") + ") AND (" + strings.Join(to, ", ") + ") ORDER BY " + list
	rows, err := ix.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("backfill task %s #%d: keys: %w", t.Index, t.Seq, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		key := make([]string, n)
		scan := make([]any, n)
		for i := range key {
			scan[i] = &key[i]
		}
		if err := rows.Scan(scan...); err != nil {
			return nil, fmt.Errorf("backfill task %s #%d: keys: %w", t.Index, t.Seq, err)
		}
		out = append(out, key)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backfill task %s #%d: keys: %w", t.Index, t.Seq, err)
	}
	return out, nil
}

// finishTask counts the task done and, when it is the generation's last,
// marks the generation seeded and makes it serve in every sink. It reports
// whether this call marked it seeded.
func (ix *Indexer) finishTask(ctx context.Context, t *changes.Task, generation int) (bool, error) {
	key := progressKey(t.Index, generation)
	var p progress
	for {
		p = progress{}
		var rev uint64
		e, err := ix.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return false, fmt.Errorf("read state %s: %w", key, err)
		default:
			if err := json.Unmarshal(e.Value(), &p); err != nil {
				return false, fmt.Errorf("read state %s: %w", key, err)
			}
			rev = e.Revision()
		}
		if slices.Contains(p.Done, t.Seq) {
			break
		}
		p.Hash, p.SnapshotLSN, p.Tasks = t.Hash, t.SnapshotLSN, t.Tasks
		p.Done = append(p.Done, t.Seq)
		slices.Sort(p.Done)
		data, err := json.Marshal(p)
		if err != nil {
			return false, err
		}
		if rev == 0 {
			_, err = ix.kv.Create(ctx, key, data)
		} else {
			_, err = ix.kv.Update(ctx, key, data, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another replica counted a task meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("write state %s: %w", key, err)
		}
		break
	}
	if len(p.Done) < t.Tasks {
		return false, nil
	}
	marked, err := ix.markSeeded(ctx, t, generation)
	if err != nil {
		return false, err
	}
	return marked, ix.ensure(ctx, []string{t.Index})
}

// markSeeded sets index.<name> to seeded if it still describes the
// generation t belongs to; it reports whether this call did.
func (ix *Indexer) markSeeded(ctx context.Context, t *changes.Task, generation int) (bool, error) {
	for {
		st, raw, rev, err := ix.readState(ctx, t.Index)
		if err != nil {
			return false, err
		}
		if st == nil || st.Hash != t.Hash || st.Generation != generation || st.SnapshotLSN != t.SnapshotLSN || st.State == stateSeeded {
			return false, nil // superseded, or already marked
		}
		now, _ := json.Marshal(time.Now().UTC())
		raw["state"], raw["seeded_at"] = json.RawMessage(`"`+stateSeeded+`"`), now
		data, err := json.Marshal(raw)
		if err != nil {
			return false, err
		}
		_, err = ix.kv.Update(ctx, "index."+t.Index, data, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("write state index.%s: %w", t.Index, err)
		}
		return true, nil
	}
}
