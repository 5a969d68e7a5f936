// Package dbcheck checks a loaded deployment against its database: that every
// table and column a schema names exists, that each declared type can hold
// its column, that keys exist and compare, that the publication covers what
// the indexes read and that the server and role allow logical replication.
// It reads the database and never changes it: where a fix is SQL, the
// finding carries the exact statement. It does not load configuration (see
// pkg/config) nor print anything (cmd/flusso does).
package dbcheck

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
)

// Report is the outcome of a check: the findings, and what was looked at.
type Report struct {
	Server      Server      `json:"server"`
	Publication Publication `json:"publication"`
	Slot        Slot        `json:"slot"`
	// Indexes has one entry per configured index, in configuration order.
	Indexes     []IndexSummary     `json:"indexes"`
	Diagnostics config.Diagnostics `json:"diagnostics"`
}

// Server is what the check learnt about the server and the connected role.
type Server struct {
	Version             string `json:"version"`
	Database            string `json:"database"`
	Role                string `json:"role"`
	Superuser           bool   `json:"superuser"`
	Replication         bool   `json:"replication"`
	WALLevel            string `json:"wal_level"`
	MaxReplicationSlots int    `json:"max_replication_slots"`
	MaxWALSenders       int    `json:"max_wal_senders"`

	quotedRole string
	canCreate  bool // CREATE on the database: may create a publication
}

// Publication is the coverage of the deployment's publication.
type Publication struct {
	Name      string `json:"name"`
	Exists    bool   `json:"exists"`
	AllTables bool   `json:"all_tables,omitempty"`
	// Missing lists the tables read by enabled indexes that the publication
	// does not cover, as qualified SQL names.
	Missing []string `json:"missing"`
	// SQL is the statement that makes the publication cover them; empty when
	// nothing is missing.
	SQL string `json:"sql,omitempty"`
	// Managed is true when flusso will run SQL itself at start:
	// manage_publication is on and the role may.
	Managed bool `json:"managed"`
}

// Slot describes the replication slot when it exists already.
type Slot struct {
	Name     string `json:"name"`
	Exists   bool   `json:"exists"`
	Plugin   string `json:"plugin,omitempty"`
	Database string `json:"database,omitempty"`
	Active   bool   `json:"active,omitempty"`
}

// IndexSummary says what was checked for one index.
type IndexSummary struct {
	Name string `json:"name"`
	// Checked is false for a disabled index, which is not checked.
	Checked bool `json:"checked"`
	// Tables the index reads, as schema.table, in the order the schema names
	// them; missing tables included.
	Tables   []string `json:"tables"`
	Columns  int      `json:"columns"` // distinct columns checked
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
}

// Check compares cfg with the database behind db. The error is only for a
// failure to read the database; everything wrong with the deployment is a
// diagnostic of the report.
func Check(ctx context.Context, cfg *config.Config, db catalog.Querier) (Report, error) {
	c := &checker{
		cfg:    cfg,
		db:     db,
		uses:   map[config.TableRef]*usage{},
		quoted: map[config.TableRef]string{},
	}
	rep := Report{Indexes: []IndexSummary{}}

	var refs []config.TableRef
	for _, ix := range cfg.Indexes {
		if ix.Enabled && ix.Schema != nil {
			refs = append(refs, tablesOf(ix.Schema)...)
		}
	}
	var err error
	if c.tables, err = catalog.New(db).Tables(ctx, refs...); err != nil {
		return rep, err
	}
	for _, r := range refs {
		if c.tables[r] == nil {
			if c.known, err = listTables(ctx, db); err != nil {
				return rep, err
			}
			break
		}
	}
	if err := c.quote(ctx, refs); err != nil {
		return rep, err
	}
	if rep.Server, err = readServer(ctx, db); err != nil {
		return rep, err
	}

	for _, ix := range cfg.Indexes {
		sum := IndexSummary{Name: ix.Name, Tables: []string{}}
		if ix.Enabled && ix.Schema != nil {
			sum.Checked = true
			c.index(ix, &sum)
		}
		rep.Indexes = append(rep.Indexes, sum)
	}
	c.tableRules()
	if rep.Publication, err = c.publication(ctx, rep.Server); err != nil {
		return rep, err
	}
	c.settings(rep.Server)
	if rep.Slot, err = c.slot(ctx, rep.Server); err != nil {
		return rep, err
	}

	for i := range rep.Indexes {
		s := &rep.Indexes[i]
		for _, d := range c.diags {
			if first, _, _ := strings.Cut(d.Path, "."); first == s.Name {
				if d.Severity == config.SeverityError {
					s.Errors++
				} else {
					s.Warnings++
				}
			}
		}
	}
	rep.Diagnostics = c.diags
	return rep, nil
}

// tablesOf lists every table a schema reads, root first, without repeats.
func tablesOf(s *config.Schema) []config.TableRef {
	out := []config.TableRef{s.Table}
	add := func(r config.TableRef) {
		for _, x := range out {
			if x == r {
				return
			}
		}
		out = append(out, r)
	}
	config.Walk(s.Fields, func(f *config.Field) bool {
		switch {
		case f.Relation != nil:
			add(f.Relation.Table)
			if f.Relation.Through != nil {
				add(f.Relation.Through.Table)
			}
		case f.Aggregate != nil:
			add(f.Aggregate.Table)
			if f.Aggregate.Through != nil {
				add(f.Aggregate.Through.Table)
			}
		}
		return true
	})
	return out
}

// place is where a finding is reported.
type place struct {
	pos  config.Position
	path string
}

// usage is how the enabled indexes use one table.
type usage struct {
	table *catalog.Table
	first place  // where it is first named
	child *place // where it is first read as a related, aggregated or junction table
}

type checker struct {
	cfg    *config.Config
	db     catalog.Querier
	tables map[config.TableRef]*catalog.Table
	known  []config.TableRef // every table of the database, read only when one is missing
	quoted map[config.TableRef]string
	uses   map[config.TableRef]*usage
	order  []config.TableRef // first-use order of uses
	diags  config.Diagnostics

	// The index being checked.
	sum     *IndexSummary
	columns map[string]bool
	viewed  map[config.TableRef]bool
}

func (c *checker) add(sev config.Severity, at place, hint, format string, args ...any) {
	c.diags = append(c.diags, config.Diagnostic{Severity: sev, Position: at.pos, Path: at.path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (c *checker) errorf(at place, hint, format string, args ...any) {
	c.add(config.SeverityError, at, hint, format, args...)
}

func (c *checker) warnf(at place, hint, format string, args ...any) {
	c.add(config.SeverityWarning, at, hint, format, args...)
}

// row is the table a list of fields reads, with its key.
type row struct {
	ref   config.TableRef
	table *catalog.Table // nil when it does not exist: its columns go unchecked
	key   []string       // nil when unknown
	// filtered are the columns a filter of these rows compares: rows where
	// they are null never match, so they are never null in a document.
	filtered map[string]bool
}

func filtered(filters []config.Filter) map[string]bool {
	out := map[string]bool{}
	for _, f := range filters {
		if f.Column != "" && f.Op != config.OpIsNull {
			out[f.Column] = true
		}
	}
	return out
}

func (c *checker) index(ix *config.Index, sum *IndexSummary) {
	c.sum = sum
	c.columns, c.viewed = map[string]bool{}, map[config.TableRef]bool{}
	s := ix.Schema
	at := func(path string) place { return place{config.Position{File: s.File}, path} }

	root := row{ref: s.Table, table: c.useTable(s.Table, at(ix.Name), "table", true), filtered: filtered(s.Filters)}
	root.key = c.key(root, s.PrimaryKey, at(ix.Name+".primary_key"))
	c.rootIdentity(root, at(ix.Name+".primary_key"))
	c.filters(root, s.Filters, at(ix.Name+".filters"))
	if sd := s.SoftDelete; sd != nil {
		if sd.Column != "" {
			c.column(root, sd.Column, at(ix.Name+".soft_delete.column"))
		}
		// A soft_delete field is a declared field of the root row: its column
		// is checked with the field.
		c.filters(root, sd.When, at(ix.Name+".soft_delete.when"))
	}
	c.fields(root, s.Fields)
	sum.Columns = len(c.columns)
}

// useTable looks a table up, reporting a missing one with a suggestion and
// noting how the index uses it: at is the field reading it (the index for
// the root), key the schema key naming it.
func (c *checker) useTable(ref config.TableRef, at place, key string, root bool) *catalog.Table {
	name := ref.String()
	if !contains(c.sum.Tables, name) {
		c.sum.Tables = append(c.sum.Tables, name)
	}
	named := place{at.pos, at.path + "." + key}
	t := c.tables[ref]
	if t == nil {
		c.errorf(named, c.suggestTable(ref), "table %s does not exist", ref)
		return nil
	}
	u := c.uses[ref]
	if u == nil {
		u = &usage{table: t, first: at}
		c.uses[ref] = u
		c.order = append(c.order, ref)
	}
	if !root && u.child == nil {
		u.child = &at
	}
	if !c.viewed[ref] {
		c.viewed[ref] = true
		switch t.Kind {
		case 'v', 'm':
			kind := "a view"
			if t.Kind == 'm' {
				kind = "a materialized view"
			}
			c.warnf(named, "read the underlying tables, or reindex after they change", "%s is %s: flusso can read it, but changes to it are not replicated, so documents built from it go stale", ref, kind)
		case 'f':
			c.warnf(named, "read a local table, or reindex after it changes", "%s is a foreign table: flusso can read it, but changes to it are not replicated, so documents built from it go stale", ref)
		}
	}
	return t
}

func (c *checker) suggestTable(ref config.TableRef) string {
	var same, elsewhere []string
	for _, k := range c.known {
		if k.Schema == ref.Schema {
			same = append(same, k.Name)
		} else if k.Name == ref.Name {
			elsewhere = append(elsewhere, k.Schema)
		}
	}
	if s := closest(ref.Name, same); s != "" {
		return fmt.Sprintf("did you mean %s.%s?", ref.Schema, s)
	}
	if len(elsewhere) > 0 {
		sort.Strings(elsewhere)
		return fmt.Sprintf("%s.%s exists: set schema: %s in the schema file", elsewhere[0], ref.Name, elsewhere[0])
	}
	if len(same) == 0 {
		return fmt.Sprintf("the database schema %q holds no table", ref.Schema)
	}
	return ""
}

// column checks that a column exists and counts it.
func (c *checker) column(r row, name string, at place) *catalog.Column {
	if r.table == nil {
		return nil
	}
	c.columns[r.ref.String()+"."+name] = true
	col := r.table.Column(name)
	if col == nil {
		names := make([]string, len(r.table.Columns))
		for i, x := range r.table.Columns {
			names[i] = x.Name
		}
		hint := ""
		if s := closest(name, names); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		c.errorf(at, hint, "%s has no column %q", r.ref, name)
	}
	return col
}

// key resolves the key of a row: the declared columns, which must exist, or
// the table's primary key from the catalog.
func (c *checker) key(r row, declared []string, at place) []string {
	if r.table == nil {
		return nil
	}
	if len(declared) == 0 {
		return c.catalogKey(r, at, "declare primary_key", "%s has no primary key, and the schema declares none")
	}
	ok := true
	for _, k := range declared {
		ok = c.column(r, k, at) != nil && ok
	}
	if !ok {
		return nil
	}
	return declared
}

// catalogKey is the table's primary key, or an error when it has none.
func (c *checker) catalogKey(r row, at place, hint, format string) []string {
	if r.table == nil {
		return nil
	}
	if len(r.table.PrimaryKey) == 0 {
		c.errorf(at, hint, format, r.ref)
		return nil
	}
	for _, k := range r.table.PrimaryKey {
		c.columns[r.ref.String()+"."+k] = true
	}
	return r.table.PrimaryKey
}

func (c *checker) filters(r row, filters []config.Filter, at place) {
	for i, f := range filters {
		if f.Column != "" {
			c.column(r, f.Column, place{at.pos, fmt.Sprintf("%s[%d]", at.path, i)})
		}
	}
}

func (c *checker) fields(r row, fields []*config.Field) {
	for _, f := range fields {
		at := place{f.Pos, f.Path}
		switch f.Kind {
		case config.KindScalar:
			if col := c.column(r, f.Column, at); col != nil {
				c.report(at, col, r.ref, judge(f.Type, col))
				c.required(f, at, r, col)
			}
		case config.KindCustom:
			if col := c.column(r, f.Column, at); col != nil {
				if !acceptsCustom(f.Custom.Postgres, col) {
					c.errorf(at, fmt.Sprintf("add %q to postgres", col.Type), "column %s of %s is %s, which is not among the postgres types of this custom field (%s)", col.Name, r.ref, col.Type, strings.Join(f.Custom.Postgres, ", "))
				}
				c.required(f, at, r, col)
			}
		case config.KindMap:
			if col := c.column(r, f.Column, at); col != nil {
				if !in(col.TypeName, "json", "jsonb") {
					c.errorf(at, "a map reads a json or jsonb column", "column %s of %s is %s: a map field reads json or jsonb", col.Name, r.ref, col.Type)
				}
				c.required(f, at, r, col)
			}
		case config.KindGeo:
			c.geo(r, f)
		case config.KindObject:
			c.fields(r, f.Fields)
		case config.KindRelation:
			c.relation(r, f)
		case config.KindAggregate:
			c.aggregate(r, f)
		}
	}
}

func (c *checker) geo(r row, f *config.Field) {
	g := f.Geo
	if g.Column != "" {
		at := place{f.Pos, f.Path + ".column"}
		if col := c.column(r, g.Column, at); col != nil {
			if !in(col.TypeName, "json", "jsonb", "point") && !textFamily[col.TypeName] {
				c.errorf(at, "store the point as jsonb {lat, lon}, text \"lat,lon\" or point", "column %s of %s is %s: a geo column is json, jsonb, text or point", col.Name, r.ref, col.Type)
			}
			c.required(f, place{f.Pos, f.Path}, r, col)
		}
		return
	}
	var nullable *catalog.Column
	for _, side := range []struct{ key, name string }{{"lat", g.Lat}, {"lon", g.Lon}} {
		at := place{f.Pos, f.Path + "." + side.key}
		if col := c.column(r, side.name, at); col != nil {
			if !numberTypes[col.TypeName] {
				c.errorf(at, "latitude and longitude are numbers", "column %s of %s is %s: geo %s reads a numeric column", col.Name, r.ref, col.Type, side.key)
			}
			if nullable == nil && !col.NotNull {
				nullable = col
			}
		}
	}
	if nullable != nil {
		c.required(f, place{f.Pos, f.Path}, r, nullable) // the point is null when either is
	}
}

// required warns about a required field whose column may be null.
func (c *checker) required(f *config.Field, at place, r row, col *catalog.Column) {
	if f.Required && !f.HasDefault && !col.NotNull && !r.filtered[col.Name] {
		c.warnf(at, "add NOT NULL to the column, give the field a default, or drop required", "required, but column %s of %s is nullable: documents may carry null", col.Name, r.ref)
	}
}

// report turns a type verdict into a diagnostic.
func (c *checker) report(at place, col *catalog.Column, ref config.TableRef, v verdict) {
	if v.sev == "" {
		return
	}
	c.add(v.sev, at, v.hint, "column %s of %s is %s: %s", col.Name, ref, col.Type, v.reason)
}

func (c *checker) relation(parent row, f *config.Field) {
	rel := f.Relation
	at := func(key string) place {
		if key == "" {
			return place{f.Pos, f.Path}
		}
		return place{f.Pos, f.Path + "." + key}
	}
	related := row{ref: rel.Table, table: c.useTable(rel.Table, at(""), "table", false), filtered: filtered(rel.Filters)}
	related.key = c.key(related, rel.PrimaryKey, at("primary_key"))
	switch rel.Kind {
	case config.BelongsTo:
		cols := c.compare(parent, rel.Column, at("column"), related, related.key, "primary_key")
		if f.Required {
			for _, col := range cols {
				if col != nil && !col.NotNull && !parent.filtered[col.Name] {
					c.warnf(at(""), "add NOT NULL to the column, or drop required", "required, but column %s of %s is nullable: documents may carry null", col.Name, parent.ref)
				}
			}
		}
	case config.HasOne, config.HasMany:
		c.compare(related, rel.ForeignKey, at("foreign_key"), parent, parent.key, "the parent's key")
	case config.ManyToMany:
		if th := rel.Through; th != nil {
			junction := row{ref: th.Table, table: c.useTable(th.Table, at(""), "through.table", false)}
			c.compare(junction, th.LeftKey, at("through.left_key"), parent, parent.key, "the parent's key")
			c.compare(junction, th.RightKey, at("through.right_key"), related, related.key, "primary_key")
		}
	}
	c.filters(related, rel.Filters, at("filters"))
	for i, o := range rel.OrderBy {
		c.column(related, o.Column, at(fmt.Sprintf("order_by[%d]", i)))
	}
	c.fields(related, f.Fields)
}

func (c *checker) aggregate(parent row, f *config.Field) {
	a := f.Aggregate
	field := place{f.Pos, f.Path}
	at := func(key string) place { return place{f.Pos, f.Path + "." + key} }
	agg := row{ref: a.Table, table: c.useTable(a.Table, field, "table", false)}
	if a.Func == config.AggIDs {
		agg.key = c.key(agg, a.PrimaryKey, at("primary_key"))
	} else if a.Through != nil {
		agg.key = c.catalogKey(agg, at("through.right_key"), "add a primary key to the table", "%s has no primary key for through.right_key to reference")
	}
	if th := a.Through; th != nil {
		junction := row{ref: th.Table, table: c.useTable(th.Table, field, "through.table", false)}
		c.compare(junction, th.LeftKey, at("through.left_key"), parent, parent.key, "the parent's key")
		c.compare(junction, th.RightKey, at("through.right_key"), agg, agg.key, "primary_key")
	} else {
		c.compare(agg, a.ForeignKey, at("foreign_key"), parent, parent.key, "the parent's key")
	}
	if a.Column != "" {
		if col := c.column(agg, a.Column, at("column")); col != nil {
			switch a.Func {
			case config.AggSum, config.AggAvg:
				ok := numberTypes[col.TypeName] || (a.Func == config.AggSum && col.TypeName == "money")
				if !ok {
					c.errorf(at("column"), "", "column %s of %s is %s: %s reads a numeric column", col.Name, a.Table, col.Type, a.Func)
				} else if a.Func == config.AggSum {
					c.report(at("value_type"), col, a.Table, judgeSum(a.ResultType, col))
				}
			case config.AggMin, config.AggMax:
				c.report(at("value_type"), col, a.Table, judge(a.ResultType, col))
			}
		}
	}
	if a.Func == config.AggIDs && len(agg.key) == 1 && agg.table != nil {
		if col := agg.table.Column(agg.key[0]); col != nil {
			c.report(at("element_type"), col, a.Table, judge(a.ResultType, col))
		}
	}
	c.filters(agg, a.Filters, at("filters"))
}

// compare checks the columns cols of side, and that they can be compared
// with = to the key columns of target, position by position. It returns
// the columns found.
func (c *checker) compare(side row, cols []string, at place, target row, key []string, keyName string) []*catalog.Column {
	found := make([]*catalog.Column, len(cols))
	for i, name := range cols {
		found[i] = c.column(side, name, at)
	}
	if side.table == nil || target.table == nil || key == nil {
		return found
	}
	if len(cols) != len(key) {
		c.errorf(at, "", "%s has %d column(s) but %s of %s has %d (%s): they pair up position by position", lastKey(at.path), len(cols), keyName, target.ref, len(key), strings.Join(key, ", "))
		return found
	}
	for i, col := range found {
		other := target.table.Column(key[i])
		if col == nil || other == nil {
			continue
		}
		if !comparable(col, other) {
			c.errorf(at, "make both sides of the key the same kind of type (integers, text, …)", "column %s of %s is %s and %s of %s is %s: they cannot be compared with =", col.Name, side.ref, col.Type, other.Name, target.ref, other.Type)
		}
	}
	return found
}

func lastKey(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		path = path[i+1:]
	}
	return path
}

// rootIdentity warns when the old row of a root delete cannot name its
// document: the replica identity must include the document key.
func (c *checker) rootIdentity(root row, at place) {
	t := root.table
	if t == nil || root.key == nil || (t.Kind != 'r' && t.Kind != 'p') || t.ReplicaIdentity == 'f' || len(t.IdentityColumns) == 0 {
		return
	}
	for _, k := range root.key {
		if !contains(t.IdentityColumns, k) {
			c.warnf(at, c.alterFull(root.ref), "a delete of a %s row carries only (%s), not the document key (%s): its document cannot be deleted", root.ref, strings.Join(t.IdentityColumns, ", "), strings.Join(root.key, ", "))
			return
		}
	}
}

func (c *checker) alterFull(ref config.TableRef) string {
	return fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY FULL;", c.quoted[ref])
}

// tableRules are the findings about a table as a whole, reported once where
// it is first used.
func (c *checker) tableRules() {
	for _, ref := range c.order {
		u := c.uses[ref]
		t := u.table
		if t.Kind != 'r' && t.Kind != 'p' {
			continue
		}
		if t.ReplicaIdentity == 'n' || (t.ReplicaIdentity == 'd' && len(t.PrimaryKey) == 0) {
			c.errorf(u.first, c.alterFull(ref), "%s has no primary key and no replica identity: once it is in publication %s, Postgres refuses its UPDATE and DELETE statements (SQLSTATE 55000)", ref, c.cfg.Capture.Publication)
			continue
		}
		if u.child != nil && t.ReplicaIdentity != 'f' {
			c.warnf(*u.child, c.alterFull(ref), "%s has REPLICA IDENTITY %s, not FULL: deletes and foreign-key moves of its rows cannot rebuild the document that held them before", ref, identityName(t.ReplicaIdentity))
		}
	}
}

func identityName(b byte) string {
	switch b {
	case 'd':
		return "DEFAULT"
	case 'i':
		return "USING INDEX"
	case 'n':
		return "NOTHING"
	}
	return "FULL"
}

// closest suggests the candidate nearest to a misspelt word, or "".
func closest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, cand := range candidates {
		d := levenshtein.ComputeDistance(word, cand)
		if best == "" || d < bestDist || (d == bestDist && cand < best) {
			best, bestDist = cand, d
		}
	}
	// A third of the length, at least 2: a typo, not an unrelated word.
	if best == "" || bestDist > max(2, len(word)/3) {
		return ""
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func in(s string, list ...string) bool { return contains(list, s) }
