package resolve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pgx/v5"
)

// An occurrence is one place a table takes in an index's document: the root,
// a relation, an aggregate, or the junction of a many_to_many or through
// aggregate. A table may occur many times, in several indexes, and below
// itself.
type occurrence struct {
	path  string // the field path, for messages; a junction's ends in "(through)"
	table *catalog.Table
	// key identifies this occurrence's rows for the occurrences below it
	// (their foreign keys reference it); nil for junctions and aggregates.
	key []string
	// up holds the columns whose values lead one step up: the parent's rows
	// are those whose toParent.by columns equal them, position by position.
	// For the root, up is the root key.
	up       []string
	parent   *occurrence
	toParent *lookup // at the parent: its rows by the columns up points at
	children []*occurrence
	// lookups find this occurrence's up values from the values of other
	// columns (what its children point at), one per column list.
	lookups []*lookup
	// fromKey: positions of up in the table's key when up is part of it (a
	// change's key gives the values without a query); else fromRead: their
	// positions in the table's current-row read.
	fromKey  []int
	fromRead []int
}

// A lookup turns values of the columns by into values of an occurrence's up
// columns: by projection when by holds them all, else by one query per batch.
type lookup struct {
	occ  *occurrence
	by   []string
	pick []int  // positions of up in by, or nil
	sql  string // SELECT up WHERE by IN (…), when pick is nil
}

type indexPlan struct {
	name  string
	root  *occurrence
	order []*occurrence // children before their parent
}

// tablePlan is what a change of one table starts from.
type tablePlan struct {
	table       *catalog.Table
	key         []string // what Change.Key holds
	occurrences []*occurrence
	// readSQL reads the columns readCols of the current rows by key, for
	// the occurrences whose up is not part of the key; "" when none needs it.
	readCols []string
	readSQL  string
}

type planner struct {
	index  string
	tables map[config.TableRef]*catalog.Table
	errs   []error
	plans  map[config.TableRef]*tablePlan
}

func plan(ctx context.Context, cfg *config.Config, cat *catalog.Catalog) (*Resolver, error) {
	var refs []config.TableRef
	for _, ix := range cfg.Indexes {
		if ix.Enabled && ix.Schema != nil {
			refs = append(refs, ix.Schema.Tables()...)
		}
	}
	tables, err := cat.Tables(ctx, refs...)
	if err != nil {
		return nil, err
	}
	p := &planner{tables: tables, plans: map[config.TableRef]*tablePlan{}}
	r := &Resolver{tables: p.plans}
	for _, ix := range cfg.Indexes {
		if !ix.Enabled {
			continue
		}
		if ix.Schema == nil {
			p.errs = append(p.errs, fmt.Errorf("index %s: no schema loaded", ix.Name))
			continue
		}
		p.index = ix.Name
		if ip := p.indexPlan(ix.Name, ix.Schema); ip != nil {
			r.indexes = append(r.indexes, ip)
		}
	}
	for ref := range p.plans {
		r.refs = append(r.refs, ref)
	}
	slices.SortFunc(r.refs, func(a, b config.TableRef) int {
		return cmp.Or(strings.Compare(a.Schema, b.Schema), strings.Compare(a.Name, b.Name))
	})
	for _, ref := range r.refs {
		p.tablePlan(p.plans[ref])
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return r, nil
}

func (p *planner) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("index %s: %s: %s", p.index, path, fmt.Sprintf(format, args...)))
}

func (p *planner) indexPlan(name string, s *config.Schema) *indexPlan {
	root := p.occurrence(name, s.Table)
	if root == nil {
		return nil
	}
	root.key = p.keyOf(root, s.PrimaryKey, "primary_key")
	if root.key == nil {
		return nil
	}
	root.up = root.key
	p.fields(root, s.Fields)
	ip := &indexPlan{name: name, root: root}
	var visit func(o *occurrence)
	visit = func(o *occurrence) {
		for _, c := range o.children {
			visit(c)
		}
		ip.order = append(ip.order, o)
	}
	visit(root)
	return ip
}

// fields plans the relations and aggregates among fields, all of them read
// from parent's row (objects group fields of the same row).
func (p *planner) fields(parent *occurrence, fields []*config.Field) {
	for _, f := range fields {
		switch {
		case f.Kind == config.KindObject:
			p.fields(parent, f.Fields)
		case f.Relation != nil:
			p.relation(parent, f)
		case f.Aggregate != nil:
			p.aggregate(parent, f)
		}
	}
}

func (p *planner) relation(parent *occurrence, f *config.Field) {
	rel := f.Relation
	var c *occurrence
	switch rel.Kind {
	case config.HasOne, config.HasMany:
		// The related rows point at the parent: foreign_key -> parent key.
		c = p.child(parent, f.Path, rel.Table, rel.ForeignKey, "foreign_key", parent.key, "the parent's key")
		if c != nil && p.keyOf(c, rel.PrimaryKey, "primary_key") == nil {
			return
		}
	case config.BelongsTo:
		// The parent points at the related row: parent column -> related key.
		c = p.occurrence(f.Path, rel.Table)
		if c == nil || p.keyOf(c, rel.PrimaryKey, "primary_key") == nil {
			return
		}
		if !p.checkColumns(f.Path, parent.table, rel.Column, "column") {
			return
		}
		c.up = c.key
		if !p.attach(parent, c, rel.Column, "column", "primary_key") {
			return
		}
	case config.ManyToMany:
		j := p.child(parent, f.Path+" (through)", rel.Through.Table, rel.Through.LeftKey, "left_key", parent.key, "the parent's key")
		if j == nil {
			return
		}
		c = p.occurrence(f.Path, rel.Table)
		if c == nil || p.keyOf(c, rel.PrimaryKey, "primary_key") == nil {
			return
		}
		if !p.checkColumns(j.path, j.table, rel.Through.RightKey, "right_key") {
			return
		}
		c.up = c.key
		if !p.attach(j, c, rel.Through.RightKey, "right_key", "primary_key") {
			return
		}
	default:
		p.errorf(f.Path, "unknown relation kind %q", rel.Kind)
		return
	}
	if c != nil {
		p.fields(c, f.Fields)
	}
}

func (p *planner) aggregate(parent *occurrence, f *config.Field) {
	agg := f.Aggregate
	if agg.Through == nil {
		p.child(parent, f.Path, agg.Table, agg.ForeignKey, "foreign_key", parent.key, "the parent's key")
		return
	}
	j := p.child(parent, f.Path+" (through)", agg.Through.Table, agg.Through.LeftKey, "left_key", parent.key, "the parent's key")
	if j == nil {
		return
	}
	c := p.occurrence(f.Path, agg.Table)
	if c == nil || p.keyOf(c, agg.PrimaryKey, "primary_key") == nil {
		return
	}
	if !p.checkColumns(j.path, j.table, agg.Through.RightKey, "right_key") {
		return
	}
	c.up = c.key
	p.attach(j, c, agg.Through.RightKey, "right_key", "primary_key")
}

// child plans an occurrence of table whose columns up point at the parent's
// columns parentCols.
func (p *planner) child(parent *occurrence, path string, table config.TableRef, up []string, upWhat string, parentCols []string, parentWhat string) *occurrence {
	c := p.occurrence(path, table)
	if c == nil {
		return nil
	}
	if !p.checkColumns(path, c.table, up, upWhat) {
		return nil
	}
	c.up = up
	if !p.attach(parent, c, parentCols, parentWhat, upWhat) {
		return nil
	}
	return c
}

// attach links c below parent: c's up columns equal the parent's columns
// by, position by position.
func (p *planner) attach(parent, c *occurrence, by []string, byWhat, upWhat string) bool {
	if len(by) != len(c.up) {
		p.errorf(c.path, "%s of %s has %d column(s) but %s of %s has %d: they pair position by position",
			upWhat, c.table.Ref, len(c.up), byWhat, parent.table.Ref, len(by))
		return false
	}
	c.parent = parent
	parent.children = append(parent.children, c)
	c.toParent = parent.lookupBy(by)
	return true
}

// lookupBy returns the occurrence's lookup by the columns by, adding it.
func (o *occurrence) lookupBy(by []string) *lookup {
	for _, lk := range o.lookups {
		if slices.Equal(lk.by, by) {
			return lk
		}
	}
	lk := &lookup{occ: o, by: by, pick: positions(o.up, by)}
	if lk.pick == nil {
		lk.sql = selectSQL(o.table, o.up, by)
	}
	o.lookups = append(o.lookups, lk)
	return lk
}

// occurrence plans one occurrence of a table, registering it with the
// table's plan; nil when the table does not exist.
func (p *planner) occurrence(path string, ref config.TableRef) *occurrence {
	t := p.tables[ref]
	if t == nil {
		p.errorf(path, "table %s does not exist", ref)
		return nil
	}
	o := &occurrence{path: path, table: t}
	tp := p.plans[ref]
	if tp == nil {
		tp = &tablePlan{table: t}
		p.plans[ref] = tp
	}
	tp.occurrences = append(tp.occurrences, o)
	return o
}

// keyOf sets and returns the occurrence's key: the declared columns, or the
// table's primary key.
func (p *planner) keyOf(o *occurrence, declared []string, what string) []string {
	key := declared
	if len(key) == 0 {
		key = o.table.PrimaryKey
		if len(key) == 0 {
			p.errorf(o.path, "table %s has no primary key: declare %s", o.table.Ref, what)
			return nil
		}
	} else if !p.checkColumns(o.path, o.table, key, what) {
		return nil
	}
	o.key = key
	return key
}

func (p *planner) checkColumns(path string, t *catalog.Table, cols []string, what string) bool {
	ok := len(cols) > 0
	if !ok {
		p.errorf(path, "%s is empty", what)
	}
	for _, c := range cols {
		if t.Column(c) == nil {
			p.errorf(path, "table %s has no column %q (%s)", t.Ref, c, what)
			ok = false
		}
	}
	return ok
}

// tablePlan completes a table's plan once all its occurrences are known: its
// key and the read of current rows.
func (p *planner) tablePlan(tp *tablePlan) {
	t := tp.table
	switch {
	case len(t.PrimaryKey) > 0:
		tp.key = t.PrimaryKey
	case t.ReplicaIdentity == 'i' && len(t.IdentityColumns) > 0:
		tp.key = t.IdentityColumns
	default:
		paths := make([]string, len(tp.occurrences))
		for i, o := range tp.occurrences {
			paths[i] = o.path
		}
		p.errs = append(p.errs, fmt.Errorf("table %s (read by %s) has neither a primary key nor a replica identity index: flusso cannot tell which row changed; add a primary key",
			t.Ref, strings.Join(paths, ", ")))
		return
	}
	for _, o := range tp.occurrences {
		if o.up == nil {
			continue // planning failed; the error is recorded
		}
		if o.fromKey = positions(o.up, tp.key); o.fromKey != nil {
			continue
		}
		for _, c := range o.up {
			if !slices.Contains(tp.readCols, c) {
				tp.readCols = append(tp.readCols, c)
			}
		}
	}
	for _, o := range tp.occurrences {
		if o.up != nil && o.fromKey == nil {
			o.fromRead = positions(o.up, tp.readCols)
		}
	}
	if len(tp.readCols) > 0 {
		tp.readSQL = selectSQL(t, tp.readCols, tp.key)
	}
}

// positions returns where each of cols is in in, or nil when one is missing.
func positions(cols, in []string) []int {
	pos := make([]int, len(cols))
	for i, c := range cols {
		if pos[i] = slices.Index(in, c); pos[i] < 0 {
			return nil
		}
	}
	return pos
}

// selectSQL reads the distinct values of the columns pick, as text, of the
// rows of t whose columns by equal one of the tuples bound as text arrays,
// one array per column, cast to the columns' types.
//
//	SELECT DISTINCT "a"::text FROM "s"."t"
//	WHERE ("k1", "k2") IN (SELECT u.v1::integer, u.v2::date FROM unnest($1::text[], $2::text[]) AS u(v1, v2))
func selectSQL(t *catalog.Table, pick, by []string) string {
	var sb strings.Builder
	sb.WriteString("SELECT DISTINCT ")
	for i, c := range pick {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(ident(c) + "::text")
	}
	sb.WriteString(" FROM " + pgx.Identifier{t.Ref.Schema, t.Ref.Name}.Sanitize() + " WHERE (")
	for i, c := range by {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(ident(c))
	}
	sb.WriteString(") IN (SELECT ")
	for i, c := range by {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "u.v%d::%s", i+1, t.Column(c).Type)
	}
	sb.WriteString(" FROM unnest(")
	for i := range by {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "$%d::text[]", i+1)
	}
	sb.WriteString(") AS u(")
	for i := range by {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "v%d", i+1)
	}
	sb.WriteString("))")
	return sb.String()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
