-- A message to another node too long for a PostgreSQL NOTIFY payload (under
-- 8,000 bytes): stored here, and the NOTIFY carries only its id; the node it
-- is for takes it out (src/nodes.rs). SQLite gets the table and never
-- writes it.
CREATE TABLE node_messages (
    id        TEXT   NOT NULL PRIMARY KEY,
    payload   TEXT   NOT NULL,
    stored_at BIGINT NOT NULL
);
