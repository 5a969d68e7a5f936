// Package mapping derives the OpenSearch index body — settings, analysis and
// `dynamic: strict` mappings — of an index from its schema. It owns the
// translation of every field tag into an OpenSearch field mapping, the
// analyzers and normalizers flusso defines, and how a field's `options` merge
// over what it derives. It does not talk to OpenSearch, name indexes or
// decide when a new generation is built: callers send the body it returns.
package mapping

import (
	"errors"
	"fmt"
	"math"

	"github.com/flusso-go/flusso/pkg/config"
)

// Options are the index-wide choices of a sink that shape the body.
type Options struct {
	// Shards and Replicas are index.number_of_shards and
	// index.number_of_replicas; Shards must be at least 1.
	Shards   int
	Replicas int
	// RefreshInterval is index.refresh_interval ("1s", "-1"); empty leaves
	// the cluster default.
	RefreshInterval string
	// Analysis selects the components of the flusso analyzers; empty means
	// builtin. icu needs the analysis-icu plugin on every node.
	Analysis config.TextAnalysis
	// AutoSubfields gives text, identifier and keyword fields their
	// keyword / keyword_lowercase / text subfields, and text fields the
	// flusso_text analyzer.
	AutoSubfields bool
}

// OptionsFor returns the options of an OpenSearch sink's settings.
func OptionsFor(s *config.OpenSearchSink) Options {
	return Options{
		Shards:          s.NumberOfShards,
		Replicas:        s.NumberOfReplicas,
		RefreshInterval: s.RefreshInterval,
		Analysis:        s.TextAnalysis,
		AutoSubfields:   s.AutoSubfields,
	}
}

// Body returns the body of PUT /<index> for an index of schema s: its
// settings (with only the analysis components the mappings use) and its
// mappings. The result is fresh on every call and encodes deterministically
// with encoding/json.
func Body(s *config.Schema, o Options) (map[string]any, error) {
	if s == nil {
		return nil, errors.New("mapping: no schema")
	}
	switch {
	case o.Shards < 1:
		return nil, fmt.Errorf("mapping: number_of_shards is %d, it must be at least 1", o.Shards)
	case o.Replicas < 0:
		return nil, fmt.Errorf("mapping: number_of_replicas is %d, it must not be negative", o.Replicas)
	}
	switch o.Analysis {
	case "":
		o.Analysis = config.AnalysisBuiltin
	case config.AnalysisBuiltin, config.AnalysisICU:
	default:
		return nil, fmt.Errorf("mapping: unknown text analysis %q (builtin or icu)", o.Analysis)
	}

	b := &builder{o: o, sorts: map[string][]string{}}
	props, err := b.fields(s.Fields, "")
	if err != nil {
		return nil, err
	}
	mappings := map[string]any{"dynamic": "strict", "properties": props}
	if len(b.templates) > 0 {
		mappings["dynamic_templates"] = b.templates
	}

	index := map[string]any{
		"number_of_shards":   o.Shards,
		"number_of_replicas": o.Replicas,
	}
	if o.RefreshInterval != "" {
		index["refresh_interval"] = o.RefreshInterval
	}
	settings := map[string]any{"index": index}
	if analysis := b.analysis(collectRefs(mappings)); len(analysis) > 0 {
		settings["analysis"] = analysis
	}
	return map[string]any{"settings": settings, "mappings": mappings}, nil
}

// builder collects what a walk over the fields needs beyond the field
// mappings themselves: the dynamic templates of map fields and the rank
// tables of ordered enums.
type builder struct {
	o         Options
	templates []any
	// sorts maps the name of an enum's sort normalizer (and char filter) to
	// its variants in rank order.
	sorts map[string][]string
}

func (b *builder) fields(fields []*config.Field, parent string) (map[string]any, error) {
	props := make(map[string]any, len(fields))
	for _, f := range fields {
		path := f.Name
		if parent != "" {
			path = parent + "." + f.Name
		}
		if f.Name == "" {
			return nil, fmt.Errorf("mapping %s: a field without a name", describePath(parent))
		}
		if _, dup := props[f.Name]; dup {
			return nil, &fieldError{path: fieldPath(f, path), err: errors.New("the field is declared twice")}
		}
		m, err := b.field(f, path)
		if err != nil {
			var nested *fieldError
			if errors.As(err, &nested) {
				return nil, err // already names the innermost field
			}
			return nil, &fieldError{path: fieldPath(f, path), err: err}
		}
		if f.Options != nil {
			mergeOptions(m, f.Options)
		}
		props[f.Name] = m
	}
	return props, nil
}

// fieldError is a field that has no mapping, named by its path.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return "mapping " + e.path + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// fieldPath names f in errors: the loader's path (from the index name) when
// it has one, else the document path.
func fieldPath(f *config.Field, path string) string {
	if f.Path != "" {
		return f.Path
	}
	return path
}

func describePath(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func (b *builder) field(f *config.Field, path string) (map[string]any, error) {
	switch f.Kind {
	case config.KindScalar:
		return b.scalar(f.Type, path, f.Variants)
	case config.KindCustom:
		if f.Custom == nil || f.Custom.OpenSearch == "" {
			return nil, errors.New("a custom field needs an opensearch type")
		}
		return map[string]any{"type": f.Custom.OpenSearch}, nil
	case config.KindGeo:
		return map[string]any{"type": "geo_point"}, nil
	case config.KindMap:
		return b.mapField(f, path)
	case config.KindConstant:
		return constant(f.Value)
	case config.KindObject:
		return b.object("object", f.Fields, path)
	case config.KindRelation:
		if f.Relation == nil {
			return nil, errors.New("a relation field without its join")
		}
		if f.Relation.Kind.ToMany() {
			// nested keeps each related row's fields together in queries.
			return b.object("nested", f.Fields, path)
		}
		return b.object("object", f.Fields, path)
	case config.KindAggregate:
		return aggregate(f.Aggregate)
	}
	return nil, fmt.Errorf("unknown field kind %q", f.Kind)
}

func (b *builder) object(typ string, fields []*config.Field, path string) (map[string]any, error) {
	props, err := b.fields(fields, path)
	if err != nil {
		return nil, err
	}
	return map[string]any{"type": typ, "properties": props}, nil
}

// The auto subfields. Each call builds a fresh map: options merge in place.
func keywordSubfield() map[string]any {
	return map[string]any{"type": "keyword", "ignore_above": 256}
}

func keywordLowercaseSubfield() map[string]any {
	return map[string]any{"type": "keyword", "normalizer": normalizerLowercase, "ignore_above": 256}
}

// scalar is the mapping of a scalar field with its subfields.
func (b *builder) scalar(t config.ScalarType, path string, variants []string) (map[string]any, error) {
	auto := b.o.AutoSubfields
	switch t {
	case config.TypeText:
		m := b.bare(t)
		if auto {
			m["fields"] = map[string]any{"keyword": keywordSubfield(), "keyword_lowercase": keywordLowercaseSubfield()}
		}
		return m, nil
	case config.TypeIdentifier:
		m := b.bare(t)
		if auto {
			m["fields"] = map[string]any{"keyword": keywordSubfield(), "keyword_lowercase": keywordLowercaseSubfield()}
		}
		return m, nil
	case config.TypeKeyword:
		m := b.bare(t)
		if auto {
			m["fields"] = map[string]any{
				"keyword_lowercase": keywordLowercaseSubfield(),
				"text":              map[string]any{"type": "text", "analyzer": analyzerText},
			}
		}
		return m, nil
	case config.TypeEnum:
		m := b.bare(t)
		if len(variants) > 0 {
			name, err := b.sortNormalizer(path, variants)
			if err != nil {
				return nil, err
			}
			m["fields"] = map[string]any{"sort": map[string]any{"type": "keyword", "normalizer": name}}
		}
		return m, nil
	}
	if m := b.bare(t); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("unknown scalar type %q", t)
}

// bare is the mapping of a value of type t without subfields: map values,
// and the base of scalar fields. nil for an unknown type.
func (b *builder) bare(t config.ScalarType) map[string]any {
	switch t {
	case config.TypeText:
		if !b.o.AutoSubfields {
			return map[string]any{"type": "text"}
		}
		return map[string]any{"type": "text", "analyzer": analyzerText}
	case config.TypeIdentifier:
		return map[string]any{"type": "text", "analyzer": analyzerCode}
	}
	return exact(t)
}

// exact is the mapping of a value of a type that is not text or identifier.
// nil for an unknown type.
func exact(t config.ScalarType) map[string]any {
	switch t {
	case config.TypeKeyword, config.TypeEnum, config.TypeUUID:
		return map[string]any{"type": "keyword"}
	case config.TypeBoolean, config.TypeShort, config.TypeInteger, config.TypeLong,
		config.TypeFloat, config.TypeDouble, config.TypeBinary:
		return map[string]any{"type": string(t)}
	case config.TypeDecimal:
		return map[string]any{"type": "double"}
	case config.TypeDate, config.TypeTimestamp:
		return map[string]any{"type": "date"}
	case config.TypeJSON:
		return map[string]any{"type": "object", "dynamic": true}
	}
	return nil
}

// mapField maps a map as a dynamic object whose keys all take the mapping of
// the values type, through a dynamic template on its path.
func (b *builder) mapField(f *config.Field, path string) (map[string]any, error) {
	if f.Type == config.TypeJSON || f.Type == config.TypeBinary {
		return nil, fmt.Errorf("map values cannot be %s", f.Type)
	}
	values := b.bare(f.Type)
	if values == nil {
		return nil, fmt.Errorf("unknown map values type %q", f.Type)
	}
	b.templates = append(b.templates, map[string]any{
		path: map[string]any{"path_match": path + ".*", "mapping": values},
	})
	return map[string]any{"type": "object", "dynamic": true}, nil
}

// constant maps a constant by the JSON type of its value.
func constant(v any) (map[string]any, error) {
	switch v := v.(type) {
	case string:
		return map[string]any{"type": "keyword"}, nil
	case bool:
		return map[string]any{"type": "boolean"}, nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return map[string]any{"type": "long"}, nil
	case float32:
		return map[string]any{"type": "double"}, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("the constant %v is not a JSON number", v)
		}
		return map[string]any{"type": "double"}, nil
	case []any, map[string]any:
		// Kept in _source only: its shape is the user's, and indexing it
		// would need a mapping of its own.
		return map[string]any{"type": "object", "enabled": false}, nil
	case nil:
		return nil, errors.New("a constant needs a value")
	}
	return nil, fmt.Errorf("the constant has a value of unsupported type %T", v)
}

// aggregate maps the value of a rollup.
func aggregate(a *config.Aggregate) (map[string]any, error) {
	if a == nil {
		return nil, errors.New("an aggregate field without its rollup")
	}
	t := a.ResultType
	switch a.Func {
	case config.AggCount:
		return map[string]any{"type": "long"}, nil
	case config.AggAvg:
		return map[string]any{"type": "double"}, nil
	case config.AggSum:
		switch {
		case t.IsInteger():
			return map[string]any{"type": "long"}, nil // a sum of shorts or integers overflows them
		case t.IsNumeric():
			return map[string]any{"type": "double"}, nil
		}
		return nil, fmt.Errorf("sum needs a numeric value_type, not %q", t)
	case config.AggMin, config.AggMax, config.AggIDs:
		if t == config.TypeJSON || t == config.TypeBinary {
			return nil, fmt.Errorf("%s of %s values cannot be indexed", a.Func, t)
		}
		if t.IsText() {
			// Exact values: a key or an extreme is matched and sorted, not
			// searched as prose.
			return map[string]any{"type": "keyword"}, nil
		}
		if m := exact(t); m != nil {
			return m, nil
		}
		return nil, fmt.Errorf("unknown %s type %q", a.Func, t)
	}
	return nil, fmt.Errorf("unknown aggregate %q", a.Func)
}
