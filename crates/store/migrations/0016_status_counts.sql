-- Each account's conferences and calls by status, all days together: the
-- per-day counts of 0011 and 0012 summed over their days, kept by the same
-- writes. The most read lists (none filtered, or by Status alone) take
-- their total from here, a handful of rows, instead of summing every day
-- row of the account: over a year of a million calls that sum reads 1,864
-- rows, 125 µs alone, a page's largest statement (src/day_counts.rs).
CREATE TABLE conference_status_counts (
    account_sid TEXT   NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, status)
);
INSERT INTO conference_status_counts (account_sid, status, n)
    SELECT account_sid, status, SUM(n) FROM conference_day_counts
    GROUP BY account_sid, status;
CREATE TABLE call_status_counts (
    account_sid TEXT   NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, status)
);
INSERT INTO call_status_counts (account_sid, status, n)
    SELECT account_sid, status, SUM(n) FROM call_day_counts
    GROUP BY account_sid, status;
