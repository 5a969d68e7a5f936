package opensearchtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// writeReq is one index or delete operation, from _bulk or _doc.
type writeReq struct {
	op          string // index, create, delete
	index       string
	id          string
	version     int64
	hasVersion  bool
	versionType string
	source      json.RawMessage
}

// apply performs one write and returns its bulk item result and status.
// Called with s.mu held.
func (s *Server) apply(w writeReq) (map[string]any, int) {
	fail := func(idx string, e *docError) (map[string]any, int) {
		item := map[string]any{"_index": idx, "_id": w.id, "status": e.Status,
			"error": map[string]any{"type": e.Type, "reason": e.Reason, "index": idx, "shard": "0", "index_uuid": "_na_"}}
		return item, e.Status
	}
	ix, derr := s.writeIndex(w.index)
	if derr != nil {
		return fail(w.index, derr)
	}
	if f := s.itemFault(w.id); f != nil {
		return fail(ix.name, &docError{f.Status, f.Type, f.Reason})
	}
	external := w.versionType == "external" || w.versionType == "external_gt" || w.versionType == "external_gte"
	if w.hasVersion && !external && w.versionType != "" && w.versionType != "internal" {
		return fail(ix.name, &docError{400, "illegal_argument_exception", "version type [" + w.versionType + "] is not supported"})
	}
	if external && !w.hasVersion {
		return fail(ix.name, &docError{400, "action_request_validation_exception", "Validation Failed: 1: an external version is required;"})
	}
	// The current version: the live document's, or a tombstone's that is
	// younger than index.gc_deletes.
	cur, exists := int64(0), false
	d := ix.docs[w.id]
	if d != nil {
		cur, exists = d.version, true
	} else if t, ok := ix.tombstones[w.id]; ok {
		if s.now().Sub(t.at) < ix.gcDeletes() {
			cur, exists = t.version, true
		} else {
			delete(ix.tombstones, w.id)
		}
	}
	if external && exists {
		conflict := w.version <= cur
		if w.versionType == "external_gte" {
			conflict = w.version < cur
		}
		if conflict {
			return fail(ix.name, &docError{409, "version_conflict_engine_exception", fmt.Sprintf(
				"[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]", w.id, cur, w.version)})
		}
	}
	if w.hasVersion && !external && (d == nil || d.version != w.version) {
		return fail(ix.name, &docError{409, "version_conflict_engine_exception", fmt.Sprintf(
			"[%s]: version conflict, current version [%d] is different than the one provided [%d]", w.id, cur, w.version)})
	}
	next := cur + 1
	if external {
		next = w.version
	}
	ix.seqNo++
	item := map[string]any{"_index": ix.name, "_id": w.id, "_shards": map[string]any{"total": 1, "successful": 1, "failed": 0},
		"_seq_no": ix.seqNo, "_primary_term": 1}
	switch w.op {
	case "delete":
		ix.tombstones[w.id] = tombstone{version: next, at: s.now()}
		item["_version"] = next
		if d == nil {
			item["result"], item["status"] = "not_found", 404
			return item, 404
		}
		delete(ix.docs, w.id)
		item["result"], item["status"] = "deleted", 200
		return item, 200
	default:
		if w.op == "create" && d != nil {
			return fail(ix.name, &docError{409, "version_conflict_engine_exception", fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", w.id, d.version)})
		}
		if e := checkDoc(ix.mappings, w.id, w.source); e != nil {
			ix.seqNo--
			return fail(ix.name, e)
		}
		ix.docs[w.id] = &document{source: append(json.RawMessage(nil), w.source...), version: next, seqNo: ix.seqNo}
		delete(ix.tombstones, w.id)
		item["_version"] = next
		if d == nil {
			item["result"], item["status"] = "created", 201
			return item, 201
		}
		item["result"], item["status"] = "updated", 200
		return item, 200
	}
}

func versionParams(q url.Values, w *writeReq) *docError {
	if v := q.Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return &docError{400, "illegal_argument_exception", "illegal version value [" + v + "]"}
		}
		w.version, w.hasVersion = n, true
	}
	w.versionType = q.Get("version_type")
	return nil
}

func (s *Server) bulk(defaultIndex string, q url.Values, body []byte) response {
	lines, err := ndjson(body)
	if err != nil {
		return response{400, errBody(400, "illegal_argument_exception", "Malformed action/metadata line: "+err.Error(), "")}
	}
	var items []any
	errors := false
	for i := 0; i < len(lines); i++ {
		var action map[string]struct {
			Index       string `json:"_index"`
			ID          string `json:"_id"`
			Version     *int64 `json:"version"`
			VersionType string `json:"version_type"`
			Routing     string `json:"routing"`
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(lines[i], &raw); err != nil || len(raw) != 1 {
			return badRequest(fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT", i+1))
		}
		if err := json.Unmarshal(lines[i], &action); err != nil {
			return badRequest(fmt.Sprintf("Malformed action/metadata line [%d]: %v", i+1, err))
		}
		for k := range raw {
			var meta map[string]json.RawMessage
			_ = json.Unmarshal(raw[k], &meta)
			for f := range meta {
				switch f {
				case "_index", "_id", "version", "version_type", "routing", "if_seq_no", "if_primary_term", "pipeline", "require_alias", "retry_on_conflict", "_source":
				default:
					return badRequest(fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", i+1, f))
				}
			}
		}
		for op, meta := range action {
			w := writeReq{op: op, index: meta.Index, id: meta.ID, versionType: meta.VersionType}
			if w.index == "" {
				w.index = defaultIndex
			}
			if meta.Version != nil {
				w.version, w.hasVersion = *meta.Version, true
			}
			switch op {
			case "index", "create":
				if i+1 >= len(lines) {
					return badRequest("The bulk request must be terminated by a newline [\\n]")
				}
				i++
				w.source = lines[i]
			case "delete":
			default:
				return badRequest(fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", i+1, op))
			}
			if w.index == "" {
				return response{400, errBody(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;", "")}
			}
			if w.id == "" && op != "delete" {
				w.id = strconv.FormatInt(int64(len(items))+1, 36) + "-auto"
			}
			item, status := s.apply(w)
			if status >= 300 && !(op == "delete" && status == 404 && item["error"] == nil) {
				errors = true
			}
			items = append(items, map[string]any{op: item})
		}
	}
	_ = q
	return response{200, map[string]any{"took": 1, "errors": errors, "items": items}}
}

func (s *Server) doc(method, name, id string, q url.Values, body []byte) response {
	switch method {
	case http.MethodGet, http.MethodHead:
		ixs, ok := s.resolve(name)
		if !ok || len(ixs) == 0 {
			return notFound(name)
		}
		if len(ixs) > 1 {
			return badRequest("alias [" + name + "] has more than one index associated with it, can't execute a single index op")
		}
		ix := ixs[0]
		d := ix.docs[id]
		if d == nil {
			return response{404, map[string]any{"_index": ix.name, "_id": id, "found": false}}
		}
		return response{200, map[string]any{"_index": ix.name, "_id": id, "_version": d.version, "_seq_no": d.seqNo,
			"_primary_term": 1, "found": true, "_source": d.source}}
	case http.MethodPut, http.MethodPost, http.MethodDelete:
		w := writeReq{op: "index", index: name, id: id, source: body}
		if method == http.MethodDelete {
			w.op, w.source = "delete", nil
		} else if q.Get("op_type") == "create" {
			w.op = "create"
		}
		if e := versionParams(q, &w); e != nil {
			return response{e.Status, errBody(e.Status, e.Type, e.Reason, "")}
		}
		item, status := s.apply(w)
		if e, ok := item["error"].(map[string]any); ok {
			return response{status, errBody(status, e["type"].(string), e["reason"].(string), name)}
		}
		delete(item, "status")
		return response{status, item}
	}
	return badRequest("unsupported method " + method)
}

type searchReq struct {
	Query map[string]json.RawMessage `json:"query"`
	Size  *int                       `json:"size"`
	From  int                        `json:"from"`
}

func (s *Server) search(name string, body []byte, count bool) response {
	ixs, ok := s.resolve(name)
	if !ok {
		return notFound(name)
	}
	var req searchReq
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return response{400, errBody(400, "parse_exception", err.Error(), "")}
		}
	}
	match, err := compileQuery(req.Query)
	if err != nil {
		return response{400, errBody(400, "parsing_exception", err.Error(), "")}
	}
	type hit struct {
		index, id string
		d         *document
	}
	var hits []hit
	for _, ix := range ixs {
		for id, d := range ix.docs {
			if match(id, d.source) {
				hits = append(hits, hit{ix.name, id, d})
			}
		}
	}
	if count {
		return response{200, map[string]any{"count": len(hits), "_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0}}}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].index != hits[j].index {
			return hits[i].index < hits[j].index
		}
		return hits[i].id < hits[j].id
	})
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	total := len(hits)
	from := min(max(req.From, 0), len(hits))
	hits = hits[from:min(from+max(size, 0), len(hits))]
	out := []any{}
	for _, h := range hits {
		out = append(out, map[string]any{"_index": h.index, "_id": h.id, "_score": 1.0, "_source": h.d.source})
	}
	var maxScore any
	if len(out) > 0 {
		maxScore = 1.0
	}
	return response{200, map[string]any{
		"took": 1, "timed_out": false,
		"_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0},
		"hits":    map[string]any{"total": map[string]any{"value": total, "relation": "eq"}, "max_score": maxScore, "hits": out},
	}}
}

// compileQuery supports match_all, term, terms and ids.
func compileQuery(q map[string]json.RawMessage) (func(id string, src json.RawMessage) bool, error) {
	if len(q) == 0 {
		return func(string, json.RawMessage) bool { return true }, nil
	}
	if len(q) != 1 {
		return nil, fmt.Errorf("[query] malformed, expected one query, found %d", len(q))
	}
	for kind, raw := range q {
		switch kind {
		case "match_all":
			return func(string, json.RawMessage) bool { return true }, nil
		case "ids":
			var v struct {
				Values []string `json:"values"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("[ids] %v", err)
			}
			set := map[string]bool{}
			for _, id := range v.Values {
				set[id] = true
			}
			return func(id string, _ json.RawMessage) bool { return set[id] }, nil
		case "term", "terms":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("[%s] %v", kind, err)
			}
			delete(m, "boost")
			if len(m) != 1 {
				return nil, fmt.Errorf("[%s] query requires exactly one field", kind)
			}
			for field, val := range m {
				var wants []any
				if kind == "term" {
					var obj struct {
						Value any `json:"value"`
					}
					var scalar any
					if err := json.Unmarshal(val, &scalar); err != nil {
						return nil, err
					}
					if o, ok := scalar.(map[string]any); ok {
						_ = json.Unmarshal(val, &obj)
						_ = o
						scalar = obj.Value
					}
					wants = []any{scalar}
				} else if err := json.Unmarshal(val, &wants); err != nil {
					return nil, fmt.Errorf("[terms] query does not support [%s]", field)
				}
				keys := map[string]bool{}
				for _, w := range wants {
					keys[termKey(w)] = true
				}
				return func(id string, src json.RawMessage) bool {
					if field == "_id" {
						return keys[id]
					}
					var doc any
					_ = json.Unmarshal(src, &doc)
					for _, v := range lookup(doc, strings.TrimSuffix(strings.TrimSuffix(field, ".keyword"), ".raw")) {
						if keys[termKey(v)] {
							return true
						}
					}
					return false
				}, nil
			}
		}
		return nil, fmt.Errorf("unknown query [%s]", kind)
	}
	return nil, nil
}

func termKey(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// lookup returns the values at a dotted path, flattening arrays.
func lookup(v any, field string) []any {
	if field == "" {
		if arr, ok := v.([]any); ok {
			return arr
		}
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		head, rest, _ := strings.Cut(field, ".")
		if val, ok := x[field]; ok {
			return lookup(val, "")
		}
		return lookup(x[head], rest)
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, lookup(e, field)...)
		}
		return out
	}
	return nil
}
