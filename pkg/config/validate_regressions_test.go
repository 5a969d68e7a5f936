package config

import (
	"os"
	"strings"
	"testing"
)

// Cases for rules that once misbehaved.

func TestValidateSchemaRegressions(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "ids through a junction with a right_key longer than primary_key", yaml: validateFields(`
  - ids: orderIds
    table: orders
    primary_key: id
    element_type: long
    through: { table: user_orders, left_key: user_id, right_key: [a, b] }`),
			want: validateWant{line: 5, col: 5, path: "users.orderIds", msg: "through.right_key has 2 column(s) but primary_key has 1"}},
		{name: "a second YAML document", yaml: validateFields("  - keyword: email") + "---\nversion: 1\n",
			want: validateWant{line: 6, col: 1, path: "", msg: "the file holds a second YAML document"}},
		{name: "a uuid default with one brace", yaml: validateFields(`  - uuid: ref
    default: "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`),
			want: validateWant{line: 6, col: 14, path: "users.ref.default", msg: "must be a uuid"}},
		{name: "a long default beyond 64 bits", yaml: validateFields("  - long: big\n    default: 99999999999999999999"),
			want: validateWant{line: 6, col: 14, path: "users.big.default", msg: "the default 99999999999999999999 is out of range for a long field"}},
		{name: "a null inside an in list", yaml: validateRoot("filters:\n  - { column: tier, op: in, value: [a, null] }"),
			want: validateWant{line: 10, col: 40, path: "users.filters[0].value[1]", msg: "found nothing (null)"}},
		{name: "a limit beyond 32 bits", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    limit: 3000000000\n    fields: [{keyword: k}]"),
			want: validateWant{line: 8, col: 12, path: "users.orders.limit", msg: "limit must be between 1 and 2147483647, found 3000000000"}},
	})
}

func TestValidateSchemaTimestampDefaults(t *testing.T) {
	for _, v := range []string{"2024-01-31 10:00:00+02", "2024-01-31T10:00:00.123456-05", "2024-01-31 10:00:00+05:30", "2024-01-31", "10:30:00+02"} {
		yaml := validateFields("  - timestamp: at\n    default: \"" + v + "\"")
		if _, diags := ParseSchema(validateSchemaFile, []byte(yaml), "users"); len(diags) > 0 {
			t.Errorf("default %q: %v", v, diags)
		}
	}
}

// Once a panic: the node limit was reached between reading a value and
// asking for its position.
func TestValidateNodeLimitReportsInsteadOfPanicking(t *testing.T) {
	data, err := os.ReadFile("testdata/node-limit.schema.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, second := range []string{"{foo: bar}", `{integer: i, default: "x"}`, "{enum: e, variants: []}", "{object: o, fields: []}"} {
		input := strings.Replace(string(data), "{foo: bar}", second, 1)
		_, diags := ParseSchema(validateSchemaFile, []byte(input), "users")
		if diags.Err() == nil {
			t.Errorf("%s: no error", second)
		}
	}
}

func TestValidateConfigRegressions(t *testing.T) {
	validateRunConfig(t, []validateConfigCase{
		{name: "two sink names equal once lower-cased", toml: validateConfig("", "[sinks.Primary]\ntype = \"stdout\"\n[sinks.primary]\ntype = \"stdout\"\n"),
			want: validateWant{path: "sinks.primary", msg: `sinks "Primary" and "primary" are the same name once lower-cased`}},
		{name: "an empty index array", toml: "index = []\n" + validateSource,
			want: validateWant{path: "index", msg: "no index is configured"}},
		{name: "an index name that is a number", toml: validateSource + "[[index]]\nname = 5\nschema = \"users.schema.yml\"\n",
			want: validateWant{path: "index[0].name", msg: "expected a string, found the number 5"}},
		{name: "a schema path that is a number", toml: validateSource + "[[index]]\nname = \"users\"\nschema = 5\n",
			want: validateWant{path: "index[0] (users).schema", msg: "expected a string, found the number 5"}},
		{name: "a bad prefix from a flag", toml: validateConfig("", ""), flags: map[string]string{"prefix": "a b"},
			want: validateWant{path: "--index-prefix", msg: `prefix "a b" contains a character OpenSearch forbids in index names (space or one of`}},
	})
}

func TestValidateConfigSinksSortedByNormalizedName(t *testing.T) {
	cfg := validateLoadOK(t, validateConfig("", "[sinks.Search]\ntype = \"stdout\"\n[sinks.audit]\ntype = \"stdout\"\n"), nil, nil)
	if len(cfg.Sinks) != 2 || cfg.Sinks[0].Name != "audit" || cfg.Sinks[1].Name != "search" {
		t.Errorf("sinks = %s, %s", cfg.Sinks[0].Name, cfg.Sinks[1].Name)
	}
}
