-- Outbound SIP trunks: where an account's calls to numbers go (the
-- 2010-04-01 API's dial-out), and the digest credentials the trunk asks for.
-- One account may have several; the oldest is used.
CREATE TABLE trunks (
    sid          TEXT   NOT NULL PRIMARY KEY,
    account_sid  TEXT   NOT NULL REFERENCES accounts (sid),
    uri          TEXT   NOT NULL,
    username     TEXT,
    password     TEXT,
    date_created BIGINT NOT NULL
);
CREATE INDEX trunks_by_account ON trunks (account_sid, date_created, sid);
