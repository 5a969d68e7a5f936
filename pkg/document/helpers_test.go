package document

import (
	"context"
	"encoding/json"
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
		out[d.ID] = d.Source
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testdata(name string) string { return filepath.Join("testdata", name) }
