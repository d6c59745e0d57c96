-- PostgreSQL only: migrations-sqlite/0023 is the same step in SQLite's
-- words, and says what the hour counts are for.
--
-- `n` is in no index and half of each page is free, so a count's update
-- stays on its row's page and writes no index entry (HOT), as the day
-- counts' do (0019).
CREATE TABLE conference_hour_counts (
    account_sid TEXT   NOT NULL,
    clock       BIGINT NOT NULL CHECK (clock IN (0, 1)),
    hour        BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, hour, clock, status)
) WITH (fillfactor = 50);
CREATE TABLE call_hour_counts (
    account_sid TEXT   NOT NULL,
    clock       BIGINT NOT NULL CHECK (clock IN (0, 1)),
    hour        BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    n           BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_sid, hour, clock, status)
) WITH (fillfactor = 50);
INSERT INTO conference_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 0, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 3600000000
                    ELSE -((-date_created - 1) / 3600000000) - 1 END AS hour
        FROM conferences
    ) AS by_hour
    GROUP BY account_sid, hour, status;
INSERT INTO conference_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 1, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_updated >= 0 THEN date_updated / 3600000000
                    ELSE -((-date_updated - 1) / 3600000000) - 1 END AS hour
        FROM conferences
    ) AS by_hour
    GROUP BY account_sid, hour, status;
INSERT INTO call_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 0, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_created >= 0 THEN date_created / 3600000000
                    ELSE -((-date_created - 1) / 3600000000) - 1 END AS hour
        FROM calls
    ) AS by_hour
    GROUP BY account_sid, hour, status;
INSERT INTO call_hour_counts (account_sid, clock, hour, status, n)
    SELECT account_sid, 1, hour, status, COUNT(*) FROM (
        SELECT account_sid, status,
               CASE WHEN date_updated >= 0 THEN date_updated / 3600000000
                    ELSE -((-date_updated - 1) / 3600000000) - 1 END AS hour
        FROM calls
    ) AS by_hour
    GROUP BY account_sid, hour, status;
