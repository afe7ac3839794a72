-- The pathway sums (sql/009_reporting.sql: pathway_facts and the
-- pathway_*_weekly tables; sql/017: the same by block of weeks), kept equal
-- to a fold of pathway_referrals and pathway_events from scratch.
-- trellis_store folds once per batch, after it has stored the batch's
-- referrals and events; the statement triggers fold
-- what any other INSERT (psql \copy, a restore) stores, and step aside while
-- trellis_store runs (trellis.fold = 'store') so a batch is not folded twice.
--
-- Why one statement: the first version took every old fact out of the sums
-- and put every new one in with eight queries that each read pathway_facts
-- again, and deleted and re-inserted facts that had not changed. That
-- doubled PostgreSQL's CPU per stored referral (docs/benchmarks.md, ingest).
-- Here the facts are computed once, compared with the stored ones, and only
-- the difference moves the sums.
--
-- Writers of the sums are serialised by the change log's advisory lock
-- (7310001, taken by trellis_store and by the triggers below) before the
-- fold reads anything: under READ COMMITTED a fold then sees every commit of
-- the writers before it, so a referral stored in one session and its event
-- in another are folded together by whichever commits second.

-- Fold the given referrals' events into their facts again, and move the
-- weekly sums by what changed. Only events from the referral's parties count
-- (as in GET /v1/referrals). The answer is the first acceptance or decline
-- (by days, then lifecycle order, then id), unless a withdrawal came before
-- it; first contact is the first contact event on or after the acceptance.
-- A referral no longer stored loses its facts. ids and origins: one element
-- per referral, repeats allowed. The caller holds lock 7310001.
CREATE OR REPLACE FUNCTION trellis_pathway_refresh(ids uuid[], origins text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Every lookup below is a LATERAL probe of an index, as in trellis_store:
    -- a join the planner may hash would read whole tables for each batch.
    WITH a AS (
        SELECT DISTINCT id, origin FROM unnest(ids, origins) AS a(id, origin)),
    new_facts AS (
        SELECT r.id AS referral, r.origin, coalesce(r.to_org, '') AS to_org, r.from_service,
               r.to_service, r.week,
               CASE WHEN d.status IS NOT NULL AND (w.days IS NULL OR d.days <= w.days) THEN d.status
                    WHEN w.days IS NOT NULL THEN 'withdrawn'
                    ELSE 'waiting' END AS outcome,
               CASE WHEN w.days IS NULL OR d.days <= w.days THEN d.days END AS decision_days,
               CASE WHEN d.status = 'declined' AND (w.days IS NULL OR d.days <= w.days)
                    THEN d.reason END AS decline_reason,
               CASE WHEN d.status = 'accepted' AND (w.days IS NULL OR d.days <= w.days)
                    THEN (SELECT min(e.days) FROM pathway_events e
                          WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)
                          AND e.status = 'contacted' AND e.days >= d.days) END AS contact_days
        FROM a
        JOIN LATERAL (SELECT r.* FROM pathway_referrals r
                      WHERE r.id = a.id AND r.origin = a.origin LIMIT 1) r ON true
        LEFT JOIN LATERAL (
            SELECT e.status, e.days, e.reason FROM pathway_events e
            WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)
            AND e.status IN ('accepted', 'declined')
            ORDER BY e.days, e.status, e.id LIMIT 1) d ON true
        LEFT JOIN LATERAL (
            SELECT min(e.days) AS days FROM pathway_events e
            WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)
            AND e.status = 'withdrawn') w ON true),
    old_facts AS (
        SELECT f.* FROM a
        JOIN LATERAL (SELECT f.* FROM pathway_facts f
                      WHERE f.referral = a.id AND f.origin = a.origin LIMIT 1) f ON true),
    -- Each changed fact out (-1) and in (+1); a fact that did not change is
    -- in neither, so a batch of events that move no outcome writes nothing.
    delta AS (
        SELECT -1 AS sign, o.* FROM old_facts o
        WHERE NOT EXISTS (SELECT 1 FROM new_facts n
                          WHERE n.referral = o.referral AND n.origin = o.origin
                          AND (n.*) IS NOT DISTINCT FROM (o.*))
        UNION ALL
        SELECT 1 AS sign, n.* FROM new_facts n
        WHERE NOT EXISTS (SELECT 1 FROM old_facts o
                          WHERE n.referral = o.referral AND n.origin = o.origin
                          AND (n.*) IS NOT DISTINCT FROM (o.*))),
    put_facts AS (
        INSERT INTO pathway_facts AS f (referral, origin, to_org, from_service, to_service, week,
                                        outcome, decision_days, decline_reason, contact_days)
        SELECT referral, origin, to_org, from_service, to_service, week, outcome, decision_days,
               decline_reason, contact_days
        FROM delta WHERE sign = 1
        ON CONFLICT (referral, origin) DO UPDATE SET to_org = EXCLUDED.to_org,
            from_service = EXCLUDED.from_service, to_service = EXCLUDED.to_service,
            week = EXCLUDED.week, outcome = EXCLUDED.outcome,
            decision_days = EXCLUDED.decision_days, decline_reason = EXCLUDED.decline_reason,
            contact_days = EXCLUDED.contact_days),
    drop_facts AS (
        DELETE FROM pathway_facts f USING old_facts o
        WHERE f.referral = o.referral AND f.origin = o.origin
        AND NOT EXISTS (SELECT 1 FROM new_facts n
                        WHERE n.referral = o.referral AND n.origin = o.origin)),
    -- The sums, in key order so that two folds never lock rows in opposite
    -- orders (the advisory lock serialises them now; this stays true without).
    org AS (
        INSERT INTO pathway_org_weekly AS w (week, from_org, to_org, referrals, accepted,
                                             declined, withdrawn, waiting)
        SELECT * FROM (
            SELECT week, origin, to_org, sum(sign) AS referrals,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'accepted'), 0) AS accepted,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'declined'), 0) AS declined,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'withdrawn'), 0) AS withdrawn,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'waiting'), 0) AS waiting
            FROM delta GROUP BY week, origin, to_org) s
        WHERE (referrals, accepted, declined, withdrawn, waiting) <> (0, 0, 0, 0, 0)
        ORDER BY week, origin, to_org
        ON CONFLICT (week, from_org, to_org) DO UPDATE SET
            referrals = w.referrals + EXCLUDED.referrals,
            accepted = w.accepted + EXCLUDED.accepted, declined = w.declined + EXCLUDED.declined,
            withdrawn = w.withdrawn + EXCLUDED.withdrawn, waiting = w.waiting + EXCLUDED.waiting),
    svc AS (
        INSERT INTO pathway_service_weekly AS w (from_org, to_org, week, from_service,
                                                 to_service, referrals)
        SELECT origin, to_org, week, from_service, to_service, sum(sign)
        FROM delta GROUP BY origin, to_org, week, from_service, to_service
        HAVING sum(sign) <> 0
        ORDER BY origin, to_org, week, from_service, to_service
        ON CONFLICT (from_org, to_org, week, from_service, to_service) DO UPDATE SET
            referrals = w.referrals + EXCLUDED.referrals),
    reasons AS (
        INSERT INTO pathway_reasons_weekly AS w (week, to_org, reason, declines)
        SELECT week, to_org, coalesce(decline_reason, 'other'), sum(sign)
        FROM delta WHERE outcome = 'declined'
        GROUP BY week, to_org, coalesce(decline_reason, 'other')
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (week, to_org, reason) DO UPDATE SET declines = w.declines + EXCLUDED.declines),
    -- The same differences by aligned block of 2, 4, 8, 16, 32 and 64 weeks
    -- (sql/017, sql/020), so that a period's sums are a few blocks.
    blk AS (
        SELECT d.*, s.span, trellis_week_block(trellis_week_index(d.week), s.span) AS first_week
        FROM delta d, (VALUES (2), (4), (8), (16), (32), (64)) AS s(span)),
    org_blk AS (
        INSERT INTO pathway_org_blocks AS w (span, first_week, from_org, to_org, referrals,
                                             accepted, declined, withdrawn, waiting)
        SELECT * FROM (
            SELECT span, first_week, origin, to_org, sum(sign) AS referrals,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'accepted'), 0) AS accepted,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'declined'), 0) AS declined,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'withdrawn'), 0) AS withdrawn,
                   coalesce(sum(sign) FILTER (WHERE outcome = 'waiting'), 0) AS waiting
            FROM blk GROUP BY span, first_week, origin, to_org) s
        WHERE (referrals, accepted, declined, withdrawn, waiting) <> (0, 0, 0, 0, 0)
        ORDER BY span, first_week, origin, to_org
        ON CONFLICT (span, first_week, from_org, to_org) DO UPDATE SET
            referrals = w.referrals + EXCLUDED.referrals,
            accepted = w.accepted + EXCLUDED.accepted, declined = w.declined + EXCLUDED.declined,
            withdrawn = w.withdrawn + EXCLUDED.withdrawn, waiting = w.waiting + EXCLUDED.waiting),
    reasons_blk AS (
        INSERT INTO pathway_reasons_blocks AS w (span, first_week, to_org, reason, declines)
        SELECT span, first_week, to_org, coalesce(decline_reason, 'other'), sum(sign)
        FROM blk WHERE outcome = 'declined'
        GROUP BY span, first_week, to_org, coalesce(decline_reason, 'other')
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (span, first_week, to_org, reason) DO UPDATE SET
            declines = w.declines + EXCLUDED.declines),
    days_blk AS (
        INSERT INTO pathway_days_blocks AS w (span, first_week, to_org, measure, days, referrals)
        SELECT b.span, b.first_week, b.to_org, m.measure, m.days, sum(b.sign)
        FROM blk b,
            LATERAL (VALUES ('accepted', CASE WHEN b.outcome = 'accepted' THEN b.decision_days END),
                            ('contact', b.contact_days)) AS m(measure, days)
        WHERE m.days IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(b.sign) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (span, first_week, to_org, measure, days) DO UPDATE SET
            referrals = w.referrals + EXCLUDED.referrals)
    INSERT INTO pathway_days_weekly AS w (week, to_org, measure, days, referrals)
    SELECT d.week, d.to_org, m.measure, m.days, sum(d.sign)
    FROM delta d,
        LATERAL (VALUES ('accepted', CASE WHEN d.outcome = 'accepted' THEN d.decision_days END),
                        ('contact', d.contact_days)) AS m(measure, days)
    WHERE m.days IS NOT NULL
    GROUP BY 1, 2, 3, 4
    HAVING sum(d.sign) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (week, to_org, measure, days) DO UPDATE SET
        referrals = w.referrals + EXCLUDED.referrals;
END
$fn$;

-- The statement triggers (sql/009): fold the referrals a plain INSERT
-- stored, or those the events it stored belong to. trellis_store folds its
-- own batch, once, after both kinds are in.
CREATE OR REPLACE FUNCTION trellis_pathway_on_referrals() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids uuid[];
    origins text[];
BEGIN
    IF current_setting('trellis.fold', true) = 'store' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7310001);
    SELECT array_agg(id), array_agg(origin) INTO ids, origins FROM new_rows;
    IF ids IS NOT NULL THEN
        PERFORM trellis_pathway_refresh(ids, origins);
        -- Nodes on this database drop their cached pathway figures.
        PERFORM pg_notify('trellis_changes', 'pathway.referral');
    END IF;
    RETURN NULL;
END
$fn$;

-- An event counts for every referral with its id whose parties wrote it (ids
-- are owned per origin, so two organisations may hold the same one).
CREATE OR REPLACE FUNCTION trellis_pathway_on_events() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids uuid[];
    origins text[];
BEGIN
    IF current_setting('trellis.fold', true) = 'store' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7310001);
    SELECT array_agg(r.id), array_agg(r.origin) INTO ids, origins
    FROM (SELECT DISTINCT e.referral, e.origin FROM new_rows e) e
    JOIN LATERAL (SELECT r.id, r.origin FROM pathway_referrals r
                  WHERE r.id = e.referral AND (e.origin = r.origin OR e.origin = r.to_org)) r
        ON true;
    IF ids IS NOT NULL THEN
        PERFORM trellis_pathway_refresh(ids, origins);
        PERFORM pg_notify('trellis_changes', 'pathway.event');
    END IF;
    RETURN NULL;
END
$fn$;
