-- PostgreSQL only: src/connect.rs runs this directory among the shared
-- migrations (by number) on PostgreSQL alone; shared migrations skip its
-- numbers.
--
-- Every change of a conference or call adds to or takes from one row of
-- the per-day counts. PostgreSQL writes each update as a new version of
-- the row. When no index holds a column the update changes and the page
-- has room, the new version stays on the row's page and no index gets a
-- new entry ("HOT"), and the page drops the old versions itself when next
-- read. The day counts' covering indexes (0006, 0011, 0012, 0018) hold
-- `n`, so no count update was HOT: after a 1M seed the conference day
-- counts took 79 MB for 733 rows, and a deep page's sum read 1,108 pages
-- (docs/benchmarks.md). Here those indexes keep their order without `n`
-- (a sum reads the rows, which now stay on a few pages), and every count
-- table leaves half of each page free for new versions of its rows.
-- SQLite updates in place and keeps its covering indexes.
DROP INDEX conference_day_counts_sums;
DROP INDEX conference_day_counts_by_updated;
CREATE INDEX conference_day_counts_by_updated
    ON conference_day_counts (account_sid, updated_day, status, day);
DROP INDEX conference_day_counts_by_created;
CREATE INDEX conference_day_counts_by_created
    ON conference_day_counts (account_sid, day, status, updated_day);
DROP INDEX call_day_counts_by_created;
CREATE INDEX call_day_counts_by_created
    ON call_day_counts (account_sid, day, status, updated_day);
DROP INDEX call_day_counts_by_updated;
CREATE INDEX call_day_counts_by_updated
    ON call_day_counts (account_sid, updated_day, status, day);
ALTER TABLE conference_day_counts SET (fillfactor = 50);
ALTER TABLE call_day_counts SET (fillfactor = 50);
ALTER TABLE conference_status_counts SET (fillfactor = 50);
ALTER TABLE call_status_counts SET (fillfactor = 50);
ALTER TABLE conference_name_counts SET (fillfactor = 50);
