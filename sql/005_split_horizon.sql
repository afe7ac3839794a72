-- 005: split horizon. Each stored record remembers the peer organisation it
-- was pulled from (via; NULL for records this node's own agents wrote), and
-- the change feed does not offer a peer what came from that peer. Without
-- it, in a chain A - B - C, C offered B every record of A's that B had just
-- relayed to it, and B checked each signature again only to find it
-- unchanged: a second transfer and the dearest check, for nothing.
--
-- trellis_apply sets the transaction-local setting trellis.via to the
-- peer's organisation; the column's default reads it, so trellis_store's
-- inserts need no change. A directory service replaced by a newer version
-- takes the via of the version that replaced it (trigger below): the peer it
-- used to come from may not have the new version yet, and must be offered it.

ALTER TABLE directory_services ADD COLUMN via text
    DEFAULT nullif(current_setting('trellis.via', true), '');
ALTER TABLE pathway_referrals ADD COLUMN via text
    DEFAULT nullif(current_setting('trellis.via', true), '');
ALTER TABLE pathway_events ADD COLUMN via text
    DEFAULT nullif(current_setting('trellis.via', true), '');
ALTER TABLE feedback_entries ADD COLUMN via text
    DEFAULT nullif(current_setting('trellis.via', true), '');
ALTER TABLE feedback_responses ADD COLUMN via text
    DEFAULT nullif(current_setting('trellis.via', true), '');

CREATE FUNCTION trellis_via_on_update() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.via := nullif(current_setting('trellis.via', true), '');
    RETURN NEW;
END
$fn$;

CREATE TRIGGER directory_services_via BEFORE UPDATE ON directory_services
    FOR EACH ROW EXECUTE FUNCTION trellis_via_on_update();

CREATE OR REPLACE VIEW trellis_changes AS
    SELECT seq, 'directory.service'::text AS kind, id, origin, doc, via FROM directory_services
    UNION ALL
    SELECT seq, 'pathway.referral', id, origin, doc, via FROM pathway_referrals
    UNION ALL
    SELECT seq, 'pathway.event', id, origin, doc, via FROM pathway_events
    UNION ALL
    SELECT seq, 'feedback.entry', id, origin, doc, via FROM feedback_entries
    UNION ALL
    SELECT seq, 'feedback.response', id, origin, doc, via FROM feedback_responses;

-- As in 004, and the peer's organisation for via.
DROP FUNCTION trellis_apply(text, bigint, bigint, int[], text[], uuid[], text[], bigint[],
                            text[], jsonb[]);

CREATE FUNCTION trellis_apply(peer text, peer_org text, since bigint, next bigint, idxs int[],
                              kinds text[], ids uuid[], origins text[], versions bigint[],
                              hashes text[], docs jsonb[])
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
    PERFORM set_config('trellis.via', peer_org, true);
    RETURN QUERY SELECT * FROM trellis_store(idxs, kinds, ids, origins, versions, hashes, docs,
                                             true);
END
$fn$;
