// Package catalog reads what flusso needs to know about the source database's
// tables from the Postgres system catalogs: columns with their types and
// nullability, primary keys, replica identity, and publication membership.
// Table definitions are cached until invalidated (a Relation message of the
// replication stream says a table changed). It does not judge a schema
// against the database; it only reports what is there.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pgx/v5"
)

// Querier is what the catalog needs of a connection or pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ErrNoTable is returned (wrapped, with the table's name) for a table that
// does not exist.
var ErrNoTable = errors.New("no such table")

// Column is one column of a table.
type Column struct {
	Name string
	// Type is the declared type as Postgres prints it: numeric(10,2),
	// character(2), stays.listing_kind, integer[]. It is valid SQL to cast to.
	Type string
	// TypeName is the name of the base type, domains resolved: numeric,
	// bpchar, varchar, int4, timestamptz, listing_kind, _int4.
	TypeName string
	// Category is the base type's pg_type.typcategory: 'S' string, 'N'
	// numeric, 'B' boolean, 'D' date/time, 'E' enum, 'U' user-defined (uuid,
	// json, jsonb, bytea), 'A' array, 'G' geometric, 'I' network…
	Category byte
	IsEnum   bool
	NotNull  bool
}

// Table is a table's definition.
type Table struct {
	Ref  config.TableRef
	OID  uint32
	Kind byte // pg_class.relkind: 'r' table, 'p' partitioned, 'v' view, 'm' materialized view, 'f' foreign
	// Columns in their order in the table.
	Columns    []Column
	PrimaryKey []string // empty when the table has none
	// ReplicaIdentity is pg_class.relreplident: 'd' default (the primary
	// key), 'f' full, 'i' an index, 'n' nothing.
	ReplicaIdentity byte
	// IdentityColumns are the columns whose old values a delete or a key
	// change carries in the replication stream.
	IdentityColumns []string
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Key returns the primary key, or a clear error naming the table when it has
// none.
func (t *Table) Key() ([]string, error) {
	if len(t.PrimaryKey) == 0 {
		return nil, fmt.Errorf("table %s has no primary key: declare primary_key in the schema", t.Ref)
	}
	return t.PrimaryKey, nil
}

// Catalog reads and caches table definitions.
type Catalog struct {
	db     Querier
	mu     sync.Mutex
	tables map[config.TableRef]*Table
}

// New returns a catalog reading through db.
func New(db Querier) *Catalog {
	return &Catalog{db: db, tables: map[config.TableRef]*Table{}}
}

// Invalidate forgets the cached definitions of the given tables, or of every
// table when none is given.
func (c *Catalog) Invalidate(refs ...config.TableRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(refs) == 0 {
		c.tables = map[config.TableRef]*Table{}
		return
	}
	for _, r := range refs {
		delete(c.tables, r)
	}
}

// Table returns one table's definition; a missing table is an error wrapping
// ErrNoTable.
func (c *Catalog) Table(ctx context.Context, ref config.TableRef) (*Table, error) {
	tables, err := c.Tables(ctx, ref)
	if err != nil {
		return nil, err
	}
	t, ok := tables[ref]
	if !ok {
		return nil, fmt.Errorf("table %s: %w", ref, ErrNoTable)
	}
	return t, nil
}

// Tables returns the definitions of the given tables, reading the uncached
// ones in one round of queries. Tables that do not exist are absent from the
// result.
func (c *Catalog) Tables(ctx context.Context, refs ...config.TableRef) (map[config.TableRef]*Table, error) {
	out := make(map[config.TableRef]*Table, len(refs))
	var missing []config.TableRef
	c.mu.Lock()
	for _, r := range refs {
		if t, ok := c.tables[r]; ok {
			out[r] = t
		} else if !containsRef(missing, r) {
			missing = append(missing, r)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	read, err := c.read(ctx, missing)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for r, t := range read {
		c.tables[r] = t
		out[r] = t
	}
	c.mu.Unlock()
	return out, nil
}

func containsRef(refs []config.TableRef, r config.TableRef) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

const tablesSQL = `
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relreplident
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN unnest($1::text[], $2::text[]) AS want(nsp, rel) ON want.nsp = n.nspname AND want.rel = c.relname
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')`

const columnsSQL = `
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       b.typname, b.typcategory, b.typtype = 'e'
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum`

const indexesSQL = `
SELECT i.indrelid, i.indisprimary, array_agg(a.attname ORDER BY k.ord)::text[]
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = ANY($1) AND (i.indisprimary OR i.indisreplident)
GROUP BY i.indexrelid, i.indrelid, i.indisprimary`

func (c *Catalog) read(ctx context.Context, refs []config.TableRef) (map[config.TableRef]*Table, error) {
	schemas, names := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		schemas[i], names[i] = r.Schema, r.Name
	}
	rows, err := c.db.Query(ctx, tablesSQL, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	byOID := map[uint32]*Table{}
	var oids []uint32
	for rows.Next() {
		t := &Table{}
		var kind, ident string
		if err := rows.Scan(&t.OID, &t.Ref.Schema, &t.Ref.Name, &kind, &ident); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the catalog: %w", err)
		}
		t.Kind, t.ReplicaIdentity = kind[0], ident[0]
		byOID[t.OID] = t
		oids = append(oids, t.OID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	out := make(map[config.TableRef]*Table, len(byOID))
	if len(oids) == 0 {
		return out, nil
	}

	rows, err = c.db.Query(ctx, columnsSQL, oids)
	if err != nil {
		return nil, fmt.Errorf("read the columns: %w", err)
	}
	for rows.Next() {
		var (
			oid      uint32
			col      Column
			category string
		)
		if err := rows.Scan(&oid, &col.Name, &col.Type, &col.NotNull, &col.TypeName, &category, &col.IsEnum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the columns: %w", err)
		}
		col.Category = category[0]
		byOID[oid].Columns = append(byOID[oid].Columns, col)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns: %w", err)
	}

	rows, err = c.db.Query(ctx, indexesSQL, oids)
	if err != nil {
		return nil, fmt.Errorf("read the keys: %w", err)
	}
	identity := map[uint32][]string{}
	for rows.Next() {
		var (
			oid     uint32
			primary bool
			cols    []string
		)
		if err := rows.Scan(&oid, &primary, &cols); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the keys: %w", err)
		}
		if primary {
			byOID[oid].PrimaryKey = cols
		}
		if byOID[oid].ReplicaIdentity == 'i' && !primary {
			identity[oid] = cols
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the keys: %w", err)
	}

	for oid, t := range byOID {
		switch t.ReplicaIdentity {
		case 'd':
			t.IdentityColumns = t.PrimaryKey
		case 'i':
			t.IdentityColumns = identity[oid]
		case 'f':
			for _, col := range t.Columns {
				t.IdentityColumns = append(t.IdentityColumns, col.Name)
			}
		}
		out[t.Ref] = t
	}
	return out, nil
}

// Publication is what a publication covers.
type Publication struct {
	Name      string
	Exists    bool
	AllTables bool
	Owner     string
	Tables    map[config.TableRef]bool
}

// Covers reports whether changes to ref reach the publication.
func (p *Publication) Covers(ref config.TableRef) bool {
	return p.AllTables || p.Tables[ref]
}

// ReadPublication reads a publication's coverage; it is never cached, since
// flusso may have just changed it.
func ReadPublication(ctx context.Context, db Querier, name string) (*Publication, error) {
	p := &Publication{Name: name, Tables: map[config.TableRef]bool{}}
	rows, err := db.Query(ctx, `SELECT p.puballtables, r.rolname FROM pg_publication p JOIN pg_roles r ON r.oid = p.pubowner WHERE p.pubname = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("read publication %s: %w", name, err)
	}
	for rows.Next() {
		p.Exists = true
		if err := rows.Scan(&p.AllTables, &p.Owner); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read publication %s: %w", name, err)
		}
	}
	if err := rows.Err(); err != nil || !p.Exists {
		return p, err
	}
	rows, err = db.Query(ctx, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("read publication %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r config.TableRef
		if err := rows.Scan(&r.Schema, &r.Name); err != nil {
			return nil, fmt.Errorf("read publication %s: %w", name, err)
		}
		p.Tables[r] = true
	}
	return p, rows.Err()
}
