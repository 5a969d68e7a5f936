package dbcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/flusso-go/flusso/pkg/compattest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func noEnv(string) (string, bool) { return "", false }

// base is the database every rule case starts from: a root table with a
// column of each kind, related tables with REPLICA IDENTITY FULL, and a
// publication of every table, so that a case sees only its own findings.
const base = `
CREATE SCHEMA shop;
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE orgs (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE users (
    id int PRIMARY KEY, email text NOT NULL, bio text, big bigint NOT NULL, small smallint,
    ratio double precision, real_ratio real, price numeric(10,2), mood mood, born date,
    seen timestamptz, attrs jsonb, lat double precision, lon double precision, spot point,
    blob bytea, uid uuid, tags text[], deleted boolean NOT NULL DEFAULT false, org_id int REFERENCES orgs);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id int NOT NULL, code text, total numeric(12,2) NOT NULL, placed_at timestamptz NOT NULL);
CREATE TABLE visits (id int PRIMARY KEY, user_id bigint NOT NULL);
CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL);
CREATE TABLE user_tags (user_id int, tag_id int, PRIMARY KEY (user_id, tag_id));
ALTER TABLE orgs REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE visits REPLICA IDENTITY FULL;
ALTER TABLE tags REPLICA IDENTITY FULL;
ALTER TABLE user_tags REPLICA IDENTITY FULL;
CREATE PUBLICATION flusso FOR ALL TABLES;
`

// clean reads every kind of column the right way.
const clean = `
table: users
primary_key: id
soft_delete:
  column: deleted
filters:
  - { column: email, op: like, value: "%@%" }
fields:
  - integer: id
    required: true
  - keyword: email
    required: true
  - text: bio
  - text: bioOrEmpty
    column: bio
    required: true
    default: ""
  - long: big
  - integer: small          # smallint into integer: wider is fine
  - double: ratio
  - double: realRatio       # real into double: wider is fine
    column: real_ratio
  - decimal: price
  - enum: mood              # a native enum
  - enum: email2
    column: email           # text into enum
  - date: born
  - timestamp: seen
  - json: attrs
  - map: labels
    column: attrs
    values: text
  - geo: location
    lat: lat
    lon: lon
  - geo: spot
    column: spot
  - binary: blob
  - uuid: uid
  - custom: tagList
    column: tags
    postgres: ["text[]"]
    opensearch: keyword
  - custom: cost
    column: price
    postgres: [decimal]     # an SQL spelling of numeric(10,2)
    opensearch: scaled_float
    options: { scaling_factor: 100 }
  - belongs_to: org
    table: orgs
    column: org_id
    primary_key: id
    fields:
      - text: name
        required: true
  - has_many: orders
    table: orders
    foreign_key: user_id
    filters:
      - { column: code, op: neq, value: x }
    order_by:
      - { column: placed_at, direction: desc }
    fields:
      - keyword: code
        required: true      # the filter keeps null codes out
      - decimal: total
  - has_many: visits        # an int key against a bigint foreign key
    table: visits
    foreign_key: user_id
    fields:
      - long: userId
        column: user_id
  - many_to_many: tags
    table: tags
    through: { table: user_tags, left_key: user_id, right_key: tag_id }
    fields:
      - keyword: label
  - sum: spent
    table: orders
    foreign_key: user_id
    column: total
    value_type: decimal
  - sum: visitorSum        # a sum is wider than its column
    table: visits
    foreign_key: user_id
    column: user_id
    value_type: decimal
  - sum: visitorSumDouble
    table: visits
    foreign_key: user_id
    column: user_id
    value_type: double
  - avg: average
    table: orders
    foreign_key: user_id
    column: total
  - max: lastOrder
    table: orders
    foreign_key: user_id
    column: placed_at
    value_type: timestamp
  - min: firstCode
    table: orders
    foreign_key: user_id
    column: code
    value_type: keyword
  - count: orderCount
    table: orders
    foreign_key: user_id
  - count: tagCount
    table: tags
    through: { table: user_tags, left_key: user_id, right_key: tag_id }
  - ids: tagIds
    table: tags
    through: { table: user_tags, left_key: user_id, right_key: tag_id }
    element_type: integer
  - ids: orderIds
    table: orders
    foreign_key: user_id
    element_type: long
`

type want struct {
	sev  config.Severity
	path string
	msg  string // a substring of the message
	hint string // the exact hint, when set
}

func errorAt(path, msg, hint string) want {
	return want{sev: config.SeverityError, path: path, msg: msg, hint: hint}
}

func warningAt(path, msg, hint string) want {
	return want{sev: config.SeverityWarning, path: path, msg: msg, hint: hint}
}

// ruleCase is a deployment of one index, t, over base plus sql. {role} in
// sql, toml and the wants stands for a fresh role the check connects as
// when asRole is set.
type ruleCase struct {
	name   string
	sql    string
	toml   string // extra lines of flusso.toml's [source] table
	schema string
	asRole bool
	want   []want
}

func TestRules(t *testing.T) {
	cases := []ruleCase{
		{name: "a deployment reading every column rightly is clean", schema: clean},

		// Tables.
		{name: "missing root table", schema: "table: userz\nprimary_key: id\nfields:\n  - integer: id\n",
			want: []want{errorAt("t.table", "table public.userz does not exist", "did you mean public.users?")}},
		{name: "table in another database schema", sql: "CREATE TABLE shop.items (id int PRIMARY KEY);",
			schema: "table: items\nfields:\n  - integer: id\n",
			want:   []want{errorAt("t.table", "table public.items does not exist", "shop.items exists: set schema: shop in the schema file")}},
		{name: "missing related table", schema: "table: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: order\n    foreign_key: user_id\n    primary_key: id\n    fields:\n      - long: id\n",
			want: []want{errorAt("t.orders.table", "table public.order does not exist", "did you mean public.orders?")}},
		{name: "missing junction table", schema: "table: users\nprimary_key: id\nfields:\n  - many_to_many: tags\n    table: tags\n    through: { table: user_tag, left_key: user_id, right_key: tag_id }\n    fields:\n      - keyword: label\n",
			want: []want{errorAt("t.tags.through.table", "table public.user_tag does not exist", "did you mean public.user_tags?")}},
		{name: "a view is read but not replicated", sql: "CREATE VIEW people AS SELECT id, email FROM users;",
			schema: "table: people\nprimary_key: id\nfields:\n  - keyword: email\n",
			want:   []want{warningAt("t.table", "public.people is a view: flusso can read it, but changes to it are not replicated", "read the underlying tables, or reindex after they change")}},
		{name: "a materialized view is read but not replicated", sql: "CREATE MATERIALIZED VIEW people AS SELECT id, email FROM users;",
			schema: "table: users\nprimary_key: id\nfields:\n  - has_one: person\n    table: people\n    foreign_key: id\n    primary_key: id\n    fields:\n      - keyword: email\n",
			want:   []want{warningAt("t.person.table", "public.people is a materialized view", "")}},

		// Columns.
		{name: "missing scalar column", schema: "table: users\nfields:\n  - keyword: emial\n",
			want: []want{errorAt("t.emial", `public.users has no column "emial"`, `did you mean "email"?`)}},
		{name: "missing column of a related row", schema: "table: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields:\n      - decimal: totl\n",
			want: []want{errorAt("t.orders.totl", `public.orders has no column "totl"`, `did you mean "total"?`)}},
		{name: "missing primary_key column", schema: "table: users\nprimary_key: idd\nfields:\n  - integer: id\n",
			want: []want{errorAt("t.primary_key", `public.users has no column "idd"`, `did you mean "id"?`)}},
		{name: "missing foreign_key column", schema: "table: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: userid\n    fields:\n      - long: id\n",
			want: []want{errorAt("t.orders.foreign_key", `public.orders has no column "userid"`, `did you mean "user_id"?`)}},
		{name: "missing belongs_to column", schema: "table: users\nprimary_key: id\nfields:\n  - belongs_to: org\n    table: orgs\n    column: orgid\n    fields:\n      - text: name\n",
			want: []want{errorAt("t.org.column", `public.users has no column "orgid"`, `did you mean "org_id"?`)}},
		{name: "missing related primary_key column", schema: "table: users\nprimary_key: id\nfields:\n  - belongs_to: org\n    table: orgs\n    column: org_id\n    primary_key: ib\n    fields:\n      - text: name\n",
			want: []want{errorAt("t.org.primary_key", `public.orgs has no column "ib"`, `did you mean "id"?`)}},
		{name: "missing through keys", schema: "table: users\nprimary_key: id\nfields:\n  - many_to_many: tags\n    table: tags\n    through: { table: user_tags, left_key: usr_id, right_key: tagid }\n    fields:\n      - keyword: label\n",
			want: []want{
				errorAt("t.tags.through.left_key", `public.user_tags has no column "usr_id"`, `did you mean "user_id"?`),
				errorAt("t.tags.through.right_key", `public.user_tags has no column "tagid"`, `did you mean "tag_id"?`),
			}},
		{name: "missing root filter column", schema: "table: users\nfilters:\n  - { column: emali, op: eq, value: a }\nfields:\n  - integer: id\n",
			want: []want{errorAt("t.filters[0]", `public.users has no column "emali"`, `did you mean "email"?`)}},
		{name: "missing relation filter and order_by columns", schema: "table: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    filters:\n      - { raw: \"true\" }\n      - { column: cod, op: eq, value: a }\n    order_by:\n      - { column: placed, direction: asc }\n    fields:\n      - long: id\n",
			want: []want{
				errorAt("t.orders.filters[1]", `public.orders has no column "cod"`, `did you mean "code"?`),
				errorAt("t.orders.order_by[0]", `public.orders has no column "placed"`, ""),
			}},
		{name: "missing aggregate column and filter column", schema: "table: users\nprimary_key: id\nfields:\n  - sum: spent\n    table: orders\n    foreign_key: user_id\n    column: totl\n    value_type: decimal\n    filters:\n      - { column: cde, op: is_null }\n",
			want: []want{
				errorAt("t.spent.column", `public.orders has no column "totl"`, `did you mean "total"?`),
				errorAt("t.spent.filters[0]", `public.orders has no column "cde"`, `did you mean "code"?`),
			}},
		{name: "missing soft_delete column", schema: "table: users\nsoft_delete:\n  column: delted\nfields:\n  - integer: id\n",
			want: []want{errorAt("t.soft_delete.column", `public.users has no column "delted"`, `did you mean "deleted"?`)}},
		{name: "missing soft_delete when column", schema: "table: users\nsoft_delete:\n  column: deleted\n  when:\n    - { column: moood, op: eq, value: sad }\nfields:\n  - integer: id\n",
			want: []want{errorAt("t.soft_delete.when[0]", `public.users has no column "moood"`, `did you mean "mood"?`)}},
		{name: "missing column behind a soft_delete field", schema: "table: users\nsoft_delete:\n  field: account.gone\nfields:\n  - integer: id\n  - object: account\n    fields:\n      - boolean: gone\n        column: deleeted\n",
			want: []want{errorAt("t.account.gone", `public.users has no column "deleeted"`, `did you mean "deleted"?`)}},
		{name: "missing geo columns", schema: "table: users\nfields:\n  - geo: location\n    lat: latt\n    lon: lon\n  - geo: spot\n    column: spt\n",
			want: []want{
				errorAt("t.location.lat", `public.users has no column "latt"`, `did you mean "lat"?`),
				errorAt("t.spot.column", `public.users has no column "spt"`, `did you mean "spot"?`),
			}},

		// Types.
		{name: "text column declared uuid", schema: "table: users\nfields:\n  - uuid: email\n",
			want: []want{errorAt("t.email", "column email of public.users is text: a uuid field cannot read it", "declare it text, identifier, keyword or enum")}},
		{name: "bigint column declared integer", schema: "table: users\nfields:\n  - integer: big\n",
			want: []want{errorAt("t.big", "column big of public.users is bigint: it holds values an integer field cannot", "declare it long")}},
		{name: "double precision column declared float", schema: "table: users\nfields:\n  - float: ratio\n",
			want: []want{warningAt("t.ratio", "column ratio of public.users is double precision: a float field keeps only about 7 significant digits", "declare it double")}},
		{name: "integer column declared enum", schema: "table: users\nfields:\n  - enum: small\n",
			want: []want{errorAt("t.small", "column small of public.users is smallint: an enum field cannot read it (it reads the text types or a native enum)", "declare it short, integer or long")}},
		{name: "numeric column declared long", schema: "table: users\nfields:\n  - long: price\n",
			want: []want{errorAt("t.price", "column price of public.users is numeric(10,2): a long field cannot read it", "declare it decimal")}},
		{name: "array column has no scalar type", schema: "table: users\nfields:\n  - keyword: tags\n",
			want: []want{errorAt("t.tags", "column tags of public.users is text[]", "no scalar type reads text[]: declare a custom field with postgres: [text[]]")}},
		{name: "custom type not listed", schema: "table: users\nfields:\n  - custom: price\n    postgres: [integer, bigint]\n    opensearch: scaled_float\n",
			want: []want{errorAt("t.price", "column price of public.users is numeric(10,2), which is not among the postgres types of this custom field (integer, bigint)", `add "numeric(10,2)" to postgres`)}},
		{name: "map over a text column", schema: "table: users\nfields:\n  - map: bio\n    values: text\n",
			want: []want{errorAt("t.bio", "column bio of public.users is text: a map field reads json or jsonb", "a map reads a json or jsonb column")}},
		{name: "geo over the wrong columns", schema: "table: users\nfields:\n  - geo: spot\n    column: small\n  - geo: location\n    lat: email\n    lon: lon\n",
			want: []want{
				errorAt("t.spot.column", "column small of public.users is smallint: a geo column is json, jsonb, text or point", ""),
				errorAt("t.location.lat", "column email of public.users is text: geo lat reads a numeric column", "latitude and longitude are numbers"),
			}},
		{name: "sum over a text column", schema: "table: users\nprimary_key: id\nfields:\n  - sum: codes\n    table: orders\n    foreign_key: user_id\n    column: code\n    value_type: decimal\n",
			want: []want{errorAt("t.codes.column", "column code of public.orders is text: sum reads a numeric column", "")}},
		{name: "avg over a timestamp column", schema: "table: users\nprimary_key: id\nfields:\n  - avg: when\n    table: orders\n    foreign_key: user_id\n    column: placed_at\n",
			want: []want{errorAt("t.when.column", "column placed_at of public.orders is timestamp with time zone: avg reads a numeric column", "")}},
		{name: "sum value_type narrower than its column", schema: "table: users\nprimary_key: id\nfields:\n  - sum: spent\n    table: orders\n    foreign_key: user_id\n    column: total\n    value_type: integer\n",
			want: []want{errorAt("t.spent.value_type", "column total of public.orders is numeric(12,2): an integer field cannot read it", "declare it decimal")}},
		{name: "sum value_type float over bigint", schema: "table: users\nprimary_key: id\nfields:\n  - sum: s\n    table: visits\n    foreign_key: user_id\n    column: user_id\n    value_type: float\n",
			want: []want{warningAt("t.s.value_type", "column user_id of public.visits is bigint: a float field keeps only about 7 significant digits of its sum", "declare value_type double or decimal")}},
		{name: "max value_type against its column", schema: "table: users\nprimary_key: id\nfields:\n  - max: last\n    table: orders\n    foreign_key: user_id\n    column: placed_at\n    value_type: date\n",
			want: []want{errorAt("t.last.value_type", "column placed_at of public.orders is timestamp with time zone: a date field cannot read it", "declare it timestamp")}},
		{name: "ids element_type against the key", schema: "table: users\nprimary_key: id\nfields:\n  - ids: orderIds\n    table: orders\n    foreign_key: user_id\n    element_type: integer\n",
			want: []want{errorAt("t.orderIds.element_type", "column id of public.orders is bigint: it holds values an integer field cannot", "declare it long")}},
		{name: "key columns that do not compare", schema: "table: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: code\n    fields:\n      - long: id\n  - belongs_to: org\n    table: orgs\n    column: email\n    fields:\n      - text: name\n",
			want: []want{
				errorAt("t.orders.foreign_key", "column code of public.orders is text and id of public.users is integer: they cannot be compared with =", ""),
				errorAt("t.org.column", "column email of public.users is text and id of public.orgs is integer", ""),
			}},
		{name: "composite catalog key against a single column", schema: "table: users\nprimary_key: id\nfields:\n  - many_to_many: tags\n    table: user_tags\n    through: { table: user_tags, left_key: user_id, right_key: tag_id }\n    fields:\n      - integer: tagId\n        column: tag_id\n",
			want: []want{errorAt("t.tags.through.right_key", "right_key has 1 column(s) but primary_key of public.user_tags has 2 (user_id, tag_id)", "")}},

		// required.
		{name: "required on a nullable column", schema: "table: users\nfields:\n  - text: bio\n    required: true\n  - geo: location\n    lat: lat\n    lon: lon\n    required: true\n",
			want: []want{
				warningAt("t.bio", "required, but column bio of public.users is nullable: documents may carry null", "add NOT NULL to the column, give the field a default, or drop required"),
				warningAt("t.location", "required, but column lat of public.users is nullable", ""),
			}},
		{name: "required to-one relation on a nullable column", schema: "table: users\nprimary_key: id\nfields:\n  - belongs_to: org\n    table: orgs\n    column: org_id\n    required: true\n    fields:\n      - text: name\n",
			want: []want{warningAt("t.org", "required, but column org_id of public.users is nullable", "add NOT NULL to the column, or drop required")}},

		// Keys and replica identity.
		{name: "root table without a key", sql: "CREATE TABLE logs (msg text); ALTER TABLE logs REPLICA IDENTITY FULL;",
			schema: "table: logs\nfields:\n  - text: msg\n",
			want:   []want{errorAt("t.primary_key", "public.logs has no primary key, and the schema declares none", "declare primary_key")}},
		{name: "relation key omitted on a table without one", sql: "CREATE TABLE notes (user_id int, body text); ALTER TABLE notes REPLICA IDENTITY FULL;",
			schema: "table: users\nprimary_key: id\nfields:\n  - has_many: notes\n    table: notes\n    foreign_key: user_id\n    fields:\n      - text: body\n",
			want:   []want{errorAt("t.notes.primary_key", "public.notes has no primary key, and the schema declares none", "declare primary_key")}},
		{name: "aggregate through a table without a key", sql: "CREATE TABLE badges (id int, label text); ALTER TABLE badges REPLICA IDENTITY FULL;",
			schema: "table: users\nprimary_key: id\nfields:\n  - count: badgeCount\n    table: badges\n    through: { table: user_tags, left_key: user_id, right_key: tag_id }\n",
			want:   []want{errorAt("t.badgeCount.through.right_key", "public.badges has no primary key for through.right_key to reference", "add a primary key to the table")}},
		{name: "related table without REPLICA IDENTITY FULL", sql: "ALTER TABLE orders REPLICA IDENTITY DEFAULT;",
			schema: "table: users\nprimary_key: id\nfields:\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields:\n      - long: id\n  - count: orderCount\n    table: orders\n    foreign_key: user_id\n",
			want: []want{warningAt("t.orders", "public.orders has REPLICA IDENTITY DEFAULT, not FULL: deletes and foreign-key moves of its rows cannot rebuild the document that held them before",
				"ALTER TABLE public.orders REPLICA IDENTITY FULL;")}},
		{name: "junction table without REPLICA IDENTITY FULL", sql: "ALTER TABLE user_tags REPLICA IDENTITY DEFAULT;",
			schema: "table: users\nprimary_key: id\nfields:\n  - ids: tagIds\n    table: tags\n    through: { table: user_tags, left_key: user_id, right_key: tag_id }\n    element_type: integer\n",
			want:   []want{warningAt("t.tagIds", "public.user_tags has REPLICA IDENTITY DEFAULT", "ALTER TABLE public.user_tags REPLICA IDENTITY FULL;")}},
		{name: "table without key nor replica identity", sql: "CREATE TABLE notes (user_id int, body text);",
			schema: "table: users\nprimary_key: id\nfields:\n  - has_many: notes\n    table: notes\n    foreign_key: user_id\n    primary_key: [user_id, body]\n    fields:\n      - text: body\n",
			want: []want{errorAt("t.notes", "public.notes has no primary key and no replica identity: once it is in publication flusso, Postgres refuses its UPDATE and DELETE statements (SQLSTATE 55000)",
				"ALTER TABLE public.notes REPLICA IDENTITY FULL;")}},
		{name: "root key outside the replica identity", schema: "table: users\nprimary_key: email\nfields:\n  - keyword: email\n",
			want: []want{warningAt("t.primary_key", "a delete of a public.users row carries only (id), not the document key (email)", "ALTER TABLE public.users REPLICA IDENTITY FULL;")}},

		// Publication.
		{name: "publication missing, flusso creates it", sql: "DROP PUBLICATION flusso;",
			schema: "table: users\nprimary_key: id\nfields:\n  - count: n\n    table: orders\n    foreign_key: user_id\n",
			want: []want{warningAt("capture.publication", "publication flusso does not exist: flusso will create it when it starts (manage_publication = true)",
				"CREATE PUBLICATION flusso FOR TABLE public.users, public.orders;")}},
		{name: "publication partial, manage_publication off", sql: "DROP PUBLICATION flusso; CREATE PUBLICATION flusso FOR TABLE users;", toml: "manage_publication = false",
			schema: "table: users\nprimary_key: id\nfields:\n  - count: n\n    table: orders\n    foreign_key: user_id\n",
			want: []want{errorAt("capture.publication", "publication flusso does not cover public.orders, and flusso will not fix it: manage_publication is false",
				"ALTER PUBLICATION flusso ADD TABLE public.orders;")}},
		{name: "publication names quoted where needed", sql: `DROP PUBLICATION flusso; CREATE TABLE "order" (id int PRIMARY KEY);`,
			schema: "table: order\nfields:\n  - integer: id\n",
			want:   []want{warningAt("capture.publication", "publication flusso does not exist", `CREATE PUBLICATION flusso FOR TABLE public."order";`)}},
		{name: "views stay out of the publication", sql: "DROP PUBLICATION flusso; CREATE PUBLICATION flusso FOR TABLE users; CREATE VIEW people AS SELECT id, email FROM users;",
			schema: "table: users\nprimary_key: id\nfields:\n  - has_one: person\n    table: people\n    foreign_key: id\n    primary_key: id\n    fields:\n      - keyword: email\n",
			want:   []want{warningAt("t.person.table", "public.people is a view", "")}},
		{name: "publication without deletes", sql: "DROP PUBLICATION flusso; CREATE PUBLICATION flusso FOR ALL TABLES WITH (publish = 'insert, update');",
			schema: "table: users\nfields:\n  - integer: id\n",
			want: []want{errorAt("capture.publication", "publication flusso does not publish every insert, update and delete",
				"ALTER PUBLICATION flusso SET (publish = 'insert, update, delete, truncate');")}},
		{name: "publication without truncate", sql: "DROP PUBLICATION flusso; CREATE PUBLICATION flusso FOR ALL TABLES WITH (publish = 'insert, update, delete');",
			schema: "table: users\nfields:\n  - integer: id\n",
			want:   []want{warningAt("capture.publication", "publication flusso does not publish TRUNCATE", "ALTER PUBLICATION flusso SET (publish = 'insert, update, delete, truncate');")}},

		// The role.
		{name: "role without REPLICATION", asRole: true,
			schema: "table: users\nfields:\n  - integer: id\n",
			want:   []want{errorAt("source", "role {role} may not stream changes: it has neither REPLICATION nor SUPERUSER", "ALTER ROLE {role} WITH REPLICATION;")}},
		{name: "role may not create the publication", asRole: true, sql: "ALTER ROLE {role} REPLICATION; DROP PUBLICATION flusso;",
			schema: "table: users\nfields:\n  - integer: id\n",
			want: []want{errorAt("capture.publication", "publication flusso does not exist, and flusso will not fix it: role {role} may not create one (no CREATE on database",
				"CREATE PUBLICATION flusso FOR TABLE public.users;")}},
		{name: "role may create the publication and owns the tables", asRole: true,
			sql:    "ALTER ROLE {role} REPLICATION; DROP PUBLICATION flusso; GRANT CREATE ON DATABASE {database} TO {role}; ALTER TABLE users OWNER TO {role};",
			schema: "table: users\nfields:\n  - integer: id\n",
			want:   []want{warningAt("capture.publication", "publication flusso does not exist: flusso will create it when it starts", "CREATE PUBLICATION flusso FOR TABLE public.users;")}},
		{name: "role does not own the tables to add", asRole: true,
			sql:    "ALTER ROLE {role} REPLICATION; DROP PUBLICATION flusso; GRANT CREATE ON DATABASE {database} TO {role}; ALTER TABLE orders OWNER TO {role};",
			schema: "table: users\nprimary_key: id\nfields:\n  - count: n\n    table: orders\n    foreign_key: user_id\n",
			want:   []want{errorAt("capture.publication", "flusso will not fix it: role {role} does not own public.users", "CREATE PUBLICATION flusso FOR TABLE public.users, public.orders;")}},
		{name: "role does not own the publication", asRole: true,
			sql:    "ALTER ROLE {role} REPLICATION; DROP PUBLICATION flusso; CREATE PUBLICATION flusso FOR TABLE orders; ALTER TABLE users OWNER TO {role};",
			schema: "table: users\nfields:\n  - integer: id\n",
			want:   []want{errorAt("capture.publication", "flusso will not fix it: role {role} does not own the publication", "ALTER PUBLICATION flusso ADD TABLE public.users;")}},
		{name: "role owning the publication and the tables", asRole: true,
			sql:    "ALTER ROLE {role} REPLICATION; DROP PUBLICATION flusso; CREATE PUBLICATION flusso FOR TABLE orders; ALTER PUBLICATION flusso OWNER TO {role}; ALTER TABLE users OWNER TO {role};",
			schema: "table: users\nfields:\n  - integer: id\n",
			want:   []want{warningAt("capture.publication", "publication flusso does not cover public.users: flusso will add them to it when it starts", "ALTER PUBLICATION flusso ADD TABLE public.users;")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, vars := runCase(t, tc)
			expect(t, rep.Diagnostics, tc.want, vars)
		})
	}
}

// runCase loads the case's deployment into a fresh database and checks it.
func runCase(t *testing.T, tc ruleCase) (Report, *strings.Replacer) {
	t.Helper()
	role := "r_" + randomHex()
	if tc.asRole {
		// Registered first, so it runs after the database is dropped.
		t.Cleanup(func() { dropRole(t, role) })
	}
	db := pgtest.NewDatabase(t)
	vars := strings.NewReplacer("{role}", role, "{database}", db.Name)
	if tc.asRole {
		db.Exec(t, "CREATE ROLE "+role+" LOGIN")
	}
	db.Exec(t, base+vars.Replace(tc.sql))
	cfg := deployment(t, vars.Replace(tc.toml), tc.schema)
	url := db.URL
	if tc.asRole {
		url = strings.Replace(url, "postgres@", role+"@", 1)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rep, err := Check(context.Background(), cfg, pool)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return rep, vars
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func dropRole(t *testing.T, role string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.Shared(t).URL("postgres"))
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+role)
}

// deployment writes a flusso.toml with one index, t, over schema (without
// its version line) and loads it.
func deployment(t *testing.T, source, schema string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	toml := "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://flusso@127.0.0.1/unused\"\n" + source + "\n[[index]]\nname = \"t\"\nschema = \"t.schema.yml\"\n"
	for name, content := range map[string]string{"flusso.toml": toml, "t.schema.yml": "version: 1\n" + schema} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, diags := config.Load(filepath.Join(dir, "flusso.toml"), config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatalf("the deployment does not load:\n%v", err)
	}
	return cfg
}

// expect checks that every wanted finding is there, located, and that no
// other error is: no rule may fire where it should not. Want none at all
// for a clean deployment.
func expect(t *testing.T, got config.Diagnostics, wants []want, vars *strings.Replacer) {
	t.Helper()
	matched := make([]bool, len(got))
	for _, w := range wants {
		w.msg, w.hint = vars.Replace(w.msg), vars.Replace(w.hint)
		found := false
		for i, d := range got {
			if d.Severity != w.sev || d.Path != w.path || !strings.Contains(d.Message, w.msg) {
				continue
			}
			found, matched[i] = true, true
			if w.hint != "" && d.Hint != w.hint {
				t.Errorf("%s at %s: hint\n  %q\nwant\n  %q", w.sev, w.path, d.Hint, w.hint)
			}
			checkPosition(t, d)
			break
		}
		if !found {
			t.Errorf("no %s at %s saying %q; got:\n%s", w.sev, w.path, w.msg, list(got))
		}
	}
	for i, d := range got {
		if !matched[i] && (d.Severity == config.SeverityError || len(wants) == 0) {
			t.Errorf("unexpected %s: %s", d.Severity, d)
		}
	}
}

// checkPosition: a finding about a field points at its line in the schema
// file, one about the schema's top keys at the file, one about the
// deployment at flusso.toml.
func checkPosition(t *testing.T, d config.Diagnostic) {
	t.Helper()
	first, rest, _ := strings.Cut(d.Path, ".")
	top, _, _ := strings.Cut(rest, ".")
	switch {
	case first != "t":
		if filepath.Base(d.File) != "flusso.toml" {
			t.Errorf("%s: located in %q, want flusso.toml", d.Path, d.File)
		}
	case filepath.Base(d.File) != "t.schema.yml":
		t.Errorf("%s: located in %q, want t.schema.yml", d.Path, d.File)
	case strings.HasPrefix(top, "table") || strings.HasPrefix(top, "primary_key") || strings.HasPrefix(top, "filters") || strings.HasPrefix(top, "soft_delete"):
	case d.Line == 0:
		t.Errorf("%s: no line for a finding about a field", d.Path)
	}
}

func list(ds config.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

// The server settings cannot change under a running test cluster: the rule
// is checked on what the server would report.
func TestSettings(t *testing.T) {
	good := Server{Role: "app", quotedRole: "app", Replication: true, WALLevel: "logical", MaxReplicationSlots: 10, MaxWALSenders: 10}
	cases := []struct {
		name   string
		change func(*Server)
		want   []want
	}{
		{name: "a logical server and a replication role", change: func(*Server) {}},
		{name: "a superuser needs no REPLICATION", change: func(s *Server) { s.Replication, s.Superuser = false, true }},
		{name: "wal_level replica", change: func(s *Server) { s.WALLevel = "replica" },
			want: []want{errorAt("source", "wal_level is replica: flusso reads changes through logical replication, which needs wal_level = logical", "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL")}},
		{name: "no replication slots", change: func(s *Server) { s.MaxReplicationSlots = 0 },
			want: []want{errorAt("source", "max_replication_slots is 0", "ALTER SYSTEM SET max_replication_slots = 10; then restart PostgreSQL")}},
		{name: "no WAL senders", change: func(s *Server) { s.MaxWALSenders = 0 },
			want: []want{errorAt("source", "max_wal_senders is 0", "ALTER SYSTEM SET max_wal_senders = 10; then restart PostgreSQL")}},
		{name: "a role that may not replicate", change: func(s *Server) { s.Role, s.quotedRole, s.Replication = "Ops", `"Ops"`, false },
			want: []want{errorAt("source", "role Ops may not stream changes", `ALTER ROLE "Ops" WITH REPLICATION;`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.change(&s)
			c := &checker{cfg: &config.Config{File: "/x/flusso.toml"}}
			c.settings(s)
			expect(t, c.diags, tc.want, strings.NewReplacer())
		})
	}
}

func TestSlot(t *testing.T) {
	other := pgtest.NewDatabase(t)
	elsewhere := "s_" + randomHex()
	other.Exec(t, "SELECT pg_create_logical_replication_slot('"+elsewhere+"', 'pgoutput')")
	db := pgtest.NewDatabase(t)
	db.Exec(t, base)
	decoding, mine := "s_"+randomHex(), "s_"+randomHex()
	db.Exec(t, "SELECT pg_create_logical_replication_slot('"+decoding+"', 'test_decoding'); SELECT pg_create_logical_replication_slot('"+mine+"', 'pgoutput')")
	pool := db.Pool(t)
	for _, tc := range []struct {
		slot   string
		exists bool
		want   []want
	}{
		{slot: "s_" + randomHex()},
		{slot: mine, exists: true},
		{slot: decoding, exists: true, want: []want{errorAt("capture.slot", "replication slot "+decoding+" exists and is a logical slot of plugin test_decoding: flusso needs a pgoutput slot", "choose another slot name (capture.slot), or drop this slot")}},
		{slot: elsewhere, exists: true, want: []want{errorAt("capture.slot", "replication slot "+elsewhere+" belongs to database "+other.Name+", not "+db.Name, "choose another slot name (capture.slot)")}},
	} {
		cfg := deployment(t, "[capture]\nslot = \""+tc.slot+"\"", "table: users\nfields:\n  - integer: id\n")
		rep, err := Check(context.Background(), cfg, pool)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Slot.Name != tc.slot || rep.Slot.Exists != tc.exists {
			t.Errorf("slot %s: report %+v, want exists %t", tc.slot, rep.Slot, tc.exists)
		}
		expect(t, rep.Diagnostics, tc.want, strings.NewReplacer())
	}
}

func TestReportSummarisesEachIndex(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, base)
	cfg := deployment(t, "", "table: users\nprimary_key: id\nfields:\n  - keyword: email\n  - text: bioo\n    column: bioo\n  - has_many: orders\n    table: orders\n    foreign_key: user_id\n    fields:\n      - long: id\n")
	cfg.Indexes = append(cfg.Indexes, &config.Index{Name: "off", Enabled: false, Schema: cfg.Indexes[0].Schema})
	rep, err := Check(context.Background(), cfg, db.Pool(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Indexes) != 2 {
		t.Fatalf("indexes %+v", rep.Indexes)
	}
	got := rep.Indexes[0]
	// users.id, email, bioo; orders.user_id, id.
	if !got.Checked || strings.Join(got.Tables, ",") != "public.users,public.orders" || got.Columns != 5 || got.Errors != 1 || got.Warnings != 0 {
		t.Errorf("summary %+v", got)
	}
	if off := rep.Indexes[1]; off.Checked || len(off.Tables) != 0 {
		t.Errorf("a disabled index is not checked: %+v", off)
	}
	if rep.Server.WALLevel != "logical" || !rep.Server.Superuser || rep.Server.Database != db.Name || rep.Server.Version == "" {
		t.Errorf("server %+v", rep.Server)
	}
	if !rep.Publication.Exists || !rep.Publication.AllTables || len(rep.Publication.Missing) != 0 || rep.Publication.SQL != "" {
		t.Errorf("publication %+v", rep.Publication)
	}
}

func TestCheckFailsOnlyWhenTheDatabaseDoes(t *testing.T) {
	db := pgtest.NewDatabase(t)
	cfg := deployment(t, "", "table: users\nfields:\n  - integer: id\n")
	pool := db.Pool(t)
	pool.Close()
	if _, err := Check(context.Background(), cfg, pool); err == nil {
		t.Fatal("a closed pool checked fine")
	}
}

// The example deployment passes against its own database.
func TestExamplesPass(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.ExecFiles(t, "../../examples/postgres/01_schema.sql", "../../examples/postgres/02_seed.sql")
	checkDeployment(t, db, "../../examples/flusso.toml")
}

// The Rust flusso 0.15 development deployment passes against its database.
func TestUpstreamDevPasses(t *testing.T) {
	dev := filepath.Join(compattest.Dir(t), "dev")
	db := pgtest.NewDatabase(t)
	db.ExecFiles(t, filepath.Join(dev, "postgres/01_schema.sql"), filepath.Join(dev, "postgres/02_seed.sql"), filepath.Join(dev, "postgres/03_replication.sql"))
	rep := checkDeployment(t, db, filepath.Join(dev, "flusso.toml"))
	if !rep.Publication.Exists || len(rep.Publication.Missing) != 0 {
		t.Errorf("03_replication.sql's publication covers every table: %+v", rep.Publication)
	}
}

func checkDeployment(t *testing.T, db *pgtest.Database, path string) Report {
	t.Helper()
	cfg, diags := config.Load(path, config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(context.Background(), cfg, db.Pool(t))
	if err != nil {
		t.Fatal(err)
	}
	if errs := rep.Diagnostics.Errors(); len(errs) > 0 {
		t.Errorf("%s has errors against its database:\n%s", path, list(errs))
	}
	for _, ix := range rep.Indexes {
		if !ix.Checked || ix.Columns == 0 || len(ix.Tables) == 0 {
			t.Errorf("index %s was not checked: %+v", ix.Name, ix)
		}
	}
	return rep
}
