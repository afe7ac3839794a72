-- 017: coarser pathway sums, so that the pathways page adds up a period
-- from a handful of rows per key instead of one per week (issue 9: a
-- one-year page summed 52 weeks of flows and 43,680 histogram rows on
-- every fresh query, and 20 fresh queries at once queued for a second).
--
-- Weeks are numbered from the ISO week of 1970-01-05 (a Monday). The
-- organisation, decline-reason and days tables get a pathway_*_blocks twin
-- holding the same sums over aligned blocks of 4, 16 and 64 weeks (the
-- services' flows do not: the page reads them for one pair of organisations,
-- whose key leads pathway_service_weekly, and their rows are as many as the
-- pairs of services, which blocks would hardly reduce while the fold would
-- write each referral's three times more): the block of span s holding
-- week n starts at n - n mod s. Any period [from, to] is then a few aligned
-- blocks plus single weeks at its edges (trellis_pathway_cover, in
-- sql/functions/16_trellis_pathway_period.sql), as in a segment tree: a
-- year is at most ~14 pieces, usually 8 or 9. Counts add, so the sums
-- over the pieces are exactly the sums over the weeks, histograms (for the
-- medians) included. The fold (sql/functions/15) moves the blocks by the
-- same difference as the weeks, in the same statement.

-- The week number of an ISO week 'YYYY-Www': Monday of week 1 is the
-- Monday on or before 4 January. A week past the year's last (W53 of a
-- 52-week year) numbers as week 1 of the next year, which is where it sorts
-- as text too (trellis_pathway_cover relies on this).
CREATE FUNCTION trellis_week_index(week text) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT ((make_date(substr(week, 1, 4)::int, 1, 4)
             - (extract(isodow FROM make_date(substr(week, 1, 4)::int, 1, 4))::int - 1)
             + 7 * (substr(week, 7, 2)::int - 1))
            - date '1970-01-05') / 7
$fn$;

-- The ISO week 'YYYY-Www' of a week number.
CREATE FUNCTION trellis_week_text(n int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT to_char(date '1970-01-05' + 7 * n, 'IYYY-"W"IW')
$fn$;

-- The first week of the block of span s that holds week n (n may be below
-- 0 for weeks before 1970: the floor, not the truncation).
CREATE FUNCTION trellis_week_block(n int, s int) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT n - ((n % s) + s) % s
$fn$;

-- The blocks: span (4, 16 or 64 weeks) and first_week (a week number, a
-- multiple of span) name the block; the other columns are those of the
-- weekly table. Keys lead with what the page looks up.
CREATE TABLE pathway_org_blocks (
    span int NOT NULL,
    first_week int NOT NULL,
    from_org text NOT NULL,
    to_org text NOT NULL,
    referrals bigint NOT NULL DEFAULT 0,
    accepted bigint NOT NULL DEFAULT 0,
    declined bigint NOT NULL DEFAULT 0,
    withdrawn bigint NOT NULL DEFAULT 0,
    waiting bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (span, first_week, from_org, to_org)
);

CREATE TABLE pathway_reasons_blocks (
    span int NOT NULL,
    first_week int NOT NULL,
    to_org text NOT NULL,
    reason text NOT NULL,
    declines bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (span, first_week, to_org, reason)
);

CREATE TABLE pathway_days_blocks (
    span int NOT NULL,
    first_week int NOT NULL,
    to_org text NOT NULL,
    measure text NOT NULL,
    days int NOT NULL,
    referrals bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (span, first_week, to_org, measure, days)
);

-- What is already summed by week, summed by block (rows that add up to
-- nothing left out, as the fold never writes them).
INSERT INTO pathway_org_blocks (span, first_week, from_org, to_org, referrals, accepted,
                                declined, withdrawn, waiting)
SELECT * FROM (
    SELECT s.span, trellis_week_block(trellis_week_index(w.week), s.span), w.from_org, w.to_org,
           sum(w.referrals) AS referrals, sum(w.accepted) AS accepted,
           sum(w.declined) AS declined, sum(w.withdrawn) AS withdrawn, sum(w.waiting) AS waiting
    FROM pathway_org_weekly w, (VALUES (4), (16), (64)) AS s(span)
    GROUP BY 1, 2, 3, 4) x
WHERE (referrals, accepted, declined, withdrawn, waiting) <> (0, 0, 0, 0, 0);

INSERT INTO pathway_reasons_blocks (span, first_week, to_org, reason, declines)
SELECT s.span, trellis_week_block(trellis_week_index(w.week), s.span), w.to_org, w.reason,
       sum(w.declines)
FROM pathway_reasons_weekly w, (VALUES (4), (16), (64)) AS s(span)
GROUP BY 1, 2, 3, 4
HAVING sum(w.declines) <> 0;

INSERT INTO pathway_days_blocks (span, first_week, to_org, measure, days, referrals)
SELECT s.span, trellis_week_block(trellis_week_index(w.week), s.span), w.to_org, w.measure,
       w.days, sum(w.referrals)
FROM pathway_days_weekly w, (VALUES (4), (16), (64)) AS s(span)
GROUP BY 1, 2, 3, 4, 5
HAVING sum(w.referrals) <> 0;
