package opensearchtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/opensearchtest"
)

func do(t *testing.T, s *opensearchtest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, out
}

const body = `{"settings":{"index":{"number_of_shards":1,"number_of_replicas":0,"gc_deletes":"1h"}},
"mappings":{"dynamic":"strict","properties":{"n":{"type":"long"},"d":{"type":"date"},"s":{"type":"keyword"},"b":{"type":"boolean"},
"o":{"properties":{"x":{"type":"double"}}}}}}`

func bulkItems(t *testing.T, out map[string]any) []map[string]any {
	t.Helper()
	var items []map[string]any
	for _, it := range out["items"].([]any) {
		for _, v := range it.(map[string]any) {
			items = append(items, v.(map[string]any))
		}
	}
	return items
}

func TestMappingAndVersions(t *testing.T) {
	s := opensearchtest.New(t)
	if st, _ := do(t, s, "PUT", "/a_1", body); st != 200 {
		t.Fatalf("create: %d", st)
	}
	if st, _ := do(t, s, "PUT", "/a_1", body); st != 400 {
		t.Fatalf("create twice: %d, want 400", st)
	}
	bulk := strings.Join([]string{
		`{"index":{"_index":"a_1","_id":"1","version":5,"version_type":"external_gte"}}`,
		`{"n":1,"d":"2024-01-02T03:04:05Z","s":"x","b":true,"o":{"x":1.5}}`,
		`{"index":{"_index":"a_1","_id":"2","version":5,"version_type":"external"}}`,
		`{"n":1,"extra":2}`,
		`{"index":{"_index":"a_1","_id":"3","version":5,"version_type":"external"}}`,
		`{"n":"abc"}`,
		`{"index":{"_index":"a_1","_id":"4","version":5,"version_type":"external"}}`,
		`{"d":"not a date"}`,
		`{"index":{"_index":"a_1","_id":"1","version":4,"version_type":"external_gte"}}`,
		`{"n":0}`,
		`{"index":{"_index":"a_1","_id":"1","version":5,"version_type":"external"}}`,
		`{"n":0}`,
		`{"delete":{"_index":"a_1","_id":"9","version":7,"version_type":"external"}}`,
	}, "\n") + "\n"
	st, out := do(t, s, "POST", "/_bulk", bulk)
	if st != 200 || out["errors"] != true {
		t.Fatalf("bulk: %d %v", st, out)
	}
	items := bulkItems(t, out)
	want := []struct {
		status float64
		typ    string
	}{{201, ""}, {400, "strict_dynamic_mapping_exception"}, {400, "mapper_parsing_exception"}, {400, "mapper_parsing_exception"},
		{409, "version_conflict_engine_exception"}, {409, "version_conflict_engine_exception"}, {404, ""}}
	for i, w := range want {
		if items[i]["status"] != w.status {
			t.Errorf("item %d: status %v, want %v (%v)", i, items[i]["status"], w.status, items[i])
		}
		if w.typ != "" {
			if e, _ := items[i]["error"].(map[string]any); e == nil || e["type"] != w.typ {
				t.Errorf("item %d: error %v, want %s", i, items[i]["error"], w.typ)
			}
		}
	}
	// The tombstone of 9 (version 7) blocks an older write.
	st, out = do(t, s, "POST", "/_bulk", `{"index":{"_index":"a_1","_id":"9","version":6,"version_type":"external_gte"}}`+"\n{}\n")
	if items := bulkItems(t, out); st != 200 || items[0]["status"] != 409.0 {
		t.Fatalf("write under tombstone: %d %v", st, out)
	}
	if got := s.Docs("a_1"); len(got) != 1 || s.Version("a_1", "1") != 5 {
		t.Fatalf("docs %v version %d", got, s.Version("a_1", "1"))
	}
}

func TestTombstoneExpires(t *testing.T) {
	s := opensearchtest.New(t)
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	do(t, s, "PUT", "/b", `{"settings":{"index":{"gc_deletes":"10s"}}}`)
	do(t, s, "DELETE", "/b/_doc/1?version=10&version_type=external", "")
	if st, _ := do(t, s, "PUT", "/b/_doc/1?version=9&version_type=external", `{}`); st != 409 {
		t.Fatalf("within gc_deletes: %d, want 409", st)
	}
	now = now.Add(11 * time.Second)
	if st, _ := do(t, s, "PUT", "/b/_doc/1?version=9&version_type=external", `{}`); st != 201 {
		t.Fatalf("after gc_deletes: %d, want 201", st)
	}
}

func TestAliasesAndSearch(t *testing.T) {
	s := opensearchtest.New(t)
	do(t, s, "PUT", "/x_1", body)
	do(t, s, "PUT", "/x_2", body)
	do(t, s, "POST", "/_bulk", `{"index":{"_index":"x_1","_id":"1"}}`+"\n"+`{"s":"a","n":1}`+"\n"+`{"index":{"_index":"x_1","_id":"2"}}`+"\n"+`{"s":"b","n":2}`+"\n")
	do(t, s, "POST", "/_aliases", `{"actions":[{"add":{"index":"x_1","alias":"x"}}]}`)
	// An action that fails leaves every alias as it was.
	if st, _ := do(t, s, "POST", "/_aliases", `{"actions":[{"remove":{"index":"x_1","alias":"x"}},{"add":{"index":"nope","alias":"x"}}]}`); st != 404 {
		t.Fatalf("failing actions: %d", st)
	}
	if a := s.Aliases(); len(a["x"]) != 1 || a["x"][0] != "x_1" {
		t.Fatalf("aliases %v", a)
	}
	for q, n := range map[string]float64{
		`{"query":{"match_all":{}}}`:                      2,
		`{"query":{"term":{"s":"a"}}}`:                    1,
		`{"query":{"term":{"s":{"value":"b"}}}}`:          1,
		`{"query":{"terms":{"n":[1,2]}}}`:                 2,
		`{"query":{"ids":{"values":["2","3"]}},"size":5}`: 1,
	} {
		st, out := do(t, s, "POST", "/x/_search", q)
		if st != 200 || out["hits"].(map[string]any)["total"].(map[string]any)["value"] != n {
			t.Errorf("%s: %d %v", q, st, out)
		}
	}
	if st, out := do(t, s, "POST", "/x/_count", `{"query":{"term":{"s":"a"}}}`); st != 200 || out["count"] != 1.0 {
		t.Errorf("count: %d %v", st, out)
	}
	if st, out := do(t, s, "POST", "/x/_search", `{"size":1,"from":1}`); st != 200 || len(out["hits"].(map[string]any)["hits"].([]any)) != 1 {
		t.Errorf("from/size: %d %v", st, out)
	}
	do(t, s, "POST", "/_aliases", `{"actions":[{"remove":{"index":"x_1","alias":"x"}},{"add":{"index":"x_2","alias":"x"}},{"remove_index":{"index":"x_1"}}]}`)
	if len(s.Docs("x")) != 0 || len(s.Indices()) != 1 {
		t.Fatalf("after flip: %v %v", s.Docs("x"), s.Indices())
	}
	for _, p := range []string{"/_alias", "/_cat/indices?format=json", "/x/_settings", "/x", "/", "/x/_doc/1"} {
		if st, _ := do(t, s, "GET", p, ""); st != 200 && !(p == "/x/_doc/1" && st == 404) {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	if st, _ := do(t, s, "PUT", "/x_2/_settings", `{"index":{"refresh_interval":"1s","number_of_replicas":2}}`); st != 200 {
		t.Fatalf("put settings: %d", st)
	}
	if v, _ := s.Setting("x_2", "number_of_replicas"); v != "2" {
		t.Fatalf("replicas %q", v)
	}
	if st, _ := do(t, s, "HEAD", "/nope", ""); st != 404 {
		t.Fatalf("HEAD missing: %d", st)
	}
}

func TestFaults(t *testing.T) {
	s := opensearchtest.New(t)
	s.Inject(opensearchtest.Fault{Path: "/_bulk", Status: 429, Times: 2})
	nd := `{"index":{"_index":"f","_id":"1"}}` + "\n{}\n"
	for i, want := range []int{429, 429, 200} {
		if st, _ := do(t, s, "POST", "/_bulk", nd); st != want {
			t.Fatalf("request %d: %d, want %d", i, st, want)
		}
	}
	s.Inject(opensearchtest.Fault{Path: "/_bulk", Drop: true})
	if _, err := http.Post(s.URL()+"/_bulk", "application/json", bytes.NewReader([]byte(nd))); err == nil {
		t.Fatal("dropped connection: no error")
	}
	s.RejectItems(opensearchtest.ItemFault{IDs: []string{"1"}, Status: 400, Type: "mapper_parsing_exception", Reason: "no", Times: 1})
	_, out := do(t, s, "POST", "/_bulk", nd)
	if items := bulkItems(t, out); items[0]["status"] != 400.0 {
		t.Fatalf("item fault: %v", out)
	}
	start := time.Now()
	s.Inject(opensearchtest.Fault{Path: "/", Delay: 50 * time.Millisecond})
	do(t, s, "GET", "/", "")
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("no delay")
	}
}

// The validator records a request the spec rejects.
func TestSpecViolation(t *testing.T) {
	ft := &fakeTB{TB: t}
	s := opensearchtest.New(ft)
	if st, _ := do(t, s, "POST", "/x/_search?size=abc", `{}`); st != 400 {
		t.Fatalf("status %d, want 400", st)
	}
	if len(s.Violations()) != 1 {
		t.Fatalf("violations %v", s.Violations())
	}
}

type fakeTB struct{ testing.TB }

func (f *fakeTB) Errorf(string, ...any) {}
