-- 011: what the directory's uncached queries spend their time on
-- (server/dir_query.c; measured with EXPLAIN ANALYZE in docs/benchmarks.md,
-- "The directory").
--
-- trellis_distance_m was STRICT around a non-strict body (least), so the
-- planner could not inline it: every place of a proximity search paid a SQL
-- function call (about 3x the cost of the expression itself). The same
-- formula, without STRICT and with the NULL case written out, is inlined.
CREATE OR REPLACE FUNCTION trellis_distance_m(a point, b point) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL
        ELSE 2 * 6371008.8 * asin(least(1, sqrt(sin(radians(b[1] - a[1]) / 2) ^ 2
            + cos(radians(a[1])) * cos(radians(b[1])) * sin(radians(b[0] - a[0]) / 2) ^ 2)))
        END
$fn$;

-- A proximity search checks each service near the point for being visible
-- (shadowed, audience) and orders by name: one probe per service, which on
-- the primary key visits the service's wide row (its document) every time.
-- With what the probe reads in the index it is an index-only scan.
CREATE INDEX directory_services_visible ON directory_services (id, origin)
    INCLUDE (name, shadowed, audience);
