-- The per-status counts of 0004, split by the UTC day each conference was
-- created (day = floor(date_created / 86,400,000,000 µs)). A conference's
-- day never changes, so the same writes keep these counts, and a
-- Conferences list filtered by Status and DateCreated (whose bounds are
-- whole UTC days) sums at most a few hundred day rows for its `total`
-- instead of counting thousands of index entries.
DROP TABLE conference_counts;
CREATE TABLE conference_day_counts (
    account_sid TEXT   NOT NULL,
    status      BIGINT NOT NULL CHECK (status IN (0, 1, 2)),
    day         BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, status, day)
);
INSERT INTO conference_day_counts (account_sid, status, day, n)
    SELECT account_sid, status, day, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 86400000000
                    ELSE -((-date_created - 1) / 86400000000) - 1 END AS day
        FROM conferences
    ) AS by_day
    GROUP BY account_sid, status, day;
