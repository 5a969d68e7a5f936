package indexer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/opensearchtest"
)

// backfillGate stands between an indexer and the stand-in and holds back
// the _bulk requests that carry a given version (a seeding's snapshot LSN:
// its backfill writes) until released; every other request passes.
type backfillGate struct {
	*httptest.Server
	version atomic.Uint64
	open    chan struct{}
}

var bulkVersion = regexp.MustCompile(`"version":(\d+)`)

func newBackfillGate(t *testing.T, target string) *backfillGate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	g := &backfillGate{open: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := g.version.Load(); v != 0 && strings.HasSuffix(r.URL.Path, "_bulk") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			for _, m := range bulkVersion.FindAllSubmatch(body, -1) {
				if n, _ := strconv.ParseUint(string(m[1]), 10, 64); n == v {
					select {
					case <-g.open:
					case <-r.Context().Done():
						return
					}
					break
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	t.Cleanup(g.Release)
	return g
}

// Release lets the held requests and all later ones through.
func (g *backfillGate) Release() {
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// A schema change that the serving generation's strict mapping could not
// take (a new field): while the new generation seeds — held back here
// until the test has looked — live changes reach the serving generation as
// documents of its own schema, so reads through the alias stay fresh. Then
// the new generation seeds, the aliases flip, and it serves the new
// schema's documents.
func TestOpenSearchSchemaChangeKeepsServingFresh(t *testing.T) {
	oldYAML := usersYAML
	newYAML := strings.Replace(usersYAML, "      - integer: amount\n", "      - integer: amount\n      - integer: user_id\n", 1)
	schemas := map[string]string{"users": oldYAML}
	// Three tasks, and more batches at once than tasks: the held backfill
	// cannot take every batch slot from the live changes.
	h := newHarness(t, usersSQL, schemas, "", map[string]string{"capture.backfill_chunk": "100", "indexer.batch_size": "20", "indexer.concurrency": "4"})
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
	gate := newBackfillGate(t, srv.URL())
	h.StartCapture(t, "c2")
	waitFor(t, 30*time.Second, "the new schema's seeding to be planned", func() bool {
		st := h.indexState(t, "users")
		if st == nil || st.Hash == old.Hash || st.SnapshotLSN == 0 {
			return false
		}
		gate.version.Store(uint64(st.SnapshotLSN))
		return true
	})
	h.StartOSIndexerAt(t, "i2", nil, gate.URL)
	h.Exec(t, liveChanges)

	schemas["users"] = oldYAML
	oldOracle := h.Oracle(t)
	schemas["users"] = newYAML
	deadline := time.Now().Add(60 * time.Second)
	for d := osDiff(oldOracle, srv, prefix); d != ""; d = osDiff(oldOracle, srv, prefix) {
		if time.Now().After(deadline) {
			t.Fatalf("the serving generation did not get the live changes as documents of its own schema:\n%s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := srv.Aliases()[prefix+"users"]; len(got) != 1 || got[0] != oldName {
		t.Fatalf("alias %susers -> %v while the new generation seeds, want [%s]", prefix, got, oldName)
	}
	if st := h.indexState(t, "users"); st.State == "seeded" {
		t.Fatal("the new generation was seeded while its backfill was held back")
	}

	gate.Release()
	h.waitConvergedOS(t, 60*time.Second, "new generation", srv)
	h.checkServing(t, srv, "1s")
	for id, doc := range srv.Docs(prefix + "users") {
		var d struct {
			Orders []map[string]any `json:"orders"`
		}
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Orders) > 0 && d.Orders[0]["user_id"] == nil {
			t.Fatalf("user %s served after the flip without the new field: %s", id, doc)
		}
	}
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("OpenAPI violations: %v", v)
	}
}
