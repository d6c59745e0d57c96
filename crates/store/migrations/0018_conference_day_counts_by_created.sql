-- The per-day counts of conferences in DateCreated day order, as the
-- calls have (0012): a DateCreated filter's total and its seek's day sums
-- (src/day_counts.rs) then read only the days its bounds name, instead of
-- every day row of the account in DateUpdated order.
CREATE INDEX conference_day_counts_by_created
    ON conference_day_counts (account_sid, day, status, updated_day, n);
