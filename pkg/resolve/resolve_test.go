package resolve

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

// The purpose-made database: every relation kind, with some tables of
// REPLICA IDENTITY FULL (the old row travels with an update or delete) and
// some of the default identity (only the old key does). No foreign key
// constraints, so that cases can move and delete rows freely.
const shopSQL = `
CREATE TABLE countries   (code char(2) PRIMARY KEY, name text);
CREATE TABLE companies   (id int PRIMARY KEY, name text, country_code char(2));
CREATE TABLE users       (id bigint PRIMARY KEY, name text, company_id int);
CREATE TABLE profiles    (id int PRIMARY KEY, user_id bigint, bio text);                        -- FULL
CREATE TABLE orders      (id int PRIMARY KEY, user_id bigint, total numeric(10,2), status text); -- default
CREATE TABLE order_items (id int PRIMARY KEY, order_id int, product_id int, qty int);           -- FULL
CREATE TABLE products    (id int PRIMARY KEY, name text);
CREATE TABLE groups      (id int PRIMARY KEY, name text);
CREATE TABLE memberships (user_id bigint, group_id int, PRIMARY KEY (user_id, group_id));       -- default, link in the key
CREATE TABLE tags        (id int PRIMARY KEY, label text);
CREATE TABLE user_tags   (id int PRIMARY KEY, user_id bigint, tag_id int);                      -- default, link not in the key
CREATE TABLE favourites  (id int PRIMARY KEY, user_id bigint, product_id int);                  -- FULL
CREATE TABLE audit_log   (id int PRIMARY KEY, note text);                                       -- read by no enabled index
ALTER TABLE profiles    REPLICA IDENTITY FULL;
ALTER TABLE order_items REPLICA IDENTITY FULL;
ALTER TABLE favourites  REPLICA IDENTITY FULL;

INSERT INTO countries VALUES ('pt', 'Portugal'), ('es', 'Spain');
INSERT INTO companies VALUES (1, 'Acme', 'pt'), (2, 'Bolt', 'es'), (3, 'Cork', 'pt');
INSERT INTO users VALUES (10, 'Ana', 1), (11, 'Bea', 2), (12, 'Caio', 3), (13, 'Dora', NULL);
INSERT INTO profiles VALUES (100, 10, 'hi'), (101, 11, 'hello');
INSERT INTO orders VALUES (200, 10, 5, 'paid'), (201, 10, 7, 'cancelled'), (202, 11, 9, 'paid'), (203, 12, 1, 'paid');
INSERT INTO order_items VALUES (300, 200, 400, 1), (301, 202, 400, 2), (302, 203, 401, 1), (303, 203, NULL, 1);
INSERT INTO products VALUES (400, 'pen'), (401, 'ink'), (402, 'pad');
INSERT INTO groups VALUES (500, 'admins'), (501, 'staff');
INSERT INTO memberships VALUES (10, 500), (11, 500), (12, 501);
INSERT INTO tags VALUES (600, 'vip'), (601, 'new');
INSERT INTO user_tags VALUES (700, 10, 600), (701, 11, 601);
INSERT INTO favourites VALUES (800, 10, 400), (801, 12, 402);

-- Composite keys: the root, a has_many foreign key, a junction and the far table.
CREATE TABLE accounts      (region text, num int, name text, PRIMARY KEY (region, num));
CREATE TABLE account_notes (id int PRIMARY KEY, region text, account_num int, body text);      -- FULL
CREATE TABLE roles         (scope text, name text, PRIMARY KEY (scope, name));
CREATE TABLE account_roles (region text, account_num int, role_scope text, role_name text,
                            PRIMARY KEY (region, account_num, role_scope, role_name));
ALTER TABLE account_notes REPLICA IDENTITY FULL;
INSERT INTO accounts VALUES ('eu', 1, 'one'), ('eu', 2, 'two'), ('us', 1, 'uno');
INSERT INTO account_notes VALUES (1, 'eu', 1, 'a'), (2, 'us', 1, 'b');
INSERT INTO roles VALUES ('org', 'admin'), ('org', 'viewer'), ('app', 'admin');
INSERT INTO account_roles VALUES ('eu', 1, 'org', 'admin'), ('eu', 2, 'org', 'admin'), ('us', 1, 'app', 'admin');

-- A table below itself.
CREATE TABLE employees (id int PRIMARY KEY, name text, manager_id int);
INSERT INTO employees VALUES (1, 'boss', NULL), (2, 'lead', 1), (3, 'lead', 1), (4, 'dev', 2);

-- Same-named tables in two database schemas.
CREATE SCHEMA a;
CREATE SCHEMA b;
CREATE TABLE a.items  (id int PRIMARY KEY, owner_id int);
CREATE TABLE b.owners (id int PRIMARY KEY);
CREATE TABLE b.items  (id int PRIMARY KEY, owner_id int);
INSERT INTO a.items VALUES (1, 5);
INSERT INTO b.owners VALUES (5), (6);
INSERT INTO b.items VALUES (1, 6);
`

const usersYAML = `
version: 1
table: users
primary_key: id
fields:
  - long: id
  - belongs_to: company              # belongs_to inside belongs_to
    table: companies
    column: company_id
    fields:
      - text: name
      - belongs_to: country
        table: countries
        column: country_code
        primary_key: code
        fields:
          - text: name
  - has_one: profile
    table: profiles
    foreign_key: user_id
    fields:
      - text: bio
  - object: shopping
    fields:
      - has_many: orders
        table: orders
        foreign_key: user_id
        filters:
          - { column: status, op: neq, value: cancelled }
        fields:
          - decimal: total
          - has_many: items
            table: order_items
            foreign_key: order_id
            fields:
              - integer: qty
              - belongs_to: product   # three levels below the root
                table: products
                column: product_id
                fields:
                  - text: name
  - many_to_many: groups
    table: groups
    through: { table: memberships, left_key: user_id, right_key: group_id }
    fields:
      - text: name
  - count: orderCount
    table: orders
    foreign_key: user_id
  - sum: orderTotal
    table: orders
    foreign_key: user_id
    column: total
    value_type: decimal
  - ids: tagIds
    table: tags
    through: { table: user_tags, left_key: user_id, right_key: tag_id }
    element_type: integer
  - count: favouriteCount
    table: products
    through: { table: favourites, left_key: user_id, right_key: product_id }
`

const accountsYAML = `
version: 1
table: accounts
primary_key: [region, num]
fields:
  - text: name
  - has_many: notes
    table: account_notes
    foreign_key: [region, account_num]
    fields:
      - text: body
  - many_to_many: roles
    table: roles
    through: { table: account_roles, left_key: [region, account_num], right_key: [role_scope, role_name] }
    fields:
      - keyword: name
`

const employeesYAML = `
version: 1
table: employees
primary_key: id
fields:
  - text: name
  - belongs_to: manager
    table: employees
    column: manager_id
    fields:
      - text: name
  - has_many: reports
    table: employees
    foreign_key: manager_id
    fields:
      - text: name
`

const aItemsYAML = `
version: 1
table: items
schema: a
primary_key: id
fields:
  - integer: id
`

const bOwnersYAML = `
version: 1
table: owners
schema: b
primary_key: id
fields:
  - has_many: items
    table: items
    foreign_key: owner_id
    fields:
      - integer: id
`

const auditYAML = `
version: 1
table: audit_log
primary_key: id
fields:
  - text: note
`

func shopIndexes(t *testing.T) []*config.Index {
	audit := schemaIndex(t, "audit", auditYAML)
	audit.Enabled = false
	return []*config.Index{
		schemaIndex(t, "users", usersYAML),
		schemaIndex(t, "accounts", accountsYAML),
		schemaIndex(t, "employees", employeesYAML),
		schemaIndex(t, "a_items", aItemsYAML),
		schemaIndex(t, "b_owners", bOwnersYAML),
		audit,
	}
}

func TestResolve(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, shopSQL)
	r := newResolver(t, db, shopIndexes(t)...)
	pool := db.Pool(t)
	users := func(ids ...string) map[string][]string { return map[string][]string{"users": ids} }

	runCases(t, pool, r, []resolveCase{
		// The root.
		{name: "root insert", sql: `INSERT INTO users VALUES (14, 'Eva', NULL)`,
			changes: []Change{ins("users", "14")}, want: users("14")},
		{name: "root update", sql: `UPDATE users SET name = 'Ana M' WHERE id = 10`,
			changes: []Change{upd("users", "10")}, want: users("10")},
		{name: "root delete", sql: `DELETE FROM users WHERE id = 13`,
			changes: []Change{del("users", "13").was("id", "13")}, want: users("13")},
		{name: "root key change rebuilds the old and the new document", sql: `UPDATE users SET id = 22 WHERE id = 12`,
			changes: []Change{upd("users", "22").from("12").was("id", "12")}, want: users("12", "22")},

		// belongs_to, and belongs_to inside belongs_to.
		{name: "belongs_to update", sql: `UPDATE companies SET name = 'Acme2' WHERE id = 1`,
			changes: []Change{upd("companies", "1")}, want: users("10")},
		{name: "belongs_to delete finds the rows still pointing at it", sql: `DELETE FROM companies WHERE id = 2`,
			changes: []Change{del("companies", "2").was("id", "2")}, want: users("11")},
		{name: "belongs_to inside belongs_to", sql: `UPDATE countries SET name = 'PT' WHERE code = 'pt'`,
			changes: []Change{upd("countries", "pt")}, want: users("10", "12")},
		{name: "belongs_to nobody points at", sql: `INSERT INTO companies VALUES (4, 'Dune', 'es')`,
			changes: []Change{ins("companies", "4")}},

		// has_one, REPLICA IDENTITY FULL.
		{name: "has_one insert", sql: `INSERT INTO profiles VALUES (102, 12, 'yo')`,
			changes: []Change{ins("profiles", "102")}, want: users("12")},
		{name: "has_one update", sql: `UPDATE profiles SET bio = 'hey' WHERE id = 100`,
			changes: []Change{upd("profiles", "100").was("id", "100", "user_id", "10", "bio", "hi")}, want: users("10")},
		{name: "has_one move (full identity): old and new parent", sql: `UPDATE profiles SET user_id = 13 WHERE id = 100`,
			changes: []Change{upd("profiles", "100").was("id", "100", "user_id", "10", "bio", "hi")}, want: users("10", "13")},
		{name: "has_one delete (full identity): old parent", sql: `DELETE FROM profiles WHERE id = 101`,
			changes: []Change{del("profiles", "101").was("id", "101", "user_id", "11", "bio", "hello")}, want: users("11")},
		{name: "has_one delete of a row without parent", sql: `UPDATE profiles SET user_id = NULL WHERE id = 101; DELETE FROM profiles WHERE id = 101`,
			changes: []Change{del("profiles", "101").was("id", "101", "user_id", "NULL", "bio", "hello")}},

		// has_many and foreign-key aggregates, default identity.
		{name: "has_many insert", sql: `INSERT INTO orders VALUES (204, 13, 3, 'paid')`,
			changes: []Change{ins("orders", "204")}, want: users("13")},
		{name: "has_many update", sql: `UPDATE orders SET total = 6 WHERE id = 200`,
			changes: []Change{upd("orders", "200")}, want: users("10")},
		{name: "has_many update out of the relation's filter still rebuilds", sql: `UPDATE orders SET status = 'cancelled' WHERE id = 200`,
			changes: []Change{upd("orders", "200")}, want: users("10")},
		{name: "has_many move (default identity): only the new parent", sql: `UPDATE orders SET user_id = 11 WHERE id = 200`,
			changes: []Change{upd("orders", "200")}, want: users("11")},
		{name: "has_many delete (default identity): old parent not found", sql: `DELETE FROM orders WHERE id = 202`,
			changes: []Change{del("orders", "202").was("id", "202")}},

		// Nested has_many, REPLICA IDENTITY FULL, and a belongs_to three levels down.
		{name: "nested has_many update", sql: `UPDATE order_items SET qty = 3 WHERE id = 300`,
			changes: []Change{upd("order_items", "300").was("id", "300", "order_id", "200", "product_id", "400", "qty", "1")}, want: users("10")},
		{name: "nested has_many insert", sql: `INSERT INTO order_items VALUES (304, 201, NULL, 1)`,
			changes: []Change{ins("order_items", "304")}, want: users("10")},
		{name: "nested has_many move (full identity): both users", sql: `UPDATE order_items SET order_id = 203 WHERE id = 301`,
			changes: []Change{upd("order_items", "301").was("id", "301", "order_id", "202", "product_id", "400", "qty", "2")}, want: users("11", "12")},
		{name: "nested has_many delete (full identity)", sql: `DELETE FROM order_items WHERE id = 302`,
			changes: []Change{del("order_items", "302").was("id", "302", "order_id", "203", "product_id", "401", "qty", "1")}, want: users("12")},
		{name: "nested has_many delete without the old row", sql: `DELETE FROM order_items WHERE id = 302`,
			changes: []Change{del("order_items", "302")}},
		{name: "three levels deep, plus a through aggregate", sql: `UPDATE products SET name = 'pen2' WHERE id = 400`,
			changes: []Change{upd("products", "400")}, want: users("10", "11")},
		{name: "three levels deep, only the through aggregate", sql: `UPDATE products SET name = 'pad2' WHERE id = 402`,
			changes: []Change{upd("products", "402")}, want: users("12")},

		// many_to_many.
		{name: "many_to_many far side", sql: `UPDATE groups SET name = 'root' WHERE id = 500`,
			changes: []Change{upd("groups", "500")}, want: users("10", "11")},
		{name: "many_to_many junction insert", sql: `INSERT INTO memberships VALUES (13, 501)`,
			changes: []Change{ins("memberships", "13", "501")}, want: users("13")},
		{name: "many_to_many junction delete (link in the key, default identity)", sql: `DELETE FROM memberships WHERE user_id = 11 AND group_id = 500`,
			changes: []Change{del("memberships", "11", "500").was("user_id", "11", "group_id", "500")}, want: users("11")},
		{name: "many_to_many junction key change", sql: `UPDATE memberships SET user_id = 13 WHERE user_id = 10 AND group_id = 500`,
			changes: []Change{upd("memberships", "13", "500").from("10", "500").was("user_id", "10", "group_id", "500")}, want: users("10", "13")},

		// Through aggregates.
		{name: "ids through: far side", sql: `UPDATE tags SET label = 'VIP' WHERE id = 600`,
			changes: []Change{upd("tags", "600")}, want: users("10")},
		{name: "ids through: junction update (default identity): only the new parent", sql: `UPDATE user_tags SET user_id = 12 WHERE id = 701`,
			changes: []Change{upd("user_tags", "701")}, want: users("12")},
		{name: "ids through: junction delete (default identity): not found", sql: `DELETE FROM user_tags WHERE id = 700`,
			changes: []Change{del("user_tags", "700").was("id", "700")}},
		{name: "count through: junction move (full identity)", sql: `UPDATE favourites SET user_id = 11 WHERE id = 800`,
			changes: []Change{upd("favourites", "800").was("id", "800", "user_id", "10", "product_id", "400")}, want: users("10", "11")},
		{name: "count through: junction delete (full identity)", sql: `DELETE FROM favourites WHERE id = 801`,
			changes: []Change{del("favourites", "801").was("id", "801", "user_id", "12", "product_id", "402")}, want: users("12")},

		// Composite keys.
		{name: "composite root update", sql: `UPDATE accounts SET name = 'x' WHERE region = 'eu' AND num = 2`,
			changes: []Change{upd("accounts", "eu", "2")}, want: map[string][]string{"accounts": {"eu:2"}}},
		{name: "composite root key change", sql: `UPDATE accounts SET region = 'us', num = 2 WHERE region = 'eu' AND num = 1`,
			changes: []Change{upd("accounts", "us", "2").from("eu", "1")}, want: map[string][]string{"accounts": {"eu:1", "us:2"}}},
		{name: "composite foreign key move (full identity)", sql: `UPDATE account_notes SET region = 'eu' WHERE id = 2`,
			changes: []Change{upd("account_notes", "2").was("id", "2", "region", "us", "account_num", "1", "body", "b")}, want: map[string][]string{"accounts": {"eu:1", "us:1"}}},
		{name: "composite far key", sql: `UPDATE roles SET name = 'admin' WHERE scope = 'org' AND name = 'admin'`,
			changes: []Change{upd("roles", "org", "admin")}, want: map[string][]string{"accounts": {"eu:1", "eu:2"}}},
		{name: "composite junction delete", sql: `DELETE FROM account_roles WHERE region = 'us'`,
			changes: []Change{del("account_roles", "us", "1", "app", "admin")}, want: map[string][]string{"accounts": {"us:1"}}},
		{name: "composite far key nobody links", sql: `UPDATE roles SET name = 'viewer' WHERE scope = 'org' AND name = 'viewer'`,
			changes: []Change{upd("roles", "org", "viewer")}},

		// A table below itself.
		{name: "self reference: the row, its reports and its manager", sql: `UPDATE employees SET name = 'Lead' WHERE id = 2`,
			changes: []Change{upd("employees", "2")}, want: map[string][]string{"employees": {"1", "2", "4"}}},
		{name: "self reference move (default identity): only the new manager", sql: `UPDATE employees SET manager_id = 3 WHERE id = 4`,
			changes: []Change{upd("employees", "4")}, want: map[string][]string{"employees": {"3", "4"}}},
		{name: "self reference move with the old row", sql: `UPDATE employees SET manager_id = 3 WHERE id = 4`,
			changes: []Change{upd("employees", "4").was("id", "4", "name", "dev", "manager_id", "2")}, want: map[string][]string{"employees": {"2", "3", "4"}}},

		// Same-named tables in two schemas.
		{name: "a.items is the root of a_items", sql: `UPDATE a.items SET owner_id = 6 WHERE id = 1`,
			changes: []Change{upd("a.items", "1")}, want: map[string][]string{"a_items": {"1"}}},
		{name: "b.items belongs to b_owners", sql: `UPDATE b.items SET owner_id = 6 WHERE id = 1`,
			changes: []Change{upd("b.items", "1")}, want: map[string][]string{"b_owners": {"6"}}},

		// Nothing.
		{name: "table of a disabled index", sql: `INSERT INTO audit_log VALUES (1, 'x')`,
			changes: []Change{ins("audit_log", "1")}},
		{name: "table no index reads", changes: []Change{ins("public.nowhere", "1")}},
		{name: "no changes"},

		// Several at once: deduplicated across changes and paths.
		{name: "batch across indexes",
			sql: `UPDATE users SET name = 'x' WHERE id = 10; UPDATE order_items SET qty = 9 WHERE id = 300; UPDATE employees SET name = 'y' WHERE id = 4`,
			changes: []Change{upd("users", "10"), upd("order_items", "300").was("id", "300", "order_id", "200", "product_id", "400", "qty", "1"),
				upd("employees", "4"), upd("countries", "es"), upd("accounts", "eu", "1")},
			want: map[string][]string{"users": {"10", "11"}, "employees": {"2", "4"}, "accounts": {"eu:1"}}},
	})
}

func TestResolveKeepsKeyValues(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, shopSQL)
	r := newResolver(t, db, shopIndexes(t)...)
	got, err := r.Resolve(context.Background(), db.Pool(t), []Change{upd("roles", "org", "admin")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Key{{"eu", "1"}, {"eu", "2"}}
	if !slices.EqualFunc(got["accounts"], want, func(a, b Key) bool { return slices.Equal(a, b) }) {
		t.Errorf("accounts keys = %q, want %q", got["accounts"], want)
	}
}

func TestResolveRejectsAKeyOfTheWrongLength(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, shopSQL)
	r := newResolver(t, db, shopIndexes(t)...)
	_, err := r.Resolve(context.Background(), db.Pool(t), []Change{upd("memberships", "10")})
	if err == nil || !strings.Contains(err.Error(), "public.memberships") || !strings.Contains(err.Error(), "user_id, group_id") {
		t.Fatalf("error = %v, want one naming the table and its key", err)
	}
}

func TestTables(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, shopSQL)
	r := newResolver(t, db, shopIndexes(t)...)
	var got []string
	for _, ref := range r.Tables() {
		got = append(got, ref.String())
	}
	want := []string{
		"a.items", "b.items", "b.owners",
		"public.account_notes", "public.account_roles", "public.accounts", "public.companies", "public.countries",
		"public.employees", "public.favourites", "public.groups", "public.memberships", "public.order_items",
		"public.orders", "public.products", "public.profiles", "public.roles", "public.tags", "public.user_tags", "public.users",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Tables() =\n %v\nwant\n %v", got, want)
	}
	if k := r.KeyColumns(ref("account_roles")); !slices.Equal(k, []string{"region", "account_num", "role_scope", "role_name"}) {
		t.Errorf("KeyColumns(account_roles) = %v", k)
	}
	if k := r.KeyColumns(ref("audit_log")); k != nil {
		t.Errorf("KeyColumns of a table no enabled index reads = %v, want nil", k)
	}
}

// The number of queries depends on the configuration, never on the number
// of changes.
func TestResolveQueriesPerBatchAreBounded(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, shopSQL)
	db.Exec(t, `
INSERT INTO users SELECT g, 'u' || g, 1 + g % 3 FROM generate_series(1000, 1999) g;
INSERT INTO orders SELECT g, 1000 + g % 1000, 1, 'paid' FROM generate_series(10000, 11999) g;
INSERT INTO order_items SELECT g, 10000 + g % 2000, 400 + g % 3, 1 FROM generate_series(20000, 23999) g;
INSERT INTO user_tags SELECT g, 1000 + g % 1000, 600 + g % 2 FROM generate_series(30000, 30999) g;
INSERT INTO employees SELECT g, 'e', g - 1 FROM generate_series(5, 999) g;`)
	r := newResolver(t, db, shopIndexes(t)...)
	pool := db.Pool(t)

	batch := func(n int) []Change {
		var cs []Change
		for i := range n {
			cs = append(cs,
				upd("users", fmt.Sprint(1000+i)),
				upd("orders", fmt.Sprint(10000+i)),
				del("orders", fmt.Sprint(11000+i)).was("id", fmt.Sprint(11000+i)),
				upd("order_items", fmt.Sprint(20000+i)).was("id", fmt.Sprint(20000+i), "order_id", fmt.Sprint(10000+i), "product_id", "400", "qty", "1"),
				del("order_items", fmt.Sprint(21000+i)).was("id", fmt.Sprint(21000+i), "order_id", fmt.Sprint(11000+i), "product_id", "401", "qty", "1"),
				ins("memberships", fmt.Sprint(1000+i), "500"),
				upd("user_tags", fmt.Sprint(30000+i)),
				upd("employees", fmt.Sprint(5+i)),
				upd("accounts", "eu", fmt.Sprint(i)),
				upd("b.items", fmt.Sprint(i)),
			)
		}
		cs = append(cs, upd("products", "401"), upd("countries", "pt"), upd("tags", "600"), upd("roles", "org", "admin"))
		return cs
	}
	count := func(n int) (int64, map[string][]Key) {
		t.Helper()
		q := &countingQuerier{q: pool}
		got, err := r.Resolve(context.Background(), q, batch(n))
		if err != nil {
			t.Fatal(err)
		}
		return q.n.Load(), got
	}
	small, _ := count(3)
	large, got := count(300)
	if small != large {
		t.Errorf("%d queries for a batch of 3 rounds of changes, %d for 300: the count must not grow with the batch", small, large)
	}
	// One read of current rows per changed table whose links are not in its
	// key, and at most one lookup per hop of the configuration.
	if large > 20 {
		t.Errorf("%d queries for one batch, want at most 20", large)
	}
	if n := len(got["users"]); n < 300 {
		t.Errorf("only %d users affected by 300 user updates", n)
	}
	t.Logf("%d queries for %d changes", large, len(batch(300)))
}

func TestNewErrors(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, shopSQL+`
CREATE TABLE nokey (id int, user_id bigint);
CREATE TABLE pair (a int, b int, PRIMARY KEY (a, b));`)
	cat := catalog.New(db.Pool(t))
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"missing root table", "version: 1\ntable: ghosts\nprimary_key: id\nfields: [{long: id}]",
			[]string{"index broken: broken: table public.ghosts does not exist"}},
		{"missing related table", `
version: 1
table: users
primary_key: id
fields:
  - has_many: things
    table: things
    foreign_key: user_id
    fields: [{long: id}]`, []string{"broken.things: table public.things does not exist"}},
		{"missing foreign key column", `
version: 1
table: users
primary_key: id
fields:
  - has_many: orders
    table: orders
    foreign_key: owner_id
    fields: [{long: id}]`, []string{`index broken: broken.orders: table public.orders has no column "owner_id" (foreign_key)`}},
		{"missing belongs_to column", `
version: 1
table: users
primary_key: id
fields:
  - belongs_to: firm
    table: companies
    fields: [{long: id}]`, []string{`broken.firm: table public.users has no column "firm" (column)`}},
		{"missing junction column", `
version: 1
table: users
primary_key: id
fields:
  - count: groupCount
    table: groups
    through: { table: memberships, left_key: member_id, right_key: group_id }`, []string{`broken.groupCount (through): table public.memberships has no column "member_id" (left_key)`}},
		{"missing root key column", "version: 1\ntable: users\nprimary_key: uid\nfields: [{long: id}]",
			[]string{`broken: table public.users has no column "uid" (primary_key)`}},
		{"related table without a key", `
version: 1
table: users
primary_key: id
fields:
  - has_many: nokeys
    table: nokey
    foreign_key: user_id
    fields: [{long: id}]`, []string{"broken.nokeys: table public.nokey has no primary key: declare primary_key"}},
		{"aggregate table without a key", `
version: 1
table: users
primary_key: id
fields:
  - count: nokeys
    table: nokey
    foreign_key: user_id`, []string{"table public.nokey (read by broken.nokeys) has neither a primary key nor a replica identity index"}},
		{"belongs_to column against a composite catalog key", `
version: 1
table: users
primary_key: id
fields:
  - belongs_to: pair
    table: pair
    column: company_id
    fields: [{long: a}]`, []string{"index broken: broken.pair: primary_key of public.pair has 2 column(s) but column of public.users has 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, diags := config.ParseSchema("broken.schema.yml", []byte(tc.yml), "broken")
			if err := diags.Err(); err != nil {
				t.Fatalf("schema: %v", err)
			}
			_, err := New(context.Background(), &config.Config{Indexes: []*config.Index{{Name: "broken", Enabled: true, Schema: s}}}, cat)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n %v\ndoes not contain\n %s", err, w)
				}
			}
		})
	}
}
