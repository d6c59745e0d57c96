-- SQLite only: migrations-postgres/0022 is the same step in PostgreSQL's
-- words.
--
-- Each account's per-day counts of conferences and of calls (`counts`:
-- the day counts' table) have a version, bumped by every transaction that
-- changes any of those counts or their totals by status
-- (src/day_counts.rs, `CountDeltas::write` and `recount_all`). A list's
-- remembered day sums (src/guides.rs) are read with the version in one
-- statement; while the version is the same, they are still exact, and a
-- deep page takes its total and the rows before its days from them
-- instead of summing a year of day rows again (src/cached.rs).
--
-- No row is ever deleted: a version never starts over. An account without
-- a row has no version, and its pages sum their day rows as before.
CREATE TABLE count_versions (
    account_sid TEXT   NOT NULL,
    counts      TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (account_sid, counts)
);

-- Every account already counted starts at version 1.
INSERT INTO count_versions (account_sid, counts, version)
    SELECT DISTINCT account_sid, 'conference_day_counts', 1 FROM conference_day_counts;
INSERT INTO count_versions (account_sid, counts, version)
    SELECT DISTINCT account_sid, 'call_day_counts', 1 FROM call_day_counts;
