-- The Conferences page walks an index in (date_updated DESC, sid) order and
-- stops after LIMIT rows (see src/reads.rs). DateCreated and Status filters
-- are then checked on each entry; carrying those columns in the walking
-- indexes lets the check read the index entry instead of the table row.
DROP INDEX conferences_by_updated;
CREATE INDEX conferences_by_updated
    ON conferences (account_sid, date_updated DESC, sid, date_created, status);
DROP INDEX conferences_by_status_updated;
CREATE INDEX conferences_by_status_updated
    ON conferences (account_sid, status, date_updated DESC, sid, date_created);
