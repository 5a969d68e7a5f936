package indexer

// While a new schema of an index seeds, reads are served by the previous
// generation, built with the previous schema. The new schema's documents
// cannot replace its own (its strict mapping may refuse them), so until the
// flip live changes are also resolved and built with the serving
// generation's schema, which the capture keeps in the state bucket, and
// written to that generation alone: reads stay fresh during the reindex.

import (
	"context"
	"errors"
	"fmt"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/resolve"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/nats-io/nats.go/jetstream"
)

// servingView builds an index's documents for a serving generation of
// another schema.
type servingView struct {
	gen sink.Generation
	// builder and resolver are nil when the schema could not be had: the
	// serving generation is then left as it is until the flip.
	builder  *document.Builder
	resolver *resolve.Resolver
}

// servingViews returns the usable views, by index.
func (ix *Indexer) servingViews() map[string]*servingView {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := map[string]*servingView{}
	for index, v := range ix.serving {
		if v.builder != nil {
			out[index] = v
		}
	}
	return out
}

// keepServing keeps the view of an index in step with its state: one while
// a new schema seeds beside a serving generation of another, none
// otherwise.
func (ix *Indexer) keepServing(ctx context.Context, index string, st *indexState) error {
	if st.State == stateSeeded || st.Serving == nil || st.Serving.Hash == st.Hash {
		ix.mu.Lock()
		delete(ix.serving, index)
		ix.mu.Unlock()
		return nil
	}
	gen := sink.Generation{Hash: st.Serving.Hash, Number: st.Serving.Generation}
	ix.mu.Lock()
	cur := ix.serving[index]
	ix.mu.Unlock()
	if cur != nil && cur.gen == gen {
		return nil
	}
	v := &servingView{gen: gen}
	key := changes.SchemaKey(index, gen.Hash)
	e, err := ix.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		ix.log.Warn("the serving generation's schema is not in the state bucket: it keeps its documents as they are until the new generation serves",
			"index", index, "serving_hash", gen.Hash, "key", key)
	case err != nil:
		return fmt.Errorf("read %s: %w", key, err)
	default:
		if v.builder, v.resolver, err = ix.planServing(ctx, index, gen, key, e.Value()); err != nil {
			ix.log.Warn("cannot build the serving generation's documents: it keeps them as they are until the new generation serves",
				"index", index, "serving_hash", gen.Hash, "err", err)
		} else {
			ix.log.Info("live changes also go to the serving generation, built with its own schema, until the new one serves",
				"index", index, "serving_hash", gen.Hash, "serving_generation", gen.Number, "new_hash", st.Hash)
		}
	}
	ix.mu.Lock()
	ix.serving[index] = v
	ix.mu.Unlock()
	return nil
}

// planServing plans the resolution and the build of an index with the
// schema source of the serving generation.
func (ix *Indexer) planServing(ctx context.Context, index string, gen sink.Generation, key string, src []byte) (*document.Builder, *resolve.Resolver, error) {
	s, diags := config.ParseSchema(key, src, index)
	if err := diags.Err(); err != nil {
		return nil, nil, err
	}
	if h := s.Hash(); h != gen.Hash {
		return nil, nil, fmt.Errorf("%s parses to schema hash %s", key, h)
	}
	b, err := document.New(ctx, index, s, ix.cat)
	if err != nil {
		return nil, nil, err
	}
	r, err := resolve.New(ctx, &config.Config{Indexes: []*config.Index{{Name: index, Enabled: true, Schema: s}}}, ix.cat)
	if err != nil {
		return nil, nil, err
	}
	return b, r, nil
}
