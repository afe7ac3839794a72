-- trellis_apply: a batch pulled from a peer and that peer's cursor, in one
-- transaction (docs/federation.md). The cursor moves only if it is still
-- where the batch was read from, and never backwards, but for one case: the
-- peer's feed went back (went_back_to, sql/007), and the batch was read from
-- the point where it resumed. Otherwise nothing is applied (SQLSTATE TR001)
-- and the pull loop reads the cursor again. epoch is the epoch of the peer's
-- feed the batch came from (NULL from a node that has none). Each stored
-- record remembers the organisation of the peer it came from (via, read by
-- the tables' defaults from trellis.via): the feed never offers it back
-- (split horizon, sql/005).
CREATE OR REPLACE FUNCTION trellis_apply(peer text, peer_org text, since bigint, next bigint,
                                         epoch uuid, went_back_to bigint, idxs int[],
                                         kinds text[], ids uuid[], origins text[],
                                         versions bigint[], hashes text[], docs jsonb[])
RETURNS TABLE (idx int, decision text, kind text)
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(7310002, hashtext(peer));
    INSERT INTO peer_cursors AS c (peer) VALUES (peer) ON CONFLICT DO NOTHING;
    UPDATE peer_cursors AS c SET cursor = next, last_pull = now(),
            epoch = coalesce(trellis_apply.epoch, c.epoch),
            went_back_from = CASE WHEN trellis_apply.went_back_to IS NULL THEN c.went_back_from
                                  ELSE since END,
            went_back_to = coalesce(trellis_apply.went_back_to, c.went_back_to),
            went_back_epoch = CASE WHEN trellis_apply.went_back_to IS NULL THEN c.went_back_epoch
                                   ELSE trellis_apply.epoch END,
            went_back_at = CASE WHEN trellis_apply.went_back_to IS NULL THEN c.went_back_at
                                ELSE now() END
        WHERE c.peer = trellis_apply.peer AND c.cursor = since
            AND (next >= since OR (trellis_apply.went_back_to IS NOT NULL
                                   AND next >= trellis_apply.went_back_to));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cursor of peer % is not at %', peer, since USING ERRCODE = 'TR001';
    END IF;
    PERFORM set_config('trellis.via', peer_org, true);
    RETURN QUERY SELECT * FROM trellis_store(idxs, kinds, ids, origins, versions, hashes, docs,
                                             true);
END
$fn$;
