package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// examplesConfig is the deployment whose bodies the golden files hold.
const examplesConfig = "../../examples/flusso.toml"

// TestGoldenExamples compares the body of every index of the example
// deployment, built with its first OpenSearch sink's options, with
// testdata/<index>.json. Run with -update to rewrite them, then review the
// diff.
func TestGoldenExamples(t *testing.T) {
	if _, err := os.Stat(examplesConfig); err != nil {
		t.Skipf("no example deployment: %v", err)
	}
	noEnv := func(string) (string, bool) { return "", false } // FLUSSO_* of the shell must not change the goldens
	cfg, diags := config.Load(examplesConfig, config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatalf("load %s: %v", examplesConfig, err)
	}
	var sink *config.OpenSearchSink
	for _, s := range cfg.Sinks {
		if s.OpenSearch != nil {
			sink = s.OpenSearch
			break
		}
	}
	if sink == nil {
		t.Fatalf("%s has no opensearch sink", examplesConfig)
	}
	o := OptionsFor(sink)

	want := map[string]bool{}
	for _, ix := range cfg.Indexes {
		file := filepath.Join("testdata", ix.Name+".json")
		want[file] = true
		t.Run(ix.Name, func(t *testing.T) {
			b, err := Body(ix.Schema, o)
			if err != nil {
				t.Fatalf("Body: %v", err)
			}
			assertDefinitions(t, b)
			got := indent(t, b)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			golden, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, golden) {
				t.Errorf("%s differs from the body (run go test -update and review the diff):\n%s", file, got)
			}
		})
	}
	// A golden of an index that is gone would rot unnoticed.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, f := range files {
		if !want[f] {
			if *update {
				if err := os.Remove(f); err != nil {
					t.Error(err)
				}
				continue
			}
			t.Errorf("%s belongs to no index of %s (run go test -update to remove it)", f, examplesConfig)
		}
	}
}

// indent encodes a body the way the goldens hold it: sorted keys, two-space
// indent, "=>" kept readable.
func indent(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
