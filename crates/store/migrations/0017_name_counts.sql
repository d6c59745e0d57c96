-- How many of an account's conferences of each FriendlyName have each
-- status, kept by the writes that create conferences and change their
-- status (src/name_counts.rs). A Conferences list filtered by FriendlyName
-- (no dates) takes its total from here instead of counting the name's
-- conferences, thousands for a room reused every day.
CREATE TABLE conference_name_counts (
    account_sid   TEXT   NOT NULL,
    friendly_name TEXT   NOT NULL,
    status        BIGINT NOT NULL,
    n             BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, friendly_name, status)
);
INSERT INTO conference_name_counts (account_sid, friendly_name, status, n)
    SELECT account_sid, friendly_name, status, COUNT(*) FROM conferences
    GROUP BY account_sid, friendly_name, status;
