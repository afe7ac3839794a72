-- bench_viewer.sh: what each part of the pathways page's query costs, one
-- year (:from .. :to) and the busiest pair, each part run once before its
-- EXPLAIN so that its buffers are warm (as under the benchmark's load).
\set ON_ERROR_STOP 1
\pset pager off
SELECT from_org AS f, to_org AS t FROM trellis_pathway_org_sums(:'from', :'to')
ORDER BY referrals DESC, from_org, to_org LIMIT 1 \gset
\echo --- organisation flows and outcomes (trellis_pathway_org_sums)
SELECT count(*) FROM trellis_pathway_org_sums(:'from', :'to') WHERE referrals > 0;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT * FROM trellis_pathway_org_sums(:'from', :'to') WHERE referrals > 0;
\echo --- service flows of the busiest pair (trellis_pathway_service_sums)
SELECT count(*) FROM trellis_pathway_service_sums(:'from', :'to', :'f', :'t') WHERE referrals > 0;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT * FROM trellis_pathway_service_sums(:'from', :'to', :'f', :'t') WHERE referrals > 0;
\echo --- decline reasons (trellis_pathway_reasons_sums)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT reason, sum(declines) FROM trellis_pathway_reasons_sums(:'from', :'to') GROUP BY reason;
\echo --- days histograms behind the medians (trellis_pathway_days_sums)
SELECT count(*) FROM trellis_pathway_days_sums(:'from', :'to') WHERE referrals > 0;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT * FROM trellis_pathway_days_sums(:'from', :'to') WHERE referrals > 0;
\echo --- the services waiting longest (pathway_facts_waiting)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT f.to_org, f.to_service, min(f.week) AS oldest FROM (SELECT to_org, to_service, week
    FROM pathway_facts WHERE outcome = 'waiting' AND week BETWEEN :'from' AND :'to'
    ORDER BY week LIMIT 2000) f
GROUP BY 1, 2 ORDER BY 3, 1, 2 LIMIT 20;
