-- SQLite only: migrations-postgres/0023 is the same step in PostgreSQL's
-- words.
--
-- Each account's conferences and calls by status and by the UTC hour of
-- their DateCreated (`clock` 0) and of their DateUpdated (`clock` 1),
-- kept by the same transactions as the day counts (src/day_counts.rs).
-- A deep page finds its first row's day from the day counts and then
-- skipped up to half of that day's rows in the index (about 1,300 at a
-- million rows a year); it now starts at the hour of that day its page
-- begins in, by the day's hour sums, and skips only within that hour
-- (src/guides.rs `hour_start`, src/cached.rs). The counts' version
-- (0022) covers these counts too.
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
-- Migration 0024 fills them from the rows, on both backends.
