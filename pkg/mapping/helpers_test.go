package mapping

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
)

// Hand-built schema fields, as the loader would fill them.

func scalar(name string, t config.ScalarType) *config.Field {
	return &config.Field{Name: name, Tag: string(t), Kind: config.KindScalar, Type: t, Column: strings.ToLower(name)}
}

func enum(name string, variants ...string) *config.Field {
	f := scalar(name, config.TypeEnum)
	f.Variants = variants
	return f
}

func withOptions(f *config.Field, opts string) *config.Field {
	if err := json.Unmarshal([]byte(opts), &f.Options); err != nil {
		panic(err)
	}
	return f
}

func custom(name, opensearch string) *config.Field {
	return &config.Field{Name: name, Tag: "custom", Kind: config.KindCustom, Custom: &config.CustomType{Postgres: []string{"numeric"}, OpenSearch: opensearch}}
}

func geo(name string) *config.Field {
	return &config.Field{Name: name, Tag: "geo", Kind: config.KindGeo, Geo: &config.GeoSource{Lat: "lat", Lon: "lon"}}
}

func mapOf(name string, values config.ScalarType) *config.Field {
	return &config.Field{Name: name, Tag: "map", Kind: config.KindMap, Type: values, Column: name}
}

func constantField(name string, v any) *config.Field {
	return &config.Field{Name: name, Tag: "constant", Kind: config.KindConstant, Value: v}
}

func object(name string, fields ...*config.Field) *config.Field {
	return &config.Field{Name: name, Tag: "object", Kind: config.KindObject, Fields: fields}
}

func relation(kind config.RelationKind, name string, fields ...*config.Field) *config.Field {
	return &config.Field{Name: name, Tag: string(kind), Kind: config.KindRelation, Fields: fields,
		Relation: &config.Relation{Kind: kind, Table: config.TableRef{Schema: "public", Name: name}}}
}

func agg(fn config.AggregateFunc, name string, result config.ScalarType) *config.Field {
	return &config.Field{Name: name, Tag: string(fn), Kind: config.KindAggregate, Type: result,
		Aggregate: &config.Aggregate{Func: fn, Table: config.TableRef{Schema: "public", Name: "t"}, ForeignKey: []string{"p_id"}, ResultType: result}}
}

func schema(fields ...*config.Field) *config.Schema {
	return &config.Schema{Version: 1, Table: config.TableRef{Schema: "public", Name: "root"}, PrimaryKey: []string{"id"}, Fields: fields}
}

var (
	builtin   = Options{Shards: 1, Replicas: 1, RefreshInterval: "10s", Analysis: config.AnalysisBuiltin, AutoSubfields: true}
	icu       = Options{Shards: 1, Replicas: 1, RefreshInterval: "10s", Analysis: config.AnalysisICU, AutoSubfields: true}
	noAuto    = Options{Shards: 1, Replicas: 1, RefreshInterval: "10s", Analysis: config.AnalysisBuiltin}
	noAutoICU = Options{Shards: 1, Replicas: 1, RefreshInterval: "10s", Analysis: config.AnalysisICU}
)

// body builds the body and fails the test on error.
func body(t *testing.T, s *config.Schema, o Options) map[string]any {
	t.Helper()
	b, err := Body(s, o)
	if err != nil {
		t.Fatalf("Body: %v", err)
	}
	return b
}

// encode is the JSON the body is sent as.
func encode(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return strings.TrimSpace(buf.String())
}

// canonical re-encodes a JSON text, so that expectations can be written
// with any key order and spacing.
func canonical(t *testing.T, text string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("bad expectation %s: %v", text, err)
	}
	return encode(t, v)
}

// assertJSON compares got, encoded, with the JSON text want.
func assertJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	if g, w := encode(t, got), canonical(t, want); g != w {
		t.Errorf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// dig follows keys through nested objects; a dotted field path walks
// properties ("a.b" is properties.a.properties.b).
func dig(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("dig %v: %q is not under an object", keys, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("dig %v: no %q in %s", keys, k, encode(t, m))
		}
	}
	return v
}

func fieldMapping(t *testing.T, b map[string]any, path string) any {
	t.Helper()
	v := dig(t, b, "mappings")
	for _, name := range strings.Split(path, ".") {
		v = dig(t, v, "properties", name)
	}
	return v
}
