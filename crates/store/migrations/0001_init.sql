-- confab's schema. This one file runs on SQLite and on PostgreSQL alike.
--
-- Every integer, every timestamp (microseconds since the Unix epoch, UTC) and
-- every boolean (0/1) is BIGINT, and every string TEXT, so both backends hand
-- the same values back through sqlx's Any driver (i64, String) and compare and
-- sort them the same way. CHECK constraints keep enumerations to the values
-- the Rust side can read back.

CREATE TABLE accounts (
    sid           TEXT   NOT NULL PRIMARY KEY,
    friendly_name TEXT   NOT NULL,
    auth_token    TEXT   NOT NULL,
    date_created  BIGINT NOT NULL,
    date_updated  BIGINT NOT NULL
);

-- Numbers route incoming calls, so a number belongs to one account at most.
CREATE TABLE phone_numbers (
    sid          TEXT   NOT NULL PRIMARY KEY,
    account_sid  TEXT   NOT NULL REFERENCES accounts (sid),
    phone_number TEXT   NOT NULL UNIQUE,
    voice_url    TEXT   NOT NULL,
    voice_method TEXT   NOT NULL CHECK (voice_method IN ('GET', 'POST')),
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX phone_numbers_by_account ON phone_numbers (account_sid, date_created, sid);

-- Call records outlive the numbers that routed them, hence no foreign keys.
-- The SIP work fills this table and adds the indexes its lists need.
CREATE TABLE calls (
    sid              TEXT   NOT NULL PRIMARY KEY,
    account_sid      TEXT   NOT NULL,
    phone_number_sid TEXT,
    caller           TEXT   NOT NULL,
    called           TEXT   NOT NULL,
    status           BIGINT NOT NULL,
    start_time       BIGINT,
    end_time         BIGINT,
    duration         BIGINT,
    failure          TEXT,
    date_created     BIGINT NOT NULL,
    date_updated     BIGINT NOT NULL
);

CREATE TABLE conferences (
    sid           TEXT   NOT NULL PRIMARY KEY,
    account_sid   TEXT   NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT   NOT NULL,
    status        BIGINT NOT NULL CHECK (status IN (0, 1, 2)),
    date_created  BIGINT NOT NULL,
    date_updated  BIGINT NOT NULL,
    -- The parent key of participants (conference_sid, account_sid): a
    -- participant can only be recorded under its conference's own account, so
    -- reads scoped by participants.account_sid are scoped correctly.
    UNIQUE (sid, account_sid)
);

-- decisions.md: one conference that is not completed (status 2) per
-- (account, FriendlyName); a completed room's name can be used again.
CREATE UNIQUE INDEX conferences_one_live_per_name
    ON conferences (account_sid, friendly_name) WHERE status <> 2;

-- The Conferences list is always
--   WHERE account_sid = ? [AND status = ?] [AND friendly_name = ?]
--         [AND date_created >= / < ?] [AND date_updated >= / < ?]
--   ORDER BY date_updated DESC, sid ASC LIMIT ? OFFSET ?
-- (plus a COUNT(*) with the same WHERE). These indexes give each filter an
-- index to seek with; the ones ending in (date_updated DESC, sid) also hand
-- the rows over already sorted, so a page stops reading after LIMIT rows.
CREATE INDEX conferences_by_updated
    ON conferences (account_sid, date_updated DESC, sid);
CREATE INDEX conferences_by_status_updated
    ON conferences (account_sid, status, date_updated DESC, sid);
CREATE INDEX conferences_by_name_updated
    ON conferences (account_sid, friendly_name, date_updated DESC, sid);
CREATE INDEX conferences_by_created
    ON conferences (account_sid, date_created);
CREATE INDEX conferences_by_status_created
    ON conferences (account_sid, status, date_created);

-- Live participants only: a row is deleted when its caller leaves (its
-- history lives in calls). No foreign key to calls: a room may record a
-- participant before or without the call row.
CREATE TABLE participants (
    call_sid                  TEXT   NOT NULL PRIMARY KEY,
    conference_sid            TEXT   NOT NULL,
    account_sid               TEXT   NOT NULL,
    muted                     BIGINT NOT NULL CHECK (muted IN (0, 1)),
    start_conference_on_enter BIGINT NOT NULL CHECK (start_conference_on_enter IN (0, 1)),
    end_conference_on_exit    BIGINT NOT NULL CHECK (end_conference_on_exit IN (0, 1)),
    date_created              BIGINT NOT NULL,
    date_updated              BIGINT NOT NULL,
    FOREIGN KEY (conference_sid, account_sid) REFERENCES conferences (sid, account_sid)
);
-- Join order within a conference (the Participants list and its sort).
CREATE INDEX participants_join_order
    ON participants (conference_sid, date_created, call_sid);
