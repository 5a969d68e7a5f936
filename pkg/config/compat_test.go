package config

import (
	"errors"
	"github.com/flusso-go/flusso/pkg/compattest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every file of the Rust flusso 0.15 loads with the same meaning.
func TestCompatUpstreamDeploymentLoads(t *testing.T) {
	dir := compattest.Dir(t)
	cfg := mustLoad(t, filepath.Join(dir, "dev", "flusso.toml"))
	if got := len(cfg.Indexes); got != 3 {
		t.Fatalf("upstream deployment: %d indexes, want 3", got)
	}
	users := cfg.Index("users").Schema
	if users.Table != (TableRef{Schema: "public", Name: "users"}) || strings.Join(users.PrimaryKey, ",") != "id" {
		t.Errorf("users root = %v key %v", users.Table, users.PrimaryKey)
	}
	orders := findField(users.Fields, "orders")
	if orders == nil || orders.Relation.Kind != HasMany || orders.Relation.Filters[0] != (Filter{Column: "status", Op: OpNeq, Value: "cancelled"}) {
		t.Errorf("users.orders = %+v", orders)
	}
	items := findField(orders.Fields, "items")
	if items == nil || items.Relation.Table.Name != "order_items" || strings.Join(items.Relation.ForeignKey, ",") != "order_id" {
		t.Errorf("users.orders.items = %+v", items)
	}
	if s := cfg.Sinks; len(s) != 2 || s[0].Name != "audit" || !s[0].Stdout.Pretty || s[1].Name != "primary" || s[1].OpenSearch.TLSVerify {
		t.Errorf("sinks = %+v %+v", s[0], s[1])
	}
	products := cfg.Index("products").Schema
	if amount := findField(findField(products.Fields, "pricing").Fields, "amount"); amount.Custom.OpenSearch != "scaled_float" || amount.Column != "price" {
		t.Errorf("products.pricing.amount = %+v", amount)
	}
	if tags := findField(products.Fields, "tags"); tags.Relation.Through.Table.Name != "product_tags" {
		t.Errorf("products.tags = %+v", tags.Relation)
	}
}

func TestCompatEveryFieldSchemaLoads(t *testing.T) {
	path := filepath.Join(compattest.Dir(t), "dev", "every-field.schema.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, diags := ParseSchema(path, data, "every")
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]bool{}
	Walk(s.Fields, func(f *Field) bool { kinds[f.Kind] = true; return true })
	for _, k := range []Kind{KindScalar, KindCustom, KindGeo, KindConstant, KindObject, KindRelation, KindAggregate} {
		if !kinds[k] {
			t.Errorf("no %s field loaded from every-field.schema.yml", k)
		}
	}
	if org := findField(s.Fields, "organization"); strings.Join(org.Relation.Column, ",") != "organization_id" {
		t.Errorf("organization.column = %v", org.Relation.Column)
	}
}

func findField(fields []*Field, name string) *Field {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// upstreamExtensions lists where this project's files may go beyond the Rust
// flusso's JSON Schemas, by file and JSON pointer: only documented extensions.
var upstreamExtensions = map[string][]string{
	"night_rates.schema.yml": {"/primary_key"}, // composite root key as a list
}

func violations(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/"))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// The project's example files validate against the upstream JSON Schemas
// (except documented extensions) and against the project's own.
func TestCompatExamplesValidateAgainstUpstreamAndOwnSchemas(t *testing.T) {
	dir := compattest.Dir(t)
	upConfig := compileSchema(t, "upstream-config.json", readYAMLValue(t, filepath.Join(dir, "jsonschema", "config.schema.json")))
	upIndex := compileSchema(t, "upstream-index.json", readYAMLValue(t, filepath.Join(dir, "jsonschema", "index.schema.yml")))
	ownConfig, ownIndex := ownSchema(t, "config"), ownSchema(t, "index")

	tomlPath, schemas := exampleFiles(t)
	check := func(name string, up, own *jsonschema.Schema, doc any) {
		if err := own.Validate(doc); err != nil {
			t.Errorf("%s against flusso's own JSON Schema: %v", name, err)
		}
		allowed := upstreamExtensions[name]
		err := up.Validate(doc)
		for _, loc := range violations(err) {
			if !contains(allowed, loc) {
				t.Errorf("%s against the upstream JSON Schema: %v", name, err)
				break
			}
		}
		if len(allowed) > 0 && err == nil {
			t.Errorf("%s: expected the documented extension at %v to be outside the upstream schema", name, allowed)
		}
	}
	check("flusso.toml", upConfig, ownConfig, readTOMLValue(t, tomlPath))
	for _, p := range schemas {
		check(filepath.Base(p), upIndex, ownIndex, readYAMLValue(t, p))
	}
	mustLoad(t, tomlPath)
}

// The upstream files validate against this project's JSON Schemas too: an
// editor set up with them accepts every file the Rust flusso accepts.
func TestCompatUpstreamFilesValidateAgainstOwnSchemas(t *testing.T) {
	dir := filepath.Join(compattest.Dir(t), "dev")
	if err := ownSchema(t, "config").Validate(readTOMLValue(t, filepath.Join(dir, "flusso.toml"))); err != nil {
		t.Errorf("upstream flusso.toml: %v", err)
	}
	schemas, _ := filepath.Glob(filepath.Join(dir, "*.schema.yml"))
	if len(schemas) < 4 {
		t.Fatalf("found %d upstream schemas", len(schemas))
	}
	own := ownSchema(t, "index")
	for _, p := range schemas {
		if err := own.Validate(readYAMLValue(t, p)); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}
