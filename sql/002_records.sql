-- 002: the three kinds of data. One table per record kind, the whole envelope
-- as jsonb plus the columns that filters need, extracted and indexed.
--
-- The local change log is the column `seq` of every kind table: each record
-- stored or superseded takes the next value of trellis_change_seq, so the
-- log holds one entry per record, its latest (like CouchDB's by-sequence
-- index). Readers page through it with `seq > cursor`.
--
-- Sequence order is not commit order: two writers can take 10 and 11 and
-- commit 11 first, and a reader that moved past 11 would never see 10. So
-- every writer takes the transaction-scoped advisory lock below before it
-- takes a sequence number, and holds it until it commits: sequence numbers
-- become visible strictly in order, and a reader's snapshot always holds a
-- gap-free prefix of the log (gaps left by rolled-back writers are never
-- filled, which is harmless).

CREATE SEQUENCE trellis_change_seq AS bigint;

CREATE TABLE directory_services (
    id uuid PRIMARY KEY,
    origin text NOT NULL,
    version bigint NOT NULL,
    hash text NOT NULL,
    seq bigint NOT NULL UNIQUE,
    stored_at timestamptz NOT NULL DEFAULT now(),
    doc jsonb NOT NULL,
    name text NOT NULL,
    status text NOT NULL,
    organization_id uuid,
    minimum_age int,
    maximum_age int,
    confidential boolean NOT NULL,
    taking_referrals boolean,
    self_referral boolean,
    needs text[] NOT NULL DEFAULT '{}',
    risk_levels text[] NOT NULL DEFAULT '{}',
    for_genders text[] NOT NULL DEFAULT '{}',
    accessibility text[] NOT NULL DEFAULT '{}',
    taxonomy_terms text[] NOT NULL DEFAULT '{}',
    last_modified timestamptz,
    search tsvector NOT NULL
);
CREATE INDEX directory_services_origin ON directory_services (origin);
CREATE INDEX directory_services_org ON directory_services (organization_id);
CREATE INDEX directory_services_needs ON directory_services USING gin (needs);
CREATE INDEX directory_services_terms ON directory_services USING gin (taxonomy_terms);
CREATE INDEX directory_services_search ON directory_services USING gin (search);
CREATE INDEX directory_services_modified ON directory_services (last_modified);

CREATE TABLE pathway_referrals (
    id uuid PRIMARY KEY,
    origin text NOT NULL,
    version bigint NOT NULL,
    hash text NOT NULL,
    seq bigint NOT NULL UNIQUE,
    stored_at timestamptz NOT NULL DEFAULT now(),
    doc jsonb NOT NULL,
    from_service uuid NOT NULL,
    to_service uuid NOT NULL,
    week text NOT NULL,
    needs text[] NOT NULL,
    risk text NOT NULL,
    age_band text NOT NULL,
    district text NOT NULL,
    route text NOT NULL
);
CREATE INDEX pathway_referrals_origin ON pathway_referrals (origin, week);
CREATE INDEX pathway_referrals_to ON pathway_referrals (to_service, week);
CREATE INDEX pathway_referrals_from ON pathway_referrals (from_service, week);

CREATE TABLE pathway_events (
    id uuid PRIMARY KEY,
    origin text NOT NULL,
    version bigint NOT NULL,
    hash text NOT NULL,
    seq bigint NOT NULL UNIQUE,
    stored_at timestamptz NOT NULL DEFAULT now(),
    doc jsonb NOT NULL,
    referral uuid NOT NULL,
    status text NOT NULL,
    reason text,
    days int NOT NULL
);
CREATE INDEX pathway_events_referral ON pathway_events (referral);

CREATE TABLE feedback_entries (
    id uuid PRIMARY KEY,
    origin text NOT NULL,
    version bigint NOT NULL,
    hash text NOT NULL,
    seq bigint NOT NULL UNIQUE,
    stored_at timestamptz NOT NULL DEFAULT now(),
    doc jsonb NOT NULL,
    week text NOT NULL,
    source_role text NOT NULL,
    themes text[] NOT NULL,
    level text NOT NULL
);
CREATE INDEX feedback_entries_origin ON feedback_entries (origin, week);
CREATE INDEX feedback_entries_themes ON feedback_entries USING gin (themes);

CREATE TABLE feedback_responses (
    id uuid PRIMARY KEY,
    origin text NOT NULL,
    version bigint NOT NULL,
    hash text NOT NULL,
    seq bigint NOT NULL UNIQUE,
    stored_at timestamptz NOT NULL DEFAULT now(),
    doc jsonb NOT NULL,
    entry uuid NOT NULL,
    week text NOT NULL,
    status text NOT NULL
);
CREATE INDEX feedback_responses_entry ON feedback_responses (entry);

-- The change log across kinds, in sequence order.
CREATE VIEW trellis_changes AS
    SELECT seq, 'directory.service'::text AS kind, id, origin, doc FROM directory_services
    UNION ALL
    SELECT seq, 'pathway.referral', id, origin, doc FROM pathway_referrals
    UNION ALL
    SELECT seq, 'pathway.event', id, origin, doc FROM pathway_events
    UNION ALL
    SELECT seq, 'feedback.entry', id, origin, doc FROM feedback_entries
    UNION ALL
    SELECT seq, 'feedback.response', id, origin, doc FROM feedback_responses;

-- Store a batch of validated records in one call (one round trip, one
-- transaction). One array per kind, each [{"i": index in the request, "id",
-- "origin", "version", "hash", "doc"}, ...], already validated by the node
-- (proto/), without duplicate ids. (Arrays per kind, so that each statement
-- below reads only its own records: one pass over the input, not five.) Returns one row per input with the
-- decision taken (the node turns it into the API's result):
--   new, newer        stored (newer: a higher version of a mutable record)
--   same, older       unchanged
--   foreign           refused: the id belongs to another organisation
--   conflict          refused: another body at the same version
--   write_once        refused: a write-once kind's id is taken by another body
--   no_referral, no_entry   refused: what it refers to is not on this node
--   not_party         refused: an event from outside the referral, or a
--                     response from another organisation than the entry's
-- Kinds are stored in dependency order, each by one set-based statement, so
-- an event can refer to a referral in the same batch.
CREATE FUNCTION trellis_store(services jsonb, referrals jsonb, events jsonb, entries jsonb,
                              responses jsonb)
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
            WHEN r.id IS NULL THEN 'no_referral'
            WHEN n.origin <> r.origin AND n.origin IS DISTINCT FROM ds.origin THEN 'not_party'
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
            WHEN f.id IS NULL THEN 'no_entry'
            WHEN f.origin <> n.origin THEN 'not_party'
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
