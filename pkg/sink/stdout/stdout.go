// Package stdout is the stdout sink: one JSON line per document operation,
// as FORMAT.md ("The stdout sink") describes, written to an io.Writer (the
// process's standard output; logs go to stderr). It has no indexes, aliases
// or generations: Ensure and Seeded do nothing, and it keeps no versions, so
// it prints every write it is given, in order.
package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flusso-go/flusso/pkg/sink"
)

// Sink writes operations as JSON lines. It is safe for concurrent use: each
// Write's lines are written together, in the order of its ops.
type Sink struct {
	name   string
	pretty bool

	mu  sync.Mutex
	w   io.Writer
	seq uint64
	now func() time.Time
}

// New returns a stdout sink named name writing to w; pretty indents each
// operation over several lines.
func New(name string, w io.Writer, pretty bool) *Sink {
	return &Sink{name: name, w: w, pretty: pretty, now: time.Now}
}

// line is one operation as printed; Document is omitted for a delete.
type line struct {
	Op       string          `json:"op"`
	Index    string          `json:"index"`
	ID       string          `json:"id"`
	Document json.RawMessage `json:"document,omitempty"`
	Seq      uint64          `json:"seq"`
	TS       string          `json:"ts"`
}

// Name is the [sinks.<name>] name.
func (s *Sink) Name() string { return s.name }

// Ensure does nothing: stdout has no indexes.
func (s *Sink) Ensure(context.Context, sink.Target) error { return nil }

// Seeded does nothing: stdout has no aliases.
func (s *Sink) Seeded(context.Context, string, sink.Generation) error { return nil }

// Close does nothing; the writer belongs to the caller.
func (s *Sink) Close() error { return nil }

// Write prints ops, except those for one generation (see sink.Op). It never
// rejects an operation.
func (s *Sink) Write(ctx context.Context, ops []sink.Op) ([]sink.Rejection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	for _, op := range ops {
		if op.Generation != nil {
			continue // an older schema's document: stdout shows the current one
		}
		s.seq++
		l := line{Op: "upsert", Index: op.Index, ID: op.ID, Document: op.Doc, Seq: s.seq, TS: s.now().UTC().Format("2006-01-02T15:04:05.000Z07:00")}
		if op.Delete() {
			l.Op = "delete"
		}
		var (
			data []byte
			err  error
		)
		if s.pretty {
			data, err = json.MarshalIndent(l, "", "  ")
		} else {
			data, err = json.Marshal(l)
		}
		if err != nil {
			return nil, fmt.Errorf("stdout sink %s: %s/%s: %w", s.name, op.Index, op.ID, err)
		}
		buf.Write(data)
		buf.WriteByte('\n')
	}
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("stdout sink %s: %w", s.name, err)
	}
	return nil, nil
}
