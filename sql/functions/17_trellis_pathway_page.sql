-- The pathways page's query (server/view_pathways.c), in a function so
-- that each of the node's connections plans it once, not at every fresh
-- page: planned per call, the query's planning cost as much as a year's
-- sums (docs/benchmarks.md, "The pathways page at 1,000,000 referrals").

-- The sums of the weeks from .. to (a few blocks of weeks and the weeks at
-- the edges: sql/functions/16), the pair of organisations from_org ->
-- to_org (the busiest pair when either is NULL) and its services' flows,
-- and the 20 services whose oldest unanswered referral is oldest (sums_doc);
-- and the names of the services the page shows (names_doc:
-- trellis_pathway_shown_names). The node keeps the sums until a pathway
-- record is stored and asks for the names again (trellis_pathway_names)
-- when only other kinds are.
--
-- sums_doc is lines of tab-separated fields, not JSON: a year is ~3,000
-- rows, and building them as JSON objects here and parsing them in the
-- node cost more than adding them up (docs/benchmarks.md). The first line
-- is "pathways"; then, in any order but the last kind's:
--   o  from_org  to_org  referrals  accepted  declined  withdrawn  waiting
--   p  from_org  to_org                     (the pair; none without one)
--   s  from_service  to_service  referrals  (the pair's services)
--   r  reason  declines
--   d  to_org  measure  days  referrals     (accepted / contact histograms)
--   w  to_org  to_service  oldest_week  weeks_waiting  (oldest first)
-- No field holds a tab or a newline: organisation ids are names
-- (tr_name_valid), services uuids, reasons and measures fixed words.
-- view_pathways_model.c reads it, refusing any other line.
CREATE OR REPLACE FUNCTION trellis_pathway_page(from_week text, to_week text, from_org text,
                                                to_org text)
RETURNS TABLE (sums_doc text, names_doc text)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
DECLARE
    wait_orgs text[] := '{}';
    wait_ids uuid[] := '{}';
    wait_lines text := '';
    seen text[] := '{}';
    r record;
BEGIN
    -- The services waiting longest: in the order of the partial index
    -- pathway_facts_waiting (week, to_org, to_service), a service's first
    -- row is its oldest, so the first 20 services met are the 20 whose
    -- oldest unanswered referral is oldest (ties by organisation and id);
    -- looked for among the period's 2,000 oldest unanswered referrals.
    FOR r IN SELECT p.to_org, p.to_service, p.week FROM pathway_facts p
             WHERE p.outcome = 'waiting' AND p.week BETWEEN $1 AND $2
             ORDER BY p.week, p.to_org, p.to_service LIMIT 2000 LOOP
        CONTINUE WHEN (r.to_org || '/' || r.to_service) = ANY (seen);
        seen := seen || (r.to_org || '/' || r.to_service);
        wait_orgs := wait_orgs || r.to_org;
        wait_ids := wait_ids || r.to_service;
        wait_lines := wait_lines || concat_ws(E'\t', 'w', r.to_org, r.to_service, r.week,
            (current_date - to_date(r.week, 'IYYY-"W"IW')) / 7) || E'\n';
        EXIT WHEN cardinality(seen) = 20;
    END LOOP;
    -- Parameters by number: their names are the tables' columns. Every
    -- value joined by concat_ws is NOT NULL (it would skip a NULL).
    RETURN QUERY
    WITH orgs AS MATERIALIZED (
        SELECT o.from_org, o.to_org, o.referrals AS n, o.accepted AS a, o.declined AS d,
               o.withdrawn AS w, o.waiting AS wt
        FROM trellis_pathway_org_sums($1, $2) o WHERE o.referrals > 0),
    pair AS MATERIALIZED (
        SELECT coalesce($3, b.from_org) AS f, coalesce($4, b.to_org) AS t
        FROM (SELECT NULL) x
        LEFT JOIN (SELECT o.from_org, o.to_org FROM orgs o
                   ORDER BY o.n DESC, o.from_org, o.to_org LIMIT 1) b ON true),
    svc AS MATERIALIZED (
        SELECT s.from_service, s.to_service, s.referrals AS n
        FROM pair, trellis_pathway_service_sums($1, $2, pair.f, pair.t) s
        WHERE s.referrals > 0)
    SELECT 'pathways' || E'\n'
           || coalesce((SELECT string_agg(concat_ws(E'\t', 'o', o.from_org, o.to_org, o.n, o.a,
                                                    o.d, o.w, o.wt), E'\n') || E'\n'
                        FROM orgs o), '')
           || coalesce((SELECT concat_ws(E'\t', 'p', p.f, p.t) || E'\n' FROM pair p
                        WHERE p.f IS NOT NULL AND p.t IS NOT NULL), '')
           || coalesce((SELECT string_agg(concat_ws(E'\t', 's', s.from_service, s.to_service,
                                                    s.n), E'\n') || E'\n'
                        FROM svc s), '')
           || coalesce((SELECT string_agg(concat_ws(E'\t', 'r', x.reason, x.n), E'\n') || E'\n'
                        FROM (SELECT y.reason, sum(y.declines) AS n
                              FROM trellis_pathway_reasons_sums($1, $2) y GROUP BY y.reason
                              HAVING sum(y.declines) > 0) x), '')
           || coalesce((SELECT string_agg(concat_ws(E'\t', 'd', x.to_org, x.measure, x.days,
                                                    x.referrals), E'\n') || E'\n'
                        FROM trellis_pathway_days_sums($1, $2) x WHERE x.referrals > 0), '')
           || wait_lines,
           trellis_pathway_shown_names((SELECT p.f FROM pair p), (SELECT p.t FROM pair p),
               (SELECT array_agg(s.from_service) FROM svc s),
               (SELECT array_agg(s.to_service) FROM svc s), (SELECT array_agg(s.n) FROM svc s),
               wait_orgs, wait_ids);
END
$fn$;

-- The names of the services the pathways page shows, as an object of
-- "origin/id": name (a service not held has none): of the pair's flows
-- (pair_from's services from_ids to pair_to's to_ids, ns referrals each),
-- the busiest PW_AXIS_MAX (30) services on each side, picked as the page
-- picks them (view_pathways_model.c: most referrals first, then the id as
-- text byte by byte, as strcmp orders it; the rest are "Other services");
-- and the waiting list's (wait_orgs' wait_ids). Only the shown ones: a
-- year of a busy pair is ~1,200 flows, and a name looked up for each cost
-- more than the rest of the page.
CREATE OR REPLACE FUNCTION trellis_pathway_shown_names(pair_from text, pair_to text,
                                                       from_ids uuid[], to_ids uuid[],
                                                       ns bigint[], wait_orgs text[],
                                                       wait_ids uuid[])
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN (
        WITH flows AS MATERIALIZED (
            SELECT * FROM unnest(from_ids, to_ids, ns) AS f(from_id, to_id, n)),
        shown AS (
            (SELECT pair_from AS origin, f.from_id AS id FROM flows f
             GROUP BY f.from_id ORDER BY sum(f.n) DESC, f.from_id::text COLLATE "C" LIMIT 30)
            UNION
            (SELECT pair_to, f.to_id FROM flows f
             GROUP BY f.to_id ORDER BY sum(f.n) DESC, f.to_id::text COLLATE "C" LIMIT 30)
            UNION
            SELECT w.org, w.id FROM unnest(wait_orgs, wait_ids) AS w(org, id))
        SELECT coalesce(json_object_agg(k.origin || '/' || k.id, n.name), '{}')::text
        FROM shown k
        JOIN LATERAL (SELECT d.name FROM directory_services d
                      WHERE d.id = k.id AND d.origin = k.origin AND d.name IS NOT NULL) n
            ON true
        WHERE k.origin IS NOT NULL AND k.id IS NOT NULL);
END
$fn$;

-- The same names for sums_doc of trellis_pathway_page that the node kept
-- while only other kinds of records were stored (a service renamed): its
-- "p", "s" and "w" lines.
CREATE OR REPLACE FUNCTION trellis_pathway_names(doc text) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    pf text;
    pt text;
    from_ids uuid[] := '{}';
    to_ids uuid[] := '{}';
    ns bigint[] := '{}';
    wait_orgs text[] := '{}';
    wait_ids uuid[] := '{}';
    f text[];
BEGIN
    FOR f IN SELECT string_to_array(l, E'\t') FROM unnest(string_to_array(doc, E'\n')) l
             WHERE l ~ '^[psw]\t' LOOP
        IF f[1] = 'p' THEN
            pf := f[2];
            pt := f[3];
        ELSIF f[1] = 's' THEN
            from_ids := from_ids || f[2]::uuid;
            to_ids := to_ids || f[3]::uuid;
            ns := ns || f[4]::bigint;
        ELSE
            wait_orgs := wait_orgs || f[2];
            wait_ids := wait_ids || f[3]::uuid;
        END IF;
    END LOOP;
    RETURN trellis_pathway_shown_names(pf, pt, from_ids, to_ids, ns, wait_orgs, wait_ids);
END
$fn$;
