package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The JSON Schemas and the loader must agree on every tag and key: a key the
// loader accepts is in the JSON Schema at that place, and the other way round.
// The loader is probed with every word either side knows of, plus decoys.

func schemaDoc(t *testing.T, kind string) map[string]any {
	t.Helper()
	data, err := JSONSchema(kind)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// dig follows a path of object keys.
func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("JSON Schema: %v is not an object at %q", path, p)
		}
		v = m[p]
	}
	return v
}

func propNames(t *testing.T, v any, path ...string) []string {
	t.Helper()
	m, _ := dig(t, v, path...).(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// vocabulary is every property name anywhere in both schemas, plus decoys.
func vocabulary(t *testing.T) []string {
	seen := map[string]bool{"bogus": true, "colum": true, "type": true, "name": true, "nullable": true}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if props, ok := x["properties"].(map[string]any); ok {
				for k := range props {
					seen[k] = true
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(schemaDoc(t, "index"))
	walk(schemaDoc(t, "config"))
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// keyRefused reports whether the diagnostics refuse key as unknown or not
// applicable.
func keyRefused(diags Diagnostics, key string) bool {
	for _, d := range diags {
		if strings.HasPrefix(d.Message, fmt.Sprintf("unknown key %q", key)) || strings.HasPrefix(d.Message, fmt.Sprintf("key %q does not apply", key)) {
			return true
		}
	}
	return false
}

func assertSameKeys(t *testing.T, where string, accepted, inSchema []string) {
	t.Helper()
	sort.Strings(accepted)
	sort.Strings(inSchema)
	if strings.Join(accepted, ",") != strings.Join(inSchema, ",") {
		t.Errorf("%s: the loader accepts %v, the JSON Schema lists %v", where, accepted, inSchema)
	}
}

func TestDriftIndexSchema(t *testing.T) {
	doc := schemaDoc(t, "index")
	words := vocabulary(t)
	parse := func(yaml string) Diagnostics {
		_, diags := ParseSchema("drift.schema.yml", []byte(yaml), "drift")
		return diags
	}

	// Tags: a word is a tag when `- word: x` is not "a field with no type tag".
	var tags []string
	for _, w := range words {
		diags := parse(fmt.Sprintf("version: 1\ntable: t\nfields:\n  - %s: x\n", w))
		tagless := false
		for _, d := range diags {
			tagless = tagless || strings.Contains(d.Message, "no type tag")
		}
		if !tagless {
			tags = append(tags, w)
		}
	}
	var schemaTags []string
	for _, alt := range dig(t, doc, "definitions", "field", "oneOf").([]any) {
		schemaTags = append(schemaTags, alt.(map[string]any)["required"].([]any)[0].(string))
	}
	assertSameKeys(t, "field type tags", tags, schemaTags)

	// Keys per tag.
	for _, rule := range dig(t, doc, "definitions", "field", "allOf").([]any) {
		tag := dig(t, rule, "if", "required").([]any)[0].(string)
		var inSchema []string
		for _, k := range dig(t, rule, "then", "propertyNames", "enum").([]any) {
			if k != tag {
				inSchema = append(inSchema, k.(string))
			}
		}
		var accepted []string
		for _, w := range words {
			if w == tag || contains(tags, w) {
				continue
			}
			diags := parse(fmt.Sprintf("version: 1\ntable: t\nprimary_key: id\nfields:\n  - %s: x\n    %s: x\n", tag, w))
			if !keyRefused(diags, w) {
				accepted = append(accepted, w)
			}
		}
		assertSameKeys(t, "keys of a "+tag+" field", accepted, inSchema)
	}

	// Top level and the nested tables.
	tables := []struct {
		where  string
		yaml   string // %s is the probed key
		schema []string
	}{
		{"schema file", "version: 1\ntable: t\nfields: [{keyword: k}]\n%s: x\n", propNames(t, doc, "properties")},
		{"soft_delete", "version: 1\ntable: t\nfields: [{keyword: k}]\nsoft_delete:\n  %s: x\n", union(
			propNames(t, dig(t, doc, "definitions", "soft_delete", "oneOf").([]any)[0], "properties"),
			propNames(t, dig(t, doc, "definitions", "soft_delete", "oneOf").([]any)[1], "properties"))},
		{"filter", "version: 1\ntable: t\nfields: [{keyword: k}]\nfilters:\n  - %s: x\n", filterKeysInSchema(t, doc)},
		{"order_by", "version: 1\ntable: t\nprimary_key: id\nfields:\n  - has_many: r\n    table: r\n    foreign_key: f\n    fields: [{keyword: k}]\n    order_by:\n      - %s: x\n",
			propNames(t, doc, "definitions", "order_by", "items", "properties")},
		{"through", "version: 1\ntable: t\nprimary_key: id\nfields:\n  - many_to_many: r\n    table: r\n    fields: [{keyword: k}]\n    through:\n      %s: x\n",
			propNames(t, doc, "definitions", "through", "properties")},
	}
	for _, tb := range tables {
		var accepted []string
		for _, w := range words {
			if !keyRefused(parse(fmt.Sprintf(tb.yaml, w)), w) {
				accepted = append(accepted, w)
			}
		}
		assertSameKeys(t, tb.where, accepted, tb.schema)
	}
}

func filterKeysInSchema(t *testing.T, doc map[string]any) []string {
	var all []string
	for _, alt := range dig(t, doc, "definitions", "filter", "oneOf").([]any) {
		all = union(all, propNames(t, alt, "properties"))
	}
	return all
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, x := range b {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestDriftConfig(t *testing.T) {
	doc := schemaDoc(t, "config")
	words := vocabulary(t)
	schema := "version: 1\ntable: t\nfields: [{keyword: k}]\n"
	read := func(string) ([]byte, error) { return []byte(schema), nil }
	parse := func(toml string) Diagnostics {
		_, diags := Parse("drift.toml", []byte(toml), Options{Env: noEnv}, read)
		return diags
	}
	const base = "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://h/db\"\n[[index]]\nname = \"i\"\nschema = \"i.schema.yml\"\n"
	sinks := dig(t, doc, "properties", "sinks", "additionalProperties", "oneOf").([]any)
	tables := []struct {
		where  string
		toml   string // %s is the probed key
		schema []string
	}{
		{"top level", "%s = 1\n" + base, propNames(t, doc, "properties")},
		{"[source]", "[source]\ntype = \"postgres\"\n%s = 1\n[[index]]\nname = \"i\"\nschema = \"i.schema.yml\"\n", propNames(t, doc, "properties", "source", "properties")},
		{"connection parts", "[source]\ntype = \"postgres\"\nconnection_url = { database = \"d\", %s = 1 }\n[[index]]\nname = \"i\"\nschema = \"i.schema.yml\"\n",
			propNames(t, dig(t, doc, "properties", "source", "properties", "connection_url", "oneOf").([]any)[2], "properties")},
		{"opensearch sink", base + "[sinks.s]\ntype = \"opensearch\"\n%s = 1\n", propNames(t, sinks[0], "properties")},
		{"stdout sink", base + "[sinks.s]\ntype = \"stdout\"\n%s = 1\n", propNames(t, sinks[1], "properties")},
		{"TLS files table", base + "[sinks.s]\ntype = \"opensearch\"\n[sink_tls.s]\n%s = 1\n", propNames(t, doc, "properties", "sink_tls", "additionalProperties", "properties")},
		{"[[index]]", "[source]\ntype = \"postgres\"\n[[index]]\nname = \"i\"\nschema = \"i.schema.yml\"\n%s = 1\n", propNames(t, doc, "properties", "index", "items", "properties")},
	}
	for _, table := range []string{"server", "nats", "capture", "indexer", "status"} {
		tables = append(tables, struct {
			where  string
			toml   string
			schema []string
		}{"[" + table + "]", base + "[" + table + "]\n%s = 1\n", propNames(t, doc, "properties", table, "properties")})
	}
	for _, tb := range tables {
		var accepted []string
		for _, w := range words {
			// These words select the form of the table they are in.
			if (w == "type" && strings.Contains(tb.where, "sink")) || (w == "env" && tb.where == "connection parts") {
				if contains(tb.schema, w) {
					accepted = append(accepted, w)
				}
				continue
			}
			if !keyRefused(parse(strings.Replace(tb.toml, "%s", w, 1)), w) {
				accepted = append(accepted, w)
			}
		}
		assertSameKeys(t, tb.where, accepted, tb.schema)
	}
}
