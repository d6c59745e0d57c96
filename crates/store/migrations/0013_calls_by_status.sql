-- The Calls lists filtered by Status (2010-04-01 `Status=busy`, the
-- 2008-08-01 codes that name several statuses). Without the status in an
-- index, a page read every call of the other statuses from the table to
-- skip it (46 ms for a page of busy calls among a million).
--
-- With one status, a shallow page walks that status's own index in list
-- order, one each for the two orders.
CREATE INDEX calls_by_status_created
    ON calls (account_sid, status, date_created DESC, sid);
CREATE INDEX calls_by_status_updated
    ON calls (account_sid, status, date_updated DESC, sid);
-- A deeper page (src/call_lists.rs) reads within the one day the per-day
-- counts name, where SQLite walks the day's range of the order's own index
-- (it has no statistics to prefer the status's); carrying the status there
-- checks it from the index entry, never the table row.
DROP INDEX calls_by_created;
CREATE INDEX calls_by_created
    ON calls (account_sid, date_created DESC, sid, status);
DROP INDEX calls_by_updated;
CREATE INDEX calls_by_updated
    ON calls (account_sid, date_updated DESC, sid, status);
