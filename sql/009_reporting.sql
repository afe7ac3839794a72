-- 009: the pathway picture, kept up to date as records are stored, and the
-- reporting views for BI tools (Metabase, Grafana, Power BI) that a read-only
-- role, trellis_reporting, may read (docs/reporting.md).
--
-- pathway_facts holds each referral's outcome, folded from its events as
-- proto/tr_fold.c folds them (docs/records.md, "Referral lifecycle"), and the
-- pathway_*_weekly tables add the facts up by ISO week. Statement triggers on
-- pathway_referrals and pathway_events refresh the facts of the referrals a
-- statement touched and move the weekly sums by the difference, so that the
-- viewer's pathways page and the views below add up a year from weekly rows
-- instead of folding a million referrals on every request.

CREATE TABLE pathway_facts (
    referral uuid NOT NULL,
    origin text NOT NULL,        -- the referring organisation
    to_org text NOT NULL,        -- '' for a referral that names none (signed before 006)
    from_service uuid NOT NULL,
    to_service uuid NOT NULL,
    week text NOT NULL,
    -- waiting (no answer yet), accepted, declined, withdrawn (before an answer)
    outcome text NOT NULL,
    decision_days int,           -- days to the acceptance or decline
    decline_reason text,
    contact_days int,            -- days to first contact, once accepted
    PRIMARY KEY (referral, origin)
);
-- The pathways page's longest waits: the oldest unanswered referrals first.
-- (to_org and to_service in it: an index-only scan, no heap visit per row.)
CREATE INDEX pathway_facts_waiting ON pathway_facts (week, to_org, to_service)
    WHERE outcome = 'waiting';

CREATE TABLE pathway_org_weekly (
    week text NOT NULL,
    from_org text NOT NULL,
    to_org text NOT NULL,
    referrals bigint NOT NULL DEFAULT 0,
    accepted bigint NOT NULL DEFAULT 0,
    declined bigint NOT NULL DEFAULT 0,
    withdrawn bigint NOT NULL DEFAULT 0,
    waiting bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (week, from_org, to_org)
);

-- Flows between services, looked up by the pair of organisations.
CREATE TABLE pathway_service_weekly (
    from_org text NOT NULL,
    to_org text NOT NULL,
    week text NOT NULL,
    from_service uuid NOT NULL,
    to_service uuid NOT NULL,
    referrals bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (from_org, to_org, week, from_service, to_service)
);
CREATE INDEX pathway_service_weekly_week ON pathway_service_weekly (week);

CREATE TABLE pathway_reasons_weekly (
    week text NOT NULL,
    to_org text NOT NULL,
    reason text NOT NULL,
    declines bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (week, to_org, reason)
);

-- How many referrals took each number of days to acceptance ('accepted')
-- or to first contact ('contact'): medians over any period from a histogram.
CREATE TABLE pathway_days_weekly (
    week text NOT NULL,
    to_org text NOT NULL,
    measure text NOT NULL,
    days int NOT NULL,
    referrals bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (week, to_org, measure, days)
);

-- Add (sign 1) or take out (sign -1) the facts of the given referrals from
-- the weekly sums.
CREATE FUNCTION trellis_pathway_count(sign int, ids uuid[], origins text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO pathway_org_weekly AS w (week, from_org, to_org, referrals, accepted, declined,
                                         withdrawn, waiting)
    SELECT f.week, f.origin, f.to_org, sign * count(*),
           sign * count(*) FILTER (WHERE f.outcome = 'accepted'),
           sign * count(*) FILTER (WHERE f.outcome = 'declined'),
           sign * count(*) FILTER (WHERE f.outcome = 'withdrawn'),
           sign * count(*) FILTER (WHERE f.outcome = 'waiting')
    FROM pathway_facts f JOIN unnest(ids, origins) AS a(id, origin)
        ON f.referral = a.id AND f.origin = a.origin
    GROUP BY 1, 2, 3
    ON CONFLICT (week, from_org, to_org) DO UPDATE SET
        referrals = w.referrals + EXCLUDED.referrals, accepted = w.accepted + EXCLUDED.accepted,
        declined = w.declined + EXCLUDED.declined, withdrawn = w.withdrawn + EXCLUDED.withdrawn,
        waiting = w.waiting + EXCLUDED.waiting;

    INSERT INTO pathway_service_weekly AS w (from_org, to_org, week, from_service, to_service,
                                             referrals)
    SELECT f.origin, f.to_org, f.week, f.from_service, f.to_service, sign * count(*)
    FROM pathway_facts f JOIN unnest(ids, origins) AS a(id, origin)
        ON f.referral = a.id AND f.origin = a.origin
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (from_org, to_org, week, from_service, to_service) DO UPDATE SET
        referrals = w.referrals + EXCLUDED.referrals;

    INSERT INTO pathway_reasons_weekly AS w (week, to_org, reason, declines)
    SELECT f.week, f.to_org, coalesce(f.decline_reason, 'other'), sign * count(*)
    FROM pathway_facts f JOIN unnest(ids, origins) AS a(id, origin)
        ON f.referral = a.id AND f.origin = a.origin
    WHERE f.outcome = 'declined'
    GROUP BY 1, 2, 3
    ON CONFLICT (week, to_org, reason) DO UPDATE SET declines = w.declines + EXCLUDED.declines;

    INSERT INTO pathway_days_weekly AS w (week, to_org, measure, days, referrals)
    SELECT f.week, f.to_org, m.measure, m.days, sign * count(*)
    FROM pathway_facts f JOIN unnest(ids, origins) AS a(id, origin)
        ON f.referral = a.id AND f.origin = a.origin,
        LATERAL (VALUES ('accepted', CASE WHEN f.outcome = 'accepted' THEN f.decision_days END),
                        ('contact', f.contact_days)) AS m(measure, days)
    WHERE m.days IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (week, to_org, measure, days) DO UPDATE SET
        referrals = w.referrals + EXCLUDED.referrals;
END
$fn$;

-- Fold the given referrals' events into their facts again. Only events from
-- the referral's parties count (as in GET /v1/referrals). The answer is the
-- first acceptance or decline (by days, then lifecycle order, then id), unless
-- a withdrawal came before it; first contact is the first contact event on or
-- after the acceptance.
CREATE FUNCTION trellis_pathway_refresh(ids uuid[], origins text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM trellis_pathway_count(-1, ids, origins);
    DELETE FROM pathway_facts f USING unnest(ids, origins) AS a(id, origin)
        WHERE f.referral = a.id AND f.origin = a.origin;
    INSERT INTO pathway_facts (referral, origin, to_org, from_service, to_service, week, outcome,
                               decision_days, decline_reason, contact_days)
    SELECT r.id, r.origin, coalesce(r.to_org, ''), r.from_service, r.to_service, r.week,
           CASE WHEN d.status IS NOT NULL AND (w.days IS NULL OR d.days <= w.days) THEN d.status
                WHEN w.days IS NOT NULL THEN 'withdrawn'
                ELSE 'waiting' END,
           CASE WHEN w.days IS NULL OR d.days <= w.days THEN d.days END,
           CASE WHEN d.status = 'declined' AND (w.days IS NULL OR d.days <= w.days)
                THEN d.reason END,
           CASE WHEN d.status = 'accepted' AND (w.days IS NULL OR d.days <= w.days)
                THEN (SELECT min(e.days) FROM pathway_events e
                      WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)
                      AND e.status = 'contacted' AND e.days >= d.days) END
    FROM (SELECT DISTINCT id, origin FROM unnest(ids, origins) AS a(id, origin)) a
    JOIN pathway_referrals r ON r.id = a.id AND r.origin = a.origin
    LEFT JOIN LATERAL (
        SELECT e.status, e.days, e.reason FROM pathway_events e
        WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)
        AND e.status IN ('accepted', 'declined')
        ORDER BY e.days, e.status, e.id LIMIT 1) d ON true
    LEFT JOIN LATERAL (
        SELECT min(e.days) AS days FROM pathway_events e
        WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)
        AND e.status = 'withdrawn') w ON true;
    PERFORM trellis_pathway_count(1, ids, origins);
END
$fn$;

CREATE FUNCTION trellis_pathway_on_referrals() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids uuid[];
    origins text[];
BEGIN
    SELECT array_agg(id), array_agg(origin) INTO ids, origins FROM new_rows;
    IF ids IS NOT NULL THEN
        PERFORM trellis_pathway_refresh(ids, origins);
    END IF;
    RETURN NULL;
END
$fn$;

-- An event counts for every referral with its id whose parties wrote it (ids
-- are owned per origin, so two organisations may hold the same one).
CREATE FUNCTION trellis_pathway_on_events() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids uuid[];
    origins text[];
BEGIN
    SELECT array_agg(r.id), array_agg(r.origin) INTO ids, origins
    FROM (SELECT DISTINCT r.id, r.origin FROM new_rows e
          JOIN pathway_referrals r ON r.id = e.referral
          AND (e.origin = r.origin OR e.origin = r.to_org)) r;
    IF ids IS NOT NULL THEN
        PERFORM trellis_pathway_refresh(ids, origins);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER pathway_referrals_facts AFTER INSERT ON pathway_referrals
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_pathway_on_referrals();
CREATE TRIGGER pathway_events_facts AFTER INSERT ON pathway_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_pathway_on_events();

-- What is already stored.
SELECT trellis_pathway_refresh(array_agg(id), array_agg(origin)) FROM pathway_referrals;

-- ---- the small-number rule in SQL (docs/small-numbers.md) ----

-- The rule the reporting views apply: one row. The node's [viewer] keys set
-- the pages' rule; an operator who changes them sets the same numbers here
-- (UPDATE trellis_reporting_rule SET threshold = 10, rounding = 10).
CREATE TABLE trellis_reporting_rule (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    threshold int NOT NULL DEFAULT 8 CHECK (threshold BETWEEN 1 AND 1000),
    rounding int NOT NULL DEFAULT 5 CHECK (rounding BETWEEN 1 AND 1000)
);
INSERT INTO trellis_reporting_rule DEFAULT VALUES;

-- A count as published: NULL when hidden (small, or hidden to protect a
-- small one), else rounded to the nearest multiple (halves up; a count that
-- is not 0 never shows as 0), as proto/tr_smallnum.c does. The views pass
-- the rule's numbers in (they read trellis_reporting_rule as their owner).
CREATE FUNCTION trellis_smallnum_value(n bigint, hidden boolean, threshold int, rounding int)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN hidden OR (n >= 1 AND n < threshold) THEN NULL
                WHEN n > 0 THEN greatest(rounding, (n + rounding / 2) / rounding * rounding)
                ELSE n END
$fn$;

-- The same count as the pages show it: "15", "fewer than 8", "not shown".
CREATE FUNCTION trellis_smallnum_text(n bigint, hidden boolean, threshold int, rounding int)
RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN n >= 1 AND n < threshold THEN 'fewer than ' || threshold
                WHEN hidden THEN 'not shown'
                ELSE trellis_smallnum_value(n, false, threshold, rounding)::text END
$fn$;

-- Secondary suppression in a view, NHS Digital's "never one alone": within
-- each group of cells that add up to a total another view publishes, when
-- exactly one cell is small, the next smallest cell of the group (a 0 only
-- when there is no other) is hidden too. small_in_group and rank_in_group
-- come from window functions over the group, the rank among the cells that
-- are not small (see the views); docs/reporting.md says what this covers.
CREATE FUNCTION trellis_smallnum_hide(n bigint, small_in_group bigint, rank_in_group bigint,
                                      threshold int)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT small_in_group = 1 AND NOT (n >= 1 AND n < threshold) AND rank_in_group = 1
$fn$;

-- ---- the reporting views ----
-- Each lists cells of one granularity, a week at a time, and no totals: a BI
-- tool sums what is shown. security_barrier: a reader's own conditions are
-- never run on rows before the view has aggregated them.

CREATE VIEW reporting_pathway_flows WITH (security_barrier) AS
    WITH c AS (
        SELECT s.week, s.from_org, s.to_org, s.from_service, s.to_service, s.referrals AS n,
            r.threshold AS t, r.rounding AS rnd,
            count(*) FILTER (WHERE s.referrals < r.threshold)
                OVER (PARTITION BY s.week, s.to_org) AS small_in_group,
            row_number() OVER (PARTITION BY s.week, s.to_org, s.referrals < r.threshold
                               ORDER BY s.referrals, s.from_org, s.from_service, s.to_service)
                AS rank_in_group
        FROM pathway_service_weekly s, trellis_reporting_rule r
        WHERE s.referrals > 0)
    SELECT week, from_org, to_org, fs.name AS from_service_name, from_service,
           ts.name AS to_service_name, to_service,
           trellis_smallnum_value(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                  t, rnd) AS referrals,
           trellis_smallnum_text(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                 t, rnd) AS referrals_shown
    FROM c
    LEFT JOIN LATERAL (SELECT d.name FROM directory_services d
                       WHERE d.id = c.from_service AND d.origin = c.from_org) fs ON true
    LEFT JOIN LATERAL (SELECT d.name FROM directory_services d
                       WHERE d.id = c.to_service AND d.origin = c.to_org) ts ON true;

-- Outcomes of the referrals each organisation received, by the week they
-- were sent; the four outcomes of a week add up to its referrals.
CREATE VIEW reporting_pathway_outcomes WITH (security_barrier) AS
    WITH o AS (
        SELECT week, to_org, x.outcome, sum(x.n)::bigint AS n
        FROM pathway_org_weekly,
            LATERAL (VALUES ('accepted', accepted), ('declined', declined),
                            ('withdrawn', withdrawn), ('waiting', waiting)) AS x(outcome, n)
        GROUP BY week, to_org, x.outcome),
    c AS (
        SELECT o.*, r.threshold AS t, r.rounding AS rnd,
            count(*) FILTER (WHERE o.n >= 1 AND o.n < r.threshold)
                OVER (PARTITION BY o.week, o.to_org) AS small_in_group,
            row_number() OVER (PARTITION BY o.week, o.to_org, o.n >= 1 AND o.n < r.threshold
                               ORDER BY o.n = 0, o.n, o.outcome) AS rank_in_group
        FROM o, trellis_reporting_rule r)
    SELECT week, to_org, outcome,
           trellis_smallnum_value(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                  t, rnd) AS referrals,
           trellis_smallnum_text(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                 t, rnd) AS referrals_shown
    FROM c;

CREATE VIEW reporting_decline_reasons WITH (security_barrier) AS
    WITH c AS (
        SELECT w.week, w.to_org, w.reason, w.declines AS n, r.threshold AS t, r.rounding AS rnd,
            count(*) FILTER (WHERE w.declines < r.threshold)
                OVER (PARTITION BY w.week, w.to_org) AS small_in_group,
            row_number() OVER (PARTITION BY w.week, w.to_org, w.declines < r.threshold
                               ORDER BY w.declines, w.reason) AS rank_in_group
        FROM pathway_reasons_weekly w, trellis_reporting_rule r
        WHERE w.declines > 0)
    SELECT week, to_org, reason,
           trellis_smallnum_value(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                  t, rnd) AS declines,
           trellis_smallnum_text(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                 t, rnd) AS declines_shown
    FROM c;

-- Median days to acceptance ('accepted') and to first contact ('contact'),
-- per week and receiving organisation, from the histogram: the lower median
-- (the first number of days that half the referrals had reached), shown only
-- over threshold referrals or more.
CREATE VIEW reporting_pathway_days WITH (security_barrier) AS
    WITH h AS (
        SELECT week, to_org, measure, days,
            sum(referrals) OVER (PARTITION BY week, to_org, measure ORDER BY days) AS upto,
            sum(referrals) OVER (PARTITION BY week, to_org, measure) AS n
        FROM pathway_days_weekly WHERE referrals > 0),
    m AS (
        SELECT week, to_org, measure, n::bigint AS n,
            min(days) FILTER (WHERE upto * 2 >= n) AS median
        FROM h GROUP BY week, to_org, measure, n)
    SELECT m.week, m.to_org, m.measure,
           CASE WHEN m.n >= r.threshold THEN m.median END AS median_days,
           trellis_smallnum_value(m.n, false, r.threshold, r.rounding) AS referrals,
           trellis_smallnum_text(m.n, false, r.threshold, r.rounding) AS referrals_shown
    FROM m, trellis_reporting_rule r;

-- Feedback entries by week, organisation, theme and the status of the
-- latest response (as GET /v1/feedback works it out); an entry counts once
-- under each of its themes.
CREATE VIEW reporting_feedback WITH (security_barrier) AS
    WITH s AS (
        SELECT e.week, e.origin, t.theme,
            coalesce((SELECT r.status FROM feedback_responses r
                      WHERE r.entry = e.id AND r.origin = e.origin
                      ORDER BY r.week DESC, array_position(ARRAY['heard', 'agreed',
                          'in_progress', 'changed', 'cannot_change'], r.status) DESC LIMIT 1),
                     'open') AS status
        FROM feedback_entries e, unnest(e.themes) AS t(theme)),
    g AS (
        SELECT week, origin, theme, status, count(*) AS n FROM s
        GROUP BY week, origin, theme, status),
    c AS (
        SELECT g.*, r.threshold AS t, r.rounding AS rnd,
            count(*) FILTER (WHERE g.n < r.threshold)
                OVER (PARTITION BY g.week, g.origin, g.theme) AS small_in_group,
            row_number() OVER (PARTITION BY g.week, g.origin, g.theme, g.n < r.threshold
                               ORDER BY g.n, g.status) AS rank_in_group
        FROM g, trellis_reporting_rule r)
    SELECT week, origin, theme, status,
           trellis_smallnum_value(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                  t, rnd) AS entries,
           trellis_smallnum_text(n, trellis_smallnum_hide(n, small_in_group, rank_in_group, t),
                                 t, rnd) AS entries_shown
    FROM c;

-- ---- the read-only role ----
-- NOLOGIN: an operator grants it to a login of their own
-- (CREATE ROLE metabase LOGIN PASSWORD '...' IN ROLE trellis_reporting).
-- Roles belong to the whole cluster, so it may exist already (another
-- node's database); the node's user may not be allowed to make roles, in
-- which case docs/reporting.md says what a superuser runs instead.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trellis_reporting') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE NOTICE 'cannot create role trellis_reporting: see docs/reporting.md';
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE trellis_reporting NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database's node made it at the same moment
        END;
    END IF;
    GRANT SELECT ON reporting_pathway_flows, reporting_pathway_outcomes,
        reporting_decline_reasons, reporting_pathway_days, reporting_feedback
        TO trellis_reporting;
END
$do$;
