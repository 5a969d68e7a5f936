package opensearch_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
)

var body = map[string]any{
	"settings": map[string]any{"index": map[string]any{"number_of_shards": 1}},
	"mappings": map[string]any{"dynamic": "strict", "properties": map[string]any{
		"name": map[string]any{"type": "keyword"}, "n": map[string]any{"type": "long"}}},
}

func newSink(t *testing.T, srv *opensearchtest.Server, mod func(*config.OpenSearchSink)) *opensearch.Sink {
	t.Helper()
	oc := &config.OpenSearchSink{URL: config.SecretLiteral(srv.URL()), Username: config.SecretLiteral("admin"),
		Password: config.SecretEnv("OS_PASS"), TLSVerify: true, BatchSize: 100, MaxBytes: 1 << 20,
		Timeout: config.Duration(5 * time.Second), MaxRetries: 5, NumberOfShards: 1, NumberOfReplicas: 1, RefreshInterval: "10s"}
	if mod != nil {
		mod(oc)
	}
	env := func(k string) (string, bool) { return map[string]string{"OS_PASS": "s3cret"}[k], k == "OS_PASS" }
	s, err := opensearch.New(&config.Config{Prefix: "t_"}, &config.Sink{Name: "os", Type: "opensearch", OpenSearch: oc}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.BaseBackoff = time.Millisecond
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var g1 = sink.Generation{Hash: "abcd1234", Number: 1}

func doc(name string, n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"name":%q,"n":%d}`, name, n))
}

func ensure(t *testing.T, s *opensearch.Sink, target sink.Target) {
	t.Helper()
	if target.Body == nil {
		target.Body = body
	}
	if err := s.Ensure(context.Background(), target); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, s *opensearch.Sink, ops ...sink.Op) []sink.Rejection {
	t.Helper()
	rej, err := s.Write(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	return rej
}

func TestEnsureAndSeeded(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, nil)
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	info, ok := srv.Index("t_users_abcd1234_1")
	if !ok {
		t.Fatalf("generation missing; indices %v", srv.Indices())
	}
	for k, want := range map[string]string{"refresh_interval": "-1", "number_of_replicas": "0", "gc_deletes": "1h", "number_of_shards": "1"} {
		if v, _ := srv.Setting(info.Name, k); v != want {
			t.Errorf("seeding %s = %q, want %q", k, v, want)
		}
	}
	if info.Mappings["dynamic"] != "strict" {
		t.Errorf("mappings %v", info.Mappings)
	}
	if _, ok := srv.Index("t_flusso_meta"); !ok {
		t.Fatal("meta index missing")
	}
	// Ensure is idempotent.
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})

	if err := s.Seeded(context.Background(), "users", g1); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"refresh_interval": "10s", "number_of_replicas": "1"} {
		if v, _ := srv.Setting(info.Name, k); v != want {
			t.Errorf("seeded %s = %q, want %q", k, v, want)
		}
	}
	a := srv.Aliases()
	if fmt.Sprint(a["t_users"], a["t_users_abcd1234"]) != "[t_users_abcd1234_1] [t_users_abcd1234_1]" {
		t.Fatalf("aliases %v", a)
	}
	var m opensearch.Meta
	if err := json.Unmarshal(srv.Docs("t_flusso_meta")["users"], &m); err != nil || !m.Seeded || m.Active != "t_users_abcd1234_1" {
		t.Fatalf("meta %+v %v", m, err)
	}
	// Basic auth went with every request.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret"))
	for _, r := range srv.Requests() {
		if r.Header.Get("Authorization") != want {
			t.Fatalf("%s %s: Authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}
}

func TestVersionedWrites(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, nil)
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	write(t, s, sink.Op{Index: "users", ID: "1", Version: 10, Doc: doc("new", 1)})
	// A stale version loses silently; an equal one is accepted (a replay).
	write(t, s,
		sink.Op{Index: "users", ID: "1", Version: 9, Doc: doc("old", 0)},
		sink.Op{Index: "users", ID: "1", Version: 10, Doc: doc("new", 1)},
		sink.Op{Index: "users", ID: "2", Version: 5, Doc: doc("two", 2)},
		sink.Op{Index: "users", ID: "3", Version: 5}, // delete of a missing doc
	)
	docs := srv.Docs("t_users_abcd1234_1")
	if string(docs["1"]) != `{"name":"new","n":1}` || len(docs) != 2 {
		t.Fatalf("docs %v", docs)
	}
	write(t, s, sink.Op{Index: "users", ID: "2", Version: 6})
	write(t, s, sink.Op{Index: "users", ID: "2", Version: 5, Doc: doc("two", 2)}) // older than the delete
	if docs := srv.Docs("t_users_abcd1234_1"); len(docs) != 1 {
		t.Fatalf("after delete: %v", docs)
	}
}

func TestChunking(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, func(o *config.OpenSearchSink) { o.BatchSize = 7; o.MaxBytes = 600 })
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	var ops []sink.Op
	for i := range 50 {
		ops = append(ops, sink.Op{Index: "users", ID: fmt.Sprint(i), Version: 1, Doc: doc(strings.Repeat("x", 20), i)})
	}
	write(t, s, ops...)
	if n := len(srv.Docs("t_users_abcd1234_1")); n != 50 {
		t.Fatalf("%d docs", n)
	}
	bulks := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "_bulk") {
			bulks++
			if lines := strings.Count(string(r.Body), "\n"); lines > 14 || len(r.Body) > 600 {
				t.Errorf("bulk of %d lines, %d bytes", lines, len(r.Body))
			}
			if strings.Contains(r.Query, "refresh") {
				t.Errorf("refresh while catching up: %s", r.Query)
			}
		}
	}
	if bulks < 8 {
		t.Fatalf("%d bulk requests", bulks)
	}
}

func TestRetries(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, func(o *config.OpenSearchSink) { o.BatchSize = 5 })
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	srv.Inject(opensearchtest.Fault{Path: "/_bulk", Status: 429, Times: 2})
	srv.Inject(opensearchtest.Fault{Path: "/_bulk", Status: 503, Times: 1})
	srv.Inject(opensearchtest.Fault{Path: "/_bulk", Drop: true, AfterHandling: true})
	srv.Inject(opensearchtest.Fault{Path: "/_bulk", Drop: true})
	srv.RejectItems(opensearchtest.ItemFault{IDs: []string{"3"}, Status: 429, Type: "es_rejected_execution_exception", Reason: "queue full", Times: 2})
	var ops []sink.Op
	for i := range 20 {
		ops = append(ops, sink.Op{Index: "users", ID: fmt.Sprint(i), Version: 1, Doc: doc("x", i)})
	}
	if rej := write(t, s, ops...); len(rej) != 0 {
		t.Fatalf("rejections %v", rej)
	}
	if n := len(srv.Docs("t_users_abcd1234_1")); n != 20 {
		t.Fatalf("%d docs, want 20", n)
	}
	// Past max_retries the failure is an error, not a rejection.
	srv.Inject(opensearchtest.Fault{Path: "/_bulk", Status: 503, Times: 100})
	if rej, err := s.Write(context.Background(), ops[:1]); err == nil || len(rej) != 0 {
		t.Fatalf("rej %v err %v", rej, err)
	}
}

func TestRejection(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, nil)
	g2 := sink.Generation{Hash: "abcd1234", Number: 2}
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1, g2}})
	rej := write(t, s,
		sink.Op{Index: "users", ID: "1", Version: 1, Doc: json.RawMessage(`{"name":"a","extra":1}`)},
		sink.Op{Index: "users", ID: "2", Version: 1, Doc: json.RawMessage(`{"n":"not a number"}`)},
		sink.Op{Index: "users", ID: "3", Version: 1, Doc: doc("ok", 3)},
	)
	if len(rej) != 2 || rej[0].Op.ID != "1" || rej[0].Status != 400 || !strings.Contains(rej[0].Reason, "strict_dynamic_mapping_exception") ||
		rej[1].Op.ID != "2" || !strings.Contains(rej[1].Reason, "mapper_parsing_exception") {
		t.Fatalf("rejections %+v", rej)
	}
	// Both generations got the good document.
	for _, ix := range []string{"t_users_abcd1234_1", "t_users_abcd1234_2"} {
		if d := srv.Docs(ix); len(d) != 1 || d["3"] == nil {
			t.Fatalf("%s: %v", ix, d)
		}
	}
}

// Readers of t_users see the full old generation until the flip, then the
// full new one; never an empty or partial index.
func TestAliasFlipAtomic(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, nil)
	ctx := context.Background()
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	var ops []sink.Op
	for i := range 30 {
		ops = append(ops, sink.Op{Index: "users", ID: fmt.Sprint(i), Version: 1, Doc: doc("x", i)})
	}
	write(t, s, ops...)
	if err := s.Seeded(ctx, "users", g1); err != nil {
		t.Fatal(err)
	}
	g2 := sink.Generation{Hash: "ffff0000", Number: 1}
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1, g2}, Serving: &g1})

	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	wg.Go(func() {
		for !stop.Load() {
			if n := len(srv.Docs("t_users")); n != 30 {
				bad.Store(n)
			}
		}
	})
	write(t, s, ops...) // the backfill of g2, and live writes to both
	if err := s.Seeded(ctx, "users", g2); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	if n := bad.Load(); n != nil {
		t.Fatalf("a reader saw %v documents", n)
	}
	a := srv.Aliases()
	if fmt.Sprint(a["t_users"], a["t_users_ffff0000"], a["t_users_abcd1234"]) != "[t_users_ffff0000_1] [t_users_ffff0000_1] [t_users_abcd1234_1]" {
		t.Fatalf("aliases %v", a)
	}
	// Writes after the flip go to the serving generation only.
	write(t, s, sink.Op{Index: "users", ID: "new", Version: 2, Doc: doc("n", 1)})
	if srv.Docs("t_users_abcd1234_1")["new"] != nil || srv.Docs("t_users")["new"] == nil {
		t.Fatal("write after flip went to the wrong generation")
	}
}

// An op naming a generation goes to it alone: the serving generation of an
// older schema gets its own documents while the new one seeds.
func TestGenerationOp(t *testing.T) {
	srv := opensearchtest.New(t)
	s := newSink(t, srv, nil)
	g2 := sink.Generation{Hash: "ffff0000", Number: 2}
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	write(t, s, sink.Op{Index: "users", ID: "1", Version: 1, Doc: doc("one", 1)})
	if err := s.Seeded(context.Background(), "users", g1); err != nil {
		t.Fatal(err)
	}
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g2}, Serving: &g1})
	write(t, s,
		sink.Op{Index: "users", ID: "1", Version: 2, Doc: doc("new", 2)},
		sink.Op{Index: "users", ID: "1", Version: 2, Doc: doc("old", 2), Generation: &g1})
	if got := string(srv.Docs("t_users_abcd1234_1")["1"]); !strings.Contains(got, `"old"`) {
		t.Errorf("serving generation holds %s, want the op naming it", got)
	}
	if got := string(srv.Docs("t_users_ffff0000_2")["1"]); !strings.Contains(got, `"new"`) {
		t.Errorf("seeding generation holds %s, want the op without a generation", got)
	}
}
