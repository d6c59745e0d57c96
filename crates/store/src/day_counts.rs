//! Per-day counts: how many of an account's rows (conferences, calls) have
//! each status, DateCreated day and DateUpdated day (UTC), kept by the same
//! transactions that write the rows.
//!
//! They answer a list's total without counting rows, and let a deep page
//! seek instead of skipping: summed day by day from the nearer end of the
//! list ([`DayCounts::seek`]) they name the day where a list's row number
//! N lies and how many rows come before that day, so the page walks its
//! index from that day on and skips only that day's rows (`reads`,
//! `call_lists`).
//!
//! Beside them, each account's rows by status alone, all days together
//! (`conference_status_counts`, `call_status_counts`, migration 0016): a
//! list filtered by Status alone, or not at all, takes its total from
//! those few rows instead of summing a year of day rows.
//!
//! Every write that creates a row, changes its status or moves its
//! DateUpdated calls [`DayCounts::add`] or [`DayCounts::moved`], which keep
//! both tables (summed per transaction in [`CountDeltas`]); start-up
//! recovery, which updates many rows at once, recounts
//! ([`DayCounts::recount_all`]); `confab db check` compares the counts with
//! a recount.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use model::{AccountSid, Timestamp};
use sqlx::AnyConnection;

use crate::StoreError;
use crate::rows::{self, utc_day_sql, utc_hour_sql};
use crate::sql_where::{Value, Where};

/// How many days a seek reads in its first batch (see [`DayCounts::seek`]).
const FIRST_BATCH: i64 = 16;

/// How a list seeks its deep pages: through which per-day `counts`, by
/// which of their day columns (`by`: `day` or `updated_day`), over the
/// counts `days` selects; the list is ordered newest `key` first. Every
/// row of the list was created before `created_before` (microseconds),
/// when it has such a bound (a DateCreated `<` or `=` filter).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seeking<'a> {
    pub(crate) counts: DayCounts,
    pub(crate) by: &'a str,
    pub(crate) days: &'a Where,
    pub(crate) key: &'static str,
    pub(crate) created_before: Option<i64>,
}

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
    /// The same counts by status and UTC hour, of DateCreated (`clock` 0)
    /// and of DateUpdated (1), apart: `account_sid, hour, clock, status,
    /// n` (migration 0023). A deep page skips within one hour of its day,
    /// not within the day (`guides::hour_start`).
    pub(crate) hours: &'static str,
}

/// Conferences (migration 0011).
pub(crate) const CONFERENCES: DayCounts = DayCounts {
    table: "conference_day_counts",
    rows: "conferences",
    totals: "conference_status_counts",
    hours: "conference_hour_counts",
};

/// Calls (migration 0012).
pub(crate) const CALLS: DayCounts = DayCounts {
    table: "call_day_counts",
    rows: "calls",
    totals: "call_status_counts",
    hours: "call_hour_counts",
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

    /// Its status and the hour of each clock: DateCreated's (0), then
    /// DateUpdated's (1).
    fn hours(self) -> [(i64, i64, i64); 2] {
        [
            (0, self.status, self.created.utc_hour()),
            (1, self.status, self.updated.utc_hour()),
        ]
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
/// `skip` of the `rows` list rows whose order key (DateCreated or
/// DateUpdated, microseconds) lies in `[start, end)`, newest first; an end
/// that does not fit is `None` (no bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DaySpan {
    /// The day, as days since 1970-01-01.
    pub(crate) day: i64,
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) rows: i64,
    pub(crate) skip: i64,
    pub(crate) take: i64,
}

impl DaySpan {
    /// The day's list rows older than the span's: what a walk from the
    /// day's oldest end skips.
    pub(crate) fn skip_from_oldest(&self) -> i64 {
        self.rows - self.skip - self.take
    }

    /// Whether the page walks this day from its oldest end: when that
    /// passes fewer of the list's rows than walking from the newest, or
    /// when every row of the list was created before `created_before`
    /// and the day (of DateUpdated) starts no earlier. Rooms and calls
    /// last minutes, so rows created before a day began are among its
    /// first updated: the newest day of a list with a DateCreated bound
    /// (`<` or `=`) holds its few rows at the start of a day of others.
    pub(crate) fn oldest_first(&self, created_before: Option<i64>) -> bool {
        oldest_first(self, self, created_before)
    }

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
    /// DateUpdated), and the list's total, both read on `conn`: in a read
    /// transaction when the page is read in the same snapshot, or outside
    /// one as a guide that the page's own statement checks (`cached`).
    ///
    /// The total comes first ([`DayCounts::sum_sql`]); then the day sums
    /// are read from the end of the list nearer the page, newest days
    /// first for the first half, oldest first for the second, in batches
    /// ([`DayCounts::day_sums_sql`]) sized by the rows per day read so far
    /// (`next_batch`), until they reach past the page. So a page costs the days between it and
    /// the nearer end, never every day of the account's history: page 1
    /// reads a batch or two, and the last page too.
    pub(crate) async fn seek(
        self,
        conn: &mut AnyConnection,
        by: &str,
        days: &Where,
        offset: i64,
        limit: i64,
    ) -> Result<Seek, StoreError> {
        let row = days
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(self.sum_sql(days, 0))))
            .fetch_one(&mut *conn)
            .await?;
        let total = rows::count(&row)?;
        let rows_in_all = i64::try_from(total).unwrap_or(i64::MAX);
        if offset >= rows_in_all {
            return Ok(Seek::PastTheEnd { total });
        }
        let end = offset.saturating_add(limit).min(rows_in_all);
        // Rows `offset..end` newest first are rows `total - end .. total -
        // offset` oldest first.
        let newest_first = offset <= rows_in_all - end;
        let (from, to) = if newest_first {
            (offset, end)
        } else {
            (rows_in_all - end, rows_in_all - offset)
        };
        // (day, its rows, the rows in days walked before it) for each day
        // that holds some of rows `from..to` in the walk's order.
        let mut found = Vec::new();
        let mut through = 0_i64;
        let mut after = None;
        let mut batch = FIRST_BATCH;
        let mut days_read = 0_i64;
        'walk: loop {
            let sql = self.day_sums_sql(by, days, newest_first, after.is_some(), batch);
            let mut query = days.bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)));
            if let Some(day) = after {
                query = query.bind(day);
            }
            let sums = rows::day_sums(&query.fetch_one(&mut *conn).await?)?;
            let read = sums.len();
            for (day, here) in sums {
                if here > 0 && through.saturating_add(here) > from {
                    found.push((day, here, through));
                }
                through = through.saturating_add(here);
                after = Some(day);
                if through >= to {
                    break 'walk;
                }
            }
            if i64::try_from(read).unwrap_or(i64::MAX) < batch {
                // No more days: only counts that disagree with the total
                // they sum to end the walk here.
                break;
            }
            days_read = days_read.saturating_add(batch);
            batch = next_batch(batch, days_read, through, to);
        }
        if !newest_first {
            // Newest first, each day's `before` counts the rows of later days.
            found = found
                .into_iter()
                .rev()
                .map(|(day, here, older)| (day, here, rows_in_all - older - here))
                .collect();
        }
        let mut spans = Vec::with_capacity(found.len());
        let mut wanted = limit;
        for (day, here, before) in found {
            // Rows of this day before the page (only the first day has any).
            let skip = (offset - before).max(0);
            let take = (here - skip).min(wanted);
            if take <= 0 {
                break;
            }
            wanted -= take;
            spans.push(DaySpan {
                day,
                start: day.checked_mul(Timestamp::MICROS_PER_DAY),
                end: day
                    .checked_add(1)
                    .and_then(|d| d.checked_mul(Timestamp::MICROS_PER_DAY)),
                rows: here,
                skip,
                take,
            });
        }
        Ok(Seek::Page { total, days: spans })
    }

    /// Whether the totals by status answer the total of the list `days`
    /// selects (by account and status alone): a handful of rows, not a
    /// sum over days.
    pub(crate) fn totals_answer(days: &Where) -> bool {
        days.columns()
            .all(|column| column == "account_sid" || column == "status")
    }

    /// How many of the list's rows `days` selects lie in days after
    /// (`op` `>`) or before (`<`) the day `$day` of the `by` column, with
    /// the placeholders of `days` from `$1`.
    ///
    /// The day is bounded on its other side too, by a bound no row is
    /// beyond (`FAR` days away). That changes no sum, but it lets
    /// PostgreSQL's plan for every value of `$day` (the statement is
    /// prepared once) read the index: for one open bound it guesses a third
    /// of the rows and scans the whole table; for a range it guesses a
    /// sliver. At 1M calls in one account that sum took 0.22 ms by the scan
    /// and 0.07 ms by the index (docs/benchmarks.md, eighth pass).
    pub(crate) fn beyond_sql(self, by: &str, days: &Where, op: &str, day: usize) -> String {
        // Timestamps are i64 microseconds, so days lie within ±107 million
        // of 1970: no two rows are this far apart, and no bound overflows.
        const FAR: i64 = 1_000_000_000;
        let other_side = if op.starts_with('<') {
            format!("{by} >= ${day} - {FAR}")
        } else {
            format!("{by} <= ${day} + {FAR}")
        };
        format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {} {} AND {by} {op} ${day} \
             AND {other_side}",
            self.table,
            days.clause(false, 0)
        )
    }

    /// The total of the list `days` selects, as `n`, with its placeholders
    /// numbered from `$base + 1`: from the totals by status when `days`
    /// selects by account and status alone, else from the day rows.
    pub(crate) fn sum_sql(self, days: &Where, base: usize) -> String {
        let table = if Self::totals_answer(days) {
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
    pub(crate) fn moved(
        self,
        deltas: &mut CountDeltas,
        account: &AccountSid,
        before: Counted,
        after: Counted,
    ) {
        if before.key() != after.key() {
            self.add_to_day(deltas, account, before, -1);
            self.add_to_day(deltas, account, after, 1);
        }
        for (was, is) in before.hours().into_iter().zip(after.hours()) {
            if was != is {
                self.add_to_hour(deltas, account, was, -1);
                self.add_to_hour(deltas, account, is, 1);
            }
        }
        if before.status != after.status {
            self.add_to_total(deltas, account, before.status, -1);
            self.add_to_total(deltas, account, after.status, 1);
        }
    }

    /// Adds `delta` to the number of `account`'s rows counted as `counted`,
    /// in its day row and in its status's total.
    pub(crate) fn add(
        self,
        deltas: &mut CountDeltas,
        account: &AccountSid,
        counted: Counted,
        delta: i64,
    ) {
        self.add_to_day(deltas, account, counted, delta);
        for hour in counted.hours() {
            self.add_to_hour(deltas, account, hour, delta);
        }
        self.add_to_total(deltas, account, counted.status, delta);
    }

    /// Adds `delta` to one day row.
    fn add_to_day(
        self,
        deltas: &mut CountDeltas,
        account: &AccountSid,
        counted: Counted,
        delta: i64,
    ) {
        let (status, day, updated_day) = counted.key();
        let key = vec![
            ("account_sid", Value::Text(account.as_str().to_owned())),
            ("status", Value::Int(status)),
            ("day", Value::Int(day)),
            ("updated_day", Value::Int(updated_day)),
        ];
        deltas.add(self.table, key, delta);
    }

    /// Adds `delta` to one hour row: `(clock, status, hour)`.
    fn add_to_hour(
        self,
        deltas: &mut CountDeltas,
        account: &AccountSid,
        (clock, status, hour): (i64, i64, i64),
        delta: i64,
    ) {
        let key = vec![
            ("account_sid", Value::Text(account.as_str().to_owned())),
            ("hour", Value::Int(hour)),
            ("clock", Value::Int(clock)),
            ("status", Value::Int(status)),
        ];
        deltas.add(self.hours, key, delta);
    }

    /// Adds `delta` to the total of `account`'s rows of `status`.
    fn add_to_total(self, deltas: &mut CountDeltas, account: &AccountSid, status: i64, delta: i64) {
        let key = vec![
            ("account_sid", Value::Text(account.as_str().to_owned())),
            ("status", Value::Int(status)),
        ];
        deltas.add(self.totals, key, delta);
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

    /// The hour counts recounted from the rows: `account_sid, clock, hour,
    /// status, n`.
    pub(crate) fn recount_hours_sql(self) -> String {
        let by_clock = |clock: i64, column: &str| {
            format!(
                "SELECT account_sid, {clock} AS clock, {} AS hour, status FROM {}",
                utc_hour_sql(column),
                self.rows
            )
        };
        format!(
            "SELECT account_sid, clock, hour, status, COUNT(*) AS n FROM \
             ({} UNION ALL {}) AS by_hour GROUP BY account_sid, clock, hour, status",
            by_clock(0, "date_created"),
            by_clock(1, "date_updated"),
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
            (
                self.hours,
                "account_sid, clock, hour, status, n",
                self.recount_hours_sql(),
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
        // Every remembered reading of these counts is stale now, and every
        // account counted has a version.
        let bump = "UPDATE count_versions SET version = version + 1 WHERE counts = $1";
        let fill = format!(
            "INSERT INTO count_versions (account_sid, counts, version) \
             SELECT DISTINCT account_sid, $1, 1 FROM {} WHERE true \
             ON CONFLICT (account_sid, counts) DO NOTHING",
            self.table
        );
        for sql in [bump, fill.as_str()] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(self.table)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The sums of the list `days` selects (by account and status alone)
    /// for each hour of day `$day` of the `by` column (placeholders of
    /// `days` from `$1`), as one row: `days`, `hour:sum` pairs joined by
    /// commas, oldest hour first (as [`DayCounts::day_sums_sql`] joins
    /// days). Read by key: 24 rows of each status at most.
    pub(crate) fn hour_sums_sql(self, by: &str, days: &Where, day: usize) -> String {
        let clock = i64::from(by != "day");
        format!(
            "SELECT string_agg(CAST(h AS TEXT) || ':' || CAST(s AS TEXT), ',' ORDER BY h) \
             AS days FROM (SELECT hour AS h, SUM(n) AS s FROM {} {} AND clock = {clock} \
             AND hour >= ${day} * 24 AND hour < ${day} * 24 + 24 GROUP BY hour) AS sums",
            self.hours,
            days.clause(false, 0)
        )
    }

    /// The day counts `table` is, or holds the totals or hours of: all
    /// three are under one version.
    fn of(table: &str) -> Option<Self> {
        [CONFERENCES, CALLS]
            .into_iter()
            .find(|c| c.table == table || c.totals == table || c.hours == table)
    }

    /// The version of `$account`'s counts in this table, as a scalar
    /// subquery (NULL when they have none yet: see migration 0022).
    pub(crate) fn version_sql(self, account: usize) -> String {
        format!(
            "SELECT version FROM count_versions WHERE account_sid = ${account} AND counts = '{}'",
            self.table
        )
    }

    /// One batch of a seek's day sums: for each day (the `by` column:
    /// `day` or `updated_day`) of the list `days` selects, newest first
    /// (or oldest first), up to `batch` days, and after the day bound as
    /// the last placeholder when `after`, its rows' total; as one row,
    /// `days`: `day:sum` pairs joined by commas in that order (one row
    /// instead of one per day from sqlx's SQLite worker). The days come
    /// from an index already in `by` order, so the batch stops reading
    /// there.
    pub(crate) fn day_sums_sql(
        self,
        by: &str,
        days: &Where,
        newest_first: bool,
        after: bool,
        batch: i64,
    ) -> String {
        let (order, beyond) = if newest_first {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        let mut clause = days.clause(false, 0);
        if after {
            clause.push_str(&format!(" AND {by} {beyond} ${}", days.len() + 1));
        }
        format!(
            "SELECT string_agg(CAST(d AS TEXT) || ':' || CAST(s AS TEXT), ',' ORDER BY d {order}) \
             AS days FROM (SELECT {by} AS d, SUM(n) AS s FROM {} {clause} \
             GROUP BY {by} ORDER BY {by} {order} LIMIT {batch}) AS sums",
            self.table
        )
    }
}

/// Whether a page whose rows lie from day `newest` back to day `oldest`
/// (the same day, or consecutive days) is walked from the oldest end:
/// when that passes fewer of the list's rows (those of `oldest` older
/// than the page) than the walk from the newest end (those of `newest`
/// newer than it), or when `oldest` straddles a DateCreated bound (see
/// [`DaySpan::oldest_first`]).
pub(crate) fn oldest_first(
    newest: &DaySpan,
    oldest: &DaySpan,
    created_before: Option<i64>,
) -> bool {
    let straddles = matches!(
        (created_before, oldest.start),
        (Some(before), Some(start)) if before <= start
    );
    straddles || oldest.skip_from_oldest() < newest.skip
}

/// How many days the seek's next batch reads, after `days_read` days
/// summed to `through` rows and the page ends at row `to`: the days the
/// rest needs at the rate read so far, a quarter more and two over, so
/// one more batch usually reaches the page; at least the first batch's
/// size, and fourfold the last when the days read held no rows.
fn next_batch(last: i64, days_read: i64, through: i64, to: i64) -> i64 {
    if through <= 0 {
        return last.saturating_mul(4);
    }
    let left = i128::from(to - through);
    let days = left * i128::from(days_read) / i128::from(through);
    let days = days + days / 4 + 2;
    i64::try_from(days).unwrap_or(i64::MAX).max(FIRST_BATCH)
}

/// The changes one write transaction makes to the count tables, summed
/// per count row and written just before it commits ([`Self::write`]).
///
/// A batch of changes (the hub's, a seed's thousands) moves many rows
/// through few count rows: summed, each count row is written once, not once
/// per change, and not at all when its changes cancel out. So a count row
/// holds far fewer dead versions (PostgreSQL), and the rows are written in
/// one order, by table and key, whichever transaction writes them: two
/// nodes' transactions that share count rows wait for each other in turn
/// instead of each holding a row the other needs (a deadlock, which
/// PostgreSQL would end by failing one of them).
#[derive(Debug, Default)]
#[must_use = "counts change only when written"]
pub(crate) struct CountDeltas {
    rows: BTreeMap<(&'static str, CountKey), i64>,
}

/// The key columns of one count row, and their values.
pub(crate) type CountKey = Vec<(&'static str, Value)>;

impl CountDeltas {
    /// Adds `delta` to the row of count table `table` whose `key` columns
    /// hold these values.
    pub(crate) fn add(&mut self, table: &'static str, key: CountKey, delta: i64) {
        *self.rows.entry((table, key)).or_insert(0) += delta;
    }

    /// Writes the summed changes, in table and key order, on `conn`: the
    /// transaction they belong to. Then bumps the version of each
    /// account's day counts that changed ([`bump_version`]), last and in
    /// order too, so the order of every transaction's writes stays one.
    ///
    /// Increments next to each other in that order, of one table, are one
    /// statement: a new row counts in its day, both its hours and its
    /// status's total, and its hours are two rows side by side.
    pub(crate) async fn write(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut changed = BTreeSet::new();
        let mut increments: Vec<(CountKey, i64)> = Vec::new();
        let mut table_of_increments = "";
        for ((table, key), delta) in self.rows {
            if delta == 0 {
                continue;
            }
            if let (Some(counts), Some(account)) = (DayCounts::of(table), account_of(&key)) {
                changed.insert((counts.table, account.to_owned()));
            }
            if table != table_of_increments || delta < 0 || increments.len() == UPSERT_ROWS {
                add_counts(conn, table_of_increments, &increments).await?;
                increments.clear();
            }
            if delta < 0 {
                take_count(conn, table, &key, delta).await?;
            } else {
                table_of_increments = table;
                increments.push((key, delta));
            }
        }
        add_counts(conn, table_of_increments, &increments).await?;
        for (counts, account) in changed {
            bump_version(conn, counts, &account).await?;
        }
        Ok(())
    }
}

/// The account a count row's key names.
fn account_of<'k>(key: &'k [(&str, Value)]) -> Option<&'k str> {
    key.iter().find_map(|(column, value)| match value {
        Value::Text(account) if *column == "account_sid" => Some(account.as_str()),
        _ => None,
    })
}

/// Bumps the version of `account`'s counts in the day counts `counts`
/// (migration 0022): every remembered reading of them is then stale.
async fn bump_version(
    conn: &mut AnyConnection,
    counts: &str,
    account: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO count_versions (account_sid, counts, version) VALUES ($1, $2, 1) \
         ON CONFLICT (account_sid, counts) DO UPDATE SET version = count_versions.version + 1",
    )
    .bind(account)
    .bind(counts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The most count rows one upsert writes: far fewer values than either
/// database takes in one statement (SQLite 32,766, PostgreSQL 65,535).
const UPSERT_ROWS: usize = 256;

/// Adds each delta (positive) of `rows` to `n` in the row of the count
/// table `table` whose key columns hold its key's values, creating the
/// rows that do not exist yet: one upsert, the rows in their order.
/// Nothing for no rows. The few rows of a live change's upsert are a
/// statement kept prepared; a seed's longer runs are not, so they do not
/// push those out of the connection's statement cache.
async fn add_counts(
    conn: &mut AnyConnection,
    table: &'static str,
    rows: &[(CountKey, i64)],
) -> Result<(), StoreError> {
    let Some((first, _)) = rows.first() else {
        return Ok(());
    };
    let few = rows.len() <= 4;
    let sql = count_sql((table, rows.len(), true), few, || {
        let columns = column_list(first);
        let width = first.len() + 1;
        let values: Vec<String> = (0..rows.len())
            .map(|row| {
                let placeholders: Vec<String> = (1..=width)
                    .map(|i| format!("${}", row * width + i))
                    .collect();
                format!("({})", placeholders.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {table} ({columns}, n) VALUES {} \
             ON CONFLICT ({columns}) DO UPDATE SET n = {table}.n + excluded.n",
            values.join(", ")
        )
    });
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(few);
    for (key, delta) in rows {
        for (_, value) in key {
            query = value.bind(query);
        }
        query = query.bind(*delta);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Adds `delta` (negative) to `n` in the row of the count table `table`
/// whose `key` columns hold these values: a plain UPDATE (the row exists,
/// since its row was counted in, and an upsert would check `n >= 0` on the
/// proposed row).
async fn take_count(
    conn: &mut AnyConnection,
    table: &'static str,
    key: &CountKey,
    delta: i64,
) -> Result<(), StoreError> {
    let sql = count_sql((table, 1, false), true, || {
        let matches: Vec<String> = key
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
            .collect();
        format!(
            "UPDATE {table} SET n = n + ${} WHERE {}",
            key.len() + 1,
            matches.join(" AND ")
        )
    });
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, value) in key {
        query = value.bind(query);
    }
    query.bind(delta).execute(&mut *conn).await?;
    Ok(())
}

/// The text of a count statement, as `write` writes it: `(table, rows,
/// upsert)` names it, an upsert of that many rows or the UPDATE of one (a
/// table's rows always have the same key columns, in the same order).
/// Every write transaction runs a few of these, so the text of those
/// `kept` is written once per process and shared: writing it afresh was a
/// tenth of a one-change transaction's instructions (docs/benchmarks.md).
fn count_sql(
    (table, rows, upsert): (&'static str, usize, bool),
    kept: bool,
    write: impl FnOnce() -> String,
) -> Arc<str> {
    /// `(table, rows, upsert)` to the statement's text.
    type Kept = BTreeMap<(&'static str, usize, bool), Arc<str>>;
    static KEPT: Mutex<Kept> = Mutex::new(BTreeMap::new());
    if !kept {
        return write().into();
    }
    let mut map = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        map.entry((table, rows, upsert))
            .or_insert_with(|| write().into()),
    )
}

/// The key columns of a count row, joined by commas.
fn column_list(key: &CountKey) -> String {
    let columns: Vec<&str> = key.iter().map(|(column, _)| *column).collect();
    columns.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = Timestamp::MICROS_PER_DAY;

    fn span(rows: i64, skip: i64, take: i64) -> DaySpan {
        DaySpan {
            day: 10,
            start: Some(10 * DAY),
            end: Some(11 * DAY),
            rows,
            skip,
            take,
        }
    }

    /// A batch's changes to one count row become one write of their sum,
    /// none when they cancel out, and rows are written in one order
    /// whatever order the changes came in.
    #[test]
    fn count_changes_are_summed_per_row_and_ordered() {
        let account = AccountSid::parse("AC5ea872f6da5a21de157d80997a64bd33").unwrap();
        let at = |day: i64| Timestamp::from_micros(day * DAY);
        let counted = |status: i64, day: i64| Counted {
            status,
            created: at(day),
            updated: at(day),
        };
        let mut deltas = CountDeltas::default();
        // Created in progress on day 3, then completed: the in-progress
        // rows cancel out.
        CONFERENCES.add(&mut deltas, &account, counted(1, 3), 1);
        CONFERENCES.moved(&mut deltas, &account, counted(1, 3), counted(2, 3));
        // Two more completed the same day, one created on day 2.
        CONFERENCES.add(&mut deltas, &account, counted(2, 3), 1);
        CONFERENCES.add(&mut deltas, &account, counted(2, 2), 1);
        let written: Vec<(&str, Vec<i64>, i64)> = deltas
            .rows
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|((table, key), delta)| {
                let ints = key
                    .iter()
                    .filter_map(|(_, v)| match v {
                        Value::Int(i) => Some(*i),
                        Value::Text(_) => None,
                    })
                    .collect();
                (*table, ints, *delta)
            })
            .collect();
        assert_eq!(
            written,
            [
                ("conference_day_counts", vec![2, 2, 2], 1),
                ("conference_day_counts", vec![2, 3, 3], 2),
                // Hour, clock and status: both clocks' hours of days 2 and 3.
                ("conference_hour_counts", vec![48, 0, 2], 1),
                ("conference_hour_counts", vec![48, 1, 2], 1),
                ("conference_hour_counts", vec![72, 0, 2], 2),
                ("conference_hour_counts", vec![72, 1, 2], 2),
                ("conference_status_counts", vec![2], 3),
            ]
        );
    }

    #[test]
    fn a_day_is_walked_from_its_nearer_end() {
        // 2,740 rows: skipping 1,978 from the newest passes more than the
        // 712 older than the page.
        let deep = span(2_740, 1_978, 50);
        assert_eq!(deep.skip_from_oldest(), 712);
        assert!(deep.oldest_first(None));
        let shallow = span(2_740, 100, 50);
        assert!(!shallow.oldest_first(None));
        // A tie walks from the newest end.
        assert!(!span(100, 25, 50).oldest_first(None));
    }

    #[test]
    fn a_day_after_a_date_created_bound_is_walked_from_its_start() {
        // The page's rows are the newest of the day's list rows, but every
        // one was created before the day began.
        let newest = span(116, 0, 50);
        assert!(
            !newest.oldest_first(Some(11 * DAY)),
            "bound after the start"
        );
        assert!(newest.oldest_first(Some(10 * DAY)));
        assert!(newest.oldest_first(Some(3 * DAY)));
        // A day without a start bound (the earliest there is) never is.
        let unbounded = DaySpan {
            start: None,
            ..newest
        };
        assert!(!unbounded.oldest_first(Some(3 * DAY)));
    }

    #[test]
    fn the_next_batch_is_sized_by_the_rows_per_day_read() {
        // 16 days held 43,840 rows; 56,210 more reach row 100,050: about
        // 20.5 days at that rate, a quarter more and two over.
        assert_eq!(next_batch(16, 16, 43_840, 100_050), 27);
        // Never fewer than the first batch.
        assert_eq!(next_batch(16, 16, 43_840, 44_000), FIRST_BATCH);
        // Days that held no rows give no rate: grow fourfold.
        assert_eq!(next_batch(16, 16, 0, 10), 64);
        // Far pages do not overflow.
        assert_eq!(next_batch(16, i64::MAX, 1, i64::MAX), i64::MAX);
    }
}
