-- Summing a year of day counts (three statuses a day) must not visit each
-- table row for its `n`: this index holds `n`, so the sums of
-- src/reads.rs read the index alone, on SQLite and PostgreSQL.
CREATE INDEX conference_day_counts_sums
    ON conference_day_counts (account_sid, status, day, n);
