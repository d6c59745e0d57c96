-- Several confab nodes on one PostgreSQL (docs/scaling.md). SQLite gets the
-- same tables and never writes them: one process owns a SQLite file.
--
-- A node's lease: the row it renews every couple of seconds. A node whose
-- lease ran out is dead: another ends its rooms and calls and deletes the
-- row (src/nodes.rs).
CREATE TABLE nodes (
    node_id    TEXT   NOT NULL PRIMARY KEY,
    -- Where callers are redirected to reach its rooms (`host:port`), or
    -- NULL if it has no address other nodes can give out.
    sip_addr   TEXT,
    renewed_at BIGINT NOT NULL
);
-- Which node a live room runs on, by the name callers join it by: the first
-- node to insert the row owns the room until the conference completes (the
-- row goes) or the node dies (its rows go).
CREATE TABLE room_claims (
    account_sid   TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    PRIMARY KEY (account_sid, friendly_name)
);
CREATE INDEX room_claims_by_node ON room_claims (node_id);
-- The node that handles each call (NULL: a single-node server's).
ALTER TABLE calls ADD COLUMN node_id TEXT;
CREATE INDEX live_calls_by_node ON calls (node_id, status) WHERE status IN (0, 1, 6);
