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
-- transaction). batch: [{"i": index in the request, "kind", "id", "origin",
-- "version", "hash", "doc"}, ...], already validated by the node (proto/),
-- without duplicate (kind, id) pairs. Returns one row per input:
--   stored     new, or a higher version of a mutable record from its origin
--   unchanged  the same version again (same hash), or an older version
--   refused    with a reason: another origin's record, a conflicting body at
--              the same version, a second write of a write-once record, an
--              event from an organisation that neither sent nor received the
--              referral, a response from another organisation than the entry's
-- Kinds are stored in dependency order, each by one set-based statement, so
-- an event can refer to a referral in the same batch.
CREATE FUNCTION trellis_store(batch jsonb)
RETURNS TABLE (idx int, result text, code text, reason text)
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Serialise writers of the change log until commit (see the top of this file).
    PERFORM pg_advisory_xact_lock(7310001);

    CREATE TEMP TABLE IF NOT EXISTS trellis_batch (
        i int, kind text, id uuid, origin text, version bigint, hash text, doc jsonb,
        decision text, why text
    ) ON COMMIT DELETE ROWS;
    DELETE FROM trellis_batch;
    INSERT INTO trellis_batch (i, kind, id, origin, version, hash, doc)
    SELECT (e->>'i')::int, e->>'kind', (e->>'id')::uuid, e->>'origin',
           (e->>'version')::bigint, e->>'hash', e->'doc'
    FROM jsonb_array_elements(batch) AS e;

    -- directory.service: mutable, replaced by a higher version from its origin.
    UPDATE trellis_batch b SET decision = CASE
            WHEN t.id IS NULL THEN 'new'
            WHEN t.origin <> b.origin THEN 'foreign'
            WHEN b.version > t.version THEN 'newer'
            WHEN b.version = t.version AND b.hash = t.hash THEN 'same'
            WHEN b.version = t.version THEN 'conflict'
            ELSE 'older' END
    FROM trellis_batch b2 LEFT JOIN directory_services t ON t.id = b2.id
    WHERE b.kind = 'directory.service' AND b2.i = b.i;

    INSERT INTO directory_services AS t (id, origin, version, hash, seq, doc, name, status,
        organization_id, minimum_age, maximum_age, confidential, taking_referrals, self_referral,
        needs, risk_levels, for_genders, accessibility, taxonomy_terms, last_modified, search)
    SELECT b.id, b.origin, b.version, b.hash, nextval('trellis_change_seq'), b.doc,
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
    FROM trellis_batch b, LATERAL (SELECT b.doc->'body' AS s) body
    WHERE b.kind = 'directory.service' AND b.decision IN ('new', 'newer')
    ORDER BY b.i
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash,
        seq = EXCLUDED.seq, stored_at = now(), doc = EXCLUDED.doc, name = EXCLUDED.name,
        status = EXCLUDED.status, organization_id = EXCLUDED.organization_id,
        minimum_age = EXCLUDED.minimum_age, maximum_age = EXCLUDED.maximum_age,
        confidential = EXCLUDED.confidential, taking_referrals = EXCLUDED.taking_referrals,
        self_referral = EXCLUDED.self_referral, needs = EXCLUDED.needs,
        risk_levels = EXCLUDED.risk_levels, for_genders = EXCLUDED.for_genders,
        accessibility = EXCLUDED.accessibility, taxonomy_terms = EXCLUDED.taxonomy_terms,
        last_modified = EXCLUDED.last_modified, search = EXCLUDED.search
    WHERE t.version < EXCLUDED.version AND t.origin = EXCLUDED.origin;

    -- The write-once kinds: new, or the same record again, or refused.
    UPDATE trellis_batch b SET decision = CASE
            WHEN t.id IS NULL THEN 'new'
            WHEN t.origin <> b.origin THEN 'foreign'
            WHEN t.hash = b.hash THEN 'same'
            ELSE 'write_once' END
    FROM trellis_batch b2 LEFT JOIN pathway_referrals t ON t.id = b2.id
    WHERE b.kind = 'pathway.referral' AND b2.i = b.i;

    INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service, to_service,
        week, needs, risk, age_band, district, route)
    SELECT b.id, b.origin, b.version, b.hash, nextval('trellis_change_seq'), b.doc,
        (s->>'from_service')::uuid, (s->>'to_service')::uuid, s->>'week',
        ARRAY(SELECT jsonb_array_elements_text(s->'needs')), s->>'risk', s->>'age_band',
        s->>'district', s->>'route'
    FROM trellis_batch b, LATERAL (SELECT b.doc->'body' AS s) body
    WHERE b.kind = 'pathway.referral' AND b.decision = 'new'
    ORDER BY b.i;

    -- An event may be written only by the referral's sender (its origin) or
    -- its receiver (the origin of the directory service it was sent to).
    UPDATE trellis_batch b SET decision = CASE
            WHEN t.id IS NOT NULL AND t.origin <> b.origin THEN 'foreign'
            WHEN t.id IS NOT NULL AND t.hash = b.hash THEN 'same'
            WHEN t.id IS NOT NULL THEN 'write_once'
            WHEN r.id IS NULL THEN 'no_referral'
            WHEN b.origin <> r.origin AND b.origin IS DISTINCT FROM ds.origin THEN 'not_party'
            ELSE 'new' END
    FROM trellis_batch b2
        LEFT JOIN pathway_events t ON t.id = b2.id
        LEFT JOIN pathway_referrals r ON r.id = (b2.doc->'body'->>'referral')::uuid
        LEFT JOIN directory_services ds ON ds.id = r.to_service
    WHERE b.kind = 'pathway.event' AND b2.i = b.i;

    INSERT INTO pathway_events (id, origin, version, hash, seq, doc, referral, status, reason, days)
    SELECT b.id, b.origin, b.version, b.hash, nextval('trellis_change_seq'), b.doc,
        (s->>'referral')::uuid, s->>'status', s->>'reason', (s->>'days')::int
    FROM trellis_batch b, LATERAL (SELECT b.doc->'body' AS s) body
    WHERE b.kind = 'pathway.event' AND b.decision = 'new'
    ORDER BY b.i;

    UPDATE trellis_batch b SET decision = CASE
            WHEN t.id IS NULL THEN 'new'
            WHEN t.origin <> b.origin THEN 'foreign'
            WHEN t.hash = b.hash THEN 'same'
            ELSE 'write_once' END
    FROM trellis_batch b2 LEFT JOIN feedback_entries t ON t.id = b2.id
    WHERE b.kind = 'feedback.entry' AND b2.i = b.i;

    INSERT INTO feedback_entries (id, origin, version, hash, seq, doc, week, source_role, themes,
        level)
    SELECT b.id, b.origin, b.version, b.hash, nextval('trellis_change_seq'), b.doc,
        s->>'week', s->>'source_role', ARRAY(SELECT jsonb_array_elements_text(s->'themes')),
        s->>'level'
    FROM trellis_batch b, LATERAL (SELECT b.doc->'body' AS s) body
    WHERE b.kind = 'feedback.entry' AND b.decision = 'new'
    ORDER BY b.i;

    -- A response answers an entry of its own organisation.
    UPDATE trellis_batch b SET decision = CASE
            WHEN t.id IS NOT NULL AND t.origin <> b.origin THEN 'foreign'
            WHEN t.id IS NOT NULL AND t.hash = b.hash THEN 'same'
            WHEN t.id IS NOT NULL THEN 'write_once'
            WHEN e.id IS NULL THEN 'no_entry'
            WHEN e.origin <> b.origin THEN 'not_party'
            ELSE 'new' END
    FROM trellis_batch b2
        LEFT JOIN feedback_responses t ON t.id = b2.id
        LEFT JOIN feedback_entries e ON e.id = (b2.doc->'body'->>'entry')::uuid
    WHERE b.kind = 'feedback.response' AND b2.i = b.i;

    INSERT INTO feedback_responses (id, origin, version, hash, seq, doc, entry, week, status)
    SELECT b.id, b.origin, b.version, b.hash, nextval('trellis_change_seq'), b.doc,
        (s->>'entry')::uuid, s->>'week', s->>'status'
    FROM trellis_batch b, LATERAL (SELECT b.doc->'body' AS s) body
    WHERE b.kind = 'feedback.response' AND b.decision = 'new'
    ORDER BY b.i;

    IF EXISTS (SELECT 1 FROM trellis_batch WHERE decision IN ('new', 'newer')) THEN
        -- Wake long-polls on every process that serves this database.
        PERFORM pg_notify('trellis_changes', '');
    END IF;

    RETURN QUERY
    SELECT b.i,
        CASE WHEN b.decision IN ('new', 'newer') THEN 'stored'
             WHEN b.decision IN ('same', 'older') THEN 'unchanged'
             ELSE 'refused' END,
        CASE WHEN b.decision IN ('new', 'newer', 'same', 'older') THEN NULL ELSE b.decision END,
        CASE b.decision
            WHEN 'foreign' THEN 'a record with this id belongs to another organisation'
            WHEN 'conflict' THEN 'a different body was already stored at this version'
            WHEN 'write_once' THEN 'records of this kind are written once; this id is taken'
            WHEN 'no_referral' THEN 'the referral of this event is not known to this node'
            WHEN 'no_entry' THEN 'the feedback entry of this response is not known to this node'
            WHEN 'not_party' THEN CASE b.kind
                WHEN 'pathway.event' THEN
                    'only the referral''s sending or receiving organisation may add events'
                ELSE 'only the organisation that received the feedback may respond' END
            ELSE NULL END
    FROM trellis_batch b ORDER BY b.i;
END
$fn$;
