package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/flusso-go/flusso/pkg/sink"
)

// item is one op for one generation index: two lines of a _bulk body.
type item struct {
	op    int // index into the ops of Write
	lines []byte
}

// Write sends ops to every generation of their index (or to the one an op
// names), in _bulk requests of
// at most batch_size items and max_bytes bytes. A stale version (409) and
// the delete of a missing document (404) succeed; retryable failures are
// retried up to max_retries and then returned as err; other item failures
// are rejections, one per op.
func (s *Sink) Write(ctx context.Context, ops []sink.Op) ([]sink.Rejection, error) {
	s.mu.Lock()
	refresh := s.refresh
	var pending []item
	for i, op := range ops {
		gens := s.targets[op.Index]
		if op.Generation != nil {
			gens = []string{s.generation(op.Index, *op.Generation)}
		}
		if len(gens) == 0 {
			s.mu.Unlock()
			return nil, fmt.Errorf("sink %s: write %s/%s: index not ensured", s.name, op.Index, op.ID)
		}
		for _, g := range gens {
			it, err := encode(i, g, op)
			if err != nil {
				s.mu.Unlock()
				return nil, fmt.Errorf("sink %s: write %s/%s: %w", s.name, op.Index, op.ID, err)
			}
			pending = append(pending, it)
		}
	}
	s.mu.Unlock()

	rejected := map[int]sink.Rejection{}
	for attempt := 0; len(pending) > 0; attempt++ {
		var retry []item
		var lastErr error
		for _, chunk := range s.chunks(pending) {
			again, err := s.send(ctx, chunk, refresh, ops, rejected)
			if err != nil {
				lastErr = err
			}
			retry = append(retry, again...)
		}
		if len(retry) == 0 {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sink %s: write: %w", s.name, ctx.Err())
		}
		if attempt >= s.cfg.MaxRetries {
			return nil, fmt.Errorf("sink %s: write: %d items still failing after %d retries: %w", s.name, len(retry), attempt, lastErr)
		}
		s.logger.Warn("retrying bulk items", "items", len(retry), "attempt", attempt+1, "error", lastErr)
		if err := s.backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("sink %s: write: %w", s.name, err)
		}
		pending = retry
	}
	out := make([]sink.Rejection, 0, len(rejected))
	for i := range ops {
		if r, ok := rejected[i]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func encode(i int, index string, op sink.Op) (item, error) {
	kind := "index"
	if op.Delete() {
		kind = "delete"
	}
	action, err := json.Marshal(map[string]any{kind: map[string]any{
		"_index": index, "_id": op.ID, "version": op.Version, "version_type": "external_gte"}})
	if err != nil {
		return item{}, err
	}
	var b bytes.Buffer
	b.Write(action)
	b.WriteByte('\n')
	if !op.Delete() {
		if err := json.Compact(&b, op.Doc); err != nil {
			return item{}, fmt.Errorf("document: %w", err)
		}
		b.WriteByte('\n')
	}
	return item{op: i, lines: b.Bytes()}, nil
}

// chunks splits items by batch_size and max_bytes; an item larger than
// max_bytes goes alone.
func (s *Sink) chunks(items []item) [][]item {
	var out [][]item
	start, size := 0, 0
	for i, it := range items {
		if i > start && (i-start >= s.cfg.BatchSize || size+len(it.lines) > s.cfg.MaxBytes) {
			out = append(out, items[start:i])
			start, size = i, 0
		}
		size += len(it.lines)
	}
	if start < len(items) {
		out = append(out, items[start:])
	}
	return out
}

// send posts one _bulk request and returns the items to retry.
func (s *Sink) send(ctx context.Context, chunk []item, refresh string, ops []sink.Op, rejected map[int]sink.Rejection) ([]item, error) {
	var body bytes.Buffer
	for _, it := range chunk {
		body.Write(it.lines)
	}
	actx, cancel := s.attemptCtx(ctx)
	defer cancel()
	resp, err := s.client.Bulk(actx, opensearchapi.BulkReq{Body: &body,
		Params: opensearchapi.BulkParams{Refresh: refresh, Pipeline: s.cfg.Pipeline}})
	if err != nil {
		st, err := statusErr(err)
		if retryable(st) {
			return chunk, err
		}
		return nil, fmt.Errorf("sink %s: _bulk: %w", s.name, err)
	}
	if len(resp.Items) != len(chunk) {
		return chunk, fmt.Errorf("_bulk answered %d items for %d", len(resp.Items), len(chunk))
	}
	var retry []item
	var lastErr error
	for i, m := range resp.Items {
		for kind, r := range m {
			op := ops[chunk[i].op]
			switch {
			case r.Status < 300:
			case r.Status == 409 && r.Error != nil && r.Error.Type == "version_conflict_engine_exception":
				// A newer version is already there.
			case r.Status == 404 && kind == "delete" && r.Error == nil:
				// Nothing to delete; the tombstone keeps the version.
			case retryable(r.Status):
				retry = append(retry, chunk[i])
				lastErr = fmt.Errorf("%s %s/%s: %d %s", kind, r.Index, r.ID, r.Status, reason(r))
			default:
				if _, seen := rejected[chunk[i].op]; !seen {
					rejected[chunk[i].op] = sink.Rejection{Op: op, Status: r.Status, Reason: reason(r)}
				}
			}
		}
	}
	return retry, lastErr
}

func reason(r opensearchapi.BulkRespItem) string {
	if r.Error == nil {
		return r.Result
	}
	var b strings.Builder
	b.WriteString(r.Error.Type + ": " + r.Error.Reason)
	if r.Error.Cause.Reason != "" {
		b.WriteString(" (caused by " + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")")
	}
	return b.String()
}
