// Package resolve finds the documents a batch of row changes affects. A
// search document is built from a root row and the related rows its schema
// folds in; when a row of any of those tables changes, resolve walks every
// path from that table back to the root, with one batched SQL query per hop
// per batch (never one per row), and returns the root keys of the documents
// to rebuild.
//
// It owns the reverse walk only. It does not decode the replication stream,
// build documents or apply filters: a change that takes a row out of a
// relation's filter must still rebuild the parent, and root filters and soft
// deletes are the builder's business (they turn a rebuilt document into a
// delete).
package resolve

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pgx/v5"
)

// Op is the kind of a row change.
type Op int

const (
	Insert Op = iota
	Update
	Delete
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Change is one row change as the capture reports it. Values are text in
// Postgres's output format; a nil *string is SQL NULL.
type Change struct {
	Table config.TableRef
	Op    Op
	// Key holds the values of the row's key, in the order of KeyColumns(Table)
	// (the table's primary key); for a delete, the old key.
	Key []string
	// OldKey is the old key of an update that changed the key; else nil.
	OldKey []string
	// Old holds the old row's columns when the stream carried them: every
	// column with REPLICA IDENTITY FULL, only the key columns on a delete or
	// key change with the default identity; nil when absent.
	Old map[string]*string
}

// Key is a root key: its values as text in the order of the root key's
// columns. The document _id is strings.Join(key, ":").
type Key []string

// ID returns the document _id of the key.
func (k Key) ID() string { return strings.Join(k, ":") }

// Querier is what resolution needs of a connection, pool or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Resolver maps row changes to the root keys of the documents they affect.
// It is planned once from the configuration and the catalog, holds no state
// between batches and is safe for concurrent use.
type Resolver struct {
	indexes []*indexPlan
	tables  map[config.TableRef]*tablePlan
	refs    []config.TableRef // sorted
}

// New plans the reverse walk of every enabled index. Tables, columns and keys
// are checked against the catalog; the error names the index, the field and
// the table of every problem found.
func New(ctx context.Context, cfg *config.Config, cat *catalog.Catalog) (*Resolver, error) {
	return plan(ctx, cfg, cat)
}

// Tables returns every table an enabled index reads, sorted: roots, related
// tables, junctions and aggregated tables. The capture publishes exactly
// these.
func (r *Resolver) Tables() []config.TableRef { return slices.Clone(r.refs) }

// KeyColumns returns the columns whose values Change.Key holds for a table
// an enabled index reads: its primary key, or, lacking one, its replica
// identity index. It returns nil for any other table.
func (r *Resolver) KeyColumns(t config.TableRef) []string {
	if tp := r.tables[t]; tp != nil {
		return slices.Clone(tp.key)
	}
	return nil
}

// Resolve returns, per index name, the root keys of the documents the
// changes affect, deduplicated and sorted. Indexes with no affected document
// are absent. It runs a number of queries bounded by the size of the
// configuration, whatever the number of changes. Changes of tables no index
// reads are ignored.
//
// An old parent is found only when the change carries what links the row to
// it: in the key, or in Old (REPLICA IDENTITY FULL). Without it, the delete
// of a child, or its move to another parent, rebuilds only what the current
// rows still reach.
func (r *Resolver) Resolve(ctx context.Context, q Querier, changes []Change) (map[string][]Key, error) {
	b := &batch{ctx: ctx, q: q, ready: map[*occurrence]*tupleSet{}, pending: map[*lookup]*tupleSet{}}
	if err := b.firstHop(r, changes); err != nil {
		return nil, err
	}
	out := map[string][]Key{}
	for _, ip := range r.indexes {
		keys, err := b.walk(ip)
		if err != nil {
			return nil, fmt.Errorf("resolve index %s: %w", ip.name, err)
		}
		if len(keys) > 0 {
			out[ip.name] = keys
		}
	}
	return out, nil
}
