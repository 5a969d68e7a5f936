package document

import (
	"context"
	"fmt"
	"github.com/flusso-go/flusso/pkg/compattest"
	"path/filepath"
	"testing"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

// Self-references, composite keys through to-many and many-to-many links,
// and same-named tables in two database schemas.
func TestRelationShapes(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, `
CREATE SCHEMA eu; CREATE SCHEMA us;
CREATE TABLE eu.items (id int PRIMARY KEY, label text);
CREATE TABLE us.items (id int PRIMARY KEY, label text);
INSERT INTO eu.items VALUES (1, 'eu one'); INSERT INTO us.items VALUES (1, 'us one');
CREATE TABLE eu.employees (id int PRIMARY KEY, name text, manager_id int REFERENCES eu.employees);
INSERT INTO eu.employees VALUES (1, 'Boss', NULL), (2, 'Ann', 1), (3, 'Bob', 1), (4, 'Cy', 2);
CREATE TABLE eu.orders (region text, no int, placed date, PRIMARY KEY (region, no));
CREATE TABLE eu.lines (region text, order_no int, line int, qty int, PRIMARY KEY (region, order_no, line));
CREATE TABLE eu.tags (kind text, name text, PRIMARY KEY (kind, name));
CREATE TABLE eu.order_tags (region text, order_no int, tag_kind text, tag_name text);
INSERT INTO eu.orders VALUES ('north', 1, '2024-01-01'), ('south', 1, '2024-01-02');
INSERT INTO eu.lines VALUES ('north', 1, 1, 5), ('north', 1, 2, 7), ('south', 1, 1, 9);
INSERT INTO eu.tags VALUES ('prio', 'high'), ('prio', 'low'), ('ship', 'express');
INSERT INTO eu.order_tags VALUES ('north', 1, 'prio', 'high'), ('north', 1, 'ship', 'express'), ('south', 1, 'prio', 'low');
`)
	pool := db.Pool(t)
	for _, tc := range []struct {
		name string
		yaml string
		keys [][]string
		want map[string]string
	}{
		{"same-named tables in two schemas", "version: 1\ntable: items\nschema: us\nprimary_key: id\nfields: [{keyword: label}]\n",
			[][]string{{"1"}}, map[string]string{"1": `{"label":"us one"}`}},
		{"self-reference both ways", `
version: 1
table: employees
schema: eu
primary_key: id
fields:
  - text: name
  - belongs_to: manager
    table: employees
    column: manager_id
    fields:
      - text: name
      - belongs_to: manager
        table: employees
        column: manager_id
        fields: [{text: name}]
  - has_many: reports
    table: employees
    foreign_key: manager_id
    fields: [{text: name}]
  - count: reportCount
    table: employees
    foreign_key: manager_id
`, [][]string{{"4"}, {"1"}}, map[string]string{
			"4": `{"name":"Cy","manager":{"name":"Ann","manager":{"name":"Boss"}},"reports":[],"reportCount":0}`,
			"1": `{"name":"Boss","manager":null,"reports":[{"name":"Ann"},{"name":"Bob"}],"reportCount":2}`,
		}},
		{"composite keys through to-many, a composite junction and ids", `
version: 1
table: orders
schema: eu
primary_key: [region, no]
fields:
  - date: placed
  - has_many: lines
    table: lines
    foreign_key: [region, order_no]
    order_by: [{column: line, direction: desc}]
    fields: [{integer: qty}]
  - many_to_many: tags
    table: tags
    primary_key: [kind, name]
    through: { table: order_tags, left_key: [region, order_no], right_key: [tag_kind, tag_name] }
    fields: [{keyword: kind}, {keyword: name}]
  - sum: units
    table: lines
    foreign_key: [region, order_no]
    column: qty
    value_type: long
  - count: tagCount
    table: tags
    through: { table: order_tags, left_key: [region, order_no], right_key: [tag_kind, tag_name] }
`, [][]string{{"north", "1"}, {"south", "1"}, {"west", "1"}}, map[string]string{
			"north:1": `{"placed":"2024-01-01","lines":[{"qty":7},{"qty":5}],"tags":[{"kind":"prio","name":"high"},{"kind":"ship","name":"express"}],"units":12,"tagCount":2}`,
			"south:1": `{"placed":"2024-01-02","lines":[{"qty":9}],"tags":[{"kind":"prio","name":"low"}],"units":9,"tagCount":1}`,
			"west:1":  "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := build(t, schemaBuilder(t, db, tc.yaml), pool, tc.keys...)
			if len(docs) != len(tc.want) {
				t.Errorf("built %d documents, want %d: %v", len(docs), len(tc.want), docs)
			}
			for id, w := range tc.want {
				got, ok := docs[id]
				if !ok || string(got) != w {
					t.Errorf("document %s:\n got  %s\n want %s", id, got, w)
				}
			}
		})
	}
}

// The Rust flusso's example deployment builds a document for every root row.
func TestUpstreamDeploymentBuildsEveryRow(t *testing.T) {
	dir := filepath.Join(compattest.Dir(t), "dev")
	db := pgtest.NewDatabase(t)
	db.ExecFiles(t, filepath.Join(dir, "postgres", "01_schema.sql"), filepath.Join(dir, "postgres", "02_seed.sql"), filepath.Join(dir, "postgres", "03_replication.sql"))
	cfg, diags := config.Load(filepath.Join(dir, "flusso.toml"), config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	pool := db.Pool(t)
	cat := catalog.New(pool)
	ctx := context.Background()
	for _, ix := range cfg.Indexes {
		b, err := New(ctx, ix.Name, ix.Schema, cat)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := pool.Query(ctx, fmt.Sprintf("SELECT id::text FROM %s ORDER BY id", ix.Schema.Table))
		if err != nil {
			t.Fatal(err)
		}
		var keys [][]string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, []string{id})
		}
		rows.Close()
		deleted := map[string]bool{}
		if sd := ix.Schema.SoftDelete; sd != nil {
			rows, err := pool.Query(ctx, fmt.Sprintf("SELECT id::text FROM %s WHERE %s IS TRUE", ix.Schema.Table, sd.Column))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				_ = rows.Scan(&id)
				deleted[id] = true
			}
			rows.Close()
		}
		docs := build(t, b, pool, keys...)
		if len(keys) == 0 || len(docs) != len(keys) {
			t.Errorf("%s: %d rows, %d documents", ix.Name, len(keys), len(docs))
		}
		for id, d := range docs {
			if (d == nil) != deleted[id] {
				t.Errorf("%s %s: delete %t, soft-deleted %t", ix.Name, id, d == nil, deleted[id])
			}
		}
	}
}
