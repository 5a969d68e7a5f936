-- Holiday-stays marketplace: the source database of the flusso example.
--
-- Hosts list places to stay (rooms, apartments, houses, cabins) in cities;
-- guests book them for a few nights, pay in one or more instalments and leave
-- one review per completed stay. Each listing also has a calendar of nightly
-- rates. Five search indexes are built from these tables (see ../flusso.toml
-- and ../README.md).
--
-- Everything lives in the database schema `stays`; the index schemas say
-- `schema: stays`. Keys are explicit (no serials, no random uuids) so that
-- 02_seed.sql produces exactly the same rows on every run.
--
-- Load:  psql -v ON_ERROR_STOP=1 -d stays -f 01_schema.sql -f 02_seed.sql
-- flusso reads changes through logical replication, so the server needs
-- wal_level = logical; flusso creates or extends its publication itself
-- (manage_publication = true in flusso.toml).

CREATE SCHEMA stays;

SET search_path = stays;

-- Places ---------------------------------------------------------------------

-- Key: a two-letter ISO code (char(2), i.e. bpchar).
CREATE TABLE countries (
    code     char(2) PRIMARY KEY,
    name     text    NOT NULL,
    currency char(3) NOT NULL,           -- ISO-4217
    region   text    NOT NULL            -- iberia | west | central | south | east
);

-- Key: a short lower-case text code ('lis', 'bcn', ...).
CREATE TABLE cities (
    code       text    PRIMARY KEY,
    country    char(2) NOT NULL REFERENCES countries (code),
    names      jsonb   NOT NULL,         -- localized: {"en": "Lisbon", "pt": "Lisboa"}
    timezone   text    NOT NULL,         -- IANA name
    centre     jsonb,                    -- a geo point: {"lat": .., "lon": ..}; NULL when unknown
    population integer,                  -- NULL when unknown
    area_km2   double precision,
    CHECK (code ~ '^[a-z]{3}$')
);

-- People ---------------------------------------------------------------------

-- Key: bigint. deleted_at set = the host closed their account (soft delete).
CREATE TABLE hosts (
    id             bigint      PRIMARY KEY,
    handle         text        NOT NULL UNIQUE,   -- public profile handle, e.g. 'ana.silva'
    display_name   text        NOT NULL,
    email          text        NOT NULL,          -- as typed: mixed case, stray spaces
    bio            text,
    superhost      boolean     NOT NULL DEFAULT false,
    response_rate  double precision,              -- 0..1, NULL for new hosts
    home_city_code text        REFERENCES cities (code),
    joined_at      timestamptz NOT NULL,
    deleted_at     timestamptz                    -- NULL = active
);

CREATE TABLE guests (
    id         bigint      PRIMARY KEY,
    full_name  text        NOT NULL,
    email      text        NOT NULL,
    country    char(2),                -- any ISO code, not only the countries we list in
    phone      varchar(32),
    created_at timestamptz NOT NULL
);

-- Listings -------------------------------------------------------------------

CREATE TYPE listing_kind AS ENUM ('room', 'apartment', 'house', 'cabin');

-- Key: uuid.
CREATE TABLE listings (
    id             uuid          PRIMARY KEY,
    host_id        bigint        NOT NULL REFERENCES hosts (id),
    city_code      text          NOT NULL REFERENCES cities (code),
    title          text          NOT NULL,
    description    text          NOT NULL,
    kind           listing_kind  NOT NULL,
    status         text          NOT NULL DEFAULT 'draft'
                                 CHECK (status IN ('draft', 'published', 'archived')),
    nightly_price  numeric(10,2) NOT NULL,
    currency       char(3)       NOT NULL,
    max_guests     smallint      NOT NULL,
    bedrooms       integer,                      -- NULL for a single room
    latitude       double precision,             -- NULL until the host pins the map
    longitude      double precision,
    attributes     jsonb         NOT NULL DEFAULT '{}',  -- free-form facts: wifi speed, floor, ...
    thumbnail      bytea,                        -- tiny preview image
    published_on   date,                         -- NULL while draft
    check_in_time  time          NOT NULL,
    check_out_time time,
    created_at     timestamp     NOT NULL,       -- naive: written by a legacy back office
    updated_at     timestamptz   NOT NULL,
    rating         real                          -- cached average, NULL before the first review
);

-- Key: int.
CREATE TABLE amenities (
    id       integer PRIMARY KEY,
    slug     text    NOT NULL UNIQUE,
    label    text    NOT NULL,
    category text    NOT NULL       -- essentials | kitchen | outdoor | safety | family
);

-- The junction between listings and amenities.
CREATE TABLE listing_amenities (
    listing_id uuid    NOT NULL REFERENCES listings (id) ON DELETE CASCADE,
    amenity_id integer NOT NULL REFERENCES amenities (id),
    PRIMARY KEY (listing_id, amenity_id)
);

CREATE TABLE photos (
    id         bigint  PRIMARY KEY,
    listing_id uuid    NOT NULL REFERENCES listings (id) ON DELETE CASCADE,
    position   integer NOT NULL,     -- 1 = cover
    url        text    NOT NULL,
    caption    text,
    checksum   bytea   NOT NULL,     -- md5 of the stored file
    UNIQUE (listing_id, position)
);

-- Key: composite (listing, night). One price per listing per night.
CREATE TABLE night_rates (
    listing_id uuid          NOT NULL REFERENCES listings (id) ON DELETE CASCADE,
    night      date          NOT NULL,
    price      numeric(10,2) NOT NULL,
    available  boolean       NOT NULL DEFAULT true,
    min_stay   smallint,                 -- NULL = no minimum (one night)
    PRIMARY KEY (listing_id, night)
);

-- Stays ----------------------------------------------------------------------

-- Key: int.
CREATE TABLE bookings (
    id         integer       PRIMARY KEY,
    listing_id uuid          NOT NULL REFERENCES listings (id),
    guest_id   bigint        NOT NULL REFERENCES guests (id),
    check_in   date          NOT NULL,
    check_out  date          NOT NULL,
    guests     smallint      NOT NULL,   -- party size
    total      numeric(12,2) NOT NULL,
    status     text          NOT NULL
               CHECK (status IN ('requested', 'confirmed', 'cancelled', 'completed')),
    cancelled  boolean       NOT NULL DEFAULT false,
    created_at timestamptz   NOT NULL,
    CHECK (check_out > check_in)
);

-- Key: composite (booking, instalment number). A refund is a negative amount.
CREATE TABLE payments (
    booking_id integer       NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    seq        integer       NOT NULL,
    amount     numeric(12,2) NOT NULL,
    method     text          NOT NULL CHECK (method IN ('card', 'transfer', 'voucher')),
    paid_at    timestamptz   NOT NULL,
    PRIMARY KEY (booking_id, seq)
);

-- One review per booking: the key is also the foreign key.
CREATE TABLE reviews (
    booking_id integer     PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    rating     smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body       text        NOT NULL,
    host_reply text,
    created_at timestamptz NOT NULL
);

-- Indexes on foreign keys ----------------------------------------------------
-- flusso looks rows up by these columns whenever a child row changes and when
-- it builds the joins and aggregates of a document.

CREATE INDEX cities_country_idx          ON cities (country);
CREATE INDEX hosts_home_city_code_idx    ON hosts (home_city_code);
CREATE INDEX listings_host_id_idx        ON listings (host_id);
CREATE INDEX listings_city_code_idx      ON listings (city_code);
CREATE INDEX listing_amenities_amenity_idx ON listing_amenities (amenity_id);
CREATE INDEX photos_listing_id_idx       ON photos (listing_id);
CREATE INDEX bookings_listing_id_idx     ON bookings (listing_id);
CREATE INDEX bookings_guest_id_idx       ON bookings (guest_id);
-- night_rates (listing_id, ...), payments (booking_id, ...) and reviews
-- (booking_id) are already covered by their primary keys.

-- Replica identity -----------------------------------------------------------
-- Every table below is embedded in some index's documents (as a joined row or
-- an aggregate input). With REPLICA IDENTITY FULL a DELETE, or an UPDATE that
-- moves a row to another parent, carries the whole old row, so flusso can
-- rebuild the document that used to contain it. Without it only the old key
-- reaches flusso and `flusso check` warns.

ALTER TABLE countries         REPLICA IDENTITY FULL;
ALTER TABLE cities            REPLICA IDENTITY FULL;
ALTER TABLE hosts             REPLICA IDENTITY FULL;
ALTER TABLE guests            REPLICA IDENTITY FULL;
ALTER TABLE listings          REPLICA IDENTITY FULL;
ALTER TABLE amenities         REPLICA IDENTITY FULL;
ALTER TABLE listing_amenities REPLICA IDENTITY FULL;
ALTER TABLE photos            REPLICA IDENTITY FULL;
ALTER TABLE night_rates       REPLICA IDENTITY FULL;
ALTER TABLE bookings          REPLICA IDENTITY FULL;
ALTER TABLE payments          REPLICA IDENTITY FULL;
ALTER TABLE reviews           REPLICA IDENTITY FULL;

RESET search_path;
