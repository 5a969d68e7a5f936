// Package document builds search documents from Postgres: for one index and a
// batch of root keys, one SQL statement assembles every document as JSON on
// the server — same-row fields, groups, joined objects and arrays,
// aggregates — from the current state of the database. A key whose row is
// missing, soft-deleted or outside the root filters yields a delete. It does
// not decide which keys to build (package resolve does) nor write anywhere.
package document

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pgx/v5"
)

// Querier is what building needs of a connection or pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Doc is one built document, or a delete.
type Doc struct {
	// ID is the document _id: the root key values as text, joined by ":".
	ID string
	// Key is the root key values as text, in key column order.
	Key []string
	// Source is the document; nil means the document must be deleted.
	Source json.RawMessage
}

// Builder builds the documents of one index.
type Builder struct {
	index   string
	sql     string
	params  []any // the schema's values (filters, defaults, constants), after the key arrays
	keyCols []string
	root    config.TableRef
}

// New plans the statement of an index from its schema and the catalog.
// Errors name the index, the field and what is missing.
func New(ctx context.Context, index string, s *config.Schema, cat *catalog.Catalog) (*Builder, error) {
	refs := s.Tables()
	tables, err := cat.Tables(ctx, refs...)
	if err != nil {
		return nil, err
	}
	p := &planner{index: index, tables: tables}
	sql, keyCols, err := p.root(s)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", index, err)
	}
	return &Builder{index: index, sql: sql, params: p.params, keyCols: keyCols, root: s.Table}, nil
}

// ConfigureConn applies the session settings the build statements want to a
// connection's configuration: no JIT compilation, which costs far more than
// these index-driven statements run, and no parallel workers, whose start-up
// costs more than the batch-sized scans they would share.
func ConfigureConn(c *pgx.ConnConfig) {
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	c.RuntimeParams["jit"] = "off"
	c.RuntimeParams["max_parallel_workers_per_gather"] = "0"
}

// SQL returns the statement, for inspection and EXPLAIN.
func (b *Builder) SQL() string { return b.sql }

// KeyColumns are the root key columns, in the order keys are given.
func (b *Builder) KeyColumns() []string { return b.keyCols }

// Build builds the documents of keys (each the root key values as text, in
// KeyColumns order) and hands them to emit one at a time, in no particular
// order, so memory does not grow with the batch. A document's JSON is on one
// line, with the spacing Postgres writes.
func (b *Builder) Build(ctx context.Context, q Querier, keys [][]string, emit func(Doc) error) error {
	if len(keys) == 0 {
		return nil
	}
	cols := make([][]string, len(b.keyCols))
	for i := range cols {
		cols[i] = make([]string, len(keys))
	}
	for r, k := range keys {
		if len(k) != len(b.keyCols) {
			return fmt.Errorf("index %s: key %v has %d value(s), the key (%s) has %d", b.index, k, len(k), strings.Join(b.keyCols, ", "), len(b.keyCols))
		}
		for i, v := range k {
			cols[i][r] = v
		}
	}
	args := make([]any, 0, len(cols)+len(b.params))
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, b.params...)
	rows, err := q.Query(ctx, b.sql, args...)
	if err != nil {
		return fmt.Errorf("index %s: build: %w", b.index, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ord    int64
			id     string
			source []byte
		)
		if err := rows.Scan(&ord, &id, &source); err != nil {
			return fmt.Errorf("index %s: build: %w", b.index, err)
		}
		doc := Doc{ID: id, Key: keys[ord-1]}
		if source != nil {
			doc.Source = json.RawMessage(source)
		}
		if err := emit(doc); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index %s: build: %w", b.index, err)
	}
	return nil
}

// planner generates the statement; params collects the bound values.
type planner struct {
	index   string
	tables  map[config.TableRef]*catalog.Table
	params  []any
	nKeys   int
	aliases int
}

func (p *planner) table(ref config.TableRef, what string) (*catalog.Table, error) {
	t, ok := p.tables[ref]
	if !ok {
		return nil, fmt.Errorf("%s: table %s does not exist", what, ref)
	}
	return t, nil
}

func (p *planner) alias() string {
	p.aliases++
	return "t" + strconv.Itoa(p.aliases)
}

// param binds a value and returns its placeholder; key arrays come first.
func (p *planner) param(v any) string {
	p.params = append(p.params, v)
	return "$" + strconv.Itoa(p.nKeys+len(p.params))
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func qualified(ref config.TableRef) string { return pgx.Identifier{ref.Schema, ref.Name}.Sanitize() }

func col(alias, name string) string { return alias + "." + quote(name) }

// scope is a table row being read: its alias and definition.
type scope struct {
	alias string
	table *catalog.Table
	key   []string // its key columns (declared or from the catalog)
	// aggs is set on the root row: its aggregates are computed for the
	// whole batch at once.
	aggs *batchAggregates
}

// batchAggregates computes the root rows' aggregates for the whole batch:
// one grouped query per related source (table and link), the aggregates over
// the same rows told apart by FILTER clauses, joined to the root rows. This
// beats a subquery per aggregate and root row several times over.
type batchAggregates struct {
	// in is the condition that columns equal to the root key are one of the
	// batch's keys: a typed array for a one-column key, which lets the
	// planner use an index; a subquery of rows for a composite key.
	in     func(cols []string) string
	groups map[string]*aggGroup
	order  []*aggGroup
	// relations are the joins of the root's to-many and has_one relations,
	// also computed for the whole batch.
	relations []string
}

type aggGroup struct {
	alias string
	src   source
	exprs []string
}

// joins renders the groups as LEFT JOINs on the root row.
func (l *batchAggregates) joins() string {
	var b strings.Builder
	for _, j := range l.relations {
		b.WriteString("\n" + j)
	}
	for _, g := range l.order {
		link := make([]string, len(g.src.near))
		on := make([]string, len(g.src.near))
		for i, n := range g.src.near {
			link[i] = fmt.Sprintf("%s AS _l%d", n, i+1)
			on[i] = fmt.Sprintf("%s._l%d = %s", g.alias, i+1, g.src.far[i])
		}
		fmt.Fprintf(&b, "\nLEFT JOIN (SELECT %s, %s FROM %s WHERE %s GROUP BY %s) AS %s ON %s",
			strings.Join(link, ", "), strings.Join(g.exprs, ", "), g.src.from, l.in(g.src.near),
			strings.Join(g.src.near, ", "), g.alias, strings.Join(on, " AND "))
	}
	return b.String()
}

func (p *planner) column(s scope, name, what string) (*catalog.Column, error) {
	c := s.table.Column(name)
	if c == nil {
		return nil, fmt.Errorf("%s: column %s.%s does not exist", what, s.table.Ref, name)
	}
	return c, nil
}

func (p *planner) keyOf(t *catalog.Table, declared []string, what string) ([]string, error) {
	if len(declared) > 0 {
		return declared, nil
	}
	k, err := t.Key()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return k, nil
}

func (p *planner) root(s *config.Schema) (string, []string, error) {
	t, err := p.table(s.Table, "the root")
	if err != nil {
		return "", nil, err
	}
	key, err := p.keyOf(t, s.PrimaryKey, "the root")
	if err != nil {
		return "", nil, err
	}
	p.nKeys = len(key)
	r := scope{alias: "r", table: t, key: key, aggs: &batchAggregates{groups: map[string]*aggGroup{}}}

	var (
		unnest, kcols, join, id, typed []string
	)
	for i, k := range key {
		c, err := p.column(r, k, "primary_key")
		if err != nil {
			return "", nil, err
		}
		kc := fmt.Sprintf("_flusso_k%d", i+1)
		unnest = append(unnest, fmt.Sprintf("$%d::text[]", i+1))
		kcols = append(kcols, kc)
		join = append(join, fmt.Sprintf("%s = k.%s::%s", col("r", k), kc, c.Type))
		id = append(id, fmt.Sprintf("(k.%s::%s)::text", kc, c.Type))
		typed = append(typed, fmt.Sprintf("%s::%s", kc, c.Type))
	}
	rows := fmt.Sprintf("SELECT %s FROM unnest(%s) AS k(%s)", strings.Join(typed, ", "), strings.Join(unnest, ", "), strings.Join(kcols, ", "))
	keyType := typed[0][strings.Index(typed[0], "::")+2:]
	r.aggs.in = func(cols []string) string {
		if len(cols) == 1 {
			return fmt.Sprintf("%s = ANY($1::text[]::%s[])", cols[0], keyType)
		}
		return fmt.Sprintf("(%s) IN (%s)", strings.Join(cols, ", "), rows)
	}
	doc, err := p.object(s.Fields, r)
	if err != nil {
		return "", nil, err
	}
	keep, err := p.keep(s, r)
	if err != nil {
		return "", nil, err
	}
	// The lateral lookup with LIMIT 1 keeps the planner on the primary key
	// index: joined plainly, a batch of keys hashes the whole table.
	sql := fmt.Sprintf("SELECT k._flusso_i, %s,\n  CASE WHEN %s IS NULL OR NOT (%s) THEN NULL ELSE %s END\nFROM unnest(%s) WITH ORDINALITY AS k(%s, _flusso_i)\nLEFT JOIN LATERAL (SELECT * FROM %s AS r WHERE %s LIMIT 1) AS r ON true%s",
		strings.Join(id, " || ':' || "), col("r", key[0]), keep, doc,
		strings.Join(unnest, ", "), strings.Join(kcols, ", "), qualified(s.Table), strings.Join(join, " AND "), r.aggs.joins())
	return sql, key, nil
}

// keep is the condition for a root row to be a document: inside the root
// filters and not soft-deleted. NULL counts as false.
func (p *planner) keep(s *config.Schema, r scope) (string, error) {
	var conds []string
	if len(s.Filters) > 0 {
		f, err := p.filters(s.Filters, r, "filters")
		if err != nil {
			return "", err
		}
		conds = append(conds, "COALESCE("+f+", false)")
	}
	if sd := s.SoftDelete; sd != nil {
		var deleted string
		switch {
		case len(sd.When) > 0:
			f, err := p.filters(sd.When, r, "soft_delete.when")
			if err != nil {
				return "", err
			}
			deleted = "COALESCE(" + f + ", false)"
		default:
			name := sd.Column
			if sd.Field != "" {
				f := fieldAt(s.Fields, sd.Field)
				if f == nil {
					return "", fmt.Errorf("soft_delete.field: no field %s", sd.Field)
				}
				name = f.Column
			}
			c, err := p.column(r, name, "soft_delete")
			if err != nil {
				return "", err
			}
			if c.TypeName == "bool" {
				deleted = col(r.alias, name) + " IS TRUE"
			} else {
				deleted = col(r.alias, name) + " IS NOT NULL"
			}
		}
		conds = append(conds, "NOT ("+deleted+")")
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), nil
}

// fieldAt finds a root-row field by its dotted path through groups.
func fieldAt(fields []*config.Field, path string) *config.Field {
	head, rest, nested := strings.Cut(path, ".")
	for _, f := range fields {
		if f.Name != head {
			continue
		}
		if !nested {
			return f
		}
		if f.Kind == config.KindObject {
			return fieldAt(f.Fields, rest)
		}
	}
	return nil
}

// object renders fields of one row as a JSON object, keys in declared order.
func (p *planner) object(fields []*config.Field, s scope) (string, error) {
	// json_build_object takes at most 100 arguments; larger objects are
	// merged from chunks (their key order is then jsonb's).
	const perCall = 50
	var chunks []string
	for start := 0; start < len(fields); start += perCall {
		end := min(start+perCall, len(fields))
		args := make([]string, 0, 2*(end-start))
		for _, f := range fields[start:end] {
			e, err := p.field(f, s)
			if err != nil {
				return "", err
			}
			args = append(args, "'"+f.Name+"'", e)
		}
		chunks = append(chunks, "json_build_object("+strings.Join(args, ", ")+")")
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	for i := range chunks {
		chunks[i] += "::jsonb"
	}
	return "(" + strings.Join(chunks, " || ") + ")::json", nil
}

func (p *planner) field(f *config.Field, s scope) (string, error) {
	what := "field " + f.Path
	switch f.Kind {
	case config.KindScalar:
		c, err := p.column(s, f.Column, what)
		if err != nil {
			return "", err
		}
		v := col(s.alias, f.Column)
		if f.HasDefault {
			v = fmt.Sprintf("COALESCE(%s, %s::text::%s)", v, p.param(text(f.Default)), c.Type)
		}
		v = render(f.Type, c, v)
		for _, t := range f.Transforms {
			switch t {
			case config.TransformLowercase:
				v = "lower(" + v + ")"
			case config.TransformTrim:
				v = "btrim(" + v + ")"
			}
		}
		return v, nil
	case config.KindCustom:
		c, err := p.column(s, f.Column, what)
		if err != nil {
			return "", err
		}
		v := col(s.alias, f.Column)
		if f.HasDefault {
			v = fmt.Sprintf("COALESCE(%s, %s::text::%s)", v, p.param(text(f.Default)), c.Type)
		}
		return v, nil
	case config.KindGeo:
		return p.geo(f, s)
	case config.KindMap:
		if _, err := p.column(s, f.Column, what); err != nil {
			return "", err
		}
		return col(s.alias, f.Column) + "::jsonb", nil
	case config.KindConstant:
		v, err := json.Marshal(f.Value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return p.param(string(v)) + "::json", nil
	case config.KindObject:
		return p.object(f.Fields, s)
	case config.KindRelation:
		return p.relation(f, s)
	case config.KindAggregate:
		return p.aggregate(f, s)
	}
	return "", fmt.Errorf("%s: unknown kind %s", what, f.Kind)
}

// text renders a config value as the text Postgres casts from.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// render turns a column value into the JSON value of its declared type, per
// the type table of FORMAT.md; json_build_object does the rest.
func render(t config.ScalarType, c *catalog.Column, v string) string {
	switch t {
	case config.TypeText, config.TypeIdentifier, config.TypeKeyword, config.TypeEnum, config.TypeUUID:
		return v + "::text" // also strips char(n) padding
	case config.TypeDecimal:
		if c.TypeName == "numeric" {
			return v
		}
		return v + "::numeric" // money, and integers declared decimal
	case config.TypeTimestamp:
		// to_json writes a timestamp in ISO-8601, which OpenSearch's default
		// date format reads; one without a zone is read as UTC, so zoned
		// values are converted to UTC first. A time of day lands on
		// 1970-01-01.
		switch c.TypeName {
		case "timestamptz":
			return "to_json(" + v + " AT TIME ZONE 'UTC')"
		case "time":
			return "to_json('1970-01-01'::date + " + v + ")"
		case "timetz":
			return "to_json(('1970-01-01'::date + " + v + ") AT TIME ZONE 'UTC')"
		}
		return "to_json(" + v + "::timestamp)"
	case config.TypeDate:
		return v + "::date"
	case config.TypeBinary:
		// encode() breaks base64 lines every 76 characters.
		return "translate(encode(" + v + ", 'base64'), E'\\n', '')"
	case config.TypeJSON:
		if c.TypeName == "json" {
			return v + "::jsonb" // json keeps the text as stored, newlines included
		}
	}
	return v
}

func (p *planner) geo(f *config.Field, s scope) (string, error) {
	what := "field " + f.Path
	g := f.Geo
	if g.Column == "" {
		for _, name := range []string{g.Lat, g.Lon} {
			if _, err := p.column(s, name, what); err != nil {
				return "", err
			}
		}
		lat, lon := col(s.alias, g.Lat), col(s.alias, g.Lon)
		return fmt.Sprintf("CASE WHEN %s IS NULL OR %s IS NULL THEN NULL ELSE json_build_object('lat', %s, 'lon', %s) END", lat, lon, lat, lon), nil
	}
	c, err := p.column(s, g.Column, what)
	if err != nil {
		return "", err
	}
	v := col(s.alias, g.Column)
	// OpenSearch reads {lat, lon}, [lon, lat] and "lat,lon" itself.
	switch c.TypeName {
	case "json", "jsonb":
		return v + "::jsonb", nil
	case "point":
		return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE json_build_object('lat', %s[1], 'lon', %s[0]) END", v, v, v), nil
	}
	return v + "::text", nil
}

// link is the join condition between a related row (alias c) and its
// parent: pairs of columns compared with =.
func link(cAlias string, cCols []string, pAlias string, pCols []string) string {
	parts := make([]string, len(cCols))
	for i := range cCols {
		parts[i] = col(cAlias, cCols[i]) + " = " + col(pAlias, pCols[i])
	}
	return strings.Join(parts, " AND ")
}

func (p *planner) checkColumns(s scope, cols []string, what string) error {
	for _, c := range cols {
		if _, err := p.column(s, c, what); err != nil {
			return err
		}
	}
	return nil
}

// source is where the related rows of a relation or aggregate come from,
// and how they link to their parent row: near[i] = far[i].
type source struct {
	rows scope
	from string
	near []string // qualified columns of the related side
	far  []string // qualified columns of the parent row
}

func (s source) where() string {
	parts := make([]string, len(s.near))
	for i := range s.near {
		parts[i] = s.near[i] + " = " + s.far[i]
	}
	return strings.Join(parts, " AND ")
}

func qualifyAll(alias string, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = col(alias, c)
	}
	return out
}

// from plans the related rows of a relation or aggregate of one parent row.
func (p *planner) from(what string, kind config.RelationKind, table config.TableRef, primaryKey, column, foreignKey []string, through *config.Through, parent scope) (source, error) {
	t, err := p.table(table, what)
	if err != nil {
		return source{}, err
	}
	c := scope{alias: p.alias(), table: t}
	needKey := kind == config.BelongsTo || through != nil
	if needKey || len(primaryKey) > 0 {
		if c.key, err = p.keyOf(t, primaryKey, what); err != nil {
			return source{}, err
		}
	} else if k, kerr := t.Key(); kerr == nil {
		c.key = k
	}
	if err := p.checkColumns(c, c.key, what+" primary_key"); err != nil {
		return source{}, err
	}
	parentKey := parent.key
	switch {
	case kind == config.BelongsTo:
		if err := p.checkColumns(parent, column, what+" column"); err != nil {
			return source{}, err
		}
		if len(column) != len(c.key) {
			return source{}, fmt.Errorf("%s: column has %d column(s), the key of %s has %d", what, len(column), table, len(c.key))
		}
		return source{rows: c, from: qualified(table) + " AS " + c.alias, near: qualifyAll(c.alias, c.key), far: qualifyAll(parent.alias, column)}, nil
	case through != nil:
		j, err := p.table(through.Table, what+" through")
		if err != nil {
			return source{}, err
		}
		js := scope{alias: p.alias(), table: j}
		if err := p.checkColumns(js, append(append([]string(nil), through.LeftKey...), through.RightKey...), what+" through"); err != nil {
			return source{}, err
		}
		if len(through.LeftKey) != len(parentKey) || len(through.RightKey) != len(c.key) {
			return source{}, fmt.Errorf("%s: through keys do not pair with the keys of the parent (%d) and of %s (%d)", what, len(parentKey), table, len(c.key))
		}
		fromSQL := fmt.Sprintf("%s AS %s JOIN %s AS %s ON %s", qualified(through.Table), js.alias, qualified(table), c.alias, link(c.alias, c.key, js.alias, through.RightKey))
		return source{rows: c, from: fromSQL, near: qualifyAll(js.alias, through.LeftKey), far: qualifyAll(parent.alias, parentKey)}, nil
	default:
		if err := p.checkColumns(c, foreignKey, what+" foreign_key"); err != nil {
			return source{}, err
		}
		if len(foreignKey) != len(parentKey) {
			return source{}, fmt.Errorf("%s: foreign_key has %d column(s), the parent key has %d", what, len(foreignKey), len(parentKey))
		}
		return source{rows: c, from: qualified(table) + " AS " + c.alias, near: qualifyAll(c.alias, foreignKey), far: qualifyAll(parent.alias, parentKey)}, nil
	}
}

func (p *planner) parentKey(parent scope, what string) error {
	if len(parent.key) == 0 {
		return fmt.Errorf("%s: the parent table %s has no primary key: declare primary_key", what, parent.table.Ref)
	}
	return nil
}

func (p *planner) relation(f *config.Field, parent scope) (string, error) {
	what := "field " + f.Path
	r := f.Relation
	if r.Kind != config.BelongsTo {
		if err := p.parentKey(parent, what); err != nil {
			return "", err
		}
	}
	src, err := p.from(what, r.Kind, r.Table, r.PrimaryKey, r.Column, r.ForeignKey, r.Through, parent)
	if err != nil {
		return "", err
	}
	c, fromSQL := src.rows, src.from
	var filters []string
	if len(r.Filters) > 0 {
		f, err := p.filters(r.Filters, c, what+" filters")
		if err != nil {
			return "", err
		}
		filters = append(filters, f)
	}
	doc, err := p.object(f.Fields, c)
	if err != nil {
		return "", err
	}
	order, err := p.orderBy(r.OrderBy, c, what)
	if err != nil {
		return "", err
	}
	if parent.aggs != nil && r.Kind != config.BelongsTo {
		return p.batchRelation(r, src, doc, order, filters, parent.aggs), nil
	}
	cond := strings.Join(append([]string{src.where()}, filters...), " AND ")
	switch r.Kind {
	case config.BelongsTo, config.HasOne:
		return fmt.Sprintf("(SELECT %s FROM %s WHERE %s%s LIMIT 1)", doc, fromSQL, cond, orderClause(order)), nil
	}
	// To-many: an array in order_by order, or in key order for stable
	// documents when none is given.
	if len(order) == 0 {
		for _, k := range c.key {
			order = append(order, col(c.alias, k))
		}
	}
	limit := ""
	if r.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(r.Limit)
	}
	if len(order) == 0 {
		return fmt.Sprintf("COALESCE((SELECT json_agg(%s) FROM %s WHERE %s%s), '[]'::json)", doc, fromSQL, cond, limit), nil
	}
	// Aggregate in the subquery's order: project the sort values beside the
	// document and order json_agg by them.
	var proj, aggOrder []string
	for i, o := range order {
		name := fmt.Sprintf("_o%d", i+1)
		expr, dir, _ := strings.Cut(o, " ")
		proj = append(proj, expr+" AS "+name)
		aggOrder = append(aggOrder, strings.TrimSpace(name+" "+dir))
	}
	return fmt.Sprintf("COALESCE((SELECT json_agg(x._d ORDER BY %s) FROM (SELECT %s AS _d, %s FROM %s WHERE %s%s%s) AS x), '[]'::json)",
		prefixAll("x.", aggOrder), doc, strings.Join(proj, ", "), fromSQL, cond, orderClause(order), limit), nil
}

// batchRelation computes a root relation for the whole batch: the related
// rows of every root key at once, grouped by their link to the root, joined
// to the root rows. A has_one keeps the first row, a to-many relation its
// first limit rows, by row_number over the relation's order.
func (p *planner) batchRelation(r *config.Relation, src source, doc string, order, filters []string, batch *batchAggregates) string {
	c := src.rows
	if len(order) == 0 {
		for _, k := range c.key {
			order = append(order, col(c.alias, k))
		}
	}
	alias := p.alias()
	var link, on, proj, aggOrder []string
	for i, n := range src.near {
		link = append(link, fmt.Sprintf("%s AS _l%d", n, i+1))
		on = append(on, fmt.Sprintf("%s._l%d = %s", alias, i+1, src.far[i]))
	}
	for i, o := range order {
		name := fmt.Sprintf("_o%d", i+1)
		expr, dir, _ := strings.Cut(o, " ")
		proj = append(proj, expr+" AS "+name)
		aggOrder = append(aggOrder, strings.TrimSpace("x."+name+" "+dir))
	}
	limit := r.Limit
	if r.Kind == config.HasOne {
		limit = 1
	}
	rank, keep := "", ""
	if limit > 0 {
		rank = fmt.Sprintf(", row_number() OVER (PARTITION BY %s%s) AS _rn", strings.Join(src.near, ", "), orderClause(order))
		keep = fmt.Sprintf(" WHERE x._rn <= %d", limit)
	}
	where := strings.Join(append([]string{batch.in(src.near)}, filters...), " AND ")
	inner := fmt.Sprintf("SELECT %s, %s AS _d%s%s FROM %s WHERE %s", strings.Join(link, ", "), doc, prefixComma(proj), rank, src.from, where)
	groupBy := make([]string, len(src.near))
	for i := range src.near {
		groupBy[i] = fmt.Sprintf("x._l%d", i+1)
	}
	agg := "json_agg(x._d" + orderClause(aggOrder) + ")"
	if r.Kind == config.HasOne {
		agg = "(array_agg(x._d))[1]"
	}
	batch.relations = append(batch.relations, fmt.Sprintf("LEFT JOIN (SELECT %s, %s AS v FROM (%s) AS x%s GROUP BY %s) AS %s ON %s",
		strings.Join(groupBy, ", "), agg, inner, keep, strings.Join(groupBy, ", "), alias, strings.Join(on, " AND ")))
	if r.Kind == config.HasOne {
		return alias + ".v"
	}
	return "COALESCE(" + alias + ".v, '[]'::json)"
}

func prefixComma(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return ", " + strings.Join(items, ", ")
}

func prefixAll(prefix string, items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = prefix + s
	}
	return strings.Join(out, ", ")
}

func orderClause(order []string) string {
	if len(order) == 0 {
		return ""
	}
	return " ORDER BY " + strings.Join(order, ", ")
}

// orderBy returns "alias.col [DESC]" items.
func (p *planner) orderBy(obs []config.OrderBy, c scope, what string) ([]string, error) {
	var out []string
	for _, o := range obs {
		if _, err := p.column(c, o.Column, what+" order_by"); err != nil {
			return nil, err
		}
		item := col(c.alias, o.Column)
		if o.Direction == "desc" {
			item += " DESC"
		}
		out = append(out, item)
	}
	return out, nil
}

func (p *planner) aggregate(f *config.Field, parent scope) (string, error) {
	what := "field " + f.Path
	a := f.Aggregate
	if err := p.parentKey(parent, what); err != nil {
		return "", err
	}
	// The rows an aggregate reads: shared by the aggregates of a lateral
	// group, or a subquery of its own.
	var (
		g       *aggGroup
		grouped = parent.aggs != nil
	)
	if grouped {
		var through config.Through
		if a.Through != nil {
			through = *a.Through
		}
		id := fmt.Sprintf("%v|%v|%v", a.Table, a.ForeignKey, through)
		if g = parent.aggs.groups[id]; g == nil {
			src, err := p.from(what, "", a.Table, nil, nil, a.ForeignKey, a.Through, parent)
			if err != nil {
				return "", err
			}
			g = &aggGroup{alias: p.alias(), src: src}
			parent.aggs.groups[id] = g
			parent.aggs.order = append(parent.aggs.order, g)
		}
	} else {
		src, err := p.from(what, "", a.Table, nil, nil, a.ForeignKey, a.Through, parent)
		if err != nil {
			return "", err
		}
		g = &aggGroup{src: src}
	}
	c := g.src.rows
	filter := ""
	if len(a.Filters) > 0 {
		f, err := p.filters(a.Filters, c, what+" filters")
		if err != nil {
			return "", err
		}
		filter = " FILTER (WHERE " + f + ")"
	}
	var (
		value *catalog.Column
		err   error
	)
	if a.Column != "" {
		if value, err = p.column(c, a.Column, what+" column"); err != nil {
			return "", err
		}
	}
	var expr string
	empty := "" // the value when there are no rows, if not null
	switch a.Func {
	case config.AggCount:
		expr = "count(*)" + filter
		empty = "0" // a root row without related rows has no group
	case config.AggAvg:
		expr = fmt.Sprintf("(avg(%s)%s)::float8", col(c.alias, a.Column), filter)
	case config.AggSum, config.AggMin, config.AggMax:
		expr = render(a.ResultType, value, fmt.Sprintf("%s(%s)%s", a.Func, col(c.alias, a.Column), filter))
	case config.AggIDs:
		key, err := p.keyOf(c.table, a.PrimaryKey, what)
		if err != nil {
			return "", err
		}
		if len(key) != 1 {
			return "", fmt.Errorf("%s: ids collects one key column, %s has %d", what, a.Table, len(key))
		}
		kc, err := p.column(c, key[0], what+" primary_key")
		if err != nil {
			return "", err
		}
		k := col(c.alias, key[0])
		expr = fmt.Sprintf("json_agg(%s ORDER BY %s)%s", render(a.ResultType, kc, k), k, filter)
		empty = "'[]'::json"
	default:
		return "", fmt.Errorf("%s: unknown aggregate %s", what, a.Func)
	}
	var out string
	if grouped {
		name := fmt.Sprintf("v%d", len(g.exprs)+1)
		g.exprs = append(g.exprs, expr+" AS "+name)
		out = g.alias + "." + name
	} else {
		out = fmt.Sprintf("(SELECT %s FROM %s WHERE %s)", expr, g.src.from, g.src.where())
	}
	if empty != "" {
		out = "COALESCE(" + out + ", " + empty + ")"
	}
	return out, nil
}

var comparison = map[config.FilterOp]string{
	config.OpEq: "=", config.OpNeq: "<>", config.OpLt: "<", config.OpLte: "<=", config.OpGt: ">", config.OpGte: ">=",
}

// filters renders filters ANDed, values bound as text and cast to the
// column's type.
func (p *planner) filters(fs []config.Filter, s scope, what string) (string, error) {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.Raw != "" {
			parts = append(parts, "("+f.Raw+")")
			continue
		}
		c, err := p.column(s, f.Column, what)
		if err != nil {
			return "", err
		}
		v := col(s.alias, f.Column)
		switch f.Op {
		case config.OpIsNull:
			parts = append(parts, v+" IS NULL")
		case config.OpIsNotNull:
			parts = append(parts, v+" IS NOT NULL")
		case config.OpLike, config.OpIlike:
			op := "LIKE"
			if f.Op == config.OpIlike {
				op = "ILIKE"
			}
			parts = append(parts, fmt.Sprintf("%s::text %s %s::text", v, op, p.param(text(f.Value))))
		case config.OpIn, config.OpNotIn:
			list := f.Value.([]any)
			values := make([]string, len(list))
			for i, x := range list {
				values[i] = text(x)
			}
			ph := fmt.Sprintf("%s::text[]::%s[]", p.param(values), c.Type)
			if f.Op == config.OpIn {
				parts = append(parts, fmt.Sprintf("%s = ANY(%s)", v, ph))
			} else {
				parts = append(parts, fmt.Sprintf("%s <> ALL(%s)", v, ph))
			}
		case config.OpBetween:
			list := f.Value.([]any)
			parts = append(parts, fmt.Sprintf("%s BETWEEN %s::text::%s AND %s::text::%s", v, p.param(text(list[0])), c.Type, p.param(text(list[1])), c.Type))
		default:
			op, ok := comparison[f.Op]
			if !ok {
				return "", fmt.Errorf("%s: unknown operator %s", what, f.Op)
			}
			parts = append(parts, fmt.Sprintf("%s %s %s::text::%s", v, op, p.param(text(f.Value)), c.Type))
		}
	}
	return "(" + strings.Join(parts, " AND ") + ")", nil
}

// BuildAll builds the document of every row of the root table, in batches
// of batch keys: what a fresh backfill would write. It holds every key in
// memory, so it suits checks and tests rather than seeding an index.
func (b *Builder) BuildAll(ctx context.Context, q Querier, batch int, emit func(Doc) error) error {
	cols := make([]string, len(b.keyCols))
	for i, k := range b.keyCols {
		cols[i] = pgx.Identifier{k}.Sanitize() + "::text"
	}
	rows, err := q.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+pgx.Identifier{b.root.Schema, b.root.Name}.Sanitize())
	if err != nil {
		return fmt.Errorf("index %s: keys: %w", b.index, err)
	}
	var keys [][]string
	for rows.Next() {
		k := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range k {
			ptrs[i] = &k[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return fmt.Errorf("index %s: keys: %w", b.index, err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index %s: keys: %w", b.index, err)
	}
	for len(keys) > 0 {
		n := min(max(batch, 1), len(keys))
		if err := b.Build(ctx, q, keys[:n], emit); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
