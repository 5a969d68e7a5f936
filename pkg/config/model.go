package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The typed model of one index schema (*.schema.yml). Everything the later
// stages need is resolved here: defaults are filled in, identifiers are
// normalised and every rule of the schema language has been checked, so
// consumers never look at YAML.

// TableRef names a table in a database schema.
type TableRef struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// String returns the qualified name, schema.table.
func (t TableRef) String() string { return t.Schema + "." + t.Name }

// Schema is one index's document definition.
type Schema struct {
	File       string      `json:"-"`
	Version    int         `json:"version"`
	Table      TableRef    `json:"table"`
	PrimaryKey []string    `json:"primary_key,omitempty"` // empty: the table's primary key, read from the catalog
	SoftDelete *SoftDelete `json:"soft_delete,omitempty"`
	Filters    []Filter    `json:"filters,omitempty"`
	Fields     []*Field    `json:"fields"`
}

// SoftDelete turns a root row into a tombstone. Exactly one of Column or
// Field is set.
type SoftDelete struct {
	Column string   `json:"column,omitempty"`
	Field  string   `json:"field,omitempty"` // dotted path of a root scalar field
	When   []Filter `json:"when,omitempty"`  // empty: the marker is truthy
}

// Kind is the broad family of a field.
type Kind string

const (
	KindScalar    Kind = "scalar"
	KindCustom    Kind = "custom"
	KindGeo       Kind = "geo"
	KindMap       Kind = "map"
	KindConstant  Kind = "constant"
	KindObject    Kind = "object"
	KindRelation  Kind = "relation"
	KindAggregate Kind = "aggregate"
)

// ScalarType is a declared scalar type tag.
type ScalarType string

const (
	TypeText       ScalarType = "text"
	TypeIdentifier ScalarType = "identifier"
	TypeKeyword    ScalarType = "keyword"
	TypeEnum       ScalarType = "enum"
	TypeUUID       ScalarType = "uuid"
	TypeBoolean    ScalarType = "boolean"
	TypeShort      ScalarType = "short"
	TypeInteger    ScalarType = "integer"
	TypeLong       ScalarType = "long"
	TypeFloat      ScalarType = "float"
	TypeDouble     ScalarType = "double"
	TypeDecimal    ScalarType = "decimal"
	TypeDate       ScalarType = "date"
	TypeTimestamp  ScalarType = "timestamp"
	TypeBinary     ScalarType = "binary"
	TypeJSON       ScalarType = "json"
)

// ScalarTypes lists every scalar type in the order of FORMAT.md.
var ScalarTypes = []ScalarType{
	TypeText, TypeIdentifier, TypeKeyword, TypeEnum, TypeUUID, TypeBoolean,
	TypeShort, TypeInteger, TypeLong, TypeFloat, TypeDouble, TypeDecimal,
	TypeDate, TypeTimestamp, TypeBinary, TypeJSON,
}

// IsText reports whether values of t are strings from the text family.
func (t ScalarType) IsText() bool {
	switch t {
	case TypeText, TypeIdentifier, TypeKeyword, TypeEnum:
		return true
	}
	return false
}

// IsNumeric reports whether t is a number type.
func (t ScalarType) IsNumeric() bool {
	switch t {
	case TypeShort, TypeInteger, TypeLong, TypeFloat, TypeDouble, TypeDecimal:
		return true
	}
	return false
}

// IsInteger reports whether t is an integer type.
func (t ScalarType) IsInteger() bool {
	return t == TypeShort || t == TypeInteger || t == TypeLong
}

func isScalarType(s string) bool {
	for _, t := range ScalarTypes {
		if string(t) == s {
			return true
		}
	}
	return false
}

// Transform is a string transformation applied to a text value, in order.
type Transform string

const (
	TransformLowercase Transform = "lowercase"
	TransformTrim      Transform = "trim"
)

// Field is one key of the document. Tag is the type tag as written (keyword,
// has_many, count, …); Kind groups the tags, and exactly the part of the
// struct that belongs to the kind is set.
type Field struct {
	Name string `json:"name"`
	Tag  string `json:"tag"`
	Kind Kind   `json:"kind"`
	// Path is the dotted path from the index name, users.orders.items.quantity.
	Path string   `json:"-"`
	Pos  Position `json:"-"`

	// Scalar, custom, map and single-column geo: the column read.
	Column   string `json:"column,omitempty"`
	Required bool   `json:"required,omitempty"`
	// Options are OpenSearch mapping properties merged over the derived ones.
	Options map[string]any `json:"options,omitempty"`

	// Scalar: Type is the tag. Map: the type of every value.
	Type       ScalarType  `json:"type,omitempty"`
	Transforms []Transform `json:"transforms,omitempty"`
	// Default, when HasDefault, replaces a null column value.
	Default    any      `json:"default,omitempty"`
	HasDefault bool     `json:"has_default,omitempty"`
	Variants   []string `json:"variants,omitempty"` // enum: rank order

	Custom    *CustomType `json:"custom,omitempty"`
	Geo       *GeoSource  `json:"geo,omitempty"`
	Value     any         `json:"-"` // constant; see MarshalJSON
	Fields    []*Field    `json:"fields,omitempty"`
	Relation  *Relation   `json:"relation,omitempty"`
	Aggregate *Aggregate  `json:"aggregate,omitempty"`
}

// MarshalJSON writes a constant's value even when it is a zero value (false,
// 0, ""), so that the canonical form, and the schema hash, tell them apart.
func (f *Field) MarshalJSON() ([]byte, error) {
	type plain Field
	if f.Kind != KindConstant {
		return json.Marshal((*plain)(f))
	}
	return json.Marshal(struct {
		*plain
		Value any `json:"value"`
	}{(*plain)(f), f.Value})
}

// Hash is 8 hex digits of a hash of the canonical resolved schema: any change
// to what the documents or their mapping look like changes it, and with it
// the generation of the OpenSearch index.
func (s *Schema) Hash() string {
	data, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("config: a loaded schema does not encode: %v", err)) // the loader only admits JSON values
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4])
}

// CustomType is a user-named type: which Postgres column types it accepts
// and which OpenSearch field type it maps to.
type CustomType struct {
	Postgres   []string `json:"postgres"`
	OpenSearch string   `json:"opensearch"`
}

// GeoSource says where a geo_point comes from: two columns, or one column
// holding {lat,lon}, [lon,lat] or "lat,lon".
type GeoSource struct {
	Lat    string `json:"lat,omitempty"`
	Lon    string `json:"lon,omitempty"`
	Column string `json:"column,omitempty"`
}

// RelationKind is the verb of a join.
type RelationKind string

const (
	BelongsTo  RelationKind = "belongs_to"
	HasOne     RelationKind = "has_one"
	HasMany    RelationKind = "has_many"
	ManyToMany RelationKind = "many_to_many"
)

// ToMany reports whether the relation renders an array.
func (k RelationKind) ToMany() bool { return k == HasMany || k == ManyToMany }

// Relation is a join to another table, folded into the document.
type Relation struct {
	Kind  RelationKind `json:"kind"`
	Table TableRef     `json:"table"`
	// PrimaryKey of the related table; empty means read from the catalog.
	PrimaryKey []string `json:"primary_key,omitempty"`
	// Column (belongs_to): this row's columns pointing at the related key.
	Column []string `json:"column,omitempty"`
	// ForeignKey (has_one, has_many): the related table's columns pointing
	// back at this row's key.
	ForeignKey []string  `json:"foreign_key,omitempty"`
	Through    *Through  `json:"through,omitempty"` // many_to_many
	Filters    []Filter  `json:"filters,omitempty"`
	OrderBy    []OrderBy `json:"order_by,omitempty"`
	Limit      int       `json:"limit,omitempty"` // 0: no limit
}

// Through is a junction table: LeftKey points at this row's key, RightKey
// at the related row's key.
type Through struct {
	Table    TableRef `json:"table"`
	LeftKey  []string `json:"left_key"`
	RightKey []string `json:"right_key"`
}

// AggregateFunc is the operation of a rollup.
type AggregateFunc string

const (
	AggCount AggregateFunc = "count"
	AggSum   AggregateFunc = "sum"
	AggAvg   AggregateFunc = "avg"
	AggMin   AggregateFunc = "min"
	AggMax   AggregateFunc = "max"
	AggIDs   AggregateFunc = "ids"
)

// Aggregate is a rollup over the rows of a related table.
type Aggregate struct {
	Func       AggregateFunc `json:"func"`
	Table      TableRef      `json:"table"`
	ForeignKey []string      `json:"foreign_key,omitempty"`
	Through    *Through      `json:"through,omitempty"`
	Column     string        `json:"column,omitempty"`      // sum, avg, min, max
	PrimaryKey []string      `json:"primary_key,omitempty"` // ids: the collected key; empty: catalog
	// ResultType is the type of the value: long for count, double for avg,
	// value_type for sum/min/max, element_type for ids.
	ResultType ScalarType `json:"result_type"`
	Filters    []Filter   `json:"filters,omitempty"`
}

// FilterOp is a comparison of a filter.
type FilterOp string

const (
	OpEq        FilterOp = "eq"
	OpNeq       FilterOp = "neq"
	OpLt        FilterOp = "lt"
	OpLte       FilterOp = "lte"
	OpGt        FilterOp = "gt"
	OpGte       FilterOp = "gte"
	OpLike      FilterOp = "like"
	OpIlike     FilterOp = "ilike"
	OpIn        FilterOp = "in"
	OpNotIn     FilterOp = "not_in"
	OpBetween   FilterOp = "between"
	OpIsNull    FilterOp = "is_null"
	OpIsNotNull FilterOp = "is_not_null"
)

// FilterOps lists every operator.
var FilterOps = []FilterOp{OpEq, OpNeq, OpLt, OpLte, OpGt, OpGte, OpLike, OpIlike, OpIn, OpNotIn, OpBetween, OpIsNull, OpIsNotNull}

// Arity says what value an operator takes.
type Arity int

const (
	ArityScalar Arity = iota // one scalar value
	ArityList                // a non-empty list
	ArityPair                // exactly two values
	ArityNone                // no value
)

// Arity returns the value shape op takes.
func (op FilterOp) Arity() Arity {
	switch op {
	case OpIn, OpNotIn:
		return ArityList
	case OpBetween:
		return ArityPair
	case OpIsNull, OpIsNotNull:
		return ArityNone
	}
	return ArityScalar
}

// Filter restricts rows: either a column comparison or raw SQL.
type Filter struct {
	Column string   `json:"column,omitempty"`
	Op     FilterOp `json:"op,omitempty"`
	// Value is a string, int64, float64 or bool; for list and pair operators
	// a []any of those. Dates and times keep the text as written: values are
	// bound as text and cast to the column's type.
	Value any    `json:"value,omitempty"`
	Raw   string `json:"raw,omitempty"`
}

// OrderBy sorts a to-many relation.
type OrderBy struct {
	Column    string `json:"column"`
	Direction string `json:"direction"` // asc | desc
}

// Tables lists every table the schema reads: the root, related and
// aggregated tables and junctions, in document order, with repeats.
func (s *Schema) Tables() []TableRef {
	refs := []TableRef{s.Table}
	Walk(s.Fields, func(f *Field) bool {
		switch {
		case f.Relation != nil:
			refs = append(refs, f.Relation.Table)
			if f.Relation.Through != nil {
				refs = append(refs, f.Relation.Through.Table)
			}
		case f.Aggregate != nil:
			refs = append(refs, f.Aggregate.Table)
			if f.Aggregate.Through != nil {
				refs = append(refs, f.Aggregate.Through.Table)
			}
		}
		return true
	})
	return refs
}

// Walk calls fn for every field of the tree in document order, parents
// before children. Returning false skips the children of that field.
func Walk(fields []*Field, fn func(*Field) bool) {
	for _, f := range fields {
		if fn(f) {
			Walk(f.Fields, fn)
		}
	}
}
