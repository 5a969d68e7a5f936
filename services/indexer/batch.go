package indexer

// One batch: decode, resolve, build each affected document once, write to
// every sink, settle rejections by the failure policy, then ack. Nothing is
// acked before the writes it depends on; a batch that fails is negatively
// acknowledged (redelivered), one whose ack deadline passed is left alone
// (JetStream redelivers it, maybe to another replica).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/resolve"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter is a message of the dead-letter stream: a document a sink
// rejected under on_error = skip.
type DeadLetter struct {
	Index    string          `json:"index"`
	ID       string          `json:"id"`
	Reason   string          `json:"reason"`
	Status   int             `json:"status"`
	Sink     string          `json:"sink"`
	Version  uint64          `json:"version"`
	Document json.RawMessage `json:"document"`
}

// errDeadline means the batch's ack deadline passed before its writes: it
// is not written, JetStream redelivers it.
var errDeadline = errors.New("the batch's ack deadline passed; left for redelivery")

// watch keeps a batch's messages in progress while it works and tells
// whether their ack deadline still lies ahead.
type watch struct {
	deadline atomic.Int64 // unix nanos
	margin   time.Duration
	stop     func()
	// caughtUp is set when the fetch returned fewer messages than the batch
	// size: the consumer has caught up, the batch's change writes refresh.
	caughtUp bool
}

func (ix *Indexer) watch(ctx context.Context, msgs []jetstream.Msg, fetched time.Time) *watch {
	ackWait := ix.cfg.Indexer.AckWait.D()
	w := &watch{margin: ackWait / 10}
	w.deadline.Store(fetched.Add(ackWait).UnixNano())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(ackWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sent, ok := time.Now(), true
			for _, m := range msgs {
				if err := m.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
					ok = false
				}
			}
			if ok {
				w.deadline.Store(sent.Add(ackWait).UnixNano())
			}
		}
	}()
	w.stop = func() { cancel(); <-done }
	return w
}

func (w *watch) check() error {
	if time.Now().Add(w.margin).UnixNano() > w.deadline.Load() {
		return errDeadline
	}
	return nil
}

type taskMsg struct {
	msg  jetstream.Msg
	task *changes.Task
}

// process handles one fetched batch.
func (ix *Indexer) process(ctx context.Context, msgs []jetstream.Msg, fetched time.Time) error {
	w := ix.watch(ctx, msgs, fetched)
	defer w.stop()
	w.caughtUp = len(msgs) < max(ix.cfg.Indexer.BatchSize, 1)
	var (
		changeMsgs []jetstream.Msg
		chs        []*changes.Change
		tasks      []taskMsg
	)
	for _, m := range msgs {
		kind, _ := ix.names.KindOf(m.Subject())
		switch kind {
		case changes.KindChange:
			c, err := changes.DecodeChange(m.Data())
			if err == nil {
				err = ix.checkChange(c)
			}
			if err != nil {
				ix.terminate(ctx, m, err)
				continue
			}
			changeMsgs, chs = append(changeMsgs, m), append(chs, c)
		case changes.KindTask:
			t, err := changes.DecodeTask(m.Data())
			if err != nil {
				ix.terminate(ctx, m, err)
				continue
			}
			tasks = append(tasks, taskMsg{m, t})
		default:
			ix.terminate(ctx, m, fmt.Errorf("subject %s is neither a change nor a backfill task", m.Subject()))
		}
	}
	if len(chs) > 0 {
		if err := ix.settle(ctx, changeMsgs, ix.processChanges(ctx, w, changeMsgs, chs)); err != nil {
			// The tasks of the batch are left for redelivery too.
			ix.settle(ctx, taskMsgs(tasks), err) //nolint:errcheck // err is returned
			return err
		}
	}
	for i, t := range tasks {
		if err := ix.settle(ctx, []jetstream.Msg{t.msg}, ix.processTask(ctx, w, t)); err != nil {
			ix.settle(ctx, taskMsgs(tasks[i+1:]), err) //nolint:errcheck // err is returned
			return err
		}
	}
	return nil
}

func taskMsgs(ts []taskMsg) []jetstream.Msg {
	out := make([]jetstream.Msg, len(ts))
	for i, t := range ts {
		out[i] = t.msg
	}
	return out
}

// settle disposes of messages whose work failed with err: a passed
// deadline leaves them to JetStream; anything else asks for redelivery,
// at once on shutdown or a stop (so a restarted replica picks them up),
// after a delay otherwise. It returns err.
func (ix *Indexer) settle(ctx context.Context, msgs []jetstream.Msg, err error) error {
	if err == nil || errors.Is(err, errDeadline) {
		return err
	}
	var fatal *fatalError
	delay := time.Second
	if ctx.Err() != nil || errors.As(err, &fatal) {
		delay = 0
	}
	for _, m := range msgs {
		if delay == 0 {
			_ = m.Nak()
		} else {
			_ = m.NakWithDelay(delay)
		}
	}
	return err
}

// checkChange refuses a change whose key does not fit its table: it could
// never be resolved, whatever the retries.
func (ix *Indexer) checkChange(c *changes.Change) error {
	if c.Op == changes.Truncate {
		return nil
	}
	want := ix.resolver.KeyColumns(config.TableRef{Schema: c.Schema, Name: c.Table})
	if want != nil && !slices.Equal(want, c.KeyColumns) {
		return fmt.Errorf("change %s of %s.%s: key columns (%s), the table's key is (%s)", c.MsgID(), c.Schema, c.Table, strings.Join(c.KeyColumns, ", "), strings.Join(want, ", "))
	}
	return nil
}

// terminate gives up a message that can never be processed.
func (ix *Indexer) terminate(ctx context.Context, m jetstream.Msg, err error) {
	ix.log.Error("message terminated", "subject", m.Subject(), "err", err)
	if terr := m.TermWithReason(err.Error()); terr != nil {
		ix.log.Warn("terminate failed", "subject", m.Subject(), "err", terr)
	}
	ix.emit(ctx, events.Error, events.ErrorData{Instance: ix.instance, Component: "message", Message: fmt.Sprintf("%s: %v", m.Subject(), err)})
}

// want is a document to build and the version to write it with.
type want struct {
	key     resolve.Key
	version uint64
}

// processChanges resolves, builds, writes and acks the changes of a batch.
func (ix *Indexer) processChanges(ctx context.Context, w *watch, msgs []jetstream.Msg, chs []*changes.Change) error {
	// A document's version is the highest commit LSN among the changes that
	// resolve to it, not the batch's: a build reflects the state at or after
	// each of its own changes, but maybe not after another document's. So
	// the changes are resolved per transaction (one round of queries each).
	var lsns []changes.LSN
	byLSN := map[changes.LSN][]resolve.Change{}
	for _, c := range chs {
		op, ok := map[changes.Op]resolve.Op{changes.Insert: resolve.Insert, changes.Update: resolve.Update, changes.Delete: resolve.Delete}[c.Op]
		if !ok {
			continue // a truncate: the capture reseeds what it touched
		}
		if _, seen := byLSN[c.LSN]; !seen {
			lsns = append(lsns, c.LSN)
		}
		byLSN[c.LSN] = append(byLSN[c.LSN], resolve.Change{
			Table: config.TableRef{Schema: c.Schema, Name: c.Table}, Op: op, Key: c.Key, OldKey: c.OldKey, Old: c.Old,
		})
	}
	// The states tell which serving generations need their own schema's
	// documents (serving.go).
	if err := ix.ensure(ctx, ix.cfg.EnabledIndexes()); err != nil {
		return err
	}
	views := ix.servingViews()
	wanted := map[string]map[string]*want{}
	servingWanted := map[string]map[string]*want{}
	for _, lsn := range lsns {
		res, err := ix.resolver.Resolve(ctx, ix.pool, byLSN[lsn])
		if err != nil {
			return fmt.Errorf("resolve changes of %s: %w", lsn, err)
		}
		addWanted(wanted, res, lsn, func(index string) bool { return ix.builders[index] != nil })
		for index, v := range views {
			res, err := v.resolver.Resolve(ctx, ix.pool, byLSN[lsn])
			if err != nil {
				return fmt.Errorf("resolve changes of %s for the serving generation of %s: %w", lsn, index, err)
			}
			addWanted(servingWanted, res, lsn, func(i string) bool { return i == index })
		}
	}
	var ops []sink.Op
	perIndex := map[string]int{}
	for _, index := range sortedKeys(wanted) {
		built, err := ix.build(ctx, ix.builders[index], index, wanted[index], nil)
		if err != nil {
			return err
		}
		ops = append(ops, built...)
		perIndex[index] = len(built)
	}
	for _, index := range sortedKeys(servingWanted) {
		v := views[index]
		built, err := ix.build(ctx, v.builder, index, servingWanted[index], &v.gen)
		if err != nil {
			return err
		}
		ops = append(ops, built...)
	}
	flush, err := ix.writeOps(ctx, w, ops, w.caughtUp)
	if err != nil {
		return err
	}
	if err := ackAll(msgs); err != nil {
		return err
	}
	ix.emit(ctx, events.BatchCommitted, events.BatchCommittedData{
		Instance: ix.instance, Changes: len(msgs), Documents: len(ops), Indexes: perIndex, FlushMicros: flush.Microseconds(),
	})
	return nil
}

func ackAll(msgs []jetstream.Msg) error {
	var errs []error
	for _, m := range msgs {
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("ack: %w", errors.Join(errs...))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// addWanted adds the keys of the indexes in res that keep accepts, with
// the version lsn, to wanted.
func addWanted(wanted map[string]map[string]*want, res map[string][]resolve.Key, lsn changes.LSN, keep func(index string) bool) {
	for index, keys := range res {
		if !keep(index) {
			continue
		}
		m := wanted[index]
		if m == nil {
			m = map[string]*want{}
			wanted[index] = m
		}
		for _, k := range keys {
			if cur := m[k.ID()]; cur == nil {
				m[k.ID()] = &want{key: k, version: uint64(lsn)}
			} else {
				cur.version = max(cur.version, uint64(lsn))
			}
		}
	}
}

// build builds the wanted documents of one index with b, each once; the
// ops go to generation gen alone when it is set.
func (ix *Indexer) build(ctx context.Context, b *document.Builder, index string, wanted map[string]*want, gen *sink.Generation) ([]sink.Op, error) {
	keys := make([][]string, 0, len(wanted))
	for _, id := range sortedKeys(wanted) {
		keys = append(keys, wanted[id].key)
	}
	ops := make([]sink.Op, 0, len(keys))
	err := b.Build(ctx, ix.pool, keys, func(d document.Doc) error {
		wt := wanted[resolve.Key(d.Key).ID()]
		if wt == nil {
			return fmt.Errorf("index %s: built %s, which was not asked for", index, d.ID)
		}
		ops = append(ops, sink.Op{Index: index, ID: d.ID, Version: wt.version, Doc: d.Source, Generation: gen})
		return nil
	})
	return ops, err
}

// write ensures the targets of the ops' indexes, writes the ops to every
// sink and settles the rejections: under skip they go to the dead-letter
// stream, under stop they end the run. It returns the time spent in the
// sinks.
func (ix *Indexer) write(ctx context.Context, w *watch, ops []sink.Op) (time.Duration, error) {
	return ix.writeOps(ctx, w, ops, false)
}

// refresher is a sink that can make its next writes visible at once (the
// OpenSearch sink's refresh parameter).
type refresher interface{ SetRefresh(refresh string) }

// writeOps is write; with refresh, sinks that support it make these writes
// visible at once (the consumer has caught up, so a refresh per batch is
// cheap and readers see the changes without waiting for refresh_interval).
func (ix *Indexer) writeOps(ctx context.Context, w *watch, ops []sink.Op, refresh bool) (time.Duration, error) {
	if len(ops) == 0 {
		return 0, nil
	}
	var indexes []string
	for _, op := range ops {
		if !slices.Contains(indexes, op.Index) {
			indexes = append(indexes, op.Index)
		}
	}
	if err := ix.ensure(ctx, indexes); err != nil {
		return 0, err
	}
	var spent time.Duration
	for _, s := range ix.sinks {
		if err := w.check(); err != nil {
			return spent, err
		}
		start := time.Now()
		rejected, err := ix.writeSink(ctx, s, ops, refresh)
		spent += time.Since(start)
		if err != nil {
			return spent, fmt.Errorf("sink %s: %w", s.Name(), err)
		}
		if err := ix.rejected(ctx, s.Name(), rejected); err != nil {
			return spent, err
		}
	}
	return spent, nil
}

// writeSink writes ops to one sink, with refresh on when asked and the sink
// supports it. Concurrent batches count their refreshing writes per sink so
// that one finishing does not turn refresh off under another.
func (ix *Indexer) writeSink(ctx context.Context, s sink.Sink, ops []sink.Op, refresh bool) ([]sink.Rejection, error) {
	r, ok := s.(refresher)
	if !refresh || !ok {
		return s.Write(ctx, ops)
	}
	ix.refreshing(s.Name(), r, +1)
	defer ix.refreshing(s.Name(), r, -1)
	return s.Write(ctx, ops)
}

func (ix *Indexer) refreshing(name string, r refresher, delta int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.refreshers == nil {
		ix.refreshers = map[string]int{}
	}
	n := ix.refreshers[name] + delta
	ix.refreshers[name] = n
	switch {
	case n == 1 && delta > 0:
		r.SetRefresh("true")
	case n == 0:
		r.SetRefresh("")
	}
}

// rejected applies the failure policy to a sink's rejections.
func (ix *Indexer) rejected(ctx context.Context, sinkName string, rejected []sink.Rejection) error {
	for _, r := range rejected {
		if c := ix.indexes[r.Op.Index]; c == nil || c.OnError != config.OnErrorSkip {
			return &fatalError{msg: fmt.Sprintf("index %s: sink %s rejected document %s: %s (on_error = stop: the batch is left unacknowledged)", r.Op.Index, sinkName, r.Op.ID, r.Reason)}
		}
	}
	byIndex := map[string][]string{}
	for _, r := range rejected {
		data, err := json.Marshal(DeadLetter{Index: r.Op.Index, ID: r.Op.ID, Reason: r.Reason, Status: r.Status, Sink: sinkName, Version: r.Op.Version, Document: r.Op.Doc})
		if err != nil {
			return err
		}
		id := fmt.Sprintf("%s:%s:%s:%d", sinkName, r.Op.Index, r.Op.ID, r.Op.Version)
		if _, err := ix.js.Publish(ctx, ix.names.DLQSubject(r.Op.Index), data, jetstream.WithMsgID(id)); err != nil {
			return fmt.Errorf("dead-letter %s/%s: %w", r.Op.Index, r.Op.ID, err)
		}
		ix.log.Warn("document rejected; skipped to the dead-letter stream", "index", r.Op.Index, "id", r.Op.ID, "sink", sinkName, "reason", r.Reason)
		byIndex[r.Op.Index] = append(byIndex[r.Op.Index], r.Op.ID)
	}
	for _, index := range sortedKeys(byIndex) {
		ids := byIndex[index]
		ix.emit(ctx, events.DocumentsRejected, events.DocumentsRejectedData{Instance: ix.instance, Index: index, Sink: sinkName, Count: len(ids), IDs: ids})
	}
	return nil
}
