package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/sink"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name   string
		pretty bool
		want   string
	}{
		{"compact", false, `{"op":"upsert","index":"users","id":"42","document":{"name":"Ada"},"seq":1,"ts":"2025-01-02T03:04:05.678Z"}
{"op":"delete","index":"users","id":"7","seq":2,"ts":"2025-01-02T03:04:05.678Z"}
`},
		{"pretty", true, `{
  "op": "upsert",
  "index": "users",
  "id": "42",
  "document": {
    "name": "Ada"
  },
  "seq": 1,
  "ts": "2025-01-02T03:04:05.678Z"
}
{
  "op": "delete",
  "index": "users",
  "id": "7",
  "seq": 2,
  "ts": "2025-01-02T03:04:05.678Z"
}
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := New("audit", &buf, tc.pretty)
			s.now = func() time.Time { return time.Date(2025, 1, 2, 4, 4, 5, 678_900_000, time.FixedZone("CET", 3600)) }
			rej, err := s.Write(context.Background(), []sink.Op{
				{Index: "users", ID: "42", Version: 10, Doc: json.RawMessage(`{"name": "Ada"}`)},
				{Index: "users", ID: "7", Version: 11},
				// An older schema's document for the serving generation: not shown.
				{Index: "users", ID: "42", Version: 10, Doc: json.RawMessage(`{"nom": "Ada"}`), Generation: &sink.Generation{Hash: "aaaa0000", Number: 1}},
			})
			if err != nil || rej != nil {
				t.Fatalf("Write: %v %v", rej, err)
			}
			if got := buf.String(); got != tc.want {
				t.Errorf("wrote\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestSeqAcrossWrites(t *testing.T) {
	var buf bytes.Buffer
	s := New("out", &buf, false)
	for range 3 {
		if _, err := s.Write(context.Background(), []sink.Op{{Index: "i", ID: "1", Doc: json.RawMessage(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, l := range lines {
		var v struct {
			Seq uint64 `json:"seq"`
			TS  string `json:"ts"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if v.Seq != uint64(i+1) {
			t.Errorf("line %d: seq %d, want %d", i, v.Seq, i+1)
		}
		if _, err := time.Parse(time.RFC3339, v.TS); err != nil {
			t.Errorf("line %d: ts %q: %v", i, v.TS, err)
		}
	}
	if s.Name() != "out" || s.Ensure(context.Background(), sink.Target{}) != nil || s.Seeded(context.Background(), "i", sink.Generation{}) != nil {
		t.Error("Name/Ensure/Seeded")
	}
}
