package config

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ParseSchema reads one *.schema.yml. name is the index name that starts
// every field path in messages; file names the file in positions.
func ParseSchema(file string, data []byte, name string) (*Schema, Diagnostics) {
	var diags Diagnostics
	r := &yreader{c: collector{file: file, diags: &diags}}
	s := r.schema(data, name)
	if diags.Err() != nil {
		return nil, diags
	}
	return s, diags
}

func (r *yreader) schema(data []byte, name string) *Schema {
	root := r.parseYAML(data)
	if root == nil {
		return nil
	}
	ps, _ := r.pairs(root, name, "a schema")
	keys := r.known(ps, name, keyNames(schemaKeys), "the schema")
	for _, req := range schemaRequired {
		if _, ok := keys[req]; !ok {
			r.c.errorf(Position{File: r.c.file, Line: root.Line, Column: root.Column}, name, "missing required key %q", req)
		}
	}
	s := &Schema{File: r.c.file, Table: TableRef{Schema: "public"}}
	if p, ok := keys["version"]; ok {
		if v, ok := r.integer(p.val, name+".version"); ok {
			if v != 1 {
				r.c.errorf(r.pos(p.val), name+".version", "unsupported version %d: only version 1 exists", v)
			}
			s.Version = int(v)
		}
	}
	if p, ok := keys["doc_id"]; ok {
		r.c.errorf(r.pos(p.key), name+".doc_id", "doc_id is not supported: the document _id always derives from primary_key")
	}
	if p, ok := keys["table"]; ok {
		s.Table.Name, _ = r.ident(p.val, name+".table", "table")
	}
	if p, ok := keys["schema"]; ok {
		s.Table.Schema, _ = r.ident(p.val, name+".schema", "schema")
	}
	if p, ok := keys["primary_key"]; ok {
		s.PrimaryKey, _ = r.key(p.val, name+".primary_key", "primary_key")
	}
	if p, ok := keys["filters"]; ok {
		s.Filters = r.filters(p.val, name+".filters")
	}
	level := fieldLevel{schema: s.Table.Schema, parentKey: s.PrimaryKey}
	if p, ok := keys["fields"]; ok {
		s.Fields = r.fieldList(p.val, name, level)
	}
	if p, ok := keys["soft_delete"]; ok {
		s.SoftDelete = r.softDelete(p.val, name+".soft_delete", s.Fields)
	}
	if len(s.PrimaryKey) == 0 && hasJoin(s.Fields) {
		r.c.errorf(Position{File: r.c.file, Line: root.Line, Column: root.Column}, name, "primary_key is required when the schema has a join or an aggregate")
	}
	return s
}

func hasJoin(fields []*Field) bool {
	found := false
	Walk(fields, func(f *Field) bool {
		if f.Kind == KindRelation || f.Kind == KindAggregate {
			found = true
		}
		return !found
	})
	return found
}

// fieldLevel is what a list of fields needs from its parent: the database
// schema of related tables and the parent row's key, which foreign keys must
// match in length (nil when the catalog will tell).
type fieldLevel struct {
	schema    string
	parentKey []string
}

func (r *yreader) fieldList(n *yaml.Node, path string, level fieldLevel) []*Field {
	items, ok := r.list(n, path+".fields", "fields")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		r.c.errorf(r.pos(r.resolve(n)), path+".fields", "fields is empty: declare at least one field")
		return nil
	}
	var fields []*Field
	seen := map[string]*Field{}
	for i, item := range items {
		f := r.field(item, path, i, level)
		if f == nil {
			continue
		}
		if prev, dup := seen[f.Name]; dup {
			r.c.errorf(f.Pos, f.Path, "field %q is declared twice (first on line %d)", f.Name, prev.Pos.Line)
			continue
		}
		seen[f.Name] = f
		fields = append(fields, f)
	}
	return fields
}

// metadataFields are OpenSearch's own document fields; a document key of the
// same name is rejected by OpenSearch.
var metadataFields = []string{"_id", "_index", "_source", "_routing", "_field_names", "_ignored", "_seq_no", "_primary_term", "_version", "_doc_count", "_size", "_meta", "_type", "_tier"}

func (r *yreader) field(n *yaml.Node, parent string, index int, level fieldLevel) *Field {
	at := fmt.Sprintf("%s.fields[%d]", parent, index)
	defer r.leave()
	if !r.enter(n, at) {
		return nil
	}
	ps, ok := r.pairs(n, at, "a field")
	if !ok {
		return nil
	}
	// Find the type tag: exactly one key naming a tag.
	var tagPairs []pair
	for _, p := range ps {
		if _, isTag := lookupTag(p.key.Value); isTag {
			tagPairs = append(tagPairs, p)
		}
	}
	node := r.resolve(n)
	switch len(tagPairs) {
	case 0:
		hint := ""
		for _, p := range ps {
			if _, sibling := lookupFieldKey(p.key.Value); !sibling {
				if hint = didYouMean(p.key.Value, allTags()); hint != "" {
					break
				}
			}
		}
		if hint == "" {
			hint = "write the type first, e.g. `- keyword: email`"
		}
		r.c.hintf(r.pos(node), at, hint, "the field has no type tag")
		return nil
	case 1:
	default:
		r.c.errorf(r.pos(tagPairs[1].key), at, "the field has two type tags, %q and %q: give exactly one", tagPairs[0].key.Value, tagPairs[1].key.Value)
		return nil
	}
	tp := tagPairs[0]
	spec, _ := lookupTag(tp.key.Value)
	name, ok := r.str(tp.val, at, "a field name")
	if !ok {
		return nil
	}
	f := &Field{Name: name, Tag: spec.tag, Kind: spec.kind, Path: parent + "." + name, Pos: r.pos(tp.key)}
	if err := checkFieldName(name); err != nil {
		r.c.errorf(r.pos(r.resolve(tp.val)), at, "%v", err)
		return nil
	}
	if contains(metadataFields, name) {
		r.c.errorf(r.pos(r.resolve(tp.val)), f.Path, "%q is an OpenSearch metadata field and cannot be a document key", name)
	}
	keys := map[string]pair{}
	for _, p := range ps {
		k := p.key.Value
		switch {
		case k == spec.tag:
		case contains(spec.allowed, k):
			keys[k] = p
		default:
			if _, sibling := lookupFieldKey(k); sibling {
				r.c.hintf(r.pos(p.key), f.Path, notAllowedHint(spec.tag, k), "key %q does not apply to %s field", k, article(spec.tag))
			} else if _, isTag := lookupTag(k); !isTag {
				r.unknownKey(p.key, f.Path, append(append([]string(nil), spec.allowed...), allTags()...), article(spec.tag)+" field")
			}
		}
	}
	for _, req := range spec.required {
		if _, ok := keys[req]; !ok {
			r.c.errorf(f.Pos, f.Path, "%s field needs %q", article(spec.tag), req)
		}
	}
	if p, ok := keys["options"]; ok {
		if v, ok := r.value(p.val, f.Path+".options"); ok {
			if m, isMap := v.(map[string]any); isMap {
				f.Options = m
			} else {
				r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".options", "expected a mapping of OpenSearch mapping properties, found %s", describe(r.resolve(p.val)))
			}
		}
	}
	if p, ok := keys["required"]; ok {
		f.Required, _ = r.boolean(p.val, f.Path+".required")
	}
	switch spec.kind {
	case KindScalar:
		f.Type = ScalarType(spec.tag)
		r.scalarField(f, keys)
	case KindCustom:
		r.customField(f, keys)
	case KindGeo:
		r.geoField(f, keys, node)
	case KindMap:
		f.Column = r.column(f, keys)
		if p, ok := keys["values"]; ok {
			if t, ok := r.scalarType(p.val, f.Path+".values", "values"); ok {
				if t == TypeBinary || t == TypeJSON {
					r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".values", "map values must be a plain scalar type, not %s", t)
				}
				f.Type = t
			}
		}
	case KindConstant:
		if p, ok := keys["value"]; ok {
			if v, ok := r.value(p.val, f.Path+".value"); ok {
				if v == nil {
					r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".value", "a constant needs a value (null would leave the field without a type)")
				}
				f.Value = v
			}
		}
	case KindObject:
		if p, ok := keys["fields"]; ok {
			f.Fields = r.fieldList(p.val, f.Path, level)
		}
	case KindRelation:
		r.relationField(f, keys, level)
	case KindAggregate:
		r.aggregateField(f, keys, level)
	}
	return f
}

// article prefixes a tag with "a" or "an" ("a uuid", "an integer").
func article(tag string) string {
	if tag != "" && strings.ContainsRune("aeio", rune(tag[0])) {
		return "an " + tag
	}
	return "a " + tag
}

// notAllowedHint explains why a known key is refused on a tag.
func notAllowedHint(tag, key string) string {
	switch {
	case key == "limit" && tag == string(HasOne):
		return "has_one renders one row; use order_by to choose it"
	case (key == "limit" || key == "order_by") && tag == string(BelongsTo):
		return "belongs_to follows one key to one row"
	case key == "required" && (tag == string(HasMany) || tag == string(ManyToMany)):
		return "a to-many relation is always an array, [] when empty"
	case key == "transforms":
		return "transforms apply to text, identifier, keyword and enum fields"
	case key == "column" && tag == string(AggCount):
		return "count counts rows; use sum/avg/min/max for a column"
	case key == "value_type" && tag == string(AggAvg):
		return "avg always yields a double"
	case key == "foreign_key" && tag == string(BelongsTo):
		return "belongs_to uses column: this table's column pointing at the related row"
	case key == "column" && (tag == string(HasOne) || tag == string(HasMany)):
		return tag + " uses foreign_key: the related table's column pointing back at this row"
	case key == "through" && tag != string(ManyToMany):
		return "through belongs to many_to_many and aggregates"
	case key == "default" && tag == string(TypeBinary):
		return "a binary field has no literal default"
	}
	if spec, ok := lookupTag(tag); ok {
		return article(tag) + " field takes " + quotedList(spec.allowed)
	}
	return ""
}

// column returns the column of a scalar-like field, defaulting to the field
// name lower-cased.
func (r *yreader) column(f *Field, keys map[string]pair) string {
	if p, ok := keys["column"]; ok {
		c, _ := r.ident(p.val, f.Path+".column", "column")
		return c
	}
	return strings.ToLower(f.Name)
}

func (r *yreader) scalarType(n *yaml.Node, path, what string) (ScalarType, bool) {
	s, ok := r.str(n, path, what)
	if !ok {
		return "", false
	}
	if !isScalarType(s) {
		names := make([]string, len(ScalarTypes))
		for i, t := range ScalarTypes {
			names[i] = string(t)
		}
		hint := didYouMean(s, names)
		if hint == "" {
			hint = "expected one of " + quotedList(names)
		}
		r.c.hintf(r.pos(r.resolve(n)), path, hint, "unknown scalar type %q", s)
		return "", false
	}
	return ScalarType(s), true
}

func (r *yreader) scalarField(f *Field, keys map[string]pair) {
	f.Column = r.column(f, keys)
	if p, ok := keys["transforms"]; ok {
		if items, ok := r.list(p.val, f.Path+".transforms", "transforms"); ok {
			for _, item := range items {
				s, ok := r.str(item, f.Path+".transforms", "a transform")
				if !ok {
					continue
				}
				switch t := Transform(s); t {
				case TransformLowercase, TransformTrim:
					f.Transforms = append(f.Transforms, t)
				default:
					r.c.hintf(r.pos(r.resolve(item)), f.Path+".transforms", orList(didYouMean(s, []string{"lowercase", "trim"}), `expected "lowercase" or "trim"`), "unknown transform %q", s)
				}
			}
		}
	}
	if p, ok := keys["variants"]; ok {
		if items, ok := r.list(p.val, f.Path+".variants", "variants"); ok {
			if len(items) == 0 {
				r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".variants", "variants is empty: list the values in rank order, or remove the key")
			}
			for _, item := range items {
				s, ok := r.str(item, f.Path+".variants", "a variant")
				switch {
				case !ok:
				case s == "":
					r.c.errorf(r.pos(r.resolve(item)), f.Path+".variants", "a variant is empty")
				case contains(f.Variants, s):
					r.c.errorf(r.pos(r.resolve(item)), f.Path+".variants", "variant %q is listed twice", s)
				default:
					f.Variants = append(f.Variants, s)
				}
			}
		}
	}
	if p, ok := keys["default"]; ok {
		r.defaultValue(f, p)
	}
}

func orList(hint, fallback string) string {
	if hint != "" {
		return hint
	}
	return fallback
}

var (
	uuidPattern = regexp.MustCompile(`^(?i)([0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|\{[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\})$`)
	dateLayouts = []string{"2006-01-02"}
	// What Postgres prints and ISO-8601: T or space, optional fraction,
	// optional zone as Z, ±hh:mm or ±hh; or a time of day.
	timeLayouts = []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07",
		"2006-01-02", "15:04:05.999999999", "15:04", "15:04:05.999999999Z07:00", "15:04:05.999999999-07",
	}
)

// defaultValue checks that a default is a scalar of the field's type.
func (r *yreader) defaultValue(f *Field, p pair) {
	path := f.Path + ".default"
	v, ok := r.value(p.val, path)
	if !ok {
		return
	}
	at := r.pos(r.resolve(p.val))
	if v == nil {
		return // an explicit null is no default
	}
	bad := func(want string) {
		r.c.errorf(at, path, "the default of %s field must be %s, found %s", article(f.Tag), want, describe(r.resolve(p.val)))
	}
	switch x := v.(type) {
	case map[string]any, []any:
		bad("a scalar")
		return
	case string:
		switch {
		case f.Kind == KindCustom, f.Type.IsText(), f.Type == TypeJSON:
		case f.Type == TypeUUID:
			if !uuidPattern.MatchString(x) {
				bad("a uuid")
				return
			}
		case f.Type == TypeDate:
			if !parsesAs(x, dateLayouts) {
				bad("a date (YYYY-MM-DD)")
				return
			}
		case f.Type == TypeTimestamp:
			if !parsesAs(x, timeLayouts) {
				bad("a timestamp (e.g. 2024-01-31T12:00:00Z)")
				return
			}
		default:
			bad(typeNoun(f.Type))
			return
		}
	case bool:
		if f.Kind != KindCustom && f.Type != TypeBoolean && f.Type != TypeJSON {
			bad(typeNoun(f.Type))
			return
		}
	case int64:
		if lo, hi, isInt := intRange(f.Type); isInt && (x < lo || x > hi) {
			r.c.errorf(at, path, "the default %d is out of range for %s field", x, article(string(f.Type)))
			return
		}
		if f.Kind != KindCustom && !f.Type.IsNumeric() && f.Type != TypeJSON {
			bad(typeNoun(f.Type))
			return
		}
	case float64:
		if f.Type.IsInteger() && x == math.Trunc(x) && f.Kind != KindCustom {
			r.c.errorf(at, path, "the default %s is out of range for %s field", r.resolve(p.val).Value, article(string(f.Type)))
			return
		}
		if f.Kind != KindCustom && ((!f.Type.IsNumeric() && f.Type != TypeJSON) || f.Type.IsInteger()) {
			bad(typeNoun(f.Type))
			return
		}
	}
	if len(f.Variants) > 0 {
		if s, isStr := v.(string); isStr && !contains(f.Variants, s) {
			r.c.errorf(at, path, "the default %q is not one of the variants", s)
			return
		}
	}
	f.Default, f.HasDefault = v, true
}

func parsesAs(s string, layouts []string) bool {
	for _, l := range layouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

func intRange(t ScalarType) (lo, hi int64, ok bool) {
	switch t {
	case TypeShort:
		return -1 << 15, 1<<15 - 1, true
	case TypeInteger:
		return -1 << 31, 1<<31 - 1, true
	case TypeLong:
		return -1 << 63, 1<<63 - 1, true
	}
	return 0, 0, false
}

func typeNoun(t ScalarType) string {
	switch {
	case t.IsInteger():
		return "a whole number"
	case t.IsNumeric():
		return "a number"
	case t == TypeBoolean:
		return "true or false"
	}
	return "a string"
}

func (r *yreader) customField(f *Field, keys map[string]pair) {
	f.Column = r.column(f, keys)
	f.Custom = &CustomType{}
	if p, ok := keys["postgres"]; ok {
		if items, ok := r.list(p.val, f.Path+".postgres", "postgres"); ok {
			if len(items) == 0 {
				r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".postgres", "postgres is empty: list the column types the field accepts")
			}
			for _, item := range items {
				if s, ok := r.str(item, f.Path+".postgres", "a Postgres type name"); ok {
					s = strings.ToLower(strings.TrimSpace(s))
					if s == "" {
						r.c.errorf(r.pos(r.resolve(item)), f.Path+".postgres", "a Postgres type name is empty")
						continue
					}
					f.Custom.Postgres = append(f.Custom.Postgres, s)
				}
			}
		}
	}
	if p, ok := keys["opensearch"]; ok {
		if s, ok := r.str(p.val, f.Path+".opensearch", "an OpenSearch type"); ok {
			f.Custom.OpenSearch = strings.TrimSpace(s)
			switch {
			case f.Custom.OpenSearch == "":
				r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".opensearch", "the OpenSearch type is empty")
			case !contains(openSearchTypes, f.Custom.OpenSearch):
				r.c.add(SeverityWarning, r.pos(r.resolve(p.val)), f.Path+".opensearch", didYouMean(f.Custom.OpenSearch, openSearchTypes),
					"%q is not a field type OpenSearch ships; it must come from a plugin", f.Custom.OpenSearch)
			}
		}
	}
	if p, ok := keys["default"]; ok {
		r.defaultValue(f, p)
	}
}

func (r *yreader) geoField(f *Field, keys map[string]pair, node *yaml.Node) {
	g := &GeoSource{}
	lat, hasLat := keys["lat"]
	lon, hasLon := keys["lon"]
	col, hasCol := keys["column"]
	switch {
	case hasCol && (hasLat || hasLon):
		r.c.errorf(r.pos(col.key), f.Path, "a geo field takes either lat and lon, or column, not both")
	case hasCol:
		g.Column, _ = r.ident(col.val, f.Path+".column", "column")
	case hasLat && hasLon:
		g.Lat, _ = r.ident(lat.val, f.Path+".lat", "lat")
		g.Lon, _ = r.ident(lon.val, f.Path+".lon", "lon")
	case hasLat || hasLon:
		r.c.errorf(r.pos(node), f.Path, "a geo field needs both lat and lon")
	default:
		r.c.hintf(r.pos(node), f.Path, "e.g. `lat: latitude` and `lon: longitude`", "a geo field needs lat and lon columns, or one column holding the point")
	}
	f.Geo = g
}

func (r *yreader) relationField(f *Field, keys map[string]pair, level fieldLevel) {
	rel := &Relation{Kind: RelationKind(f.Tag), Table: TableRef{Schema: level.schema}}
	f.Relation = rel
	if p, ok := keys["table"]; ok {
		rel.Table.Name, _ = r.ident(p.val, f.Path+".table", "table")
	}
	if p, ok := keys["primary_key"]; ok {
		rel.PrimaryKey, _ = r.key(p.val, f.Path+".primary_key", "primary_key")
	}
	switch rel.Kind {
	case BelongsTo:
		if p, ok := keys["column"]; ok {
			rel.Column, _ = r.key(p.val, f.Path+".column", "column")
		} else {
			rel.Column = []string{strings.ToLower(f.Name)}
		}
		r.sameLength(f, "column", rel.Column, "primary_key", rel.PrimaryKey)
	case HasOne, HasMany:
		if p, ok := keys["foreign_key"]; ok {
			rel.ForeignKey, _ = r.key(p.val, f.Path+".foreign_key", "foreign_key")
			r.sameLength(f, "foreign_key", rel.ForeignKey, "the parent's primary_key", level.parentKey)
		}
	case ManyToMany:
		if p, ok := keys["through"]; ok {
			rel.Through = r.through(p.val, f.Path+".through", level)
			if rel.Through != nil {
				r.sameLength(f, "through.right_key", rel.Through.RightKey, "primary_key", rel.PrimaryKey)
			}
		}
	}
	if p, ok := keys["filters"]; ok {
		rel.Filters = r.filters(p.val, f.Path+".filters")
	}
	if p, ok := keys["order_by"]; ok {
		rel.OrderBy = r.orderBy(p.val, f.Path+".order_by")
	}
	if p, ok := keys["limit"]; ok {
		if v, ok := r.integer(p.val, f.Path+".limit"); ok {
			if v < 1 || v > 1<<31-1 {
				r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".limit", "limit must be between 1 and %d, found %d", 1<<31-1, v)
			} else {
				rel.Limit = int(v)
			}
		}
	}
	if p, ok := keys["fields"]; ok {
		f.Fields = r.fieldList(p.val, f.Path, fieldLevel{schema: level.schema, parentKey: rel.PrimaryKey})
	}
}

// sameLength reports a composite key whose column count differs from the
// key it references; an unknown (catalog) key is not checked here.
func (r *yreader) sameLength(f *Field, what string, cols []string, other string, ref []string) {
	if len(cols) > 0 && len(ref) > 0 && len(cols) != len(ref) {
		r.c.errorf(f.Pos, f.Path, "%s has %d column(s) but %s has %d: they pair up position by position", what, len(cols), other, len(ref))
	}
}

func (r *yreader) through(n *yaml.Node, path string, level fieldLevel) *Through {
	ps, ok := r.pairs(n, path, "the junction table")
	if !ok {
		return nil
	}
	keys := r.known(ps, path, keyNames(throughKeys), "through")
	t := &Through{Table: TableRef{Schema: level.schema}}
	for _, req := range []string{"table", "left_key", "right_key"} {
		if _, ok := keys[req]; !ok {
			r.c.errorf(r.pos(r.resolve(n)), path, "through needs %q", req)
		}
	}
	if p, ok := keys["table"]; ok {
		t.Table.Name, _ = r.ident(p.val, path+".table", "table")
	}
	if p, ok := keys["left_key"]; ok {
		t.LeftKey, _ = r.key(p.val, path+".left_key", "left_key")
		if len(t.LeftKey) > 0 && len(level.parentKey) > 0 && len(t.LeftKey) != len(level.parentKey) {
			r.c.errorf(r.pos(r.resolve(p.val)), path+".left_key", "left_key has %d column(s) but the parent's primary_key has %d", len(t.LeftKey), len(level.parentKey))
		}
	}
	if p, ok := keys["right_key"]; ok {
		t.RightKey, _ = r.key(p.val, path+".right_key", "right_key")
	}
	return t
}

func (r *yreader) aggregateField(f *Field, keys map[string]pair, level fieldLevel) {
	agg := &Aggregate{Func: AggregateFunc(f.Tag), Table: TableRef{Schema: level.schema}}
	f.Aggregate = agg
	if p, ok := keys["table"]; ok {
		agg.Table.Name, _ = r.ident(p.val, f.Path+".table", "table")
	}
	fk, hasFK := keys["foreign_key"]
	th, hasThrough := keys["through"]
	switch {
	case hasFK && hasThrough:
		r.c.errorf(r.pos(th.key), f.Path, "an aggregate takes foreign_key or through, not both")
	case hasFK:
		agg.ForeignKey, _ = r.key(fk.val, f.Path+".foreign_key", "foreign_key")
		r.sameLength(f, "foreign_key", agg.ForeignKey, "the parent's primary_key", level.parentKey)
	case hasThrough:
		agg.Through = r.through(th.val, f.Path+".through", level)
	default:
		r.c.errorf(f.Pos, f.Path, "an aggregate needs foreign_key (the related table's column pointing back at this row) or through (a junction table)")
	}
	if p, ok := keys["column"]; ok {
		agg.Column, _ = r.ident(p.val, f.Path+".column", "column")
	}
	if p, ok := keys["primary_key"]; ok {
		agg.PrimaryKey, _ = r.key(p.val, f.Path+".primary_key", "primary_key")
	}
	if agg.Through != nil {
		r.sameLength(f, "through.right_key", agg.Through.RightKey, "primary_key", agg.PrimaryKey)
	}
	if p, ok := keys["filters"]; ok {
		agg.Filters = r.filters(p.val, f.Path+".filters")
	}
	switch agg.Func {
	case AggCount:
		agg.ResultType = TypeLong
	case AggAvg:
		agg.ResultType = TypeDouble
	case AggSum, AggMin, AggMax:
		if p, ok := keys["value_type"]; ok {
			if t, ok := r.scalarType(p.val, f.Path+".value_type", "value_type"); ok {
				at := r.pos(r.resolve(p.val))
				switch {
				case agg.Func == AggSum && !t.IsNumeric():
					r.c.errorf(at, f.Path+".value_type", "sum needs a numeric value_type (short, integer, long, float, double or decimal), not %s", t)
				case !t.IsNumeric() && !t.IsText() && t != TypeDate && t != TypeTimestamp:
					r.c.errorf(at, f.Path+".value_type", "%s of %s values is not defined: use a number, date, timestamp or text type", agg.Func, t)
				}
				agg.ResultType = t
			}
		}
	case AggIDs:
		if p, ok := keys["element_type"]; ok {
			if t, ok := r.scalarType(p.val, f.Path+".element_type", "element_type"); ok {
				if t == TypeJSON || t == TypeBinary {
					r.c.errorf(r.pos(r.resolve(p.val)), f.Path+".element_type", "a key cannot be of type %s", t)
				}
				agg.ResultType = t
			}
		}
	}
	f.Type = agg.ResultType
}

func (r *yreader) filters(n *yaml.Node, path string) []Filter {
	items, ok := r.list(n, path, "a list of filters")
	if !ok {
		return nil
	}
	var out []Filter
	for i, item := range items {
		if f, ok := r.filter(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, f)
		}
	}
	return out
}

func opNames() []string {
	out := make([]string, len(FilterOps))
	for i, op := range FilterOps {
		out[i] = string(op)
	}
	return out
}

func (r *yreader) filter(n *yaml.Node, path string) (Filter, bool) {
	ps, ok := r.pairs(n, path, "a filter")
	if !ok {
		return Filter{}, false
	}
	keys := r.known(ps, path, keyNames(filterKeys), "a filter")
	node := r.resolve(n)
	if p, ok := keys["raw"]; ok {
		for _, k := range []string{"column", "op", "value"} {
			if q, has := keys[k]; has {
				r.c.errorf(r.pos(q.key), path, "a raw filter takes no %q: the SQL says everything", k)
			}
		}
		s, ok := r.str(p.val, path+".raw", "an SQL condition")
		if ok && strings.TrimSpace(s) == "" {
			r.c.errorf(r.pos(r.resolve(p.val)), path+".raw", "the raw SQL is empty")
			return Filter{}, false
		}
		return Filter{Raw: s}, ok
	}
	var f Filter
	good := true
	if p, ok := keys["column"]; ok {
		f.Column, ok = r.ident(p.val, path+".column", "column")
		good = good && ok
	} else {
		r.c.hintf(r.pos(node), path, "write { column, op, value } or { raw: \"<SQL>\" }", "a filter needs a column")
		good = false
	}
	p, hasOp := keys["op"]
	if !hasOp {
		r.c.errorf(r.pos(node), path, "a filter needs an op (one of %s)", quotedList(opNames()))
		return f, false
	}
	s, ok := r.str(p.val, path+".op", "an operator")
	if !ok {
		return f, false
	}
	f.Op = FilterOp(s)
	if !contains(opNames(), s) {
		r.c.hintf(r.pos(r.resolve(p.val)), path+".op", orList(didYouMean(s, opNames()), "expected one of "+quotedList(opNames())), "unknown filter operator %q", s)
		return f, false
	}
	vp, hasValue := keys["value"]
	at := r.pos(node)
	if hasValue {
		at = r.pos(r.resolve(vp.val))
	}
	switch f.Op.Arity() {
	case ArityNone:
		if hasValue {
			r.c.errorf(at, path+".value", "%s takes no value", f.Op)
			good = false
		}
	case ArityScalar:
		if !hasValue {
			r.c.errorf(at, path, "%s needs a value", f.Op)
			return f, false
		}
		v, ok := r.value(vp.val, path+".value")
		if !ok {
			return f, false
		}
		switch v.(type) {
		case nil:
			r.c.hintf(at, path+".value", "use op: is_null or is_not_null", "%s cannot compare with null", f.Op)
			good = false
		case map[string]any, []any:
			r.c.errorf(at, path+".value", "%s needs a single value (string, number or boolean)", f.Op)
			good = false
		}
		f.Value = v
	case ArityList, ArityPair:
		if !hasValue {
			r.c.errorf(at, path, "%s needs a value", f.Op)
			return f, false
		}
		v, ok := r.value(vp.val, path+".value")
		if !ok {
			return f, false
		}
		list, isList := v.([]any)
		switch {
		case !isList:
			r.c.errorf(at, path+".value", "%s needs a list of values", f.Op)
			good = false
		case f.Op == OpBetween && len(list) != 2:
			r.c.errorf(at, path+".value", "between needs exactly two values [low, high], found %d", len(list))
			good = false
		case len(list) == 0:
			r.c.errorf(at, path+".value", "%s needs at least one value", f.Op)
			good = false
		default:
			for i, item := range r.resolve(vp.val).Content {
				switch list[i].(type) {
				case nil, map[string]any, []any:
					r.c.errorf(r.pos(r.resolve(item)), fmt.Sprintf("%s.value[%d]", path, i), "%s takes plain values (strings, numbers, booleans), found %s", f.Op, describe(r.resolve(item)))
					good = false
				}
			}
		}
		f.Value = v
	}
	return f, good
}

func (r *yreader) orderBy(n *yaml.Node, path string) []OrderBy {
	items, ok := r.list(n, path, "a list of { column, direction }")
	if !ok {
		return nil
	}
	var out []OrderBy
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", path, i)
		ps, ok := r.pairs(item, at, "an order_by entry")
		if !ok {
			continue
		}
		keys := r.known(ps, at, keyNames(orderByKeys), "an order_by entry")
		o := OrderBy{Direction: "asc"}
		if p, ok := keys["column"]; ok {
			o.Column, _ = r.ident(p.val, at+".column", "column")
		} else {
			r.c.errorf(r.pos(r.resolve(item)), at, "an order_by entry needs a column")
			continue
		}
		if p, ok := keys["direction"]; ok {
			if d, ok := r.str(p.val, at+".direction", "a direction"); ok {
				if d = strings.ToLower(d); d != "asc" && d != "desc" {
					r.c.hintf(r.pos(r.resolve(p.val)), at+".direction", `expected "asc" or "desc"`, "unknown direction %q", d)
					continue
				}
				o.Direction = d
			}
		}
		out = append(out, o)
	}
	return out
}

func (r *yreader) softDelete(n *yaml.Node, path string, fields []*Field) *SoftDelete {
	ps, ok := r.pairs(n, path, "soft_delete")
	if !ok {
		return nil
	}
	keys := r.known(ps, path, keyNames(softDeleteKeys), "soft_delete")
	sd := &SoftDelete{}
	col, hasCol := keys["column"]
	fld, hasField := keys["field"]
	switch {
	case hasCol && hasField:
		r.c.errorf(r.pos(fld.key), path, "soft_delete takes column or field, not both")
	case hasCol:
		sd.Column, _ = r.ident(col.val, path+".column", "column")
	case hasField:
		if name, ok := r.str(fld.val, path+".field", "a field name"); ok {
			sd.Field = name
			if paths := rootRowFields(fields, ""); !contains(paths, name) {
				r.c.hintf(r.pos(r.resolve(fld.val)), path+".field", orList(didYouMean(name, paths), "it must name a scalar field of the root row"), "soft_delete.field %q names no scalar field of the root row", name)
			}
		}
	default:
		r.c.hintf(r.pos(r.resolve(n)), path, "e.g. `column: deleted`", "soft_delete needs column or field")
	}
	if p, ok := keys["when"]; ok {
		sd.When = r.filters(p.val, path+".when")
	}
	return sd
}

// rootRowFields lists the dotted paths of the scalar fields read from the
// root row, through same-row groups.
func rootRowFields(fields []*Field, prefix string) []string {
	var out []string
	for _, f := range fields {
		switch f.Kind {
		case KindScalar, KindCustom:
			out = append(out, prefix+f.Name)
		case KindObject:
			out = append(out, rootRowFields(f.Fields, prefix+f.Name+".")...)
		}
	}
	return out
}
