package indexer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/compattest"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/memory"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
)

// StartConfiguredIndexer runs an indexer with the sinks its config names:
// the real OpenSearch sink for an opensearch sink (its URL from the
// harness's environment), a memory sink of the same name in place of a
// stdout sink, returned by name so the test can read it.
func (h *harness) StartConfiguredIndexer(t testing.TB, instance string, extra map[string]string) (*running, map[string]*memory.Sink) {
	t.Helper()
	cfg := h.cfg(t, extra)
	var sinks []sink.Sink
	mems := map[string]*memory.Sink{}
	for _, sc := range cfg.Sinks {
		switch sc.Type {
		case config.SinkOpenSearch:
			s, err := opensearch.New(cfg, sc, h.env, testLogger(t, instance+"/"+sc.Name))
			if err != nil {
				t.Fatal(err)
			}
			s.BaseBackoff = 5 * time.Millisecond
			t.Cleanup(func() { _ = s.Close() })
			sinks = append(sinks, s)
		case config.SinkStdout:
			m := memory.New(sc.Name)
			mems[sc.Name] = m
			sinks = append(sinks, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ix, err := New(ctx, Options{Config: cfg, JetStream: h.JS, Sinks: sinks, Logger: testLogger(t, instance), Instance: instance, Env: h.env})
	if err != nil {
		t.Fatalf("indexer.New: %v", err)
	}
	t.Cleanup(ix.Close)
	return start(t, ix.Run), mems
}

// The Rust flusso's own development deployment, unchanged: its flusso.toml
// (an OpenSearch sink "primary" and a stdout sink "audit", three indexes),
// its schemas, its store and seed, then its sample changes. Both sinks end
// with what a fresh build produces; the OpenSearch one serves it through
// the aliases.
func TestUpstreamDeployment(t *testing.T) {
	dev := filepath.Join(compattest.Dir(t), "dev")
	h := newHarness(t, "", nil, filepath.Join(dev, "flusso.toml"), map[string]string{"capture.backfill_chunk": "5", "indexer.batch_size": "7"})
	srv := opensearchtest.New(t)
	h.Env = map[string]string{"PRIMARY_OPENSEARCH_URL": srv.URL()}
	h.DB.ExecFiles(t, filepath.Join(dev, "postgres", "01_schema.sql"), filepath.Join(dev, "postgres", "02_seed.sql"))
	h.StartCapture(t, "c1")
	_, mems := h.StartConfiguredIndexer(t, "i1", nil)
	audit := mems["audit"]
	if audit == nil {
		t.Fatalf("the deployment has no stdout sink named audit: %v", mems)
	}
	h.waitConverged(t, 90*time.Second, "upstream backfill (audit sink)", audit)
	h.waitConvergedOS(t, 90*time.Second, "upstream backfill (primary sink)", srv)
	prefix := h.cfg(t, nil).Prefix
	for _, ix := range h.cfg(t, nil).Indexes {
		if len(srv.Docs(prefix+ix.Name)) == 0 {
			t.Errorf("index %s is empty", ix.Name)
		}
	}
	h.checkServing(t, srv, "10s") // the default refresh_interval
	h.DB.ExecFiles(t, filepath.Join(dev, "changes.sql"))
	h.waitConverged(t, 90*time.Second, "upstream changes (audit sink)", audit)
	h.waitConvergedOS(t, 90*time.Second, "upstream changes (primary sink)", srv)
	// The sample changes' own comments say what a user sees.
	users := srv.Docs(prefix + "users")
	if _, ok := users["3"]; ok {
		t.Error("soft-deleted user 3 is still served")
	}
	if !strings.Contains(string(users["2"]), "grace.hopper@example.com") {
		t.Errorf("user 2 = %s, want the new email", users["2"])
	}
	if _, ok := users["5"]; !ok {
		t.Error("new user 5 is not served")
	}
	if n := h.dlqCount(t); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("OpenAPI violations: %v", v)
	}
}
