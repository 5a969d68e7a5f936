package capture

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/jackc/pgx/v5"
)

// streamSQL is the source of the streaming tests: users (default replica
// identity, a TOASTed column), their orders (FULL), accounts (a composite
// key) read by the indexes, and an audit table no index reads.
const streamSQL = `
CREATE TABLE users    (id int PRIMARY KEY, name text, bio text);
ALTER TABLE users ALTER COLUMN bio SET STORAGE EXTERNAL;
CREATE TABLE orders   (id int PRIMARY KEY, user_id int, total int, note text);
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL;
CREATE TABLE accounts (region text, num int, name text, PRIMARY KEY (region, num));
CREATE TABLE audit    (id serial PRIMARY KEY, what text);
`

const streamUsersYAML = `
version: 1
table: users
primary_key: id
fields:
  - integer: id
  - text: name
  - text: bio
  - has_many: orders
    table: orders
    foreign_key: user_id
    fields:
      - integer: total
      - text: note
`

const streamAccountsYAML = `
version: 1
table: accounts
primary_key: [region, num]
fields:
  - keyword: region
  - integer: num
  - text: name
`

func streamHarness(t *testing.T, settings map[string]string) *harness {
	t.Helper()
	return newHarness(t, harnessOptions{
		SQL:      streamSQL,
		Schemas:  map[string]string{"users": streamUsersYAML, "accounts": streamAccountsYAML},
		Settings: settings,
	})
}

// startLive starts a capture and waits until it streams.
func (h *harness) startLive(t *testing.T, instance string) *running {
	t.Helper()
	r := h.StartCapture(t, instance, nil)
	h.WaitEvent(t, events.LiveStarted, 30*time.Second, func(e event) bool { return strings.HasSuffix(e.Source, "/"+instance) })
	return r
}

// change builds an expected change of a table of public.
func change(op changes.Op, table string, keyColumns []string, key ...string) *changes.Change {
	c := &changes.Change{V: changes.Version, Schema: "public", Table: table, Op: op, KeyColumns: keyColumns}
	if len(key) > 0 {
		c.Key = key
	}
	return c
}

var (
	idKey      = []string{"id"}
	accountKey = []string{"region", "num"}
)

func withOldKey(c *changes.Change, key ...string) *changes.Change { c.OldKey = key; return c }

// withOld sets the old row: column, value pairs; "NULL" is SQL NULL.
func withOld(c *changes.Change, kv ...string) *changes.Change {
	c.Old = map[string]*string{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "NULL" {
			c.Old[kv[i]] = nil
			continue
		}
		v := kv[i+1]
		c.Old[kv[i]] = &v
	}
	return c
}

// txResult is a transaction the test ran.
type txResult struct {
	xid              uint32
	before, after    time.Time
	walBefore        changes.LSN
	walAfterCommitOK changes.LSN
}

// tx runs statements in one transaction (rolled back when rollback is
// set) and reports its xid.
func (h *harness) tx(t *testing.T, sql string, rollback bool) txResult {
	t.Helper()
	ctx := context.Background()
	res := txResult{before: time.Now(), walBefore: h.CurrentLSN(t)}
	tx, err := h.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xid int64
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	res.xid = uint32(xid)
	if _, err := tx.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if rollback {
		err = tx.Rollback(ctx)
	} else {
		err = tx.Commit(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.after = time.Now()
	res.walAfterCommitOK = h.CurrentLSN(t)
	return res
}

// normal is a change without what the test cannot know in advance.
func normal(c *changes.Change) *changes.Change {
	n := *c
	n.LSN, n.Seq, n.XID, n.CommitTime = 0, 0, 0, time.Time{}
	return &n
}

func TestStreamChanges(t *testing.T) {
	h := streamHarness(t, nil)
	h.Exec(t, `INSERT INTO users VALUES (100, 'old', NULL); INSERT INTO orders VALUES (500, 100, 1, 'seed')`)
	h.startLive(t, "c1")

	bigBio := strings.Repeat("b", 20000)
	bigNote := strings.Repeat("n", 20000)
	cases := []struct {
		name     string
		sql      string
		rollback bool
		want     []*changes.Change
	}{
		{name: "insert", sql: `INSERT INTO users VALUES (1, 'ana', NULL)`,
			want: []*changes.Change{change(changes.Insert, "users", idKey, "1")}},
		{name: "insert composite key", sql: `INSERT INTO accounts VALUES ('eu', 7, 'x')`,
			want: []*changes.Change{change(changes.Insert, "accounts", accountKey, "eu", "7")}},
		{name: "update keeping the key (default identity: no old row)", sql: `UPDATE users SET name = 'ana b' WHERE id = 1`,
			want: []*changes.Change{change(changes.Update, "users", idKey, "1")}},
		{name: "update changing the key", sql: `UPDATE users SET id = 2 WHERE id = 1`,
			want: []*changes.Change{withOldKey(change(changes.Update, "users", idKey, "2"), "1")}},
		{name: "update changing part of a composite key", sql: `UPDATE accounts SET num = 8 WHERE region = 'eu'`,
			want: []*changes.Change{withOldKey(change(changes.Update, "accounts", accountKey, "eu", "8"), "eu", "7")}},
		{name: "delete (default identity)", sql: `DELETE FROM users WHERE id = 2`,
			want: []*changes.Change{change(changes.Delete, "users", idKey, "2")}},
		{name: "insert with a TOASTed value", sql: `INSERT INTO users VALUES (3, 'toast', '` + bigBio + `')`,
			want: []*changes.Change{change(changes.Insert, "users", idKey, "3")}},
		{name: "update beside an unchanged TOASTed value", sql: `UPDATE users SET name = 'toast 2' WHERE id = 3`,
			want: []*changes.Change{change(changes.Update, "users", idKey, "3")}},
		{name: "FULL: insert", sql: `INSERT INTO orders VALUES (10, 3, 5, '` + bigNote + `')`,
			want: []*changes.Change{change(changes.Insert, "orders", idKey, "10")}},
		{name: "FULL: update carries the old row, TOASTed value included", sql: `UPDATE orders SET total = 6 WHERE id = 10`,
			want: []*changes.Change{withOld(change(changes.Update, "orders", idKey, "10"), "id", "10", "user_id", "3", "total", "5", "note", bigNote)}},
		{name: "FULL: update changing the key and a NULL", sql: `UPDATE orders SET id = 11, user_id = NULL WHERE id = 10`,
			want: []*changes.Change{withOld(withOldKey(change(changes.Update, "orders", idKey, "11"), "10"), "id", "10", "user_id", "3", "total", "6", "note", bigNote)}},
		{name: "FULL: delete", sql: `DELETE FROM orders WHERE id = 11`,
			want: []*changes.Change{withOld(change(changes.Delete, "orders", idKey, "11"), "id", "11", "user_id", "NULL", "total", "6", "note", bigNote)}},
		{name: "multi-table transaction", sql: `
			INSERT INTO users VALUES (4, 'multi', NULL);
			INSERT INTO audit (what) VALUES ('not read: skipped');
			INSERT INTO orders VALUES (12, 4, 1, NULL);
			UPDATE accounts SET name = 'y';
			DELETE FROM users WHERE id = 100`,
			want: []*changes.Change{
				change(changes.Insert, "users", idKey, "4"),
				change(changes.Insert, "orders", idKey, "12"),
				change(changes.Update, "accounts", accountKey, "eu", "8"),
				change(changes.Delete, "users", idKey, "100"),
			}},
		{name: "rolled back", sql: `INSERT INTO users VALUES (5, 'never', NULL)`, rollback: true},
		{name: "only a table no index reads", sql: `INSERT INTO audit (what) VALUES ('x')`},
		{name: "no change at all", sql: `SELECT 1`},
		{name: "truncate", sql: `TRUNCATE orders, audit`,
			want: []*changes.Change{change(changes.Truncate, "orders", nil)}},
		{name: "after the truncate", sql: `INSERT INTO orders VALUES (13, 4, 1, NULL)`,
			want: []*changes.Change{change(changes.Insert, "orders", idKey, "13")}},
	}
	results := make([]txResult, len(cases))
	total := 0
	for i, tc := range cases {
		results[i] = h.tx(t, tc.sql, tc.rollback)
		total += len(tc.want)
	}
	got := h.ReadChanges(t, total, 30*time.Second)
	h.NoMoreChanges(t, 300*time.Millisecond)

	var prev changes.LSN
	i := 0
	for ci, tc := range cases {
		if len(tc.want) == 0 {
			continue
		}
		res := results[ci]
		txGot := got[i : i+len(tc.want)]
		i += len(tc.want)
		for seq, c := range txGot {
			if !reflect.DeepEqual(normal(c), tc.want[seq]) {
				t.Errorf("%s: change %d\n got: %s want: %s", tc.name, seq, dump([]*changes.Change{normal(c)}), dump(tc.want[seq:seq+1]))
			}
			if c.Seq != seq {
				t.Errorf("%s: change %d has seq %d", tc.name, seq, c.Seq)
			}
			if c.LSN != txGot[0].LSN {
				t.Errorf("%s: change %d has LSN %s, the transaction's first %s", tc.name, seq, c.LSN, txGot[0].LSN)
			}
			if c.XID != res.xid {
				t.Errorf("%s: change %d has xid %d, want %d", tc.name, seq, c.XID, res.xid)
			}
			if c.CommitTime.Before(res.before.Add(-time.Second)) || c.CommitTime.After(res.after.Add(time.Second)) {
				t.Errorf("%s: commit time %s outside [%s, %s]", tc.name, c.CommitTime, res.before, res.after)
			}
		}
		lsn := txGot[0].LSN
		if lsn <= prev || lsn < res.walBefore || lsn > res.walAfterCommitOK {
			t.Errorf("%s: commit LSN %s: want above the previous transaction's %s and within [%s, %s]", tc.name, lsn, prev, res.walBefore, res.walAfterCommitOK)
		}
		prev = lsn
	}

	// The truncate reseeded the index reading orders.
	h.WaitEvent(t, events.BackfillStarted, 30*time.Second, func(e event) bool {
		d := decodeData[events.BackfillStartedData](t, e)
		return d.Index == "users" && strings.Contains(d.Reason, "truncate of public.orders")
	})
	// Everything is confirmed, the transactions no message came from
	// included.
	end := results[len(results)-1].walAfterCommitOK
	waitFor(t, 20*time.Second, "the slot to confirm the last transaction", func() bool {
		confirmed, _, _ := h.SlotState(t)
		return confirmed >= end
	})
	captured := h.WaitEvent(t, events.ChangesCaptured, 20*time.Second, nil)
	if d := decodeData[events.ChangesCapturedData](t, captured); d.Changes == 0 || d.Tables["public.users"] == 0 {
		t.Errorf("changes.captured: %s", captured.Data)
	}
	h.WaitEvent(t, events.SlotLag, 20*time.Second, nil)
}

// Transactions that publish nothing still move the slot: one on a table
// the publication covers but no index reads (streamed, skipped), and one
// on a table outside the publication (Postgres sends nothing).
func TestStreamConfirmsPastUnpublishedTransactions(t *testing.T) {
	h := newHarness(t, harnessOptions{
		SQL: streamSQL + `CREATE TABLE other (id int);
			CREATE PUBLICATION flusso FOR TABLE users, orders, accounts, audit;`,
		Schemas: map[string]string{"users": streamUsersYAML, "accounts": streamAccountsYAML},
	})
	h.startLive(t, "c1")
	var published bool
	if err := h.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM pg_publication_tables WHERE pubname = 'flusso' AND tablename = 'audit')`).Scan(&published); err != nil || !published {
		t.Fatalf("audit is not in the publication any more (%v): the test needs it there", err)
	}
	h.tx(t, `INSERT INTO users VALUES (1, 'a', NULL)`, false)
	h.ReadChanges(t, 1, 20*time.Second)
	for _, table := range []string{"audit", "other"} {
		for range 3 {
			h.tx(t, `INSERT INTO `+table+` DEFAULT VALUES`, false)
		}
		end := h.CurrentLSN(t)
		waitFor(t, 30*time.Second, "the slot to confirm past the transactions on "+table, func() bool {
			confirmed, _, _ := h.SlotState(t)
			return confirmed >= end
		})
	}
	h.NoMoreChanges(t, 100*time.Millisecond)
}

// The slot's confirmed position never passes a transaction whose changes
// JetStream has not acknowledged: with the changes stream full, publishing
// waits, and the slot stays.
func TestStreamConfirmsOnlyStoredTransactions(t *testing.T) {
	h := streamHarness(t, map[string]string{"capture.publish_window": "8"})
	h.startLive(t, "c1")
	h.tx(t, `INSERT INTO users VALUES (1, 'a', NULL)`, false)
	h.ReadChanges(t, 1, 20*time.Second)
	first := h.CurrentLSN(t)
	waitFor(t, 20*time.Second, "the first transaction to be confirmed", func() bool {
		confirmed, _, _ := h.SlotState(t)
		return confirmed >= first
	})

	// Fill the stream: it refuses new messages.
	ctx := context.Background()
	stream, err := h.JS.Stream(ctx, h.Names.ChangesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgs = int64(info.State.Msgs)
	if _, err := h.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	stuck := h.tx(t, `INSERT INTO users SELECT g, 'bulk', NULL FROM generate_series(2, 51) g`, false)
	for range 3 {
		h.tx(t, `INSERT INTO audit (what) VALUES ('x')`, false)
	}
	// The capture sees the transaction, fails to store it and waits; the
	// slot must not move past it meanwhile.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); <-tick.C {
		confirmed, _, _ := h.SlotState(t)
		if confirmed >= stuck.walAfterCommitOK {
			t.Fatalf("the slot confirmed %s, past the unstored transaction (committed by %s)", confirmed, stuck.walAfterCommitOK)
		}
	}

	cfg.MaxMsgs = -1
	if _, err := h.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got := h.ReadChanges(t, 50, 30*time.Second)
	seen := map[string]bool{}
	for _, c := range got {
		if c.Op != changes.Insert || c.Table != "users" || seen[c.Key[0]] {
			t.Fatalf("unexpected change after the stream had room: %s", dump([]*changes.Change{c}))
		}
		seen[c.Key[0]] = true
	}
	h.NoMoreChanges(t, 300*time.Millisecond)
	end := h.CurrentLSN(t)
	waitFor(t, 20*time.Second, "the slot to confirm once the stream had room", func() bool {
		confirmed, _, _ := h.SlotState(t)
		return confirmed >= end
	})
}

// A second capture on the slot stands by and takes over when the first
// stops.
func TestStreamStandbyTakesOver(t *testing.T) {
	h := streamHarness(t, nil)
	first := h.startLive(t, "c1")
	h.StartCapture(t, "c2", nil)
	hb := h.WaitEvent(t, events.Heartbeat, 30*time.Second, func(e event) bool { return strings.HasSuffix(e.Source, "/c2") })
	if d := decodeData[events.HeartbeatData](t, hb); d.Role != "standby" {
		t.Fatalf("c2's heartbeat: %s, want role standby", hb.Data)
	}
	h.tx(t, `INSERT INTO users VALUES (1, 'a', NULL)`, false)
	if got := h.ReadChanges(t, 1, 20*time.Second); got[0].Key[0] != "1" {
		t.Fatalf("got %s", dump(got))
	}

	if err := first.Stop(); err != nil {
		t.Fatalf("c1: %v", err)
	}
	h.tx(t, `INSERT INTO users VALUES (2, 'b', NULL)`, false)
	h.WaitEvent(t, events.LiveStarted, 30*time.Second, func(e event) bool { return strings.HasSuffix(e.Source, "/c2") })
	got := h.ReadChanges(t, 1, 20*time.Second)
	if want := change(changes.Insert, "users", idKey, "2"); !reflect.DeepEqual(normal(got[0]), want) {
		t.Fatalf("after the takeover: %s, want %s", dump(got), dump([]*changes.Change{want}))
	}
	h.NoMoreChanges(t, 300*time.Millisecond)
}

// A clean stop confirms what was stored, and a restart resumes after it:
// nothing is published twice.
func TestStreamRestartResumes(t *testing.T) {
	h := streamHarness(t, nil)
	r := h.startLive(t, "c1")
	h.tx(t, `INSERT INTO users SELECT g, 'x', NULL FROM generate_series(1, 100) g`, false)
	h.ReadChanges(t, 100, 20*time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	h.tx(t, `INSERT INTO users VALUES (101, 'y', NULL)`, false)
	h.startLive(t, "c1b")
	got := h.ReadChanges(t, 1, 20*time.Second)
	if got[0].Key[0] != "101" {
		t.Fatalf("after the restart: %s", dump(got))
	}
	h.NoMoreChanges(t, 300*time.Millisecond)
	if n := h.StreamCount(t, "flusso."+h.Names.Pipeline+".changes.>"); n != 101 {
		t.Fatalf("%d changes in the stream, want 101", n)
	}
}

// START_REPLICATION on a slot another connection streams fails with
// errSlotActive, which makes Run stand by.
func TestStreamSlotActive(t *testing.T) {
	h := streamHarness(t, nil)
	h.startLive(t, "c1")
	c2 := h.NewCapture(t, "c2", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c2.replicationConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	err = c2.stream(ctx, conn, 0)
	if !errors.Is(err, errSlotActive) {
		t.Fatalf("stream on an active slot: %v, want errSlotActive", err)
	}
	if !strings.Contains(err.Error(), h.Slot) {
		t.Errorf("the error does not name the slot: %v", err)
	}
}
