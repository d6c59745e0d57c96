-- Calls are written by the SIP side from now on.
-- Start-up recovery completes the calls a previous run left in progress
-- (status 1): a partial index keeps that a seek however many calls are kept.
CREATE INDEX calls_in_progress ON calls (status) WHERE status = 1;
-- The Calls list (later) is per account, newest update first.
CREATE INDEX calls_by_updated ON calls (account_sid, date_updated DESC, sid);
