// Package opensearchtest is an in-process stand-in for an OpenSearch cluster,
// for tests: indices with settings and mappings (strict dynamic mappings and
// type errors rejected as OpenSearch does), documents with internal and
// external versions, delete tombstones kept for index.gc_deletes, aliases
// with atomic actions, and the document, search and index APIs flusso uses.
// Every request and response is checked against the OpenSearch OpenAPI
// specification shipped in the opensearch-go module; a violation fails the
// test. Faults (429/5xx bursts, delays, dropped connections, item-level
// rejections) can be injected. It does not model shards, scoring or refresh
// visibility: a write is searchable at once.
package opensearchtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running stand-in.
type Server struct {
	tb   testing.TB
	http *httptest.Server
	spec *spec

	mu         sync.Mutex
	now        func() time.Time
	indices    map[string]*index
	violations []string
	faults     []*Fault
	items      []*ItemFault
	requests   []Request
}

// Request is a request the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

type index struct {
	name       string
	uuid       string
	created    time.Time
	settings   map[string]any // flattened "index.*" keys, string values
	mappings   map[string]any
	aliases    map[string]bool
	docs       map[string]*document
	tombstones map[string]tombstone
	seqNo      int64
}

type document struct {
	source  json.RawMessage
	version int64
	seqNo   int64
}

type tombstone struct {
	version int64
	at      time.Time
}

// New starts a stand-in that closes when the test ends and fails the test
// if any request or response violated the OpenAPI specification.
func New(tb testing.TB) *Server {
	tb.Helper()
	sp, err := loadSpec()
	if err != nil {
		tb.Fatalf("opensearchtest: %v", err)
	}
	s := &Server{tb: tb, spec: sp, now: time.Now, indices: map[string]*index{}}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(func() {
		s.http.Close()
		if v := s.Violations(); len(v) > 0 {
			tb.Errorf("opensearchtest: %d OpenAPI violation(s):\n%s", len(v), strings.Join(v, "\n"))
		}
	})
	return s
}

// URL is the base URL of the server.
func (s *Server) URL() string { return s.http.URL }

// SetClock replaces the clock tombstones expire by.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Violations are the OpenAPI violations recorded so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Requests are the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Fault alters the next Times requests that match Method and Path.
type Fault struct {
	Method string // "" matches any
	// Path matches the request path: exactly, or as a glob (path.Match), or
	// as a suffix when it starts with "*"; "" matches any.
	Path  string
	Times int // how many matching requests; 0 means 1
	// Status answers with this status (429, 503, …) and an OpenSearch error
	// instead of handling the request.
	Status int
	// Delay holds the response back.
	Delay time.Duration
	// Drop closes the connection without answering, after handling the
	// request when AfterHandling is set (the client cannot know it applied).
	Drop          bool
	AfterHandling bool
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ItemFault rejects bulk items (and single-document writes) with the given
// document ids.
type ItemFault struct {
	IDs    []string
	Status int    // e.g. 400 or 429
	Type   string // e.g. mapper_parsing_exception
	Reason string
	Times  int // how many items; 0 means for ever
}

// RejectItems queues an item-level fault.
func (s *Server) RejectItems(f ItemFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, &f)
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return false
	}
	switch {
	case f.Path == "":
		return true
	case strings.HasPrefix(f.Path, "*") && !strings.ContainsAny(f.Path[1:], "*?["):
		return strings.HasSuffix(r.URL.Path, f.Path[1:])
	default:
		ok, _ := path.Match(f.Path, r.URL.Path)
		return ok || f.Path == r.URL.Path
	}
}

func (s *Server) takeFault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.matches(r) {
			f.Times--
			if f.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f
		}
	}
	return nil
}

// itemFault reports the rejection of document id, if one is queued. Called
// with s.mu held.
func (s *Server) itemFault(id string) *ItemFault {
	for i, f := range s.items {
		if slices.Contains(f.IDs, id) {
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					s.items = slices.Delete(s.items, i, i+1)
				}
			}
			return f
		}
	}
	return nil
}

func (s *Server) violation(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, msg)
}

// response is what a handler answers.
type response struct {
	status int
	body   any // marshalled to JSON; nil for no body
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	x, verr := s.spec.validateRequest(r, body)
	if verr != nil {
		s.violation(verr.Error())
		writeJSON(w, r, 400, errBody(400, "illegal_argument_exception", "OpenAPI violation: "+verr.Error(), ""))
		return
	}
	f := s.takeFault(r)
	if f != nil && f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if f != nil && f.Drop && !f.AfterHandling {
		drop(w)
		return
	}
	if f != nil && f.Status != 0 {
		typ := "es_rejected_execution_exception"
		if f.Status != 429 {
			typ = "unavailable_shards_exception"
		}
		writeJSON(w, r, f.Status, errBody(f.Status, typ, "injected fault", ""))
		return
	}
	resp := s.handle(r, body)
	if f != nil && f.Drop {
		drop(w)
		return
	}
	var out []byte
	if resp.body != nil {
		out, _ = json.Marshal(resp.body)
	}
	h := http.Header{}
	if out != nil {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	if x != nil && r.Method != http.MethodHead {
		if err := s.spec.validateResponse(x, resp.status, h, out); err != nil {
			s.violation(err.Error())
		}
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	out, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

func errBody(status int, typ, reason, idx string) map[string]any {
	cause := map[string]any{"type": typ, "reason": reason}
	if idx != "" {
		cause["index"] = idx
		cause["index_uuid"] = "_na_"
	}
	e := map[string]any{"root_cause": []any{cause}}
	for k, v := range cause {
		e[k] = v
	}
	return map[string]any{"error": e, "status": status}
}

func notFound(name string) response {
	return response{404, errBody(404, "index_not_found_exception", "no such index ["+name+"]", name)}
}

func badRequest(reason string) response {
	return response{400, errBody(400, "illegal_argument_exception", reason, "")}
}

func (s *Server) handle(r *http.Request, body []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	q := r.URL.Query()
	m := r.Method
	switch {
	case len(parts) == 0:
		if m == http.MethodHead {
			return response{status: 200}
		}
		return response{200, map[string]any{
			"name": "opensearchtest", "cluster_name": "opensearchtest", "cluster_uuid": "opensearchtest-uuid",
			"version": map[string]any{
				"distribution": "opensearch", "number": "2.16.0", "build_type": "tar", "build_hash": "0",
				"build_date": "2024-08-01T00:00:00Z", "build_snapshot": false, "lucene_version": "9.11.1",
				"minimum_wire_compatibility_version": "7.10.0", "minimum_index_compatibility_version": "7.0.0",
			},
			"tagline": "The OpenSearch Project: https://opensearch.org/",
		}}
	case parts[0] == "_bulk":
		return s.bulk("", q, body)
	case parts[0] == "_aliases":
		return s.updateAliases(body)
	case parts[0] == "_alias":
		name := ""
		if len(parts) > 1 {
			name = parts[1]
		}
		return s.getAlias(m, name)
	case parts[0] == "_cat" && len(parts) > 1 && parts[1] == "indices":
		pattern := "*"
		if len(parts) > 2 {
			pattern = parts[2]
		}
		return s.catIndices(pattern)
	case len(parts) == 1:
		switch m {
		case http.MethodPut:
			return s.createIndex(parts[0], body)
		case http.MethodHead, http.MethodGet:
			return s.getIndex(m, parts[0])
		case http.MethodDelete:
			return s.deleteIndex(parts[0])
		}
	case len(parts) >= 2:
		name := parts[0]
		switch parts[1] {
		case "_bulk":
			return s.bulk(name, q, body)
		case "_doc":
			if len(parts) == 3 {
				return s.doc(m, name, parts[2], q, body)
			}
		case "_search":
			return s.search(name, body, false)
		case "_count":
			return s.search(name, body, true)
		case "_refresh":
			ixs, ok := s.resolve(name)
			if !ok {
				return notFound(name)
			}
			return response{200, map[string]any{"_shards": shards(len(ixs))}}
		case "_settings":
			if m == http.MethodPut {
				return s.putSettings(name, body)
			}
			return s.getSettings(name)
		case "_alias":
			return s.getAliasOf(name)
		}
	}
	return badRequest(fmt.Sprintf("opensearchtest does not implement %s %s", m, r.URL.Path))
}

func shards(n int) map[string]any {
	return map[string]any{"total": n, "successful": n, "failed": 0}
}

// resolve expands an index expression (names, aliases, globs, commas) into
// indices, sorted by name.
func (s *Server) resolve(expr string) ([]*index, bool) {
	set := map[string]*index{}
	for part := range strings.SplitSeq(expr, ",") {
		if part == "_all" {
			part = "*"
		}
		found := false
		for _, ix := range s.indices {
			ok, _ := path.Match(part, ix.name)
			if ok || ix.name == part {
				set[ix.name], found = ix, true
				continue
			}
			for a := range ix.aliases {
				if ok, _ := path.Match(part, a); ok || a == part {
					set[ix.name], found = ix, true
				}
			}
		}
		if !found && !strings.ContainsAny(part, "*?") {
			return nil, false
		}
	}
	out := make([]*index, 0, len(set))
	for _, ix := range set {
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, true
}

// writeIndex resolves the target of a write: an index, or an alias that
// points at exactly one index.
func (s *Server) writeIndex(name string) (*index, *docError) {
	if ix, ok := s.indices[name]; ok {
		return ix, nil
	}
	var hit []*index
	for _, ix := range s.indices {
		if ix.aliases[name] {
			hit = append(hit, ix)
		}
	}
	switch len(hit) {
	case 1:
		return hit[0], nil
	case 0:
		// OpenSearch creates a missing index on first write
		// (action.auto_create_index defaults to true).
		if strings.HasPrefix(name, "_") || strings.ToLower(name) != name {
			return nil, &docError{400, "invalid_index_name_exception", "Invalid index name [" + name + "]"}
		}
		ix := s.newIndex(name, nil, nil)
		s.indices[name] = ix
		return ix, nil
	}
	return nil, &docError{400, "illegal_argument_exception", "no write index is defined for alias [" + name +
		"]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"}
}

func (s *Server) newIndex(name string, settings, mappings map[string]any) *index {
	b := make([]byte, 11)
	_, _ = rand.Read(b)
	flat := map[string]any{
		"index.number_of_shards":   "1",
		"index.number_of_replicas": "1",
	}
	flatten("index", settings, flat)
	flat["index.uuid"] = hex.EncodeToString(b)
	flat["index.provided_name"] = name
	flat["index.creation_date"] = strconv.FormatInt(s.now().UnixMilli(), 10)
	flat["index.version.created"] = "136367827"
	if mappings == nil {
		mappings = map[string]any{}
	}
	return &index{
		name: name, uuid: hex.EncodeToString(b), created: s.now(), settings: flat, mappings: mappings,
		aliases: map[string]bool{}, docs: map[string]*document{}, tombstones: map[string]tombstone{},
	}
}

// flatten writes settings as OpenSearch stores them: dotted keys under
// "index.", string values.
func flatten(prefix string, v map[string]any, out map[string]any) {
	for k, val := range v {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if prefix == "index" && strings.HasPrefix(k, "index.") {
			key = k
		}
		if prefix == "index" && k == "index" {
			key = "index"
		}
		switch x := val.(type) {
		case map[string]any:
			flatten(key, x, out)
		case []any:
			l := make([]any, len(x))
			for i, e := range x {
				l[i] = scalar(e)
			}
			out[key] = l
		case nil:
			delete(out, key)
		default:
			out[key] = scalar(x)
		}
	}
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// nest turns flattened settings back into nested objects.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts := strings.Split(k, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = flat[k]
	}
	return out
}

func (ix *index) setting(key string) (string, bool) {
	v, ok := ix.settings["index."+key].(string)
	return v, ok
}

func (ix *index) gcDeletes() time.Duration {
	v, ok := ix.setting("gc_deletes")
	if !ok {
		return 60 * time.Second
	}
	d, err := parseTimeValue(v)
	if err != nil {
		return 60 * time.Second
	}
	return d
}

// parseTimeValue parses OpenSearch time values ("60s", "1h", "500ms", "-1").
func parseTimeValue(v string) (time.Duration, error) {
	if v == "-1" {
		return -1, nil
	}
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			if f, err := strconv.ParseFloat(n, 64); err == nil {
				return time.Duration(f * float64(u.d)), nil
			}
		}
	}
	return 0, fmt.Errorf("failed to parse time value [%s]", v)
}

func (s *Server) createIndex(name string, body []byte) response {
	if _, ok := s.indices[name]; ok {
		return response{400, errBody(400, "resource_already_exists_exception", "index ["+name+"/"+s.indices[name].uuid+"] already exists", name)}
	}
	if s.aliasExists(name) {
		return response{400, errBody(400, "invalid_index_name_exception", "Invalid index name ["+name+"], an alias with the same name already exists", name)}
	}
	if strings.HasPrefix(name, "_") || strings.ToLower(name) != name {
		return response{400, errBody(400, "invalid_index_name_exception", "Invalid index name ["+name+"], must be lowercase", name)}
	}
	var req struct {
		Settings map[string]any            `json:"settings"`
		Mappings map[string]any            `json:"mappings"`
		Aliases  map[string]map[string]any `json:"aliases"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return response{400, errBody(400, "parse_exception", err.Error(), "")}
		}
	}
	for a := range req.Aliases {
		if _, ok := s.indices[a]; ok {
			return response{400, errBody(400, "invalid_alias_name_exception", "an index exists with the same name as the alias", a)}
		}
	}
	ix := s.newIndex(name, req.Settings, req.Mappings)
	if v, ok := ix.setting("gc_deletes"); ok {
		if _, err := parseTimeValue(v); err != nil {
			return badRequest(err.Error())
		}
	}
	for a := range req.Aliases {
		ix.aliases[a] = true
	}
	s.indices[name] = ix
	return response{200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name}}
}

func (s *Server) aliasExists(name string) bool {
	for _, ix := range s.indices {
		if ix.aliases[name] {
			return true
		}
	}
	return false
}

func (ix *index) state() map[string]any {
	aliases := map[string]any{}
	for a := range ix.aliases {
		aliases[a] = map[string]any{}
	}
	return map[string]any{"aliases": aliases, "mappings": ix.mappings, "settings": nest(ix.settings)}
}

func (s *Server) getIndex(method, name string) response {
	ixs, ok := s.resolve(name)
	if !ok || len(ixs) == 0 && !strings.ContainsAny(name, "*?") {
		return notFound(name)
	}
	if method == http.MethodHead {
		return response{status: 200}
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = ix.state()
	}
	return response{200, out}
}

func (s *Server) deleteIndex(name string) response {
	ix, ok := s.indices[name]
	if !ok {
		if s.aliasExists(name) {
			return badRequest("The provided expression [" + name + "] matches an alias, specify the corresponding concrete indices instead.")
		}
		return notFound(name)
	}
	delete(s.indices, ix.name)
	return response{200, map[string]any{"acknowledged": true}}
}

func (s *Server) getSettings(name string) response {
	ixs, ok := s.resolve(name)
	if !ok {
		return notFound(name)
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"settings": nest(ix.settings)}
	}
	return response{200, out}
}

var staticSettings = []string{"index.number_of_shards", "index.uuid", "index.provided_name", "index.creation_date", "index.analysis"}

func (s *Server) putSettings(name string, body []byte) response {
	ixs, ok := s.resolve(name)
	if !ok {
		return notFound(name)
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return response{400, errBody(400, "parse_exception", err.Error(), "")}
	}
	if inner, ok := req["settings"].(map[string]any); ok && len(req) == 1 {
		req = inner
	}
	flat := map[string]any{}
	flatten("index", req, flat)
	for k, v := range flat {
		for _, st := range staticSettings {
			if k == st || strings.HasPrefix(k, st+".") {
				return badRequest("Can't update non dynamic settings [[" + k + "]] for open indices")
			}
		}
		if k == "index.gc_deletes" || k == "index.refresh_interval" {
			if _, err := parseTimeValue(fmt.Sprint(v)); err != nil {
				return badRequest(err.Error())
			}
		}
	}
	for _, ix := range ixs {
		for k, v := range flat {
			ix.settings[k] = v
		}
	}
	return response{200, map[string]any{"acknowledged": true}}
}

func (s *Server) getAlias(method, name string) response {
	out := map[string]any{}
	for _, ix := range s.indices {
		aliases := map[string]any{}
		for a := range ix.aliases {
			if ok, _ := path.Match(name, a); name == "" || ok || a == name {
				aliases[a] = map[string]any{}
			}
		}
		if name == "" || len(aliases) > 0 {
			out[ix.name] = map[string]any{"aliases": aliases}
		}
	}
	if name != "" && len(out) == 0 {
		if method == http.MethodHead {
			return response{status: 404}
		}
		return response{404, map[string]any{"error": "alias [" + name + "] missing", "status": 404}}
	}
	if method == http.MethodHead {
		return response{status: 200}
	}
	return response{200, out}
}

func (s *Server) getAliasOf(name string) response {
	ixs, ok := s.resolve(name)
	if !ok {
		return notFound(name)
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"aliases": ix.state()["aliases"]}
	}
	return response{200, out}
}

type aliasAction struct {
	Index   string   `json:"index"`
	Indices []string `json:"indices"`
	Alias   string   `json:"alias"`
	Aliases []string `json:"aliases"`
}

func (a aliasAction) indexNames() []string {
	return append(slices.Clone(a.Indices), nonEmpty(a.Index)...)
}
func (a aliasAction) aliasNames() []string {
	return append(slices.Clone(a.Aliases), nonEmpty(a.Alias)...)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// updateAliases applies all actions or none.
func (s *Server) updateAliases(body []byte) response {
	var req struct {
		Actions []map[string]aliasAction `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return response{400, errBody(400, "parse_exception", err.Error(), "")}
	}
	// Work on a copy of the alias sets, then commit.
	next := map[string]map[string]bool{}
	for n, ix := range s.indices {
		next[n] = maps.Clone(ix.aliases)
	}
	removed := map[string]bool{}
	for _, act := range req.Actions {
		for kind, a := range act {
			var targets []string
			for _, n := range a.indexNames() {
				ixs, ok := s.resolve(n)
				if !ok || len(ixs) == 0 {
					return notFound(n)
				}
				for _, ix := range ixs {
					targets = append(targets, ix.name)
				}
			}
			if len(targets) == 0 {
				return badRequest("One of [index] or [indices] is required")
			}
			switch kind {
			case "add":
				if len(a.aliasNames()) == 0 {
					return badRequest("One of [alias] or [aliases] is required")
				}
				for _, t := range targets {
					for _, al := range a.aliasNames() {
						if _, ok := s.indices[al]; ok && !removed[al] {
							return response{400, errBody(400, "invalid_alias_name_exception", "Invalid alias name ["+al+"]: an index or data stream exists with the same name as the alias", al)}
						}
						next[t][al] = true
					}
				}
			case "remove":
				for _, t := range targets {
					for _, al := range a.aliasNames() {
						if !next[t][al] {
							return response{404, map[string]any{"error": map[string]any{
								"root_cause": []any{map[string]any{"type": "aliases_not_found_exception", "reason": "aliases [" + al + "] missing"}},
								"type":       "aliases_not_found_exception", "reason": "aliases [" + al + "] missing"}, "status": 404}}
						}
						delete(next[t], al)
					}
				}
			case "remove_index":
				for _, t := range targets {
					removed[t] = true
				}
			default:
				return badRequest("Unsupported alias action [" + kind + "]")
			}
		}
	}
	for n := range removed {
		delete(s.indices, n)
	}
	for n, ix := range s.indices {
		ix.aliases = next[n]
	}
	return response{200, map[string]any{"acknowledged": true}}
}

func (s *Server) catIndices(pattern string) response {
	ixs, ok := s.resolve(pattern)
	if !ok {
		return notFound(pattern)
	}
	out := []any{}
	for _, ix := range ixs {
		rep, _ := ix.setting("number_of_replicas")
		pri, _ := ix.setting("number_of_shards")
		size := 0
		for _, d := range ix.docs {
			size += len(d.source)
		}
		out = append(out, map[string]any{
			"health": "green", "status": "open", "index": ix.name, "uuid": ix.uuid, "pri": pri, "rep": rep,
			"docs.count": strconv.Itoa(len(ix.docs)), "docs.deleted": "0",
			"store.size": strconv.Itoa(size) + "b", "pri.store.size": strconv.Itoa(size) + "b",
		})
	}
	return response{200, out}
}

func sortStrings(l []string) { sort.Strings(l) }
