package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed copies under jsonschema/ are what editors point at; they must
// be what `flusso schema` prints.
func TestJSONSchemaFilesAreCurrent(t *testing.T) {
	for _, kind := range []string{"config", "index"} {
		want, err := JSONSchema(kind)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("jsonschema", kind+".schema.json")
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/config -run JSONSchemaFiles -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./pkg/config -run JSONSchemaFiles -update", path)
		}
		ownSchema(t, kind) // and it compiles as a draft-07 schema
	}
}

func TestUnknownJSONSchemaKind(t *testing.T) {
	if _, err := JSONSchema("sinks"); err == nil {
		t.Fatal("JSONSchema(\"sinks\") succeeded, want an error naming the valid kinds")
	}
}
