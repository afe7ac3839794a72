-- 007: a feed that can go back (docs/federation.md, "Restores and
-- failovers"). A database restored from a backup, recovered to a point in
-- time or failed over to a replica that was behind hands out sequence numbers
-- its peers have already passed. Like PostgreSQL's timelines, the feed has an
-- identity, its epoch, and a history of them: the node starts a new epoch at
-- every start (trellis_feed_epoch_new), at the head it finds, so the history
-- says up to which sequence number each past epoch is common with the
-- current one. A peer names the epoch its cursor is in, and the feed resumes
-- from the last common point (trellis_feed_resume).

CREATE TABLE trellis_feed_epochs (
    n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    epoch uuid NOT NULL UNIQUE,
    start_seq bigint NOT NULL, -- the head when it began: everything up to it is common with its parent
    started_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO trellis_feed_epochs (epoch, start_seq)
    VALUES (gen_random_uuid(),
            coalesce((SELECT seq FROM trellis_changes ORDER BY seq DESC LIMIT 1), 0));

-- The puller's side: the epoch of the peer's feed its cursor is in, and the
-- last time the peer's feed went back (shown in /v1/fed/status, and told
-- to the peer in its own feed's replies so that it learns it went back even
-- when this node noticed first).
ALTER TABLE peer_cursors ADD COLUMN epoch uuid,
    ADD COLUMN went_back_from bigint,
    ADD COLUMN went_back_to bigint,
    ADD COLUMN went_back_epoch uuid,
    ADD COLUMN went_back_at timestamptz;

-- trellis_apply takes the epoch now: defined in sql/functions/20_trellis_apply.sql
-- (the old one exists only in a database that has run since 006).
DROP FUNCTION IF EXISTS trellis_apply(text, text, bigint, bigint, int[], text[], uuid[], text[], bigint[],
                            text[], jsonb[]);
