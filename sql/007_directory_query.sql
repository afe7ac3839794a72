-- 007: what the directory's filters need (server/dir_query.c), each on an
-- index, and the postcode lookup for "near me" (trellisd --load-postcodes).
--
-- Derived data is kept by triggers on directory_services, so that every
-- path that stores a service (trellis_store for agents and for pulls from
-- peers) keeps it alike: columns for the filters on one row, and two side
-- tables for what a service has many of (schedules, places).
--
-- "Modified after" means received by this node: stored_at, which
-- trellis_store sets each time a version is stored. The publisher's own
-- last_modified is its to write and an edit need not change it.

-- The postcode lookup, loaded by the operator from the ONS Postcode
-- Directory (docs/directory.md). Empty until then: a postcode filter is then
-- refused, and locations are placed by their coordinates only.
CREATE TABLE postcodes (
    postcode text PRIMARY KEY, -- capitals, no space: LS61AA
    geo point NOT NULL,        -- (longitude, latitude), WGS84 degrees
    district text NOT NULL,    -- the outward code: LS6
    lad text                   -- the local authority's GSS code: E08000035
);
CREATE INDEX postcodes_district ON postcodes (district);
CREATE INDEX postcodes_lad ON postcodes (lad);
-- The centre of each postcode district and local authority (the mean of its
-- postcodes), computed by the loader: how an area takes part in a search.
CREATE TABLE postcode_areas (
    code text PRIMARY KEY,
    geo point NOT NULL
);

-- SHA-1 (FIPS 180-4), for name-based UUIDs: PostgreSQL has md5 and the
-- SHA-2 family built in, not SHA-1, and pgcrypto is not always installed.
-- Run only when a service is stored, on a few short names.
CREATE FUNCTION trellis_sha1(msg bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    m CONSTANT bigint := 4294967295;
    h bigint[] := ARRAY[1732584193, 4023233417, 2562383102, 271733878, 3285377520];
    padded bytea := msg || '\x80'::bytea;
    w bigint[];
    a bigint; b bigint; c bigint; d bigint; e bigint; f bigint; k bigint; t bigint;
    base int;
    digest bytea := '';
BEGIN
    WHILE length(padded) % 64 <> 56 LOOP
        padded := padded || '\x00'::bytea;
    END LOOP;
    padded := padded || int8send(length(msg)::bigint * 8);
    FOR blk IN 0 .. length(padded) / 64 - 1 LOOP
        w := array_fill(0::bigint, ARRAY[80]);
        FOR i IN 0 .. 15 LOOP
            base := blk * 64 + i * 4;
            w[i + 1] := (get_byte(padded, base)::bigint << 24) | (get_byte(padded, base + 1) << 16)
                | (get_byte(padded, base + 2) << 8) | get_byte(padded, base + 3);
        END LOOP;
        FOR i IN 16 .. 79 LOOP
            t := w[i - 2] # w[i - 7] # w[i - 13] # w[i - 15];
            w[i + 1] := ((t << 1) | (t >> 31)) & m;
        END LOOP;
        a := h[1]; b := h[2]; c := h[3]; d := h[4]; e := h[5];
        FOR i IN 0 .. 79 LOOP
            IF i < 20 THEN
                f := (b & c) | ((b # m) & d); k := 1518500249;
            ELSIF i < 40 THEN
                f := b # c # d; k := 1859775393;
            ELSIF i < 60 THEN
                f := (b & c) | (b & d) | (c & d); k := 2400959708;
            ELSE
                f := b # c # d; k := 3395469782;
            END IF;
            t := ((((a << 5) | (a >> 27)) & m) + f + e + k + w[i + 1]) & m;
            e := d; d := c; c := ((b << 30) | (b >> 2)) & m; b := a; a := t;
        END LOOP;
        h[1] := (h[1] + a) & m; h[2] := (h[2] + b) & m; h[3] := (h[3] + c) & m;
        h[4] := (h[4] + d) & m; h[5] := (h[5] + e) & m;
    END LOOP;
    FOR i IN 1 .. 5 LOOP
        digest := digest || substring(int8send(h[i]) FROM 5 FOR 4);
    END LOOP;
    RETURN digest;
END
$fn$;

-- The name-based UUID (RFC 9562 version 5) of name in namespace ns, as
-- proto/tr_org.c makes organisations' ids.
CREATE FUNCTION trellis_uuid5(ns uuid, name text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT encode(set_byte(set_byte(substring(x.h FROM 1 FOR 16), 6, (get_byte(x.h, 6) & 15) | 80),
                           8, (get_byte(x.h, 8) & 63) | 128), 'hex')::uuid
    FROM (SELECT trellis_sha1(decode(replace(ns::text, '-', ''), 'hex')
                              || convert_to(name, 'UTF8')) AS h) x
$fn$;

-- A taxonomy's id: the term's taxonomy_id, or for a term that names its
-- taxonomy without an id the UUID derived from the name (in Trellis's
-- namespace, name "taxonomy:" and the taxonomy's name), stable everywhere.
CREATE FUNCTION trellis_taxonomy_id(term jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(term->>'taxonomy_id',
                    trellis_uuid5('368c7d6a-652e-46cb-90f7-c60195cc2b70',
                                  'taxonomy:' || (term->>'taxonomy'))::text)
$fn$;

-- A postcode district or local authority GSS code as written in an area's
-- name (docs/records.md#district), or NULL.
CREATE FUNCTION trellis_area_code(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN c ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?$' THEN c
                WHEN c ~ '^(E0[6-9]|E10|W06|S12|N09)[0-9]{6}$' THEN c END
    FROM (SELECT upper(replace(btrim(s), ' ', '')) AS c) x
$fn$;

-- The district (outward code) of a full UK postcode, or NULL.
CREATE FUNCTION trellis_postcode_district(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN c ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$' THEN left(c, length(c) - 3) END
    FROM (SELECT upper(replace(btrim(s), ' ', '')) AS c) x
$fn$;

-- The codes a service's areas give: a district or authority as the area's
-- name, or the authority whose ONS geography the area's uri links.
CREATE FUNCTION trellis_area_codes(body jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT ARRAY(SELECT DISTINCT c FROM (
        SELECT trellis_area_code(ar->>'name') AS c
            FROM jsonb_array_elements(coalesce(body->'service_areas', '[]')) ar
        UNION ALL
        SELECT trellis_area_code(substring(ar->>'uri' FROM '([ENSW][0-9]{8})/?$'))
            FROM jsonb_array_elements(coalesce(body->'service_areas', '[]')) ar) x
        WHERE c IS NOT NULL ORDER BY c)
$fn$;

-- Great-circle distance in metres between two (longitude, latitude) points.
CREATE FUNCTION trellis_distance_m(a point, b point) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT 2 * 6371008.8 * asin(least(1, sqrt(sin(radians(b[1] - a[1]) / 2) ^ 2
        + cos(radians(a[1])) * cos(radians(b[1])) * sin(radians(b[0] - a[0]) / 2) ^ 2)))
$fn$;

-- A box that holds every point within r metres of p (a little more), for
-- the GiST index; the exact distance then decides.
CREATE FUNCTION trellis_near_box(p point, r float8) RETURNS box
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT box(point(p[0] - dl, p[1] - dlat), point(p[0] + dl, p[1] + dlat))
    FROM (SELECT r / 110000.0 AS dlat) a,
         LATERAL (SELECT least(360.0, r / (111320.0 * greatest(0.01,
             cos(radians(least(89.9, abs(p[1]) + a.dlat)))))) AS dl) b
$fn$;

ALTER TABLE directory_services
    ADD COLUMN taxonomy_ids text[] NOT NULL DEFAULT '{}',
    ADD COLUMN districts text[] NOT NULL DEFAULT '{}';

-- A service's opening times, one row a day of each schedule (day NULL for
-- a schedule that names no day), for day, start_time and end_time.
CREATE TABLE directory_schedules (
    service_id uuid NOT NULL,
    origin text NOT NULL,
    day text,
    opens_at time,
    closes_at time,
    FOREIGN KEY (service_id, origin) REFERENCES directory_services (id, origin)
        ON DELETE CASCADE
);
CREATE INDEX directory_schedules_service ON directory_schedules (service_id, origin);
CREATE INDEX directory_schedules_day ON directory_schedules (day, opens_at, closes_at);

-- Where a service is, for proximity: a row per service_at_location (placed
-- by its address's postcode, else its coordinates; geo NULL if neither) and
-- a row per area code (by_area, placed at the area's centre). A
-- confidential service has no address or coordinates (the validator
-- refuses them), so it takes part by its areas only.
CREATE TABLE directory_places (
    service_id uuid NOT NULL,
    origin text NOT NULL,
    sal_id text,
    by_area boolean NOT NULL,
    code text,
    geo point,
    FOREIGN KEY (service_id, origin) REFERENCES directory_services (id, origin)
        ON DELETE CASCADE
);
CREATE INDEX directory_places_service ON directory_places (service_id, origin);
CREATE INDEX directory_places_geo ON directory_places USING gist (geo);
CREATE INDEX directory_places_code ON directory_places (code);
CREATE INDEX directory_places_sal ON directory_places (sal_id);

CREATE FUNCTION trellis_directory_derive() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    s jsonb := NEW.doc->'body';
BEGIN
    NEW.taxonomy_ids := ARRAY(SELECT DISTINCT t FROM (
        SELECT trellis_taxonomy_id(a->'taxonomy_term') AS t
        FROM jsonb_array_elements(coalesce(s->'attributes', '[]')) a) x
        WHERE t IS NOT NULL ORDER BY t);
    NEW.districts := ARRAY(SELECT DISTINCT c FROM (
        SELECT unnest(trellis_area_codes(s)) AS c
        UNION ALL
        SELECT trellis_postcode_district(ad->>'postal_code')
        FROM jsonb_array_elements(coalesce(s->'service_at_locations', '[]')) l,
             jsonb_array_elements(coalesce(l->'location'->'addresses', '[]')) ad) x
        WHERE c IS NOT NULL ORDER BY c);
    RETURN NEW;
END
$fn$;

CREATE FUNCTION trellis_directory_sides() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    s jsonb := NEW.doc->'body';
BEGIN
    DELETE FROM directory_schedules WHERE service_id = NEW.id AND origin = NEW.origin;
    DELETE FROM directory_places WHERE service_id = NEW.id AND origin = NEW.origin;
    INSERT INTO directory_schedules (service_id, origin, day, opens_at, closes_at)
    SELECT DISTINCT NEW.id, NEW.origin, right(btrim(d), 2), (sc->>'opens_at')::time,
           (sc->>'closes_at')::time
    FROM jsonb_array_elements(coalesce(s->'schedules', '[]')) sc
    LEFT JOIN LATERAL unnest(string_to_array(sc->>'byday', ',')) d ON true;
    INSERT INTO directory_places (service_id, origin, sal_id, by_area, code, geo)
    SELECT NEW.id, NEW.origin, l->>'id', false, p.pc,
           coalesce((SELECT geo FROM postcodes WHERE postcode = p.pc),
                    CASE WHEN l->'location' ? 'latitude' AND l->'location' ? 'longitude'
                         THEN point((l->'location'->>'longitude')::float8,
                                    (l->'location'->>'latitude')::float8) END)
    FROM jsonb_array_elements(coalesce(s->'service_at_locations', '[]')) l,
         LATERAL (SELECT upper(replace(l->'location'->'addresses'->0->>'postal_code', ' ', ''))
                  AS pc) p;
    INSERT INTO directory_places (service_id, origin, sal_id, by_area, code, geo)
    SELECT NEW.id, NEW.origin, NULL, true, c, (SELECT geo FROM postcode_areas WHERE code = c)
    FROM unnest(trellis_area_codes(s)) c;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER directory_services_derive BEFORE INSERT OR UPDATE OF doc ON directory_services
    FOR EACH ROW EXECUTE FUNCTION trellis_directory_derive();
CREATE TRIGGER directory_services_sides AFTER INSERT OR UPDATE OF doc ON directory_services
    FOR EACH ROW EXECUTE FUNCTION trellis_directory_sides();

-- The services stored before this migration.
-- The rows already stored, derived again. Without 005's via trigger: it
-- would take this update for a new version and set via to NULL (no
-- trellis.via here), so a relayed service would look like one of this
-- node's own and be sent back to the peer it came from
-- (tests/integration/test_migrations.py found it).
ALTER TABLE directory_services DISABLE TRIGGER directory_services_via;
UPDATE directory_services SET doc = doc;
ALTER TABLE directory_services ENABLE TRIGGER directory_services_via;

CREATE INDEX directory_services_taxonomies ON directory_services USING gin (taxonomy_ids);
CREATE INDEX directory_services_districts ON directory_services USING gin (districts);
CREATE INDEX directory_services_risk ON directory_services USING gin (risk_levels);
CREATE INDEX directory_services_genders ON directory_services USING gin (for_genders);
CREATE INDEX directory_services_access ON directory_services USING gin (accessibility);
CREATE INDEX directory_services_ages ON directory_services
    USING gist (int4range(coalesce(minimum_age, 0), coalesce(maximum_age, 130), '[]'));
CREATE INDEX directory_services_received ON directory_services (stored_at);
CREATE INDEX directory_services_referrals ON directory_services (taking_referrals, self_referral);
CREATE INDEX directory_services_listing ON directory_services (name, id) WHERE NOT shadowed;
