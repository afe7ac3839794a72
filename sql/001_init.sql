-- 001: what the node needs to start. Applied by trellisd at start-up under an
-- advisory lock, in one transaction, and recorded in trellis_schema_migrations
-- (which the node creates itself). Later issues add tables in new numbered files.

-- Facts about this database's node, as key/value pairs (for example the
-- organisation that owns it). No personal data here.
CREATE TABLE trellis_node (
    key text PRIMARY KEY,
    value text NOT NULL
);
