-- The per-day counts of 0005, split once more by the UTC day of each
-- conference's DateUpdated (`updated_day`, the same expression as `day`).
-- The Conferences list is ordered by DateUpdated, so these counts say how
-- many of a list's rows lie in each DateUpdated day: a page deep in the
-- list (page=N) sums them to find the day its first row falls on and
-- walks the index from that day, skipping only rows of that one day,
-- instead of `OFFSET N*50` over every row before it (src/reads.rs). They
-- also total a DateUpdated filter without counting rows. The writes that
-- move a conference's status or DateUpdated keep them (src/changes.rs).
DROP TABLE conference_day_counts;
CREATE TABLE conference_day_counts (
    account_sid TEXT   NOT NULL,
    status      BIGINT NOT NULL CHECK (status IN (0, 1, 2)),
    day         BIGINT NOT NULL,
    updated_day BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, status, day, updated_day)
);
INSERT INTO conference_day_counts (account_sid, status, day, updated_day, n)
    SELECT account_sid, status, day, updated_day, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 86400000000
                    ELSE -((-date_created - 1) / 86400000000) - 1 END AS day,
               CASE WHEN date_updated >= 0 THEN date_updated / 86400000000
                    ELSE -((-date_updated - 1) / 86400000000) - 1 END AS updated_day
        FROM conferences
    ) AS by_day
    GROUP BY account_sid, status, day, updated_day;
-- Both hold `n`, so every sum reads an index alone: the first for a Status
-- (and DateCreated) filter, the second walks an account's rows already in
-- DateUpdated-day order for the unfiltered list.
CREATE INDEX conference_day_counts_sums
    ON conference_day_counts (account_sid, status, day, updated_day, n);
CREATE INDEX conference_day_counts_by_updated
    ON conference_day_counts (account_sid, updated_day, status, day, n);
