// Package changes defines what flows from the capture to the indexers over
// NATS JetStream: row-change messages and backfill tasks, their subjects,
// message ids and JSON encoding, and the streams and state bucket of a
// pipeline. It is the contract between the services (docs/changes.md
// describes it for other readers); it does not read Postgres or build
// documents.
package changes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the version of the message format; a consumer refuses messages
// of a version it does not know.
const Version = 1

// Op is the operation of a row change.
type Op string

const (
	Insert   Op = "insert"
	Update   Op = "update"
	Delete   Op = "delete"
	Truncate Op = "truncate"
)

// Change is one row change of a committed transaction.
type Change struct {
	V int `json:"v"`
	// LSN is the commit LSN of the transaction: the version of every
	// document the change rebuilds.
	LSN LSN `json:"lsn"`
	// Seq is the position of the change in its transaction, from 0.
	Seq        int       `json:"seq"`
	XID        uint32    `json:"xid"`
	CommitTime time.Time `json:"commit_time"`
	Schema     string    `json:"schema"`
	Table      string    `json:"table"`
	Op         Op        `json:"op"`
	// KeyColumns name the key columns, and Key their values as text in
	// Postgres's output format; for a delete, the old key. Empty for a
	// truncate.
	KeyColumns []string `json:"key_columns,omitempty"`
	Key        []string `json:"key,omitempty"`
	// OldKey is the old key of an update that changed the key.
	OldKey []string `json:"old_key,omitempty"`
	// Old is the old row when the stream carried it (REPLICA IDENTITY FULL);
	// a nil value is SQL NULL.
	Old map[string]*string `json:"old,omitempty"`
}

// MsgID is the JetStream message id of the change: unique per change, the
// same when a restarted capture publishes it again, so JetStream drops the
// copy.
func (c *Change) MsgID() string {
	return fmt.Sprintf("c:%s:%d", c.LSN, c.Seq)
}

// Task is a backfill task: build the documents of the root keys from From to
// To (inclusive, in key order) of one index generation.
type Task struct {
	V     int    `json:"v"`
	Index string `json:"index"`
	// Hash is the schema hash of the generation being seeded.
	Hash string `json:"hash"`
	// SnapshotLSN is the LSN the key scan saw the database at: the version
	// of the documents the task builds.
	SnapshotLSN LSN      `json:"snapshot_lsn"`
	Seq         int      `json:"seq"`   // this task's number, from 1
	Tasks       int      `json:"tasks"` // how many tasks seed the generation
	KeyColumns  []string `json:"key_columns"`
	From        []string `json:"from"`
	To          []string `json:"to"`
	Keys        int      `json:"keys"` // keys in the range at the snapshot
}

// MsgID identifies the task among every task of every seeding.
func (t *Task) MsgID() string {
	return fmt.Sprintf("b:%s:%s:%s:%d", t.Index, t.Hash, t.SnapshotLSN, t.Seq)
}

// LSN is a Postgres WAL position. It encodes in JSON as Postgres prints it,
// "16/B374D848", and compares as a number.
type LSN uint64

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// ParseLSN reads the form Postgres prints.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("LSN %q: expected the form 16/B374D848", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("LSN %q: expected the form 16/B374D848", s)
	}
	return LSN(h<<32 | l), nil
}

// MarshalText writes the Postgres form.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads the Postgres form.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	*l = v
	return err
}

// Kind tells a change from a task; it travels in the Flusso-Kind header and
// follows from the subject.
type Kind string

const (
	KindChange Kind = "change"
	KindTask   Kind = "task"
)

// Header names set on every message.
const (
	HeaderKind    = "Flusso-Kind"
	HeaderVersion = "Flusso-Version"
)

// ErrVersion is returned for a message of an unknown format version.
var ErrVersion = errors.New("unsupported message version")

// Encode returns the JSON of a change or task, setting its version.
func Encode(v any) ([]byte, error) {
	switch m := v.(type) {
	case *Change:
		m.V = Version
	case *Task:
		m.V = Version
	default:
		return nil, fmt.Errorf("changes: cannot encode %T", v)
	}
	return json.Marshal(v)
}

// DecodeChange reads and checks a change message.
func DecodeChange(data []byte) (*Change, error) {
	var c Change
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("change message: %w", err)
	}
	if c.V != Version {
		return nil, fmt.Errorf("change message version %d: %w (this flusso reads %d)", c.V, ErrVersion, Version)
	}
	switch {
	case c.Schema == "" || c.Table == "":
		return nil, errors.New("change message: no table")
	case c.Op != Insert && c.Op != Update && c.Op != Delete && c.Op != Truncate:
		return nil, fmt.Errorf("change message: unknown op %q", c.Op)
	case c.Op != Truncate && (len(c.Key) == 0 || len(c.Key) != len(c.KeyColumns)):
		return nil, fmt.Errorf("change message: %s of %s.%s has %d key value(s) for %d key column(s)", c.Op, c.Schema, c.Table, len(c.Key), len(c.KeyColumns))
	case len(c.OldKey) != 0 && len(c.OldKey) != len(c.KeyColumns):
		return nil, fmt.Errorf("change message: old key of %s.%s has %d value(s) for %d key column(s)", c.Schema, c.Table, len(c.OldKey), len(c.KeyColumns))
	case c.Seq < 0:
		return nil, errors.New("change message: negative position")
	}
	return &c, nil
}

// DecodeTask reads and checks a backfill task.
func DecodeTask(data []byte) (*Task, error) {
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("backfill task: %w", err)
	}
	if t.V != Version {
		return nil, fmt.Errorf("backfill task version %d: %w (this flusso reads %d)", t.V, ErrVersion, Version)
	}
	switch {
	case t.Index == "" || t.Hash == "":
		return nil, errors.New("backfill task: no index or hash")
	case len(t.KeyColumns) == 0 || len(t.From) != len(t.KeyColumns) || len(t.To) != len(t.KeyColumns):
		return nil, fmt.Errorf("backfill task %s #%d: the range does not match the %d key column(s)", t.Index, t.Seq, len(t.KeyColumns))
	case t.Seq < 1 || t.Tasks < t.Seq:
		return nil, fmt.Errorf("backfill task %s: task %d of %d", t.Index, t.Seq, t.Tasks)
	}
	return &t, nil
}
