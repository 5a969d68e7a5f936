-- Deterministic seed data for the holiday-stays example.
--
-- No random(), no now(): every value derives from a row number through fixed
-- arithmetic, and uuids are md5 hashes (listing n has id md5('listing-' || n)),
-- so two loads produce byte-identical tables. The data describes the market as
-- of 2024-07-01: stays that ended before that day are completed.
--
-- Rough size: 9 countries, 26 cities, 40 hosts, 60 guests, 16 amenities,
-- 150 listings (~1,450 amenity links, ~330 photos), 600 bookings (~870
-- payments, ~270 reviews) and ~1,650 night rates.
--
-- Edge cases on purpose (each one shows up in some document):
--   * host 5 and host 39 closed their accounts (deleted_at set); host 39 and
--     hosts 38 and 40 have no listings; some hosts have no bio, no response
--     rate or no home city; some emails carry upper case and stray spaces
--   * listings 15, 30, ... 150 are drafts (no published_on, no thumbnail) and
--     listings 29, 58, 87, 116 and 145 are archived
--   * listings 121..150 have no bookings (so no rating), listings ending in 3
--     and every sixth listing have no photos, listings 31, 62, 93 and 124 have
--     an empty attributes object and no amenities, listings 7, 57 and 107 have
--     no coordinates, rooms have no bedroom count, some titles carry stray spaces
--   * Corfu has no centre, population or area; Venice stores its centre as a
--     [lon, lat] array and Rotterdam as a "lat,lon" string
--   * every 20th booking is cancelled (some refunded with a negative payment),
--     a third of the future ones are still requests without payments, and one
--     completed stay in six has no review
--   * night rates are seeded from 2024-06-24; some nights have no minimum
--     stay, and listing 2 is open on 2024-07-05 at a price of zero

SET search_path = stays;
-- Interval arithmetic on timestamptz follows the session's time zone (a day
-- across a DST change is 23 or 25 hours): pin it so the seed is the same
-- whatever the client's TimeZone.
SET TimeZone = 'UTC';

-- Countries and cities -------------------------------------------------------

INSERT INTO countries (code, name, currency, region) VALUES
    ('pt', 'Portugal',    'EUR', 'iberia'),
    ('es', 'Spain',       'EUR', 'iberia'),
    ('fr', 'France',      'EUR', 'west'),
    ('nl', 'Netherlands', 'EUR', 'west'),
    ('de', 'Germany',     'EUR', 'central'),
    ('ch', 'Switzerland', 'CHF', 'central'),
    ('it', 'Italy',       'EUR', 'south'),
    ('gr', 'Greece',      'EUR', 'south'),
    ('hr', 'Croatia',     'EUR', 'east');

-- Working table: the cities with an ordinal and plain coordinates, so that
-- listings can be spread over them. Dropped at the end of this file.
CREATE TEMP TABLE city_seed (
    ord        integer PRIMARY KEY,
    code       text,
    country    char(2),
    names      jsonb,
    timezone   text,
    lat        numeric(8,4),
    lon        numeric(8,4),
    centre     text,          -- how the centre is stored: object | array | string | none
    population integer,
    area_km2   double precision
);

INSERT INTO city_seed VALUES
    ( 1, 'lis', 'pt', '{"en": "Lisbon", "pt": "Lisboa"}',                   'Europe/Lisbon',    38.7223,  -9.1393, 'object',  545000, 100.05),
    ( 2, 'opo', 'pt', '{"en": "Porto", "pt": "Porto"}',                     'Europe/Lisbon',    41.1579,  -8.6291, 'object',  232000,  41.42),
    ( 3, 'fao', 'pt', '{"en": "Faro", "pt": "Faro"}',                       'Europe/Lisbon',    37.0194,  -7.9304, 'object',     NULL, 202.57),
    ( 4, 'bcn', 'es', '{"en": "Barcelona", "es": "Barcelona", "ca": "Barcelona"}', 'Europe/Madrid', 41.3874, 2.1686, 'object', 1620000, 101.90),
    ( 5, 'mad', 'es', '{"en": "Madrid", "es": "Madrid"}',                   'Europe/Madrid',    40.4168,  -3.7038, 'object', 3305000, 604.30),
    ( 6, 'svq', 'es', '{"en": "Seville", "es": "Sevilla"}',                 'Europe/Madrid',    37.3891,  -5.9845, 'object',  684000, 140.80),
    ( 7, 'pmi', 'es', '{"en": "Palma", "es": "Palma", "ca": "Palma"}',      'Europe/Madrid',    39.5696,   2.6502, 'object',  416000, 208.63),
    ( 8, 'par', 'fr', '{"en": "Paris", "fr": "Paris"}',                     'Europe/Paris',     48.8566,   2.3522, 'object', 2103000, 105.40),
    ( 9, 'nce', 'fr', '{"en": "Nice", "fr": "Nice", "it": "Nizza"}',        'Europe/Paris',     43.7102,   7.2620, 'object',  343000,  71.92),
    (10, 'lys', 'fr', '{"en": "Lyon", "fr": "Lyon"}',                       'Europe/Paris',     45.7640,   4.8357, 'object',  522000,  47.87),
    (11, 'ams', 'nl', '{"en": "Amsterdam", "nl": "Amsterdam"}',             'Europe/Amsterdam', 52.3676,   4.9041, 'object',  931000, 219.30),
    (12, 'rtm', 'nl', '{"en": "Rotterdam", "nl": "Rotterdam"}',             'Europe/Amsterdam', 51.9244,   4.4777, 'string',  664000, 324.10),
    (13, 'ber', 'de', '{"en": "Berlin", "de": "Berlin"}',                   'Europe/Berlin',    52.5200,  13.4050, 'object', 3755000, 891.10),
    (14, 'muc', 'de', '{"en": "Munich", "de": "München"}',                  'Europe/Berlin',    48.1351,  11.5820, 'object', 1512000, 310.70),
    (15, 'ham', 'de', '{"en": "Hamburg", "de": "Hamburg"}',                 'Europe/Berlin',    53.5511,   9.9937, 'object', 1892000, 755.20),
    (16, 'zrh', 'ch', '{"en": "Zurich", "de": "Zürich", "fr": "Zurich"}',   'Europe/Zurich',    47.3769,   8.5417, 'object',  422000,  87.88),
    (17, 'gva', 'ch', '{"en": "Geneva", "fr": "Genève", "de": "Genf"}',     'Europe/Zurich',    46.2044,   6.1432, 'object',  204000,  15.93),
    (18, 'rom', 'it', '{"en": "Rome", "it": "Roma"}',                       'Europe/Rome',      41.9028,  12.4964, 'object', 2748000, 1285.00),
    (19, 'flr', 'it', '{"en": "Florence", "it": "Firenze"}',                'Europe/Rome',      43.7696,  11.2558, 'object',  361000, 102.30),
    (20, 'vce', 'it', '{"en": "Venice", "it": "Venezia"}',                  'Europe/Rome',      45.4408,  12.3155, 'array',   250000, 414.60),
    (21, 'nap', 'it', '{"en": "Naples", "it": "Napoli"}',                   'Europe/Rome',      40.8518,  14.2681, 'object',  913000, 119.00),
    (22, 'ath', 'gr', '{"en": "Athens", "el": "Αθήνα"}',                    'Europe/Athens',    37.9838,  23.7275, 'object',  643000,  38.96),
    (23, 'jtr', 'gr', '{"en": "Santorini", "el": "Σαντορίνη"}',             'Europe/Athens',    36.3932,  25.4615, 'object',   15500,  76.19),
    (24, 'cfu', 'gr', '{"en": "Corfu", "el": "Κέρκυρα"}',                   'Europe/Athens',    39.6243,  19.9217, 'none',       NULL,   NULL),
    (25, 'dbv', 'hr', '{"en": "Dubrovnik", "hr": "Dubrovnik"}',             'Europe/Zagreb',    42.6507,  18.0944, 'object',   41500,  21.35),
    (26, 'spu', 'hr', '{"en": "Split", "hr": "Split"}',                     'Europe/Zagreb',    43.5081,  16.4402, 'object',  160500,  79.38);

INSERT INTO cities (code, country, names, timezone, centre, population, area_km2)
SELECT code, country, names, timezone,
       CASE centre
           WHEN 'object' THEN jsonb_build_object('lat', lat, 'lon', lon)
           WHEN 'array'  THEN jsonb_build_array(lon, lat)
           WHEN 'string' THEN to_jsonb(lat::text || ',' || lon::text)
       END,
       population, area_km2
FROM city_seed
ORDER BY ord;

-- Hosts ----------------------------------------------------------------------

INSERT INTO hosts (id, handle, display_name, email, bio, superhost, response_rate,
                   home_city_code, joined_at, deleted_at)
SELECT h,
       lower(first) || '.' || lower(last),
       first || ' ' || last,
       CASE WHEN h % 7 = 0
            THEN '  ' || first || '.' || upper(last) || '@Example.NET '    -- typed sloppily
            ELSE lower(first) || '.' || lower(last) || '@example.net'
       END,
       CASE WHEN h % 3 = 0 THEN NULL
            ELSE (ARRAY['Architect who restores old flats.',
                        'I love showing guests the hidden corners of my city.',
                        'Retired teacher, keen gardener, early riser.',
                        'We are a family running a few places by the sea.',
                        'Local guide; ask me for restaurant tips.'])[1 + h % 5]
       END,
       h % 4 = 0,
       CASE WHEN h % 10 = 0 THEN NULL ELSE round(0.55 + (h * 7 % 45) / 100.0, 2)::double precision END,
       CASE WHEN h % 11 = 0 THEN NULL
            ELSE (SELECT code FROM city_seed WHERE ord = 1 + (h * 5) % 26)
       END,
       timestamptz '2019-03-01 10:00:00+00' + h * interval '23 days 5 hours',
       CASE WHEN h IN (5, 39) THEN timestamptz '2024-04-15 08:30:00+00' END
FROM generate_series(1, 40) AS h,
     LATERAL (SELECT (ARRAY['Ana', 'Bruno', 'Carla', 'Diogo', 'Elena', 'Farid', 'Greta',
                            'Hugo', 'Ines', 'Jonas', 'Katia', 'Luca', 'Marta', 'Nikos',
                            'Olga', 'Pablo', 'Quentin', 'Rosa', 'Stefan', 'Tiago'])[1 + (h - 1) % 20] AS first,
                     (ARRAY['Silva', 'Moreau', 'Rossi', 'Novak', 'Schmidt', 'Papadakis',
                            'Garcia', 'Jansen', 'Horvat', 'Keller'])[1 + ((h - 1) / 20 + h * 3) % 10] AS last) AS n
ORDER BY h;

-- Guests ---------------------------------------------------------------------

INSERT INTO guests (id, full_name, email, country, phone, created_at)
SELECT g,
       first || ' ' || last,
       CASE WHEN g % 9 = 0
            THEN ' ' || upper(first) || '.' || last || g || '@Mail.Example'
            ELSE lower(first) || '.' || lower(last) || g || '@mail.example'
       END,
       CASE WHEN g % 17 = 0 THEN NULL
            ELSE (ARRAY['gb', 'us', 'de', 'fr', 'nl', 'se', 'pl', 'jp', 'ie', 'ca', 'pt', 'es'])[1 + g % 12]
       END,
       CASE WHEN g % 4 = 0 THEN NULL
            ELSE '+' || (30 + g % 20) || ' ' || lpad((g * 7919 % 1000000)::text, 6, '0')
       END,
       timestamptz '2022-06-01 12:00:00+00' + g * interval '9 days 7 hours'
FROM generate_series(1, 60) AS g,
     LATERAL (SELECT (ARRAY['Amelia', 'Ben', 'Chloe', 'Daniel', 'Emma', 'Felix', 'Grace',
                            'Henrik', 'Isla', 'Jakub', 'Kenji', 'Lena', 'Mateo', 'Noor',
                            'Oscar', 'Priya', 'Quinn', 'Rahul', 'Sofia', 'Theo'])[1 + (g - 1) % 20] AS first,
                     (ARRAY['Brown', 'Dubois', 'Eriksen', 'Fischer', 'Kowalski', 'Lopez',
                            'Murphy', 'Nakamura', 'Okafor', 'Wright'])[1 + (g * 7 + g / 20) % 10] AS last) AS n
ORDER BY g;

-- Amenities ------------------------------------------------------------------

INSERT INTO amenities (id, slug, label, category) VALUES
    ( 1, 'wifi',             'Wi-Fi',              'essentials'),
    ( 2, 'heating',          'Heating',            'essentials'),
    ( 3, 'air-conditioning', 'Air conditioning',   'essentials'),
    ( 4, 'washer',           'Washing machine',    'essentials'),
    ( 5, 'kitchen',          'Kitchen',            'kitchen'),
    ( 6, 'dishwasher',       'Dishwasher',         'kitchen'),
    ( 7, 'coffee-maker',     'Coffee maker',       'kitchen'),
    ( 8, 'garden',           'Garden',             'outdoor'),
    ( 9, 'balcony',          'Balcony',            'outdoor'),
    (10, 'bbq-grill',        'Barbecue grill',     'outdoor'),
    (11, 'pool',             'Pool',               'outdoor'),
    (12, 'ev-charger',       'EV charger',         'Outdoor parking'),  -- legacy capitalisation
    (13, 'smoke-alarm',      'Smoke alarm',        'safety'),
    (14, 'first-aid-kit',    'First-aid kit',      'safety'),
    (15, 'crib',             'Crib',               'family'),
    (16, 'high-chair',       'High chair',         'family');

-- Listings -------------------------------------------------------------------

INSERT INTO listings (id, host_id, city_code, title, description, kind, status,
                      nightly_price, currency, max_guests, bedrooms, latitude, longitude,
                      attributes, thumbnail, published_on, check_in_time, check_out_time,
                      created_at, updated_at, rating)
WITH base AS (
    SELECT i,
           c.code AS city_code, c.lat, c.lon, c.names ->> 'en' AS city_name,
           CASE c.country WHEN 'gr' THEN 'el' WHEN 'ch' THEN 'de' ELSE c.country::text END AS local_language,
           k.currency,
           (enum_range(NULL::listing_kind))[1 + i % 4] AS kind,
           CASE WHEN i % 15 = 0 THEN 'draft'
                WHEN i % 29 = 0 THEN 'archived'
                ELSE 'published'
           END AS status
    FROM generate_series(1, 150) AS i
    JOIN city_seed c ON c.ord = 1 + (i * 7) % 26
    JOIN countries k ON k.code = c.country
), sized AS (
    SELECT b.*,
           CASE b.kind
               WHEN 'room'      THEN 1 + i % 2
               WHEN 'apartment' THEN 2 + i % 4
               WHEN 'house'     THEN 4 + i % 6
               ELSE                  2 + i % 5
           END::smallint AS max_guests,
           (ARRAY['Sunny', 'Quiet', 'Cosy', 'Bright', 'Spacious', 'Rustic', 'Modern',
                  'Charming', 'Airy', 'Hidden'])[1 + i % 10] AS adjective,
           (ARRAY['old town', 'harbour', 'river', 'market', 'park', 'station', 'beach',
                  'cathedral'])[1 + i % 8] AS landmark
    FROM base b
)
SELECT md5('listing-' || i)::uuid,
       1 + (i - 1) % 37,
       city_code,
       CASE WHEN i % 23 = 0
            THEN '  ' || adjective || ' ' || kind || ' near the ' || landmark || ' in ' || city_name || ' '
            ELSE adjective || ' ' || kind || ' near the ' || landmark || ' in ' || city_name
       END,
       format('A %s %s a short walk from the %s. Sleeps %s. %s',
              lower(adjective), kind, landmark, max_guests,
              (ARRAY['Fast wifi and a proper desk for remote work.',
                     'Quiet street, blackout curtains, no parties please.',
                     'Self check-in with a key box; the host lives nearby.',
                     'Family friendly: cots, toys and a small garden.',
                     'Free parking and bikes to borrow.'])[1 + i % 5]),
       kind,
       status,
       round(40 + (i * 37) % 260 + (i % 4) * 0.25
             + CASE WHEN currency = 'CHF' THEN 60 ELSE 0 END, 2),
       currency,
       max_guests,
       CASE WHEN kind = 'room' THEN NULL
            WHEN kind = 'house' THEN 2 + i % 4
            ELSE 1 + i % 3
       END,
       CASE WHEN i % 50 = 7 THEN NULL ELSE (lat + ((i * 13) % 41 - 20) / 1000.0)::double precision END,
       CASE WHEN i % 50 = 7 THEN NULL ELSE (lon + ((i * 17) % 41 - 20) / 1000.0)::double precision END,
       CASE WHEN i % 31 = 0 THEN '{}'::jsonb
            ELSE jsonb_build_object('wifi_mbps', 20 + (i * 17) % 480,
                                    'floor', i % 6,
                                    'pets_allowed', i % 3 = 0,
                                    'languages', jsonb_build_array('en', local_language))
                 || CASE WHEN kind = 'cabin' THEN '{"fireplace": true}'::jsonb ELSE '{}'::jsonb END
       END,
       CASE WHEN status = 'draft' THEN NULL
            ELSE decode(md5('thumb-' || i) || md5('thumb-tail-' || i), 'hex')
       END,
       CASE WHEN status = 'draft' THEN NULL ELSE date '2020-03-01' + i * 7 END,
       time '14:00' + (i % 5) * interval '30 minutes',
       CASE WHEN i % 6 = 0 THEN NULL ELSE time '10:00' + (i % 3) * interval '30 minutes' END,
       timestamp '2020-01-15 09:30:00' + i * interval '6 days 5 hours',
       timestamptz '2024-05-01 12:00:00+00' + i * interval '1 hour 17 minutes',
       NULL                                  -- filled in from the reviews below
FROM sized
ORDER BY i;

-- Amenities of each listing (the junction). Listings 31, 62, 93 and 124 have none.
INSERT INTO listing_amenities (listing_id, amenity_id)
SELECT md5('listing-' || i)::uuid, a
FROM generate_series(1, 150) AS i, generate_series(1, 16) AS a
WHERE i % 31 <> 0
  AND (a IN (1, 2, 13) OR (i * a + a) % 5 < 2)
ORDER BY i, a;

-- Photos: 1..6 per listing, none for listings ending in 3 and every sixth one.
-- A few still point at the old plain-http CDN.
INSERT INTO photos (id, listing_id, position, url, caption, checksum)
SELECT 10000000000 + i * 100 + p,
       md5('listing-' || i)::uuid,
       p,
       url,
       CASE WHEN (i + p) % 3 = 0 THEN NULL
            ELSE (ARRAY['Living room', 'Main bedroom', 'Kitchen', 'View from the window',
                        'Bathroom', 'Entrance'])[p]
       END,
       decode(md5(url), 'hex')
FROM generate_series(1, 150) AS i,
     generate_series(1, 6) AS p,
     LATERAL (SELECT CASE WHEN i % 12 = 5 AND p = 2
                          THEN 'http://legacy-cdn.stays.example/' || md5('listing-' || i) || '/' || p || '.jpg'
                          ELSE 'https://img.stays.example/' || md5('listing-' || i) || '/' || p || '.jpg'
                     END AS url) AS u
WHERE i % 10 <> 3
  AND p <= i % 6
ORDER BY i, p;

-- Bookings -------------------------------------------------------------------
-- The 112 listings among 1..120 that are not drafts take the bookings in
-- turn: booking b goes to the (b mod 112)-th of them, so listings 121..150 are
-- never booked. A listing's successive bookings start 60 days apart and last
-- at most 21 nights, so they never overlap. Stays run from 2024-01-05 to
-- the end of 2024; everything that ended by 2024-07-01 is completed.

INSERT INTO bookings (id, listing_id, guest_id, check_in, check_out, guests, total,
                      status, cancelled, created_at)
WITH bookable AS (
    SELECT i, (row_number() OVER (ORDER BY i) - 1)::integer AS slot
    FROM generate_series(1, 120) AS i
    WHERE i % 15 <> 0
), planned AS (
    SELECT b,
           md5('listing-' || l.i)::uuid AS listing_id,
           date '2024-01-05' + (l.slot * 13) % 50 + (b / 112) * 60 AS check_in,
           1 + b % 7 + CASE WHEN b % 25 = 0 THEN 14 ELSE 0 END AS nights
    FROM generate_series(1, 600) AS b
    JOIN bookable l ON l.slot = b % 112
), priced AS (
    SELECT p.*, p.check_in + p.nights AS check_out,
           CASE WHEN p.b % 20 = 0 THEN 'cancelled'
                WHEN p.check_in + p.nights <= date '2024-07-01' THEN 'completed'
                WHEN p.b % 3 = 0 THEN 'requested'
                ELSE 'confirmed'
           END AS status,
           l.nightly_price, l.max_guests
    FROM planned p
    JOIN listings l ON l.id = p.listing_id
)
SELECT b,
       listing_id,
       1 + (b * 13) % 60,
       check_in,
       check_out,
       1 + b % max_guests,
       nightly_price * nights + 20 + (b % 3) * 5,           -- nights + cleaning fee
       status,
       status = 'cancelled',
       ((check_in - (7 + b % 60))::timestamp + time '10:00' + b * interval '1 minute') AT TIME ZONE 'UTC'
FROM priced
ORDER BY b;

-- Payments: a 30 % deposit when the booking is accepted, the balance two
-- weeks before arrival. Requests have not paid yet. A cancelled booking keeps
-- its deposit, except every other one, which is refunded (a negative amount).
INSERT INTO payments (booking_id, seq, amount, method, paid_at)
SELECT id, 1, round(total * 0.30, 2),
       CASE WHEN id % 17 = 0 THEN 'voucher' WHEN id % 11 = 0 THEN 'transfer' ELSE 'card' END,
       created_at + interval '1 hour'
FROM bookings
WHERE status IN ('confirmed', 'completed', 'cancelled')
ORDER BY id;

INSERT INTO payments (booking_id, seq, amount, method, paid_at)
SELECT id, 2, total - round(total * 0.30, 2),
       CASE WHEN id % 11 = 0 THEN 'transfer' ELSE 'card' END,
       greatest(created_at + interval '2 hours',
                ((check_in - 14)::timestamp + time '09:00') AT TIME ZONE 'UTC')
FROM bookings
WHERE status = 'completed'
   OR (status = 'confirmed' AND check_in - 14 <= date '2024-07-01')
ORDER BY id;

INSERT INTO payments (booking_id, seq, amount, method, paid_at)
SELECT id, 2, -round(total * 0.30, 2), 'card', created_at + interval '3 days'
FROM bookings
WHERE status = 'cancelled' AND id % 40 = 0
ORDER BY id;

-- Reviews: five in six completed stays get one, written a day or two after
-- check-out; hosts answer some of them.
INSERT INTO reviews (booking_id, rating, body, host_reply, created_at)
SELECT id,
       CASE WHEN id % 23 = 0 THEN 1 + id % 2 ELSE 3 + id % 3 END,
       CASE WHEN id % 23 = 0
            THEN (ARRAY['Not as described, and the host never answered.',
                        'Noisy at night and the shower was broken.'])[1 + id % 2]
            ELSE (ARRAY['Lovely place, exactly like the photos.',
                        'Great location; we walked everywhere.',
                        'Spotless and well equipped. Would stay again.',
                        'Comfortable beds and a very kind host.',
                        'Good value for the area, a bit small for four.'])[1 + id % 5]
       END,
       CASE WHEN id % 4 = 0 THEN 'Thank you for staying with us!' END,
       (check_out::timestamp + time '18:00' + (id % 3) * interval '1 day') AT TIME ZONE 'UTC'
FROM bookings
WHERE status = 'completed' AND id % 6 <> 0
ORDER BY id;

-- The cached listing rating is the average of its reviews (NULL without any).
UPDATE listings l
SET rating = r.avg_rating
FROM (SELECT b.listing_id, round(avg(r.rating), 2)::real AS avg_rating
      FROM reviews r
      JOIN bookings b ON b.id = r.booking_id
      GROUP BY b.listing_id) AS r
WHERE l.id = r.listing_id;

-- Night rates ----------------------------------------------------------------
-- The summer calendar of the published listings 1..60: from 2024-06-24 to
-- 2024-07-14, and to 2024-09-03 for listings 1..10. Fridays and Saturdays
-- cost 25 % more, high season (from 2024-07-15) another 15 %.

INSERT INTO night_rates (listing_id, night, price, available, min_stay)
SELECT l.id,
       n.night,
       round(l.nightly_price
             * CASE WHEN extract(isodow FROM n.night) IN (5, 6) THEN 1.25 ELSE 1 END
             * CASE WHEN n.night >= date '2024-07-15' THEN 1.15 ELSE 1 END, 2),
       (i * 3 + (n.night - date '2024-06-24')) % 7 <> 0,
       CASE WHEN (i + (n.night - date '2024-06-24')) % 4 = 0 THEN NULL ELSE 1 + i % 3 END
FROM generate_series(1, 60) AS i
JOIN listings l ON l.id = md5('listing-' || i)::uuid
CROSS JOIN LATERAL (
    SELECT d::date AS night
    FROM generate_series(date '2024-06-24',
                         CASE WHEN i <= 10 THEN date '2024-09-03' ELSE date '2024-07-14' END,
                         interval '1 day') AS d
) AS n
WHERE l.status = 'published'
ORDER BY i, n.night;

-- A data-entry slip: an open night priced at zero (the night_rates index
-- leaves it out with a raw root filter).
UPDATE night_rates SET price = 0
WHERE listing_id = md5('listing-2')::uuid AND night = date '2024-07-05';

DROP TABLE city_seed;

RESET TimeZone;
RESET search_path;
