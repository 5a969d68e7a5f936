package capture

// The per-index seeding state and the slot's identity, kept in the
// pipeline's key-value bucket (changes.Names.StateBucket) so that every
// service and every capture replica sees them. Writes are optimistic: each
// names the revision it read, and a write that lost a race is told so rather
// than overwriting a newer decision.
//
// Keys and values (JSON):
//
//	index.<name>  IndexState: the generation of the index being served or
//	              seeded
//	slot          SlotIdentity: which replication slot the state belongs to
//	schema.<name>.<hash>
//	              the schema file (YAML, as loaded) of that hash: while a
//	              new schema seeds, indexers build the serving generation's
//	              documents with the schema it was built from
//
// An index.<name> value, for example:
//
//	{
//	  "index": "users",
//	  "hash": "1f2e3d4c",           // Schema.Hash() of the generation
//	  "generation": 3,              // OpenSearch index {prefix}users_1f2e3d4c_3
//	  "state": "backfilling",       // pending | backfilling | seeded
//	  "reason": "reindex",          // first run | new schema | reindex | slot lost | truncate of <tables> | publication extended | sinks changed
//	  "snapshot_lsn": "0/1A2B3C4D", // version of the backfilled documents; every task carries it
//	  "tasks": 12,                  // backfill tasks of this generation (0 when seeded at once)
//	  "keys": 58211,                // root keys the tasks cover
//	  "key_columns": ["id"],
//	  "requested_at": "2025-01-01T10:00:00Z",
//	  "planned_at": "2025-01-01T10:00:02Z",
//	  "seeded_at": null,
//	  "serving": {"hash": "1f2e3d4c", "generation": 2}   // last seeded generation, null before the first
//	}
//
// The life of a generation:
//   - pending: the capture decided to seed it (and why) and has not planned
//     its tasks yet. Written before the replication slot is created or the
//     snapshot taken, so that a crash in between is resumed by the next
//     start instead of leaving the index seeded over a gap.
//   - backfilling: the tasks are counted (tasks, keys, snapshot_lsn set) and
//     being published, or published. Written before the first task, so an
//     indexer never sees a task of a generation it cannot count.
//   - seeded: every task of the generation was built and written (the
//     indexer writes this, see below), or the root table was empty (the
//     capture writes it at once).
//
// For the indexer (which marks a generation seeded): a task belongs to the
// generation whose index, hash and snapshot_lsn it carries; a task of any
// other (hash, snapshot_lsn) is of a superseded seeding and may be acked
// unbuilt. Count the tasks done per (index, hash, generation) — in a key of
// your own, e.g. progress.<index>.<generation> — and when all `tasks` are
// done, update index.<name> to state "seeded" with seeded_at set, naming
// the revision read, and only if hash, generation and snapshot_lsn still
// match (else a newer seeding replaced it). A task's rows are
// WHERE (k1, k2, …) BETWEEN (from1::<type of k1>, from2::…) AND (to1…, …):
// the bounds are the key values as text in Postgres's output format, and
// must be cast to the key columns' types so that they compare in the order
// the capture scanned the keys in (ORDER BY k1, k2, …).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/nats-io/nats.go/jetstream"
)

// Seeding states of an index generation.
const (
	statePending     = "pending"
	stateBackfilling = "backfilling"
	stateSeeded      = "seeded"
)

// Reasons to seed an index generation, as BackfillStarted reports them.
const (
	reasonFirstRun    = "first run"
	reasonNewSchema   = "new schema"
	reasonReindex     = "reindex"
	reasonSlotLost    = "slot lost"
	reasonTruncate    = "truncate"
	reasonPublication = "publication extended"
	reasonSinks       = "sinks changed"
)

// IndexState is the value of index.<name> in the state bucket: the latest
// generation of the index, seeded or being seeded. The package comment of
// state.go describes its life.
type IndexState struct {
	Index string `json:"index"`
	Hash  string `json:"hash"`
	// Generation counts the seedings of the index, whatever the hash, so
	// that {name}_{hash}_{generation} never names an older OpenSearch index.
	Generation  int         `json:"generation"`
	State       string      `json:"state"`
	Reason      string      `json:"reason"`
	SnapshotLSN changes.LSN `json:"snapshot_lsn"`
	Tasks       int         `json:"tasks"`
	Keys        int64       `json:"keys"`
	KeyColumns  []string    `json:"key_columns"`
	RequestedAt time.Time   `json:"requested_at"`
	PlannedAt   *time.Time  `json:"planned_at"`
	SeededAt    *time.Time  `json:"seeded_at"`
	// Serving is the last seeded generation, which serves reads until this
	// one is seeded; nil before the first.
	Serving *Generation `json:"serving"`
	// Sinks fingerprints the stores the generation is seeded into (the
	// prefix and each opensearch sink's name and URL): a store added or
	// moved since has none of its documents, so it is seeded again.
	Sinks string `json:"sinks,omitempty"`
}

// Generation names one generation of an index.
type Generation struct {
	Hash       string `json:"hash"`
	Generation int    `json:"generation"`
}

// SlotIdentity is the value of the slot key: the replication slot this
// state was built with. A slot of that name that is missing, or that is
// not this one, means the changes since the last confirmed position are
// lost and every index must be seeded again.
type SlotIdentity struct {
	Slot string `json:"slot"`
	// SystemID (IDENTIFY_SYSTEM) and Database tell a slot of the same name
	// on another cluster or database apart.
	SystemID string `json:"system_id"`
	Database string `json:"database"`
	// CreatedLSN is the slot's consistent point: the slot can never have
	// confirmed a position before it.
	CreatedLSN changes.LSN `json:"created_lsn"`
	CreatedAt  time.Time   `json:"created_at"`
}

const slotKey = "slot"

func indexKey(name string) string { return "index." + name }

// errSuperseded is returned by a state write that lost a race: another
// capture or a newer seeding wrote the key since it was read.
var errSuperseded = errors.New("the state changed since it was read")

// stateStore reads and writes the state bucket.
type stateStore struct {
	kv jetstream.KeyValue
}

func (c *Capture) stateStore(ctx context.Context) (*stateStore, error) {
	kv, err := c.js.KeyValue(ctx, c.names.StateBucket())
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", c.names.StateBucket(), err)
	}
	return &stateStore{kv: kv}, nil
}

// get reads a key into v. It returns revision 0 and leaves v alone when the
// key is absent (or deleted).
func (s *stateStore) get(ctx context.Context, key string, v any) (uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read state %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("read state %s: %w", key, err)
	}
	return e.Revision(), nil
}

// put writes v at key if the key is still at revision rev (0: absent),
// returning the new revision, or errSuperseded.
func (s *stateStore) put(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("write state %s: %w", key, err)
	}
	var next uint64
	if rev == 0 {
		next, err = s.kv.Create(ctx, key, data)
	} else {
		next, err = s.kv.Update(ctx, key, data, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, fmt.Errorf("write state %s: %w", key, errSuperseded)
	case err != nil:
		return 0, fmt.Errorf("write state %s: %w", key, err)
	}
	return next, nil
}

// advance writes the next state of a seeding whose pending state was
// written at revision rev. A pending state of the same generation written
// since (another capture asking for the same seeding: it resumes it, or
// lost the race for the slot) is taken over; any other write means the
// seeding was superseded (errSuperseded).
func (s *stateStore) advance(ctx context.Context, next IndexState, rev uint64) (uint64, error) {
	for {
		out, err := s.put(ctx, indexKey(next.Index), next, rev)
		if !errors.Is(err, errSuperseded) {
			return out, err
		}
		cur, curRev, err2 := s.index(ctx, next.Index)
		if err2 != nil {
			return 0, err2
		}
		if cur == nil || cur.State != statePending || cur.Generation != next.Generation || cur.Hash != next.Hash || curRev == rev {
			return 0, err
		}
		rev = curRev
	}
}

// index reads an index's state; nil when it has none.
func (s *stateStore) index(ctx context.Context, name string) (*IndexState, uint64, error) {
	var st IndexState
	rev, err := s.get(ctx, indexKey(name), &st)
	if err != nil || rev == 0 {
		return nil, 0, err
	}
	return &st, rev, nil
}

// recordSchemas keeps the schema source of every enabled index under its
// hash, once.
func (s *stateStore) recordSchemas(ctx context.Context, cfg *config.Config) error {
	for _, ix := range cfg.Indexes {
		if !ix.Enabled || ix.Schema == nil || len(ix.SchemaSource) == 0 {
			continue
		}
		key := changes.SchemaKey(ix.Name, ix.Schema.Hash())
		if _, err := s.kv.Create(ctx, key, ix.SchemaSource); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("state: record %s: %w", key, err)
		}
	}
	return nil
}

// slot reads the slot identity; nil when there is none.
func (s *stateStore) slot(ctx context.Context) (*SlotIdentity, uint64, error) {
	var id SlotIdentity
	rev, err := s.get(ctx, slotKey, &id)
	if err != nil || rev == 0 {
		return nil, 0, err
	}
	return &id, rev, nil
}

// setSlot records the slot identity, whatever was there before: only the
// capture holding the slot writes it.
func (s *stateStore) setSlot(ctx context.Context, id SlotIdentity) error {
	data, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, slotKey, data); err != nil {
		return fmt.Errorf("write state %s: %w", slotKey, err)
	}
	return nil
}

// same reports whether an existing slot can be the one the identity
// describes.
func (id *SlotIdentity) same(systemID, database string, confirmed changes.LSN) bool {
	return id.SystemID == systemID && id.Database == database && (confirmed == 0 || confirmed >= id.CreatedLSN)
}
