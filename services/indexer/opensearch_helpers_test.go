package indexer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
)

// osSinkConfig is the [sinks.os] of the tests: the stand-in at url, and
// enough retries to outlast the injected bursts.
func osSinkConfig(url string) *config.Sink {
	return &config.Sink{Name: "os", Type: config.SinkOpenSearch, OpenSearch: &config.OpenSearchSink{
		URL: config.SecretLiteral(url), TLSVerify: true, BatchSize: 100, MaxBytes: 1 << 20,
		Timeout: config.Duration(60 * time.Second), MaxRetries: 30, NumberOfShards: 1, NumberOfReplicas: 1, RefreshInterval: "1s",
	}}
}

// StartOSIndexer runs an indexer whose only sink is the real OpenSearch
// sink against srv; the sink is also in the indexer's config, where the
// indexer finds the options of the index bodies.
func (h *harness) StartOSIndexer(t testing.TB, instance string, extra map[string]string, srv *opensearchtest.Server) *running {
	t.Helper()
	return h.StartOSIndexerAt(t, instance, extra, srv.URL())
}

// StartOSIndexerAt is StartOSIndexer with the sink at url (a proxy in
// front of the stand-in).
func (h *harness) StartOSIndexerAt(t testing.TB, instance string, extra map[string]string, url string) *running {
	t.Helper()
	cfg := h.cfg(t, extra)
	sc := osSinkConfig(url)
	cfg.Sinks = append(cfg.Sinks, sc)
	s, err := opensearch.New(cfg, sc, h.env, testLogger(t, instance+"/os"))
	if err != nil {
		t.Fatal(err)
	}
	s.BaseBackoff = 5 * time.Millisecond
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ix, err := New(ctx, Options{Config: cfg, JetStream: h.JS, Sinks: []sink.Sink{s}, Logger: testLogger(t, instance), Instance: instance, Env: h.env})
	if err != nil {
		t.Fatalf("indexer.New: %v", err)
	}
	t.Cleanup(ix.Close)
	return start(t, ix.Run)
}

// osDiff describes how what the stand-in serves through each index's alias
// differs from the oracle; "" when equal.
func osDiff(oracle map[string]map[string]json.RawMessage, srv *opensearchtest.Server, prefix string) string {
	var out []string
	for _, index := range sortedKeys(oracle) {
		want, got := oracle[index], srv.Docs(prefix+index)
		for _, id := range sortedKeys(want) {
			g, ok := got[id]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s/%s missing, want %s", index, id, want[id]))
			case !jsonEqual(g, want[id]):
				out = append(out, fmt.Sprintf("%s/%s = %s, want %s", index, id, g, want[id]))
			}
		}
		for _, id := range sortedKeys(got) {
			if _, ok := want[id]; !ok {
				out = append(out, fmt.Sprintf("%s/%s = %s, want absent", index, id, got[id]))
			}
		}
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("… and %d more", len(out)-10))
	}
	return strings.Join(out, "\n")
}

// waitConvergedOS waits until the stand-in serves the oracle's documents
// through every alias.
func (h *harness) waitConvergedOS(t testing.TB, timeout time.Duration, what string, srv *opensearchtest.Server) {
	t.Helper()
	prefix := h.cfg(t, nil).Prefix
	deadline := time.Now().Add(timeout)
	for {
		d := osDiff(h.Oracle(t), srv, prefix)
		if d == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the stand-in has not converged after %s:\n%s", what, timeout, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkServing checks that each enabled index's alias points at exactly
// the generation the state bucket records as seeded, and that the seeded
// generation has the sink's refresh interval back.
func (h *harness) checkServing(t testing.TB, srv *opensearchtest.Server, refresh string) {
	t.Helper()
	cfg := h.cfg(t, nil)
	var aliases map[string][]string
	for _, c := range cfg.Indexes {
		if !c.Enabled {
			continue
		}
		waitFor(t, 30*time.Second, "index "+c.Name+" seeded", func() bool {
			st := h.indexState(t, c.Name)
			return st != nil && st.State == "seeded"
		})
		st := h.indexState(t, c.Name)
		hashAlias := cfg.Prefix + c.Name + "_" + st.Hash
		want := config.IndexNames{Alias: cfg.Prefix + c.Name, HashAlias: hashAlias}.Generation(st.Generation)
		flipped := func() bool {
			aliases = srv.Aliases()
			for _, alias := range []string{cfg.Prefix + c.Name, hashAlias} {
				if got := aliases[alias]; len(got) != 1 || got[0] != want {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(30 * time.Second); !flipped() && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		for _, alias := range []string{cfg.Prefix + c.Name, hashAlias} {
			if got := aliases[alias]; len(got) != 1 || got[0] != want {
				t.Errorf("alias %s -> %v, want [%s]", alias, got, want)
			}
		}
		if v, _ := srv.Setting(want, "refresh_interval"); v != refresh {
			t.Errorf("%s: refresh_interval %q after seeding, want %s", want, v, refresh)
		}
	}
}

// dlqCount is the number of messages in the dead-letter stream.
func (h *harness) dlqCount(t testing.TB) uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := h.JS.Stream(ctx, h.Names.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
