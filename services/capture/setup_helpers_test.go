package capture

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Helpers of the setup and backfill tests: they drive setup directly,
// without streaming, and read what it left in Postgres and NATS.

// newCaptureWith builds a capture whose config is changed by edit (nil:
// none) and whose environment is env (nil: empty), closed when the test
// ends.
func (h *harness) newCaptureWith(t testing.TB, instance string, extra map[string]string, edit func(*config.Config), env config.LookupEnv) *Capture {
	t.Helper()
	cfg := h.Config(t, extra)
	if edit != nil {
		edit(cfg)
	}
	if env == nil {
		env = noEnv
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, Options{Config: cfg, JetStream: h.JS, Logger: testLogger(t, instance), Instance: instance, Env: env})
	if err != nil {
		t.Fatalf("capture.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// setupDone is a successful setup: its replication connection and start.
type setupDone struct {
	conn   *pgconn.PgConn
	start  changes.LSN
	cancel context.CancelFunc
}

// close ends the run setup started: the connection and the reindex
// consumer.
func (s *setupDone) close() {
	s.cancel()
	s.conn.Close(context.Background())
}

// runSetup runs c.setup and fails the test on error; the connection is
// closed when the test ends, if not before.
func runSetup(t testing.TB, c *Capture) *setupDone {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, start, err := c.setup(ctx)
	if err != nil {
		cancel()
		t.Fatalf("setup: %v", err)
	}
	s := &setupDone{conn: conn, start: start, cancel: cancel}
	t.Cleanup(s.close)
	return s
}

// setupErr runs c.setup expecting an error, and returns it.
func setupErr(t testing.TB, c *Capture) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, _, err := c.setup(ctx)
	if err == nil {
		conn.Close(ctx)
		t.Fatal("setup succeeded; want an error")
	}
	return err
}

// indexState reads index.<name> from the state bucket; nil when absent.
func (h *harness) indexState(t testing.TB, name string) *IndexState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := h.JS.KeyValue(ctx, h.Names.StateBucket())
	if err != nil {
		t.Fatalf("state bucket: %v", err)
	}
	st := &stateStore{kv: kv}
	s, _, err := st.index(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// slotExists reports whether the test's slot exists.
func (h *harness) slotExists(t testing.TB) bool {
	t.Helper()
	var n int
	if err := h.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, h.Slot).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// backfillStarted waits for the BackfillStarted event of an index.
func (h *harness) backfillStarted(t testing.TB, index string) events.BackfillStartedData {
	t.Helper()
	e := h.WaitEvent(t, events.BackfillStarted, 10*time.Second, func(e event) bool {
		var d events.BackfillStartedData
		return json.Unmarshal(e.Data, &d) == nil && d.Index == index
	})
	return decodeData[events.BackfillStartedData](t, e)
}

// noBackfillStarted fails if a BackfillStarted event of index is stored
// beyond those already read.
func (h *harness) noBackfillStarted(t testing.TB, index string) {
	t.Helper()
	r := h.reader(t, h.Names.EventsStream(), h.Names.EventSubject("capture", events.BackfillStarted))
	deadline := time.Now().Add(300 * time.Millisecond)
	for {
		msg := r.next(t, deadline)
		if msg == nil {
			return
		}
		var d events.BackfillStartedData
		if json.Unmarshal(msg.Data(), &d) == nil && d.Index == index {
			t.Fatalf("unexpected backfill of %s: %s", index, msg.Data())
		}
	}
}

// tasksOf reads the next n tasks and checks they form one seeding of one
// index: numbered 1..n of n, keys adding up to keys.
func (h *harness) tasksOf(t testing.TB, index string, n int, keys int64) []*changes.Task {
	t.Helper()
	tasks := h.ReadTasks(t, n, 10*time.Second)
	var sum int64
	for i, task := range tasks {
		if task.Index != index || task.Seq != i+1 || task.Tasks != n {
			t.Fatalf("task %d: index %s, %d of %d; want %s, %d of %d", i, task.Index, task.Seq, task.Tasks, index, i+1, n)
		}
		if task.Hash != tasks[0].Hash || task.SnapshotLSN != tasks[0].SnapshotLSN {
			t.Fatalf("task %d is of %s@%s, task 1 of %s@%s", i+1, task.Hash, task.SnapshotLSN, tasks[0].Hash, tasks[0].SnapshotLSN)
		}
		sum += int64(task.Keys)
	}
	if sum != keys {
		t.Fatalf("the tasks of %s hold %d keys, want %d", index, sum, keys)
	}
	return tasks
}

// ints reads the single integer bound of a task.
func ints(t testing.TB, key []string) int64 {
	t.Helper()
	if len(key) != 1 {
		t.Fatalf("key %v: want one column", key)
	}
	n, err := strconv.ParseInt(key[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// peekInserts decodes, without consuming, what the (idle) slot would stream
// from its confirmed position, and returns the first column of every row
// inserted into table (by the pgoutput relation name).
func (h *harness) peekInserts(t testing.TB, table string) map[string]bool {
	t.Helper()
	// Decoding stops at the flushed WAL, and the test cluster commits
	// asynchronously: wait for the WAL writer.
	var end string
	if err := h.Pool.QueryRow(context.Background(), `SELECT pg_current_wal_insert_lsn()::text`).Scan(&end); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the WAL flush", func() bool {
		var ok bool
		err := h.Pool.QueryRow(context.Background(), `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, end).Scan(&ok)
		return err == nil && ok
	})
	rows, err := h.Pool.Query(context.Background(),
		`SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`, h.Slot, h.Publication)
	if err != nil {
		t.Fatalf("peek slot %s: %v", h.Slot, err)
	}
	defer rows.Close()
	rels := map[uint32]string{}
	out := map[string]bool{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		m, err := pglogrepl.Parse(data)
		if err != nil {
			t.Fatalf("decode %x: %v", data, err)
		}
		switch m := m.(type) {
		case *pglogrepl.RelationMessage:
			rels[m.RelationID] = m.RelationName
		case *pglogrepl.InsertMessage:
			if rels[m.RelationID] == table {
				out[string(m.Tuple.Columns[0].Data)] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("peek slot %s: %v", h.Slot, err)
	}
	return out
}

// queryStrings runs a query returning one text column.
func (h *harness) queryStrings(t testing.TB, sql string, args ...any) []string {
	t.Helper()
	rows, err := h.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// publishReindex queues a reindex command as the status service would.
func (h *harness) publishReindex(t testing.TB, index string) {
	t.Helper()
	data, _ := json.Marshal(changes.ReindexCommand{Index: index})
	if _, err := h.JS.Publish(context.Background(), h.Names.ControlSubject("reindex"), data); err != nil {
		t.Fatalf("publish reindex %s: %v", index, err)
	}
}

// mustContain fails unless err's message holds every part.
func mustContain(t testing.TB, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// newPrivateHarness is newHarness on a PostgreSQL cluster of the test's
// own, for tests that change server settings.
func newPrivateHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	cluster, err := pgtest.Start()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(cluster.Stop)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE flusso"); err != nil {
		t.Fatal(err)
	}
	db := &pgtest.Database{Name: "flusso", URL: cluster.URL("flusso"), Cluster: cluster}
	if o.SQL != "" {
		db.Exec(t, o.SQL)
	}
	h := &harness{
		DB: db, Pool: db.Pool(t), NATSURL: natstest.Embedded(t).URL(), opts: o,
		Slot: "flusso_private", Publication: "flusso", readers: map[string]*streamReader{},
	}
	nc, err := nats.Connect(h.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h.NC = nc
	if h.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	h.Names = changes.NamesFor(h.Slot)
	return h
}
