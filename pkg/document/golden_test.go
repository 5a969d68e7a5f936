package document

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenCase is a root key chosen for what its document shows.
type goldenCase struct {
	name string
	key  []string
}

// The documents of the examples' seed data, one golden file per index,
// reviewed by hand: every kind of field, every key type (uuid, bigint, text,
// int, composite) and every way a key yields a delete.
var goldenCases = map[string][]goldenCase{
	"listings": { // uuid key
		{"published, with photos, amenities, bookings and every scalar type", []string{"075a76c8-2cbc-2785-3e7d-2bd08b9161e7"}},
		{"no photos: empty arrays, null cover photo and aggregates", []string{"039ee2c5-fb49-272d-0b80-c69447e6878f"}},
		{"no coordinates: null geo point", []string{"1620a89c-90c8-5dc0-89c5-41bbf9fec298"}},
		{"empty attributes object", []string{"77425e6f-b573-538e-720f-90f42c973a2c"}},
		{"draft: outside the root filters, a delete", []string{"4e9f3f97-8097-9e32-b2b9-492c375528bd"}},
		{"archived: soft-deleted by soft_delete.when, a delete", []string{"e5d9d6b2-c676-ea5e-fe0b-442c7bf23091"}},
		{"no such row: a delete", []string{"00000000-0000-0000-0000-000000000000"}},
		{"upper-case key: the id is canonical", []string{"075A76C8-2CBC-2785-3E7D-2BD08B9161E7"}},
	},
	"hosts": { // bigint key
		{"three levels of nesting: listings, bookings, payments and review", []string{"1"}},
		{"closed account: soft-deleted by column, a delete", []string{"5"}},
		{"closed account too", []string{"39"}},
		{"no such row", []string{"9999"}},
	},
	"cities": { // text key
		{"centre as an object", []string{"ams"}},
		{"centre as [lon, lat]", []string{"vce"}},
		{"centre as \"lat,lon\"", []string{"rtm"}},
		{"no centre", []string{"cfu"}},
	},
	"bookings": { // int key
		{"completed with review and payments", []string{"1"}},
		{"cancelled: soft-deleted by field, a delete", []string{"20"}},
		{"completed without review", []string{"6"}},
	},
	"night_rates": { // composite key
		{"open night in the summer window", []string{"039ee2c5-fb49-272d-0b80-c69447e6878f", "2024-07-01"}},
		{"closed night", []string{"a5499a77-2d52-46b2-d53f-4a9c1edb511e", "2024-07-05"}},
		{"no minimum stay: the default", []string{"a5499a77-2d52-46b2-d53f-4a9c1edb511e", "2024-07-01"}},
		{"zero price on an open night: excluded by the raw filter", []string{"c5d97522-9f0e-a873-a411-d2a74cb96ab4", "2024-07-05"}},
		{"before the window: excluded by a root filter", []string{"a5499a77-2d52-46b2-d53f-4a9c1edb511e", "2024-06-24"}},
	},
}

func TestGoldenDocuments(t *testing.T) {
	cfg, db := examples(t)
	pool := db.Pool(t)
	for _, ix := range cfg.Indexes {
		t.Run(ix.Name, func(t *testing.T) {
			cases := goldenCases[ix.Name]
			if len(cases) == 0 {
				t.Fatalf("no golden cases for index %s", ix.Name)
			}
			b := builder(t, db, cfg, ix.Name)
			keys := make([][]string, len(cases))
			for i, c := range cases {
				keys[i] = c.key
			}
			docs := map[string]Doc{}
			err := b.Build(t.Context(), pool, keys, func(d Doc) error {
				docs[strings.Join(d.Key, "\x00")] = d
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			for _, c := range cases {
				d, ok := docs[strings.Join(c.key, "\x00")]
				if !ok {
					t.Fatalf("no document for key %v", c.key)
				}
				fmt.Fprintf(&out, "# %s\n_id %s\n", c.name, d.ID)
				if d.Source == nil {
					out.WriteString("delete\n\n")
					continue
				}
				if err := json.Indent(&out, d.Source, "", "  "); err != nil {
					t.Fatalf("%s: %v\n%s", d.ID, err, d.Source)
				}
				out.WriteString("\n\n")
			}
			path := testdata(ix.Name + ".golden")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("documents differ from %s (run with -update and review the diff):\n%s", path, firstDiff(string(want), got))
			}
		})
	}
}

// firstDiff shows the first differing line with some context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}
