package document

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

// schemaBuilder parses a schema and plans its builder on db.
func schemaBuilder(t *testing.T, db *pgtest.Database, yaml string) *Builder {
	t.Helper()
	s, diags := config.ParseSchema("t.schema.yml", []byte(yaml), "t")
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	b, err := New(context.Background(), "t", s, catalog.New(db.Pool(t)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every value renders as the type table of FORMAT.md says.
func TestValuesRender(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, `
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE v (
  id int PRIMARY KEY,
  t text, vc varchar(10), ch char(5), nm name, md mood,
  u uuid, b boolean, s smallint, i int, l bigint, r real, d double precision,
  n numeric(12,3), n_nan numeric, m money,
  dt date, ts timestamp(6), tstz timestamptz, tm time, tmtz timetz,
  by bytea, js json, jsb jsonb, js_scalar jsonb,
  lat double precision, lon double precision, pt point, geo_text text,
  names jsonb
);
INSERT INTO v VALUES (1,
  'Text', 'Varchar', 'ab', 'aname', 'sad',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', true, -32768, 2147483647, 9223372036854775807, 1.5, 0.1,
  12345.678, 'NaN', 12.34,
  '2024-02-29', '2024-01-31 23:59:59.123456', '2024-01-31 23:30:00+02', '13:45:10.5', '13:45:10-05',
  decode(repeat('ff', 80), 'hex'), '{"b": [1, "x"], "a": null}', '{"z": 1}', '"just a string"',
  45.5, -73.25, point(-73.25, 45.5), '45.5,-73.25',
  '{"en": "Hello", "it": "Ciao"}');
INSERT INTO v (id) VALUES (2);
`)
	b := schemaBuilder(t, db, `
version: 1
table: v
primary_key: id
fields:
  - text: t
  - keyword: vc
  - keyword: ch
  - identifier: nm
  - enum: md
  - uuid: u
  - boolean: b
  - short: s
  - integer: i
  - long: l
  - float: r
  - double: d
  - decimal: "n"
  - decimal: n_nan
  - decimal: m
  - date: dt
  - timestamp: ts
  - timestamp: tstz
  - timestamp: tm
  - timestamp: tmtz
  - timestamp: dateAsTimestamp
    column: dt
  - binary: by
  - json: js
  - json: jsb
  - json: js_scalar
  - geo: twoColumns
    lat: lat
    lon: lon
  - geo: fromPoint
    column: pt
  - geo: fromText
    column: geo_text
  - map: names
    values: text
  - custom: asIs
    column: "n"
    postgres: [numeric]
    opensearch: scaled_float
  - constant: cString
    value: "x"
  - constant: cNumber
    value: 2.5
  - constant: cBool
    value: false
  - constant: cObject
    value: { a: [1, two] }
`)
	docs := build(t, b, db.Pool(t), []string{"1"}, []string{"2"})
	want := map[string]string{
		"1": `{"t":"Text","vc":"Varchar","ch":"ab","nm":"aname","md":"sad","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","b":true,` +
			`"s":-32768,"i":2147483647,"l":9223372036854775807,"r":1.5,"d":0.1,"n":12345.678,"n_nan":"NaN","m":12.34,` +
			`"dt":"2024-02-29","ts":"2024-01-31T23:59:59.123456","tstz":"2024-01-31T21:30:00","tm":"1970-01-01T13:45:10.5","tmtz":"1970-01-01T18:45:10",` +
			`"dateAsTimestamp":"2024-02-29T00:00:00",` +
			`"by":"` + strings.Repeat("////", 26) + `//8=","js":{"a":null,"b":[1,"x"]},"jsb":{"z":1},"js_scalar":"just a string",` +
			`"twoColumns":{"lat":45.5,"lon":-73.25},"fromPoint":{"lat":45.5,"lon":-73.25},"fromText":"45.5,-73.25",` +
			`"names":{"en":"Hello","it":"Ciao"},"asIs":12345.678,"cString":"x","cNumber":2.5,"cBool":false,"cObject":{"a":[1,"two"]}}`,
		"2": `{"t":null,"vc":null,"ch":null,"nm":null,"md":null,"u":null,"b":null,"s":null,"i":null,"l":null,"r":null,"d":null,"n":null,"n_nan":null,"m":null,` +
			`"dt":null,"ts":null,"tstz":null,"tm":null,"tmtz":null,"dateAsTimestamp":null,"by":null,"js":null,"jsb":null,"js_scalar":null,` +
			`"twoColumns":null,"fromPoint":null,"fromText":null,"names":null,"asIs":null,"cString":"x","cNumber":2.5,"cBool":false,"cObject":{"a":[1,"two"]}}`,
	}
	for id, w := range want {
		if got := string(docs[id]); got != w {
			t.Errorf("document %s:\n got  %s\n want %s", id, got, w)
		}
	}
}

// Transforms apply in order, defaults replace nulls with a value of the
// column's type, and a geo point is null when either coordinate is.
func TestTransformsDefaultsAndNulls(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, `
CREATE TABLE p (id text PRIMARY KEY, email text, score int, seen timestamptz, lat float8, lon float8, tag text);
INSERT INTO p VALUES ('a', '  Ada@Example.COM ', NULL, NULL, 1, NULL, NULL), ('b', NULL, 7, '2024-01-01 00:00:00+00', NULL, NULL, 'x');
`)
	b := schemaBuilder(t, db, `
version: 1
table: p
primary_key: id
fields:
  - keyword: email
    transforms: [trim, lowercase]
  - keyword: emailDefaulted
    column: email
    transforms: [lowercase]
    default: NONE
  - integer: score
    default: 0
  - timestamp: seen
    default: "2000-01-01T00:00:00Z"
  - geo: at
    lat: lat
    lon: lon
  - object: group
    fields:
      - keyword: tag
        default: untagged
`)
	docs := build(t, b, db.Pool(t), []string{"a"}, []string{"b"})
	for id, w := range map[string]string{
		"a": `{"email":"ada@example.com","emailDefaulted":"  ada@example.com ","score":0,"seen":"2000-01-01T00:00:00","at":null,"group":{"tag":"untagged"}}`,
		"b": `{"email":null,"emailDefaulted":"none","score":7,"seen":"2024-01-01T00:00:00","at":null,"group":{"tag":"x"}}`,
	} {
		if got := string(docs[id]); got != w {
			t.Errorf("document %s:\n got  %s\n want %s", id, got, w)
		}
	}
}

// json_build_object takes at most 100 arguments: wider documents are merged
// from chunks.
func TestWideDocument(t *testing.T) {
	db := pgtest.NewDatabase(t)
	var cols, fields, values []string
	for i := range 120 {
		cols = append(cols, fmt.Sprintf("c%d int", i))
		fields = append(fields, fmt.Sprintf("  - integer: c%d", i))
		values = append(values, fmt.Sprint(i))
	}
	db.Exec(t, fmt.Sprintf("CREATE TABLE w (id int PRIMARY KEY, %s); INSERT INTO w VALUES (1, %s)", strings.Join(cols, ", "), strings.Join(values, ", ")))
	b := schemaBuilder(t, db, "version: 1\ntable: w\nprimary_key: id\nfields:\n"+strings.Join(fields, "\n")+"\n")
	var doc map[string]int
	if err := json.Unmarshal(build(t, b, db.Pool(t), []string{"1"})["1"], &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 120 || doc["c0"] != 0 || doc["c119"] != 119 {
		t.Errorf("document has %d fields: %v", len(doc), doc)
	}
}

func TestPlanningErrorsNameWhatIsMissing(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, "CREATE TABLE users (id int PRIMARY KEY, email text); CREATE TABLE nokey (x int)")
	for _, tc := range []struct{ yaml, want string }{
		{"version: 1\ntable: people\nfields: [{keyword: email}]\n", "index t: the root: table public.people does not exist"},
		{"version: 1\ntable: users\nfields: [{keyword: mail}]\n", "index t: field t.mail: column public.users.mail does not exist"},
		{"version: 1\ntable: nokey\nfields: [{integer: x}]\n", "index t: the root: table public.nokey has no primary key: declare primary_key in the schema"},
		{"version: 1\ntable: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields: [{integer: id}]\n", "index t: field t.orders: table public.orders does not exist"},
	} {
		s, diags := config.ParseSchema("t.schema.yml", []byte(tc.yaml), "t")
		if err := diags.Err(); err != nil {
			t.Fatal(err)
		}
		_, err := New(context.Background(), "t", s, catalog.New(db.Pool(t)))
		if err == nil || err.Error() != tc.want {
			t.Errorf("New() error = %v, want %q", err, tc.want)
		}
	}
}
