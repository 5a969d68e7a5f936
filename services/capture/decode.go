package capture

// Decoding of pgoutput (protocol version 1) into change messages.
//
// pglogrepl.Parse trusts its input: on a truncated or corrupt message it
// indexes past the end of the buffer (a panic) and allocates whatever length
// the bytes claim (a 4 GiB column, 2^32 truncated relations). The decoder
// below therefore reads the wire format itself, with a bounds check on every
// field, and uses pglogrepl for the message type constants and for the
// fixed-size Begin and Commit messages, whose decoders check their length.
// It also avoids pglogrepl's per-column allocations: tuple values stay
// slices of the message until they become the strings of a change.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pglogrepl"
)

// relation is a table as the stream described it in its last Relation
// message.
type relation struct {
	ref      config.TableRef
	identity byte // replica identity: 'd' default, 'f' full, 'i' index, 'n' nothing
	columns  []string
	// read says an enabled index reads the table; changes of other tables
	// are not published.
	read bool
	// keyColumns are the resolver's key columns of the table and keyPos
	// their positions among columns; keyErr says why they cannot be found.
	keyColumns []string
	keyPos     []int
	keyErr     error
}

// decoded is what one pgoutput message amounts to.
type decoded struct {
	kind decodedKind
	// changes are the row changes of a change message (several for a
	// truncate), valid until the next call of decode.
	changes []*changes.Change
	// truncated are the tables a Truncate message emptied, among the ones
	// indexes read.
	truncated []config.TableRef
	// commitLSN and endLSN are the commit's LSN and the end of its record:
	// the position to confirm once the transaction is stored.
	commitLSN, endLSN changes.LSN
}

type decodedKind int

const (
	decodedOther  decodedKind = iota // nothing to publish: Relation, Type, Origin, Message
	decodedBegin                     // a transaction starts
	decodedChange                    // row changes (possibly none: a table no index reads)
	decodedCommit                    // the transaction committed
)

// decoder turns the pgoutput messages of one replication connection into
// changes. Relations are cached per connection: Postgres sends a table's
// Relation message before the first change of it on each connection, and
// again when the table changes.
type decoder struct {
	keyColumns func(config.TableRef) []string // nil for a table no index reads
	relations  map[uint32]*relation

	inTx  bool
	lsn   changes.LSN // commit LSN of the open transaction
	xid   uint32
	time  time.Time
	seq   int // changes emitted in the open transaction
	out   []*changes.Change
	refs  []config.TableRef
	newT  []tupleValue
	oldT  []tupleValue
	trunc []uint32
}

// newDecoder returns a decoder; keyColumns is the resolver's KeyColumns.
func newDecoder(keyColumns func(config.TableRef) []string) *decoder {
	return &decoder{keyColumns: keyColumns, relations: map[uint32]*relation{}}
}

// inTransaction says a Begin was decoded and its Commit not yet.
func (d *decoder) inTransaction() bool { return d.inTx }

// decode reads one pgoutput message found at WAL position at. A malformed
// message gives an error naming its type and position; decode never panics.
func (d *decoder) decode(at changes.LSN, data []byte) (decoded, error) {
	if len(data) == 0 {
		return decoded{}, fmt.Errorf("pgoutput: empty message at %s", at)
	}
	typ := pglogrepl.MessageType(data[0])
	out, err := d.decodeType(typ, data[1:])
	if err != nil {
		return decoded{}, fmt.Errorf("pgoutput %s message at %s: %w", typeName(typ), at, err)
	}
	return out, nil
}

func typeName(t pglogrepl.MessageType) string {
	switch t {
	case pglogrepl.MessageTypeBegin, pglogrepl.MessageTypeCommit, pglogrepl.MessageTypeOrigin,
		pglogrepl.MessageTypeRelation, pglogrepl.MessageTypeType, pglogrepl.MessageTypeInsert,
		pglogrepl.MessageTypeUpdate, pglogrepl.MessageTypeDelete, pglogrepl.MessageTypeTruncate,
		pglogrepl.MessageTypeMessage:
		return t.String()
	}
	return fmt.Sprintf("unknown (%q)", byte(t))
}

var errNoTx = errors.New("outside a transaction")

func (d *decoder) decodeType(typ pglogrepl.MessageType, body []byte) (decoded, error) {
	switch typ {
	case pglogrepl.MessageTypeBegin:
		var m pglogrepl.BeginMessage
		if err := m.Decode(body); err != nil {
			return decoded{}, err
		}
		if d.inTx {
			return decoded{}, fmt.Errorf("transaction %d begins inside transaction %d", m.Xid, d.xid)
		}
		d.inTx, d.lsn, d.xid, d.time, d.seq = true, changes.LSN(m.FinalLSN), m.Xid, m.CommitTime.UTC(), 0
		return decoded{kind: decodedBegin, commitLSN: d.lsn}, nil
	case pglogrepl.MessageTypeCommit:
		var m pglogrepl.CommitMessage
		if err := m.Decode(body); err != nil {
			return decoded{}, err
		}
		if !d.inTx {
			return decoded{}, errNoTx
		}
		if changes.LSN(m.CommitLSN) != d.lsn {
			return decoded{}, fmt.Errorf("commit LSN %s of transaction %d differs from its Begin's %s", changes.LSN(m.CommitLSN), d.xid, d.lsn)
		}
		d.inTx = false
		return decoded{kind: decodedCommit, commitLSN: d.lsn, endLSN: changes.LSN(m.TransactionEndLSN)}, nil
	case pglogrepl.MessageTypeRelation:
		return decoded{}, d.relation(body)
	case pglogrepl.MessageTypeType, pglogrepl.MessageTypeOrigin, pglogrepl.MessageTypeMessage:
		return decoded{}, nil
	case pglogrepl.MessageTypeInsert, pglogrepl.MessageTypeUpdate, pglogrepl.MessageTypeDelete:
		if !d.inTx {
			return decoded{}, errNoTx
		}
		c, err := d.row(typ, body)
		d.out = d.out[:0]
		if c != nil {
			d.out = append(d.out, c)
		}
		return decoded{kind: decodedChange, changes: d.out}, err
	case pglogrepl.MessageTypeTruncate:
		if !d.inTx {
			return decoded{}, errNoTx
		}
		return d.truncate(body)
	}
	return decoded{}, errors.New("unknown message type")
}

// relation caches a Relation message.
func (d *decoder) relation(body []byte) error {
	r := reader{b: body}
	id := r.u32()
	var rel relation
	rel.ref.Schema = r.cstring()
	rel.ref.Name = r.cstring()
	rel.identity = r.byte()
	n := int(r.u16())
	if r.err != nil {
		return r.err
	}
	// Each column takes at least 10 bytes: refuse a count the message
	// cannot hold before allocating for it.
	if n*10 > r.left() {
		return fmt.Errorf("relation %s claims %d columns in %d bytes", rel.ref, n, r.left())
	}
	rel.columns = make([]string, n)
	for i := range n {
		r.byte() // flags: part of the replica identity; the resolver's key is what counts
		rel.columns[i] = r.cstring()
		r.u32() // type oid
		r.u32() // type modifier
	}
	if r.err != nil {
		return r.err
	}
	if rel.keyColumns = d.keyColumns(rel.ref); rel.keyColumns != nil {
		rel.read = true
		rel.keyPos = make([]int, len(rel.keyColumns))
		for i, k := range rel.keyColumns {
			if rel.keyPos[i] = slices.Index(rel.columns, k); rel.keyPos[i] < 0 {
				rel.keyErr = fmt.Errorf("table %s has no key column %q any more (columns: %v): the indexes must be reloaded", rel.ref, k, rel.columns)
			}
		}
	}
	d.relations[id] = &rel
	return nil
}

// tupleValue is one column of a TupleData: kind 't' text, 'n' NULL, 'u'
// unchanged TOASTed value; data is a slice of the message.
type tupleValue struct {
	kind byte
	data []byte
}

// tuple reads a TupleData of the relation into dst.
func (r *reader) tuple(dst []tupleValue, rel *relation) []tupleValue {
	n := int(r.u16())
	if r.err != nil {
		return dst[:0]
	}
	if n != len(rel.columns) {
		r.fail(fmt.Errorf("tuple of %s has %d columns, its Relation message %d", rel.ref, n, len(rel.columns)))
		return dst[:0]
	}
	dst = dst[:0]
	for range n {
		v := tupleValue{kind: r.byte()}
		switch v.kind {
		case pglogrepl.TupleDataTypeText:
			v.data = r.bytes(int(r.u32()))
		case pglogrepl.TupleDataTypeNull, pglogrepl.TupleDataTypeToast:
		case pglogrepl.TupleDataTypeBinary:
			r.fail(errors.New("binary tuple value: the stream was asked for text"))
		default:
			r.fail(fmt.Errorf("unknown tuple value kind %q", v.kind))
		}
		if r.err != nil {
			return dst[:0]
		}
		dst = append(dst, v)
	}
	return dst
}

// row decodes an Insert, Update or Delete; a nil change means the table is
// not read by any index.
func (d *decoder) row(typ pglogrepl.MessageType, body []byte) (*changes.Change, error) {
	r := reader{b: body}
	id := r.u32()
	kind := r.byte()
	if r.err != nil {
		return nil, r.err
	}
	rel := d.relations[id]
	if rel == nil {
		return nil, fmt.Errorf("relation %d has had no Relation message", id)
	}
	var oldKind byte
	d.newT, d.oldT = d.newT[:0], d.oldT[:0]
	switch typ {
	case pglogrepl.MessageTypeInsert:
		if kind != 'N' {
			return nil, fmt.Errorf("tuple of %s is %q, expected 'N'", rel.ref, kind)
		}
		d.newT = r.tuple(d.newT, rel)
	case pglogrepl.MessageTypeUpdate:
		if kind == 'K' || kind == 'O' {
			oldKind = kind
			d.oldT = r.tuple(d.oldT, rel)
			kind = r.byte()
		}
		if kind != 'N' {
			return nil, fmt.Errorf("tuple of %s is %q, expected 'K', 'O' or 'N'", rel.ref, kind)
		}
		d.newT = r.tuple(d.newT, rel)
	case pglogrepl.MessageTypeDelete:
		if kind != 'K' && kind != 'O' {
			return nil, fmt.Errorf("tuple of %s is %q, expected 'K' or 'O'", rel.ref, kind)
		}
		oldKind = kind
		d.oldT = r.tuple(d.oldT, rel)
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("%d bytes after the tuple data of %s", r.left(), rel.ref)
	}
	if !rel.read {
		return nil, nil
	}
	if rel.keyErr != nil {
		return nil, rel.keyErr
	}
	c := &changes.Change{
		LSN: d.lsn, Seq: d.seq, XID: d.xid, CommitTime: d.time,
		Schema: rel.ref.Schema, Table: rel.ref.Name, KeyColumns: rel.keyColumns,
	}
	var err error
	switch typ {
	case pglogrepl.MessageTypeInsert:
		c.Op = changes.Insert
		c.Key, err = key(rel, d.newT, nil, "new row")
	case pglogrepl.MessageTypeUpdate:
		c.Op = changes.Update
		if c.Key, err = key(rel, d.newT, d.oldT, "new row"); err != nil {
			break
		}
		if oldKind != 0 {
			var old []string
			if old, err = key(rel, d.oldT, nil, "old row"); err == nil && !slices.Equal(old, c.Key) {
				c.OldKey = old
			}
		}
	case pglogrepl.MessageTypeDelete:
		c.Op = changes.Delete
		c.Key, err = key(rel, d.oldT, nil, "old row")
	}
	if err != nil {
		return nil, err
	}
	if oldKind == 'O' {
		c.Old = make(map[string]*string, len(rel.columns))
		for i, v := range d.oldT {
			switch v.kind {
			case pglogrepl.TupleDataTypeText:
				s := string(v.data)
				c.Old[rel.columns[i]] = &s
			case pglogrepl.TupleDataTypeNull:
				c.Old[rel.columns[i]] = nil
			}
		}
	}
	d.seq++
	return c, nil
}

// key reads the key values of a tuple. A key value sent as unchanged
// TOAST is taken from fallback (Postgres then sends the old key: a
// replica identity column stored out of line is always logged).
func key(rel *relation, t, fallback []tupleValue, what string) ([]string, error) {
	out := make([]string, len(rel.keyPos))
	for i, p := range rel.keyPos {
		v := t[p]
		if v.kind == pglogrepl.TupleDataTypeToast && len(fallback) > p {
			v = fallback[p]
		}
		switch v.kind {
		case pglogrepl.TupleDataTypeText:
			out[i] = string(v.data)
		case pglogrepl.TupleDataTypeNull:
			return nil, fmt.Errorf("key column %s of %s is NULL in the %s: the table's replica identity must hold its key %v (REPLICA IDENTITY DEFAULT on the primary key, or FULL)", rel.keyColumns[i], rel.ref, what, rel.keyColumns)
		default:
			return nil, fmt.Errorf("key column %s of %s is an unchanged TOASTed value with no old value in the stream", rel.keyColumns[i], rel.ref)
		}
	}
	return out, nil
}

// truncate decodes a Truncate: one change per emptied table an index reads.
func (d *decoder) truncate(body []byte) (decoded, error) {
	r := reader{b: body}
	n := int(r.u32())
	r.byte() // options: CASCADE, RESTART IDENTITY
	if r.err != nil {
		return decoded{}, r.err
	}
	if n*4 != r.left() {
		return decoded{}, fmt.Errorf("%d relations in %d bytes", n, r.left())
	}
	d.trunc = d.trunc[:0]
	for range n {
		d.trunc = append(d.trunc, r.u32())
	}
	d.out, d.refs = d.out[:0], d.refs[:0]
	for _, id := range d.trunc {
		rel := d.relations[id]
		if rel == nil {
			return decoded{}, fmt.Errorf("relation %d has had no Relation message", id)
		}
		if !rel.read {
			continue
		}
		d.out = append(d.out, &changes.Change{
			LSN: d.lsn, Seq: d.seq, XID: d.xid, CommitTime: d.time,
			Schema: rel.ref.Schema, Table: rel.ref.Name, Op: changes.Truncate,
		})
		d.refs = append(d.refs, rel.ref)
		d.seq++
	}
	return decoded{kind: decodedChange, changes: d.out, truncated: d.refs}, nil
}

// reader reads big-endian fields with bounds checks; after the first
// failure every read returns zero and err holds the cause.
type reader struct {
	b   []byte
	off int
	err error
}

var errShort = errors.New("message ends early")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.fail(errShort)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) byte() byte {
	if s := r.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if s := r.take(2); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

// bytes returns the next n bytes as a slice of the message.
func (r *reader) bytes(n int) []byte {
	s := r.take(n)
	if s == nil {
		return []byte{}
	}
	return s
}

func (r *reader) cstring() string {
	if r.err != nil {
		return ""
	}
	end := bytes.IndexByte(r.b[r.off:], 0)
	if end < 0 {
		r.fail(errors.New("string without its terminating zero byte"))
		return ""
	}
	s := string(r.b[r.off : r.off+end])
	r.off += end + 1
	return s
}
