package indexer

// End to end with the real OpenSearch sink (pkg/sink/opensearch) against
// the in-process stand-in (pkg/opensearchtest), which fails the test on any
// request or response the OpenSearch OpenAPI specification rejects.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/nats-io/nats.go/jetstream"
)

// The examples through OpenSearch: backfill, then changes on every table;
// every alias serves the oracle's documents, points at the seeded
// generation, and the writes of a caught-up consumer refresh.
func TestOpenSearchExamples(t *testing.T) {
	dir := examplesDir(t)
	h := newHarness(t, "", nil, filepath.Join(dir, "flusso.toml"), map[string]string{"capture.backfill_chunk": "50", "indexer.batch_size": "50"})
	h.DB.ExecFiles(t, filepath.Join(dir, "postgres", "01_schema.sql"), filepath.Join(dir, "postgres", "02_seed.sql"))
	srv := opensearchtest.New(t)
	h.StartCapture(t, "c1")
	h.StartOSIndexer(t, "i1", nil, srv)
	h.waitConvergedOS(t, 90*time.Second, "examples backfill", srv)
	prefix := h.cfg(t, nil).Prefix
	for _, ix := range h.cfg(t, nil).Indexes {
		if ix.Enabled && len(srv.Docs(prefix+ix.Name)) == 0 {
			t.Errorf("index %s is empty", ix.Name)
		}
	}
	h.checkServing(t, srv, "1s")
	h.Exec(t, examplesChanges)
	h.waitConvergedOS(t, 90*time.Second, "examples changes", srv)
	h.checkServing(t, srv, "1s")
	refreshed, plain := 0, 0
	for _, r := range srv.Requests() {
		switch {
		case !strings.HasSuffix(r.Path, "_bulk"):
		case strings.Contains(r.Query, "refresh=true"):
			refreshed++
		default:
			plain++
		}
	}
	if refreshed == 0 || plain == 0 {
		t.Errorf("%d _bulk requests with refresh=true, %d without: live writes of a caught-up consumer refresh, backfill writes do not", refreshed, plain)
	}
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("OpenAPI violations: %v", v)
	}
}

// 429 and 503 bursts and dropped connections (before and after the server
// applied the request) during live changes: retried, the aliases serve the
// oracle, nothing goes to the dead-letter stream even under skip.
func TestOpenSearchFaults(t *testing.T) {
	h := usersHarness(t, map[string]string{"on_error": "skip", "capture.backfill_chunk": "50", "indexer.batch_size": "20"})
	srv := opensearchtest.New(t)
	h.StartCapture(t, "c1")
	h.StartOSIndexer(t, "i1", nil, srv)
	h.waitConvergedOS(t, 60*time.Second, "backfill", srv)
	before := bulkRequests(srv)
	// 4 + 3 + 1 + 1 + 2 = 11 failed _bulk requests, in this order.
	srv.Inject(opensearchtest.Fault{Path: "*_bulk", Status: 429, Times: 4})
	srv.Inject(opensearchtest.Fault{Path: "*_bulk", Status: 503, Times: 3})
	srv.Inject(opensearchtest.Fault{Path: "*_bulk", Drop: true})
	srv.Inject(opensearchtest.Fault{Path: "*_bulk", Drop: true, AfterHandling: true})
	srv.Inject(opensearchtest.Fault{Path: "*_bulk", Status: 429, Times: 2})
	h.Exec(t, liveChanges)
	for i := range 5 {
		h.Exec(t, fmt.Sprintf(`UPDATE users SET email = 'round%d-' || id || '@example.com' WHERE id %% 7 = %d`, i, i))
	}
	h.waitConvergedOS(t, 60*time.Second, "live changes through faults", srv)
	if n := bulkRequests(srv) - before; n < 12 {
		t.Errorf("%d _bulk requests since the faults were injected; want at least 11 failed and one that succeeded", n)
	}
	waitFor(t, 30*time.Second, "everything acked", func() bool { return pending(t, h) == 0 })
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters: a retryable fault was skipped", n)
	}
}

// A document the stand-in rejects item by item (a mapper_parsing_exception)
// under on_error = skip: it lands in the dead-letter stream with its
// reason, everything else converges.
func TestOpenSearchRejectSkip(t *testing.T) {
	h := usersHarness(t, map[string]string{"on_error": "skip"})
	srv := opensearchtest.New(t)
	h.StartCapture(t, "c1")
	h.StartOSIndexer(t, "i1", nil, srv)
	h.waitConvergedOS(t, 60*time.Second, "backfill", srv)
	srv.RejectItems(opensearchtest.ItemFault{IDs: []string{"11"}, Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [email] of type [keyword]"})
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
	if dl.Index != "users" || dl.ID != "11" || dl.Sink != "os" || dl.Status != 400 ||
		!strings.Contains(dl.Reason, "mapper_parsing_exception") || !strings.Contains(dl.Reason, "failed to parse field [email]") ||
		!strings.Contains(string(dl.Document), "bad@example.com") {
		t.Fatalf("dead letter %+v", dl)
	}
	prefix := h.cfg(t, nil).Prefix
	waitFor(t, 30*time.Second, "user 12 updated", func() bool {
		return strings.Contains(string(srv.Docs(prefix + "users")["12"]), "good@example.com")
	})
	waitFor(t, 30*time.Second, "everything acked", func() bool { return pending(t, h) == 0 })
	// Everything but the rejected document equals the oracle.
	oracle := h.Oracle(t)
	oracle["users"]["11"] = srv.Docs(prefix + "users")["11"]
	if d := osDiff(oracle, srv, prefix); d != "" {
		t.Fatalf("besides the rejected document:\n%s", d)
	}
	if strings.Contains(string(srv.Docs(prefix + "users")["11"]), "bad@") {
		t.Fatal("the rejected version of 11 was stored")
	}
}

// bulkRequests counts the _bulk requests the stand-in received.
func bulkRequests(srv *opensearchtest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "_bulk") {
			n++
		}
	}
	return n
}

// A schema change: a second capture and indexer run with a new schema
// hash build a new generation beside the old one; while it seeds (slowed
// by delayed _bulk responses, with live changes going to both), reads
// through the alias keep being served by the old generation; when it is
// seeded the aliases flip to it and it equals the oracle of the new schema.
// The change here reverses the order of the orders of a user: a new hash,
// documents the old generation's mapping still accepts.
func TestOpenSearchSchemaChange(t *testing.T) {
	testSchemaChange(t, strings.Replace(usersYAML, "      - column: id\n", "      - { column: id, direction: desc }\n", 1))
}

// The same with a new field, which the serving generation's strict mapping
// would reject: it is left as it is until the flip.
func TestOpenSearchSchemaChangeNewField(t *testing.T) {
	testSchemaChange(t, strings.Replace(usersYAML, "      - integer: amount\n", "      - integer: amount\n      - integer: user_id\n", 1))
}

func testSchemaChange(t *testing.T, newYAML string) {
	if newYAML == usersYAML {
		t.Fatal("the schema did not change")
	}
	schemas := map[string]string{"users": usersYAML}
	h := newHarness(t, usersSQL, schemas, "", map[string]string{"capture.backfill_chunk": "20", "indexer.batch_size": "10"})
	srv := opensearchtest.New(t)
	c1 := h.StartCapture(t, "c1")
	i1 := h.StartOSIndexer(t, "i1", nil, srv)
	h.waitConvergedOS(t, 60*time.Second, "first generation", srv)
	h.checkServing(t, srv, "1s")
	old := h.indexState(t, "users")
	prefix := h.cfg(t, nil).Prefix
	oldName := prefix + "users_" + old.Hash + "_" + strconv.Itoa(old.Generation)
	if err := i1.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Stop(); err != nil {
		t.Fatal(err)
	}

	schemas["users"] = newYAML
	srv.Inject(opensearchtest.Fault{Path: "*_bulk", Delay: 100 * time.Millisecond, Times: 20})
	h.StartCapture(t, "c2")
	i2 := h.StartOSIndexer(t, "i2", nil, srv)
	h.Exec(t, liveChanges)
	var sawNew bool
	waitFor(t, 60*time.Second, "the aliases to flip to the new generation", func() bool {
		select {
		case <-i2.done:
			t.Fatalf("the indexer stopped during the reindex: %v", i2.err)
		default:
		}
		target := srv.Aliases()[prefix+"users"]
		if len(target) != 1 {
			t.Fatalf("alias %susers -> %v during the reindex", prefix, target)
		}
		if target[0] != oldName {
			return true
		}
		// Reads keep working on the old generation while the new one seeds.
		if n := len(srv.Docs(prefix + "users")); n < 290 {
			t.Fatalf("the old generation serves %d documents during the reindex", n)
		}
		// The state is marked seeded before the sink restores the settings
		// and flips the aliases: only before that must they be the seeding
		// ones.
		if st := h.indexState(t, "users"); st == nil || st.Hash == old.Hash || st.State == "seeded" {
			return false
		}
		for _, name := range srv.Indices() {
			if strings.HasPrefix(name, prefix+"users_") && name != oldName {
				sawNew = true
				if v, _ := srv.Setting(name, "refresh_interval"); v != "-1" {
					t.Errorf("%s: refresh_interval %q while seeding, want -1", name, v)
				}
			}
		}
		return false
	})
	h.waitConvergedOS(t, 60*time.Second, "new generation", srv)
	h.checkServing(t, srv, "1s")
	cur := h.indexState(t, "users")
	if cur.Hash == old.Hash || cur.Generation <= old.Generation {
		t.Fatalf("state after the schema change: hash %s generation %d; before: hash %s generation %d", cur.Hash, cur.Generation, old.Hash, old.Generation)
	}
	if !sawNew {
		t.Error("the new generation was never seen beside the old one")
	}
	info, ok := srv.Index(oldName)
	if !ok {
		t.Fatalf("the old generation %s is gone", oldName)
	}
	// It keeps only the alias of its own hash.
	if want := []string{prefix + "users_" + old.Hash}; !slices.Equal(info.Aliases, want) {
		t.Errorf("the old generation %s has aliases %v, want %v", oldName, info.Aliases, want)
	}
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// A rejection under on_error = stop, from the stand-in: the indexer halts
// with an error naming the index, the document and OpenSearch's reason, the
// batch stays unacked and the rejected version is not served; once the
// cause is gone (the fault here is one-shot), a restarted indexer writes
// it and everything converges.
func TestOpenSearchRejectStop(t *testing.T) {
	h := usersHarness(t, map[string]string{"on_error": "stop"})
	srv := opensearchtest.New(t)
	h.StartCapture(t, "c1")
	first := h.StartOSIndexer(t, "i1", nil, srv)
	h.waitConvergedOS(t, 60*time.Second, "backfill", srv)
	waitFor(t, 30*time.Second, "the backfill acked", func() bool { return pending(t, h) == 0 })
	srv.RejectItems(opensearchtest.ItemFault{IDs: []string{"11"}, Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [email] of type [keyword]", Times: 1})
	h.Exec(t, `UPDATE users SET email = 'bad@example.com' WHERE id = 11`)
	select {
	case <-first.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the indexer did not stop on a rejection under on_error = stop")
	}
	for _, want := range []string{"users", "11", "mapper_parsing_exception", "failed to parse field [email]"} {
		if first.err == nil || !strings.Contains(first.err.Error(), want) {
			t.Fatalf("Run returned %v; want an error naming %q", first.err, want)
		}
	}
	if n := pending(t, h); n == 0 {
		t.Fatal("the rejected batch was acked")
	}
	prefix := h.cfg(t, nil).Prefix
	if strings.Contains(string(srv.Docs(prefix + "users")["11"]), "bad@") {
		t.Fatal("the rejected version of 11 is served")
	}
	h.StartOSIndexer(t, "i2", nil, srv)
	h.waitConvergedOS(t, 60*time.Second, "after the restart", srv)
	waitFor(t, 30*time.Second, "everything acked", func() bool { return pending(t, h) == 0 })
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters under stop", n)
	}
}

// A second OpenSearch sink added to a seeded deployment has none of the
// documents: the capture sees the stores changed and seeds a new
// generation, which fills the new sink and replaces the old one's; both
// end up serving the oracle through their aliases.
func TestOpenSearchSinkAdded(t *testing.T) {
	h := usersHarness(t, map[string]string{"capture.backfill_chunk": "100"})
	first := opensearchtest.New(t)
	h.Sinks = []*config.Sink{osSinkConfig(first.URL())}
	c1 := h.StartCapture(t, "c1")
	i1, _ := h.StartConfiguredIndexer(t, "i1", nil)
	h.waitConvergedOS(t, 60*time.Second, "the first sink", first)
	before := h.indexState(t, "users")
	if err := i1.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Stop(); err != nil {
		t.Fatal(err)
	}

	second := opensearchtest.New(t)
	added := osSinkConfig(second.URL())
	added.Name = "os2"
	h.Sinks = append(h.Sinks, added)
	h.StartCapture(t, "c2")
	h.StartConfiguredIndexer(t, "i2", nil)
	waitFor(t, 60*time.Second, "a new generation seeded for the added sink", func() bool {
		st := h.indexState(t, "users")
		return st != nil && st.Generation > before.Generation && st.Reason == "sinks changed" && st.State == "seeded"
	})
	h.waitConvergedOS(t, 60*time.Second, "the added sink", second)
	h.waitConvergedOS(t, 60*time.Second, "the first sink", first)
	h.checkServing(t, second, "1s")
	h.checkServing(t, first, "1s")
}
