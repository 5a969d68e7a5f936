package indexer

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/sink/memory"
)

// A scripted series of changes on every table of the examples.
const examplesChanges = `SET search_path = stays;
UPDATE countries SET name = name || ' (updated)' WHERE code = (SELECT min(code) FROM countries);
UPDATE cities SET population = coalesce(population, 0) + 1 WHERE code = (SELECT min(code) FROM cities);
UPDATE hosts SET display_name = display_name || ' Jr', superhost = NOT superhost WHERE id = (SELECT min(id) FROM hosts);
UPDATE hosts SET deleted_at = now() WHERE id = (SELECT max(id) FROM hosts);
UPDATE guests SET full_name = full_name || ' B.' WHERE id = (SELECT min(id) FROM guests);
UPDATE listings SET title = title || ' (renovated)', nightly_price = nightly_price + 1 WHERE id = (SELECT id FROM listings ORDER BY id LIMIT 1);
UPDATE listings SET host_id = (SELECT min(id) FROM hosts) WHERE id = (SELECT id FROM listings ORDER BY id DESC LIMIT 1);
UPDATE amenities SET label = label || '!' WHERE id = (SELECT min(id) FROM amenities);
DELETE FROM listing_amenities WHERE (listing_id, amenity_id) = (SELECT listing_id, amenity_id FROM listing_amenities ORDER BY 1, 2 LIMIT 1);
UPDATE photos SET caption = 'new caption' WHERE id = (SELECT min(id) FROM photos);
DELETE FROM photos WHERE id = (SELECT max(id) FROM photos);
UPDATE night_rates SET price = price + 5 WHERE (listing_id, night) = (SELECT listing_id, night FROM night_rates ORDER BY 1, 2 LIMIT 1);
DELETE FROM night_rates WHERE (listing_id, night) = (SELECT listing_id, night FROM night_rates ORDER BY 1 DESC, 2 DESC LIMIT 1);
UPDATE bookings SET status = 'cancelled', cancelled = true WHERE id = (SELECT min(id) FROM bookings);
UPDATE bookings SET listing_id = (SELECT id FROM listings ORDER BY id LIMIT 1) WHERE id = (SELECT max(id) FROM bookings);
UPDATE payments SET amount = amount + 1 WHERE (booking_id, seq) = (SELECT booking_id, seq FROM payments ORDER BY 1, 2 LIMIT 1);
DELETE FROM reviews WHERE booking_id = (SELECT max(booking_id) FROM reviews);
UPDATE reviews SET host_reply = 'thanks' WHERE booking_id = (SELECT min(booking_id) FROM reviews);
`

func examplesDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples")
}

// The examples: backfill, then changes on every table; every index equals
// the oracle.
func TestExamples(t *testing.T) {
	dir := examplesDir(t)
	db := newHarness(t, "", nil, filepath.Join(dir, "flusso.toml"), map[string]string{"capture.backfill_chunk": "7", "indexer.batch_size": "25"})
	db.DB.ExecFiles(t, filepath.Join(dir, "postgres", "01_schema.sql"), filepath.Join(dir, "postgres", "02_seed.sql"))
	mem := memory.New("mem")
	db.StartCapture(t, "c1")
	db.StartIndexer(t, "i1", nil, mem)
	db.waitConverged(t, 90*time.Second, "examples backfill", mem)
	for _, ix := range db.cfg(t, nil).Indexes {
		if len(mem.Docs(ix.Name)) == 0 {
			t.Errorf("index %s is empty", ix.Name)
		}
	}
	db.Exec(t, examplesChanges)
	db.waitConverged(t, 90*time.Second, "examples changes", mem)
}
