-- A period's pathway sums from the fewest rows: the weeks [from, to] split
-- into aligned blocks of 64, 32, 16, 8, 4 and 2 weeks (sql/017, sql/020)
-- and at most a single week at each edge, each summed from its own table. Counts add, so the result is
-- exactly what adding up pathway_*_weekly over the weeks gives (the
-- pathways page, server/view_pathways.c; tests/integration/
-- test_pathway_blocks.py compares the two on random periods).

-- The pieces of the ISO weeks from .. to (as text, both included, in the
-- order they sort: a week past a year's last, W53 of a 52-week year, is
-- none). span 1 is a single week, named in week; any other span a block of
-- pathway_*_blocks. Greedy from the first week: the largest aligned block
-- that starts there and ends by the last week, else the week alone. The
-- spans are every power of two up to 64, so each is used at most once on
-- either side of the longest one: 52 weeks are at most 8 pieces, 5.7 on
-- average over where they start (4, 16 and 64 alone: 10 and 8.3); the
-- page's weeks (2000-2100) at most ~90.
CREATE OR REPLACE FUNCTION trellis_pathway_cover(from_week text, to_week text)
RETURNS TABLE (span int, first_week int, week text)
LANGUAGE plpgsql STABLE STRICT ROWS 12 AS $fn$
DECLARE
    a int := trellis_week_index(from_week);
    hi int := trellis_week_index(to_week);
    s int;
    took boolean;
BEGIN
    -- A last week past its year's end numbers as the next year's first,
    -- which does not sort before it: the week before is the last one.
    IF trellis_week_text(hi) <> to_week THEN
        hi := hi - 1;
    END IF;
    WHILE a <= hi LOOP
        took := false;
        FOREACH s IN ARRAY ARRAY[64, 32, 16, 8, 4, 2] LOOP
            IF trellis_week_block(a, s) = a AND a + s - 1 <= hi THEN
                span := s;
                first_week := a;
                week := NULL;
                RETURN NEXT;
                a := a + s;
                took := true;
                EXIT;
            END IF;
        END LOOP;
        IF NOT took THEN
            span := 1;
            first_week := a;
            week := trellis_week_text(a);
            RETURN NEXT;
            a := a + 1;
        END IF;
    END LOOP;
END
$fn$;

-- Referrals sent between each pair of organisations from .. to, and their
-- outcomes (pairs whose sums are all 0 included: callers filter).
CREATE OR REPLACE FUNCTION trellis_pathway_org_sums(from_week text, to_week text)
RETURNS TABLE (from_org text, to_org text, referrals bigint, accepted bigint, declined bigint,
               withdrawn bigint, waiting bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT x.from_org, x.to_org, sum(x.referrals)::bigint, sum(x.accepted)::bigint,
           sum(x.declined)::bigint, sum(x.withdrawn)::bigint, sum(x.waiting)::bigint
    FROM trellis_pathway_cover($1, $2) c
    CROSS JOIN LATERAL (
        SELECT w.from_org, w.to_org, w.referrals, w.accepted, w.declined, w.withdrawn, w.waiting
        FROM pathway_org_weekly w WHERE c.span = 1 AND w.week = c.week
        UNION ALL
        SELECT b.from_org, b.to_org, b.referrals, b.accepted, b.declined, b.withdrawn, b.waiting
        FROM pathway_org_blocks b
        WHERE c.span > 1 AND b.span = c.span AND b.first_week = c.first_week) x
    GROUP BY x.from_org, x.to_org
$fn$;

-- Referrals from each service of from_org to each of to_org's, from .. to:
-- one range of pathway_service_weekly's key, which leads with the pair (no
-- blocks: sql/017 says why).
CREATE OR REPLACE FUNCTION trellis_pathway_service_sums(from_week text, to_week text,
                                                        from_org text, to_org text)
RETURNS TABLE (from_service uuid, to_service uuid, referrals bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT w.from_service, w.to_service, sum(w.referrals)::bigint
    FROM pathway_service_weekly w
    WHERE w.from_org = $3 AND w.to_org = $4 AND w.week BETWEEN $1 AND $2
    GROUP BY w.from_service, w.to_service
$fn$;

-- Declines by receiving organisation and reason, from .. to.
CREATE OR REPLACE FUNCTION trellis_pathway_reasons_sums(from_week text, to_week text)
RETURNS TABLE (to_org text, reason text, declines bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT x.to_org, x.reason, sum(x.declines)::bigint
    FROM trellis_pathway_cover($1, $2) c
    CROSS JOIN LATERAL (
        SELECT w.to_org, w.reason, w.declines FROM pathway_reasons_weekly w
        WHERE c.span = 1 AND w.week = c.week
        UNION ALL
        SELECT b.to_org, b.reason, b.declines FROM pathway_reasons_blocks b
        WHERE c.span > 1 AND b.span = c.span AND b.first_week = c.first_week) x
    GROUP BY x.to_org, x.reason
$fn$;

-- The histograms of days to acceptance and to first contact by receiving
-- organisation, from .. to: referrals per number of days.
CREATE OR REPLACE FUNCTION trellis_pathway_days_sums(from_week text, to_week text)
RETURNS TABLE (to_org text, measure text, days int, referrals bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT x.to_org, x.measure, x.days, sum(x.referrals)::bigint
    FROM trellis_pathway_cover($1, $2) c
    CROSS JOIN LATERAL (
        SELECT w.to_org, w.measure, w.days, w.referrals FROM pathway_days_weekly w
        WHERE c.span = 1 AND w.week = c.week
        UNION ALL
        SELECT b.to_org, b.measure, b.days, b.referrals FROM pathway_days_blocks b
        WHERE c.span > 1 AND b.span = c.span AND b.first_week = c.first_week) x
    GROUP BY x.to_org, x.measure, x.days
$fn$;
