package config

// The one declaration of the schema language: which type tags exist, which
// sibling keys each takes and which it requires. The YAML parser enforces it
// and the JSON Schema for editors is generated from it, so the two cannot
// drift apart.

// valueKind is the shape of a key's value, for validation messages and the
// JSON Schema.
type valueKind int

const (
	vIdent       valueKind = iota // a Postgres identifier
	vKey                          // an identifier or a list of them (composite key)
	vFieldName                    // a document key
	vBool                         // true/false
	vPositive                     // an integer >= 1
	vInt                          // version: 1
	vString                       // free text
	vStrings                      // a list of strings
	vObject                       // a mapping of anything
	vAny                          // any YAML value
	vScalarValue                  // a string, number or boolean
	vFields                       // a list of fields
	vFilters                      // a list of filters
	vOrderBy                      // a list of order_by entries
	vThrough                      // a junction table
	vTransforms                   // a list of transforms
	vScalarType                   // a scalar type name
	vSoftDelete                   // the soft_delete table
)

type keySpec struct {
	name string
	kind valueKind
	doc  string
}

// fieldKeys are the sibling keys a field may carry; which ones a given tag
// accepts is in tagSpec.allowed.
var fieldKeys = []keySpec{
	{"column", vKey, "The column read (defaults to the field name lower-cased). On belongs_to: this table's column(s) pointing at the related row's primary key."},
	{"required", vBool, "Whether the value is expected to be non-null. Default false."},
	{"options", vObject, "OpenSearch mapping properties merged over the derived ones (e.g. analyzer, format, scaling_factor)."},
	{"transforms", vTransforms, "String transforms applied in order: lowercase, trim."},
	{"default", vScalarValue, "Value used when the column is null (a scalar of the field's type)."},
	{"variants", vStrings, "For enum: the variants in rank order; the field then sorts by this order via its .sort subfield."},
	{"postgres", vStrings, "For custom: the Postgres column types the field accepts."},
	{"opensearch", vString, "For custom: the OpenSearch field type it maps to."},
	{"lat", vIdent, "For geo: the latitude column."},
	{"lon", vIdent, "For geo: the longitude column."},
	{"values", vScalarType, "For map: the scalar type of every value."},
	{"value", vAny, "For constant: the value, emitted with its own JSON type."},
	{"fields", vFields, "The fields of the group or of the related rows."},
	{"table", vIdent, "The related table."},
	{"primary_key", vKey, "The related table's primary key (a column or a list for a composite key); defaults to the table's primary key."},
	{"foreign_key", vKey, "The related table's column(s) pointing back at this row's primary key."},
	{"through", vThrough, "The junction table of a many-to-many link."},
	{"filters", vFilters, "Conditions on the related rows; several filters AND together."},
	{"order_by", vOrderBy, "Sort order of the related rows."},
	{"limit", vPositive, "Keep at most this many related rows."},
	{"value_type", vScalarType, "For sum/min/max: the scalar type of the result."},
	{"element_type", vScalarType, "For ids: the scalar type of each collected key."},
}

type tagSpec struct {
	tag      string
	kind     Kind
	doc      string
	allowed  []string
	required []string
}

var (
	scalarKeys    = []string{"column", "required", "options", "default"}
	relationBase  = []string{"table", "primary_key", "fields", "filters", "options"}
	aggregateBase = []string{"table", "foreign_key", "through", "filters", "options"}
)

var scalarDocs = map[ScalarType]string{
	TypeText:       "Natural-language text (Postgres text family); mapped as text with subfields.",
	TypeIdentifier: "Codes, SKUs, paths (Postgres text family); text with a code-aware analyzer.",
	TypeKeyword:    "Exact-match string (Postgres text family); keyword with subfields.",
	TypeEnum:       "A value from a fixed set (text or a native enum type); keyword, sorted by variants when given.",
	TypeUUID:       "A uuid, rendered hyphenated; keyword.",
	TypeBoolean:    "A boolean.",
	TypeShort:      "A smallint.",
	TypeInteger:    "An integer (or serial).",
	TypeLong:       "A bigint (or bigserial).",
	TypeFloat:      "A real.",
	TypeDouble:     "A double precision.",
	TypeDecimal:    "A numeric, decimal or money; mapped as double.",
	TypeDate:       "A date, rendered YYYY-MM-DD.",
	TypeTimestamp:  "A timestamp, timestamptz, time or timetz; mapped as date.",
	TypeBinary:     "A bytea, rendered base64.",
	TypeJSON:       "A json or jsonb value; mapped as a dynamic object.",
}

// tagSpecs is the schema language, in the order the docs present it.
var tagSpecs = func() []tagSpec {
	var specs []tagSpec
	for _, t := range ScalarTypes {
		allowed := append([]string(nil), scalarKeys...)
		if t.IsText() {
			allowed = append(allowed, "transforms")
		}
		if t == TypeEnum {
			allowed = append(allowed, "variants")
		}
		if t == TypeBinary {
			allowed = allowed[:3] // no default: there is no scalar literal for bytes
		}
		specs = append(specs, tagSpec{tag: string(t), kind: KindScalar, doc: scalarDocs[t], allowed: allowed})
	}
	agg := func(tag string, doc string, extra []string, required ...string) tagSpec {
		return tagSpec{tag: tag, kind: KindAggregate, doc: doc, allowed: append(append([]string(nil), aggregateBase...), extra...), required: append([]string{"table"}, required...)}
	}
	specs = append(specs,
		tagSpec{tag: "custom", kind: KindCustom, doc: "A user-named type: the Postgres types it accepts and the OpenSearch type it maps to.",
			allowed: []string{"column", "required", "options", "default", "postgres", "opensearch"}, required: []string{"postgres", "opensearch"}},
		tagSpec{tag: "geo", kind: KindGeo, doc: "A geo_point from lat + lon columns, or from one column holding {lat,lon}, [lon,lat] or \"lat,lon\".",
			allowed: []string{"lat", "lon", "column", "required", "options"}},
		tagSpec{tag: "map", kind: KindMap, doc: "An object with runtime-determined keys from a json/jsonb column; every value has the type `values`.",
			allowed: []string{"column", "required", "options", "values"}, required: []string{"values"}},
		tagSpec{tag: "constant", kind: KindConstant, doc: "The same value in every document.",
			allowed: []string{"value", "options"}, required: []string{"value"}},
		tagSpec{tag: "object", kind: KindObject, doc: "A group of fields of the same row; never null.",
			allowed: []string{"fields", "options"}, required: []string{"fields"}},
		tagSpec{tag: string(BelongsTo), kind: KindRelation, doc: "To-one join: this row's column points at the related row's primary key. Renders an object or null.",
			allowed: append(append([]string(nil), relationBase...), "column", "required"), required: []string{"table", "fields"}},
		tagSpec{tag: string(HasOne), kind: KindRelation, doc: "To-one join: the related table's foreign_key points at this row. Renders an object or null.",
			allowed: append(append([]string(nil), relationBase...), "foreign_key", "order_by", "required"), required: []string{"table", "foreign_key", "fields"}},
		tagSpec{tag: string(HasMany), kind: KindRelation, doc: "To-many join: the related table's foreign_key points at this row. Renders an array ([] when empty), mapped nested.",
			allowed: append(append([]string(nil), relationBase...), "foreign_key", "order_by", "limit"), required: []string{"table", "foreign_key", "fields"}},
		tagSpec{tag: string(ManyToMany), kind: KindRelation, doc: "To-many join through a junction table. Renders an array, mapped nested.",
			allowed: append(append([]string(nil), relationBase...), "through", "order_by", "limit"), required: []string{"table", "through", "fields"}},
		agg(string(AggCount), "The number of related rows (a non-null long).", nil),
		agg(string(AggSum), "The sum of a column over the related rows (null when none).", []string{"column", "value_type"}, "column", "value_type"),
		agg(string(AggAvg), "The average of a column over the related rows (a nullable double).", []string{"column"}, "column"),
		agg(string(AggMin), "The smallest value of a column over the related rows.", []string{"column", "value_type"}, "column", "value_type"),
		agg(string(AggMax), "The largest value of a column over the related rows.", []string{"column", "value_type"}, "column", "value_type"),
		agg(string(AggIDs), "The related rows' primary keys as an array.", []string{"primary_key", "element_type"}, "element_type"),
	)
	return specs
}()

func lookupTag(tag string) (tagSpec, bool) {
	for _, s := range tagSpecs {
		if s.tag == tag {
			return s, true
		}
	}
	return tagSpec{}, false
}

func allTags() []string {
	out := make([]string, len(tagSpecs))
	for i, s := range tagSpecs {
		out[i] = s.tag
	}
	return out
}

func lookupFieldKey(name string) (keySpec, bool) {
	for _, k := range fieldKeys {
		if k.name == name {
			return k, true
		}
	}
	return keySpec{}, false
}

// Top-level keys of a schema file and the keys of its nested tables.
var (
	schemaKeys = []keySpec{
		{"version", vInt, "Format version; only 1."},
		{"table", vIdent, "The root table: one document per row."},
		{"schema", vIdent, "Database schema of the root and every related table (default public)."},
		{"primary_key", vKey, "The root table's key (a column or a list for a composite key); drives the document _id. Required as soon as there is a join or aggregate."},
		{"doc_id", vIdent, "Not supported: the document _id always derives from primary_key."},
		{"soft_delete", vSoftDelete, "A marker that turns the row's document into a tombstone."},
		{"filters", vFilters, "Only root rows matching every filter are documents; a row that stops matching is deleted."},
		{"fields", vFields, "The document's fields."},
	}
	schemaRequired = []string{"version", "table", "fields"}
	softDeleteKeys = []keySpec{
		{"column", vIdent, "A root-table column; a truthy value (true, or non-null) marks the row deleted."},
		{"field", vFieldName, "A declared scalar field of the root row (dotted path into groups)."},
		{"when", vFilters, "Instead of truthiness: the row is deleted when every filter matches."},
	}
	throughKeys = []keySpec{
		{"table", vIdent, "The junction table."},
		{"left_key", vKey, "The junction's column(s) pointing at this row's primary key."},
		{"right_key", vKey, "The junction's column(s) pointing at the related row's primary key."},
	}
	orderByKeys = []keySpec{
		{"column", vIdent, "The column to sort by."},
		{"direction", vString, "asc (default) or desc."},
	}
	filterKeys = []keySpec{
		{"column", vIdent, "The column compared."},
		{"op", vString, "The operator."},
		{"value", vAny, "The operand: a scalar; a list for in/not_in; two values for between; none for is_null/is_not_null."},
		{"raw", vString, "An SQL condition inserted verbatim (trusted config)."},
	}
)

func keyNames(keys []keySpec) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// openSearchTypes are the field types OpenSearch and its common plugins
// know; a custom type outside the list draws a warning, not an error, since
// a plugin may add others.
var openSearchTypes = []string{
	"alias", "binary", "boolean", "byte", "completion", "constant_keyword", "date", "date_nanos",
	"date_range", "double", "double_range", "flat_object", "float", "float_range", "geo_point",
	"geo_shape", "half_float", "icu_collation_keyword", "integer", "integer_range", "ip",
	"ip_range", "join", "keyword", "knn_vector", "long", "long_range", "match_only_text",
	"murmur3", "nested", "object", "percolator", "rank_feature", "rank_features", "scaled_float",
	"search_as_you_type", "semantic", "short", "sparse_vector", "star_tree", "text", "token_count", "unsigned_long",
	"version", "wildcard", "xy_point", "xy_shape",
}
