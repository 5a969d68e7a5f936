package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/flusso-go/flusso/services/indexer"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
)

// opsWorld is a database with a users table (and an orders table keyed by
// two columns), a NATS server holding the pipeline's streams, and a config
// naming both.
type opsWorld struct {
	db     *pgtest.Database
	js     jetstream.JetStream
	names  changes.Names
	config string
	args   []string
}

func newOpsWorld(t *testing.T) *opsWorld {
	t.Helper()
	db := pgtest.NewDatabase(t)
	db.Exec(t, `CREATE TABLE users (id bigint PRIMARY KEY, email text);
		CREATE TABLE orders (shop text, num int, total int, PRIMARY KEY (shop, num));
		INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com');
		INSERT INTO orders VALUES ('eu', 7, 10);`)
	dir := t.TempDir()
	files := map[string]string{
		"flusso.toml":       fmt.Sprintf("[source]\ntype = \"postgres\"\nconnection_url = %q\n\n[[index]]\nname = \"users\"\nschema = \"users.schema.yml\"\n\n[[index]]\nname = \"orders\"\nschema = \"orders.schema.yml\"\n", db.URL),
		"users.schema.yml":  "version: 1\ntable: users\nprimary_key: id\nfields:\n  - keyword: email\n",
		"orders.schema.yml": "version: 1\ntable: orders\nprimary_key: [shop, num]\nfields:\n  - integer: total\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := natstest.Embedded(t)
	js := srv.JetStream(t)
	slot := "flusso_" + strings.TrimPrefix(db.Name, "t_")
	names := changes.NamesFor(slot)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := changes.EnsureStreams(ctx, js, names, changes.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "flusso.toml")
	return &opsWorld{db: db, js: js, names: names, config: config,
		args: []string{"-c", config, "--nats-url", srv.URL(), "--capture-slot", slot}}
}

func (w *opsWorld) deadLetter(t *testing.T, dl indexer.DeadLetter) {
	t.Helper()
	data, err := json.Marshal(dl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.js.Publish(context.Background(), w.names.DLQSubject(dl.Index), data); err != nil {
		t.Fatal(err)
	}
}

func (w *opsWorld) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return flusso(t, append(args, w.args...)...)
}

// list shows the dead letters, filtered by index, as a table or as JSON
// lines; replay of one index publishes a change of each letter's root row
// at the current WAL position, removes those letters and keeps the others.
func TestDLQListAndReplay(t *testing.T) {
	w := newOpsWorld(t)
	if code, out, errOut := w.run(t, "dlq", "list"); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("empty list: exit %d\n%s%s", code, out, errOut)
	}
	w.deadLetter(t, indexer.DeadLetter{Index: "users", ID: "2", Reason: "mapper_parsing_exception: failed to parse field [email]", Status: 400, Sink: "search", Version: 9, Document: json.RawMessage(`{"email":"b@"}`)})
	w.deadLetter(t, indexer.DeadLetter{Index: "orders", ID: "eu:7", Reason: "illegal_argument_exception", Status: 400, Sink: "search", Version: 9, Document: json.RawMessage(`{"total":10}`)})
	w.deadLetter(t, indexer.DeadLetter{Index: "users", ID: "1", Reason: "mapper_parsing_exception", Status: 400, Sink: "search", Version: 10, Document: json.RawMessage(`{"email":"a@"}`)})

	code, out, errOut := w.run(t, "dlq", "list")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"SEQ", "users", "eu:7", "failed to parse field [email]", "search"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = w.run(t, "dlq", "list", "--index", "users", "--format", "json")
	if code != 0 {
		t.Fatalf("list --format json: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("users letters: %q", lines)
	}
	var first deadLetter
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Index != "users" || first.ID != "2" || first.Seq == 0 || string(first.Document) != `{"email":"b@"}` {
		t.Fatalf("first letter %+v (%v)", first, err)
	}

	code, out, errOut = w.run(t, "dlq", "replay", "--index", "users", "--dry-run")
	if code != 0 || !strings.Contains(out, "would replay 2 dead letter(s)") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	var before string
	w.db.Pool(t).QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&before)
	code, out, errOut = w.run(t, "dlq", "replay", "--index", "users")
	if code != 0 || !strings.Contains(out, "replayed 2 dead letter(s)") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	// The changes: one per letter, of the root row, at or after the WAL
	// position before the replay.
	ctx := context.Background()
	cons, err := w.js.OrderedConsumer(ctx, w.names.ChangesStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lsnBefore, err := changes.ParseLSN(before)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for range 2 {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("replayed change: %v", err)
		}
		c, err := changes.DecodeChange(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject() != w.names.ChangeSubject("public", "users") || c.Op != changes.Update || c.LSN < lsnBefore || strings.Join(c.KeyColumns, ",") != "id" {
			t.Fatalf("replayed change on %s: %+v", m.Subject(), c)
		}
		keys = append(keys, strings.Join(c.Key, ","))
	}
	if strings.Join(keys, " ") != "2 1" {
		t.Errorf("replayed keys %v, want [2 1]", keys)
	}
	code, out, _ = w.run(t, "dlq", "list", "--format", "json")
	if code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, `"id":"eu:7"`) {
		t.Fatalf("left in the stream: %s", out)
	}
	// A composite key splits back into its columns.
	code, out, errOut = w.run(t, "dlq", "replay")
	if code != 0 || !strings.Contains(out, "replayed 1 dead letter(s)") {
		t.Fatalf("replay orders: exit %d\n%s%s", code, out, errOut)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := changes.DecodeChange(m.Data()); c == nil || strings.Join(c.Key, ",") != "eu,7" || strings.Join(c.KeyColumns, ",") != "shop,num" {
		t.Fatalf("orders change %s", m.Data())
	}
	if code, _, errOut := w.run(t, "dlq", "replay", "--index", "nope"); code != 2 || !strings.Contains(errOut, "no enabled index") {
		t.Errorf("unknown index: exit %d, %s", code, errOut)
	}
}

// slot drop refuses a slot in use, drops it with --force, says when there
// is none, and drops the publication when asked.
func TestSlotDrop(t *testing.T) {
	w := newOpsWorld(t)
	slot := w.args[len(w.args)-1]
	ctx := context.Background()
	pool := w.db.Pool(t)
	if _, err := pool.Exec(ctx, `CREATE PUBLICATION flusso FOR TABLE users`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot); err != nil {
		t.Fatal(err)
	}
	// A replication connection streams from the slot, as a capture would.
	sep := "?"
	if strings.Contains(w.db.URL, "?") {
		sep = "&"
	}
	repl, err := pgconn.Connect(ctx, w.db.URL+sep+"replication=database")
	if err != nil {
		t.Fatal(err)
	}
	defer repl.Close(context.Background())
	if err := pglogrepl.StartReplication(ctx, repl, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'flusso'"}}); err != nil {
		t.Fatal(err)
	}
	waitActive := time.Now().Add(10 * time.Second)
	for {
		var active bool
		if err := pool.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if active {
			break
		}
		if time.Now().After(waitActive) {
			t.Fatal("the slot never became active")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if code, _, errOut := w.run(t, "slot", "drop"); code != 1 || !strings.Contains(errOut, "slot "+slot+" is in use") || !strings.Contains(errOut, "--force") {
		t.Fatalf("slot in use: exit %d, %s", code, errOut)
	}
	code, out, errOut := w.run(t, "slot", "drop", "--force", "--publication")
	if code != 0 || !strings.Contains(out, "dropped replication slot "+slot) || !strings.Contains(out, "dropped publication flusso") {
		t.Fatalf("--force: exit %d\n%s%s", code, out, errOut)
	}
	var slots, pubs int
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&slots)
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_publication WHERE pubname = 'flusso'`).Scan(&pubs)
	if slots != 0 || pubs != 0 {
		t.Fatalf("%d slots and %d publications left", slots, pubs)
	}
	if code, out, _ := w.run(t, "slot", "drop"); code != 0 || !strings.Contains(out, "no replication slot "+slot) {
		t.Fatalf("no slot: exit %d, %s", code, out)
	}
}
