-- 003: federation. Each node pulls from its peers (server/sync_pull.c) and
-- stores what it pulled, and that peer's cursor, in one transaction.

-- Where this node is in each peer's change feed. Moved only forward, and only
-- by the transaction that applies the batch it read (trellis_apply).
CREATE TABLE peer_cursors (
    peer text PRIMARY KEY,
    cursor bigint NOT NULL DEFAULT 0,
    last_pull timestamptz
);

-- Certificates that signed records this node holds (its own, and those of
-- other organisations' nodes, fetched from peers with GET /v1/fed/certs/{fp}
-- and verified against the consortium root before they are kept).
CREATE TABLE signer_certs (
    fingerprint text PRIMARY KEY,
    org text NOT NULL,
    pem text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- trellis_store gains "replicating". From its own agents a node refuses an
-- event whose referral it does not know, or from an organisation outside the
-- referral (and likewise for feedback responses). Records pulled from peers
-- can arrive before what they refer to (an event relayed by one peer, its
-- referral by another): refusing them would lose them, since the cursor moves
-- on. So they are stored, their signatures having proved their origin, and
-- the views count only events from the referral's parties.
DROP FUNCTION IF EXISTS trellis_store(jsonb, jsonb, jsonb, jsonb, jsonb);

CREATE FUNCTION trellis_store(services jsonb, referrals jsonb, events jsonb, entries jsonb,
                              responses jsonb, replicating boolean)
RETURNS TABLE (idx int, decision text, kind text)
LANGUAGE plpgsql AS $fn$
DECLARE
    before record;
    after record;
BEGIN
    -- Serialise writers of the change log until commit (see the top of this file).
    PERFORM pg_advisory_xact_lock(7310001);
    SELECT last_value, is_called INTO before FROM trellis_change_seq;

    -- directory.service: mutable, replaced by a higher version from its origin.
    RETURN QUERY
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(services)
            AS e(i int, id uuid, origin text, version bigint, hash text, doc jsonb)),
    decided AS (
        SELECT n.*, CASE
            WHEN t.id IS NULL THEN 'new'
            WHEN t.origin <> n.origin THEN 'foreign'
            WHEN n.version > t.version THEN 'newer'
            WHEN n.version = t.version AND n.hash = t.hash THEN 'same'
            WHEN n.version = t.version THEN 'conflict'
            ELSE 'older' END AS decision
        FROM input n LEFT JOIN directory_services t ON t.id = n.id),
    stored AS (
        INSERT INTO directory_services AS t (id, origin, version, hash, seq, doc, name, status,
            organization_id, minimum_age, maximum_age, confidential, taking_referrals,
            self_referral, needs, risk_levels, for_genders, accessibility, taxonomy_terms,
            last_modified, search)
        SELECT d.id, d.origin, d.version, d.hash, nextval('trellis_change_seq'), d.doc,
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
            to_tsvector('english', coalesce(s->>'name', '') || ' ' || coalesce(s->>'description', ''))
        FROM decided d, LATERAL (SELECT d.doc->'body' AS s) body
        WHERE d.decision IN ('new', 'newer')
        ORDER BY d.i
        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash,
            seq = EXCLUDED.seq, stored_at = now(), doc = EXCLUDED.doc, name = EXCLUDED.name,
            status = EXCLUDED.status, organization_id = EXCLUDED.organization_id,
            minimum_age = EXCLUDED.minimum_age, maximum_age = EXCLUDED.maximum_age,
            confidential = EXCLUDED.confidential, taking_referrals = EXCLUDED.taking_referrals,
            self_referral = EXCLUDED.self_referral, needs = EXCLUDED.needs,
            risk_levels = EXCLUDED.risk_levels, for_genders = EXCLUDED.for_genders,
            accessibility = EXCLUDED.accessibility, taxonomy_terms = EXCLUDED.taxonomy_terms,
            last_modified = EXCLUDED.last_modified, search = EXCLUDED.search
        WHERE t.version < EXCLUDED.version AND t.origin = EXCLUDED.origin
        RETURNING 1)
    SELECT d.i, d.decision, 'directory.service'::text FROM decided d,
        (SELECT count(*) FROM stored) AS done(n);

    -- pathway.referral: written once.
    RETURN QUERY
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(referrals)
            AS e(i int, id uuid, origin text, version bigint, hash text, doc jsonb)),
    decided AS (
        SELECT n.*, CASE
            WHEN t.id IS NULL THEN 'new'
            WHEN t.origin <> n.origin THEN 'foreign'
            WHEN t.hash = n.hash THEN 'same'
            ELSE 'write_once' END AS decision
        FROM input n LEFT JOIN pathway_referrals t ON t.id = n.id),
    stored AS (
        INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service,
            to_service, week, needs, risk, age_band, district, route)
        SELECT d.id, d.origin, d.version, d.hash, nextval('trellis_change_seq'), d.doc,
            (s->>'from_service')::uuid, (s->>'to_service')::uuid, s->>'week',
            ARRAY(SELECT jsonb_array_elements_text(s->'needs')), s->>'risk', s->>'age_band',
            s->>'district', s->>'route'
        FROM decided d, LATERAL (SELECT d.doc->'body' AS s) body
        WHERE d.decision = 'new'
        ORDER BY d.i
        RETURNING 1)
    SELECT d.i, d.decision, 'pathway.referral'::text FROM decided d,
        (SELECT count(*) FROM stored) AS done(n);

    -- pathway.event: written once, and only by the referral's sender (its
    -- origin) or receiver (the origin of the directory service it was sent to).
    RETURN QUERY
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(events)
            AS e(i int, id uuid, origin text, version bigint, hash text, doc jsonb)),
    decided AS (
        SELECT n.*, CASE
            WHEN t.id IS NOT NULL AND t.origin <> n.origin THEN 'foreign'
            WHEN t.id IS NOT NULL AND t.hash = n.hash THEN 'same'
            WHEN t.id IS NOT NULL THEN 'write_once'
            WHEN NOT replicating AND r.id IS NULL THEN 'no_referral'
            WHEN NOT replicating AND n.origin <> r.origin
                AND n.origin IS DISTINCT FROM ds.origin THEN 'not_party'
            ELSE 'new' END AS decision
        FROM input n
            LEFT JOIN pathway_events t ON t.id = n.id
            LEFT JOIN pathway_referrals r ON r.id = (n.doc->'body'->>'referral')::uuid
            LEFT JOIN directory_services ds ON ds.id = r.to_service),
    stored AS (
        INSERT INTO pathway_events (id, origin, version, hash, seq, doc, referral, status,
            reason, days)
        SELECT d.id, d.origin, d.version, d.hash, nextval('trellis_change_seq'), d.doc,
            (s->>'referral')::uuid, s->>'status', s->>'reason', (s->>'days')::int
        FROM decided d, LATERAL (SELECT d.doc->'body' AS s) body
        WHERE d.decision = 'new'
        ORDER BY d.i
        RETURNING 1)
    SELECT d.i, d.decision, 'pathway.event'::text FROM decided d,
        (SELECT count(*) FROM stored) AS done(n);

    -- feedback.entry: written once.
    RETURN QUERY
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(entries)
            AS e(i int, id uuid, origin text, version bigint, hash text, doc jsonb)),
    decided AS (
        SELECT n.*, CASE
            WHEN t.id IS NULL THEN 'new'
            WHEN t.origin <> n.origin THEN 'foreign'
            WHEN t.hash = n.hash THEN 'same'
            ELSE 'write_once' END AS decision
        FROM input n LEFT JOIN feedback_entries t ON t.id = n.id),
    stored AS (
        INSERT INTO feedback_entries (id, origin, version, hash, seq, doc, week, source_role,
            themes, level)
        SELECT d.id, d.origin, d.version, d.hash, nextval('trellis_change_seq'), d.doc,
            s->>'week', s->>'source_role', ARRAY(SELECT jsonb_array_elements_text(s->'themes')),
            s->>'level'
        FROM decided d, LATERAL (SELECT d.doc->'body' AS s) body
        WHERE d.decision = 'new'
        ORDER BY d.i
        RETURNING 1)
    SELECT d.i, d.decision, 'feedback.entry'::text FROM decided d,
        (SELECT count(*) FROM stored) AS done(n);

    -- feedback.response: written once, answering an entry of its own organisation.
    RETURN QUERY
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(responses)
            AS e(i int, id uuid, origin text, version bigint, hash text, doc jsonb)),
    decided AS (
        SELECT n.*, CASE
            WHEN t.id IS NOT NULL AND t.origin <> n.origin THEN 'foreign'
            WHEN t.id IS NOT NULL AND t.hash = n.hash THEN 'same'
            WHEN t.id IS NOT NULL THEN 'write_once'
            WHEN NOT replicating AND f.id IS NULL THEN 'no_entry'
            WHEN NOT replicating AND f.origin <> n.origin THEN 'not_party'
            ELSE 'new' END AS decision
        FROM input n
            LEFT JOIN feedback_responses t ON t.id = n.id
            LEFT JOIN feedback_entries f ON f.id = (n.doc->'body'->>'entry')::uuid),
    stored AS (
        INSERT INTO feedback_responses (id, origin, version, hash, seq, doc, entry, week, status)
        SELECT d.id, d.origin, d.version, d.hash, nextval('trellis_change_seq'), d.doc,
            (s->>'entry')::uuid, s->>'week', s->>'status'
        FROM decided d, LATERAL (SELECT d.doc->'body' AS s) body
        WHERE d.decision = 'new'
        ORDER BY d.i
        RETURNING 1)
    SELECT d.i, d.decision, 'feedback.response'::text FROM decided d,
        (SELECT count(*) FROM stored) AS done(n);

    -- Something stored: wake long-polls on every process serving this database.
    SELECT last_value, is_called INTO after FROM trellis_change_seq;
    IF after IS DISTINCT FROM before THEN
        PERFORM pg_notify('trellis_changes', '');
    END IF;
END
$fn$;

-- Apply a batch pulled from peer: the records (as trellis_store takes them)
-- and the peer's cursor, in one transaction. since is the cursor the batch
-- was read from: if another process has moved the cursor meanwhile, nothing
-- is applied (SQLSTATE TR001) and the caller reads the cursor again, so no
-- batch is applied twice and no cursor moves backwards.
CREATE FUNCTION trellis_apply(peer text, since bigint, next bigint, services jsonb,
                              referrals jsonb, events jsonb, entries jsonb, responses jsonb)
RETURNS TABLE (idx int, decision text, kind text)
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(7310002, hashtext(peer));
    INSERT INTO peer_cursors AS c (peer) VALUES (peer) ON CONFLICT DO NOTHING;
    UPDATE peer_cursors AS c SET cursor = next, last_pull = now()
        WHERE c.peer = trellis_apply.peer AND c.cursor = since AND next >= since;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cursor of peer % is not at %', peer, since USING ERRCODE = 'TR001';
    END IF;
    RETURN QUERY SELECT * FROM trellis_store(services, referrals, events, entries, responses, true);
END
$fn$;
