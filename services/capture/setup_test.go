package capture

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pglogrepl"
)

const shopSQL = `
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, amount int NOT NULL);
ALTER TABLE orders REPLICA IDENTITY FULL;
CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL);
CREATE TABLE audit (id bigint PRIMARY KEY);
`

const usersYAML = `
version: 1
table: users
primary_key: id
fields:
  - keyword: email
  - has_many: orders
    table: orders
    foreign_key: user_id
    fields:
      - integer: amount
`

const productsYAML = `
version: 1
table: products
fields:
  - text: name
`

func shop(extra ...string) harnessOptions {
	o := harnessOptions{SQL: shopSQL, Schemas: map[string]string{"users": usersYAML, "products": productsYAML}}
	for _, s := range extra {
		o.SQL += s
	}
	return o
}

func (h *harness) publishedTables(t *testing.T) []string {
	t.Helper()
	return h.queryStrings(t, `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, h.Publication)
}

func TestPublicationCreated(t *testing.T) {
	h := newHarness(t, shop())
	runSetup(t, h.NewCapture(t, "c1", nil))
	want := []string{"public.orders", "public.products", "public.users"}
	if got := h.publishedTables(t); !slices.Equal(got, want) {
		t.Fatalf("publication covers %v, want %v", got, want)
	}
}

func TestPublicationExtended(t *testing.T) {
	h := newHarness(t, shop(`CREATE PUBLICATION flusso FOR TABLE users, audit;`))
	runSetup(t, h.NewCapture(t, "c1", nil))
	// Extended, not replaced: a table someone else published stays.
	want := []string{"public.audit", "public.orders", "public.products", "public.users"}
	if got := h.publishedTables(t); !slices.Equal(got, want) {
		t.Fatalf("publication covers %v, want %v", got, want)
	}
}

func TestPublicationNotManaged(t *testing.T) {
	for _, tc := range []struct {
		name, sql, want string
		published       []string
	}{
		{"missing", "", "CREATE PUBLICATION flusso FOR TABLE public.orders, public.products, public.users;", nil},
		{"incomplete", "CREATE PUBLICATION flusso FOR TABLE users;", "ALTER PUBLICATION flusso ADD TABLE public.orders, public.products;", []string{"public.users"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, shop(tc.sql))
			c := h.newCaptureWith(t, "c1", nil, func(cfg *config.Config) { cfg.Source.ManagePublication = false }, nil)
			err := setupErr(t, c)
			t.Log(err)
			mustContain(t, err, "manage_publication is false", tc.want)
			if h.slotExists(t) {
				t.Fatal("the slot was created although the publication is incomplete")
			}
			if got := h.publishedTables(t); !slices.Equal(got, tc.published) {
				t.Fatalf("publication changed to %v", got)
			}
		})
	}
}

func TestPublicationRoleWithoutRights(t *testing.T) {
	h := newHarness(t, shop())
	role := "flusso_" + h.DB.Name // roles are cluster-wide
	h.Exec(t, `CREATE ROLE `+role+` LOGIN REPLICATION;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO `+role+`;
CREATE PUBLICATION flusso FOR TABLE users;`)
	t.Cleanup(func() {
		_, _ = h.Pool.Exec(context.Background(), `DROP OWNED BY `+role+`; DROP ROLE `+role)
	})
	url := "postgres://" + role + "@127.0.0.1:" + strconv.Itoa(h.DB.Cluster.Port) + "/" + h.DB.Name + "?sslmode=disable"
	env := func(k string) (string, bool) {
		if k == config.ReservedDatabaseURL {
			return url, true
		}
		return "", false
	}
	c := h.newCaptureWith(t, "c1", nil, nil, env)
	err := setupErr(t, c)
	mustContain(t, err, "does not own the publication", "ALTER PUBLICATION flusso ADD TABLE public.orders, public.products;")
	if h.slotExists(t) {
		t.Fatal("the slot was created although the publication is incomplete")
	}
}

func TestSlotOtherPlugin(t *testing.T) {
	h := newHarness(t, shop())
	h.Exec(t, `SELECT pg_create_logical_replication_slot('`+h.Slot+`', 'test_decoding')`)
	err := setupErr(t, h.NewCapture(t, "c1", nil))
	mustContain(t, err, h.Slot, "test_decoding", "pgoutput")
}

func TestSlotActiveIsStandby(t *testing.T) {
	h := newHarness(t, shop())
	first := runSetup(t, h.NewCapture(t, "c1", nil))
	// The first capture streams: it holds the slot.
	if err := pglogrepl.StartReplication(context.Background(), first.conn, h.Slot, pglogrepl.LSN(first.start), pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'flusso'"},
	}); err != nil {
		t.Fatal(err)
	}
	err := setupErr(t, h.NewCapture(t, "c2", nil))
	if !errors.Is(err, errSlotActive) {
		t.Fatalf("setup of a second capture: %v, want errSlotActive", err)
	}
}

// A slot Postgres invalidated (max_slot_wal_keep_size exceeded) lost the
// WAL it needed: the next setup replaces it and reseeds every index.
func TestSlotInvalidatedReseeds(t *testing.T) {
	h := newPrivateHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x');`))
	h.Exec(t, `ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`)
	h.Exec(t, `SELECT pg_reload_conf()`)
	first := runSetup(t, h.NewCapture(t, "c1", nil))
	first.close()
	h.backfillStarted(t, "users")

	h.Exec(t, `CREATE TABLE junk (id int, pad text)`)
	waitFor(t, 60*time.Second, "the slot to be invalidated", func() bool {
		h.Exec(t, `INSERT INTO junk SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g`)
		h.Exec(t, `SELECT pg_switch_wal()`)
		h.Exec(t, `CHECKPOINT`)
		var status *string
		if err := h.Pool.QueryRow(context.Background(), `SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1`, h.Slot).Scan(&status); err != nil {
			t.Fatal(err)
		}
		return status != nil && *status == "lost"
	})

	second := runSetup(t, h.NewCapture(t, "c2", nil))
	if second.start <= first.start {
		t.Fatalf("start %s; the invalidated slot started at %s", second.start, first.start)
	}
	for _, ix := range []string{"products", "users"} {
		if ev := h.backfillStarted(t, ix); ev.Reason != reasonSlotLost || ev.SnapshotLSN != second.start.String() {
			t.Fatalf("%s: BackfillStarted %+v; want slot lost at %s", ix, ev, second.start)
		}
	}
	var status string
	if err := h.Pool.QueryRow(context.Background(), `SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1`, h.Slot).Scan(&status); err != nil || status == "lost" {
		t.Fatalf("the new slot: wal_status %q, %v", status, err)
	}
}
