package resolve

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The example deployment (examples/): five indexes over the holiday-stays
// database, every table REPLICA IDENTITY FULL. Expected documents are read
// from the seed with plain joins, written the other way round.
func TestResolveExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "examples")
	cfg, diags := config.Load(filepath.Join(dir, "flusso.toml"), config.Options{Env: func(string) (string, bool) { return "", false }})
	if err := diags.Err(); err != nil {
		t.Fatalf("load the examples: %v", err)
	}
	db := pgtest.NewDatabase(t)
	db.ExecFiles(t, filepath.Join(dir, "postgres", "01_schema.sql"), filepath.Join(dir, "postgres", "02_seed.sql"))
	pool := db.Pool(t)
	r, err := New(context.Background(), cfg, catalog.New(pool))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := len(r.Tables()); got != 12 {
		t.Errorf("the examples read %d tables, want 12: %v", got, r.Tables())
	}

	one := func(sql string) string { return selectIDs(t, pool, sql)[0] }
	booking := one(`SELECT min(booking_id)::text FROM stays.payments`)
	other := one(`SELECT min(b.id)::text FROM stays.bookings b JOIN stays.listings l ON l.id = b.listing_id
		WHERE l.host_id <> (SELECT l2.host_id FROM stays.bookings b2 JOIN stays.listings l2 ON l2.id = b2.listing_id WHERE b2.id = ` + booking + `)`)
	hostOf := func(b string) string {
		return one(`SELECT l.host_id::text FROM stays.bookings b JOIN stays.listings l ON l.id = b.listing_id WHERE b.id = ` + b)
	}
	unreviewed := one(`SELECT min(id)::text FROM stays.bookings b WHERE NOT EXISTS (SELECT FROM stays.reviews r WHERE r.booking_id = b.id)`)
	host := one(`SELECT min(h.id)::text FROM stays.hosts h WHERE home_city_code IS NOT NULL AND EXISTS (SELECT FROM stays.listings l WHERE l.host_id = h.id)`)
	listing := one(`SELECT l.id::text FROM stays.listings l WHERE EXISTS (SELECT FROM stays.bookings b WHERE b.listing_id = l.id)
		AND EXISTS (SELECT FROM stays.night_rates n WHERE n.listing_id = l.id) ORDER BY l.id LIMIT 1`)
	night := one(`SELECT min(night)::text FROM stays.night_rates WHERE listing_id = '` + listing + `'`)
	amenity := one(`SELECT min(amenity_id)::text FROM stays.listing_amenities`)
	linked := one(`SELECT min(listing_id::text) FROM stays.listing_amenities WHERE amenity_id = ` + amenity)
	guest := one(`SELECT min(guest_id)::text FROM stays.bookings`)

	runCases(t, pool, r, []resolveCase{
		{name: "payment update: its booking, and the host of the booking's listing",
			sql:     `UPDATE stays.payments SET amount = amount + 1 WHERE booking_id = ` + booking + ` AND seq = 1`,
			changes: []Change{upd("stays.payments", booking, "1").was("booking_id", booking, "seq", "1", "amount", "1.00", "method", "card", "paid_at", "2024-01-01 00:00:00+00")},
			want:    map[string][]string{"bookings": {booking}, "hosts": {hostOf(booking)}}},
		{name: "payment moved to another booking (key change): both bookings, both hosts",
			sql:     `UPDATE stays.payments SET booking_id = ` + other + `, seq = 99 WHERE booking_id = ` + booking + ` AND seq = 1`,
			changes: []Change{upd("stays.payments", other, "99").from(booking, "1").was("booking_id", booking, "seq", "1")},
			want: map[string][]string{
				"bookings": sortedIDs(booking, other),
				"hosts":    sortedIDs(hostOf(booking), hostOf(other)),
			}},
		{name: "review insert",
			sql:     `INSERT INTO stays.reviews VALUES (` + unreviewed + `, 5, 'lovely', NULL, '2024-07-01')`,
			changes: []Change{ins("stays.reviews", unreviewed)},
			want:    map[string][]string{"bookings": {unreviewed}, "hosts": {hostOf(unreviewed)}}},
		{name: "host update: their document, their listings, the bookings of those, their home city",
			sql:     `UPDATE stays.hosts SET handle = handle || '.x' WHERE id = ` + host,
			changes: []Change{upd("stays.hosts", host)},
			want: map[string][]string{
				"hosts":    {host},
				"listings": selectIDs(t, pool, `SELECT id::text FROM stays.listings WHERE host_id = `+host),
				"bookings": selectIDs(t, pool, `SELECT b.id::text FROM stays.bookings b JOIN stays.listings l ON l.id = b.listing_id WHERE l.host_id = `+host),
				"cities":   selectIDs(t, pool, `SELECT home_city_code FROM stays.hosts WHERE id = `+host),
			}},
		{name: "listing update reaches every index",
			sql:     `UPDATE stays.listings SET title = title || '!' WHERE id = '` + listing + `'`,
			changes: []Change{upd("stays.listings", listing)},
			want: map[string][]string{
				"listings":    {listing},
				"hosts":       selectIDs(t, pool, `SELECT host_id::text FROM stays.listings WHERE id = '`+listing+`'`),
				"cities":      selectIDs(t, pool, `SELECT city_code FROM stays.listings WHERE id = '`+listing+`'`),
				"bookings":    selectIDs(t, pool, `SELECT id::text FROM stays.bookings WHERE listing_id = '`+listing+`'`),
				"night_rates": selectIDs(t, pool, `SELECT listing_id::text || ':' || night::text FROM stays.night_rates WHERE listing_id = '`+listing+`'`),
			}},
		{name: "night rate update: its composite-key document and its listing",
			sql:     `UPDATE stays.night_rates SET price = price + 1 WHERE listing_id = '` + listing + `' AND night = '` + night + `'`,
			changes: []Change{upd("stays.night_rates", listing, night)},
			want:    map[string][]string{"night_rates": {listing + ":" + night}, "listings": {listing}}},
		{name: "night rate moved to another night (key change)",
			sql:     `UPDATE stays.night_rates SET night = '2030-01-01' WHERE listing_id = '` + listing + `' AND night = '` + night + `'`,
			changes: []Change{upd("stays.night_rates", listing, "2030-01-01").from(listing, night)},
			want:    map[string][]string{"night_rates": sortedIDs(listing+":2030-01-01", listing+":"+night), "listings": {listing}}},
		{name: "amenity update: the listings linked to it",
			sql:     `UPDATE stays.amenities SET label = upper(label) WHERE id = ` + amenity,
			changes: []Change{upd("stays.amenities", amenity)},
			want:    map[string][]string{"listings": selectIDs(t, pool, `SELECT listing_id::text FROM stays.listing_amenities WHERE amenity_id = `+amenity)}},
		{name: "amenity link delete",
			sql:     `DELETE FROM stays.listing_amenities WHERE listing_id = '` + linked + `' AND amenity_id = ` + amenity,
			changes: []Change{del("stays.listing_amenities", linked, amenity).was("listing_id", linked, "amenity_id", amenity)},
			want:    map[string][]string{"listings": {linked}}},
		{name: "country update: its cities, and the listings in them",
			sql:     `UPDATE stays.countries SET name = 'Portugal!' WHERE code = 'pt'`,
			changes: []Change{upd("stays.countries", "pt")},
			want: map[string][]string{
				"cities":   selectIDs(t, pool, `SELECT code FROM stays.cities WHERE country = 'pt'`),
				"listings": selectIDs(t, pool, `SELECT l.id::text FROM stays.listings l JOIN stays.cities c ON c.code = l.city_code WHERE c.country = 'pt'`),
			}},
		{name: "guest update: their bookings",
			sql:     `UPDATE stays.guests SET phone = NULL WHERE id = ` + guest,
			changes: []Change{upd("stays.guests", guest)},
			want:    map[string][]string{"bookings": selectIDs(t, pool, `SELECT id::text FROM stays.bookings WHERE guest_id = `+guest)}},
	})
}

// selectIDs runs a query of one text column and returns its values in the
// order Resolve sorts keys (failing when there is none).
func selectIDs(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out []string
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rows", sql)
	}
	return sortedIDs(out...)
}

// sortedIDs deduplicates document ids and sorts them as Resolve sorts keys:
// value by value.
func sortedIDs(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b string) int { return slices.Compare(strings.Split(a, ":"), strings.Split(b, ":")) })
	return slices.Compact(ids)
}
