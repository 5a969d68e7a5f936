package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The parsers never panic, whatever the bytes: a config either loads or
// comes back with located errors. Seeds: the examples and small edge cases;
// testdata/fuzz keeps the inputs fuzzing found worth keeping.

func addFiles(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(pattern)
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

func FuzzParseSchema(f *testing.F) {
	addFiles(f, "../../examples/*.schema.yml")
	for _, s := range []string{
		"",
		"version: 1\ntable: t\nfields: [{keyword: k}]\n",
		"a: &a [*a]\n",
		"x: &x {<<: *x}\n",
		"version: 1\ntable: t\nprimary_key: [a, b]\nfields:\n  - has_many: r\n    table: r\n    foreign_key: [x]\n    fields: [{keyword: k}]\n",
		"version: 1\ntable: t\nfields:\n  - constant: c\n    value: {a: [1, 2.5, true, null]}\n",
		"fields:\n  - keyword: k\n    default: 0x1F\n  - integer: i\n    default: 99999999999999999999\n",
		"--- \n...\n",
		"version: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, diags := ParseSchema("fuzz.schema.yml", data, "fuzz")
		if (s == nil) != (diags.Err() != nil) {
			t.Fatalf("schema %v with diagnostics %v", s != nil, diags)
		}
		for _, d := range diags {
			if d.File != "fuzz.schema.yml" || d.Message == "" {
				t.Fatalf("diagnostic without a place or a message: %+v", d)
			}
		}
		if s != nil {
			_ = s.Hash()
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	addFiles(f, "../../examples/flusso.toml")
	for _, s := range []string{
		"",
		"[source]\ntype = \"postgres\"\nconnection_url = { env = \"DB\" }\n[[index]]\nname = \"i\"\nschema = \"i.schema.yml\"\n",
		"[source]\nconnection_url = { host = \"::1\", port = 70000, database = \"d\" }\n",
		"prefix = \"A b\"\n[sinks.x]\ntype = \"opensearch\"\nbatch_size = -1\n",
		"[indexer]\nbatch_wait = 5\n[nats]\nmax_age = \"-1s\"\n",
		"index = 3\nsinks = []\n",
	} {
		f.Add([]byte(s))
	}
	schema := []byte("version: 1\ntable: t\nfields: [{keyword: k}]\n")
	read := func(string) ([]byte, error) { return schema, nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, diags := Parse("fuzz.toml", data, Options{Env: noEnv}, read)
		if (cfg == nil) != (diags.Err() != nil) {
			t.Fatalf("config %v with diagnostics %v", cfg != nil, diags)
		}
		if cfg != nil {
			for _, ix := range cfg.Indexes {
				_ = cfg.Names(ix)
			}
			_, _ = cfg.Source.Connection.Resolve(noEnv)
		}
	})
}
