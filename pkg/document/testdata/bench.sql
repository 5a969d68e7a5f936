-- Scales the examples' store up for the build benchmark: :rows more
-- listings (substituted by the benchmark), each with photos, amenities,
-- bookings with payments and reviews, and night rates. Deterministic.
SET search_path = stays;

INSERT INTO listings (id, host_id, city_code, title, description, kind, status, nightly_price, currency,
                      max_guests, bedrooms, latitude, longitude, attributes, thumbnail, published_on,
                      check_in_time, check_out_time, created_at, updated_at, rating)
SELECT md5('bench-listing-' || g)::uuid,
       1 + g % 40,
       (ARRAY(SELECT code FROM cities ORDER BY code))[1 + g % 26],
       'Bench listing ' || g || ' with a view',
       'A generated listing for the benchmark, number ' || g || '. Quiet street, close to the centre, fast wifi.',
       (ARRAY['room', 'apartment', 'house', 'cabin']::listing_kind[])[1 + g % 4],
       CASE WHEN g % 10 = 0 THEN 'draft' ELSE 'published' END,
       40 + (g % 300) + 0.25 * (g % 4),
       'EUR',
       1 + g % 8,
       NULLIF(g % 5, 0),
       CASE WHEN g % 7 = 0 THEN NULL ELSE 35 + (g % 2000) / 100.0 END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE -5 + (g % 3000) / 100.0 END,
       jsonb_build_object('wifi_mbps', g % 500, 'floor', g % 9, 'pets_allowed', g % 3 = 0),
       decode(md5('thumb-' || g), 'hex'),
       DATE '2020-01-01' + g % 1500,
       TIME '15:00' + (g % 4) * INTERVAL '30 minutes',
       TIME '11:00',
       TIMESTAMP '2019-06-01 08:00' + g * INTERVAL '7 minutes',
       TIMESTAMPTZ '2024-01-01 00:00+00' + g * INTERVAL '1 minute',
       CASE WHEN g % 3 = 0 THEN NULL ELSE 3 + (g % 20) / 10.0 END
FROM generate_series(1, :rows) AS g;

INSERT INTO photos (id, listing_id, position, url, caption, checksum)
SELECT 10000000 + g * 2 + j, md5('bench-listing-' || g)::uuid, j + 1,
       'https://img.stays.example/bench/' || g || '/' || j || '.jpg',
       CASE WHEN j = 0 THEN NULL ELSE 'Photo ' || j END,
       decode(md5('photo-' || g || '-' || j), 'hex')
FROM generate_series(1, :rows) AS g, generate_series(0, 1) AS j;

INSERT INTO listing_amenities (listing_id, amenity_id)
SELECT md5('bench-listing-' || g)::uuid, 1 + (g + k) % 16
FROM generate_series(1, :rows) AS g, generate_series(0, 5) AS k;

INSERT INTO bookings (id, listing_id, guest_id, check_in, check_out, guests, total, status, cancelled, created_at)
SELECT 10000000 + g * 4 + j, md5('bench-listing-' || g)::uuid, 1 + (g + j) % 60,
       DATE '2024-01-01' + (g % 200) + j * 40, DATE '2024-01-01' + (g % 200) + j * 40 + 1 + (g + j) % 6,
       1 + (g + j) % 4, 100 + (g % 500) + j * 10,
       (ARRAY['requested', 'confirmed', 'cancelled', 'completed'])[1 + (g + j) % 4],
       (g + j) % 4 = 2,
       TIMESTAMPTZ '2023-12-01 00:00+00' + (g % 200) * INTERVAL '1 day'
FROM generate_series(1, :rows) AS g, generate_series(0, 3) AS j;

INSERT INTO payments (booking_id, seq, amount, method, paid_at)
SELECT b.id, s, b.total / 2, (ARRAY['card', 'transfer', 'voucher'])[1 + (b.id + s) % 3], b.created_at + s * INTERVAL '1 day'
FROM bookings b, generate_series(1, 2) AS s
WHERE b.id >= 10000000 AND (s = 1 OR b.id % 2 = 0);

INSERT INTO reviews (booking_id, rating, body, host_reply, created_at)
SELECT id, 1 + id % 5, 'Generated review ' || id, CASE WHEN id % 3 = 0 THEN 'Thanks!' END, created_at + INTERVAL '20 days'
FROM bookings WHERE id >= 10000000 AND status = 'completed';

INSERT INTO night_rates (listing_id, night, price, available, min_stay)
SELECT md5('bench-listing-' || g)::uuid, DATE '2024-07-01' + d, 40 + (g % 300) + d, (g + d) % 5 <> 0, NULLIF(d % 3, 0)
FROM generate_series(1, :rows) AS g, generate_series(0, 4) AS d;

RESET search_path;
ANALYZE;
