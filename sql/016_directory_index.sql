-- 016: what tells a node's in-memory directory index (server/dir_index.c)
-- that it must load everything again.
--
-- The index takes changes by seq (directory_services.seq, unique, indexed):
-- every store of a new or higher version takes the next one. What does not
-- take one moves this counter instead, in the same transaction, so a reader
-- whose snapshot holds the change also holds the counter's new value: a
-- service deleted, a row updated in place without a new seq (a shadowed
-- flag that flips, UPDATE ... SET doc = doc placing services again), and
-- the postcode lookup replaced (directory_places moves with it).
CREATE TABLE trellis_directory_epoch (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n bigint NOT NULL
);
INSERT INTO trellis_directory_epoch (n) VALUES (1);

CREATE FUNCTION trellis_directory_epoch_bump() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE trellis_directory_epoch SET n = n + 1;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER directory_services_epoch_delete AFTER DELETE OR TRUNCATE ON directory_services
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_directory_epoch_bump();
-- Per row, but only for an update that kept its seq: a store (a new seq)
-- never fires it.
CREATE TRIGGER directory_services_epoch_update AFTER UPDATE ON directory_services
    FOR EACH ROW WHEN (OLD.seq = NEW.seq) EXECUTE FUNCTION trellis_directory_epoch_bump();
CREATE TRIGGER postcodes_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON postcodes
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_directory_epoch_bump();
CREATE TRIGGER postcode_areas_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON postcode_areas
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_directory_epoch_bump();
