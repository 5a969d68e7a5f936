package mapping

import (
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
)

const (
	kwSub      = `{"type":"keyword","ignore_above":256}`
	kwLowerSub = `{"type":"keyword","normalizer":"flusso_lowercase","ignore_above":256}`
	textSubs   = `{"keyword":` + kwSub + `,"keyword_lowercase":` + kwLowerSub + `}`
)

func TestFieldMappings(t *testing.T) {
	tests := []struct {
		name  string
		field *config.Field
		opts  Options
		want  string
	}{
		// text family
		{"text auto", scalar("f", config.TypeText), builtin,
			`{"type":"text","analyzer":"flusso_text","fields":` + textSubs + `}`},
		{"text auto icu", scalar("f", config.TypeText), icu,
			`{"type":"text","analyzer":"flusso_text","fields":` + textSubs + `}`},
		{"text bare", scalar("f", config.TypeText), noAuto, `{"type":"text"}`},
		{"text bare icu", scalar("f", config.TypeText), noAutoICU, `{"type":"text"}`},
		{"identifier auto", scalar("f", config.TypeIdentifier), builtin,
			`{"type":"text","analyzer":"flusso_code","fields":` + textSubs + `}`},
		{"identifier bare", scalar("f", config.TypeIdentifier), noAuto,
			`{"type":"text","analyzer":"flusso_code"}`},
		{"keyword auto", scalar("f", config.TypeKeyword), builtin,
			`{"type":"keyword","fields":{"keyword_lowercase":` + kwLowerSub + `,"text":{"type":"text","analyzer":"flusso_text"}}}`},
		{"keyword bare", scalar("f", config.TypeKeyword), noAuto, `{"type":"keyword"}`},
		{"enum", scalar("f", config.TypeEnum), builtin, `{"type":"keyword"}`},
		{"enum ordered", enum("f", "a", "b"), builtin,
			`{"type":"keyword","fields":{"sort":{"type":"keyword","normalizer":"flusso_sort_f"}}}`},
		{"enum ordered without auto subfields", enum("f", "a", "b"), noAuto,
			`{"type":"keyword","fields":{"sort":{"type":"keyword","normalizer":"flusso_sort_f"}}}`},

		// other scalars
		{"uuid", scalar("f", config.TypeUUID), builtin, `{"type":"keyword"}`},
		{"boolean", scalar("f", config.TypeBoolean), builtin, `{"type":"boolean"}`},
		{"short", scalar("f", config.TypeShort), builtin, `{"type":"short"}`},
		{"integer", scalar("f", config.TypeInteger), builtin, `{"type":"integer"}`},
		{"long", scalar("f", config.TypeLong), builtin, `{"type":"long"}`},
		{"float", scalar("f", config.TypeFloat), builtin, `{"type":"float"}`},
		{"double", scalar("f", config.TypeDouble), builtin, `{"type":"double"}`},
		{"decimal", scalar("f", config.TypeDecimal), builtin, `{"type":"double"}`},
		{"date", scalar("f", config.TypeDate), builtin, `{"type":"date"}`},
		{"timestamp", scalar("f", config.TypeTimestamp), builtin, `{"type":"date"}`},
		{"binary", scalar("f", config.TypeBinary), builtin, `{"type":"binary"}`},
		{"json", scalar("f", config.TypeJSON), builtin, `{"type":"object","dynamic":true}`},

		// other tags
		{"custom", withOptions(custom("f", "scaled_float"), `{"scaling_factor":100}`), builtin,
			`{"type":"scaled_float","scaling_factor":100}`},
		{"geo", geo("f"), builtin, `{"type":"geo_point"}`},
		{"map", mapOf("f", config.TypeText), builtin, `{"type":"object","dynamic":true}`},
		{"constant string", constantField("f", "listing"), builtin, `{"type":"keyword"}`},
		{"constant empty string", constantField("f", ""), builtin, `{"type":"keyword"}`},
		{"constant bool", constantField("f", false), builtin, `{"type":"boolean"}`},
		{"constant integer", constantField("f", int64(2)), builtin, `{"type":"long"}`},
		{"constant int", constantField("f", 0), builtin, `{"type":"long"}`},
		{"constant float", constantField("f", 2.5), builtin, `{"type":"double"}`},
		{"constant array", constantField("f", []any{"a", int64(1)}), builtin, `{"type":"object","enabled":false}`},
		{"constant object", constantField("f", map[string]any{"a": int64(1)}), builtin, `{"type":"object","enabled":false}`},
		{"object", object("f", scalar("a", config.TypeLong)), builtin,
			`{"type":"object","properties":{"a":{"type":"long"}}}`},
		{"empty object", object("f"), builtin, `{"type":"object","properties":{}}`},

		// aggregates
		{"count", agg(config.AggCount, "f", config.TypeLong), builtin, `{"type":"long"}`},
		{"sum short", agg(config.AggSum, "f", config.TypeShort), builtin, `{"type":"long"}`},
		{"sum integer", agg(config.AggSum, "f", config.TypeInteger), builtin, `{"type":"long"}`},
		{"sum long", agg(config.AggSum, "f", config.TypeLong), builtin, `{"type":"long"}`},
		{"sum float", agg(config.AggSum, "f", config.TypeFloat), builtin, `{"type":"double"}`},
		{"sum double", agg(config.AggSum, "f", config.TypeDouble), builtin, `{"type":"double"}`},
		{"sum decimal", agg(config.AggSum, "f", config.TypeDecimal), builtin, `{"type":"double"}`},
		{"avg", agg(config.AggAvg, "f", config.TypeDouble), builtin, `{"type":"double"}`},
		{"min integer", agg(config.AggMin, "f", config.TypeInteger), builtin, `{"type":"integer"}`},
		{"min decimal", agg(config.AggMin, "f", config.TypeDecimal), builtin, `{"type":"double"}`},
		{"max timestamp", agg(config.AggMax, "f", config.TypeTimestamp), builtin, `{"type":"date"}`},
		{"max date", agg(config.AggMax, "f", config.TypeDate), builtin, `{"type":"date"}`},
		{"min text", agg(config.AggMin, "f", config.TypeText), builtin, `{"type":"keyword"}`},
		{"max identifier", agg(config.AggMax, "f", config.TypeIdentifier), builtin, `{"type":"keyword"}`},
		{"max enum", agg(config.AggMax, "f", config.TypeEnum), builtin, `{"type":"keyword"}`},
		{"ids uuid", agg(config.AggIDs, "f", config.TypeUUID), builtin, `{"type":"keyword"}`},
		{"ids long", agg(config.AggIDs, "f", config.TypeLong), builtin, `{"type":"long"}`},
		{"ids text", agg(config.AggIDs, "f", config.TypeText), builtin, `{"type":"keyword"}`},
		{"ids keyword without subfields", agg(config.AggIDs, "f", config.TypeKeyword), builtin, `{"type":"keyword"}`},

		// relations
		{"belongs_to", relation(config.BelongsTo, "f", scalar("id", config.TypeLong)), builtin,
			`{"type":"object","properties":{"id":{"type":"long"}}}`},
		{"has_one", relation(config.HasOne, "f", scalar("id", config.TypeLong)), builtin,
			`{"type":"object","properties":{"id":{"type":"long"}}}`},
		{"has_many", relation(config.HasMany, "f", scalar("id", config.TypeLong)), builtin,
			`{"type":"nested","properties":{"id":{"type":"long"}}}`},
		{"many_to_many", relation(config.ManyToMany, "f", scalar("id", config.TypeLong)), builtin,
			`{"type":"nested","properties":{"id":{"type":"long"}}}`},

		// options merge last
		{"options replace a value", withOptions(scalar("f", config.TypeText), `{"analyzer":"english"}`), builtin,
			`{"type":"text","analyzer":"english","fields":` + textSubs + `}`},
		{"options null drops subfields", withOptions(scalar("f", config.TypeText), `{"fields":null}`), builtin,
			`{"type":"text","analyzer":"flusso_text"}`},
		{"options null drops one subfield", withOptions(scalar("f", config.TypeKeyword), `{"fields":{"text":null}}`), builtin,
			`{"type":"keyword","fields":{"keyword_lowercase":` + kwLowerSub + `}}`},
		{"options merge into a subfield", withOptions(scalar("f", config.TypeText), `{"fields":{"keyword":{"ignore_above":512}}}`), builtin,
			`{"type":"text","analyzer":"flusso_text","fields":{"keyword":{"type":"keyword","ignore_above":512},"keyword_lowercase":` + kwLowerSub + `}}`},
		{"options add a subfield", withOptions(scalar("f", config.TypeKeyword), `{"fields":{"raw":{"type":"wildcard"}}}`), noAuto,
			`{"type":"keyword","fields":{"raw":{"type":"wildcard"}}}`},
		{"options null of an absent key is dropped", withOptions(scalar("f", config.TypeLong), `{"coerce":null,"meta":{"unit":"ms","x":null}}`), builtin,
			`{"type":"long","meta":{"unit":"ms"}}`},
		{"options replace an object by a scalar", withOptions(scalar("f", config.TypeText), `{"fields":{"keyword":false}}`), builtin,
			`{"type":"text","analyzer":"flusso_text","fields":{"keyword":false,"keyword_lowercase":` + kwLowerSub + `}}`},
		{"options replace a list whole", withOptions(scalar("f", config.TypeKeyword), `{"copy_to":["all"]}`), noAuto,
			`{"type":"keyword","copy_to":["all"]}`},
		{"options on a date", withOptions(scalar("f", config.TypeDate), `{"format":"strict_date"}`), builtin,
			`{"type":"date","format":"strict_date"}`},
		{"options on a nested relation", withOptions(relation(config.ManyToMany, "f", scalar("slug", config.TypeKeyword)), `{"include_in_root":true}`), noAuto,
			`{"type":"nested","include_in_root":true,"properties":{"slug":{"type":"keyword"}}}`},
		{"options reach into a relation's properties", withOptions(relation(config.HasOne, "f", scalar("n", config.TypeInteger)), `{"properties":{"n":{"type":"long"}}}`), builtin,
			`{"type":"object","properties":{"n":{"type":"long"}}}`},
		{"options say dynamic", withOptions(relation(config.HasOne, "f"), `{"dynamic":true}`), builtin,
			`{"type":"object","dynamic":true,"properties":{}}`},
		{"options null removes a json field's dynamic", withOptions(scalar("f", config.TypeJSON), `{"dynamic":null}`), builtin,
			`{"type":"object"}`},
		{"options on an aggregate", withOptions(agg(config.AggCount, "f", config.TypeLong), `{"doc_values":false}`), builtin,
			`{"type":"long","doc_values":false}`},
		{"options on a constant", withOptions(constantField("f", "x"), `{"type":"constant_keyword","value":"x"}`), builtin,
			`{"type":"constant_keyword","value":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := body(t, schema(tc.field), tc.opts)
			assertJSON(t, "mapping of "+tc.field.Name, fieldMapping(t, b, tc.field.Name), tc.want)
		})
	}
}

func TestSettings(t *testing.T) {
	b := body(t, schema(scalar("id", config.TypeLong)), Options{Shards: 3, Replicas: 0, RefreshInterval: "1s", Analysis: config.AnalysisICU})
	assertJSON(t, "settings", b["settings"], `{"index":{"number_of_shards":3,"number_of_replicas":0,"refresh_interval":"1s"}}`)

	b = body(t, schema(scalar("id", config.TypeLong)), Options{Shards: 1})
	assertJSON(t, "settings without a refresh interval", b["settings"], `{"index":{"number_of_shards":1,"number_of_replicas":0}}`)
	assertJSON(t, "mappings", b["mappings"], `{"dynamic":"strict","properties":{"id":{"type":"long"}}}`)
}

func TestOptionsFor(t *testing.T) {
	s := &config.OpenSearchSink{NumberOfShards: 2, NumberOfReplicas: 3, RefreshInterval: "-1", TextAnalysis: config.AnalysisICU, AutoSubfields: true}
	want := Options{Shards: 2, Replicas: 3, RefreshInterval: "-1", Analysis: config.AnalysisICU, AutoSubfields: true}
	if got := OptionsFor(s); got != want {
		t.Errorf("OptionsFor = %+v, want %+v", got, want)
	}
}

func TestDefaultAnalysisIsBuiltin(t *testing.T) {
	s := schema(scalar("t", config.TypeText), scalar("i", config.TypeIdentifier))
	o := builtin
	o.Analysis = ""
	if got, want := encode(t, body(t, s, o)), encode(t, body(t, s, builtin)); got != want {
		t.Errorf("empty Analysis:\n got  %s\n want %s", got, want)
	}
}

func TestRelationsNest(t *testing.T) {
	s := schema(
		scalar("id", config.TypeLong),
		relation(config.HasMany, "orders",
			scalar("total", config.TypeDecimal),
			relation(config.HasMany, "items",
				scalar("quantity", config.TypeInteger),
				relation(config.BelongsTo, "product", scalar("name", config.TypeText)),
			),
			relation(config.HasOne, "invoice", scalar("number", config.TypeKeyword)),
			object("shipping", relation(config.ManyToMany, "carriers", scalar("code", config.TypeKeyword))),
		),
	)
	b := body(t, s, noAuto)
	assertJSON(t, "mappings", b["mappings"], `{
		"dynamic": "strict",
		"properties": {
			"id": {"type": "long"},
			"orders": {"type": "nested", "properties": {
				"total": {"type": "double"},
				"items": {"type": "nested", "properties": {
					"quantity": {"type": "integer"},
					"product": {"type": "object", "properties": {"name": {"type": "text"}}}
				}},
				"invoice": {"type": "object", "properties": {"number": {"type": "keyword"}}},
				"shipping": {"type": "object", "properties": {
					"carriers": {"type": "nested", "properties": {"code": {"type": "keyword"}}}
				}}
			}}
		}
	}`)
}

func TestMapDynamicTemplates(t *testing.T) {
	s := schema(
		mapOf("names", config.TypeText),
		relation(config.BelongsTo, "city",
			mapOf("names", config.TypeKeyword),
			relation(config.HasMany, "districts", mapOf("population", config.TypeInteger)),
		),
		object("labels", mapOf("byLang", config.TypeIdentifier), mapOf("since", config.TypeTimestamp), mapOf("rank", config.TypeEnum)),
	)
	tests := []struct {
		opts Options
		want string
	}{
		{builtin, `[
			{"names": {"path_match": "names.*", "mapping": {"type": "text", "analyzer": "flusso_text"}}},
			{"city.names": {"path_match": "city.names.*", "mapping": {"type": "keyword"}}},
			{"city.districts.population": {"path_match": "city.districts.population.*", "mapping": {"type": "integer"}}},
			{"labels.byLang": {"path_match": "labels.byLang.*", "mapping": {"type": "text", "analyzer": "flusso_code"}}},
			{"labels.since": {"path_match": "labels.since.*", "mapping": {"type": "date"}}},
			{"labels.rank": {"path_match": "labels.rank.*", "mapping": {"type": "keyword"}}}
		]`},
		{noAuto, `[
			{"names": {"path_match": "names.*", "mapping": {"type": "text"}}},
			{"city.names": {"path_match": "city.names.*", "mapping": {"type": "keyword"}}},
			{"city.districts.population": {"path_match": "city.districts.population.*", "mapping": {"type": "integer"}}},
			{"labels.byLang": {"path_match": "labels.byLang.*", "mapping": {"type": "text", "analyzer": "flusso_code"}}},
			{"labels.since": {"path_match": "labels.since.*", "mapping": {"type": "date"}}},
			{"labels.rank": {"path_match": "labels.rank.*", "mapping": {"type": "keyword"}}}
		]`},
	}
	for _, tc := range tests {
		b := body(t, s, tc.opts)
		assertJSON(t, "dynamic_templates", dig(t, b, "mappings", "dynamic_templates"), tc.want)
		assertJSON(t, "city.names", fieldMapping(t, b, "city.names"), `{"type":"object","dynamic":true}`)
		// The templates' analyzers are defined like the fields' are.
		assertDefinitions(t, b)
	}

	if _, ok := dig(t, body(t, schema(scalar("id", config.TypeLong)), builtin), "mappings").(map[string]any)["dynamic_templates"]; ok {
		t.Error("dynamic_templates present without a map field")
	}
}

func TestStrict(t *testing.T) {
	s := schema(
		withOptions(relation(config.HasMany, "rows", scalar("a", config.TypeText)), `{"include_in_root":true,"properties":{"a":{"fields":null}}}`),
		withOptions(object("group", scalar("b", config.TypeLong)), `{"properties":null}`),
		withOptions(scalar("doc", config.TypeJSON), `{"properties":{"n":{"type":"long"}}}`),
	)
	b := body(t, s, builtin)
	if got := dig(t, b, "mappings", "dynamic"); got != "strict" {
		t.Errorf("root dynamic = %v, want strict", got)
	}
	// No option above names dynamic: no object gets a dynamic of its own,
	// and every one inherits strict, but the json field that asks for it.
	for _, path := range []string{"rows", "rows.a", "group"} {
		if _, ok := fieldMapping(t, b, path).(map[string]any)["dynamic"]; ok {
			t.Errorf("%s has a dynamic setting its options did not ask for: %s", path, encode(t, fieldMapping(t, b, path)))
		}
	}
	assertJSON(t, "group", fieldMapping(t, b, "group"), `{"type":"object"}`)
	assertJSON(t, "doc", fieldMapping(t, b, "doc"), `{"type":"object","dynamic":true,"properties":{"n":{"type":"long"}}}`)
}

func TestOptionsAreCopied(t *testing.T) {
	f := withOptions(scalar("f", config.TypeKeyword), `{"fields":{"raw":{"type":"keyword","meta":{"a":"b"}}},"copy_to":["x"]}`)
	s := schema(f)
	b := body(t, s, builtin)
	m := fieldMapping(t, b, "f").(map[string]any)
	m["fields"].(map[string]any)["raw"].(map[string]any)["meta"].(map[string]any)["a"] = "changed"
	m["copy_to"].([]any)[0] = "changed"
	again := body(t, s, builtin)
	assertJSON(t, "f after the first body was changed", fieldMapping(t, again, "f"),
		`{"type":"keyword","copy_to":["x"],"fields":{"keyword_lowercase":`+kwLowerSub+`,"text":{"type":"text","analyzer":"flusso_text"},"raw":{"type":"keyword","meta":{"a":"b"}}}}`)
}

func TestDeterministic(t *testing.T) {
	s := schema(
		enum("status", "b", "a"), enum("kind", "x", "y"), scalar("t", config.TypeText), scalar("i", config.TypeIdentifier),
		mapOf("m1", config.TypeText), mapOf("m2", config.TypeLong),
		relation(config.HasMany, "r", enum("status", "p", "q"), mapOf("m", config.TypeKeyword)),
	)
	first := encode(t, body(t, s, builtin))
	for range 20 {
		if got := encode(t, body(t, s, builtin)); got != first {
			t.Fatalf("two bodies of one schema differ:\n%s\n%s", first, got)
		}
	}
}

func TestErrors(t *testing.T) {
	dupe := schema(scalar("a", config.TypeLong), scalar("a", config.TypeText))
	tests := []struct {
		name   string
		schema *config.Schema
		opts   Options
		want   string
	}{
		{"no schema", nil, builtin, "no schema"},
		{"no shards", schema(), Options{}, "number_of_shards is 0"},
		{"negative replicas", schema(), Options{Shards: 1, Replicas: -1}, "number_of_replicas is -1"},
		{"unknown analysis", schema(), Options{Shards: 1, Analysis: "snowball"}, `unknown text analysis "snowball"`},
		{"duplicate field", dupe, builtin, "mapping a: the field is declared twice"},
		{"unknown scalar", schema(object("o", scalar("x", "money"))), builtin, `mapping o.x: unknown scalar type "money"`},
		{"unknown kind", schema(&config.Field{Name: "x", Kind: "weird"}), builtin, `mapping x: unknown field kind "weird"`},
		{"custom without type", schema(custom("c", "")), builtin, "mapping c: a custom field needs an opensearch type"},
		{"map of json", schema(mapOf("m", config.TypeJSON)), builtin, "mapping m: map values cannot be json"},
		{"null constant", schema(constantField("c", nil)), builtin, "mapping c: a constant needs a value"},
		{"sum of text", schema(agg(config.AggSum, "s", config.TypeText)), builtin, `mapping s: sum needs a numeric value_type, not "text"`},
		{"min of binary", schema(agg(config.AggMin, "s", config.TypeBinary)), builtin, "mapping s: min of binary values cannot be indexed"},
		{"twice the same variant", schema(enum("e", "a", "b", "a")), builtin, `mapping e: variant "a" is listed twice`},
		{"named by the loader's path", schema(&config.Field{Name: "c", Path: "users.c", Kind: config.KindCustom}), builtin, "mapping users.c: a custom field needs an opensearch type"},
		{"relation without join", schema(&config.Field{Name: "r", Kind: config.KindRelation}), builtin, "mapping r: a relation field without its join"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Body(tc.schema, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Body error = %v, want one containing %q", err, tc.want)
			} else if strings.Count(err.Error(), "mapping") > 1 {
				t.Errorf("Body error = %v: the field is named more than once", err)
			}
		})
	}
}
