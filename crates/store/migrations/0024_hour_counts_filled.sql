-- The hour counts of migrations-sqlite/0023 and migrations-postgres/0023
-- (what they are for is said there), filled from the rows. The hour is
-- floor(microseconds / 3,600,000,000), written out as src/rows.rs
-- `utc_hour_sql` writes it (a test pins the two together).
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
