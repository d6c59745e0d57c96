-- SQLite only: migrations-postgres/0023 is the same step in PostgreSQL's
-- words.
--
-- Each account's conferences and calls by status and by the UTC hour of
-- their DateCreated (`clock` 0) and of their DateUpdated (`clock` 1),
-- kept by the same transactions as the day counts (src/day_counts.rs).
-- A deep page finds its first row's day from the day counts and then
-- skipped up to half of that day's rows in the index (about 1,300 at a
-- million rows a year); it now sums the day's hours in its own statement
-- and skips only within one hour (src/cached.rs).
--
-- The hour is floor(microseconds / 3,600,000,000), so hour 24 * d is the
-- first of day d. Without a rowid the primary key holds `n`: a day's
-- hours are read from the key alone. The hour comes before the clock: a
-- new row counts in the same hour of both clocks, two rows side by side,
-- so its transaction writes one page of this table, not two.
CREATE TABLE conference_hour_counts (
    account_sid TEXT   NOT NULL,
    clock       BIGINT NOT NULL CHECK (clock IN (0, 1)),
    hour        BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, hour, clock, status)
) WITHOUT ROWID;
CREATE TABLE call_hour_counts (
    account_sid TEXT   NOT NULL,
    clock       BIGINT NOT NULL CHECK (clock IN (0, 1)),
    hour        BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, hour, clock, status)
) WITHOUT ROWID;
INSERT INTO conference_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 0, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 3600000000
                    ELSE -((-date_created - 1) / 3600000000) - 1 END AS hour
        FROM conferences
    ) AS by_hour
    GROUP BY account_sid, hour, status;
INSERT INTO conference_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 1, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_updated >= 0 THEN date_updated / 3600000000
                    ELSE -((-date_updated - 1) / 3600000000) - 1 END AS hour
        FROM conferences
    ) AS by_hour
    GROUP BY account_sid, hour, status;
INSERT INTO call_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 0, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 3600000000
                    ELSE -((-date_created - 1) / 3600000000) - 1 END AS hour
        FROM calls
    ) AS by_hour
    GROUP BY account_sid, hour, status;
INSERT INTO call_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 1, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_updated >= 0 THEN date_updated / 3600000000
                    ELSE -((-date_updated - 1) / 3600000000) - 1 END AS hour
        FROM calls
    ) AS by_hour
    GROUP BY account_sid, hour, status;
