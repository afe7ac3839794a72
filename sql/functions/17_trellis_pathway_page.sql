-- The pathways page's query (server/view_pathways.c), in a function so
-- that each of the node's connections plans it once, not at every fresh
-- page: planned per call, the query's planning cost as much as a year's
-- sums (docs/benchmarks.md, "The pathways page at 1,000,000 referrals").

-- The sums of the weeks from .. to (a few blocks of weeks and the weeks at
-- the edges: sql/functions/16), the pair of organisations from_org ->
-- to_org (the busiest pair when either is NULL) and its services' flows,
-- and the 20 services whose oldest unanswered referral is oldest (looked
-- for among the 2,000 oldest unanswered referrals of the period, on the
-- partial index pathway_facts_waiting), as one JSON document (sums_doc);
-- and the names of the services the page shows (names_doc:
-- trellis_pathway_shown_names; pw_doc_put_names puts them in). The node
-- keeps the sums until a pathway record is stored and asks for the names
-- again (trellis_pathway_names) when only other kinds are.
CREATE OR REPLACE FUNCTION trellis_pathway_page(from_week text, to_week text, from_org text,
                                                to_org text)
RETURNS TABLE (sums_doc text, names_doc text)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
BEGIN
    -- Parameters by number: their names are the tables' columns.
    RETURN QUERY
    WITH orgs AS (
        SELECT o.from_org, o.to_org, o.referrals AS n, o.accepted AS a, o.declined AS d,
               o.withdrawn AS w, o.waiting AS wt
        FROM trellis_pathway_org_sums($1, $2) o WHERE o.referrals > 0),
    busiest AS (
        SELECT o.from_org, o.to_org FROM orgs o ORDER BY o.n DESC, o.from_org, o.to_org LIMIT 1),
    pair AS (
        SELECT coalesce($3, (SELECT b.from_org FROM busiest b)) AS f,
               coalesce($4, (SELECT b.to_org FROM busiest b)) AS t),
    svc AS MATERIALIZED (
        SELECT s.from_service, s.to_service, s.referrals AS n
        FROM pair, trellis_pathway_service_sums($1, $2, pair.f, pair.t) s
        WHERE s.referrals > 0),
    waiting AS MATERIALIZED (
        SELECT x.to_org, x.to_service, min(x.week) AS oldest
        FROM (SELECT p.to_org, p.to_service, p.week FROM pathway_facts p
              WHERE p.outcome = 'waiting' AND p.week BETWEEN $1 AND $2
              ORDER BY p.week LIMIT 2000) x
        GROUP BY 1, 2 ORDER BY 3, 1, 2 LIMIT 20),
    doc AS MATERIALIZED (SELECT json_build_object(
        'orgs', (SELECT coalesce(json_agg(json_build_object('from', o.from_org, 'to', o.to_org,
                     'n', o.n, 'accepted', o.a, 'declined', o.d, 'withdrawn', o.w,
                     'waiting', o.wt) ORDER BY o.from_org, o.to_org), '[]') FROM orgs o),
        'pair', (SELECT json_build_object('from', p.f, 'to', p.t) FROM pair p),
        'services', (SELECT coalesce(json_agg(json_build_object('from', s.from_service,
                         'to', s.to_service, 'n', s.n)
                         ORDER BY s.n DESC, s.from_service, s.to_service), '[]') FROM svc s),
        'reasons', (SELECT coalesce(json_agg(json_build_object('reason', r.reason, 'n', r.n)
                        ORDER BY r.reason), '[]')
                    FROM (SELECT x.reason, sum(x.declines)::bigint AS n
                          FROM trellis_pathway_reasons_sums($1, $2) x GROUP BY x.reason
                          HAVING sum(x.declines) > 0) r),
        'days', (SELECT coalesce(json_agg(json_build_object('org', x.to_org,
                     'measure', x.measure, 'days', x.days, 'n', x.referrals)
                     ORDER BY x.to_org, x.measure, x.days), '[]')
                 FROM trellis_pathway_days_sums($1, $2) x WHERE x.referrals > 0),
        'waiting', (SELECT coalesce(json_agg(json_build_object('org', w.to_org,
                        'service', w.to_service, 'week', w.oldest,
                        'weeks', (current_date - to_date(w.oldest, 'IYYY-"W"IW')) / 7)
                        ORDER BY w.oldest, w.to_org, w.to_service), '[]') FROM waiting w)
        ) AS d)
    SELECT (SELECT doc.d::text FROM doc),
           trellis_pathway_shown_names((SELECT p.f FROM pair p), (SELECT p.t FROM pair p),
               (SELECT array_agg(s.from_service) FROM svc s),
               (SELECT array_agg(s.to_service) FROM svc s), (SELECT array_agg(s.n) FROM svc s),
               (SELECT array_agg(w.to_org) FROM waiting w),
               (SELECT array_agg(w.to_service) FROM waiting w));
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

-- The same names for a document of trellis_pathway_page that the node kept
-- while only other kinds of records were stored (a service renamed): read
-- from the document, converted once (the json type parses its whole text
-- again at every ->, and the document is ~200 KB for a year).
CREATE OR REPLACE FUNCTION trellis_pathway_names(doc json) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    d jsonb := doc::jsonb;
BEGIN
    RETURN trellis_pathway_shown_names(d->'pair'->>'from', d->'pair'->>'to',
        ARRAY(SELECT (s->>'from')::uuid FROM jsonb_array_elements(d->'services') s),
        ARRAY(SELECT (s->>'to')::uuid FROM jsonb_array_elements(d->'services') s),
        ARRAY(SELECT (s->>'n')::bigint FROM jsonb_array_elements(d->'services') s),
        ARRAY(SELECT w->>'org' FROM jsonb_array_elements(d->'waiting') w),
        ARRAY(SELECT (w->>'service')::uuid FROM jsonb_array_elements(d->'waiting') w));
END
$fn$;
