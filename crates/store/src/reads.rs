//! The API's reads: one conference or participant, and the filtered, paged
//! lists, every one scoped by account.
//!
//! Scoping is part of each query's `WHERE`, not a check afterwards: another
//! account's conference is simply not found, exactly like a missing one, so
//! nothing here can tell a caller that it exists.
//!
//! A list is one statement: the page (`ORDER BY … LIMIT … OFFSET …`), each
//! row carrying the total from an uncorrelated subquery, a `COUNT(*)` with
//! the same `WHERE` (both databases evaluate it once per statement); a
//! conference list's page even comes back as one row (its sids joined). The
//! `WHERE` is built from the filters present and binds only those; its
//! structure is fixed text from this file, never caller input. The indexes
//! that serve these shapes are in `migrations/`.
//!
//! Conference lists never count rows, but for a FriendlyName with dates:
//! the writes keep per-day counts of each account's conferences by status,
//! DateCreated day and DateUpdated day (`conference_day_counts`, migration
//! 0011), and a sum over them is the list's total (over the totals by
//! status, migration 0016, when there are no dates; a FriendlyName list
//! without dates sums the per-name counts, `name_counts`). A shallow page (one
//! that starts before row [`SHALLOW_ROWS`]) is then one statement: the
//! page walks the list's index from its top (`OFFSET`), the total is that
//! sum in a subquery. A deeper page, or any page of a DateCreated filter
//! with an upper bound (whose walk in DateUpdated order would pass every
//! row created after it), seeks instead: the day counts (`DayCounts::seek`,
//! summed day by day from the end of the list nearer the page) give the
//! total and the DateUpdated days the page's rows lie in, with how many
//! rows come before the first; the page then walks the index within each of
//! those days (`date_updated >= start AND date_updated < end`) from the
//! day's nearer end (`DaySpan::oldest_first`), skipping only the rows of
//! the first or last day that lie that way: page 10,000 costs what page 0
//! does, plus at most half a day's rows, and no day without a matching row
//! is read.
//! The day sums only guide the statement that reads the page (a list's
//! are remembered, `guides`): that one statement (one snapshot) counts
//! again the total and the rows beyond the days it walks, so a page and
//! its total always agree, however rooms write meanwhile; a guide that no
//! longer fits is read again, and failing that the seek and the page share
//! one read transaction (`Store::seek_page`).
//!
//! The page and the count want different plans. The count wants the narrowest
//! index range (for a `DateCreated` filter, the `date_created` indexes);
//! the page wants to walk an index already in `date_updated` order and stop
//! after `LIMIT` rows, checking `date_created` from the index entry itself
//! (the walking indexes carry it). Left alone, SQLite drives the page by the
//! `date_created` range too and then sorts every match to keep fifty, which
//! measured 12 ms a page on 10,000 conferences. So in the page query the
//! `date_created` conditions are written `+date_created`: the same test, but
//! a unary plus SQLite (and PostgreSQL) will not seek an index with.
//!
//! A completed conference never changes again: a conference list's page
//! reads only sids, straight from the index it walks, and the records come
//! from a cache of completed ones, the few it lacks by sid (`cached`).

use model::{
    AccountSid, CallSid, ConferenceFilter, ConferenceRecord, ConferenceSid, DateRange, PageRequest,
    ParticipantFilter, ParticipantRecord, Timestamp,
};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

use crate::count::Count;
use crate::day_counts::CONFERENCES;
use crate::day_counts::Seeking;
use crate::rows::{self, PARTICIPANT_COLUMNS, bool_to_db};
use crate::sql_where::{Value, Where, limit_offset};
use crate::{Backend, Store, StoreError};

/// What a list reads: its table, columns, order, and row decoder.
pub(crate) struct Listing<T> {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static str,
    pub(crate) order: &'static str,
    pub(crate) decode: fn(&AnyRow) -> Result<T, StoreError>,
}

// Manual impls: the derives would demand `T: Copy`.
impl<T> Clone for Listing<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Listing<T> {}

const PARTICIPANTS: Listing<ParticipantRecord> = Listing {
    table: "participants",
    columns: PARTICIPANT_COLUMNS,
    order: PARTICIPANT_ORDER,
    decode: rows::participant,
};

/// Participants: join order; the call sid settles joins in the same microsecond.
const PARTICIPANT_ORDER: &str = "ORDER BY date_created ASC, call_sid ASC";

impl Store {
    /// The conference `sid` if it belongs to `account`.
    pub async fn conference(
        &self,
        account: &AccountSid,
        sid: &ConferenceSid,
    ) -> Result<Option<ConferenceRecord>, StoreError> {
        self.record(&self.conference_cache, account, sid).await
    }

    /// One page of an account's conferences matching `filter`, newest
    /// `date_updated` first (ties by sid, decisions.md), and how many match
    /// in all.
    pub async fn conferences(
        &self,
        account: &AccountSid,
        filter: &ConferenceFilter,
        page: PageRequest,
    ) -> Result<(Vec<ConferenceRecord>, u64), StoreError> {
        // Boxed: its statements make a future of two kilobytes, which
        // inline would be part of every caller's future. An API request's
        // future is moved whole into its box, so every request, listing
        // or not, would copy it.
        Box::pin(self.conferences_unboxed(account, filter, page)).await
    }

    async fn conferences_unboxed(
        &self,
        account: &AccountSid,
        filter: &ConferenceFilter,
        page: PageRequest,
    ) -> Result<(Vec<ConferenceRecord>, u64), StoreError> {
        let w = conference_where(account, filter);
        let limit = i64::try_from(page.size).unwrap_or(i64::MAX);
        // An offset that does not fit SQL's OFFSET is past any real end.
        let offset = page.offset().unwrap_or(i64::MAX);
        let Some(days) = day_sums_where(account, filter) else {
            let count = match name_sums_where(account, filter) {
                Some(names) => Count::NameSums(names),
                None => Count::Rows,
            };
            if page.offset().is_none() {
                return Ok((Vec::new(), self.count(&w, &count, "conferences").await?));
            }
            return self
                .conference_page(account, &w, &count, limit, offset)
                .await;
        };
        // A shallow page walks its index from the top in one statement
        // that also sums the day counts, cheaper than a seek; unless a
        // DateCreated filter with an upper bound would make that walk
        // (newest DateUpdated first) pass every conference created after
        // it. A lower bound only passes the ones created before it and
        // updated since, which a conference's life keeps to a few.
        if offset < self.shallow_rows && filter.date_created.until.is_none() {
            let count = Count::DaySums(CONFERENCES, days);
            return self
                .conference_page(account, &w, &count, limit, offset)
                .await;
        }
        self.conferences_by_day(account, filter, &days, limit, offset)
            .await
    }

    /// The page of `account`'s conferences matching `w` at `offset` in one
    /// statement (plus the records the cache lacks), with its total
    /// counted as `count` says.
    async fn conference_page(
        &self,
        account: &AccountSid,
        w: &Where,
        count: &Count,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConferenceRecord>, u64), StoreError> {
        self.sid_page(
            &self.conference_cache,
            "date_updated",
            account,
            (w, count),
            limit,
            offset,
        )
        .await
    }

    /// A conference list the day counts `days` can total (no FriendlyName,
    /// whole-day date bounds), paged by seeking (see the module doc): the
    /// day counts give the total and the DateUpdated days the page's rows
    /// lie in, and the page walks the index within each of those days from
    /// its nearer end (a day after a DateCreated bound from its start: see
    /// `DaySpan::oldest_first`). The total and the page come from one
    /// snapshot, so they agree even while rooms write (`Store::seek_page`).
    async fn conferences_by_day(
        &self,
        account: &AccountSid,
        filter: &ConferenceFilter,
        days: &Where,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConferenceRecord>, u64), StoreError> {
        self.seek_page(
            &self.conference_cache,
            Seeking {
                counts: CONFERENCES,
                by: "updated_day",
                days,
                key: "date_updated",
                created_before: filter.date_created.until.map(Timestamp::as_micros),
            },
            account,
            || conference_where(account, filter),
            limit,
            offset,
        )
        .await
    }

    /// A read transaction: one snapshot for every statement in it
    /// (SQLite's deferred `BEGIN` in WAL mode; PostgreSQL's REPEATABLE READ).
    pub(crate) async fn begin_read(&self) -> Result<sqlx::Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
        })
    }

    /// The participant `call` of `conference`, if both belong to `account`.
    pub async fn participant(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
    ) -> Result<Option<ParticipantRecord>, StoreError> {
        // participants.account_sid is its conference's account (a composite
        // foreign key), so no join is needed to scope by account.
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants \
             WHERE call_sid = $1 AND conference_sid = $2 AND account_sid = $3"
        );
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql))
                .bind(call.as_str())
                .bind(conference.as_str())
                .bind(account.as_str()),
            rows::participant,
        )
        .await
    }

    /// The participant labelled `label` in `conference`, if both belong to
    /// `account` (labels are unique within a conference).
    pub async fn participant_by_label(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        label: &str,
    ) -> Result<Option<ParticipantRecord>, StoreError> {
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants \
             WHERE conference_sid = $1 AND label = $2 AND account_sid = $3"
        );
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql))
                .bind(conference.as_str())
                .bind(label)
                .bind(account.as_str()),
            rows::participant,
        )
        .await
    }

    /// One page of a conference's participants in join order, and how many
    /// match. A conference of another account has none.
    pub async fn participants(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        filter: &ParticipantFilter,
        page: PageRequest,
    ) -> Result<(Vec<ParticipantRecord>, u64), StoreError> {
        let w = participant_where(account, conference, filter);
        self.list(&w, &Count::Rows, &PARTICIPANTS, page).await
    }

    /// The page and the total of one list, in one statement: every page
    /// row carries the total, counted by an uncorrelated subquery that both
    /// databases evaluate once per statement. Only an empty page (past the
    /// end, or nothing matches) costs a second statement for the total.
    pub(crate) async fn list<T>(
        &self,
        w: &Where,
        count: &Count,
        listing: &Listing<T>,
        page: PageRequest,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let Listing { table, decode, .. } = *listing;
        // An offset that does not fit SQL's OFFSET is past any real end.
        let Some(offset) = page.offset() else {
            return Ok((Vec::new(), self.count(w, count, table).await?));
        };
        let limit = i64::try_from(page.size).unwrap_or(i64::MAX);
        let found = list_query(w, count, listing, limit, offset)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = found.first() else {
            return Ok((Vec::new(), self.count(w, count, table).await?));
        };
        let total = rows::total(first)?;
        let items = found.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Ok((items, total))
    }

    /// A list's total on its own.
    async fn count(&self, w: &Where, count: &Count, table: &str) -> Result<u64, StoreError> {
        let (sql, count_where) = count.sql(table, w, 0);
        let query = count_where.bind_all(sqlx::query(AssertSqlSafe(sql)));
        rows::count(&query.fetch_one(&self.pool).await?)
    }
}

/// A list's statement with its values bound: the page of `listing` rows
/// matching `w`, each carrying the total as `total`. The subquery comes
/// first in the text, so its placeholders are numbered first (SQLite numbers
/// `$N` parameters as they appear), then `w`'s.
pub(crate) fn list_query<'q, T>(
    w: &'q Where,
    count: &'q Count,
    listing: &Listing<T>,
    limit: i64,
    offset: i64,
) -> Query<'q, Any, AnyArguments> {
    let Listing {
        table,
        columns,
        order,
        ..
    } = *listing;
    let (count_sql, count_where) = count.sql(table, w, 0);
    let sql = format!(
        "SELECT {columns}, ({count_sql}) AS total FROM {table} {} {order} {}",
        w.clause(true, count_where.len()),
        limit_offset(limit, offset)
    );
    w.bind_all(count_where.bind_all(sqlx::query(AssertSqlSafe(sql))))
}

/// Pages that start before this row are read by walking the list's index
/// from its top (`OFFSET`), in the same statement as the total; deeper
/// ones seek through the per-day counts first (see the module doc). Below
/// about a thousand rows the walk costs less than the seek's window sums
/// over a year of day counts.
pub(crate) const SHALLOW_ROWS: i64 = 1_000;

pub(crate) fn conference_where(account: &AccountSid, filter: &ConferenceFilter) -> Where {
    let mut w = Where::default();
    w.push("account_sid", "=", Value::Text(account.as_str().to_owned()));
    if let Some(status) = filter.status {
        w.push_codes("status", std::iter::once(status.code()));
    }
    if let Some(name) = &filter.friendly_name {
        w.push("friendly_name", "=", Value::Text(name.clone()));
    }
    w.push_range("date_created", &filter.date_created, true);
    w.push_range("date_updated", &filter.date_updated, false);
    w
}

/// The `WHERE` over the per-day counts the writes keep
/// (`migrations/0011_…`) that totals the conferences matching `filter`,
/// when they can answer it: no name, and DateCreated and DateUpdated bounds
/// on UTC midnights (the API's are). `None` means: count rows.
fn day_sums_where(account: &AccountSid, filter: &ConferenceFilter) -> Option<Where> {
    let whole_days = |r: &DateRange| {
        r.from.is_none_or(Timestamp::is_utc_midnight)
            && r.until.is_none_or(Timestamp::is_utc_midnight)
    };
    if filter.friendly_name.is_some()
        || !whole_days(&filter.date_created)
        || !whole_days(&filter.date_updated)
    {
        return None;
    }
    let mut w = Where::default();
    w.push("account_sid", "=", Value::Text(account.as_str().to_owned()));
    if let Some(status) = filter.status {
        w.push_codes("status", std::iter::once(status.code()));
    }
    for (column, range) in [
        ("day", filter.date_created),
        ("updated_day", filter.date_updated),
    ] {
        if let Some(from) = range.from {
            w.push(column, ">=", Value::Int(from.utc_day()));
        }
        if let Some(until) = range.until {
            w.push(column, "<", Value::Int(until.utc_day()));
        }
    }
    Some(w)
}

/// The `WHERE` over the per-name counts (`name_counts`) that totals the
/// conferences matching `filter`, when they can answer it: a FriendlyName,
/// perhaps a Status, no dates. `None` otherwise.
fn name_sums_where(account: &AccountSid, filter: &ConferenceFilter) -> Option<Where> {
    let name = filter.friendly_name.as_ref()?;
    if filter.date_created != DateRange::default() || filter.date_updated != DateRange::default() {
        return None;
    }
    let mut w = Where::default();
    w.push("account_sid", "=", Value::Text(account.as_str().to_owned()));
    w.push("friendly_name", "=", Value::Text(name.clone()));
    if let Some(status) = filter.status {
        w.push_codes("status", std::iter::once(status.code()));
    }
    Some(w)
}

pub(crate) fn participant_where(
    account: &AccountSid,
    conference: &ConferenceSid,
    filter: &ParticipantFilter,
) -> Where {
    let mut w = Where::default();
    w.push(
        "conference_sid",
        "=",
        Value::Text(conference.as_str().to_owned()),
    );
    w.push("account_sid", "=", Value::Text(account.as_str().to_owned()));
    if let Some(muted) = filter.muted {
        w.push("muted", "=", Value::Int(bool_to_db(muted)));
    }
    if let Some(hold) = filter.hold {
        w.push("hold", "=", Value::Int(bool_to_db(hold)));
    }
    match filter.coaching {
        Some(true) => w.push_condition("call_sid_to_coach IS NOT NULL"),
        Some(false) => w.push_condition("call_sid_to_coach IS NULL"),
        None => {}
    }
    w
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cached::{one_statement_sql, sid_page_query, sid_page_sql, walk_sql};
    use crate::call_lists::CallOrder;
    use crate::day_counts::{DayCounts, Seeking};
    use crate::name_counts;
    use crate::test_postgres::TestPostgres;
    use model::CallRecord;
    use model::{ConferenceStatus, Timestamp};
    use sqlx::{Execute, Row};

    /// The plan SQLite picks for a statement, one `detail` line per step.
    async fn plan(store: &Store, mut q: Query<'_, Any, AnyArguments>) -> Vec<String> {
        let args = q.take_arguments().unwrap().unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", q.sql().as_str());
        sqlx::query_with(AssertSqlSafe(sql), args)
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect()
    }

    /// The plans of a list's statement and of its count on its own.
    async fn plans<T>(
        store: &Store,
        w: &Where,
        count: &Count,
        listing: &Listing<T>,
    ) -> (Vec<String>, Vec<String>) {
        let (count_sql, count_where) = count.sql(listing.table, w, 0);
        (
            plan(store, list_query(w, count, listing, 50, 0)).await,
            plan(
                store,
                count_where.bind_all(sqlx::query(AssertSqlSafe(count_sql))),
            )
            .await,
        )
    }

    /// Every list shape the API can produce is served by an index on SQLite
    /// (no table scan), and the shapes whose filters leave the
    /// `date_updated DESC, sid` order to an index need no sort step either.
    /// Only a `date_created` range cannot have both: its index finds the
    /// rows, and SQLite sorts just those.
    #[tokio::test]
    async fn every_list_shape_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let store = Store::connect(&url).await.unwrap();
        let account = AccountSid::from_random([1; 16]);
        let ts = Timestamp::from_secs(1_700_000_000);
        let range = DateRange {
            from: Some(ts),
            until: Some(ts),
        };
        let from = DateRange {
            from: Some(ts),
            until: None,
        };
        let status = Some(ConferenceStatus::Completed);
        let name = Some("standup".to_owned());
        let (midnight, next) = Timestamp::day_bounds("2023-11-14").unwrap();
        let days = DateRange {
            from: Some(midnight),
            until: Some(next),
        };
        let shapes = [
            (
                "created days",
                ConferenceFilter {
                    date_created: days,
                    ..Default::default()
                },
                true,
            ),
            (
                "updated days",
                ConferenceFilter {
                    date_updated: days,
                    ..Default::default()
                },
                true,
            ),
            (
                "status+created days",
                ConferenceFilter {
                    status,
                    date_created: days,
                    ..Default::default()
                },
                true,
            ),
            ("no filter", ConferenceFilter::default(), true),
            (
                "status",
                ConferenceFilter {
                    status,
                    ..Default::default()
                },
                true,
            ),
            (
                "name",
                ConferenceFilter {
                    friendly_name: name.clone(),
                    ..Default::default()
                },
                true,
            ),
            (
                "updated",
                ConferenceFilter {
                    date_updated: range,
                    ..Default::default()
                },
                true,
            ),
            (
                "updated from",
                ConferenceFilter {
                    date_updated: from,
                    ..Default::default()
                },
                true,
            ),
            (
                "status+updated",
                ConferenceFilter {
                    status,
                    date_updated: range,
                    ..Default::default()
                },
                true,
            ),
            (
                "status+name",
                ConferenceFilter {
                    status,
                    friendly_name: name.clone(),
                    ..Default::default()
                },
                true,
            ),
            (
                "created",
                ConferenceFilter {
                    date_created: range,
                    ..Default::default()
                },
                true,
            ),
            (
                "status+created",
                ConferenceFilter {
                    status,
                    date_created: range,
                    ..Default::default()
                },
                true,
            ),
            (
                "everything",
                ConferenceFilter {
                    status,
                    friendly_name: name,
                    date_created: range,
                    date_updated: range,
                },
                true,
            ),
        ];
        let mut report = Vec::new();
        for (label, filter, sorted_by_index) in shapes {
            let w = conference_where(&account, &filter);
            let day_sums = day_sums_where(&account, &filter);
            let page = plan(
                &store,
                w.bind_all(sqlx::query(AssertSqlSafe(
                    sid_page_sql::<ConferenceRecord>("date_updated", &w, 0, 50, 0),
                ))),
            )
            .await;
            let count = match &day_sums {
                Some(days) => {
                    let sql = CONFERENCES.sum_sql(days, 0);
                    plan(&store, days.bind_all(sqlx::query(AssertSqlSafe(sql)))).await
                }
                None => {
                    let (sql, rows) = Count::Rows.sql("conferences", &w, 0);
                    plan(&store, rows.bind_all(sqlx::query(AssertSqlSafe(sql)))).await
                }
            };
            // The whole statement: the page and the count inside it, plus
            // at most one sort of the page's own rows for the aggregate.
            let count_as = match (&day_sums, name_sums_where(&account, &filter)) {
                (Some(days), _) => Count::DaySums(CONFERENCES, days.clone()),
                (None, Some(names)) => {
                    // A name's total: its few per-name count rows, by key.
                    let sql = name_counts::sum_sql(&names, 0);
                    let plan = plan(&store, names.bind_all(sqlx::query(AssertSqlSafe(sql)))).await;
                    check(label, &plan, true);
                    report.push(format!("{label}: name count {plan:?}"));
                    Count::NameSums(names)
                }
                (None, None) => Count::Rows,
            };
            let whole = plan(
                &store,
                sid_page_query::<ConferenceRecord>("date_updated", &w, &count_as, 50, 0),
            )
            .await;
            assert!(
                sorts(&whole) <= usize::from(!sorted_by_index) + 1,
                "{label}: {whole:?}"
            );
            check(label, &page, sorted_by_index);
            check(label, &count, true);
            report.push(format!("{label}: page {page:?}, count {count:?}"));
            if let Some(days) = &day_sums {
                // The seek reads the day counts' covering indexes alone, in
                // day order from either end (no sort: a batch stops reading
                // at its LIMIT), and the page it bounds walks the
                // conferences' index.
                for (newest_first, after) in [(true, false), (true, true), (false, true)] {
                    let sql =
                        CONFERENCES.day_sums_sql("updated_day", days, newest_first, after, 16);
                    let mut query = days.bind_all(sqlx::query(AssertSqlSafe(sql)));
                    if after {
                        query = query.bind(20_000_i64);
                    }
                    let seek = plan(&store, query).await;
                    let reads: Vec<&String> = seek
                        .iter()
                        .filter(|s| s.contains("conference_day_counts"))
                        .collect();
                    assert!(!reads.is_empty(), "{label}: {seek:?}");
                    for step in reads {
                        assert!(
                            step.starts_with("SEARCH ") && step.contains("COVERING INDEX"),
                            "{label}: {seek:?}"
                        );
                    }
                    // A DateCreated range may be read through its own
                    // index and its days sorted: the range bounds them.
                    let created_range = filter.date_created != DateRange::default();
                    assert!(
                        created_range || !seek.iter().any(|s| s.contains("GROUP BY")),
                        "{label}: {seek:?}"
                    );
                    report.push(format!("{label}: seek {seek:?}"));
                }
                // The page within one DateUpdated day the seek named.
                let mut bounded = conference_where(&account, &filter);
                bounded.push("date_updated", ">=", Value::Int(midnight.as_micros()));
                bounded.push("date_updated", "<", Value::Int(next.as_micros()));
                // Walked from either end of the day (`DaySpan::oldest_first`).
                for oldest_first in [false, true] {
                    let page = plan(
                        &store,
                        bounded.bind_all(sqlx::query(AssertSqlSafe(walk_sql::<ConferenceRecord>(
                            "date_updated",
                            &bounded,
                            0,
                            oldest_first,
                            50,
                            10,
                        )))),
                    )
                    .await;
                    check(label, &page, sorted_by_index);
                    report.push(format!("{label}: bounded page {page:?}"));
                    // The same walk inside a deep page's one statement,
                    // beside its counts (`cached::one_statement_sql`).
                    let seek = Seeking {
                        counts: CONFERENCES,
                        by: "updated_day",
                        days,
                        key: "date_updated",
                        created_before: None,
                    };
                    // Its rows beyond the day counted from either side,
                    // or vouched for by a guide's version.
                    for (from_other_side, vouched) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        // The day's side away from the walk's start; the
                        // statement bounds the other itself, last.
                        let mut far_side = conference_where(&account, &filter);
                        let edge = if oldest_first {
                            far_side.push("date_updated", "<", Value::Int(next.as_micros()));
                            midnight.as_micros()
                        } else {
                            far_side.push("date_updated", ">=", Value::Int(midnight.as_micros()));
                            next.as_micros()
                        };
                        let sql = one_statement_sql::<ConferenceRecord>(
                            &seek,
                            &far_side,
                            oldest_first,
                            from_other_side,
                            vouched,
                        );
                        let mut query = far_side
                            .bind_all(days.bind_all(sqlx::query(AssertSqlSafe(sql))))
                            .bind(20_000_i64)
                            .bind(900_000_i64)
                            .bind(900_050_i64);
                        if vouched {
                            query = query
                                .bind(account.as_str())
                                .bind(7_i64)
                                .bind(1_000_000_i64)
                                .bind(899_990_i64)
                                .bind(edge - 3_600_000_000)
                                .bind(100_i64);
                        }
                        let whole = plan(&store, query.bind(edge)).await;
                        for step in whole.iter().filter(|s| s.contains(" conference")) {
                            assert!(
                                step.starts_with("SEARCH ") && step.contains(" INDEX "),
                                "{label}: {whole:?}"
                            );
                        }
                        let walks = whole.iter().filter(|s| s.contains(" conferences ")).count();
                        assert_eq!(walks, 1, "{label}: {whole:?}");
                        assert!(
                            sorts(&whole) <= usize::from(!sorted_by_index) + 1,
                            "{label}: {whole:?}"
                        );
                        report.push(format!("{label}: one-statement page {whole:?}"));
                    }
                }
                if DayCounts::totals_answer(days) {
                    // The hour sums of one day where such a page starts
                    // (`guides::Guides::hour_start`): by key, in order.
                    let sql = CONFERENCES.hour_sums_sql("updated_day", days, days.len() + 1);
                    let hours = days
                        .bind_all(sqlx::query(AssertSqlSafe(sql)))
                        .bind(20_000_i64);
                    let hours = plan(&store, hours).await;
                    let reads: Vec<&String> = hours
                        .iter()
                        .filter(|s| s.contains("conference_hour_counts"))
                        .collect();
                    assert_eq!(reads.len(), 1, "{label}: {hours:?}");
                    assert!(
                        reads[0].starts_with("SEARCH ") && reads[0].contains(" PRIMARY KEY "),
                        "{label}: {hours:?}"
                    );
                    assert!(
                        !hours.iter().any(|s| s.contains("GROUP BY")),
                        "{label}: {hours:?}"
                    );
                    report.push(format!("{label}: hour sums {hours:?}"));
                }
            }
        }
        let conference = ConferenceSid::from_random([2; 16]);
        for filter in [
            ParticipantFilter::default(),
            ParticipantFilter {
                muted: Some(true),
                ..Default::default()
            },
            ParticipantFilter {
                muted: Some(false),
                hold: Some(true),
                coaching: Some(true),
            },
            ParticipantFilter {
                coaching: Some(false),
                ..Default::default()
            },
        ] {
            let w = participant_where(&account, &conference, &filter);
            let (page, count) = plans(&store, &w, &Count::Rows, &PARTICIPANTS).await;
            check("participants", &page, true);
            check("participants", &count, true);
            report.push(format!(
                "participants {filter:?}: page {page:?}, count {count:?}"
            ));
        }
        for filter in crate::call_lists::example_filters() {
            let w = crate::call_lists::call_where(&account, &filter);
            let only_status = filter
                == model::CallFilter {
                    status: filter.status.clone(),
                    ..Default::default()
                };
            let statuses = filter.status.as_ref().map_or(0, Vec::len);
            for order in [CallOrder::Created, CallOrder::Updated] {
                let (key, _) = order.key();
                let walk = |w: &Where, oldest_first, offset| {
                    let sql = walk_sql::<CallRecord>(key, w, 0, oldest_first, 50, offset);
                    w.bind_all(sqlx::query(AssertSqlSafe(sql)))
                };
                let page_sql = |w: &Where, offset| walk(w, false, offset);
                let counted = |count: &Count| {
                    let (sql, w) = count.sql("calls", &w, 0);
                    w.bind_all(sqlx::query(AssertSqlSafe(sql)))
                };
                let page = plan(&store, page_sql(&w, 0)).await;
                let count = plan(&store, counted(&Count::Rows)).await;
                check("calls", &page, true);
                check("calls", &count, true);
                report.push(format!(
                    "calls by {key} {filter:?}: page {page:?}, count {count:?}"
                ));
                if !only_status {
                    continue;
                }
                // Status alone: the shallow page walks an index in list
                // order (one status: the status's own, migration 0013)
                // beside the day counts' sum, reading no table rows to
                // skip other statuses: the sids come from the index.
                let days = Count::DaySums(crate::day_counts::CALLS, w.clone());
                let count = plan(&store, counted(&days)).await;
                check("calls by day", &page, true);
                check("calls by day", &count, true);
                assert!(
                    page.iter().any(|s| s.contains("COVERING INDEX")),
                    "{filter:?}: {page:?}"
                );
                if statuses == 1 {
                    assert!(
                        page.iter().any(|s| s.contains("calls_by_status_")),
                        "{filter:?}: {page:?}"
                    );
                }
                let whole = plan(&store, sid_page_query::<CallRecord>(key, &w, &days, 50, 0)).await;
                assert!(
                    sorts(&whole) <= usize::from(statuses > 1) + 1,
                    "{filter:?}: {whole:?}"
                );
                // A deeper page: within one day the seek named; several
                // statuses may sort that day's matches, never more.
                let mut bounded = w.clone();
                bounded.push(key, ">=", Value::Int(midnight.as_micros()));
                bounded.push(key, "<", Value::Int(next.as_micros()));
                for oldest_first in [false, true] {
                    let page = plan(&store, walk(&bounded, oldest_first, 10)).await;
                    check("calls in a day", &page, statuses < 2);
                    report.push(format!("calls {filter:?} in a day: {page:?}"));
                }
            }
        }
        // `cargo test -- --nocapture` shows what SQLite chose.
        println!("{}", report.join("\n"));
    }

    /// How many sorts a plan makes (its temporary B-trees).
    fn sorts(plan: &[String]) -> usize {
        plan.iter()
            .filter(|s| s.starts_with("USE TEMP B-TREE"))
            .count()
    }

    fn check(label: &str, plan: &[String], sorted_by_index: bool) {
        assert!(!plan.is_empty(), "{label}: no plan");
        // A subquery's own steps follow its header line.
        for step in plan.iter().filter(|s| !s.starts_with("SCALAR SUBQUERY")) {
            let indexed =
                step.starts_with("SEARCH ") && step.contains(" USING ") && step.contains("INDEX ");
            let sort = step.starts_with("USE TEMP B-TREE FOR ORDER BY");
            assert!(indexed || (sort && !sorted_by_index), "{label}: {plan:?}");
        }
    }

    /// On PostgreSQL, which plans a statement once for any values, a page
    /// of the few in-progress conferences among many completed ones seeks
    /// the status index instead of walking every conference for them: the
    /// status is written into the statement (`Where::push_codes`).
    #[tokio::test]
    async fn a_rare_status_seeks_its_index_on_postgres() {
        let Some(db) = TestPostgres::create().await else {
            return;
        };
        let account = AccountSid::from_random([1; 16]);
        let sid = account.as_str();
        for sql in [
            format!("INSERT INTO accounts VALUES ('{sid}', 'a', 't', 0, 0)"),
            format!(
                "INSERT INTO conferences \
                 (sid, account_sid, friendly_name, status, date_created, date_updated) \
                 SELECT 'CF' || i, '{sid}', 'room' || i, \
                 CASE WHEN i % 1000 = 0 THEN 1 ELSE 2 END, i, i \
                 FROM generate_series(1, 20000) AS i"
            ),
            "ANALYZE conferences".to_owned(),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&db.store.pool)
                .await
                .unwrap();
        }
        let filter = ConferenceFilter {
            status: Some(ConferenceStatus::InProgress),
            ..Default::default()
        };
        let w = conference_where(&account, &filter);
        let page = sid_page_query::<ConferenceRecord>("date_updated", &w, &Count::Rows, 50, 0);
        // The account is the only value bound, once for the count and once
        // for the page.
        let sql = page.sql().as_str().to_owned();
        let mut conn = db.store.pool.acquire().await.unwrap();
        let args = format!("'{sid}', '{sid}'");
        let plan = TestPostgres::plan(&mut conn, "rare", &sql, "text, text", &args).await;
        // Bound, the status made the count's plan read every conference.
        assert!(
            plan.contains("conferences_by_status_updated") && !plan.contains("Seq Scan"),
            "{sql}\n{plan}"
        );
        drop(conn);
        db.finish().await;
    }
}
