-- The feed's epochs (sql/007): starting one, resuming a reader in an older
-- one, and telling whether a peer has seen more of this node's feed than the
-- database now holds.

-- A new epoch at the current head, under the change log's writer lock
-- (sql/002): no writer holds a sequence number at or below the head that it
-- has not committed, so everything up to it is common with the epoch before.
-- The head is the highest sequence number a record holds, not the
-- sequence's own value: after a crash or a point-in-time recovery the
-- sequence may stand up to 32 ahead of the last record (PostgreSQL logs
-- sequences ahead), and a peer may have seen records in that stretch.
CREATE OR REPLACE FUNCTION trellis_feed_epoch_new()
RETURNS TABLE (epoch uuid, n bigint, start_seq bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(7310001);
    RETURN QUERY
    INSERT INTO trellis_feed_epochs AS e (epoch, start_seq)
        VALUES (gen_random_uuid(),
                coalesce((SELECT c.seq FROM trellis_changes c ORDER BY c.seq DESC LIMIT 1), 0))
        RETURNING e.epoch, e.n, e.start_seq;
END
$fn$;

-- Where a reader at cursor since in epoch reader_epoch resumes: since in the
-- current epoch (or when it names none); in an older epoch of the history,
-- the lowest of since and the start of every epoch after it (each start is
-- where the feed may have gone back to); 0 for an epoch this database never
-- had (a restore from before it began): a full scan, applied idempotently.
CREATE OR REPLACE FUNCTION trellis_feed_resume(reader_epoch uuid, since bigint)
RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT CASE
        WHEN reader_epoch IS NULL THEN since
        WHEN NOT EXISTS (SELECT 1 FROM trellis_feed_epochs WHERE epoch = reader_epoch) THEN 0
        ELSE least(since, coalesce((SELECT min(later.start_seq) FROM trellis_feed_epochs later
                                    WHERE later.n > (SELECT n FROM trellis_feed_epochs
                                                     WHERE epoch = reader_epoch)), since))
        END
$fn$;

-- Has a peer seen more of this node's feed than this database holds? Its
-- cursor on us (peer_cursor in peer_epoch) lies past where it would resume or past our
-- head, or it
-- already found our feed went back (went_back_epoch) in an epoch begun since
-- this process started (since_epoch).
CREATE OR REPLACE FUNCTION trellis_feed_went_back(peer_epoch uuid, peer_cursor bigint,
                                                  went_back_epoch uuid, since_epoch uuid)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT (peer_epoch IS NOT NULL AND trellis_feed_resume(peer_epoch, peer_cursor) < peer_cursor)
        OR peer_cursor > coalesce((SELECT seq FROM trellis_changes ORDER BY seq DESC LIMIT 1), 0)
        OR coalesce((SELECT w.n >= s.n FROM trellis_feed_epochs w, trellis_feed_epochs s
                     WHERE w.epoch = went_back_epoch AND s.epoch = since_epoch), false)
$fn$;
