package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Validation rules of *.schema.yml: one named case per rule, each asserting
// what the user sees (severity, file:line:column, field path, message, hint).
// The helpers here are shared with validate_config_test.go.

// validateWant is one diagnostic a case expects. Zero fields are not checked,
// except sev, where zero means an error.
type validateWant struct {
	sev       Severity
	file      string
	line, col int
	path      string
	msg       string // a substring of Message
	hint      string // a substring of Hint
}

func (w validateWant) severity() Severity {
	if w.sev == "" {
		return SeverityError
	}
	return w.sev
}

func (w validateWant) String() string {
	s := fmt.Sprintf("%s at %s:%d:%d path %q message containing %q", w.severity(), w.file, w.line, w.col, w.path, w.msg)
	if w.hint != "" {
		s += fmt.Sprintf(" hint containing %q", w.hint)
	}
	return s
}

func (w validateWant) matches(d Diagnostic) bool {
	return d.Severity == w.severity() &&
		(w.file == "" || d.File == w.file) &&
		(w.line == 0 || d.Line == w.line) &&
		(w.col == 0 || d.Column == w.col) &&
		d.Path == w.path &&
		strings.Contains(d.Message, w.msg) &&
		(w.hint == "" || strings.Contains(d.Hint, w.hint))
}

func validateSeen(diags Diagnostics) string {
	if len(diags) == 0 {
		return "  (no diagnostics)"
	}
	lines := make([]string, len(diags))
	for i, d := range diags {
		lines[i] = fmt.Sprintf("  %s at %s:%d:%d path %q: %s", d.Severity, d.File, d.Line, d.Column, d.Path, d.Message)
		if d.Hint != "" {
			lines[i] += fmt.Sprintf(" (hint: %s)", d.Hint)
		}
	}
	return strings.Join(lines, "\n")
}

// validateExpect fails unless diags holds w and, when total > 0, exactly
// total diagnostics in all.
func validateExpect(t *testing.T, diags Diagnostics, w validateWant, total int) {
	t.Helper()
	found := false
	for _, d := range diags {
		if w.matches(d) {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("expected %s\nseen:\n%s", w, validateSeen(diags))
		return
	}
	if total > 0 && len(diags) != total {
		t.Errorf("expected %d diagnostic(s), one of them %s\nseen:\n%s", total, w, validateSeen(diags))
	}
}

// validateNoDiags fails when there is any diagnostic at all.
func validateNoDiags(t *testing.T, diags Diagnostics) {
	t.Helper()
	if len(diags) > 0 {
		t.Fatalf("expected no diagnostics\nseen:\n%s", validateSeen(diags))
	}
}

const validateSchemaFile = "users.schema.yml"

// validateFields puts a list of fields under a root with a primary key: the
// first line of body is line 5 of the file.
func validateFields(body string) string {
	return "version: 1\ntable: users\nprimary_key: id\nfields:\n" + strings.TrimPrefix(body, "\n") + "\n"
}

// validateRoot puts root-level keys after a few fields (a root scalar
// email and account.deleted in a group): the first line of body is line 9.
func validateRoot(body string) string {
	return validateFields(`
  - keyword: email
  - object: account
    fields:
      - boolean: deleted`) + strings.TrimPrefix(body, "\n") + "\n"
}

type validateSchemaCase struct {
	name string
	yaml string
	want validateWant
	n    int // the number of diagnostics in all; 0 means 1
}

func validateRunSchema(t *testing.T, cases []validateSchemaCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, diags := ParseSchema(validateSchemaFile, []byte(c.yaml), "users")
			w := c.want
			if w.file == "" {
				w.file = validateSchemaFile
			}
			n := c.n
			if n == 0 {
				n = 1
			}
			validateExpect(t, diags, w, n)
			switch {
			case diags.Err() != nil && s != nil:
				t.Errorf("ParseSchema returned a schema along with errors")
			case diags.Err() == nil && s == nil:
				t.Errorf("ParseSchema returned no schema for warnings only")
			}
		})
	}
}

// validateParse parses a schema that must load without any diagnostic.
func validateParse(t *testing.T, yaml string) *Schema {
	t.Helper()
	s, diags := ParseSchema(validateSchemaFile, []byte(yaml), "users")
	validateNoDiags(t, diags)
	if s == nil {
		t.Fatal("ParseSchema returned no schema and no diagnostic")
	}
	return s
}

// validateField finds a field by its dotted path below the index name.
func validateField(t *testing.T, s *Schema, path string) *Field {
	t.Helper()
	var found *Field
	Walk(s.Fields, func(f *Field) bool {
		if f.Path == "users."+path {
			found = f
		}
		return found == nil
	})
	if found == nil {
		t.Fatalf("no field users.%s in the loaded schema", path)
	}
	return found
}

func validateEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}

func TestValidateSchemaTopLevel(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "missing version", yaml: "table: users\nfields:\n  - keyword: email\n",
			want: validateWant{line: 1, col: 1, path: "users", msg: `missing required key "version"`}},
		{name: "missing table", yaml: "version: 1\nfields:\n  - keyword: email\n",
			want: validateWant{line: 1, col: 1, path: "users", msg: `missing required key "table"`}},
		{name: "missing fields", yaml: "version: 1\ntable: users\n",
			want: validateWant{line: 1, col: 1, path: "users", msg: `missing required key "fields"`}},
		{name: "version other than 1", yaml: "version: 2\ntable: users\nfields:\n  - keyword: email\n",
			want: validateWant{line: 1, col: 10, path: "users.version", msg: "unsupported version 2: only version 1 exists"}},
		{name: "version not a number", yaml: "version: \"1\"\ntable: users\nfields:\n  - keyword: email\n",
			want: validateWant{line: 1, col: 10, path: "users.version", msg: `expected a whole number, found the string "1"`}},
		{name: "doc_id refused", yaml: "version: 1\ntable: users\ndoc_id: id\nfields:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 1, path: "users.doc_id", msg: "doc_id is not supported: the document _id always derives from primary_key"}},
		{name: "misspelt key", yaml: "version: 1\ntable: users\nfeilds:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 1, path: "users", msg: `unknown key "feilds" in the schema`, hint: `did you mean "fields"?`}, n: 2},
		{name: "unknown key lists the keys", yaml: "version: 1\ntable: users\nzzz: 1\nfields:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 1, path: "users", msg: `unknown key "zzz" in the schema`, hint: `expected one of "doc_id", "fields", "filters", "primary_key", "schema", "soft_delete", "table", "version"`}},
		{name: "table not an identifier", yaml: "version: 1\ntable: 1users\nfields:\n  - keyword: email\n",
			want: validateWant{line: 2, col: 8, path: "users.table", msg: `table: "1users" is not a valid identifier`}},
		{name: "table longer than 63 bytes", yaml: "version: 1\ntable: " + strings.Repeat("t", 64) + "\nfields:\n  - keyword: email\n",
			want: validateWant{line: 2, col: 8, path: "users.table", msg: "is longer than 63 bytes"}},
		{name: "table empty", yaml: "version: 1\ntable: \" \"\nfields:\n  - keyword: email\n",
			want: validateWant{line: 2, col: 8, path: "users.table", msg: "table: the name is empty"}},
		{name: "table not a string", yaml: "version: 1\ntable: [users]\nfields:\n  - keyword: email\n",
			want: validateWant{line: 2, col: 8, path: "users.table", msg: "expected table (a string), found a list"}},
		{name: "database schema not an identifier", yaml: "version: 1\ntable: users\nschema: my-schema\nfields:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 9, path: "users.schema", msg: `schema: "my-schema" is not a valid identifier`}},
		{name: "primary_key column listed twice", yaml: "version: 1\ntable: users\nprimary_key: [id, id]\nfields:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 19, path: "users.primary_key", msg: `primary_key: column "id" is listed twice`}},
		{name: "primary_key empty list", yaml: "version: 1\ntable: users\nprimary_key: []\nfields:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 14, path: "users.primary_key", msg: "primary_key: the list of columns is empty"}},
		{name: "fields empty", yaml: "version: 1\ntable: users\nfields: []\n",
			want: validateWant{line: 3, col: 9, path: "users.fields", msg: "fields is empty: declare at least one field"}},
		{name: "fields not a list", yaml: "version: 1\ntable: users\nfields: email\n",
			want: validateWant{line: 3, col: 9, path: "users.fields", msg: `expected fields (a list), found the string "email"`}},
		{name: "primary_key required with a join", yaml: "version: 1\ntable: users\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields: [{long: id}]\n",
			want: validateWant{line: 1, col: 1, path: "users", msg: "primary_key is required when the schema has a join or an aggregate"}},
		{name: "primary_key required with an aggregate in a group", yaml: "version: 1\ntable: users\nfields:\n  - object: stats\n    fields:\n      - count: orders\n        table: orders\n        foreign_key: user_id\n",
			want: validateWant{line: 1, col: 1, path: "users", msg: "primary_key is required when the schema has a join or an aggregate"}},
	})
}

func TestValidateYAMLDocument(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "empty file", yaml: "",
			want: validateWant{line: 1, col: 1, path: "", msg: "the file is empty"}},
		{name: "only a comment", yaml: "# nothing yet\n",
			want: validateWant{line: 1, col: 1, path: "", msg: "the file is empty"}},
		{name: "root is a list", yaml: "- a\n- b\n",
			want: validateWant{line: 1, col: 1, path: "", msg: "expected a mapping of keys at the top of the file, found a list"}},
		{name: "root is a string", yaml: "hello\n",
			want: validateWant{line: 1, col: 1, path: "", msg: `expected a mapping of keys at the top of the file, found the string "hello"`}},
		{name: "syntax: tab indentation", yaml: "version: 1\ntable: users\nfields:\n\t- keyword: email\n",
			want: validateWant{line: 4, col: 1, path: "", msg: "invalid YAML: found character that cannot start any token"}},
		{name: "syntax: bad indentation", yaml: "version: 1\ntable: users\nfields:\n  - keyword: email\n   bad: x\n",
			want: validateWant{line: 5, col: 4, path: "", msg: "invalid YAML: did not find expected '-' indicator"}},
		{name: "syntax: unterminated quote", yaml: "version: 1\ntable: users\nfields:\n  - keyword: \"email\n",
			want: validateWant{line: 4, col: 14, path: "", msg: "invalid YAML: found unexpected end of stream"}},
		{name: "syntax: unclosed flow list", yaml: validateFields("  - keyword: a\n  - keyword: b\n    transforms: [trim, lowercase\n"),
			want: validateWant{line: 7, col: 17, path: "", msg: "invalid YAML: did not find expected ',' or ']'"}},
		{name: "duplicate key at the top", yaml: "version: 1\ntable: users\ntable: accounts\nfields:\n  - keyword: email\n",
			want: validateWant{line: 3, col: 1, path: "users", msg: `key "table" is given twice (first on line 2)`}},
		{name: "duplicate key in a field", yaml: validateFields("  - keyword: email\n    column: a\n    column: b"),
			want: validateWant{line: 7, col: 5, path: "users.fields[0]", msg: `key "column" is given twice (first on line 6)`}},
		{name: "merge key of a scalar", yaml: validateFields("  - keyword: email\n    <<: 5"),
			want: validateWant{line: 6, col: 9, path: "users.fields[0]", msg: "a merge key (<<) needs a mapping or a list of mappings"}},
		{name: "key that is not a word", yaml: validateFields("  - keyword: email\n    ? [a]\n    : b"),
			want: validateWant{line: 6, col: 7, path: "users.fields[0]", msg: "a key must be a plain word, found a list"}},
		{name: "unsupported tag", yaml: validateFields("  - keyword: email\n    default: !!binary aGVsbG8="),
			want: validateWant{line: 6, col: 14, path: "users.email.default", msg: "unsupported YAML tag !!binary"}},
		{name: "infinite number", yaml: validateFields("  - double: score\n    default: .inf"),
			want: validateWant{line: 6, col: 14, path: "users.score.default", msg: ".inf is not a number JSON can carry"}},
		{name: "explicit tag that does not decode as a boolean", yaml: validateFields("  - keyword: email\n    required: !!bool maybe"),
			want: validateWant{line: 6, col: 15, path: "users.email.required", msg: "expected true or false"}},
		{name: "explicit tag that does not decode as a number", yaml: validateFields("  - integer: age\n    default: !!int abc"),
			want: validateWant{line: 6, col: 14, path: "users.age.default", msg: "cannot read the number abc"}},
		{name: "nesting too deep", yaml: validateFields("  - json: extra\n    options: {x: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "}"),
			want: validateWant{line: 6, col: 80, path: "users.extra.options.x" + strings.Repeat("[0]", 62), msg: "nested more than 64 levels deep"}},
		{name: "alias inside the node it names", yaml: validateFields("  - json: extra\n    options: &o {a: *o}"),
			want: validateWant{line: 6, col: 14, path: "users.extra.options" + strings.Repeat(".a", 63), msg: "nested more than 64 levels deep (an alias inside the node it names?)"}},
		{name: "merge of itself", yaml: validateFields("  - keyword: email\n    <<: &m\n      required: true\n      <<: *m"),
			want: validateWant{line: 6, col: 9, path: "users.fields[0]", msg: "nested more than 64 levels deep"}},
		// The limit is reached in document order, inside the expansion.
		{name: "alias expansion bomb", yaml: validateFields(`
  - json: extra
    options:
      a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: [*e, *e]`),
			want: validateWant{line: 7, col: 38, path: "users.extra.options.e[7][8][8][8][8]", msg: "the document has more than 100000 nodes (aliases expanded)"}},
	})
}

func TestValidateFieldTags(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "no tag", yaml: validateFields("  - email: x"),
			want: validateWant{line: 5, col: 5, path: "users.fields[0]", msg: "the field has no type tag", hint: "write the type first, e.g. `- keyword: email`"}},
		{name: "only sibling keys", yaml: validateFields("  - column: email\n    required: true"),
			want: validateWant{line: 5, col: 5, path: "users.fields[0]", msg: "the field has no type tag", hint: "write the type first"}},
		{name: "misspelt tag", yaml: validateFields("  - keywrd: email"),
			want: validateWant{line: 5, col: 5, path: "users.fields[0]", msg: "the field has no type tag", hint: `did you mean "keyword"?`}},
		{name: "misspelt relation tag", yaml: validateFields("  - has_mny: orders\n    table: orders"),
			want: validateWant{line: 5, col: 5, path: "users.fields[0]", msg: "the field has no type tag", hint: `did you mean "has_many"?`}},
		{name: "two tags", yaml: validateFields("  - keyword: email\n    text: email2"),
			want: validateWant{line: 6, col: 5, path: "users.fields[0]", msg: `the field has two type tags, "keyword" and "text": give exactly one`}},
		{name: "field is not a mapping", yaml: validateFields("  - email"),
			want: validateWant{line: 5, col: 5, path: "users.fields[0]", msg: `expected a field (a mapping of keys), found the string "email"`}},
		{name: "name starts with a digit", yaml: validateFields("  - keyword: 1email"),
			want: validateWant{line: 5, col: 14, path: "users.fields[0]", msg: `"1email" is not a valid field name`}},
		{name: "name with a dash", yaml: validateFields("  - keyword: e-mail"),
			want: validateWant{line: 5, col: 14, path: "users.fields[0]", msg: `"e-mail" is not a valid field name`}},
		{name: "name empty", yaml: validateFields("  - keyword: \"\""),
			want: validateWant{line: 5, col: 14, path: "users.fields[0]", msg: "the field name is empty"}},
		{name: "name longer than 63 bytes", yaml: validateFields("  - keyword: " + strings.Repeat("e", 64)),
			want: validateWant{line: 5, col: 14, path: "users.fields[0]", msg: "is longer than 63 bytes"}},
		{name: "name null", yaml: validateFields("  - keyword: null"),
			want: validateWant{line: 5, col: 14, path: "users.fields[0]", msg: "expected a field name (a string), found nothing (null)"}},
		{name: "name is a number", yaml: validateFields("  - keyword: 42"),
			want: validateWant{line: 5, col: 14, path: "users.fields[0]", msg: "expected a field name (a string), found the number 42"}},
		{name: "metadata name _id", yaml: validateFields("  - keyword: _id"),
			want: validateWant{line: 5, col: 14, path: "users._id", msg: `"_id" is an OpenSearch metadata field and cannot be a document key`}},
		{name: "metadata name _source", yaml: validateFields("  - json: _source"),
			want: validateWant{line: 5, col: 11, path: "users._source", msg: `"_source" is an OpenSearch metadata field`}},
		{name: "duplicate name", yaml: validateFields("  - keyword: email\n  - text: email"),
			want: validateWant{line: 6, col: 5, path: "users.email", msg: `field "email" is declared twice (first on line 5)`}},
		{name: "duplicate name in a group", yaml: validateFields("  - object: account\n    fields:\n      - keyword: tier\n      - enum: tier"),
			want: validateWant{line: 8, col: 9, path: "users.account.tier", msg: `field "tier" is declared twice (first on line 7)`}},
		{name: "misspelt key", yaml: validateFields("  - keyword: email\n    colum: mail"),
			want: validateWant{line: 6, col: 5, path: "users.email", msg: `unknown key "colum" in a keyword field`, hint: `did you mean "column"?`}},
		{name: "unknown key lists the keys", yaml: validateFields("  - boolean: active\n    zzz: 1"),
			want: validateWant{line: 6, col: 5, path: "users.active", msg: `unknown key "zzz" in a boolean field`, hint: `expected one of "avg", "belongs_to", "binary", "boolean", "column",`}},
		{name: "error deep in the tree names the path", yaml: validateFields(`
  - has_many: orders
    table: orders
    foreign_key: user_id
    fields:
      - has_many: items
        table: order_items
        foreign_key: order_id
        fields:
          - integer: quantity
            transforms: [trim]`),
			want: validateWant{line: 14, col: 13, path: "users.orders.items.quantity", msg: `key "transforms" does not apply to an integer field`}},
	})
}

func TestValidatePerTagKeys(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "limit on has_one", yaml: validateFields(`
  - has_one: profile
    table: profiles
    foreign_key: user_id
    limit: 1
    fields: [{text: bio}]`),
			want: validateWant{line: 8, col: 5, path: "users.profile", msg: `key "limit" does not apply to a has_one field`, hint: "has_one renders one row; use order_by to choose it"}},
		{name: "order_by on belongs_to", yaml: validateFields(`
  - belongs_to: team
    table: teams
    order_by: [{column: name}]
    fields: [{text: name}]`),
			want: validateWant{line: 7, col: 5, path: "users.team", msg: `key "order_by" does not apply to a belongs_to field`, hint: "belongs_to follows one key to one row"}},
		{name: "limit on belongs_to", yaml: validateFields(`
  - belongs_to: team
    table: teams
    limit: 2
    fields: [{text: name}]`),
			want: validateWant{line: 7, col: 5, path: "users.team", msg: `key "limit" does not apply to a belongs_to field`, hint: "belongs_to follows one key to one row"}},
		{name: "required on has_many", yaml: validateFields(`
  - has_many: orders
    table: orders
    foreign_key: user_id
    required: true
    fields: [{long: id}]`),
			want: validateWant{line: 8, col: 5, path: "users.orders", msg: `key "required" does not apply to a has_many field`, hint: "a to-many relation is always an array, [] when empty"}},
		{name: "required on many_to_many", yaml: validateFields(`
  - many_to_many: tags
    table: tags
    through: {table: user_tags, left_key: user_id, right_key: tag_id}
    required: true
    fields: [{text: name}]`),
			want: validateWant{line: 8, col: 5, path: "users.tags", msg: `key "required" does not apply to a many_to_many field`, hint: "a to-many relation is always an array"}},
		{name: "required on a constant", yaml: validateFields("  - constant: source\n    value: crm\n    required: true"),
			want: validateWant{line: 7, col: 5, path: "users.source", msg: `key "required" does not apply to a constant field`, hint: `a constant field takes "options", "value"`}},
		{name: "transforms on integer", yaml: validateFields("  - integer: age\n    transforms: [trim]"),
			want: validateWant{line: 6, col: 5, path: "users.age", msg: `key "transforms" does not apply to an integer field`, hint: "transforms apply to text, identifier, keyword and enum fields"}},
		{name: "transforms on json", yaml: validateFields("  - json: extra\n    transforms: [trim]"),
			want: validateWant{line: 6, col: 5, path: "users.extra", msg: `key "transforms" does not apply to a json field`, hint: "transforms apply to text, identifier, keyword and enum fields"}},
		{name: "column on count", yaml: validateFields(`
  - count: n
    table: orders
    foreign_key: user_id
    column: total`),
			want: validateWant{line: 8, col: 5, path: "users.n", msg: `key "column" does not apply to a count field`, hint: "count counts rows; use sum/avg/min/max for a column"}},
		{name: "value_type on avg", yaml: validateFields(`
  - avg: a
    table: orders
    foreign_key: user_id
    column: total
    value_type: double`),
			want: validateWant{line: 9, col: 5, path: "users.a", msg: `key "value_type" does not apply to an avg field`, hint: "avg always yields a double"}},
		{name: "default on binary", yaml: validateFields("  - binary: avatar\n    default: abc"),
			want: validateWant{line: 6, col: 5, path: "users.avatar", msg: `key "default" does not apply to a binary field`, hint: "a binary field has no literal default"}},
		{name: "foreign_key on belongs_to", yaml: validateFields(`
  - belongs_to: team
    table: teams
    foreign_key: team_id
    fields: [{text: name}]`),
			want: validateWant{line: 7, col: 5, path: "users.team", msg: `key "foreign_key" does not apply to a belongs_to field`, hint: "belongs_to uses column: this table's column pointing at the related row"}},
		{name: "column on has_many", yaml: validateFields(`
  - has_many: orders
    table: orders
    column: user_id
    foreign_key: user_id
    fields: [{long: id}]`),
			want: validateWant{line: 7, col: 5, path: "users.orders", msg: `key "column" does not apply to a has_many field`, hint: "has_many uses foreign_key: the related table's column pointing back at this row"}},
		{name: "column on has_one", yaml: validateFields(`
  - has_one: profile
    table: profiles
    column: user_id
    foreign_key: user_id
    fields: [{text: bio}]`),
			want: validateWant{line: 7, col: 5, path: "users.profile", msg: `key "column" does not apply to a has_one field`, hint: "has_one uses foreign_key"}},
		{name: "through on has_many", yaml: validateFields(`
  - has_many: orders
    table: orders
    foreign_key: user_id
    through: {table: a, left_key: b, right_key: c}
    fields: [{long: id}]`),
			want: validateWant{line: 8, col: 5, path: "users.orders", msg: `key "through" does not apply to a has_many field`, hint: "through belongs to many_to_many and aggregates"}},
		{name: "foreign_key on many_to_many lists the keys", yaml: validateFields(`
  - many_to_many: tags
    table: tags
    foreign_key: user_id
    through: {table: a, left_key: b, right_key: c}
    fields: [{text: name}]`),
			want: validateWant{line: 7, col: 5, path: "users.tags", msg: `key "foreign_key" does not apply to a many_to_many field`, hint: `a many_to_many field takes "fields", "filters", "limit", "options", "order_by", "primary_key", "table", "through"`}},
		{name: "fields on a scalar", yaml: validateFields("  - keyword: email\n    fields: []"),
			want: validateWant{line: 6, col: 5, path: "users.email", msg: `key "fields" does not apply to a keyword field`, hint: `a keyword field takes "column", "default", "options", "required", "transforms"`}},
		{name: "element_type on count", yaml: validateFields(`
  - count: n
    table: orders
    foreign_key: user_id
    element_type: long`),
			want: validateWant{line: 8, col: 5, path: "users.n", msg: `key "element_type" does not apply to a count field`, hint: `a count field takes "filters", "foreign_key", "options", "table", "through"`}},
		{name: "options not a mapping", yaml: validateFields("  - keyword: email\n    options: [1]"),
			want: validateWant{line: 6, col: 14, path: "users.email.options", msg: "expected a mapping of OpenSearch mapping properties, found a list"}},
		{name: "required not a boolean", yaml: validateFields("  - keyword: email\n    required: maybe"),
			want: validateWant{line: 6, col: 15, path: "users.email.required", msg: `expected true or false, found the string "maybe"`}},
		{name: "column not an identifier", yaml: validateFields("  - keyword: email\n    column: e-mail"),
			want: validateWant{line: 6, col: 13, path: "users.email.column", msg: `column: "e-mail" is not a valid identifier`}},
	})
}

func TestValidateScalars(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "misspelt transform", yaml: validateFields("  - keyword: k\n    transforms: [lowercse]"),
			want: validateWant{line: 6, col: 18, path: "users.k.transforms", msg: `unknown transform "lowercse"`, hint: `did you mean "lowercase"?`}},
		{name: "unknown transform", yaml: validateFields("  - keyword: k\n    transforms: [upper]"),
			want: validateWant{line: 6, col: 18, path: "users.k.transforms", msg: `unknown transform "upper"`, hint: `expected "lowercase" or "trim"`}},
		{name: "transforms not a list", yaml: validateFields("  - keyword: k\n    transforms: trim"),
			want: validateWant{line: 6, col: 17, path: "users.k.transforms", msg: `expected transforms (a list), found the string "trim"`}},
		{name: "transform not a string", yaml: validateFields("  - text: k\n    transforms: [1]"),
			want: validateWant{line: 6, col: 18, path: "users.k.transforms", msg: "expected a transform (a string), found the number 1"}},
		{name: "variants empty", yaml: validateFields("  - enum: tier\n    variants: []"),
			want: validateWant{line: 6, col: 15, path: "users.tier.variants", msg: "variants is empty: list the values in rank order, or remove the key"}},
		{name: "variant empty", yaml: validateFields("  - enum: tier\n    variants: [free, \"\"]"),
			want: validateWant{line: 6, col: 22, path: "users.tier.variants", msg: "a variant is empty"}},
		{name: "variant twice", yaml: validateFields("  - enum: tier\n    variants: [free, pro, free]"),
			want: validateWant{line: 6, col: 27, path: "users.tier.variants", msg: `variant "free" is listed twice`}},
		{name: "variant not a string", yaml: validateFields("  - enum: tier\n    variants: [free, 2]"),
			want: validateWant{line: 6, col: 22, path: "users.tier.variants", msg: "expected a variant (a string), found the number 2"}},
		{name: "variants on keyword", yaml: validateFields("  - keyword: tier\n    variants: [free]"),
			want: validateWant{line: 6, col: 5, path: "users.tier", msg: `key "variants" does not apply to a keyword field`, hint: `a keyword field takes`}},
		{name: "enum default not a variant", yaml: validateFields("  - enum: tier\n    variants: [free, pro]\n    default: gold"),
			want: validateWant{line: 7, col: 14, path: "users.tier.default", msg: `the default "gold" is not one of the variants`}},
		{name: "integer default is a string", yaml: validateFields("  - integer: age\n    default: \"5\""),
			want: validateWant{line: 6, col: 14, path: "users.age.default", msg: `the default of an integer field must be a whole number, found the string "5"`}},
		{name: "integer default is a fraction", yaml: validateFields("  - integer: age\n    default: 1.5"),
			want: validateWant{line: 6, col: 14, path: "users.age.default", msg: "must be a whole number, found the number 1.5"}},
		{name: "short default out of range", yaml: validateFields("  - short: s\n    default: 40000"),
			want: validateWant{line: 6, col: 14, path: "users.s.default", msg: "the default 40000 is out of range for a short field"}},
		{name: "short default below range", yaml: validateFields("  - short: s\n    default: -32769"),
			want: validateWant{line: 6, col: 14, path: "users.s.default", msg: "the default -32769 is out of range for a short field"}},
		{name: "integer default out of range", yaml: validateFields("  - integer: i\n    default: 3000000000"),
			want: validateWant{line: 6, col: 14, path: "users.i.default", msg: "the default 3000000000 is out of range for an integer field"}},
		{name: "double default is a string", yaml: validateFields("  - decimal: price\n    default: \"12.50\""),
			want: validateWant{line: 6, col: 14, path: "users.price.default", msg: `must be a number, found the string "12.50"`}},
		{name: "boolean default is a number", yaml: validateFields("  - boolean: b\n    default: 1"),
			want: validateWant{line: 6, col: 14, path: "users.b.default", msg: "the default of a boolean field must be true or false, found the number 1"}},
		{name: "boolean default yes is a string", yaml: validateFields("  - boolean: b\n    default: yes"),
			want: validateWant{line: 6, col: 14, path: "users.b.default", msg: `must be true or false, found the string "yes"`}},
		{name: "text default is a boolean", yaml: validateFields("  - text: t\n    default: true"),
			want: validateWant{line: 6, col: 14, path: "users.t.default", msg: "the default of a text field must be a string, found the boolean true"}},
		{name: "keyword default is a number", yaml: validateFields("  - keyword: k\n    default: 5"),
			want: validateWant{line: 6, col: 14, path: "users.k.default", msg: "must be a string, found the number 5"}},
		{name: "default is a list", yaml: validateFields("  - keyword: k\n    default: [a]"),
			want: validateWant{line: 6, col: 14, path: "users.k.default", msg: "the default of a keyword field must be a scalar, found a list"}},
		{name: "default is a mapping", yaml: validateFields("  - json: j\n    default: {a: 1}"),
			want: validateWant{line: 6, col: 14, path: "users.j.default", msg: "the default of a json field must be a scalar, found a mapping"}},
		{name: "uuid default malformed", yaml: validateFields("  - uuid: u\n    default: not-a-uuid"),
			want: validateWant{line: 6, col: 14, path: "users.u.default", msg: `the default of a uuid field must be a uuid, found the string "not-a-uuid"`}},
		{name: "date default with a month 13", yaml: validateFields("  - date: d\n    default: 2024-13-01"),
			want: validateWant{line: 6, col: 14, path: "users.d.default", msg: "must be a date (YYYY-MM-DD)"}},
		{name: "date default in another order", yaml: validateFields("  - date: d\n    default: \"31/01/2024\""),
			want: validateWant{line: 6, col: 14, path: "users.d.default", msg: `must be a date (YYYY-MM-DD), found the string "31/01/2024"`}},
		{name: "date default with a time", yaml: validateFields("  - date: d\n    default: 2024-01-31T10:00:00Z"),
			want: validateWant{line: 6, col: 14, path: "users.d.default", msg: "must be a date (YYYY-MM-DD)"}},
		{name: "timestamp default malformed", yaml: validateFields("  - timestamp: ts\n    default: yesterday"),
			want: validateWant{line: 6, col: 14, path: "users.ts.default", msg: `must be a timestamp (e.g. 2024-01-31T12:00:00Z), found the string "yesterday"`}},
	})
}

func TestValidateCustomGeoMapConstantObject(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "custom without postgres", yaml: validateFields("  - custom: amount\n    opensearch: scaled_float"),
			want: validateWant{line: 5, col: 5, path: "users.amount", msg: `a custom field needs "postgres"`}},
		{name: "custom without opensearch", yaml: validateFields("  - custom: amount\n    postgres: [numeric]"),
			want: validateWant{line: 5, col: 5, path: "users.amount", msg: `a custom field needs "opensearch"`}},
		{name: "custom postgres empty", yaml: validateFields("  - custom: amount\n    postgres: []\n    opensearch: scaled_float"),
			want: validateWant{line: 6, col: 15, path: "users.amount.postgres", msg: "postgres is empty: list the column types the field accepts"}},
		{name: "custom postgres type blank", yaml: validateFields("  - custom: amount\n    postgres: [\" \"]\n    opensearch: scaled_float"),
			want: validateWant{line: 6, col: 16, path: "users.amount.postgres", msg: "a Postgres type name is empty"}},
		{name: "custom postgres not a list", yaml: validateFields("  - custom: amount\n    postgres: numeric\n    opensearch: scaled_float"),
			want: validateWant{line: 6, col: 15, path: "users.amount.postgres", msg: `expected postgres (a list), found the string "numeric"`}},
		{name: "custom opensearch blank", yaml: validateFields("  - custom: amount\n    postgres: [numeric]\n    opensearch: \" \""),
			want: validateWant{line: 7, col: 17, path: "users.amount.opensearch", msg: "the OpenSearch type is empty"}},
		{name: "custom opensearch misspelt is a warning", yaml: validateFields("  - custom: amount\n    postgres: [numeric]\n    opensearch: scaled_flaot"),
			want: validateWant{sev: SeverityWarning, line: 7, col: 17, path: "users.amount.opensearch", msg: `"scaled_flaot" is not a field type OpenSearch ships; it must come from a plugin`, hint: `did you mean "scaled_float"?`}},
		{name: "custom opensearch from a plugin is a warning", yaml: validateFields("  - custom: amount\n    postgres: [numeric]\n    opensearch: my_plugin_type"),
			want: validateWant{sev: SeverityWarning, line: 7, col: 17, path: "users.amount.opensearch", msg: `"my_plugin_type" is not a field type OpenSearch ships`}},
		{name: "custom default is a list", yaml: validateFields("  - custom: amount\n    postgres: [numeric]\n    opensearch: scaled_float\n    default: [1]"),
			want: validateWant{line: 8, col: 14, path: "users.amount.default", msg: "the default of a custom field must be a scalar, found a list"}},
		{name: "geo with lat only", yaml: validateFields("  - geo: location\n    lat: latitude"),
			want: validateWant{line: 5, col: 5, path: "users.location", msg: "a geo field needs both lat and lon"}},
		{name: "geo with lon only", yaml: validateFields("  - geo: location\n    lon: longitude"),
			want: validateWant{line: 5, col: 5, path: "users.location", msg: "a geo field needs both lat and lon"}},
		{name: "geo with lat, lon and column", yaml: validateFields("  - geo: location\n    lat: latitude\n    lon: longitude\n    column: point"),
			want: validateWant{line: 8, col: 5, path: "users.location", msg: "a geo field takes either lat and lon, or column, not both"}},
		{name: "geo with neither", yaml: validateFields("  - geo: location"),
			want: validateWant{line: 5, col: 5, path: "users.location", msg: "a geo field needs lat and lon columns, or one column holding the point", hint: "e.g. `lat: latitude` and `lon: longitude`"}},
		{name: "geo lat not an identifier", yaml: validateFields("  - geo: location\n    lat: 1lat\n    lon: lon"),
			want: validateWant{line: 6, col: 10, path: "users.location.lat", msg: `lat: "1lat" is not a valid identifier`}},
		{name: "map without values", yaml: validateFields("  - map: attrs"),
			want: validateWant{line: 5, col: 5, path: "users.attrs", msg: `a map field needs "values"`}},
		{name: "map of binary", yaml: validateFields("  - map: attrs\n    values: binary"),
			want: validateWant{line: 6, col: 13, path: "users.attrs.values", msg: "map values must be a plain scalar type, not binary"}},
		{name: "map of json", yaml: validateFields("  - map: attrs\n    values: json"),
			want: validateWant{line: 6, col: 13, path: "users.attrs.values", msg: "map values must be a plain scalar type, not json"}},
		{name: "map values misspelt", yaml: validateFields("  - map: attrs\n    values: integr"),
			want: validateWant{line: 6, col: 13, path: "users.attrs.values", msg: `unknown scalar type "integr"`, hint: `did you mean "integer"?`}},
		{name: "map values unknown", yaml: validateFields("  - map: attrs\n    values: thing"),
			want: validateWant{line: 6, col: 13, path: "users.attrs.values", msg: `unknown scalar type "thing"`, hint: `expected one of "binary", "boolean", "date"`}},
		{name: "constant without value", yaml: validateFields("  - constant: source"),
			want: validateWant{line: 5, col: 5, path: "users.source", msg: `a constant field needs "value"`}},
		{name: "constant null", yaml: validateFields("  - constant: source\n    value: null"),
			want: validateWant{line: 6, col: 12, path: "users.source.value", msg: "a constant needs a value (null would leave the field without a type)"}},
		{name: "object without fields", yaml: validateFields("  - object: account"),
			want: validateWant{line: 5, col: 5, path: "users.account", msg: `an object field needs "fields"`}},
		{name: "object with no fields", yaml: validateFields("  - object: account\n    fields: []"),
			want: validateWant{line: 6, col: 13, path: "users.account.fields", msg: "fields is empty: declare at least one field"}},
		{name: "error inside an object", yaml: validateFields("  - object: account\n    fields:\n      - enum: tier\n        variants: []"),
			want: validateWant{line: 8, col: 19, path: "users.account.tier.variants", msg: "variants is empty"}},
	})
}

func TestValidateRelations(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "belongs_to without table", yaml: validateFields("  - belongs_to: team\n    fields: [{text: name}]"),
			want: validateWant{line: 5, col: 5, path: "users.team", msg: `a belongs_to field needs "table"`}},
		{name: "belongs_to without fields", yaml: validateFields("  - belongs_to: team\n    table: teams"),
			want: validateWant{line: 5, col: 5, path: "users.team", msg: `a belongs_to field needs "fields"`}},
		{name: "has_one without foreign_key", yaml: validateFields("  - has_one: profile\n    table: profiles\n    fields: [{text: bio}]"),
			want: validateWant{line: 5, col: 5, path: "users.profile", msg: `a has_one field needs "foreign_key"`}},
		{name: "has_many without fields", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: user_id"),
			want: validateWant{line: 5, col: 5, path: "users.orders", msg: `a has_many field needs "fields"`}},
		{name: "has_many without table", yaml: validateFields("  - has_many: orders\n    foreign_key: user_id\n    fields: [{long: id}]"),
			want: validateWant{line: 5, col: 5, path: "users.orders", msg: `a has_many field needs "table"`}},
		{name: "many_to_many without through", yaml: validateFields("  - many_to_many: tags\n    table: tags\n    fields: [{text: name}]"),
			want: validateWant{line: 5, col: 5, path: "users.tags", msg: `a many_to_many field needs "through"`}},
		{name: "relation table not an identifier", yaml: validateFields("  - has_many: orders\n    table: Order-Lines\n    foreign_key: user_id\n    fields: [{long: id}]"),
			want: validateWant{line: 6, col: 12, path: "users.orders.table", msg: `table: "Order-Lines" is not a valid identifier`}},
		{name: "belongs_to column and primary_key lengths differ", yaml: validateFields(`
  - belongs_to: team
    table: teams
    column: [team_id, org_id]
    primary_key: id
    fields: [{text: name}]`),
			want: validateWant{line: 5, col: 5, path: "users.team", msg: "column has 2 column(s) but primary_key has 1: they pair up position by position"}},
		{name: "foreign_key and the root key lengths differ", yaml: "version: 1\ntable: users\nprimary_key: [tenant, id]\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields: [{long: id}]\n",
			want: validateWant{line: 5, col: 5, path: "users.orders", msg: "foreign_key has 1 column(s) but the parent's primary_key has 2"}},
		{name: "nested foreign_key and the relation key lengths differ", yaml: validateFields(`
  - has_many: orders
    table: orders
    foreign_key: user_id
    primary_key: [id, line]
    fields:
      - has_many: items
        table: items
        foreign_key: order_id
        fields: [{integer: quantity}]`),
			want: validateWant{line: 10, col: 9, path: "users.orders.items", msg: "foreign_key has 1 column(s) but the parent's primary_key has 2"}},
		{name: "through.left_key and the parent key lengths differ", yaml: "version: 1\ntable: users\nprimary_key: [tenant, id]\nfields:\n  - many_to_many: tags\n    table: tags\n    through: {table: user_tags, left_key: user_id, right_key: tag_id}\n    fields: [{text: name}]\n",
			want: validateWant{line: 7, col: 43, path: "users.tags.through.left_key", msg: "left_key has 1 column(s) but the parent's primary_key has 2"}},
		{name: "through.right_key and primary_key lengths differ", yaml: validateFields(`
  - many_to_many: tags
    table: tags
    primary_key: id
    through: {table: user_tags, left_key: user_id, right_key: [tag_id, tenant]}
    fields: [{text: name}]`),
			want: validateWant{line: 5, col: 5, path: "users.tags", msg: "through.right_key has 2 column(s) but primary_key has 1"}},
		{name: "through not a mapping", yaml: validateFields("  - many_to_many: tags\n    table: tags\n    through: user_tags\n    fields: [{text: name}]"),
			want: validateWant{line: 7, col: 14, path: "users.tags.through", msg: `expected the junction table (a mapping of keys), found the string "user_tags"`}},
		{name: "through without table", yaml: validateFields("  - many_to_many: tags\n    table: tags\n    through: {left_key: user_id, right_key: tag_id}\n    fields: [{text: name}]"),
			want: validateWant{line: 7, col: 14, path: "users.tags.through", msg: `through needs "table"`}},
		{name: "through without left_key", yaml: validateFields("  - many_to_many: tags\n    table: tags\n    through: {table: user_tags, right_key: tag_id}\n    fields: [{text: name}]"),
			want: validateWant{line: 7, col: 14, path: "users.tags.through", msg: `through needs "left_key"`}},
		{name: "through key misspelt", yaml: validateFields("  - many_to_many: tags\n    table: tags\n    through: {table: user_tags, left_key: user_id, rigth_key: tag_id}\n    fields: [{text: name}]"),
			want: validateWant{line: 7, col: 52, path: "users.tags.through", msg: `unknown key "rigth_key" in through`, hint: `did you mean "right_key"?`}, n: 2},
		{name: "limit zero", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    limit: 0\n    fields: [{long: id}]"),
			want: validateWant{line: 8, col: 12, path: "users.orders.limit", msg: "limit must be between 1 and 2147483647, found 0"}},
		{name: "limit negative", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    limit: -3\n    fields: [{long: id}]"),
			want: validateWant{line: 8, col: 12, path: "users.orders.limit", msg: "limit must be between 1 and 2147483647, found -3"}},
		{name: "limit not a number", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    limit: five\n    fields: [{long: id}]"),
			want: validateWant{line: 8, col: 12, path: "users.orders.limit", msg: `expected a whole number, found the string "five"`}},
		{name: "foreign_key column listed twice", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: [user_id, user_id]\n    fields: [{long: id}]"),
			want: validateWant{line: 7, col: 28, path: "users.orders.foreign_key", msg: `foreign_key: column "user_id" is listed twice`}},
		{name: "foreign_key empty list", yaml: validateFields("  - has_many: orders\n    table: orders\n    foreign_key: []\n    fields: [{long: id}]"),
			want: validateWant{line: 7, col: 18, path: "users.orders.foreign_key", msg: "foreign_key: the list of columns is empty"}},
		{name: "required not a boolean on has_one", yaml: validateFields("  - has_one: profile\n    table: profiles\n    foreign_key: user_id\n    required: maybe\n    fields: [{text: bio}]"),
			want: validateWant{line: 8, col: 15, path: "users.profile.required", msg: `expected true or false, found the string "maybe"`}},
	})
}

func TestValidateAggregates(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "neither foreign_key nor through", yaml: validateFields("  - count: n\n    table: orders"),
			want: validateWant{line: 5, col: 5, path: "users.n", msg: "an aggregate needs foreign_key (the related table's column pointing back at this row) or through (a junction table)"}},
		{name: "both foreign_key and through", yaml: validateFields("  - count: n\n    table: orders\n    foreign_key: user_id\n    through: {table: a, left_key: b, right_key: c}"),
			want: validateWant{line: 8, col: 5, path: "users.n", msg: "an aggregate takes foreign_key or through, not both"}},
		{name: "without table", yaml: validateFields("  - count: n\n    foreign_key: user_id"),
			want: validateWant{line: 5, col: 5, path: "users.n", msg: `a count field needs "table"`}},
		{name: "sum without column", yaml: validateFields("  - sum: s\n    table: orders\n    foreign_key: user_id\n    value_type: decimal"),
			want: validateWant{line: 5, col: 5, path: "users.s", msg: `a sum field needs "column"`}},
		{name: "sum without value_type", yaml: validateFields("  - sum: s\n    table: orders\n    foreign_key: user_id\n    column: total"),
			want: validateWant{line: 5, col: 5, path: "users.s", msg: `a sum field needs "value_type"`}},
		{name: "min without value_type", yaml: validateFields("  - min: m\n    table: orders\n    foreign_key: user_id\n    column: total"),
			want: validateWant{line: 5, col: 5, path: "users.m", msg: `a min field needs "value_type"`}},
		{name: "avg without column", yaml: validateFields("  - avg: a\n    table: orders\n    foreign_key: user_id"),
			want: validateWant{line: 5, col: 5, path: "users.a", msg: `an avg field needs "column"`}},
		{name: "sum of text", yaml: validateFields("  - sum: s\n    table: orders\n    foreign_key: user_id\n    column: note\n    value_type: text"),
			want: validateWant{line: 9, col: 17, path: "users.s.value_type", msg: "sum needs a numeric value_type (short, integer, long, float, double or decimal), not text"}},
		{name: "sum of dates", yaml: validateFields("  - sum: s\n    table: orders\n    foreign_key: user_id\n    column: placed\n    value_type: date"),
			want: validateWant{line: 9, col: 17, path: "users.s.value_type", msg: "sum needs a numeric value_type"}},
		{name: "min of booleans", yaml: validateFields("  - min: m\n    table: orders\n    foreign_key: user_id\n    column: paid\n    value_type: boolean"),
			want: validateWant{line: 9, col: 17, path: "users.m.value_type", msg: "min of boolean values is not defined: use a number, date, timestamp or text type"}},
		{name: "max of json", yaml: validateFields("  - max: m\n    table: orders\n    foreign_key: user_id\n    column: data\n    value_type: json"),
			want: validateWant{line: 9, col: 17, path: "users.m.value_type", msg: "max of json values is not defined"}},
		{name: "value_type misspelt", yaml: validateFields("  - max: m\n    table: orders\n    foreign_key: user_id\n    column: total\n    value_type: dobule"),
			want: validateWant{line: 9, col: 17, path: "users.m.value_type", msg: `unknown scalar type "dobule"`, hint: `did you mean "double"?`}},
		{name: "ids without element_type", yaml: validateFields("  - ids: order_ids\n    table: orders\n    foreign_key: user_id"),
			want: validateWant{line: 5, col: 5, path: "users.order_ids", msg: `an ids field needs "element_type"`}},
		{name: "ids of json", yaml: validateFields("  - ids: order_ids\n    table: orders\n    foreign_key: user_id\n    element_type: json"),
			want: validateWant{line: 8, col: 19, path: "users.order_ids.element_type", msg: "a key cannot be of type json"}},
		{name: "ids of binary", yaml: validateFields("  - ids: order_ids\n    table: orders\n    foreign_key: user_id\n    element_type: binary"),
			want: validateWant{line: 8, col: 19, path: "users.order_ids.element_type", msg: "a key cannot be of type binary"}},
		{name: "foreign_key and the parent key lengths differ", yaml: "version: 1\ntable: users\nprimary_key: [tenant, id]\nfields:\n  - count: n\n    table: orders\n    foreign_key: user_id\n",
			want: validateWant{line: 5, col: 5, path: "users.n", msg: "foreign_key has 1 column(s) but the parent's primary_key has 2"}},
		{name: "through.left_key and the parent key lengths differ", yaml: validateFields("  - count: n\n    table: orders\n    through: {table: a, left_key: [b, c], right_key: d}"),
			want: validateWant{line: 7, col: 35, path: "users.n.through.left_key", msg: "left_key has 2 column(s) but the parent's primary_key has 1"}},
		{name: "through without right_key", yaml: validateFields("  - count: n\n    table: tags\n    through: {table: a, left_key: b}"),
			want: validateWant{line: 7, col: 14, path: "users.n.through", msg: `through needs "right_key"`}},
	})
}

func TestValidateFilters(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "raw with a column", yaml: validateRoot("filters:\n  - { raw: \"x > 1\", column: x }"),
			want: validateWant{line: 10, col: 21, path: "users.filters[0]", msg: `a raw filter takes no "column": the SQL says everything`}},
		{name: "raw with an op", yaml: validateRoot("filters:\n  - { raw: \"x > 1\", op: eq }"),
			want: validateWant{line: 10, col: 21, path: "users.filters[0]", msg: `a raw filter takes no "op"`}},
		{name: "raw with a value", yaml: validateRoot("filters:\n  - { raw: \"x > 1\", value: 1 }"),
			want: validateWant{line: 10, col: 21, path: "users.filters[0]", msg: `a raw filter takes no "value"`}},
		{name: "raw blank", yaml: validateRoot("filters:\n  - { raw: \"  \" }"),
			want: validateWant{line: 10, col: 12, path: "users.filters[0].raw", msg: "the raw SQL is empty"}},
		{name: "raw not a string", yaml: validateRoot("filters:\n  - { raw: [a] }"),
			want: validateWant{line: 10, col: 12, path: "users.filters[0].raw", msg: "expected an SQL condition (a string), found a list"}},
		{name: "missing column", yaml: validateRoot("filters:\n  - { op: eq, value: 1 }"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: "a filter needs a column", hint: `write { column, op, value } or { raw: "<SQL>" }`}},
		{name: "missing op", yaml: validateRoot("filters:\n  - { column: tier }"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: `a filter needs an op (one of "between", "eq", "gt", "gte", "ilike", "in", "is_not_null", "is_null", "like", "lt", "lte", "neq", "not_in")`}},
		{name: "unknown op", yaml: validateRoot("filters:\n  - { column: tier, op: equals, value: 1 }"),
			want: validateWant{line: 10, col: 25, path: "users.filters[0].op", msg: `unknown filter operator "equals"`, hint: `expected one of "between", "eq"`}},
		{name: "misspelt op", yaml: validateRoot("filters:\n  - { column: tier, op: not_inn, value: [1] }"),
			want: validateWant{line: 10, col: 25, path: "users.filters[0].op", msg: `unknown filter operator "not_inn"`, hint: `did you mean "not_in"?`}},
		{name: "op in capitals", yaml: validateRoot("filters:\n  - { column: tier, op: EQ, value: 1 }"),
			want: validateWant{line: 10, col: 25, path: "users.filters[0].op", msg: `unknown filter operator "EQ"`, hint: `did you mean "eq"?`}},
		{name: "misspelt filter key", yaml: validateRoot("filters:\n  - { colum: tier, op: eq, value: 1 }"),
			want: validateWant{line: 10, col: 7, path: "users.filters[0]", msg: `unknown key "colum" in a filter`, hint: `did you mean "column"?`}, n: 2},
		{name: "column not an identifier", yaml: validateRoot("filters:\n  - { column: 9tier, op: eq, value: 1 }"),
			want: validateWant{line: 10, col: 15, path: "users.filters[0].column", msg: `column: "9tier" is not a valid identifier`}},
		{name: "is_null with a value", yaml: validateRoot("filters:\n  - { column: tier, op: is_null, value: 1 }"),
			want: validateWant{line: 10, col: 41, path: "users.filters[0].value", msg: "is_null takes no value"}},
		{name: "is_not_null with a value", yaml: validateRoot("filters:\n  - { column: tier, op: is_not_null, value: 1 }"),
			want: validateWant{line: 10, col: 45, path: "users.filters[0].value", msg: "is_not_null takes no value"}},
		{name: "eq without a value", yaml: validateRoot("filters:\n  - { column: tier, op: eq }"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: "eq needs a value"}},
		{name: "like without a value", yaml: validateRoot("filters:\n  - { column: tier, op: like }"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: "like needs a value"}},
		{name: "eq null", yaml: validateRoot("filters:\n  - { column: tier, op: eq, value: null }"),
			want: validateWant{line: 10, col: 36, path: "users.filters[0].value", msg: "eq cannot compare with null", hint: "use op: is_null or is_not_null"}},
		{name: "neq null", yaml: validateRoot("filters:\n  - { column: tier, op: neq, value: ~ }"),
			want: validateWant{line: 10, col: 37, path: "users.filters[0].value", msg: "neq cannot compare with null", hint: "use op: is_null or is_not_null"}},
		{name: "gt with a list", yaml: validateRoot("filters:\n  - { column: tier, op: gt, value: [1, 2] }"),
			want: validateWant{line: 10, col: 36, path: "users.filters[0].value", msg: "gt needs a single value (string, number or boolean)"}},
		{name: "lte with a mapping", yaml: validateRoot("filters:\n  - { column: tier, op: lte, value: {a: 1} }"),
			want: validateWant{line: 10, col: 37, path: "users.filters[0].value", msg: "lte needs a single value (string, number or boolean)"}},
		{name: "in without a value", yaml: validateRoot("filters:\n  - { column: tier, op: in }"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: "in needs a value"}},
		{name: "in with a scalar", yaml: validateRoot("filters:\n  - { column: tier, op: in, value: 1 }"),
			want: validateWant{line: 10, col: 36, path: "users.filters[0].value", msg: "in needs a list of values"}},
		{name: "in with a list inside", yaml: validateRoot("filters:\n  - { column: tier, op: in, value: [a, [b]] }"),
			want: validateWant{line: 10, col: 40, path: "users.filters[0].value[1]", msg: "in takes plain values (strings, numbers, booleans), found a list"}},
		{name: "not_in with an empty list", yaml: validateRoot("filters:\n  - { column: tier, op: not_in, value: [] }"),
			want: validateWant{line: 10, col: 40, path: "users.filters[0].value", msg: "not_in needs at least one value"}},
		{name: "between without a value", yaml: validateRoot("filters:\n  - { column: tier, op: between }"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: "between needs a value"}},
		{name: "between with a scalar", yaml: validateRoot("filters:\n  - { column: tier, op: between, value: 5 }"),
			want: validateWant{line: 10, col: 41, path: "users.filters[0].value", msg: "between needs a list of values"}},
		{name: "between with three values", yaml: validateRoot("filters:\n  - { column: tier, op: between, value: [1, 2, 3] }"),
			want: validateWant{line: 10, col: 41, path: "users.filters[0].value", msg: "between needs exactly two values [low, high], found 3"}},
		{name: "between with one value", yaml: validateRoot("filters:\n  - { column: tier, op: between, value: [1] }"),
			want: validateWant{line: 10, col: 41, path: "users.filters[0].value", msg: "between needs exactly two values [low, high], found 1"}},
		{name: "filters not a list", yaml: validateRoot("filters: tier"),
			want: validateWant{line: 9, col: 10, path: "users.filters", msg: `expected a list of filters (a list), found the string "tier"`}},
		{name: "filter not a mapping", yaml: validateRoot("filters:\n  - tier"),
			want: validateWant{line: 10, col: 5, path: "users.filters[0]", msg: `expected a filter (a mapping of keys), found the string "tier"`}},
		{name: "third filter of an aggregate", yaml: validateFields(`
  - count: n
    table: orders
    foreign_key: user_id
    filters:
      - { column: status, op: neq, value: cancelled }
      - { column: total, op: gt, value: 0 }
      - { column: placed_at, op: lt, value: null }`),
			want: validateWant{line: 11, col: 45, path: "users.n.filters[2].value", msg: "lt cannot compare with null", hint: "use op: is_null or is_not_null"}},
		{name: "filter of a relation", yaml: validateFields(`
  - has_many: orders
    table: orders
    foreign_key: user_id
    filters: [{ column: status, op: in, value: cancelled }]
    fields: [{long: id}]`),
			want: validateWant{line: 8, col: 48, path: "users.orders.filters[0].value", msg: "in needs a list of values"}},
	})
}

func TestValidateOrderBy(t *testing.T) {
	orders := "  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields: [{long: id}]\n"
	validateRunSchema(t, []validateSchemaCase{
		{name: "entry without column", yaml: validateFields(orders + "    order_by: [{ direction: desc }]"),
			want: validateWant{line: 9, col: 16, path: "users.orders.order_by[0]", msg: "an order_by entry needs a column"}},
		{name: "unknown direction", yaml: validateFields(orders + "    order_by: [{ column: placed_at, direction: up }]"),
			want: validateWant{line: 9, col: 48, path: "users.orders.order_by[0].direction", msg: `unknown direction "up"`, hint: `expected "asc" or "desc"`}},
		{name: "direction not a string", yaml: validateFields(orders + "    order_by: [{ column: placed_at, direction: 1 }]"),
			want: validateWant{line: 9, col: 48, path: "users.orders.order_by[0].direction", msg: "expected a direction (a string), found the number 1"}},
		{name: "unknown key", yaml: validateFields(orders + "    order_by: [{ column: placed_at, dir: desc }]"),
			want: validateWant{line: 9, col: 37, path: "users.orders.order_by[0]", msg: `unknown key "dir" in an order_by entry`, hint: `expected one of "column", "direction"`}},
		{name: "misspelt key", yaml: validateFields(orders + "    order_by: [{ colunm: placed_at }]"),
			want: validateWant{line: 9, col: 18, path: "users.orders.order_by[0]", msg: `unknown key "colunm" in an order_by entry`, hint: `did you mean "column"?`}, n: 2},
		{name: "not a list", yaml: validateFields(orders + "    order_by: placed_at"),
			want: validateWant{line: 9, col: 15, path: "users.orders.order_by", msg: `expected a list of { column, direction } (a list), found the string "placed_at"`}},
		{name: "entry not a mapping", yaml: validateFields(orders + "    order_by: [placed_at]"),
			want: validateWant{line: 9, col: 16, path: "users.orders.order_by[0]", msg: `expected an order_by entry (a mapping of keys), found the string "placed_at"`}},
		{name: "column not an identifier", yaml: validateFields(orders + "    order_by: [{ column: placed-at }]"),
			want: validateWant{line: 9, col: 26, path: "users.orders.order_by[0].column", msg: `column: "placed-at" is not a valid identifier`}},
	})
}

func TestValidateSoftDelete(t *testing.T) {
	validateRunSchema(t, []validateSchemaCase{
		{name: "column and field", yaml: validateRoot("soft_delete:\n  column: deleted\n  field: account.deleted"),
			want: validateWant{line: 11, col: 3, path: "users.soft_delete", msg: "soft_delete takes column or field, not both"}},
		{name: "neither column nor field", yaml: validateRoot("soft_delete: {}"),
			want: validateWant{line: 9, col: 14, path: "users.soft_delete", msg: "soft_delete needs column or field", hint: "e.g. `column: deleted`"}},
		{name: "only when", yaml: validateRoot("soft_delete:\n  when: [{ column: status, op: eq, value: gone }]"),
			want: validateWant{line: 10, col: 3, path: "users.soft_delete", msg: "soft_delete needs column or field"}},
		{name: "misspelt field", yaml: validateRoot("soft_delete:\n  field: account.delted"),
			want: validateWant{line: 10, col: 10, path: "users.soft_delete.field", msg: `soft_delete.field "account.delted" names no scalar field of the root row`, hint: `did you mean "account.deleted"?`}},
		{name: "unknown field", yaml: validateRoot("soft_delete:\n  field: nothing_like_it"),
			want: validateWant{line: 10, col: 10, path: "users.soft_delete.field", msg: `soft_delete.field "nothing_like_it" names no scalar field`, hint: "it must name a scalar field of the root row"}},
		{name: "field naming a group", yaml: validateRoot("soft_delete:\n  field: account"),
			want: validateWant{line: 10, col: 10, path: "users.soft_delete.field", msg: `soft_delete.field "account" names no scalar field`}},
		{name: "field of a joined row", yaml: validateFields(`
  - keyword: email
  - has_one: profile
    table: profiles
    foreign_key: user_id
    fields: [{boolean: hidden}]
soft_delete:
  field: profile.hidden`),
			want: validateWant{line: 11, col: 10, path: "users.soft_delete.field", msg: `soft_delete.field "profile.hidden" names no scalar field`}},
		{name: "column not an identifier", yaml: validateRoot("soft_delete:\n  column: Deleted-At"),
			want: validateWant{line: 10, col: 11, path: "users.soft_delete.column", msg: `column: "Deleted-At" is not a valid identifier`}},
		{name: "misspelt key", yaml: validateRoot("soft_delete:\n  colunm: deleted"),
			want: validateWant{line: 10, col: 3, path: "users.soft_delete", msg: `unknown key "colunm" in soft_delete`, hint: `did you mean "column"?`}, n: 2},
		{name: "not a mapping", yaml: validateRoot("soft_delete: deleted"),
			want: validateWant{line: 9, col: 14, path: "users.soft_delete", msg: `expected soft_delete (a mapping of keys), found the string "deleted"`}},
		{name: "when filter with a bad value", yaml: validateRoot("soft_delete:\n  column: deleted_at\n  when:\n    - { column: deleted_at, op: is_not_null, value: 1 }"),
			want: validateWant{line: 12, col: 53, path: "users.soft_delete.when[0].value", msg: "is_not_null takes no value"}},
	})
}

// TestValidateSchemaAccepts is the positive side of the rules above: each
// input is valid and loads without any diagnostic.
func TestValidateSchemaAccepts(t *testing.T) {
	cases := []struct{ name, yaml string }{
		{"every transform", validateFields("  - keyword: email\n    transforms: [lowercase, trim]")},
		{"enum default among the variants", validateFields("  - enum: tier\n    variants: [free, pro]\n    default: pro")},
		{"integer defaults at the edges", validateFields("  - short: s\n    default: -32768\n  - integer: i\n    default: 2147483647\n  - long: l\n    default: -9223372036854775808")},
		{"whole number default of a float", validateFields("  - double: score\n    default: 3")},
		{"boolean default", validateFields("  - boolean: active\n    default: false")},
		{"uuid default", validateFields("  - uuid: u\n    default: a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")},
		{"uuid default in capitals without hyphens", validateFields("  - uuid: u\n    default: A0EEBC999C0B4EF8BB6D6BB9BD380A11")},
		{"date default unquoted", validateFields("  - date: d\n    default: 2024-01-31")},
		{"timestamp default RFC 3339", validateFields("  - timestamp: ts\n    default: 2024-01-31T12:00:00Z")},
		{"timestamp default with a space", validateFields("  - timestamp: ts\n    default: \"2024-01-31 12:00:00\"")},
		{"time default", validateFields("  - timestamp: t\n    default: \"15:04:05\"")},
		{"json default", validateFields("  - json: extra\n    default: 0")},
		{"null default is no default", validateFields("  - keyword: email\n    default: null")},
		{"custom with any scalar default", validateFields("  - custom: amount\n    postgres: [numeric]\n    opensearch: scaled_float\n    options: {scaling_factor: 100}\n    default: 1.5")},
		{"geo from lat and lon", validateFields("  - geo: location\n    lat: latitude\n    lon: longitude")},
		{"geo from one column", validateFields("  - geo: location\n    column: point\n    required: true")},
		{"map of integers", validateFields("  - map: counters\n    values: integer")},
		{"constant false", validateFields("  - constant: archived\n    value: false")},
		{"constant mapping", validateFields("  - constant: source\n    value: {system: crm, version: 2}")},
		{"object holding a relation and an aggregate", validateFields("  - object: stats\n    fields:\n      - count: orders\n        table: orders\n        foreign_key: user_id\n      - belongs_to: team\n        table: teams\n        fields: [{text: name}]")},
		{"has_one with order_by and required", validateFields("  - has_one: latest\n    table: orders\n    foreign_key: user_id\n    order_by: [{column: placed_at, direction: desc}]\n    required: false\n    fields: [{long: id}]")},
		{"many_to_many with limit", validateFields("  - many_to_many: tags\n    table: tags\n    through: {table: user_tags, left_key: user_id, right_key: tag_id}\n    order_by: [{column: name}]\n    limit: 10\n    fields: [{text: name}]")},
		{"every aggregate", validateFields(`
  - count: n
    table: orders
    foreign_key: user_id
  - sum: spent
    table: orders
    foreign_key: user_id
    column: total
    value_type: decimal
  - avg: basket
    table: orders
    foreign_key: user_id
    column: total
  - min: first_order
    table: orders
    foreign_key: user_id
    column: placed_at
    value_type: timestamp
  - max: last_status
    table: orders
    foreign_key: user_id
    column: status
    value_type: keyword
  - ids: tag_ids
    table: tags
    through: {table: user_tags, left_key: user_id, right_key: tag_id}
    element_type: long
    filters: [{column: hidden, op: eq, value: false}]`)},
		{"every filter operator", validateRoot(`
filters:
  - { column: a, op: eq, value: 1 }
  - { column: a, op: neq, value: x }
  - { column: a, op: lt, value: 1.5 }
  - { column: a, op: lte, value: 2024-01-31 }
  - { column: a, op: gt, value: true }
  - { column: a, op: gte, value: 0 }
  - { column: a, op: like, value: "a%" }
  - { column: a, op: ilike, value: "%b" }
  - { column: a, op: in, value: [1, 2] }
  - { column: a, op: not_in, value: [x] }
  - { column: a, op: between, value: [1, 9] }
  - { column: a, op: is_null }
  - { column: a, op: is_not_null }
  - { raw: "a <> b" }`)},
		{"soft_delete column", validateRoot("soft_delete:\n  column: deleted_at")},
		{"soft_delete field in a group with when", validateRoot("soft_delete:\n  field: account.deleted\n  when: [{column: deleted, op: eq, value: true}]")},
		{"soft_delete root field", validateRoot("soft_delete:\n  field: email")},
		{"no primary_key without joins", "version: 1\ntable: users\nfields:\n  - keyword: email\n"},
		{"same name in different groups", validateFields("  - keyword: name\n  - object: account\n    fields:\n      - keyword: name")},
		{"names differing by case", validateFields("  - keyword: email\n  - keyword: Email\n    column: email_upper")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			validateParse(t, c.yaml)
		})
	}
}

func TestValidateSchemaDefaults(t *testing.T) {
	s := validateParse(t, validateFields(`
  - text: fullName
  - keyword: email
    column: " Email_Address "
  - belongs_to: Team
    table: teams
    fields: [{text: name}]
  - has_many: orders
    table: orders
    foreign_key: user_id
    order_by: [{column: placed_at}, {column: id, direction: DESC}]
    fields: [{long: id}]
  - count: orderCount
    table: orders
    foreign_key: user_id
  - avg: basket
    table: orders
    foreign_key: user_id
    column: total`))

	validateEqual(t, "version", s.Version, 1)
	validateEqual(t, "root table", s.Table, TableRef{Schema: "public", Name: "users"})
	validateEqual(t, "root key", s.PrimaryKey, []string{"id"})
	validateEqual(t, "column defaults to the name lower-cased", validateField(t, s, "fullName").Column, "fullname")
	validateEqual(t, "column trimmed and lower-cased", validateField(t, s, "email").Column, "email_address")
	validateEqual(t, "required defaults to false", validateField(t, s, "email").Required, false)
	validateEqual(t, "scalar type", validateField(t, s, "email").Type, TypeKeyword)

	team := validateField(t, s, "Team").Relation
	validateEqual(t, "belongs_to column defaults to the name lower-cased", team.Column, []string{"team"})
	validateEqual(t, "related table inherits the schema", team.Table, TableRef{Schema: "public", Name: "teams"})
	validateEqual(t, "related primary_key left to the catalog", len(team.PrimaryKey), 0)

	orders := validateField(t, s, "orders").Relation
	validateEqual(t, "order_by direction defaults to asc and is lower-cased", orders.OrderBy, []OrderBy{{Column: "placed_at", Direction: "asc"}, {Column: "id", Direction: "desc"}})
	validateEqual(t, "no limit", orders.Limit, 0)
	validateEqual(t, "count yields a long", validateField(t, s, "orderCount").Type, TypeLong)
	validateEqual(t, "avg yields a double", validateField(t, s, "basket").Type, TypeDouble)
}

func TestValidateSchemaNormalizesIdentifiers(t *testing.T) {
	s := validateParse(t, `
version: 1
table: " Users "
schema: Shop
primary_key: [" Tenant ", ID]
fields:
  - keyword: email
  - has_many: orders
    table: ORDERS
    foreign_key: [Tenant_ID, User_ID]
    fields: [{long: id}]
`)
	validateEqual(t, "root table", s.Table, TableRef{Schema: "shop", Name: "users"})
	validateEqual(t, "root key", s.PrimaryKey, []string{"tenant", "id"})
	orders := validateField(t, s, "orders").Relation
	validateEqual(t, "related table takes the root schema", orders.Table, TableRef{Schema: "shop", Name: "orders"})
	validateEqual(t, "foreign key", orders.ForeignKey, []string{"tenant_id", "user_id"})
}

func TestValidateSchemaCompositeKeys(t *testing.T) {
	s := validateParse(t, `
version: 1
table: listings
primary_key: [listing_id, night]
fields:
  - belongs_to: host
    table: hosts
    column: [host_id, host_region]
    primary_key: [id, region]
    fields: [{text: name}]
  - many_to_many: tags
    table: tags
    primary_key: [tag_id, lang]
    through: {table: listing_tags, left_key: [listing_id, night], right_key: [tag_id, lang]}
    fields: [{text: label}]
  - ids: booking_ids
    table: bookings
    foreign_key: [listing_id, night]
    primary_key: id
    element_type: long
`)
	validateEqual(t, "root key", s.PrimaryKey, []string{"listing_id", "night"})
	host := validateField(t, s, "host").Relation
	validateEqual(t, "belongs_to column", host.Column, []string{"host_id", "host_region"})
	validateEqual(t, "belongs_to primary_key", host.PrimaryKey, []string{"id", "region"})
	tags := validateField(t, s, "tags").Relation
	validateEqual(t, "through", *tags.Through, Through{Table: TableRef{Schema: "public", Name: "listing_tags"}, LeftKey: []string{"listing_id", "night"}, RightKey: []string{"tag_id", "lang"}})
	ids := validateField(t, s, "booking_ids").Aggregate
	validateEqual(t, "ids foreign_key", ids.ForeignKey, []string{"listing_id", "night"})
	validateEqual(t, "ids primary_key", ids.PrimaryKey, []string{"id"})
	validateEqual(t, "ids element type", ids.ResultType, TypeLong)
}

func TestValidateSchemaMergeKeysAndAnchors(t *testing.T) {
	s := validateParse(t, `
version: 1
table: users
primary_key: id
fields:
  - keyword: email
    transforms: &clean [trim, lowercase]
  - keyword: login
    transforms: *clean
  - count: orders
    <<: &by_user {table: orders, foreign_key: user_id}
  - sum: spent
    <<: *by_user
    table: payments
    column: amount
    value_type: decimal
`)
	validateEqual(t, "alias of a list", validateField(t, s, "login").Transforms, []Transform{TransformTrim, TransformLowercase})
	orders := validateField(t, s, "orders").Aggregate
	validateEqual(t, "merged table", orders.Table.Name, "orders")
	validateEqual(t, "merged foreign_key", orders.ForeignKey, []string{"user_id"})
	spent := validateField(t, s, "spent").Aggregate
	validateEqual(t, "an explicit key wins over a merged one", spent.Table.Name, "payments")
	validateEqual(t, "the other merged key stays", spent.ForeignKey, []string{"user_id"})
}

func TestValidateSchemaModelValues(t *testing.T) {
	s := validateParse(t, validateRoot(`
filters:
  - { column: " Tier ", op: in, value: [free, 2, true] }
  - { raw: "score > 0" }
soft_delete:
  field: account.deleted
`))
	validateEqual(t, "filters", s.Filters, []Filter{{Column: "tier", Op: OpIn, Value: []any{"free", int64(2), true}}, {Raw: "score > 0"}})
	validateEqual(t, "soft_delete", *s.SoftDelete, SoftDelete{Field: "account.deleted"})

	s = validateParse(t, validateFields(`
  - enum: tier
    variants: [free, pro]
    default: free
  - geo: location
    column: " Point "
  - constant: version
    value: 0
  - custom: amount
    postgres: [" NUMERIC "]
    opensearch: scaled_float
  - ids: tag_ids
    table: tags
    foreign_key: user_id
    element_type: uuid`))
	tier := validateField(t, s, "tier")
	validateEqual(t, "variants", tier.Variants, []string{"free", "pro"})
	validateEqual(t, "enum default", []any{tier.Default, tier.HasDefault}, []any{"free", true})
	validateEqual(t, "geo column", *validateField(t, s, "location").Geo, GeoSource{Column: "point"})
	validateEqual(t, "constant keeps its zero value", validateField(t, s, "version").Value, int64(0))
	validateEqual(t, "custom type", *validateField(t, s, "amount").Custom, CustomType{Postgres: []string{"numeric"}, OpenSearch: "scaled_float"})
	validateEqual(t, "ids element type", validateField(t, s, "tag_ids").Type, TypeUUID)
}
