// Package memory is an in-memory sink for tests. It keeps the latest version
// of every document per (index, id) with OpenSearch's external-version
// semantics (external_gte: a write whose version is lower than the stored
// one, document or delete tombstone, is ignored) — apart, the operations
// sent to one generation — records the targets it was
// ensured with and the generations made serving, and can reject items or
// fail writes on demand.
package memory

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"

	"github.com/flusso-go/flusso/pkg/sink"
)

// Entry is the stored state of one document; a delete leaves a tombstone
// (Doc nil) that keeps its version.
type Entry struct {
	Version uint64
	Doc     json.RawMessage
}

// Sink is an in-memory sink, safe for concurrent use.
type Sink struct {
	name string

	mu   sync.Mutex
	docs map[string]map[string]Entry // index -> id -> entry
	// genDocs hold the ops sent to one generation (sink.Op.Generation),
	// by index and generation, apart from docs.
	genDocs map[string]map[sink.Generation]map[string]Entry
	targets map[string]sink.Target
	seeded  map[string][]sink.Generation
	writes  int
	ops     int
	reject  func(sink.Op) (reason string, rejected bool)
	fail    func([]sink.Op) error
	changed chan struct{}
}

// New returns an empty sink named name.
func New(name string) *Sink {
	return &Sink{
		name: name, docs: map[string]map[string]Entry{}, genDocs: map[string]map[sink.Generation]map[string]Entry{}, targets: map[string]sink.Target{},
		seeded: map[string][]sink.Generation{}, changed: make(chan struct{}),
	}
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.name }

// RejectWith makes the sink refuse, item by item, the operations f returns
// true for, with the reason it returns; nil rejects nothing.
func (s *Sink) RejectWith(f func(sink.Op) (string, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = f
}

// FailWith makes Write fail as a whole with the error f returns (nil: the
// write proceeds); nil never fails.
func (s *Sink) FailWith(f func([]sink.Op) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// Ensure records the target.
func (s *Sink) Ensure(ctx context.Context, t sink.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[t.Index] = t
	return nil
}

// Write applies ops under external_gte versioning, after the injected
// failure and rejections.
func (s *Sink) Write(ctx context.Context, ops []sink.Op) ([]sink.Rejection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(ops); err != nil {
			return nil, err
		}
	}
	var rejected []sink.Rejection
	for _, op := range ops {
		if s.reject != nil {
			if reason, ok := s.reject(op); ok {
				rejected = append(rejected, sink.Rejection{Op: op, Status: 400, Reason: reason})
				continue
			}
		}
		ix := s.docs[op.Index]
		if op.Generation != nil {
			byGen := s.genDocs[op.Index]
			if byGen == nil {
				byGen = map[sink.Generation]map[string]Entry{}
				s.genDocs[op.Index] = byGen
			}
			ix = byGen[*op.Generation]
			if ix == nil {
				ix = map[string]Entry{}
				byGen[*op.Generation] = ix
			}
		} else if ix == nil {
			ix = map[string]Entry{}
			s.docs[op.Index] = ix
		}
		if cur, ok := ix[op.ID]; ok && op.Version < cur.Version {
			continue // a version conflict, which a writer counts as success
		}
		ix[op.ID] = Entry{Version: op.Version, Doc: slices.Clone(op.Doc)}
	}
	s.writes++
	s.ops += len(ops)
	close(s.changed)
	s.changed = make(chan struct{})
	return rejected, nil
}

// Seeded records that g serves the index.
func (s *Sink) Seeded(ctx context.Context, index string, g sink.Generation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeded[index] = append(s.seeded[index], g)
	return nil
}

// Close does nothing.
func (s *Sink) Close() error { return nil }

// Docs returns the live documents of an index (tombstones left out), by id.
func (s *Sink) Docs(index string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	for id, e := range s.docs[index] {
		if e.Doc != nil {
			out[id] = e.Doc
		}
	}
	return out
}

// GenerationDocs returns the live documents the ops naming generation g
// wrote to an index, by id.
func (s *Sink) GenerationDocs(index string, g sink.Generation) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	for id, e := range s.genDocs[index][g] {
		if e.Doc != nil {
			out[id] = e.Doc
		}
	}
	return out
}

// Entry returns the stored state of a document, tombstones included.
func (s *Sink) Entry(index, id string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.docs[index][id]
	return e, ok
}

// Target returns the last target the index was ensured with.
func (s *Sink) Target(index string) (sink.Target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[index]
	return t, ok
}

// SeededGenerations returns the generations made serving for an index, in
// call order (a generation appears once per call).
func (s *Sink) SeededGenerations(index string) []sink.Generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seeded[index])
}

// Indexes returns the indexes that hold entries.
func (s *Sink) Indexes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.docs))
}

// Writes returns how many Write calls succeeded and how many ops they held.
func (s *Sink) Writes() (calls, ops int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, s.ops
}

// Changed returns a channel closed at the next successful write.
func (s *Sink) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}
