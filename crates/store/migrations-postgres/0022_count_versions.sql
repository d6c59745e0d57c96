-- PostgreSQL only: migrations-sqlite/0022 is the same step in SQLite's
-- words, and says what the versions are for.
--
-- `version` is in no index and half of each page is free, so its update
-- stays on the row's page and writes no index entry (HOT), as the counts'
-- do (0019).
CREATE TABLE count_versions (
    account_sid TEXT   NOT NULL,
    counts      TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (account_sid, counts)
) WITH (fillfactor = 50);

-- Every account already counted starts at version 1.
INSERT INTO count_versions (account_sid, counts, version)
    SELECT DISTINCT account_sid, 'conference_day_counts', 1 FROM conference_day_counts;
INSERT INTO count_versions (account_sid, counts, version)
    SELECT DISTINCT account_sid, 'call_day_counts', 1 FROM call_day_counts;
