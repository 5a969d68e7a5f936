package memory

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/flusso-go/flusso/pkg/sink"
)

func doc(s string) json.RawMessage { return json.RawMessage(s) }

func TestVersions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		ops  []sink.Op
		want map[string]string
	}{
		{"newer wins", []sink.Op{{ID: "1", Version: 1, Doc: doc(`1`)}, {ID: "1", Version: 2, Doc: doc(`2`)}}, map[string]string{"1": "2"}},
		{"older ignored", []sink.Op{{ID: "1", Version: 2, Doc: doc(`2`)}, {ID: "1", Version: 1, Doc: doc(`1`)}}, map[string]string{"1": "2"}},
		{"equal applies", []sink.Op{{ID: "1", Version: 2, Doc: doc(`a`)}, {ID: "1", Version: 2, Doc: doc(`b`)}}, map[string]string{"1": "b"}},
		{"delete", []sink.Op{{ID: "1", Version: 1, Doc: doc(`1`)}, {ID: "1", Version: 2}}, map[string]string{}},
		{"tombstone keeps version", []sink.Op{{ID: "1", Version: 3}, {ID: "1", Version: 2, Doc: doc(`2`)}}, map[string]string{}},
		{"stale delete ignored", []sink.Op{{ID: "1", Version: 3, Doc: doc(`3`)}, {ID: "1", Version: 2}}, map[string]string{"1": "3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New("m")
			for _, op := range tc.ops {
				op.Index = "i"
				if _, err := s.Write(ctx, []sink.Op{op}); err != nil {
					t.Fatal(err)
				}
			}
			got := s.Docs("i")
			if len(got) != len(tc.want) {
				t.Fatalf("docs %v, want %v", got, tc.want)
			}
			for id, w := range tc.want {
				if string(got[id]) != w {
					t.Errorf("doc %s = %s, want %s", id, got[id], w)
				}
			}
		})
	}
}

func TestInjected(t *testing.T) {
	ctx := context.Background()
	s := New("m")
	s.RejectWith(func(op sink.Op) (string, bool) { return "bad " + op.ID, op.ID == "2" })
	rej, err := s.Write(ctx, []sink.Op{{Index: "i", ID: "1", Doc: doc(`1`)}, {Index: "i", ID: "2", Doc: doc(`2`)}})
	if err != nil || len(rej) != 1 || rej[0].Op.ID != "2" || rej[0].Reason != "bad 2" {
		t.Fatalf("rejections %+v, err %v", rej, err)
	}
	if d := s.Docs("i"); len(d) != 1 {
		t.Fatalf("docs %v", d)
	}
	boom := errors.New("boom")
	s.FailWith(func([]sink.Op) error { return boom })
	if _, err := s.Write(ctx, []sink.Op{{Index: "i", ID: "3", Doc: doc(`3`)}}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if calls, ops := s.Writes(); calls != 1 || ops != 2 {
		t.Errorf("writes %d/%d", calls, ops)
	}
}

// An op for one generation is kept apart from the index's documents.
func TestGenerationOps(t *testing.T) {
	s := New("m")
	old := sink.Generation{Hash: "aaaa0000", Number: 1}
	if _, err := s.Write(context.Background(), []sink.Op{
		{Index: "users", ID: "1", Version: 5, Doc: doc(`"new"`)},
		{Index: "users", ID: "1", Version: 5, Doc: doc(`"old"`), Generation: &old},
	}); err != nil {
		t.Fatal(err)
	}
	if got := string(s.Docs("users")["1"]); got != `"new"` {
		t.Errorf("Docs: %s, want \"new\"", got)
	}
	if got := string(s.GenerationDocs("users", old)["1"]); got != `"old"` {
		t.Errorf("GenerationDocs: %s, want \"old\"", got)
	}
}
