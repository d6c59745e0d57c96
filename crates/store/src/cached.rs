//! Records that never change once final, and the lists that read their
//! pages through a cache of them.
//!
//! A completed conference never changes again, and neither does an ended
//! call (`Store::finish_call`: a call's first end is its last). So the
//! store keeps the final records it has read in a bounded in-memory map
//! ([`FinalCache`]), one per table, and a list of them reads its page in
//! two steps:
//!
//! 1. the page's sids only, as one row (`string_agg … ORDER BY`, the same
//!    on SQLite ≥ 3.44 and on PostgreSQL), straight from the index the
//!    page walks, which carries the sid and the order's key: no table
//!    lookups, and one row's trip from sqlx's SQLite worker thread instead
//!    of one per record;
//! 2. the records from the cache, and the few it lacks (live ones, ones
//!    not read yet) in one more query by sid.
//!
//! Every such list is ordered newest first by one timestamp column (its
//! key), ties by sid.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use model::{
    AccountSid, CallRecord, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus, ReadCache,
    SidError,
};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe};

use crate::count::Count;
use crate::day_counts::{DayCounts, Seek};
use crate::rows::{self, CALL_COLUMNS, CONFERENCE_COLUMNS};
use crate::sql_where::{Where, limit_offset};
use crate::{Store, StoreError};

/// A record with a sid, stored in one table, that stops changing once it
/// is final.
pub(crate) trait Final: Clone + Send + Sync + 'static {
    type Sid: Eq + Hash + Clone + Send + Sync + 'static;
    /// Its table, and the columns [`Final::decode`] reads.
    const TABLE: &'static str;
    const COLUMNS: &'static str;
    fn decode(row: &AnyRow) -> Result<Self, StoreError>;
    fn parse_sid(s: &str) -> Result<Self::Sid, SidError>;
    fn sid_str(sid: &Self::Sid) -> &str;
    fn sid(&self) -> &Self::Sid;
    fn account(&self) -> &AccountSid;
    /// Whether it can no longer change.
    fn is_final(&self) -> bool;
}

impl Final for ConferenceRecord {
    type Sid = ConferenceSid;
    const TABLE: &'static str = "conferences";
    const COLUMNS: &'static str = CONFERENCE_COLUMNS;
    fn decode(row: &AnyRow) -> Result<Self, StoreError> {
        rows::conference(row)
    }
    fn parse_sid(s: &str) -> Result<ConferenceSid, SidError> {
        ConferenceSid::parse(s)
    }
    fn sid_str(sid: &ConferenceSid) -> &str {
        sid.as_str()
    }
    fn sid(&self) -> &ConferenceSid {
        &self.sid
    }
    fn account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn is_final(&self) -> bool {
        self.status == ConferenceStatus::Completed
    }
}

impl Final for CallRecord {
    type Sid = CallSid;
    const TABLE: &'static str = "calls";
    const COLUMNS: &'static str = CALL_COLUMNS;
    fn decode(row: &AnyRow) -> Result<Self, StoreError> {
        rows::call(row)
    }
    fn parse_sid(s: &str) -> Result<CallSid, SidError> {
        CallSid::parse(s)
    }
    fn sid_str(sid: &CallSid) -> &str {
        sid.as_str()
    }
    fn sid(&self) -> &CallSid {
        &self.sid
    }
    fn account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn is_final(&self) -> bool {
        self.status.is_final()
    }
}

/// How a list seeks its deep pages: through which per-day `counts`, by
/// which of their day columns (`by`: `day` or `updated_day`), over the
/// counts `days` selects; the list is ordered newest `key` first. Every
/// row of the list was created before `created_before` (microseconds),
/// when it has such a bound (a DateCreated< filter).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seeking<'a> {
    pub(crate) counts: DayCounts,
    pub(crate) by: &'a str,
    pub(crate) days: &'a Where,
    pub(crate) key: &'static str,
    pub(crate) created_before: Option<i64>,
}

/// Final records by sid, bounded: when full it starts over, which costs a
/// few reads again and never returns anything stale.
pub(crate) struct FinalCache<R: Final> {
    cache: ReadCache<R::Sid, R>,
}

impl<R: Final> Default for FinalCache<R> {
    fn default() -> Self {
        Self {
            cache: ReadCache::new(Self::CAPACITY),
        }
    }
}

impl<R: Final> fmt::Debug for FinalCache<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinalCache")
            .field("table", &R::TABLE)
            .field("cache", &self.cache)
            .finish()
    }
}

impl<R: Final> FinalCache<R> {
    const CAPACITY: usize = 65_536;

    /// Caches `r` if it is final; others still change.
    fn remember(&self, r: &R) {
        if r.is_final() {
            self.cache.insert(r.sid().clone(), r.clone());
        }
    }
}

impl Store {
    /// The record `sid` if it belongs to `account`: from `cache` when it
    /// holds it, otherwise read (and cached if final).
    pub(crate) async fn record<R: Final>(
        &self,
        cache: &FinalCache<R>,
        account: &AccountSid,
        sid: &R::Sid,
    ) -> Result<Option<R>, StoreError> {
        if let Some(found) = cache.cache.get(sid) {
            return Ok((found.account() == account).then_some(found));
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE sid = $1 AND account_sid = $2",
            R::COLUMNS,
            R::TABLE
        );
        let found = self
            .fetch_decoded(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(R::sid_str(sid))
                    .bind(account.as_str()),
                R::decode,
            )
            .await?;
        if let Some(r) = &found {
            cache.remember(r);
        }
        Ok(found)
    }

    /// The page of `R`s matching `w` at `offset` (newest `key` first) and
    /// its total counted as `count` says, in one statement plus, for the
    /// records the cache lacks, one query by sid.
    pub(crate) async fn sid_page<R: Final>(
        &self,
        cache: &FinalCache<R>,
        key: &str,
        account: &AccountSid,
        (w, count): (&Where, &Count),
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<R>, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = sid_page_query::<R>(key, w, count, limit, offset)
            .fetch_one(&mut *conn)
            .await?;
        let total = rows::total(&row)?;
        let sids = rows::sids(&row, R::TABLE, R::parse_sid)?;
        let records = by_sid(&mut conn, cache, account, &sids).await?;
        Ok((records, total))
    }

    /// The page of `R`s at `offset` found by seeking as `seek` says (see
    /// `day_counts`); `page_where` is the `WHERE` of the list's rows, to
    /// which each day's bounds on the order's key are added. Every
    /// statement reads one snapshot (a read transaction), so the total and
    /// the page agree even while rows change.
    pub(crate) async fn seek_page<R: Final>(
        &self,
        cache: &FinalCache<R>,
        seek: Seeking<'_>,
        account: &AccountSid,
        page_where: impl Fn() -> Where,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<R>, u64), StoreError> {
        let Seeking {
            counts,
            by,
            days,
            key,
            created_before,
        } = seek;
        let mut tx = self.begin_read().await?;
        let (total, spans) = match counts.seek(&mut tx, by, days, offset, limit).await? {
            Seek::PastTheEnd { total } => {
                tx.commit().await?;
                return Ok((Vec::new(), total));
            }
            Seek::Page { total, days } => (total, days),
        };
        let mut sids = Vec::new();
        for span in spans {
            let mut w = page_where();
            span.bound(&mut w, key);
            // The day's index entries are walked from its nearer end.
            let walk = if span.oldest_first(created_before) {
                walk_sql::<R>(key, &w, 0, true, span.take, span.skip_from_oldest())
            } else {
                walk_sql::<R>(key, &w, 0, false, span.take, span.skip)
            };
            let sql = format!(
                "SELECT string_agg(sid, ',' ORDER BY {key} DESC, sid ASC) AS sids \
                 FROM ({walk}) AS page"
            );
            let row = w
                .bind_all(sqlx::query(AssertSqlSafe(sql)))
                .fetch_one(&mut *tx)
                .await?;
            sids.extend(rows::sids(&row, R::TABLE, R::parse_sid)?);
        }
        let records = by_sid(&mut tx, cache, account, &sids).await?;
        tx.commit().await?;
        Ok((records, total))
    }
}

/// The account's records `sids`, in that order: final ones from `cache`,
/// the others in one query (and cached if final now). A sid that is not
/// found (never, unless rows are deleted by hand) is left out.
async fn by_sid<R: Final>(
    conn: &mut AnyConnection,
    cache: &FinalCache<R>,
    account: &AccountSid,
    sids: &[R::Sid],
) -> Result<Vec<R>, StoreError> {
    let mut records = cache.cache.get_many(sids);
    let missing: Vec<&R::Sid> = sids
        .iter()
        .zip(&records)
        .filter_map(|(sid, r)| r.is_none().then_some(sid))
        .collect();
    if !missing.is_empty() {
        let placeholders: Vec<String> = (2..missing.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE account_sid = $1 AND sid IN ({})",
            R::COLUMNS,
            R::TABLE,
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(account.as_str());
        for sid in &missing {
            query = query.bind(R::sid_str(sid));
        }
        let mut found = HashMap::with_capacity(missing.len());
        for row in query.fetch_all(&mut *conn).await? {
            let r = R::decode(&row)?;
            cache.remember(&r);
            found.insert(r.sid().clone(), r);
        }
        for (slot, sid) in records.iter_mut().zip(sids) {
            if slot.is_none() {
                *slot = found.remove(sid);
            }
        }
    }
    Ok(records.into_iter().flatten().collect())
}

/// A list's page as one row: its sids in list order (newest `key` first,
/// ties by sid), joined by commas, and the total counted as `count` says.
/// The count subquery comes first in the text, so its placeholders are
/// numbered first (SQLite numbers `$N` parameters as they appear).
pub(crate) fn sid_page_query<'q, R: Final>(
    key: &str,
    w: &'q Where,
    count: &'q Count,
    limit: i64,
    offset: i64,
) -> Query<'q, Any, AnyArguments> {
    let (count_sql, count_where) = count.sql(R::TABLE, w, 0);
    let sql = format!(
        "SELECT string_agg(sid, ',' ORDER BY {key} DESC, sid ASC) AS sids, \
         ({count_sql}) AS total FROM ({}) AS page",
        sid_page_sql::<R>(key, w, count_where.len(), limit, offset)
    );
    w.bind_all(count_where.bind_all(sqlx::query(AssertSqlSafe(sql))))
}

/// The page of a list, sids and the order's `key` only (what the index it
/// walks carries), with `w`'s placeholders from `$(base + 1)`.
pub(crate) fn sid_page_sql<R: Final>(
    key: &str,
    w: &Where,
    base: usize,
    limit: i64,
    offset: i64,
) -> String {
    walk_sql::<R>(key, w, base, false, limit, offset)
}

/// Rows `offset .. offset + limit` of the list `w` selects, sids and `key`
/// only, walking its index newest `key` first (ties by sid), or oldest
/// first (the same index backwards, ties by sid descending).
pub(crate) fn walk_sql<R: Final>(
    key: &str,
    w: &Where,
    base: usize,
    oldest_first: bool,
    limit: i64,
    offset: i64,
) -> String {
    let order = if oldest_first {
        format!("{key} ASC, sid DESC")
    } else {
        format!("{key} DESC, sid ASC")
    };
    format!(
        "SELECT sid, {key} FROM {} {} ORDER BY {order} {}",
        R::TABLE,
        w.clause(true, base),
        limit_offset(limit, offset)
    )
}
