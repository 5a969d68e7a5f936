package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func flusso(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const examples = "../../examples/flusso.toml"

func TestCheckAcceptsTheExamples(t *testing.T) {
	code, out, errOut := flusso(t, "check", "--offline", "-c", examples)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"examples/flusso.toml: ok",
		"index listings  stays.listings, key id",
		"index night_rates  stays.night_rates, key (listing_id, night), on_error skip",
		"stays_listings → stays_listings_",
		"many_to_many stays.amenities through stays.listing_amenities",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the field tree lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckJSON(t *testing.T) {
	code, out, errOut := flusso(t, "check", "--offline", "--format", "json", "-c", examples)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	var report struct {
		OK      bool `json:"ok"`
		Indexes []struct {
			Name       string `json:"name"`
			OpenSearch struct {
				Alias     string `json:"alias"`
				HashAlias string `json:"hash_alias"`
				Hash      string `json:"hash"`
			} `json:"opensearch"`
			Fields []map[string]any `json:"fields"`
		} `json:"indexes"`
		Diagnostics []any `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !report.OK || len(report.Indexes) != 5 || report.Indexes[0].Name != "listings" || len(report.Indexes[0].OpenSearch.Hash) != 8 {
		t.Fatalf("report = %+v", report)
	}
	if report.Indexes[0].OpenSearch.HashAlias != "stays_listings_"+report.Indexes[0].OpenSearch.Hash {
		t.Errorf("hash alias %q", report.Indexes[0].OpenSearch.HashAlias)
	}
}

func TestCheckReportsLocatedErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"flusso.toml":      "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://localhost/db\"\n[sinks.search]\ntype = \"opensearch\"\nurl = \"http://localhost:9200\"\nbatch_sise = 5\n[[index]]\nname = \"users\"\nschema = \"users.schema.yml\"\n",
		"users.schema.yml": "version: 1\ntable: users\nprimary_key: id\nfields:\n  - keyword: email\n    requird: true\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields:\n      - integr: total\n",
	})
	for _, format := range []string{"human", "json"} {
		code, out, errOut := flusso(t, "check", "--offline", "--format", format, "-c", filepath.Join(dir, "flusso.toml"))
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1", format, code)
		}
		all := out + errOut
		if format == "json" {
			// The same diagnostics, rendered by their String form.
			var report struct {
				Diagnostics []struct {
					File, Path, Message, Hint string
					Line, Column              int
				}
			}
			if err := json.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			all = ""
			for _, d := range report.Diagnostics {
				pos := d.File
				if d.Line > 0 {
					pos = fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Column)
				}
				all += fmt.Sprintf("%s: %s: %s (%s)\n", pos, d.Path, d.Message, d.Hint)
			}
		}
		for _, want := range []string{
			`flusso.toml: sinks.search.batch_sise: unknown key "batch_sise" in an opensearch sink (did you mean "batch_size"?)`,
			`users.schema.yml:6:5: users.email: unknown key "requird" in a keyword field (did you mean "required"?)`,
			`users.schema.yml:11:9: users.orders.fields[0]: the field has no type tag (did you mean "integer"?)`,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("%s output lacks %q:\n%s", format, want, all)
			}
		}
	}
}

// A password in flusso.toml, literal or inside a URL, never reaches the output.
func TestCheckNeverPrintsSecrets(t *testing.T) {
	const secret = "hunter2-XYZ"
	dir := writeFiles(t, map[string]string{
		"flusso.toml": "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://app:" + secret + "@db:5432/shop?sslmode=require\"\n" +
			"[sinks.search]\ntype = \"opensearch\"\nurl = \"https://admin:" + secret + "@search:9200\"\nusername = \"admin\"\npassword = \"" + secret + "\"\n" +
			"[[index]]\nname = \"users\"\nschema = \"users.schema.yml\"\n",
		"users.schema.yml": "version: 1\ntable: users\nfields:\n  - keyword: email\n",
	})
	bad := writeFiles(t, map[string]string{
		"flusso.toml":      "[source]\ntype = \"postgres\"\nconnection_url = { host = \"db\", password = \"" + secret + "\", database = \"d\", port = \"x\" }\n[[index]]\nname = \"users\"\nschema = \"users.schema.yml\"\n",
		"users.schema.yml": "version: 1\ntable: users\nfields:\n  - keyword: email\n",
	})
	for _, args := range [][]string{
		{"check", "--offline", "-c", filepath.Join(dir, "flusso.toml")},
		{"check", "--offline", "--format", "json", "-c", filepath.Join(dir, "flusso.toml")},
		{"check", "--offline", "-c", filepath.Join(bad, "flusso.toml")},
		{"check", "--offline", "--format", "json", "-c", filepath.Join(bad, "flusso.toml")},
	} {
		_, out, errOut := flusso(t, args...)
		if strings.Contains(out+errOut, secret) {
			t.Errorf("flusso %v printed the secret:\n%s%s", args, out, errOut)
		}
		if !strings.Contains(out+errOut, "db") && !strings.Contains(out+errOut, "port") {
			t.Errorf("flusso %v printed nothing useful:\n%s%s", args, out, errOut)
		}
	}
}

func TestSettingFlagsOverrideTheFile(t *testing.T) {
	code, out, errOut := flusso(t, "check", "--offline", "--format", "json", "-c", examples, "--indexer-batch-size", "77", "--capture-slot", "Stays_Slot")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var report struct {
		Config struct {
			Indexer struct {
				BatchSize int `json:"batch_size"`
			} `json:"indexer"`
			Capture struct{ Slot string } `json:"capture"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if report.Config.Indexer.BatchSize != 77 || report.Config.Capture.Slot != "stays_slot" {
		t.Errorf("config = %+v", report.Config)
	}
	code, _, errOut = flusso(t, "check", "--offline", "-c", examples, "--indexer-batch-size", "lots")
	if code != 1 || !strings.Contains(errOut, `--indexer-batch-size: expected an integer, found "lots"`) {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

func TestSchemaCommand(t *testing.T) {
	for _, kind := range []string{"config", "index"} {
		code, out, errOut := flusso(t, "schema", kind)
		if code != 0 {
			t.Fatalf("schema %s: exit %d: %s", kind, code, errOut)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["$schema"] != "http://json-schema.org/draft-07/schema#" {
			t.Fatalf("schema %s printed no JSON Schema: %v\n%.200s", kind, err, out)
		}
		committed, err := os.ReadFile("../../pkg/config/jsonschema/" + kind + ".schema.json")
		if err != nil || string(committed) != out {
			t.Errorf("schema %s differs from the committed pkg/config/jsonschema copy", kind)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"schema"}, {"schema", "sinks"}, {"check", "--offline", "--format", "yaml", "-c", examples},
		{"check", "--no-such-flag"}, {"frobnicate"}, {"check", "--offline", "extra-arg"},
	} {
		if code, _, errOut := flusso(t, args...); code != 2 || errOut == "" {
			t.Errorf("flusso %v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	code, _, errOut := flusso(t, "check", "--offline", "-c", filepath.Join(t.TempDir(), "nope.toml"))
	if code != 1 || !strings.Contains(errOut, "nope.toml: file not found") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
