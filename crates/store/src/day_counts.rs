//! Per-day counts: how many of an account's rows (conferences, calls) have
//! each status, DateCreated day and DateUpdated day (UTC), kept by the same
//! transactions that write the rows.
//!
//! They answer a list's total without counting rows, and let a deep page
//! seek instead of skipping: summed newest day first (one statement with
//! window sums, [`DayCounts::seek_sql`]) they name the day where a list's
//! row number N lies and how many rows come before that day, so the page
//! walks its index from that day on and skips only that day's rows
//! (`reads`, `call_lists`).
//!
//! Beside them, each account's rows by status alone, all days together
//! (`conference_status_counts`, `call_status_counts`, migration 0016): a
//! list filtered by Status alone, or not at all, takes its total from
//! those few rows instead of summing a year of day rows.
//!
//! Every write that creates a row, changes its status or moves its
//! DateUpdated calls [`DayCounts::add`] or [`DayCounts::moved`], which keep
//! both tables; start-up
//! recovery, which updates many rows at once, recounts
//! ([`DayCounts::recount_sql`]); `confab db check` compares the counts with
//! a recount.

use model::{AccountSid, Timestamp};
use sqlx::AnyConnection;

use crate::StoreError;
use crate::rows::{self, utc_day_sql};
use crate::sql_where::{Value, Where};

/// A table of per-day counts and the table whose rows it counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayCounts {
    /// The counts: `account_sid, status, day, updated_day, n`.
    pub(crate) table: &'static str,
    /// The counted rows: `sid, account_sid, status, date_created,
    /// date_updated`.
    pub(crate) rows: &'static str,
    /// The same counts by status alone: `account_sid, status, n`.
    pub(crate) totals: &'static str,
}

/// Conferences (migration 0011).
pub(crate) const CONFERENCES: DayCounts = DayCounts {
    table: "conference_day_counts",
    rows: "conferences",
    totals: "conference_status_counts",
};

/// Calls (migration 0012).
pub(crate) const CALLS: DayCounts = DayCounts {
    table: "call_day_counts",
    rows: "calls",
    totals: "call_status_counts",
};

/// Where a row is counted: its status code and its two times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    pub(crate) status: i64,
    pub(crate) created: Timestamp,
    pub(crate) updated: Timestamp,
}

impl Counted {
    fn key(self) -> (i64, i64, i64) {
        (self.status, self.created.utc_day(), self.updated.utc_day())
    }
}

/// Where a page of a list lies, by [`DayCounts::seek`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seek {
    /// The page starts at or after the end of the list.
    PastTheEnd { total: u64 },
    /// The page's rows, day by day, newest day first: only days that hold
    /// some of them, so a page never walks the index entries of days where
    /// none of the list's rows lie (a DateCreated filter on a list ordered
    /// by DateUpdated leaves whole months of such days).
    Page { total: u64, days: Vec<DaySpan> },
}

/// The rows of one day that a page takes: `take` rows after skipping
/// `skip` of the list's rows whose order key (DateCreated or DateUpdated,
/// microseconds) lies in `[start, end)`; an end that does not fit is
/// `None` (no bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DaySpan {
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) skip: i64,
    pub(crate) take: i64,
}

impl DaySpan {
    /// Adds the span's bounds on `column` (the list's order key) to `w`.
    pub(crate) fn bound(&self, w: &mut Where, column: &'static str) {
        if let Some(start) = self.start {
            w.push(column, ">=", Value::Int(start));
        }
        if let Some(end) = self.end {
            w.push(column, "<", Value::Int(end));
        }
    }
}

impl DayCounts {
    /// Where rows `offset .. offset + limit` of the list `days` selects
    /// lie, ordered by `by` (`day` for DateCreated, `updated_day` for
    /// DateUpdated), and the list's total, both read on `conn` (a read
    /// transaction: the page must be read in the same snapshot).
    pub(crate) async fn seek(
        self,
        conn: &mut AnyConnection,
        by: &str,
        days: &Where,
        offset: i64,
        limit: i64,
    ) -> Result<Seek, StoreError> {
        let found = days
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(self.seek_sql(by, days))))
            .bind(offset)
            .bind(offset.saturating_add(limit))
            .fetch_all(&mut *conn)
            .await?;
        let Some(first) = found.first() else {
            // Past the end: the total still comes from this snapshot.
            let row = days
                .bind_all(sqlx::query(sqlx::AssertSqlSafe(self.sum_sql(days, 0))))
                .fetch_one(&mut *conn)
                .await?;
            return Ok(Seek::PastTheEnd {
                total: rows::count(&row)?,
            });
        };
        let total = rows::day_seek(first)?.total;
        let mut spans = Vec::with_capacity(found.len());
        let mut wanted = limit;
        for row in &found {
            let day = rows::day_seek(row)?;
            // Rows of this day before the page (only the first day has any).
            let skip = (offset - day.before).max(0);
            let take = (day.here - skip).min(wanted);
            if take <= 0 {
                break;
            }
            wanted -= take;
            spans.push(DaySpan {
                start: day.day.checked_mul(Timestamp::MICROS_PER_DAY),
                end: day
                    .day
                    .checked_add(1)
                    .and_then(|d| d.checked_mul(Timestamp::MICROS_PER_DAY)),
                skip,
                take,
            });
        }
        Ok(Seek::Page { total, days: spans })
    }

    /// The total of the list `days` selects, as `n`, with its placeholders
    /// numbered from `$base + 1`: from the totals by status when `days`
    /// selects by account and status alone, else from the day rows.
    pub(crate) fn sum_sql(self, days: &Where, base: usize) -> String {
        let by_status_alone = days
            .columns()
            .all(|column| column == "account_sid" || column == "status");
        let table = if by_status_alone {
            self.totals
        } else {
            self.table
        };
        format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM {table} {}",
            days.clause(false, base)
        )
    }

    /// The account of row `sid` and where it is counted, if it exists.
    pub(crate) async fn counted_as(
        self,
        conn: &mut AnyConnection,
        sid: &str,
    ) -> Result<Option<(AccountSid, Counted)>, StoreError> {
        let sql = format!(
            "SELECT account_sid, status, date_created, date_updated FROM {} WHERE sid = $1",
            self.rows
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sid)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let (account, status, created, updated) = rows::counted_as(&row, self.rows)?;
        Ok(Some((
            account,
            Counted {
                status,
                created,
                updated,
            },
        )))
    }

    /// Moves one row of `account` from where `before` counted it to where
    /// `after` does; nothing when that is the same day row (a DateUpdated
    /// moving within its day, most writes), and the totals by status only
    /// when the status changed.
    pub(crate) async fn moved(
        self,
        conn: &mut AnyConnection,
        account: &AccountSid,
        before: Counted,
        after: Counted,
    ) -> Result<(), StoreError> {
        if before.key() != after.key() {
            self.add_to_day(conn, account, before, -1).await?;
            self.add_to_day(conn, account, after, 1).await?;
        }
        if before.status != after.status {
            self.add_to_total(conn, account, before.status, -1).await?;
            self.add_to_total(conn, account, after.status, 1).await?;
        }
        Ok(())
    }

    /// Adds `delta` to the number of `account`'s rows counted as `counted`,
    /// in its day row and in its status's total.
    pub(crate) async fn add(
        self,
        conn: &mut AnyConnection,
        account: &AccountSid,
        counted: Counted,
        delta: i64,
    ) -> Result<(), StoreError> {
        self.add_to_day(conn, account, counted, delta).await?;
        self.add_to_total(conn, account, counted.status, delta)
            .await
    }

    /// Adds `delta` to one day row. A decrement is a plain UPDATE: the row
    /// exists (its row was counted in), and an upsert would check `n >= 0`
    /// on the proposed row.
    async fn add_to_day(
        self,
        conn: &mut AnyConnection,
        account: &AccountSid,
        counted: Counted,
        delta: i64,
    ) -> Result<(), StoreError> {
        let (status, day, updated_day) = counted.key();
        sqlx::query(sqlx::AssertSqlSafe(add_sql(
            self.table,
            &["account_sid", "status", "day", "updated_day"],
            delta,
        )))
        .bind(account.as_str())
        .bind(status)
        .bind(day)
        .bind(updated_day)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Adds `delta` to the total of `account`'s rows of `status`.
    async fn add_to_total(
        self,
        conn: &mut AnyConnection,
        account: &AccountSid,
        status: i64,
        delta: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(add_sql(
            self.totals,
            &["account_sid", "status"],
            delta,
        )))
        .bind(account.as_str())
        .bind(status)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The counts recounted from the rows: `account_sid, status, day,
    /// updated_day, n` (start-up recovery writes it back, the integrity
    /// check compares).
    pub(crate) fn recount_sql(self) -> String {
        format!(
            "SELECT account_sid, status, day, updated_day, COUNT(*) AS n FROM \
             (SELECT account_sid, status, {} AS day, {} AS updated_day FROM {}) AS by_day \
             GROUP BY account_sid, status, day, updated_day",
            utc_day_sql("date_created"),
            utc_day_sql("date_updated"),
            self.rows
        )
    }

    /// The totals by status recounted from the rows: `account_sid,
    /// status, n` (start-up recovery writes it back, the integrity check
    /// compares).
    pub(crate) fn recount_totals_sql(self) -> String {
        format!(
            "SELECT account_sid, status, COUNT(*) AS n FROM {} GROUP BY account_sid, status",
            self.rows
        )
    }

    /// Recounts every account (start-up recovery, after it updated many
    /// rows in one statement).
    pub(crate) async fn recount_all(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        for (table, columns, recount) in [
            (
                self.table,
                "account_sid, status, day, updated_day, n",
                self.recount_sql(),
            ),
            (
                self.totals,
                "account_sid, status, n",
                self.recount_totals_sql(),
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *conn)
                .await?;
            let sql = format!("INSERT INTO {table} ({columns}) {recount}");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The seek of a list these counts total, in the order of `by`
    /// (`day` or `updated_day`, newest first): a row for each day that
    /// holds some of the list's rows number `$N` (zero-based) to `$(N+1)`
    /// (exclusive; both bound after `days`' values), newest first, each
    /// with the list's `total`, the day (`at_day`), how many of the list's
    /// rows it holds (`here`) and how many lie in later days (`before`); no
    /// row when `$N` is past the end.
    pub(crate) fn seek_sql(self, by: &str, days: &Where) -> String {
        let first = days.len() + 1;
        format!(
            "SELECT CAST(total AS BIGINT) AS total, at_day, CAST(here AS BIGINT) AS here, \
                    CAST(through - here AS BIGINT) AS before FROM ( \
               SELECT {by} AS at_day, SUM(n) AS here, \
                      SUM(SUM(n)) OVER (ORDER BY {by} DESC ROWS UNBOUNDED PRECEDING) \
                        AS through, \
                      SUM(SUM(n)) OVER () AS total \
               FROM {} {} GROUP BY {by}) AS d \
             WHERE through > ${first} AND through - here < ${} AND here > 0 \
             ORDER BY at_day DESC",
            self.table,
            days.clause(false, 0),
            first + 1
        )
    }
}

/// The statement that adds `$(N+1)` to `table`'s `n` where its `key`
/// columns are `$1`…`$N`: an upsert for an increment, a plain UPDATE
/// for a decrement (see `DayCounts::add_to_day`).
pub(crate) fn add_sql(table: &str, key: &[&str], delta: i64) -> String {
    let n = key.len() + 1;
    let placeholders: Vec<String> = (1..n).map(|i| format!("${i}")).collect();
    if delta < 0 {
        let matches: Vec<String> = key
            .iter()
            .zip(&placeholders)
            .map(|(column, p)| format!("{column} = {p}"))
            .collect();
        format!(
            "UPDATE {table} SET n = n + ${n} WHERE {}",
            matches.join(" AND ")
        )
    } else {
        let key = key.join(", ");
        format!(
            "INSERT INTO {table} ({key}, n) VALUES ({}, ${n}) \
             ON CONFLICT ({key}) DO UPDATE SET n = {table}.n + ${n}",
            placeholders.join(", ")
        )
    }
}
