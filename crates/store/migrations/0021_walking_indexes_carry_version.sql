-- A list's page lists each live row's version beside its sid (src/cached.rs;
-- the column and its trigger: migrations-sqlite/0020, migrations-postgres/0020).
-- Looked up by sid, a version cost a walk of the primary key's index and a
-- table read for each live row of the page: three quarters of the
-- statement's instructions on a page of 50 live rooms, SQLite's callgrind
-- count said. Carried in the indexes the pages walk, it is read from the
-- index entry, with the status that says whether the row is live (the
-- FriendlyName index now carries both).
DROP INDEX conferences_by_updated;
CREATE INDEX conferences_by_updated
    ON conferences (account_sid, date_updated DESC, sid, date_created, status, version);
DROP INDEX conferences_by_status_updated;
CREATE INDEX conferences_by_status_updated
    ON conferences (account_sid, status, date_updated DESC, sid, date_created, version);
DROP INDEX conferences_by_name_updated;
CREATE INDEX conferences_by_name_updated
    ON conferences (account_sid, friendly_name, date_updated DESC, sid, status, version);
DROP INDEX calls_by_created;
CREATE INDEX calls_by_created
    ON calls (account_sid, date_created DESC, sid, status, version);
DROP INDEX calls_by_updated;
CREATE INDEX calls_by_updated
    ON calls (account_sid, date_updated DESC, sid, status, version);
DROP INDEX calls_by_status_created;
CREATE INDEX calls_by_status_created
    ON calls (account_sid, status, date_created DESC, sid, version);
DROP INDEX calls_by_status_updated;
CREATE INDEX calls_by_status_updated
    ON calls (account_sid, status, date_updated DESC, sid, version);
