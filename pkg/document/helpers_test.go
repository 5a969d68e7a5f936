package document

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func noEnv(string) (string, bool) { return "", false }

// examples loads the example deployment into a fresh database.
func examples(t testing.TB) (*config.Config, *pgtest.Database) {
	t.Helper()
	cfg, diags := config.Load("../../examples/flusso.toml", config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDatabase(t)
	db.ExecFiles(t, "../../examples/postgres/01_schema.sql", "../../examples/postgres/02_seed.sql")
	return cfg, db
}

func builder(t testing.TB, db *pgtest.Database, cfg *config.Config, index string) *Builder {
	t.Helper()
	ix := cfg.Index(index)
	b, err := New(context.Background(), ix.Name, ix.Schema, catalog.New(db.Pool(t)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// build returns the documents of keys, by id; a delete maps to nil.
func build(t testing.TB, b *Builder, q Querier, keys ...[]string) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	if err := b.Build(context.Background(), q, keys, func(d Doc) error {
		if d.Source == nil {
			out[d.ID] = nil
			return nil
		}
		if bytes.ContainsAny(d.Source, "\n\r") {
			return fmt.Errorf("document %s spans several lines: %s", d.ID, d.Source)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, d.Source); err != nil {
			return fmt.Errorf("document %s: %v: %s", d.ID, err, d.Source)
		}
		out[d.ID] = compact.Bytes()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testdata(name string) string { return filepath.Join("testdata", name) }
