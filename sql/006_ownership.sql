-- 006: ids owned per origin, the origin's sharing decision, and the
-- referral's receiving organisation (the hardening of docs/federation.md).
--
-- Ids are owned per origin: a record is (kind, id, origin), so an id one
-- organisation took first can never block another's record (before, the
-- second was refused as 'foreign', and a hostile member could squat ids).
-- A directory service whose id another origin already holds is stored but
-- marked shadowed: the public Open Referral view shows the first holder only.
--
-- audience is the origin's sharing decision, signed into the record: NULL
-- for records signed before it existed (never relayed), {*} for the whole
-- consortium, or the organisations it is shared with.
--
-- trellis_store and trellis_apply are dropped here and defined, as they are
-- now, in sql/functions/ (applied after the migrations at every start).

ALTER TABLE directory_services DROP CONSTRAINT directory_services_pkey,
    ADD PRIMARY KEY (id, origin);
ALTER TABLE pathway_referrals DROP CONSTRAINT pathway_referrals_pkey,
    ADD PRIMARY KEY (id, origin);
ALTER TABLE pathway_events DROP CONSTRAINT pathway_events_pkey,
    ADD PRIMARY KEY (id, origin);
ALTER TABLE feedback_entries DROP CONSTRAINT feedback_entries_pkey,
    ADD PRIMARY KEY (id, origin);
ALTER TABLE feedback_responses DROP CONSTRAINT feedback_responses_pkey,
    ADD PRIMARY KEY (id, origin);

-- The record's audience as a column the feed can filter on.
CREATE FUNCTION trellis_audience(doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE jsonb_typeof(doc->'audience')
        WHEN 'string' THEN ARRAY['*']
        WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(doc->'audience'))
        ELSE NULL END
$fn$;

ALTER TABLE directory_services ADD COLUMN audience text[];
ALTER TABLE pathway_referrals ADD COLUMN audience text[];
ALTER TABLE pathway_events ADD COLUMN audience text[];
ALTER TABLE feedback_entries ADD COLUMN audience text[];
ALTER TABLE feedback_responses ADD COLUMN audience text[];
-- Without 005's via trigger: it would take this update for a new version and
-- set via to NULL, so a relayed service would look like this node's own
-- (tests/integration/test_migrations.py found it).
ALTER TABLE directory_services DISABLE TRIGGER directory_services_via;
UPDATE directory_services SET audience = trellis_audience(doc) WHERE doc ? 'audience';
ALTER TABLE directory_services ENABLE TRIGGER directory_services_via;
UPDATE pathway_referrals SET audience = trellis_audience(doc) WHERE doc ? 'audience';
UPDATE pathway_events SET audience = trellis_audience(doc) WHERE doc ? 'audience';
UPDATE feedback_entries SET audience = trellis_audience(doc) WHERE doc ? 'audience';
UPDATE feedback_responses SET audience = trellis_audience(doc) WHERE doc ? 'audience';

ALTER TABLE directory_services ADD COLUMN shadowed boolean NOT NULL DEFAULT false;
ALTER TABLE pathway_referrals ADD COLUMN to_org text;
UPDATE pathway_referrals SET to_org = doc->'body'->>'to_org';
CREATE INDEX pathway_referrals_to_org ON pathway_referrals (to_org, week);
CREATE INDEX pathway_events_referral_origin ON pathway_events (referral, origin);

CREATE OR REPLACE VIEW trellis_changes AS
    SELECT seq, 'directory.service'::text AS kind, id, origin, doc, via, audience
        FROM directory_services
    UNION ALL
    SELECT seq, 'pathway.referral', id, origin, doc, via, audience FROM pathway_referrals
    UNION ALL
    SELECT seq, 'pathway.event', id, origin, doc, via, audience FROM pathway_events
    UNION ALL
    SELECT seq, 'feedback.entry', id, origin, doc, via, audience FROM feedback_entries
    UNION ALL
    SELECT seq, 'feedback.response', id, origin, doc, via, audience FROM feedback_responses;

DROP FUNCTION trellis_apply(text, text, bigint, bigint, int[], text[], uuid[], text[], bigint[],
                            text[], jsonb[]);
DROP FUNCTION trellis_store(int[], text[], uuid[], text[], bigint[], text[], jsonb[], boolean);
