// Package sink defines where documents go: the Sink interface the indexer
// writes through, the operations it takes, and how item-level rejections
// come back. Implementations live beside it (stdout here; OpenSearch in
// pkg/sink/opensearch). A sink retries transport failures itself; what it
// returns as an error is not retryable by the caller within the batch.
package sink

import (
	"context"
	"encoding/json"
)

// Op is one document operation: an upsert, or a delete when Doc is nil.
type Op struct {
	// Index is the logical index name (the [[index]] name).
	Index string
	ID    string
	// Version orders writes of the same document: the commit LSN of the
	// change, or the snapshot LSN of a backfill task. A sink never lets a
	// lower version overwrite a higher one.
	Version uint64
	Doc     json.RawMessage
	// Generation, when set, sends the operation to that generation alone
	// instead of every generation the index writes: while a new schema
	// seeds, the serving generation keeps getting documents built with the
	// schema it was built from. A sink without generations ignores such
	// operations.
	Generation *Generation
}

// Delete reports whether the operation removes the document.
func (o Op) Delete() bool { return o.Doc == nil }

// Rejection is an operation the sink refused for the document itself (a
// mapping error, a malformed value): retrying will not help, the failure
// policy decides.
type Rejection struct {
	Op     Op
	Status int
	Reason string
}

// Generation is one generation of an index: the documents of one schema
// hash, seeded once.
type Generation struct {
	Hash   string
	Number int
}

// Target is an index as a sink must hold it: the generation being written
// (and seeded, when it is not yet serving), and the one serving reads.
type Target struct {
	Index string
	// Write are the generations every write goes to: the serving one and,
	// during a reindex, the one being seeded.
	Write []Generation
	// Serving is the generation reads go to; nil before the first is seeded.
	Serving *Generation
	// Body is the OpenSearch index body of a new generation (pkg/mapping).
	Body map[string]any
}

// Sink is a destination of documents.
type Sink interface {
	// Name is the [sinks.<name>] name.
	Name() string
	// Ensure makes the target's generations exist and ready for writes.
	Ensure(ctx context.Context, t Target) error
	// Write applies ops; rejections are item-level refusals, err a failure
	// that outlasted the sink's retries.
	Write(ctx context.Context, ops []Op) (rejected []Rejection, err error)
	// Seeded makes generation g serve the index's reads (an alias flip),
	// and restores the settings of a seeded index.
	Seeded(ctx context.Context, index string, g Generation) error
	// Close releases connections.
	Close() error
}
