package config

import "testing"

func mustParseSchema(t *testing.T, yaml string) *Schema {
	t.Helper()
	s, diags := ParseSchema("h.schema.yml", []byte(yaml), "h")
	if err := diags.Err(); err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return s
}

const hashBase = `version: 1
table: users
primary_key: id
fields:
  - keyword: email
    transforms: [lowercase]
  - has_many: orders
    table: orders
    foreign_key: user_id
    filters: [{ column: status, op: neq, value: cancelled }]
    fields:
      - decimal: total
  - constant: source
    value: false
`

// The hash names the OpenSearch generation: the same documents and mapping
// must give the same hash however the file is written, and any change to
// them a different one.
func TestSchemaHash(t *testing.T) {
	base := mustParseSchema(t, hashBase).Hash()
	same := map[string]string{
		"comments, order of keys and flow style": `# users
fields:
  - transforms: [lowercase]
    keyword: email   # the login
  - { has_many: orders, foreign_key: user_id, table: orders, filters: [{op: neq, column: status, value: cancelled}], fields: [{decimal: total}] }
  - value: false
    constant: source
primary_key: id
table: users
version: 1
`,
		"defaults written out": hashBase + "schema: public\n",
		"identifier case":      "version: 1\ntable: Users\nprimary_key: ID\n" + hashBase[len("version: 1\ntable: users\nprimary_key: id\n"):],
	}
	for name, yaml := range same {
		if got := mustParseSchema(t, yaml).Hash(); got != base {
			t.Errorf("%s: hash %s, want %s", name, got, base)
		}
	}
	different := map[string]string{
		"another filter value":     replaceOnce(hashBase, "cancelled", "refunded"),
		"constant false becomes 0": replaceOnce(hashBase, "value: false", "value: 0"),
		"another transform":        replaceOnce(hashBase, "[lowercase]", "[trim]"),
		"another type":             replaceOnce(hashBase, "decimal: total", "double: total"),
		"another database schema":  hashBase + "schema: sales\n",
		"a default added":          replaceOnce(hashBase, "transforms: [lowercase]", "transforms: [lowercase]\n    default: \"\""),
		"a field renamed":          replaceOnce(hashBase, "keyword: email", "keyword: mail\n    column: email"),
		"the column of a field":    replaceOnce(hashBase, "decimal: total", "decimal: total\n        column: amount"),
		"an option":                replaceOnce(hashBase, "decimal: total", "decimal: total\n        options: { coerce: false }"),
		"required":                 replaceOnce(hashBase, "decimal: total", "decimal: total\n        required: true"),
	}
	for name, yaml := range different {
		if got := mustParseSchema(t, yaml).Hash(); got == base {
			t.Errorf("%s: hash unchanged (%s)", name, got)
		}
	}
	if len(base) != 8 {
		t.Errorf("hash %q is not 8 hex digits", base)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("no " + old)
}

// A hash must not change between releases unless the schema changed: a new
// hash means a full rebuild of the index. Pin the examples'.
func TestExampleHashesAreStable(t *testing.T) {
	cfg := mustLoad(t, "../../examples/flusso.toml")
	want := map[string]string{}
	for _, ix := range cfg.Indexes {
		want[ix.Name] = ix.Schema.Hash()
	}
	pinned := map[string]string{
		"listings":    "86b4ff09",
		"hosts":       "39836fdf",
		"cities":      "79ce0cf7",
		"bookings":    "1c072494",
		"night_rates": "4f53db69",
	}
	for name, h := range want {
		if pinned[name] != h {
			t.Errorf("index %s: hash %s, pinned %q — if the schema changed on purpose, update the pin", name, h, pinned[name])
		}
	}
}
