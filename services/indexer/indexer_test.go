package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/memory"
	"github.com/nats-io/nats.go/jetstream"
)

const usersSQL = `
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, deleted_at timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users(id), amount int NOT NULL);
ALTER TABLE users REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;
INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 300) g;
INSERT INTO orders SELECT g, 1 + g % 300, g FROM generate_series(1, 900) g;
`

const usersYAML = `
version: 1
table: users
primary_key: id
soft_delete:
  column: deleted_at
fields:
  - keyword: email
  - has_many: orders
    table: orders
    foreign_key: user_id
    order_by:
      - column: id
    fields:
      - integer: amount
`

const liveChanges = `
INSERT INTO users VALUES (1001, 'new@example.com');
INSERT INTO orders VALUES (5001, 1001, 7);
UPDATE users SET email = 'changed@example.com' WHERE id = 2;
UPDATE orders SET amount = amount + 1000 WHERE user_id = 3;
UPDATE orders SET user_id = 5 WHERE id = 4;            -- moves from user 4 to user 5
DELETE FROM orders WHERE id = 6;
UPDATE users SET deleted_at = now() WHERE id = 7;      -- soft delete
DELETE FROM orders WHERE user_id = 8; DELETE FROM users WHERE id = 8;
BEGIN; UPDATE users SET email = 'tx@example.com' WHERE id = 9; INSERT INTO orders VALUES (5002, 9, 1); COMMIT;
UPDATE users SET id = 2000 WHERE id = 10 AND NOT EXISTS (SELECT FROM orders WHERE user_id = 10);
`

func usersHarness(t *testing.T, settings map[string]string) *harness {
	return newHarness(t, usersSQL, map[string]string{"users": usersYAML}, "", settings)
}

// Backfill, then live changes of every kind on the root and the child
// table: the sink holds what a fresh build produces, and the generation is
// marked seeded once.
func TestUsersBackfillThenLive(t *testing.T) {
	h := usersHarness(t, map[string]string{"capture.backfill_chunk": "37", "indexer.batch_size": "50"})
	mem := memory.New("mem")
	h.StartCapture(t, "c1")
	h.StartIndexer(t, "i1", nil, mem)
	h.waitConverged(t, 60*time.Second, "backfill", mem)
	waitFor(t, 30*time.Second, "the generation to be seeded", func() bool {
		st := h.indexState(t, "users")
		return st != nil && st.State == "seeded" && st.SeededAt != nil
	})
	if got := mem.SeededGenerations("users"); len(got) == 0 || got[0].Hash != h.indexState(t, "users").Hash {
		t.Fatalf("sink seeded generations %v", got)
	}
	h.Exec(t, liveChanges)
	h.waitConverged(t, 60*time.Second, "live changes", mem)
	if _, ok := mem.Docs("users")["7"]; ok {
		t.Fatal("soft-deleted user 7 still indexed")
	}
	if e, ok := mem.Entry("users", "8"); !ok || e.Doc != nil || e.Version == 0 {
		t.Fatalf("deleted user 8: %+v %v; want a versioned tombstone", e, ok)
	}
}

// Two replicas share the consumer and converge, through backfill and a
// stream of changes.
func TestTwoReplicasConverge(t *testing.T) {
	h := usersHarness(t, map[string]string{"capture.backfill_chunk": "20", "indexer.batch_size": "10"})
	a, b := memory.New("a"), memory.New("b")
	// Each replica writes to its own sink and to a shared one: the shared
	// one sees the race; the own ones show both replicas worked.
	both := memory.New("both")
	h.StartCapture(t, "c1")
	h.StartIndexer(t, "i1", nil, both, a)
	h.StartIndexer(t, "i2", nil, both, b)
	for i := range 20 {
		h.Exec(t, strings.NewReplacer("%d", string(rune('0'+i%10))).Replace(`
UPDATE users SET email = email || 'x' WHERE id % 10 = %d;
UPDATE orders SET user_id = 1 + (user_id + 7) % 300 WHERE id % 10 = %d;
DELETE FROM orders WHERE id % 97 = %d;`))
	}
	h.waitConverged(t, 90*time.Second, "two replicas", both)
	if _, n := a.Writes(); n == 0 {
		t.Error("replica 1 wrote nothing")
	}
	if _, n := b.Writes(); n == 0 {
		t.Error("replica 2 wrote nothing")
	}
}

// A rejection under skip: the document goes to the dead-letter stream with
// its reason, the rest flows and is acked.
func TestRejectSkip(t *testing.T) {
	h := usersHarness(t, map[string]string{"on_error": "skip"})
	mem := memory.New("mem")
	mem.RejectWith(func(op sink.Op) (string, bool) {
		return "mapper_parsing_exception: failed to parse field [email]", op.Doc != nil && strings.Contains(string(op.Doc), "bad@")
	})
	h.StartCapture(t, "c1")
	h.StartIndexer(t, "i1", nil, mem)
	h.waitConverged(t, 60*time.Second, "backfill", mem)
	h.Exec(t, `UPDATE users SET email = 'bad@example.com' WHERE id = 11; UPDATE users SET email = 'good@example.com' WHERE id = 12;`)
	ctx := context.Background()
	cons, err := h.JS.CreateOrUpdateConsumer(ctx, h.Names.DLQStream(), jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(msg.Data(), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Index != "users" || dl.ID != "11" || !strings.Contains(dl.Reason, "mapper_parsing_exception") || !strings.Contains(string(dl.Document), "bad@example.com") {
		t.Fatalf("dead letter %+v", dl)
	}
	if msg.Subject() != h.Names.DLQSubject("users") {
		t.Errorf("dead letter on %s", msg.Subject())
	}
	waitFor(t, 30*time.Second, "user 12 updated", func() bool {
		return strings.Contains(string(mem.Docs("users")["12"]), "good@example.com")
	})
	waitFor(t, 30*time.Second, "everything acked", func() bool { return pending(t, h) == 0 })
}

// A rejection under stop halts the indexer with an error naming the index,
// the document and the reason, and acks nothing of that batch; fixed and
// restarted, it flows.
func TestRejectStop(t *testing.T) {
	h := usersHarness(t, map[string]string{"on_error": "stop"})
	mem := memory.New("mem")
	h.StartCapture(t, "c1")
	first := h.StartIndexer(t, "i1", nil, mem)
	h.waitConverged(t, 60*time.Second, "backfill", mem)
	waitFor(t, 30*time.Second, "the backfill acked", func() bool { return pending(t, h) == 0 })
	mem.RejectWith(func(op sink.Op) (string, bool) {
		return "mapper_parsing_exception: bad email", op.Doc != nil && strings.Contains(string(op.Doc), "bad@")
	})
	h.Exec(t, `UPDATE users SET email = 'bad@example.com' WHERE id = 11`)
	select {
	case <-first.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the indexer did not stop on a rejection under on_error = stop")
	}
	for _, want := range []string{"users", "11", "mapper_parsing_exception: bad email"} {
		if first.err == nil || !strings.Contains(first.err.Error(), want) {
			t.Fatalf("Run returned %v; want an error naming %q", first.err, want)
		}
	}
	if n := pending(t, h); n == 0 {
		t.Fatal("the rejected batch was acked")
	}
	mem.RejectWith(nil) // the data or the mapping is fixed
	h.StartIndexer(t, "i2", nil, mem)
	h.waitConverged(t, 60*time.Second, "after the restart", mem)
	waitFor(t, 30*time.Second, "everything acked", func() bool { return pending(t, h) == 0 })
}

// A sink that fails is retried, never skipped.
func TestSinkErrorRetried(t *testing.T) {
	h := usersHarness(t, map[string]string{"on_error": "skip"})
	mem := memory.New("mem")
	var fails int
	mem.FailWith(func([]sink.Op) error {
		if fails < 3 {
			fails++
			return errors.New("503 Service Unavailable")
		}
		return nil
	})
	h.StartCapture(t, "c1")
	h.StartIndexer(t, "i1", nil, mem)
	h.waitConverged(t, 60*time.Second, "through sink errors", mem)
}

// A message that does not decode is terminated; the indexer goes on.
func TestBadMessageTerminated(t *testing.T) {
	h := usersHarness(t, nil)
	mem := memory.New("mem")
	h.StartCapture(t, "c1")
	r := h.StartIndexer(t, "i1", nil, mem)
	h.waitConverged(t, 60*time.Second, "backfill", mem)
	if _, err := h.JS.Publish(context.Background(), h.Names.ChangeSubject("public", "users"), []byte(`{not json`)); err != nil {
		t.Fatal(err)
	}
	h.Exec(t, `UPDATE users SET email = 'after@example.com' WHERE id = 1`)
	h.waitConverged(t, 30*time.Second, "after a bad message", mem)
	waitFor(t, 30*time.Second, "everything settled", func() bool { return pending(t, h) == 0 })
	select {
	case <-r.done:
		t.Fatalf("the indexer stopped: %v", r.err)
	default:
	}
}

// pending counts the consumer's messages not yet acked or terminated.
func pending(t testing.TB, h *harness) int {
	t.Helper()
	ctx := context.Background()
	c, err := h.JS.Consumer(ctx, h.Names.ChangesStream(), ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending + int(info.NumPending)
}
