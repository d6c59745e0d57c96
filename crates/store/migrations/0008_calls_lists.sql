-- The Calls lists (2010-04-01 and 2008-08-01) are per account, newest
-- created first, ties by sid: this index walks them in that order.
CREATE INDEX calls_by_created ON calls (account_sid, date_created DESC, sid);
