-- SQLite only: src/connect.rs runs this directory among the shared
-- migrations (by number) on SQLite alone; shared migrations skip its
-- numbers. migrations-postgres/0020 is the same step in PostgreSQL's words.
--
-- Every conference and call row counts its updates in `version`, the
-- database itself bumping it on every UPDATE, whoever writes it (this
-- node, another node, an operator by hand). A list caches the records it
-- reads by sid and version (src/cached.rs): while a row's version is the
-- same its record is, so a page of live rooms is read from the cache and
-- the index it walks, and a row changed since is read again.
--
-- SQLite's triggers cannot change the row being written: this one writes
-- the version after the update. `recursive_triggers` is off, and the WHEN
-- clause would stop it anyway: its own update changes the version.
ALTER TABLE conferences ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

CREATE TRIGGER conferences_version AFTER UPDATE ON conferences
    FOR EACH ROW WHEN NEW.version = OLD.version
BEGIN
    UPDATE conferences SET version = OLD.version + 1 WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER calls_version AFTER UPDATE ON calls
    FOR EACH ROW WHEN NEW.version = OLD.version
BEGIN
    UPDATE calls SET version = OLD.version + 1 WHERE rowid = NEW.rowid;
END;
