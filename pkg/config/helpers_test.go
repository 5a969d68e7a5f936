package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

// repoRoot is the workspace root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func noEnv(string) (string, bool) { return "", false }

func mustLoad(t testing.TB, path string) *Config {
	t.Helper()
	cfg, diags := Load(path, Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatalf("%s does not load:\n%v", path, err)
	}
	return cfg
}

// jsonValue turns a decoded YAML or TOML document into the values the JSON
// Schema validator expects.
func jsonValue(t testing.TB, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readYAMLValue(t testing.TB, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return jsonValue(t, v)
}

func readTOMLValue(t testing.TB, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := toml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return jsonValue(t, v)
}

// compileSchema compiles a JSON Schema document given as a decoded value.
func compileSchema(t testing.TB, name string, doc any) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return s
}

func ownSchema(t testing.TB, kind string) *jsonschema.Schema {
	t.Helper()
	data, err := JSONSchema(kind)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return compileSchema(t, "flusso-"+kind+".json", doc)
}

func exampleFiles(t testing.TB) (toml string, schemas []string) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "examples")
	schemas, err := filepath.Glob(filepath.Join(dir, "*.schema.yml"))
	if err != nil || len(schemas) == 0 {
		t.Fatalf("no example schemas in %s", dir)
	}
	return filepath.Join(dir, "flusso.toml"), schemas
}
