-- PostgreSQL only: migrations-sqlite/0020 is the same step in SQLite's
-- words, and says what the versions are for.
--
-- Every conference and call row counts its updates in `version`, the
-- database itself bumping it on every UPDATE, whoever writes it. The
-- column is in no index, so an update that was HOT stays HOT.
ALTER TABLE conferences ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION confab_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER conferences_version BEFORE UPDATE ON conferences
    FOR EACH ROW EXECUTE FUNCTION confab_next_version();

CREATE TRIGGER calls_version BEFORE UPDATE ON calls
    FOR EACH ROW EXECUTE FUNCTION confab_next_version();
