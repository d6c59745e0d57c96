-- The per-day counts of 0011 for calls: how many of an account's calls
-- have each status, DateCreated day and DateUpdated day. The Calls lists
-- (2010-04-01 newest DateCreated first, 2008-08-01 newest DateUpdated
-- first) take their totals from them and seek a deep page through them,
-- as the Conferences list does (src/day_counts.rs, src/call_lists.rs).
-- The writes of src/calls.rs keep them.
CREATE TABLE call_day_counts (
    account_sid TEXT   NOT NULL,
    status      BIGINT NOT NULL,
    day         BIGINT NOT NULL,
    updated_day BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, status, day, updated_day)
);
INSERT INTO call_day_counts (account_sid, status, day, updated_day, n)
    SELECT account_sid, status, day, updated_day, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 86400000000
                    ELSE -((-date_created - 1) / 86400000000) - 1 END AS day,
               CASE WHEN date_updated >= 0 THEN date_updated / 86400000000
                    ELSE -((-date_updated - 1) / 86400000000) - 1 END AS updated_day
        FROM calls
    ) AS by_day
    GROUP BY account_sid, status, day, updated_day;
-- Each list's seek walks one of these in its own day order, reading `n`
-- from the index alone.
CREATE INDEX call_day_counts_by_created
    ON call_day_counts (account_sid, day, status, updated_day, n);
CREATE INDEX call_day_counts_by_updated
    ON call_day_counts (account_sid, updated_day, status, day, n);
