-- 018: the pathways page's sums travel as lines of text, not JSON
-- (sql/functions/17_trellis_pathway_page.sql says why), so the function that
-- names the services of kept sums reads text: its JSON signature goes.
DROP FUNCTION IF EXISTS trellis_pathway_names(json);
