-- PostgreSQL only: migrations-sqlite/0023 is the same step in SQLite's
-- words, and says what the hour counts are for.
--
-- `n` is in no index and half of each page is free, so a count's update
-- stays on its row's page and writes no index entry (HOT), as the day
-- counts' do (0019).
CREATE TABLE conference_hour_counts (
    account_sid TEXT   NOT NULL,
    clock       BIGINT NOT NULL CHECK (clock IN (0, 1)),
    hour        BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, hour, clock, status)
) WITH (fillfactor = 50);
CREATE TABLE call_hour_counts (
    account_sid TEXT   NOT NULL,
    clock       BIGINT NOT NULL CHECK (clock IN (0, 1)),
    hour        BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, hour, clock, status)
) WITH (fillfactor = 50);
