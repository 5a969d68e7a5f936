package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Validation rules of flusso.toml: one named case per rule. Outside TOML
// syntax errors a diagnostic has no line (the TOML decoder keeps none), so
// these cases assert the file and the key path.

const (
	validateConfigDir  = "/etc/flusso"
	validateConfigFile = validateConfigDir + "/flusso.toml"

	validateSource = `[source]
type = "postgres"
connection_url = "postgres://app@127.0.0.1:5432/shop"
`
	validateIndex = `[[index]]
name = "users"
schema = "users.schema.yml"
`
)

// validateSchemas are the schema files next to the config.
var validateSchemas = map[string]string{
	"users.schema.yml":  "version: 1\ntable: users\nfields:\n  - keyword: email\n",
	"orders.schema.yml": "version: 1\ntable: orders\nfields:\n  - long: id\n",
	"broken.schema.yml": "version: 1\ntable: users\nfields:\n  - keyword: email\n    required: maybe\n",
	"users.yaml":        "version: 1\ntable: users\nfields:\n  - keyword: email\n",
}

// validateConfig is a config with top-level keys top, a valid source and one
// index, then the tables of rest.
func validateConfig(top, rest string) string {
	return top + "\n" + validateSource + validateIndex + rest
}

func validateLoad(toml string, env, flags map[string]string) (*Config, Diagnostics) {
	read := func(path string) ([]byte, error) {
		name, ok := strings.CutPrefix(path, validateConfigDir+"/")
		if data, found := validateSchemas[name]; ok && found {
			return []byte(data), nil
		}
		return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
	}
	return Parse(validateConfigFile, []byte(toml), Options{Env: envOf(env), Flags: flags}, read)
}

// validateLoadOK loads a config that must load without any diagnostic.
func validateLoadOK(t *testing.T, toml string, env, flags map[string]string) *Config {
	t.Helper()
	cfg, diags := validateLoad(toml, env, flags)
	validateNoDiags(t, diags)
	if cfg == nil {
		t.Fatal("Parse returned no config and no diagnostic")
	}
	return cfg
}

type validateConfigCase struct {
	name  string
	toml  string
	env   map[string]string
	flags map[string]string
	want  validateWant
	n     int // the number of diagnostics in all; 0 means 1
}

func validateRunConfig(t *testing.T, cases []validateConfigCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, diags := validateLoad(c.toml, c.env, c.flags)
			w := c.want
			if w.file == "" {
				w.file = validateConfigFile
			}
			n := c.n
			if n == 0 {
				n = 1
			}
			validateExpect(t, diags, w, n)
			switch {
			case diags.Err() != nil && cfg != nil:
				t.Errorf("Parse returned a config along with errors")
			case diags.Err() == nil && cfg == nil:
				t.Errorf("Parse returned no config for warnings only")
			}
		})
	}
}

func TestValidateConfigSyntax(t *testing.T) {
	validateRunConfig(t, []validateConfigCase{
		{name: "newline in a string", toml: "prefix = \"dev\n" + validateSource,
			want: validateWant{line: 1, col: 14, msg: "invalid TOML: toml: basic strings cannot have new lines"}},
		{name: "missing value", toml: "[source]\ntype = \"postgres\"\nconnection_url = \n",
			want: validateWant{line: 3, col: 18, msg: "invalid TOML: toml: unexpected character U+000A at start of value"}},
		{name: "bare word", toml: "[source]\ntype = postgres\n",
			want: validateWant{line: 2, col: 8, msg: "invalid TOML: toml: unexpected character U+0070 'p' at start of value"}},
		{name: "key given twice", toml: "prefix = \"a\"\nprefix = \"b\"\n" + validateSource + validateIndex,
			want: validateWant{line: 2, col: 1, path: "prefix", msg: "invalid TOML: toml: key prefix is already defined"}},
		{name: "integer too large", toml: validateConfig("", "[indexer]\nbatch_size = 99999999999999999999\n"),
			want: validateWant{line: 9, col: 14, msg: "decimal number is too large to fit in a 64-bit signed integer"}},
	})
}

func TestValidateConfigUnknownKeys(t *testing.T) {
	validateRunConfig(t, []validateConfigCase{
		{name: "top level misspelt", toml: validateConfig(`prefx = "dev_"`, ""),
			want: validateWant{path: "prefx", msg: `unknown key "prefx" in flusso.toml`, hint: `did you mean "prefix"?`}},
		{name: "top level unknown", toml: validateConfig(`zzz = 1`, ""),
			want: validateWant{path: "zzz", msg: `unknown key "zzz" in flusso.toml`, hint: `expected one of "capture", "index", "indexer", "nats", "on_error", "prefix", "server", "sink_tls", "sinks", "source", "status"`}},
		{name: "top level table misspelt", toml: validateConfig("", "[indexr]\nbatch_size = 1\n"),
			want: validateWant{path: "indexr", msg: `unknown key "indexr" in flusso.toml`, hint: `did you mean "index"?`}},
		{name: "[source]", toml: validateConfig("", "") + "[source.extra]\n",
			want: validateWant{path: "source.extra", msg: `unknown key "extra" in [source]`, hint: `expected one of "connection_url", "manage_publication", "type"`}},
		{name: "[source] misspelt", toml: "[source]\ntype = \"postgres\"\nconection_url = \"postgres://h/db\"\n" + validateIndex,
			want: validateWant{path: "source.conection_url", msg: `unknown key "conection_url" in [source]`, hint: `did you mean "connection_url"?`}},
		{name: "[server]", toml: validateConfig("", "[server]\npublic_adress = \"0.0.0.0:9464\"\n"),
			want: validateWant{path: "server.public_adress", msg: `unknown key "public_adress" in [server]`, hint: `did you mean "public_address"?`}},
		{name: "[nats]", toml: validateConfig("", "[nats]\nur = \"nats://h:4222\"\n"),
			want: validateWant{path: "nats.ur", msg: `unknown key "ur" in [nats]`, hint: `did you mean "url"?`}},
		{name: "[capture]", toml: validateConfig("", "[capture]\nslott = \"main\"\n"),
			want: validateWant{path: "capture.slott", msg: `unknown key "slott" in [capture]`, hint: `did you mean "slot"?`}},
		{name: "[indexer]", toml: validateConfig("", "[indexer]\nbatch_sise = 3\n"),
			want: validateWant{path: "indexer.batch_sise", msg: `unknown key "batch_sise" in [indexer]`, hint: `did you mean "batch_size"?`}},
		{name: "connection parts", toml: "[source]\ntype = \"postgres\"\nconnection_url = { usr = \"app\", database = \"shop\" }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.usr", msg: `unknown key "usr" in the connection parts`, hint: `did you mean "user"?`}},
		{name: "environment reference", toml: "[source]\ntype = \"postgres\"\nconnection_url = { env = \"DB\", default = \"x\" }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.default", msg: `unknown key "default" in an environment reference`, hint: `expected one of "env"`}},
		{name: "opensearch sink", toml: validateConfig("", "[sinks.search]\ntype = \"opensearch\"\nbach_size = 5\n"),
			want: validateWant{path: "sinks.search.bach_size", msg: `unknown key "bach_size" in an opensearch sink`, hint: `did you mean "batch_size"?`}},
		{name: "stdout sink", toml: validateConfig("", "[sinks.out]\ntype = \"stdout\"\nprety = true\n"),
			want: validateWant{path: "sinks.out.prety", msg: `unknown key "prety" in a stdout sink`, hint: `did you mean "pretty"?`}},
		{name: "opensearch key on a stdout sink", toml: validateConfig("", "[sinks.out]\ntype = \"stdout\"\nbatch_size = 5\n"),
			want: validateWant{path: "sinks.out.batch_size", msg: `unknown key "batch_size" in a stdout sink`, hint: `expected one of "pretty", "type"`}},
		{name: "[[index]]", toml: validateConfig("", "") + "enable = false\n",
			want: validateWant{path: "index[0].enable", msg: `unknown key "enable" in an [[index]]`, hint: `did you mean "enabled"?`}},
	})
}

func TestValidateConfigSource(t *testing.T) {
	validateRunConfig(t, []validateConfigCase{
		{name: "missing [source]", toml: validateIndex,
			want: validateWant{path: "source", msg: `missing the [source] table (type = "postgres" and connection_url)`}},
		{name: "source not a table", toml: "source = \"postgres://h/db\"\n" + validateIndex,
			want: validateWant{path: "source", msg: `expected a table, found the string "postgres://h/db"`}},
		{name: "type missing", toml: "[source]\nconnection_url = \"postgres://h/db\"\n" + validateIndex,
			want: validateWant{path: "source.type", msg: `missing: the only source type is "postgres"`}},
		{name: "type misspelt", toml: "[source]\ntype = \"postgress\"\n" + validateIndex,
			want: validateWant{path: "source.type", msg: `unknown source type "postgress"`, hint: `did you mean "postgres"?`}},
		{name: "type unknown", toml: "[source]\ntype = \"mysql\"\n" + validateIndex,
			want: validateWant{path: "source.type", msg: `unknown source type "mysql"`, hint: `the only source type is "postgres"`}},
		{name: "type not a string", toml: "[source]\ntype = 5\n" + validateIndex,
			want: validateWant{path: "source.type", msg: `expected "postgres", found the number 5`}},
		{name: "manage_publication not a boolean", toml: validateSource + "manage_publication = \"yes\"\n" + validateIndex,
			want: validateWant{path: "source.manage_publication", msg: `expected true or false, found the string "yes"`}},
		{name: "URL of another scheme", toml: "[source]\ntype = \"postgres\"\nconnection_url = \"mysql://app@h/shop\"\n" + validateIndex,
			want: validateWant{path: "source.connection_url", msg: "expected a postgres:// or postgresql:// URL", hint: "e.g. postgres://user@127.0.0.1:5432/shop"}},
		{name: "URL with a space", toml: "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://app@h/my shop\"\n" + validateIndex,
			want: validateWant{path: "source.connection_url", msg: "expected a postgres:// or postgresql:// URL"}},
		{name: "URL of a number", toml: "[source]\ntype = \"postgres\"\nconnection_url = 5432\n" + validateIndex,
			want: validateWant{path: "source.connection_url", msg: `expected a URL string, { env = "VAR" } or a table of parts, found the number 5432`}},
		{name: "env name blank", toml: "[source]\ntype = \"postgres\"\nconnection_url = { env = \" \" }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.env", msg: "expected the name of an environment variable"}},
		{name: "env name not a string", toml: "[source]\ntype = \"postgres\"\nconnection_url = { env = 1 }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.env", msg: "expected the name of an environment variable"}},
		{name: "parts without database", toml: "[source]\ntype = \"postgres\"\nconnection_url = { host = \"db\" }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.database", msg: "missing: the parts form needs the database name"}},
		{name: "parts port above range", toml: "[source]\ntype = \"postgres\"\nconnection_url = { database = \"shop\", port = 70000 }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.port", msg: "expected a port number between 1 and 65535, found the number 70000"}},
		{name: "parts port zero", toml: "[source]\ntype = \"postgres\"\nconnection_url = { database = \"shop\", port = 0 }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.port", msg: "expected a port number between 1 and 65535, found the number 0"}},
		{name: "parts port a string", toml: "[source]\ntype = \"postgres\"\nconnection_url = { database = \"shop\", port = \"5432\" }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.port", msg: `expected a port number between 1 and 65535, found the string "5432"`}},
		{name: "parts host not a string", toml: "[source]\ntype = \"postgres\"\nconnection_url = { database = \"shop\", host = 10 }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.host", msg: "expected a string, found the number 10"}},
		{name: "parts password not a secret", toml: "[source]\ntype = \"postgres\"\nconnection_url = { database = \"shop\", password = 1234 }\n" + validateIndex,
			want: validateWant{path: "source.connection_url.password", msg: `expected a string or { env = "VAR" }, found the number 1234`}},
	})
}

func TestValidateConfigSinks(t *testing.T) {
	search := "[sinks.search]\ntype = \"opensearch\"\n"
	validateRunConfig(t, []validateConfigCase{
		{name: "sinks not a table", toml: "sinks = 3\n" + validateSource + validateIndex,
			want: validateWant{path: "sinks", msg: "expected a table, found the number 3"}},
		{name: "sink not a table", toml: "sinks = { out = 5 }\n" + validateSource + validateIndex,
			want: validateWant{path: "sinks.out", msg: "expected a table, found the number 5"}},
		{name: "sink name not an identifier", toml: validateConfig("", "[sinks.\"search-1\"]\ntype = \"stdout\"\n"),
			want: validateWant{path: "sinks.search-1", msg: `sink name: "search-1" is not a valid identifier`}},
		{name: "type missing", toml: validateConfig("", "[sinks.out]\npretty = true\n"),
			want: validateWant{path: "sinks.out.type", msg: `missing: "opensearch" or "stdout"`}},
		{name: "type misspelt", toml: validateConfig("", "[sinks.search]\ntype = \"opensearh\"\n"),
			want: validateWant{path: "sinks.search.type", msg: `unknown sink type "opensearh"`, hint: `did you mean "opensearch"?`}},
		{name: "type unknown", toml: validateConfig("", "[sinks.search]\ntype = \"kafka\"\n"),
			want: validateWant{path: "sinks.search.type", msg: `unknown sink type "kafka"`, hint: `expected "opensearch" or "stdout"`}},
		{name: "type not a string", toml: validateConfig("", "[sinks.search]\ntype = 5\n"),
			want: validateWant{path: "sinks.search.type", msg: "unknown sink type the number 5", hint: `expected "opensearch" or "stdout"`}},
		{name: "pretty not a boolean", toml: validateConfig("", "[sinks.out]\ntype = \"stdout\"\npretty = 1\n"),
			want: validateWant{path: "sinks.out.pretty", msg: "expected true or false, found the number 1"}},
		{name: "url without scheme", toml: validateConfig("", search+"url = \"127.0.0.1:9200\"\n"),
			want: validateWant{path: "sinks.search.url", msg: "expected an http:// or https:// URL", hint: "e.g. http://127.0.0.1:9200"}},
		{name: "url not a secret", toml: validateConfig("", search+"url = 9200\n"),
			want: validateWant{path: "sinks.search.url", msg: `expected a string or { env = "VAR" }, found the number 9200`}},
		{name: "username not a secret", toml: validateConfig("", search+"username = true\n"),
			want: validateWant{path: "sinks.search.username", msg: `expected a string or { env = "VAR" }, found the boolean true`}},
		{name: "password env misspelt", toml: validateConfig("", search+"password = { nv = \"OS_PASSWORD\" }\n"),
			want: validateWant{path: "sinks.search.password.nv", msg: `unknown key "nv" in an environment reference`, hint: `did you mean "env"?`}, n: 2},
		{name: "batch_size zero", toml: validateConfig("", search+"batch_size = 0\n"),
			want: validateWant{path: "sinks.search.batch_size", msg: "expected a whole number from 1 to 2147483647, found the number 0"}},
		{name: "max_bytes negative", toml: validateConfig("", search+"max_bytes = -1\n"),
			want: validateWant{path: "sinks.search.max_bytes", msg: "expected a whole number from 1 to 2147483647, found the number -1"}},
		{name: "max_retries negative", toml: validateConfig("", search+"max_retries = -1\n"),
			want: validateWant{path: "sinks.search.max_retries", msg: "expected a whole number from 0 to 2147483647, found the number -1"}},
		{name: "number_of_shards zero", toml: validateConfig("", search+"number_of_shards = 0\n"),
			want: validateWant{path: "sinks.search.number_of_shards", msg: "expected a whole number from 1 to 2147483647, found the number 0"}},
		{name: "number_of_replicas a string", toml: validateConfig("", search+"number_of_replicas = \"1\"\n"),
			want: validateWant{path: "sinks.search.number_of_replicas", msg: `expected a whole number from 0 to 2147483647, found the string "1"`}},
		{name: "batch_size a fraction", toml: validateConfig("", search+"batch_size = 1.5\n"),
			want: validateWant{path: "sinks.search.batch_size", msg: "expected a whole number from 1 to 2147483647, found the number 1.5"}},
		{name: "timeout_secs zero", toml: validateConfig("", search+"timeout_secs = 0\n"),
			want: validateWant{path: "sinks.search.timeout_secs", msg: "expected a number of seconds from 1 to 86400, found the number 0"}},
		{name: "tls_verify not a boolean", toml: validateConfig("", search+"tls_verify = \"no\"\n"),
			want: validateWant{path: "sinks.search.tls_verify", msg: `expected true or false, found the string "no"`}},
		{name: "auto_subfields not a boolean", toml: validateConfig("", search+"auto_subfields = 1\n"),
			want: validateWant{path: "sinks.search.auto_subfields", msg: "expected true or false, found the number 1"}},
		{name: "pipeline not a string", toml: validateConfig("", search+"pipeline = 3\n"),
			want: validateWant{path: "sinks.search.pipeline", msg: "expected a string, found the number 3"}},
		{name: "refresh_interval in words", toml: validateConfig("", search+"refresh_interval = \"10 seconds\"\n"),
			want: validateWant{path: "sinks.search.refresh_interval", msg: `"10 seconds" is not an OpenSearch time value`, hint: `e.g. "1s", "30s" or "-1" to disable`}},
		{name: "refresh_interval without unit", toml: validateConfig("", search+"refresh_interval = \"10\"\n"),
			want: validateWant{path: "sinks.search.refresh_interval", msg: `"10" is not an OpenSearch time value`}},
		{name: "text_analysis misspelt", toml: validateConfig("", search+"text_analysis = \"icuu\"\n"),
			want: validateWant{path: "sinks.search.text_analysis", msg: `unknown text analysis "icuu"`, hint: `did you mean "icu"?`}},
		{name: "text_analysis unknown", toml: validateConfig("", search+"text_analysis = \"standard_analyzer\"\n"),
			want: validateWant{path: "sinks.search.text_analysis", msg: `unknown text analysis "standard_analyzer"`, hint: `expected "builtin" or "icu"`}},
	})
}

func TestValidateConfigIndexes(t *testing.T) {
	validateRunConfig(t, []validateConfigCase{
		{name: "no index", toml: validateSource,
			want: validateWant{path: "index", msg: "no index is configured", hint: "add an [[index]] with name and schema"}},
		{name: "index not an array", toml: "index = 5\n" + validateSource,
			want: validateWant{path: "index", msg: "expected an array of tables ([[index]]), found the number 5"}},
		{name: "index entry not a table", toml: "index = [5]\n" + validateSource,
			want: validateWant{path: "index[0]", msg: "expected a table, found the number 5"}},
		{name: "name missing", toml: validateSource + "[[index]]\nschema = \"users.schema.yml\"\n",
			want: validateWant{path: "index[0].name", msg: "missing: every index needs a name"}},
		{name: "name not an identifier", toml: validateSource + "[[index]]\nname = \"user-list\"\nschema = \"users.schema.yml\"\n",
			want: validateWant{path: "index[0].name", msg: `"user-list" is not a valid identifier`}},
		{name: "name longer than 63 bytes", toml: validateSource + "[[index]]\nname = \"" + strings.Repeat("u", 64) + "\"\nschema = \"users.schema.yml\"\n",
			want: validateWant{path: "index[0].name", msg: "is longer than 63 bytes"}},
		{name: "name declared twice after normalisation", toml: validateSource + validateIndex + "[[index]]\nname = \" Users \"\nschema = \"orders.schema.yml\"\n",
			want: validateWant{path: "index[1] (users).name", msg: `index "users" is declared twice`}},
		{name: "schema missing", toml: validateSource + "[[index]]\nname = \"users\"\n",
			want: validateWant{path: "index[0] (users).schema", msg: "missing: the path of the index's *.schema.yml"}},
		{name: "schema not YAML", toml: validateSource + "[[index]]\nname = \"users\"\nschema = \"users.json\"\n",
			want: validateWant{path: "index[0] (users).schema", msg: `"users.json" is not a .yml or .yaml file`}},
		{name: "schema file unreadable", toml: validateSource + "[[index]]\nname = \"users\"\nschema = \"missing.schema.yml\"\n",
			want: validateWant{file: validateConfigDir + "/missing.schema.yml", path: "users", msg: `cannot read the schema of index "users": file not found`}},
		{name: "schema errors name the schema file and the index", toml: validateSource + "[[index]]\nname = \"users\"\nschema = \"broken.schema.yml\"\n",
			want: validateWant{file: validateConfigDir + "/broken.schema.yml", line: 5, col: 15, path: "users.email.required", msg: `expected true or false, found the string "maybe"`}},
		{name: "enabled not a boolean", toml: validateConfig("", "") + "enabled = \"yes\"\n",
			want: validateWant{path: "index[0] (users).enabled", msg: `expected true or false, found the string "yes"`}},
		{name: "on_error misspelt", toml: validateConfig("", "") + "on_error = \"skp\"\n",
			want: validateWant{path: "index[0] (users).on_error", msg: `unknown policy "skp"`, hint: `did you mean "skip"?`}},
		{name: "on_error not a string", toml: validateConfig("", "") + "on_error = true\n",
			want: validateWant{path: "index[0] (users).on_error", msg: "unknown policy the boolean true", hint: `expected "stop" or "skip"`}},
		{name: "every index disabled", toml: validateConfig("", "") + "enabled = false\n",
			want: validateWant{sev: SeverityWarning, path: "index", msg: "every index is disabled: the pipeline has nothing to do"}},
	})
}

func TestValidateConfigPrefix(t *testing.T) {
	cases := []validateConfigCase{
		{name: "longer than 50 bytes", toml: validateConfig(`prefix = "`+strings.Repeat("p", 51)+`"`, ""),
			want: validateWant{path: "prefix", msg: "is longer than 50 bytes"}},
		{name: "upper case", toml: validateConfig(`prefix = "Dev_"`, ""),
			want: validateWant{path: "prefix", msg: `"Dev_" must be lower case (OpenSearch index names are)`}},
		{name: "starts with an underscore", toml: validateConfig(`prefix = "_dev"`, ""),
			want: validateWant{path: "prefix", msg: `"_dev" must start with a letter or a digit`}},
		{name: "starts with a dash", toml: validateConfig(`prefix = "-dev"`, ""),
			want: validateWant{path: "prefix", msg: `"-dev" must start with a letter or a digit`}},
		{name: "starts with a dot", toml: validateConfig(`prefix = ".dev"`, ""),
			want: validateWant{path: "prefix", msg: `".dev" must start with a letter or a digit`}},
		{name: "not a string", toml: validateConfig(`prefix = 5`, ""),
			want: validateWant{path: "prefix", msg: "expected a string, found the number 5"}},
		{name: "from the environment", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_INDEX_PREFIX": "Dev_"},
			want: validateWant{path: "FLUSSO_INDEX_PREFIX", msg: `prefix "Dev_" must be lower case`}},
	}
	for _, c := range strings.Split(` ,:"*+/\|?#<>`, "") {
		p := "dev" + c + "x"
		cases = append(cases, validateConfigCase{
			name: fmt.Sprintf("forbidden %q", c), toml: validateConfig(fmt.Sprintf("prefix = %q", p), ""),
			want: validateWant{path: "prefix", msg: fmt.Sprintf("%q contains a character OpenSearch forbids in index names", p)},
		})
	}
	validateRunConfig(t, cases)
}

func TestValidateConfigSettings(t *testing.T) {
	validateRunConfig(t, []validateConfigCase{
		{name: "file: integer as a string", toml: validateConfig("", "[indexer]\nbatch_size = \"10\"\n"),
			want: validateWant{path: "indexer.batch_size", msg: `expected an integer, found the string "10"`}},
		{name: "file: integer as a fraction", toml: validateConfig("", "[nats]\nstream_replicas = 1.5\n"),
			want: validateWant{path: "nats.stream_replicas", msg: "expected an integer, found the number 1.5"}},
		{name: "file: below the minimum of 1", toml: validateConfig("", "[indexer]\nconcurrency = 0\n"),
			want: validateWant{path: "indexer.concurrency", msg: "must be at least 1, found 0"}},
		{name: "file: below the minimum of -1", toml: validateConfig("", "[indexer]\nmax_deliver = -2\n"),
			want: validateWant{path: "indexer.max_deliver", msg: "must be at least -1, found -2"}},
		{name: "file: nats.max_bytes below -1", toml: validateConfig("", "[nats]\nmax_bytes = -5\n"),
			want: validateWant{path: "nats.max_bytes", msg: "must be at least -1, found -5"}},
		{name: "file: duration as a number", toml: validateConfig("", "[indexer]\nbatch_wait = 5\n"),
			want: validateWant{path: "indexer.batch_wait", msg: `expected a duration such as "10s" or "5m", found the number 5`}},
		{name: "file: duration with a space", toml: validateConfig("", "[capture]\nlag_interval = \"10 s\"\n"),
			want: validateWant{path: "capture.lag_interval", msg: `expected a duration such as "10s" or "5m", found "10 s"`}},
		{name: "file: negative duration", toml: validateConfig("", "[indexer]\nack_wait = \"-1s\"\n"),
			want: validateWant{path: "indexer.ack_wait", msg: `found "-1s"`}},
		{name: "file: enum", toml: validateConfig(`on_error = "abort"`, ""),
			want: validateWant{path: "on_error", msg: `expected one of "skip", "stop", found "abort"`}},
		{name: "file: identifier", toml: validateConfig("", "[capture]\nslot = \"my slot\"\n"),
			want: validateWant{path: "capture.slot", msg: `"my slot" is not a valid identifier`}},
		{name: "file: string as a number", toml: validateConfig("", "[nats]\nurl = 7\n"),
			want: validateWant{path: "nats.url", msg: "expected a string, found the number 7"}},
		{name: "file: table not a table", toml: "server = 5\n" + validateSource + validateIndex,
			want: validateWant{path: "server", msg: "expected a table, found the number 5"}},
		{name: "env: integer", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_INDEXER_BATCH_SIZE": "abc"},
			want: validateWant{path: "FLUSSO_INDEXER_BATCH_SIZE", msg: `expected an integer, found "abc"`}},
		{name: "env: minimum", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_CAPTURE_PUBLISH_WINDOW": "0"},
			want: validateWant{path: "FLUSSO_CAPTURE_PUBLISH_WINDOW", msg: "must be at least 1, found 0"}},
		{name: "env: duration", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_NATS_MAX_AGE": "a week"},
			want: validateWant{path: "FLUSSO_NATS_MAX_AGE", msg: `expected a duration such as "10s" or "5m", found "a week"`}},
		{name: "env: enum", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_ON_ERROR": "ignore"},
			want: validateWant{path: "FLUSSO_ON_ERROR", msg: `expected one of "skip", "stop", found "ignore"`}},
		{name: "env: identifier", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_NATS_PIPELINE": "9lives"},
			want: validateWant{path: "FLUSSO_NATS_PIPELINE", msg: `"9lives" is not a valid identifier`}},
		{name: "flag: integer", toml: validateConfig("", ""), flags: map[string]string{"indexer.batch_size": "many"},
			want: validateWant{path: "--indexer-batch-size", msg: `expected an integer, found "many"`}},
		{name: "flag: minimum", toml: validateConfig("", ""), flags: map[string]string{"nats.stream_replicas": "0"},
			want: validateWant{path: "--nats-stream-replicas", msg: "must be at least 1, found 0"}},
		{name: "flag: duration", toml: validateConfig("", ""), flags: map[string]string{"capture.standby_retry": "5"},
			want: validateWant{path: "--capture-standby-retry", msg: `expected a duration such as "10s" or "5m", found "5"`}},
		{name: "flag: enum", toml: validateConfig("", ""), flags: map[string]string{"on_error": "Skip"},
			want: validateWant{path: "--on-error", msg: `expected one of "skip", "stop", found "Skip"`}},
		{name: "flag: identifier", toml: validateConfig("", ""), flags: map[string]string{"capture.publication": "pub-1"},
			want: validateWant{path: "--capture-publication", msg: `"pub-1" is not a valid identifier`}},
		{name: "flag wins over a bad file value", toml: validateConfig("", "[indexer]\nbatch_size = 1\n"), flags: map[string]string{"indexer.batch_size": "-1"},
			want: validateWant{path: "--indexer-batch-size", msg: "must be at least 1, found -1"}},
		{name: "same public and private address", toml: validateConfig("", "[server]\npublic_address = \"0.0.0.0:9000\"\nprivate_address = \"0.0.0.0:9000\"\n"),
			want: validateWant{path: "server", msg: "public_address and private_address are both 0.0.0.0:9000: the private surface needs its own address"}},
		{name: "public address on the default private one", toml: validateConfig("", "[server]\npublic_address = \"127.0.0.1:9465\"\n"),
			want: validateWant{path: "server", msg: "public_address and private_address are both 127.0.0.1:9465"}},
		{name: "same addresses from the environment", toml: validateConfig("", ""), env: map[string]string{"FLUSSO_SERVER_PRIVATE_ADDRESS": "127.0.0.1:9464"},
			want: validateWant{path: "server", msg: "public_address and private_address are both 127.0.0.1:9464"}},
	})
}

// TestValidateConfigAccepts is the positive side of the rules above.
func TestValidateConfigAccepts(t *testing.T) {
	cases := []struct{ name, toml string }{
		{"postgresql scheme", "[source]\ntype = \"postgres\"\nconnection_url = \"postgresql://app:secret@db:5432/shop?sslmode=require\"\n" + validateIndex},
		{"connection from the environment", "[source]\ntype = \"postgres\"\nconnection_url = { env = \"SHOP_DATABASE_URL\" }\n" + validateIndex},
		{"no connection_url: DATABASE_URL at run time", "[source]\ntype = \"postgres\"\n" + validateIndex},
		{"parts at the port edges", "[source]\ntype = \"postgres\"\nconnection_url = { database = \"shop\", port = 65535, password = { env = \"PGPASSWORD\" } }\n" + validateIndex},
		{"every prefix character allowed", validateConfig(`prefix = "0dev-1_a.b"`, "")},
		{"prefix of 50 bytes", validateConfig(`prefix = "`+strings.Repeat("p", 50)+`"`, "")},
		{"refresh_interval -1", validateConfig("", "[sinks.search]\ntype = \"opensearch\"\nrefresh_interval = \"-1\"\n")},
		{"refresh_interval in ms", validateConfig("", "[sinks.search]\ntype = \"opensearch\"\nrefresh_interval = \"500ms\"\n")},
		{"zero retries and replicas", validateConfig("", "[sinks.search]\ntype = \"opensearch\"\nmax_retries = 0\nnumber_of_replicas = 0\n")},
		{"secrets from the environment", validateConfig("", "[sinks.search]\ntype = \"opensearch\"\nurl = { env = \"OS_URL\" }\nusername = { env = \"OS_USER\" }\npassword = { env = \"OS_PASSWORD\" }\n")},
		{"the minimums", validateConfig("", "[indexer]\nmax_deliver = -1\nconcurrency = 1\n[nats]\nmax_bytes = -1\nmax_age = \"0s\"\n")},
		{"empty nats.pipeline", validateConfig("", "[nats]\npipeline = \"\"\n")},
		{"one of two indexes disabled", validateConfig("", "enabled = false\n[[index]]\nname = \"orders\"\nschema = \"orders.schema.yml\"\n")},
		{"schema with .yaml extension", validateSource + "[[index]]\nname = \"users\"\nschema = \"users.yaml\"\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			validateLoadOK(t, c.toml, nil, nil)
		})
	}
}

func TestValidateConfigDefaults(t *testing.T) {
	cfg := validateLoadOK(t, validateConfig("", ""), nil, nil)

	validateEqual(t, "prefix", cfg.Prefix, "")
	validateEqual(t, "on_error", cfg.OnError, OnErrorStop)
	validateEqual(t, "source type", cfg.Source.Type, "postgres")
	validateEqual(t, "manage_publication", cfg.Source.ManagePublication, true)
	validateEqual(t, "server", cfg.Server, Server{PublicAddress: "127.0.0.1:9464", PrivateAddress: "127.0.0.1:9465"})
	validateEqual(t, "nats", cfg.NATS, NATS{DataDir: "flusso-data", Listen: "127.0.0.1:0", StreamReplicas: 1, MaxAge: Duration(168 * time.Hour), MaxBytes: -1, DuplicateWindow: Duration(2 * time.Minute)})
	validateEqual(t, "capture", cfg.Capture, Capture{Slot: "flusso", Publication: "flusso", LagInterval: Duration(10 * time.Second), PublishWindow: 4096, BackfillChunk: 5000, StandbyRetry: Duration(5 * time.Second)})
	validateEqual(t, "indexer", cfg.Indexer, Indexer{BatchSize: 500, BatchWait: Duration(250 * time.Millisecond), Concurrency: 2, AckWait: Duration(60 * time.Second), MaxAckPending: 10000, MaxDeliver: -1})
	validateEqual(t, "pipeline defaults to the slot", cfg.Pipeline(), "flusso")

	if len(cfg.Sinks) != 1 {
		t.Fatalf("no sinks: want one stdout sink, got %d sinks", len(cfg.Sinks))
	}
	validateEqual(t, "default sink", *cfg.Sinks[0], Sink{Name: "stdout", Type: SinkStdout, Stdout: &StdoutSink{}})

	if len(cfg.Indexes) != 1 {
		t.Fatalf("want one index, got %d", len(cfg.Indexes))
	}
	ix := cfg.Indexes[0]
	validateEqual(t, "index name", ix.Name, "users")
	validateEqual(t, "index enabled", ix.Enabled, true)
	validateEqual(t, "index on_error", ix.OnError, OnErrorStop)
	validateEqual(t, "schema path", ix.SchemaPath, validateConfigDir+"/users.schema.yml")
	if ix.Schema == nil || ix.Schema.Table.Name != "users" {
		t.Errorf("index schema not loaded: %+v", ix.Schema)
	}
}

func TestValidateConfigSinkValues(t *testing.T) {
	cfg := validateLoadOK(t, validateConfig("", `
[sinks.search]
type = "opensearch"
url = "https://admin:secret@search:9200"

[sinks.audit]
type = "stdout"
pretty = true

[sinks.tuned]
type = "opensearch"
tls_verify = false
batch_size = 50
max_bytes = 1024
timeout_secs = 5
max_retries = 0
pipeline = "enrich"
number_of_shards = 3
number_of_replicas = 0
refresh_interval = "1s"
text_analysis = "icu"
auto_subfields = false
`), nil, nil)
	names := make([]string, len(cfg.Sinks))
	for i, s := range cfg.Sinks {
		names[i] = s.Name
	}
	validateEqual(t, "sink names, sorted", names, []string{"audit", "search", "tuned"})
	validateEqual(t, "stdout sink", *cfg.Sinks[0].Stdout, StdoutSink{Pretty: true})

	search := cfg.Sinks[1].OpenSearch
	validateEqual(t, "defaults", []any{search.TLSVerify, search.BatchSize, search.MaxBytes, search.Timeout, search.MaxRetries, search.Pipeline, search.NumberOfShards, search.NumberOfReplicas, search.RefreshInterval, search.TextAnalysis, search.AutoSubfields},
		[]any{true, 1000, 10485760, Duration(30 * time.Second), 3, "", 1, 1, "10s", AnalysisBuiltin, true})
	validateEqual(t, "reserved variable of the url", search.URL.ReservedVar(), "SEARCH_OPENSEARCH_URL")
	if shown := search.URL.String(); strings.Contains(shown, "secret") {
		t.Errorf("the url shows its password: %s", shown)
	}

	tuned := cfg.Sinks[2].OpenSearch
	validateEqual(t, "explicit values", []any{tuned.TLSVerify, tuned.BatchSize, tuned.MaxBytes, tuned.Timeout, tuned.MaxRetries, tuned.Pipeline, tuned.NumberOfShards, tuned.NumberOfReplicas, tuned.RefreshInterval, tuned.TextAnalysis, tuned.AutoSubfields},
		[]any{false, 50, 1024, Duration(5 * time.Second), 0, "enrich", 3, 0, "1s", AnalysisICU, false})
}

func TestValidateConfigSinkNameNormalized(t *testing.T) {
	cfg := validateLoadOK(t, validateConfig("", "[sinks.\" Search \"]\ntype = \"opensearch\"\n"), nil, nil)
	validateEqual(t, "sink name trimmed and lower-cased", cfg.Sinks[0].Name, "search")
	validateEqual(t, "reserved variable", cfg.Sinks[0].OpenSearch.URL.ReservedVar(), "SEARCH_OPENSEARCH_URL")
}

func TestValidateConfigConnectionParts(t *testing.T) {
	cfg := validateLoadOK(t, `[source]
type = "postgres"
manage_publication = false
connection_url = { database = "my shop", password = "p@ss word" }
`+validateIndex, nil, nil)
	validateEqual(t, "manage_publication", cfg.Source.ManagePublication, false)
	p := cfg.Source.Connection.Parts
	validateEqual(t, "parts defaults", []any{p.Host, p.Port, p.User, p.Database}, []any{"127.0.0.1", 5432, "postgres", "my shop"})
	url, err := cfg.Source.Connection.Resolve(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	validateEqual(t, "assembled URL, percent-encoded", url, "postgres://postgres:p%40ss%20word@127.0.0.1:5432/my%20shop")
}

func TestValidateConfigIndexOnError(t *testing.T) {
	toml := validateConfig(`on_error = "skip"`, `on_error = "stop"
[[index]]
name = "orders"
schema = "orders.schema.yml"
`)
	cfg := validateLoadOK(t, toml, nil, nil)
	validateEqual(t, "global", cfg.OnError, OnErrorSkip)
	validateEqual(t, "override", cfg.Index("users").OnError, OnErrorStop)
	validateEqual(t, "inherited", cfg.Index("orders").OnError, OnErrorSkip)

	cfg = validateLoadOK(t, validateConfig("", ""), map[string]string{"FLUSSO_ON_ERROR": "skip"}, nil)
	validateEqual(t, "inherited from the environment", cfg.Index("users").OnError, OnErrorSkip)
}

func TestValidateConfigWarningStillLoads(t *testing.T) {
	cfg, diags := validateLoad(validateConfig("", "enabled = false\n"), nil, nil)
	if cfg == nil || len(diags.Warnings()) != 1 || diags.Err() != nil {
		t.Fatalf("want a config and one warning\nseen:\n%s", validateSeen(diags))
	}
	validateEqual(t, "disabled", cfg.Indexes[0].Enabled, false)
}

// TestValidateSettingsPrecedence: flag > environment > file > default.
func TestValidateSettingsPrecedence(t *testing.T) {
	cases := []struct {
		name  string
		file  string // lines of [indexer]
		env   map[string]string
		flags map[string]string
		want  any
		get   func(*Config) any
	}{
		{name: "default", want: 500, get: func(c *Config) any { return c.Indexer.BatchSize }},
		{name: "file over default", file: "batch_size = 100", want: 100, get: func(c *Config) any { return c.Indexer.BatchSize }},
		{name: "env over file", file: "batch_size = 100", env: map[string]string{"FLUSSO_INDEXER_BATCH_SIZE": " 200 "}, want: 200,
			get: func(c *Config) any { return c.Indexer.BatchSize }},
		{name: "flag over env", file: "batch_size = 100", env: map[string]string{"FLUSSO_INDEXER_BATCH_SIZE": "200"}, flags: map[string]string{"indexer.batch_size": "300"}, want: 300,
			get: func(c *Config) any { return c.Indexer.BatchSize }},
		{name: "duration from env", file: `batch_wait = "1s"`, env: map[string]string{"FLUSSO_INDEXER_BATCH_WAIT": "2s"}, want: Duration(2 * time.Second),
			get: func(c *Config) any { return c.Indexer.BatchWait }},
		{name: "duration from flag", env: map[string]string{"FLUSSO_INDEXER_BATCH_WAIT": "2s"}, flags: map[string]string{"indexer.batch_wait": "1m30s"}, want: Duration(90 * time.Second),
			get: func(c *Config) any { return c.Indexer.BatchWait }},
		{name: "prefix from FLUSSO_INDEX_PREFIX", env: map[string]string{"FLUSSO_INDEX_PREFIX": "staging_"}, want: "staging_",
			get: func(c *Config) any { return c.Prefix }},
		{name: "prefix from --index-prefix", env: map[string]string{"FLUSSO_INDEX_PREFIX": "staging_"}, flags: map[string]string{"prefix": "dev_"}, want: "dev_",
			get: func(c *Config) any { return c.Prefix }},
		{name: "identifier normalised", flags: map[string]string{"capture.slot": " Main_Slot "}, want: "main_slot",
			get: func(c *Config) any { return c.Capture.Slot }},
		{name: "pipeline follows the slot", env: map[string]string{"FLUSSO_CAPTURE_SLOT": "blue"}, want: "blue",
			get: func(c *Config) any { return c.Pipeline() }},
		{name: "address from env", env: map[string]string{"FLUSSO_SERVER_PUBLIC_ADDRESS": "0.0.0.0:80"}, want: "0.0.0.0:80",
			get: func(c *Config) any { return c.Server.PublicAddress }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := validateLoadOK(t, validateConfig("", "[indexer]\n"+c.file+"\n"), c.env, c.flags)
			validateEqual(t, c.name, c.get(cfg), c.want)
		})
	}
}

// Port 0 on both surfaces asks for two free ports: not the same address.
func TestValidateConfigFreePorts(t *testing.T) {
	cfg := validateLoadOK(t, validateConfig("", "[server]\npublic_address = \"127.0.0.1:0\"\nprivate_address = \"127.0.0.1:0\"\n"), nil, nil)
	validateEqual(t, "server", cfg.Server, Server{PublicAddress: "127.0.0.1:0", PrivateAddress: "127.0.0.1:0"})
}
