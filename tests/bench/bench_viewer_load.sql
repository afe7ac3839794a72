-- bench_viewer.sh's data, made in the database: the services that
-- bench_viewer_data.py wrote (COPY into bench_services first), then
-- :referrals pathway.referral records between random pairs of them spread
-- over the 52 weeks of 2026 and their events, with the triggers of
-- sql/009_reporting.sql off while loading and the facts worked out once at
-- the end (what the triggers would have done record by record).
\set ON_ERROR_STOP 1
ALTER TABLE pathway_referrals DISABLE TRIGGER pathway_referrals_facts;
ALTER TABLE pathway_events DISABLE TRIGGER pathway_events_facts;

INSERT INTO directory_services AS t (id, origin, version, hash, seq, doc, name, status,
    organization_id, minimum_age, maximum_age, confidential, taking_referrals,
    self_referral, needs, risk_levels, for_genders, accessibility, taxonomy_terms,
    last_modified, search, audience, shadowed)
SELECT n.id, n.origin, 1, md5(n.doc::text), nextval('trellis_change_seq'), n.doc,
    s->>'name', s->>'status', (s->'organization'->>'id')::uuid,
    (s->>'minimum_age')::int, (s->>'maximum_age')::int,
    coalesce((s->'trellis'->>'location_confidential')::boolean, false),
    (s->'trellis'->>'taking_referrals')::boolean, (s->'trellis'->>'self_referral')::boolean,
    ARRAY(SELECT jsonb_array_elements_text(coalesce(s->'trellis'->'needs', '[]'))),
    ARRAY(SELECT jsonb_array_elements_text(coalesce(s->'trellis'->'risk_levels', '[]'))),
    ARRAY(SELECT jsonb_array_elements_text(coalesce(s->'trellis'->'for_genders', '[]'))),
    ARRAY(SELECT jsonb_array_elements_text(coalesce(s->'trellis'->'accessibility', '[]'))),
    ARRAY(SELECT a->'taxonomy_term'->>'id' FROM jsonb_array_elements(
        coalesce(s->'attributes', '[]')) AS a WHERE a->'taxonomy_term'->>'id' IS NOT NULL),
    (s->>'last_modified')::timestamptz,
    to_tsvector('english', coalesce(s->>'name', '') || ' ' || coalesce(s->>'description', '')),
    trellis_audience(n.doc), false
FROM bench_services n, LATERAL (SELECT n.doc->'body' AS s) body;

CREATE TABLE bench_svc AS
    SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, id, origin FROM bench_services;
CREATE UNIQUE INDEX ON bench_svc (n);
SELECT count(*) AS services FROM bench_svc \gset

-- Referrals: from a service to another (any organisation, its own too),
-- ISO week 1 to 52 of 2026; fate decides the events.
CREATE TABLE bench_ref AS
    SELECT g, gen_random_uuid() AS id, f.origin, f.id AS from_service, t.origin AS to_org,
        t.id AS to_service, '2026-W' || lpad((1 + g % 52)::text, 2, '0') AS week,
        random() AS fate, 1 + (random() * 13)::int AS d
    FROM generate_series(1::bigint, :referrals) g
    JOIN bench_svc f ON f.n = (g * 7919) % :services
    JOIN bench_svc t ON t.n = ((g * 7919) % :services + 1 + (g * 104729) % (:services - 1))
        % :services;

INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service, to_service,
    week, needs, risk, age_band, district, route, to_org, audience)
SELECT id, origin, 1, md5(id::text), nextval('trellis_change_seq'),
    jsonb_build_object('kind', 'pathway.referral', 'id', id, 'origin', origin, 'version', 1,
        'audience', jsonb_build_array(to_org),
        'body', jsonb_build_object('from_service', from_service, 'to_service', to_service,
            'to_org', to_org, 'week', week, 'needs', '["housing"]'::jsonb, 'risk', 'medium',
            'age_band', '25_34', 'district', 'LS6', 'route', 'professional')),
    from_service, to_service, week, '{housing}', 'medium', '25_34', 'LS6', 'professional',
    to_org, ARRAY[to_org]
FROM bench_ref;

-- Every referral sent; 60% accepted (three in four of those contacted two
-- days later), 20% declined, 5% withdrawn, 15% still waiting.
INSERT INTO pathway_events (id, origin, version, hash, seq, doc, referral, status, reason, days)
SELECT gen_random_uuid(), e.origin, 1, md5(e.referral::text || e.status), nextval('trellis_change_seq'),
    jsonb_build_object('kind', 'pathway.event', 'origin', e.origin, 'body',
        jsonb_build_object('referral', e.referral, 'status', e.status, 'reason', e.reason,
            'days', e.days)),
    e.referral, e.status, e.reason, e.days
FROM (
    SELECT origin, id AS referral, 'sent' AS status, NULL AS reason, 0 AS days FROM bench_ref
    UNION ALL
    SELECT to_org, id, 'accepted', NULL, d FROM bench_ref WHERE fate < 0.6
    UNION ALL
    SELECT to_org, id, 'contacted', NULL, d + 2 FROM bench_ref WHERE fate < 0.45
    UNION ALL
    SELECT to_org, id, 'declined', (ARRAY['no_capacity', 'not_eligible', 'outside_area',
        'unsafe_area', 'needs_not_met', 'no_recourse', 'person_declined', 'unable_to_contact',
        'other'])[1 + g % 9], d FROM bench_ref WHERE fate >= 0.6 AND fate < 0.8
    UNION ALL
    SELECT origin, id, 'withdrawn', 'referrer_withdrew', d FROM bench_ref
        WHERE fate >= 0.8 AND fate < 0.85) e;

ALTER TABLE pathway_referrals ENABLE TRIGGER pathway_referrals_facts;
ALTER TABLE pathway_events ENABLE TRIGGER pathway_events_facts;
SELECT trellis_pathway_refresh(array_agg(id), array_agg(origin)) FROM pathway_referrals;
DROP TABLE bench_ref;
DROP TABLE bench_svc;
DROP TABLE bench_services;
VACUUM ANALYZE;
