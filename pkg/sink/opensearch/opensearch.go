// Package opensearch is the OpenSearch sink: it creates each index's
// generation indexes and the meta index, writes documents with _bulk under
// external versioning (a lower version never overwrites a higher one),
// retries what the cluster may accept later (transport errors, 429, 5xx),
// hands back item-level refusals as sink.Rejection, and flips the aliases
// when a generation is seeded. It does not decide when a generation is
// seeded or what to do with a rejection: the indexer does.
package opensearch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	osgo "github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/sink"
)

// Seeding settings: what a generation holds until it is seeded. gc_deletes
// stays raised afterwards so a delete's version outlives a slow replay.
const (
	seedingRefresh  = "-1"
	seedingReplicas = 0
	gcDeletes       = "1h"
)

// Sink writes to one OpenSearch cluster.
type Sink struct {
	name   string
	prefix string
	cfg    config.OpenSearchSink
	client *opensearchapi.Client
	logger *slog.Logger

	// Refresh is the refresh parameter of the next _bulk requests ("",
	// "true", "wait_for"): the indexer sets it when it has caught up.
	refresh string
	// BaseBackoff is the first retry delay; it doubles per attempt, with
	// jitter, capped at 30 s.
	BaseBackoff time.Duration

	mu      sync.Mutex
	targets map[string][]string // logical index → generation index names written
}

var _ sink.Sink = (*Sink)(nil)

// New builds the sink named by sinkCfg. env resolves the secrets.
func New(cfg *config.Config, sinkCfg *config.Sink, env config.LookupEnv, logger *slog.Logger) (*Sink, error) {
	if sinkCfg.OpenSearch == nil {
		return nil, fmt.Errorf("sink %s: not an opensearch sink", sinkCfg.Name)
	}
	oc := *sinkCfg.OpenSearch
	url, err := oc.URL.Resolve(env)
	if err != nil {
		return nil, fmt.Errorf("sink %s: url: %w", sinkCfg.Name, err)
	}
	user, _, err := oc.Username.ResolveOptional(env)
	if err != nil {
		return nil, fmt.Errorf("sink %s: username: %w", sinkCfg.Name, err)
	}
	pass, _, err := oc.Password.ResolveOptional(env)
	if err != nil {
		return nil, fmt.Errorf("sink %s: password: %w", sinkCfg.Name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tr.TLSClientConfig, err = tlsConfig(oc); err != nil {
		return nil, fmt.Errorf("sink %s: %w", sinkCfg.Name, err)
	}
	if oc.Timeout > 0 {
		tr.ResponseHeaderTimeout = oc.Timeout.D()
	}
	client, err := opensearchapi.NewClient(opensearchapi.Config{Client: osgo.Config{
		Addresses: []string{url}, Username: user, Password: pass, Transport: tr,
		// The sink retries itself, per item as well as per request.
		DisableRetry: true,
	}})
	if err != nil {
		return nil, fmt.Errorf("sink %s: client: %w", sinkCfg.Name, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if oc.BatchSize <= 0 {
		oc.BatchSize = 1000
	}
	if oc.MaxBytes <= 0 {
		oc.MaxBytes = 10 << 20
	}
	return &Sink{
		name: sinkCfg.Name, prefix: cfg.Prefix, cfg: oc, client: client,
		logger: logger.With("sink", sinkCfg.Name), BaseBackoff: 100 * time.Millisecond,
		targets: map[string][]string{},
	}, nil
}

// tlsConfig is the client TLS of the sink: the CA file as the only roots,
// the client certificate for mutual TLS, no verification when tls_verify is
// false.
func tlsConfig(oc config.OpenSearchSink) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if !oc.TLSVerify {
		c.InsecureSkipVerify = true //nolint:gosec // tls_verify = false asks for it
	} else if f := oc.TLS.CAFile; f != "" {
		// Unused without verification (the loader warns), so not read then.
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fileError("ca_file", f, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", f)
		}
	}
	if oc.TLS.CertFile != "" || oc.TLS.KeyFile != "" {
		certPEM, err := os.ReadFile(oc.TLS.CertFile)
		if err != nil {
			return nil, fileError("cert_file", oc.TLS.CertFile, err)
		}
		keyPEM, err := os.ReadFile(oc.TLS.KeyFile)
		if err != nil {
			return nil, fileError("key_file", oc.TLS.KeyFile, err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("cert_file %s with key_file %s: %w", oc.TLS.CertFile, oc.TLS.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// fileError names the key and the file without repeating the path the
// *fs.PathError carries.
func fileError(key, file string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", key, file, err)
}

// Name is the [sinks.<name>] name.
func (s *Sink) Name() string { return s.name }

// SetRefresh sets the refresh parameter of later _bulk requests: "" while
// catching up, "true" or "wait_for" once caught up.
func (s *Sink) SetRefresh(refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = refresh
}

// Close releases idle connections.
func (s *Sink) Close() error { return nil }

func (s *Sink) names(index, hash string) config.IndexNames {
	return config.IndexNames{Alias: s.prefix + index, HashAlias: s.prefix + index + "_" + hash, Hash: hash}
}

func (s *Sink) generation(index string, g sink.Generation) string {
	return s.names(index, g.Hash).Generation(g.Number)
}

// MetaIndex is the index holding the per-index state.
func (s *Sink) MetaIndex() string { return s.prefix + "flusso_meta" }

// Meta is the meta index document of one index.
type Meta struct {
	Index      string `json:"index"`
	Hash       string `json:"hash"`
	Generation int    `json:"generation"`
	Active     string `json:"active"`
	Seeded     bool   `json:"seeded"`
	UpdatedAt  string `json:"updated_at"`
}

var metaBody = map[string]any{
	"settings": map[string]any{"index": map[string]any{"number_of_shards": 1}},
	"mappings": map[string]any{"dynamic": "strict", "properties": map[string]any{
		"index": map[string]any{"type": "keyword"}, "hash": map[string]any{"type": "keyword"},
		"generation": map[string]any{"type": "integer"}, "active": map[string]any{"type": "keyword"},
		"seeded": map[string]any{"type": "boolean"}, "updated_at": map[string]any{"type": "date"},
	}},
}

// Ensure creates the target's generations that do not exist yet, with the
// seeding settings unless the generation already serves, and the meta index.
func (s *Sink) Ensure(ctx context.Context, t sink.Target) error {
	if t.Body == nil {
		return fmt.Errorf("sink %s: index %s: no index body to create its generations from", s.Name(), t.Index)
	}
	if err := s.createIndex(ctx, s.MetaIndex(), metaBody); err != nil {
		return err
	}
	var names []string
	for _, g := range t.Write {
		name := s.generation(t.Index, g)
		names = append(names, name)
		serving := t.Serving != nil && *t.Serving == g
		if err := s.createIndex(ctx, name, s.indexBody(t.Body, serving)); err != nil {
			return err
		}
	}
	// Writes go to t.Write only: a serving generation left out of it (a new
	// schema being seeded) keeps its documents until the flip.
	s.mu.Lock()
	s.targets[t.Index] = names
	s.mu.Unlock()
	m := Meta{Index: t.Index, UpdatedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	if t.Serving != nil {
		m.Hash, m.Generation, m.Active, m.Seeded = t.Serving.Hash, t.Serving.Number, s.generation(t.Index, *t.Serving), true
	} else if len(t.Write) > 0 {
		m.Hash, m.Generation, m.Active = t.Write[0].Hash, t.Write[0].Number, names[0]
	}
	return s.putMeta(ctx, m)
}

// indexBody is body with the sink's settings: the seeding ones for a
// generation that does not serve yet.
func (s *Sink) indexBody(body map[string]any, serving bool) map[string]any {
	out := maps.Clone(body)
	settings, _ := out["settings"].(map[string]any)
	settings = maps.Clone(settings)
	if settings == nil {
		settings = map[string]any{}
	}
	ix, _ := settings["index"].(map[string]any)
	ix = maps.Clone(ix)
	if ix == nil {
		ix = map[string]any{}
	}
	for _, k := range []string{"number_of_shards", "number_of_replicas", "refresh_interval", "gc_deletes"} {
		// A flat "index.x" or bare "x" key would fight the nested one.
		delete(settings, "index."+k)
		delete(settings, k)
	}
	if _, ok := ix["number_of_shards"]; !ok && s.cfg.NumberOfShards > 0 {
		ix["number_of_shards"] = s.cfg.NumberOfShards
	}
	ix["gc_deletes"] = gcDeletes
	if serving {
		ix["refresh_interval"], ix["number_of_replicas"] = s.cfg.RefreshInterval, s.cfg.NumberOfReplicas
	} else {
		ix["refresh_interval"], ix["number_of_replicas"] = seedingRefresh, seedingReplicas
	}
	settings["index"] = ix
	out["settings"] = settings
	return out
}

func (s *Sink) createIndex(ctx context.Context, name string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("sink %s: index %s body: %w", s.name, name, err)
	}
	return s.retry(ctx, "create index "+name, func(ctx context.Context) (int, error) {
		resp, err := s.client.Indices.Exists(ctx, opensearchapi.IndicesExistsReq{Indices: []string{name}})
		// Exists reports a missing index as an error: read the status.
		if resp != nil && resp.StatusCode == 200 {
			return 200, nil
		}
		if resp == nil || resp.StatusCode != 404 {
			return status(resp, err)
		}
		_, err = s.client.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: name, Body: bytes.NewReader(b)})
		var se *osgo.StructError
		if errors.As(err, &se) && se.Err.Type == "resource_already_exists_exception" {
			return 200, nil // another replica was first
		}
		return statusErr(err)
	})
}

func (s *Sink) putMeta(ctx context.Context, m Meta) error {
	b, _ := json.Marshal(m)
	return s.retry(ctx, "meta "+m.Index, func(ctx context.Context) (int, error) {
		_, err := s.client.Index(ctx, opensearchapi.IndexReq{Index: s.MetaIndex(), DocumentID: m.Index, Body: bytes.NewReader(b),
			Params: opensearchapi.IndexParams{Refresh: "true"}})
		return statusErr(err)
	})
}

// Seeded makes generation g serve: its settings are restored and both
// aliases move to it in one _aliases request, then the meta doc records it.
func (s *Sink) Seeded(ctx context.Context, index string, g sink.Generation) error {
	n := s.names(index, g.Hash)
	name := n.Generation(g.Number)
	settings, _ := json.Marshal(map[string]any{"index": map[string]any{
		"refresh_interval": s.cfg.RefreshInterval, "number_of_replicas": s.cfg.NumberOfReplicas}})
	if err := s.retry(ctx, "settings "+name, func(ctx context.Context) (int, error) {
		_, err := s.client.Indices.Settings.Put(ctx, opensearchapi.SettingsPutReq{Indices: []string{name}, Body: bytes.NewReader(settings)})
		return statusErr(err)
	}); err != nil {
		return err
	}
	var holders map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	if err := s.retry(ctx, "aliases", func(ctx context.Context) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/_alias", nil)
		resp, err := s.client.Client.Perform(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		return 200, json.Unmarshal(b, &holders)
	}); err != nil {
		return err
	}
	var actions []any
	var old []string
	for _, ixName := range slices.Sorted(maps.Keys(holders)) {
		if ixName == name {
			continue
		}
		for _, a := range []string{n.Alias, n.HashAlias} {
			if _, ok := holders[ixName].Aliases[a]; ok {
				actions = append(actions, map[string]any{"remove": map[string]any{"index": ixName, "alias": a}})
				old = append(old, ixName)
			}
		}
	}
	for _, a := range []string{n.HashAlias, n.Alias} {
		actions = append(actions, map[string]any{"add": map[string]any{"index": name, "alias": a}})
	}
	body, _ := json.Marshal(map[string]any{"actions": actions})
	if err := s.retry(ctx, "flip aliases to "+name, func(ctx context.Context) (int, error) {
		_, err := s.client.Aliases(ctx, opensearchapi.AliasesReq{Body: bytes.NewReader(body)})
		return statusErr(err)
	}); err != nil {
		return err
	}
	s.mu.Lock()
	s.targets[index] = slices.DeleteFunc(slices.Clone(s.targets[index]), func(t string) bool { return slices.Contains(old, t) })
	if !slices.Contains(s.targets[index], name) {
		s.targets[index] = append(s.targets[index], name)
	}
	s.mu.Unlock()
	s.logger.Info("generation serving", "index", index, "generation", name, "previous", old)
	return s.putMeta(ctx, Meta{Index: index, Hash: g.Hash, Generation: g.Number, Active: name, Seeded: true,
		UpdatedAt: time.Now().UTC().Format(time.RFC3339Nano)})
}

// retryable reports whether a status may succeed later.
func retryable(status int) bool { return status == 0 || status == 429 || status >= 500 }

// retry runs call until it succeeds, fails for good, or max_retries retries
// of retryable failures (transport errors, 429, 5xx) are spent.
func (s *Sink) retry(ctx context.Context, what string, call func(context.Context) (int, error)) error {
	for attempt := 0; ; attempt++ {
		actx, cancel := s.attemptCtx(ctx)
		st, err := call(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !retryable(st) || attempt >= s.cfg.MaxRetries || ctx.Err() != nil {
			return fmt.Errorf("sink %s: %s: %w", s.name, what, err)
		}
		s.logger.Warn("retrying", "what", what, "status", st, "attempt", attempt+1, "error", err)
		if err := s.backoff(ctx, attempt); err != nil {
			return fmt.Errorf("sink %s: %s: %w", s.name, what, err)
		}
	}
}

func (s *Sink) attemptCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.Timeout > 0 {
		return context.WithTimeout(ctx, s.cfg.Timeout.D())
	}
	return context.WithCancel(ctx)
}

// backoff sleeps base·2^attempt, capped at 30 s, with full jitter over its
// upper half.
func (s *Sink) backoff(ctx context.Context, attempt int) error {
	d := min(s.BaseBackoff<<min(attempt, 20), 30*time.Second)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// statusErr extracts the HTTP status of a failed opensearchapi call: 0 for
// a transport error.
func statusErr(err error) (int, error) {
	if err == nil {
		return 200, nil
	}
	var se *osgo.StructError
	if errors.As(err, &se) {
		return se.Status, err
	}
	var str *osgo.StringError
	if errors.As(err, &str) {
		return str.Status, err
	}
	return 0, err
}

func status(resp *osgo.Response, err error) (int, error) {
	if resp != nil {
		if err == nil {
			err = errors.New("status " + strconv.Itoa(resp.StatusCode))
		}
		return resp.StatusCode, err
	}
	return statusErr(err)
}
