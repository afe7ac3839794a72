-- trellis_store: store a batch of validated records in one call (one round
-- trip, one transaction), as seven arrays with one element per record
-- (index in the request, kind, id, origin, version, content hash, signed
-- document), bound in binary by server/record_arrays.c. Returns one row per
-- record with the decision taken (server/api_records.c and sync_pull.c turn
-- it into a result):
--   new, newer         stored (newer: a higher version of a mutable record)
--   same, older        unchanged
--   conflict           refused: another body at the same version
--   write_once         refused: a write-once kind's (id, origin) holds another body
--   no_referral, no_entry   refused: what it refers to is not on this node
--   not_party          refused: an event from outside the referral, or a
--                      response from another organisation than the entry's
--   not_your_service   refused: a referral's from_service is not a service of
--                      the referral's origin
--   not_to_org         refused: to_service is known here only as another
--                      organisation's service than to_org
-- A record is (kind, id, origin): ids are owned per origin (sql/006).
-- Each record's current row is looked up by a LATERAL probe of the primary
-- key, never a join the planner may choose to hash: a hash join reads the
-- whole table for every batch, so ingest slowed as the table grew
-- (docs/benchmarks.md, ingest).
-- With replicating (records pulled from peers, their origin proved by
-- signature) what a record refers to may not have arrived yet, so only what
-- is known to be wrong is refused; the views count only the parties' events.
--
-- The change log's writers are serialised: every writer takes the advisory
-- lock below before it takes a sequence number and holds it to commit, so
-- numbers become visible strictly in order (sql/002). Kinds are stored in
-- dependency order, so an event may refer to a referral in the same batch.
--
-- The pathway sums (sql/009) are folded once, at the end, for the referrals
-- the batch stored and those its events belong to; the tables' statement
-- triggers step aside meanwhile (trellis.fold, sql/functions/15).
CREATE OR REPLACE FUNCTION trellis_store(idxs int[], kinds text[], ids uuid[], origins text[],
                                         versions bigint[], hashes text[], docs jsonb[],
                                         replicating boolean)
RETURNS TABLE (idx int, decision text, kind text)
LANGUAGE plpgsql AS $fn$
DECLARE
    before record;
    after record;
    dec text[]; -- per input record: the decision, NULL for other kinds
    fold_ids uuid[]; -- the referrals whose pathway facts to fold again
    fold_origins text[];
    -- The kinds of which something was stored, for the NOTIFY below: a node
    -- keeps the viewer's figures of the other kinds (server/feed.c).
    stored_kinds text[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(7310001);
    PERFORM set_config('trellis.fold', 'store', true);
    SELECT last_value, is_called INTO before FROM trellis_change_seq;

    -- directory.service: mutable, replaced by a higher version from its origin.
    IF 'directory.service' = ANY (kinds) THEN
        dec := ARRAY(
            SELECT CASE
                WHEN n.k <> 'directory.service' THEN NULL
                WHEN t.id IS NULL THEN 'new'
                WHEN n.version > t.version THEN 'newer'
                WHEN n.version = t.version AND n.hash = t.hash THEN 'same'
                WHEN n.version = t.version THEN 'conflict'
                ELSE 'older' END
            FROM unnest(kinds, ids, origins, versions, hashes) WITH ORDINALITY
                AS n(k, id, origin, version, hash, ord)
                LEFT JOIN LATERAL (SELECT t.id, t.version, t.hash FROM directory_services t
                    WHERE n.k = 'directory.service' AND t.id = n.id AND t.origin = n.origin
                    LIMIT 1) t ON true
            ORDER BY n.ord);
        RETURN QUERY SELECT d.i, d.dec, 'directory.service'::text
            FROM unnest(idxs, dec) AS d(i, dec) WHERE d.dec IS NOT NULL;
        INSERT INTO directory_services AS t (id, origin, version, hash, seq, doc, name, status,
            organization_id, minimum_age, maximum_age, confidential, taking_referrals,
            self_referral, needs, risk_levels, for_genders, accessibility, taxonomy_terms,
            last_modified, search, audience, shadowed)
        SELECT n.id, n.origin, n.version, n.hash, nextval('trellis_change_seq'), n.doc,
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
            to_tsvector('english', coalesce(s->>'name', '') || ' ' || coalesce(s->>'description', '')),
            trellis_audience(n.doc),
            EXISTS (SELECT 1 FROM directory_services o WHERE o.id = n.id AND o.origin <> n.origin)
        FROM unnest(idxs, ids, origins, versions, hashes, docs, dec)
            AS n(i, id, origin, version, hash, doc, dec), LATERAL (SELECT n.doc->'body' AS s) body
        WHERE n.dec IN ('new', 'newer')
        ORDER BY n.i
        ON CONFLICT (id, origin) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash,
            seq = EXCLUDED.seq, stored_at = now(), doc = EXCLUDED.doc, name = EXCLUDED.name,
            status = EXCLUDED.status, organization_id = EXCLUDED.organization_id,
            minimum_age = EXCLUDED.minimum_age, maximum_age = EXCLUDED.maximum_age,
            confidential = EXCLUDED.confidential, taking_referrals = EXCLUDED.taking_referrals,
            self_referral = EXCLUDED.self_referral, needs = EXCLUDED.needs,
            risk_levels = EXCLUDED.risk_levels, for_genders = EXCLUDED.for_genders,
            accessibility = EXCLUDED.accessibility, taxonomy_terms = EXCLUDED.taxonomy_terms,
            last_modified = EXCLUDED.last_modified, search = EXCLUDED.search,
            audience = EXCLUDED.audience
        WHERE t.version < EXCLUDED.version;
        IF 'new' = ANY (dec) OR 'newer' = ANY (dec) THEN
            stored_kinds := stored_kinds || 'directory.service'::text;
        END IF;
    END IF;

    -- pathway.referral: written once, from a service of its origin.
    IF 'pathway.referral' = ANY (kinds) THEN
        dec := ARRAY(
            SELECT CASE
                WHEN n.k <> 'pathway.referral' THEN NULL
                WHEN t.id IS NOT NULL AND t.hash = n.hash THEN 'same'
                WHEN t.id IS NOT NULL THEN 'write_once'
                ELSE (SELECT CASE
                        WHEN NOT EXISTS (SELECT 1 FROM directory_services f
                                WHERE f.id = fs AND f.origin = n.origin)
                            AND (NOT replicating
                                 OR EXISTS (SELECT 1 FROM directory_services f WHERE f.id = fs))
                            THEN 'not_your_service'
                        WHEN NOT EXISTS (SELECT 1 FROM directory_services s
                                WHERE s.id = ts AND s.origin = n.doc->'body'->>'to_org')
                            AND EXISTS (SELECT 1 FROM directory_services s WHERE s.id = ts)
                            THEN 'not_to_org'
                        ELSE 'new' END
                    FROM (SELECT (n.doc->'body'->>'from_service')::uuid AS fs,
                                 (n.doc->'body'->>'to_service')::uuid AS ts) AS refs)
                END
            FROM unnest(kinds, ids, origins, hashes, docs) WITH ORDINALITY
                AS n(k, id, origin, hash, doc, ord)
                LEFT JOIN LATERAL (SELECT t.id, t.hash FROM pathway_referrals t
                    WHERE n.k = 'pathway.referral' AND t.id = n.id AND t.origin = n.origin
                    LIMIT 1) t ON true
            ORDER BY n.ord);
        RETURN QUERY SELECT d.i, d.dec, 'pathway.referral'::text
            FROM unnest(idxs, dec) AS d(i, dec) WHERE d.dec IS NOT NULL;
        WITH stored AS (
            INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service,
                to_service, to_org, week, needs, risk, age_band, district, route, audience)
            SELECT n.id, n.origin, n.version, n.hash, nextval('trellis_change_seq'), n.doc,
                (s->>'from_service')::uuid, (s->>'to_service')::uuid, s->>'to_org', s->>'week',
                ARRAY(SELECT jsonb_array_elements_text(s->'needs')), s->>'risk', s->>'age_band',
                s->>'district', s->>'route', trellis_audience(n.doc)
            FROM unnest(idxs, ids, origins, versions, hashes, docs, dec)
                AS n(i, id, origin, version, hash, doc, dec),
                LATERAL (SELECT n.doc->'body' AS s) body
            WHERE n.dec = 'new'
            ORDER BY n.i
            RETURNING id, origin)
        SELECT array_agg(id), array_agg(origin) INTO fold_ids, fold_origins FROM stored;
        IF 'new' = ANY (dec) THEN
            stored_kinds := stored_kinds || 'pathway.referral'::text;
        END IF;
    END IF;

    -- pathway.event: written once, and only by a party of the referral: its
    -- sender (the referral's origin) or its receiver (its to_org). Several
    -- referrals may share an id (one per origin); the event belongs to those
    -- it is a party of.
    IF 'pathway.event' = ANY (kinds) THEN
        dec := ARRAY(
            SELECT CASE
                WHEN n.k <> 'pathway.event' THEN NULL
                WHEN t.id IS NOT NULL AND t.hash = n.hash THEN 'same'
                WHEN t.id IS NOT NULL THEN 'write_once'
                WHEN replicating THEN 'new'
                WHEN NOT EXISTS (SELECT 1 FROM pathway_referrals r
                        WHERE r.id = (n.doc->'body'->>'referral')::uuid) THEN 'no_referral'
                WHEN NOT EXISTS (SELECT 1 FROM pathway_referrals r
                        WHERE r.id = (n.doc->'body'->>'referral')::uuid
                            AND (r.origin = n.origin OR r.to_org = n.origin)) THEN 'not_party'
                ELSE 'new' END
            FROM unnest(kinds, ids, origins, hashes, docs) WITH ORDINALITY
                AS n(k, id, origin, hash, doc, ord)
                LEFT JOIN LATERAL (SELECT t.id, t.hash FROM pathway_events t
                    WHERE n.k = 'pathway.event' AND t.id = n.id AND t.origin = n.origin
                    LIMIT 1) t ON true
            ORDER BY n.ord);
        RETURN QUERY SELECT d.i, d.dec, 'pathway.event'::text
            FROM unnest(idxs, dec) AS d(i, dec) WHERE d.dec IS NOT NULL;
        -- The referrals the stored events count for: those whose parties
        -- wrote them (one per origin holding the id).
        WITH stored AS (
            INSERT INTO pathway_events (id, origin, version, hash, seq, doc, referral, status,
                reason, days, audience)
            SELECT n.id, n.origin, n.version, n.hash, nextval('trellis_change_seq'), n.doc,
                (s->>'referral')::uuid, s->>'status', s->>'reason', (s->>'days')::int,
                trellis_audience(n.doc)
            FROM unnest(idxs, ids, origins, versions, hashes, docs, dec)
                AS n(i, id, origin, version, hash, doc, dec),
                LATERAL (SELECT n.doc->'body' AS s) body
            WHERE n.dec = 'new'
            ORDER BY n.i
            RETURNING referral, origin)
        SELECT fold_ids || array_agg(r.id), fold_origins || array_agg(r.origin)
            INTO fold_ids, fold_origins
        FROM (SELECT DISTINCT referral, origin FROM stored) e
        JOIN LATERAL (SELECT r.id, r.origin FROM pathway_referrals r
                      WHERE r.id = e.referral AND (e.origin = r.origin OR e.origin = r.to_org)) r
            ON true;
        IF 'new' = ANY (dec) THEN
            stored_kinds := stored_kinds || 'pathway.event'::text;
        END IF;
    END IF;

    -- feedback.entry: written once.
    IF 'feedback.entry' = ANY (kinds) THEN
        dec := ARRAY(
            SELECT CASE
                WHEN n.k <> 'feedback.entry' THEN NULL
                WHEN t.id IS NULL THEN 'new'
                WHEN t.hash = n.hash THEN 'same'
                ELSE 'write_once' END
            FROM unnest(kinds, ids, origins, hashes) WITH ORDINALITY AS n(k, id, origin, hash, ord)
                LEFT JOIN LATERAL (SELECT t.id, t.hash FROM feedback_entries t
                    WHERE n.k = 'feedback.entry' AND t.id = n.id AND t.origin = n.origin
                    LIMIT 1) t ON true
            ORDER BY n.ord);
        RETURN QUERY SELECT d.i, d.dec, 'feedback.entry'::text
            FROM unnest(idxs, dec) AS d(i, dec) WHERE d.dec IS NOT NULL;
        INSERT INTO feedback_entries (id, origin, version, hash, seq, doc, week, source_role,
            themes, level, audience)
        SELECT n.id, n.origin, n.version, n.hash, nextval('trellis_change_seq'), n.doc,
            s->>'week', s->>'source_role', ARRAY(SELECT jsonb_array_elements_text(s->'themes')),
            s->>'level', trellis_audience(n.doc)
        FROM unnest(idxs, ids, origins, versions, hashes, docs, dec)
            AS n(i, id, origin, version, hash, doc, dec), LATERAL (SELECT n.doc->'body' AS s) body
        WHERE n.dec = 'new'
        ORDER BY n.i;
        IF 'new' = ANY (dec) THEN
            stored_kinds := stored_kinds || 'feedback.entry'::text;
        END IF;
    END IF;

    -- feedback.response: written once, answering an entry of its own organisation.
    IF 'feedback.response' = ANY (kinds) THEN
        dec := ARRAY(
            SELECT CASE
                WHEN n.k <> 'feedback.response' THEN NULL
                WHEN t.id IS NOT NULL AND t.hash = n.hash THEN 'same'
                WHEN t.id IS NOT NULL THEN 'write_once'
                WHEN replicating THEN 'new'
                WHEN EXISTS (SELECT 1 FROM feedback_entries f
                        WHERE f.id = (n.doc->'body'->>'entry')::uuid AND f.origin = n.origin)
                    THEN 'new'
                WHEN EXISTS (SELECT 1 FROM feedback_entries f
                        WHERE f.id = (n.doc->'body'->>'entry')::uuid) THEN 'not_party'
                ELSE 'no_entry' END
            FROM unnest(kinds, ids, origins, hashes, docs) WITH ORDINALITY
                AS n(k, id, origin, hash, doc, ord)
                LEFT JOIN LATERAL (SELECT t.id, t.hash FROM feedback_responses t
                    WHERE n.k = 'feedback.response' AND t.id = n.id AND t.origin = n.origin
                    LIMIT 1) t ON true
            ORDER BY n.ord);
        RETURN QUERY SELECT d.i, d.dec, 'feedback.response'::text
            FROM unnest(idxs, dec) AS d(i, dec) WHERE d.dec IS NOT NULL;
        INSERT INTO feedback_responses (id, origin, version, hash, seq, doc, entry, week, status,
            audience)
        SELECT n.id, n.origin, n.version, n.hash, nextval('trellis_change_seq'), n.doc,
            (s->>'entry')::uuid, s->>'week', s->>'status', trellis_audience(n.doc)
        FROM unnest(idxs, ids, origins, versions, hashes, docs, dec)
            AS n(i, id, origin, version, hash, doc, dec), LATERAL (SELECT n.doc->'body' AS s) body
        WHERE n.dec = 'new'
        ORDER BY n.i;
        IF 'new' = ANY (dec) THEN
            stored_kinds := stored_kinds || 'feedback.response'::text;
        END IF;
    END IF;

    IF fold_ids IS NOT NULL THEN
        PERFORM trellis_pathway_refresh(fold_ids, fold_origins);
    END IF;
    PERFORM set_config('trellis.fold', '', true);

    -- Something stored: wake long-polls on every process serving this
    -- database, and tell them the kinds stored ("pathway.referral,
    -- pathway.event"; "" for unknown, which drops every cached figure).
    SELECT last_value, is_called INTO after FROM trellis_change_seq;
    IF after IS DISTINCT FROM before THEN
        PERFORM pg_notify('trellis_changes', array_to_string(stored_kinds, ','));
    END IF;
END
$fn$;
