package catalog

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ref(schema, name string) config.TableRef { return config.TableRef{Schema: schema, Name: name} }

func TestTablesDescribeTheDatabase(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, `
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN shop.email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE shop.users (id bigint PRIMARY KEY, email shop.email NOT NULL, mood shop.mood, price numeric(10,2), code char(2), tags text[]);
CREATE TABLE public.users (id uuid PRIMARY KEY);
CREATE TABLE shop.links (a int, b int, note text, PRIMARY KEY (b, a));
ALTER TABLE shop.links REPLICA IDENTITY FULL;
CREATE TABLE shop.nokey (x int);
CREATE UNIQUE INDEX nokey_x ON shop.nokey (x);
ALTER TABLE shop.nokey ALTER x SET NOT NULL;
ALTER TABLE shop.nokey REPLICA IDENTITY USING INDEX nokey_x;
`)
	cat := New(db.Pool(t))
	ctx := context.Background()
	tables, err := cat.Tables(ctx, ref("shop", "users"), ref("public", "users"), ref("shop", "links"), ref("shop", "nokey"), ref("shop", "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 4 {
		t.Fatalf("found %d tables, want 4 (the missing one absent)", len(tables))
	}
	users := tables[ref("shop", "users")]
	if strings.Join(users.PrimaryKey, ",") != "id" || users.ReplicaIdentity != 'd' || strings.Join(users.IdentityColumns, ",") != "id" {
		t.Errorf("shop.users key %v identity %c %v", users.PrimaryKey, users.ReplicaIdentity, users.IdentityColumns)
	}
	for _, want := range []Column{
		{Name: "id", Type: "bigint", TypeName: "int8", Category: 'N', NotNull: true},
		{Name: "email", Type: "shop.email", TypeName: "text", Category: 'S', NotNull: true},
		{Name: "mood", Type: "shop.mood", TypeName: "mood", Category: 'E', IsEnum: true},
		{Name: "price", Type: "numeric(10,2)", TypeName: "numeric", Category: 'N'},
		{Name: "code", Type: "character(2)", TypeName: "bpchar", Category: 'S'},
		{Name: "tags", Type: "text[]", TypeName: "_text", Category: 'A'},
	} {
		if got := users.Column(want.Name); got == nil || *got != want {
			t.Errorf("column %s = %+v, want %+v", want.Name, got, want)
		}
	}
	if got := tables[ref("public", "users")].Column("id"); got == nil || got.TypeName != "uuid" {
		t.Errorf("public.users.id = %+v: same-named tables in two schemas must stay apart", got)
	}
	links := tables[ref("shop", "links")]
	if strings.Join(links.PrimaryKey, ",") != "b,a" || links.ReplicaIdentity != 'f' || strings.Join(links.IdentityColumns, ",") != "a,b,note" {
		t.Errorf("shop.links key %v identity %c %v", links.PrimaryKey, links.ReplicaIdentity, links.IdentityColumns)
	}
	nokey := tables[ref("shop", "nokey")]
	if len(nokey.PrimaryKey) != 0 || nokey.ReplicaIdentity != 'i' || strings.Join(nokey.IdentityColumns, ",") != "x" {
		t.Errorf("shop.nokey key %v identity %c %v", nokey.PrimaryKey, nokey.ReplicaIdentity, nokey.IdentityColumns)
	}
	if _, err := nokey.Key(); err == nil || !strings.Contains(err.Error(), "shop.nokey has no primary key") {
		t.Errorf("Key() error = %v", err)
	}
	if _, err := cat.Table(ctx, ref("shop", "missing")); !errors.Is(err, ErrNoTable) || !strings.Contains(err.Error(), "shop.missing") {
		t.Errorf("missing table error = %v", err)
	}
}

func TestCacheAndInvalidate(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	cat := New(db.Pool(t))
	ctx := context.Background()
	before, err := cat.Table(ctx, ref("public", "t"))
	if err != nil {
		t.Fatal(err)
	}
	db.Exec(t, "ALTER TABLE t ADD COLUMN name text")
	cached, _ := cat.Table(ctx, ref("public", "t"))
	if cached != before || cached.Column("name") != nil {
		t.Fatal("the definition was read again without an invalidation")
	}
	cat.Invalidate(ref("public", "t"))
	after, err := cat.Table(ctx, ref("public", "t"))
	if err != nil || after.Column("name") == nil {
		t.Fatalf("after Invalidate: %+v, %v", after, err)
	}
}

func TestPublication(t *testing.T) {
	db := pgtest.NewDatabase(t)
	db.Exec(t, "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); CREATE PUBLICATION part FOR TABLE a; CREATE PUBLICATION everything FOR ALL TABLES")
	ctx := context.Background()
	pool := db.Pool(t)
	p, err := ReadPublication(ctx, pool, "part")
	if err != nil || !p.Exists || p.AllTables || !p.Covers(ref("public", "a")) || p.Covers(ref("public", "b")) || p.Owner != "postgres" {
		t.Errorf("part = %+v, %v", p, err)
	}
	if p, err := ReadPublication(ctx, pool, "everything"); err != nil || !p.Covers(ref("public", "b")) {
		t.Errorf("everything = %+v, %v", p, err)
	}
	if p, err := ReadPublication(ctx, pool, "none"); err != nil || p.Exists {
		t.Errorf("none = %+v, %v", p, err)
	}
}
