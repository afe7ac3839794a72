-- 020: pathway sums also by aligned block of 2, 8 and 32 weeks, besides
-- 017's 4, 16 and 64, so that a period is cut into fewer pieces (issue 9:
-- a fresh pathways page of a year at 1,000,000 referrals spent most of its
-- PostgreSQL time adding up ~9,000 organisation rows and ~8,400 histogram
-- rows from 8.3 pieces on average; with every power of two up to 64 a year
-- is 5.7 pieces, at most 8, so a third fewer rows). The tables are 017's
-- (span is a column); the fold (sql/functions/15) writes the new spans
-- from now on and trellis_pathway_cover (sql/functions/16) reads them.

-- What is already summed by week, summed by the new blocks (rows that add
-- up to nothing left out, as in 017). The new spans are worked out from
-- the weeks alone: any rows of them already there (a database filled from
-- a newer one's rows, as test_migrations does) are replaced, not added to.
DELETE FROM pathway_org_blocks WHERE span IN (2, 8, 32);
DELETE FROM pathway_reasons_blocks WHERE span IN (2, 8, 32);
DELETE FROM pathway_days_blocks WHERE span IN (2, 8, 32);

INSERT INTO pathway_org_blocks (span, first_week, from_org, to_org, referrals, accepted,
                                declined, withdrawn, waiting)
SELECT * FROM (
    SELECT s.span, trellis_week_block(trellis_week_index(w.week), s.span), w.from_org, w.to_org,
           sum(w.referrals) AS referrals, sum(w.accepted) AS accepted,
           sum(w.declined) AS declined, sum(w.withdrawn) AS withdrawn, sum(w.waiting) AS waiting
    FROM pathway_org_weekly w, (VALUES (2), (8), (32)) AS s(span)
    GROUP BY 1, 2, 3, 4) x
WHERE (referrals, accepted, declined, withdrawn, waiting) <> (0, 0, 0, 0, 0);

INSERT INTO pathway_reasons_blocks (span, first_week, to_org, reason, declines)
SELECT s.span, trellis_week_block(trellis_week_index(w.week), s.span), w.to_org, w.reason,
       sum(w.declines)
FROM pathway_reasons_weekly w, (VALUES (2), (8), (32)) AS s(span)
GROUP BY 1, 2, 3, 4
HAVING sum(w.declines) <> 0;

INSERT INTO pathway_days_blocks (span, first_week, to_org, measure, days, referrals)
SELECT s.span, trellis_week_block(trellis_week_index(w.week), s.span), w.to_org, w.measure,
       w.days, sum(w.referrals)
FROM pathway_days_weekly w, (VALUES (2), (8), (32)) AS s(span)
GROUP BY 1, 2, 3, 4, 5
HAVING sum(w.referrals) <> 0;
