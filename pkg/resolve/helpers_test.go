package resolve

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// ref parses "schema.table", or "table" in public.
func ref(s string) config.TableRef {
	if schema, name, ok := strings.Cut(s, "."); ok {
		return config.TableRef{Schema: schema, Name: name}
	}
	return config.TableRef{Schema: "public", Name: s}
}

func ins(table string, key ...string) Change { return Change{Table: ref(table), Op: Insert, Key: key} }
func upd(table string, key ...string) Change { return Change{Table: ref(table), Op: Update, Key: key} }
func del(table string, key ...string) Change { return Change{Table: ref(table), Op: Delete, Key: key} }

// was sets the old row the stream carried: column, value pairs; the value
// "NULL" is SQL NULL.
func (c Change) was(kv ...string) Change {
	c.Old = map[string]*string{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "NULL" {
			c.Old[kv[i]] = nil
			continue
		}
		v := kv[i+1]
		c.Old[kv[i]] = &v
	}
	return c
}

// from sets the old key of an update that changed it.
func (c Change) from(key ...string) Change {
	c.OldKey = key
	return c
}

// schemaIndex parses a schema YAML into an enabled index.
func schemaIndex(t *testing.T, name, yml string) *config.Index {
	t.Helper()
	s, diags := config.ParseSchema(name+".schema.yml", []byte(yml), name)
	if err := diags.Err(); err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return &config.Index{Name: name, Enabled: true, Schema: s}
}

func newResolver(t *testing.T, db *pgtest.Database, indexes ...*config.Index) *Resolver {
	t.Helper()
	r, err := New(context.Background(), &config.Config{Indexes: indexes}, catalog.New(db.Pool(t)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// ids renders a result as document ids per index, in the order returned.
func ids(got map[string][]Key) map[string][]string {
	out := map[string][]string{}
	for ix, keys := range got {
		for _, k := range keys {
			out[ix] = append(out[ix], k.ID())
		}
	}
	return out
}

// resolveCase is one batch of changes, resolved after applying sql in a
// transaction that is rolled back afterwards.
type resolveCase struct {
	name    string
	sql     string
	changes []Change
	want    map[string][]string // index -> document ids; absent: nothing
}

func runCases(t *testing.T, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, r *Resolver, cases []resolveCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if tc.sql != "" {
				if _, err := tx.Exec(ctx, tc.sql); err != nil {
					t.Fatalf("apply %q: %v", tc.sql, err)
				}
			}
			got, err := r.Resolve(ctx, tx, tc.changes)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			assertSorted(t, got)
			want := tc.want
			if want == nil {
				want = map[string][]string{}
			}
			if g := ids(got); !equalIDs(g, want) {
				t.Errorf("affected documents\n got: %v\nwant: %v", g, want)
			}
		})
	}
}

func equalIDs(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func assertSorted(t *testing.T, got map[string][]Key) {
	t.Helper()
	for ix, keys := range got {
		if !slices.IsSortedFunc(keys, func(a, b Key) int { return slices.Compare(a, b) }) {
			t.Errorf("keys of %s not sorted: %v", ix, keys)
		}
		if len(slices.CompactFunc(slices.Clone(keys), func(a, b Key) bool { return slices.Equal(a, b) })) != len(keys) {
			t.Errorf("keys of %s repeated: %v", ix, keys)
		}
	}
}

// countingQuerier counts the queries that reach the database.
type countingQuerier struct {
	q Querier
	n atomic.Int64
}

func (c *countingQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.n.Add(1)
	return c.q.Query(ctx, sql, args...)
}
