//! The records the lists have read, and the lists that read their pages
//! through a cache of them.
//!
//! A completed conference never changes again, and neither does an ended
//! call (`Store::finish_call`: a call's first end is its last). A live one
//! does, but every change of a row counts in its `version`, which the
//! database bumps on every UPDATE, whoever writes it (a trigger:
//! `migrations-sqlite/0020`, `migrations-postgres/0020`). So the store
//! keeps the records it has read in bounded in-memory maps
//! ([`RecordCache`], one per table), final ones by sid, live ones by sid
//! with their version, and a list reads its page in two steps:
//!
//! 1. the page's sids only, as one row (`string_agg … ORDER BY`, the same
//!    on SQLite ≥ 3.44 and on PostgreSQL), straight from the index the
//!    page walks, which carries the sid, the order's key, the status and
//!    the version: no table lookups, and one row's trip from sqlx's SQLite
//!    worker thread instead of one per record;
//! 2. the records from the cache (a live one only at the version the page
//!    read), and the few it lacks (changed since, not read yet) in one
//!    more query by sid.
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
use crate::day_counts::{self, DayCounts, DaySpan, Seek, Seeking};
use crate::guides::{DayWalk, Guide, Guides, HourStart};
use crate::rows::{self, CALL_COLUMNS, CONFERENCE_COLUMNS};
use crate::sql_where::{Value, Where, limit_offset};
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
    /// The rows that may still change ([`Final::is_final`] false): a
    /// condition on the table's `status` column.
    const LIVE: &'static str;
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
    const LIVE: &'static str = "status <> 2";
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
    // Not `IN (…)`: SQLite looks three values up in a table made for them.
    const LIVE: &'static str = "(status = 0 OR status = 1 OR status = 6)";
}

/// Records already read, bounded: final ones by sid, live ones by sid with
/// the row version they were read at. When full, a map starts over, which
/// costs a few reads again and never returns anything stale.
pub(crate) struct RecordCache<R: Final> {
    finals: ReadCache<R::Sid, R>,
    /// The last version of each live record read, and the record.
    live: ReadCache<R::Sid, (i64, R)>,
}

impl<R: Final> Default for RecordCache<R> {
    fn default() -> Self {
        Self {
            finals: ReadCache::new(Self::CAPACITY),
            live: ReadCache::new(Self::CAPACITY),
        }
    }
}

impl<R: Final> fmt::Debug for RecordCache<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordCache")
            .field("table", &R::TABLE)
            .field("finals", &self.finals)
            .field("live", &self.live)
            .finish()
    }
}

impl<R: Final> RecordCache<R> {
    const CAPACITY: usize = 65_536;

    /// The record `sid` as a page listed it: final (no version), or live
    /// at `version`.
    fn get(&self, sid: &R::Sid, version: Option<i64>) -> Option<R> {
        match version {
            None => self.finals.get(sid),
            Some(version) => self
                .live
                .get(sid)
                .and_then(|(cached, r)| (cached == version).then_some(r)),
        }
    }

    /// Caches `r`, read at `version`.
    fn remember(&self, r: &R, version: i64) {
        if r.is_final() {
            self.finals.insert(r.sid().clone(), r.clone());
        } else {
            self.live.insert(r.sid().clone(), (version, r.clone()));
        }
    }

    /// Caches `r` if it is final.
    fn remember_final(&self, r: &R) {
        if r.is_final() {
            self.finals.insert(r.sid().clone(), r.clone());
        }
    }
}

impl Store {
    /// The record `sid` if it belongs to `account`: from `cache` when it
    /// holds it, otherwise read (and cached if final).
    pub(crate) async fn record<R: Final>(
        &self,
        cache: &RecordCache<R>,
        account: &AccountSid,
        sid: &R::Sid,
    ) -> Result<Option<R>, StoreError> {
        if let Some(found) = cache.finals.get(sid) {
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
            cache.remember_final(r);
        }
        Ok(found)
    }

    /// The page of `R`s matching `w` at `offset` (newest `key` first) and
    /// its total counted as `count` says, in one statement plus, for the
    /// records the cache lacks, one query by sid.
    pub(crate) async fn sid_page<R: Final>(
        &self,
        cache: &RecordCache<R>,
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
    /// which each day's bounds on the order's key are added.
    ///
    /// The list's remembered guide (`guides`) names the days the page lies
    /// in, and one statement reads the page ([`one_statement_page`]): it
    /// counts again, in its own snapshot, the total and the rows beyond
    /// the days it walks, so its page and total always agree. Trips to
    /// sqlx's SQLite worker thread were most of a deep page's cost; a
    /// remembered guide leaves the page's own. When the guide no longer
    /// fits (rows moved since it was read) it is forgotten, and a seek
    /// run outside any snapshot guides the statement instead, if the
    /// totals by status answer the list's total (else the seek and the
    /// statement would both sum its day rows for it). Failing that, or
    /// when the page's days are not consecutive, every statement reads one
    /// read transaction ([`Store::seek_page_in_snapshot`]).
    pub(crate) async fn seek_page<R: Final>(
        &self,
        cache: &RecordCache<R>,
        seek: Seeking<'_>,
        account: &AccountSid,
        page_where: impl Fn() -> Where,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<R>, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        // The list's remembered guide first: no trip but the page's own.
        let (guide, key) = self.guides.guide(&mut conn, &seek, account).await?;
        if let Some(spans) = guide.spans(offset, limit).filter(|s| consecutive(s)) {
            let guided = Guided {
                spans: &spans,
                total: guide.total(),
                vouched: guide.version().map(|version| Vouched {
                    account,
                    version,
                    guide: &guide,
                    guides: &self.guides,
                    key: &key,
                }),
            };
            let page =
                one_statement_page::<R>(&mut conn, &seek, &page_where, guided, limit, offset);
            let OneStatement { page, guide_stale } = page.await?;
            if guide_stale || page.is_none() {
                // Rows moved since it was read: read it again next time.
                self.guides.forget(&key);
            }
            if let Some((sids, total)) = page {
                let records = by_sid(&mut conn, cache, account, &sids).await?;
                return Ok((records, total));
            }
        }
        if !DayCounts::totals_answer(seek.days) {
            // A seek as the guide would sum the list's day rows for its
            // total, and the page's statement again.
            drop(conn);
            return self
                .seek_page_in_snapshot(cache, seek, account, page_where, limit, offset)
                .await;
        }
        // A seek as the guide (past the guide's end, or where it was stale).
        let (spans, guide_total) = match seek
            .counts
            .seek(&mut conn, seek.by, seek.days, offset, limit)
            .await?
        {
            // One statement's total: the empty page agrees with it.
            Seek::PastTheEnd { total } => return Ok((Vec::new(), total)),
            Seek::Page { total, days } => (days, total),
        };
        let guide_total = i64::try_from(guide_total).unwrap_or(i64::MAX);
        let guided = Guided {
            spans: &spans,
            total: guide_total,
            vouched: None,
        };
        let page = one_statement_page::<R>(&mut conn, &seek, &page_where, guided, limit, offset);
        if let Some((sids, total)) = page.await?.page {
            let records = by_sid(&mut conn, cache, account, &sids).await?;
            return Ok((records, total));
        }
        drop(conn);
        self.seek_page_in_snapshot(cache, seek, account, page_where, limit, offset)
            .await
    }

    /// [`Store::seek_page`] with the seek and every day's page read in one
    /// read transaction (one snapshot), so the total and the page agree
    /// even while rows change.
    async fn seek_page_in_snapshot<R: Final>(
        &self,
        cache: &RecordCache<R>,
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
                "SELECT {} AS sids FROM ({walk}) AS page",
                listed_sql::<R>(key)
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

/// The statement of [`one_statement_page`]: the list's total and the rows
/// beyond the walk's first day, counted from `seek`'s day counts, and the
/// page, walking the rows `w` selects (the list's, bounded on the side of
/// the page's days away from the walk's first day) from the newest end or
/// the oldest. The values of `seek.days` are bound first, then those of
/// `w`, then the walk's first day, the page's offset and where it stops:
/// every page of a list is one prepared statement.
///
/// `vouched`: six more values follow, the account, the version of its
/// counts a guide was read at, that guide's total and rows beyond the
/// walk's first day, and where in that day the walk starts by the guide
/// and how many of the day's rows that passes (`guides::HourStart`). While
/// the version is the same (column `same` is 1) the statement takes those
/// numbers and sums no day rows; else it sums them as without, and walks
/// from the day's own bound.
///
/// Last comes that bound, of the walk's first day where the walk starts:
/// its end (newest first) or its start (oldest first).
pub(crate) fn one_statement_sql<R: Final>(
    seek: &Seeking<'_>,
    w: &Where,
    oldest_first: bool,
    from_other_side: bool,
    vouched: bool,
) -> String {
    let Seeking {
        counts,
        by,
        days,
        key,
        ..
    } = *seek;
    let first = days.len() + w.len();
    let (d, o, s) = (first + 1, first + 2, first + 3);
    let edge = if vouched { first + 10 } else { first + 4 };
    // `beyond`: the rows newer than the newest day (a walk from the
    // newest end skips `$o` less those), or older than the oldest (a walk
    // from the oldest end, in the index backwards, skips the rows between
    // those and the page's last, `$s` counted against `total`). With
    // `from_other_side`, the total less the rows on the day's other side
    // and the day itself: the same number, summed over fewer day rows when
    // that side holds fewer of the list's days.
    let total = counts.sum_sql(days, 0);
    let sum = |op: &str| counts.beyond_sql(by, days, op, d);
    let counted = |beyond: &str, rest: &str| {
        if vouched {
            let (account, version, guide_total, guide_beyond) =
                (first + 4, first + 5, first + 6, first + 7);
            let beyond = if from_other_side {
                format!("total - ({})", sum(rest))
            } else {
                format!("({})", sum(beyond))
            };
            format!(
                "v AS (SELECT CASE WHEN ({}) = ${version} THEN 1 ELSE 0 END AS same), \
                 t AS (SELECT same, CASE WHEN same = 1 THEN ${guide_total} \
                 ELSE ({total}) END AS total FROM v), \
                 k AS (SELECT same, total, CASE WHEN same = 1 THEN ${guide_beyond} \
                 ELSE {beyond} END AS beyond FROM t)",
                counts.version_sql(account)
            )
        } else if from_other_side {
            format!(
                "t AS (SELECT ({total}) AS total), \
                 k AS (SELECT total, total - ({}) AS beyond FROM t)",
                sum(rest)
            )
        } else {
            format!(
                "k AS (SELECT ({total}) AS total, ({}) AS beyond)",
                sum(beyond)
            )
        }
    };
    // `skip`: the rows of the walk's first day before the page, from the
    // end the walk starts at.
    let (ctes, order, take, skip, edge_op) = if oldest_first {
        let stop = format!("CASE WHEN ${s} < total THEN ${s} ELSE total END");
        (
            counted("<", ">="),
            format!("{key} ASC, sid DESC"),
            format!("(SELECT CASE WHEN {stop} > ${o} THEN {stop} - ${o} ELSE 0 END FROM k)"),
            format!(
                "(SELECT CASE WHEN total - {stop} > beyond \
                 THEN total - {stop} - beyond ELSE 0 END FROM k)"
            ),
            ">=",
        )
    } else {
        (
            counted(">", "<="),
            format!("{key} DESC, sid ASC"),
            format!("(SELECT CASE WHEN ${s} > ${o} THEN ${s} - ${o} ELSE 0 END FROM k)"),
            format!("(SELECT CASE WHEN beyond < ${o} THEN ${o} - beyond ELSE 0 END FROM k)"),
            "<",
        )
    };
    let (edge, skip) = if vouched {
        let (hour_edge, passed) = (first + 8, first + 9);
        (
            format!("(SELECT CASE WHEN same = 1 THEN ${hour_edge} ELSE ${edge} END FROM k)"),
            format!("{skip} - (SELECT CASE WHEN same = 1 THEN ${passed} ELSE 0 END FROM k)"),
        )
    } else {
        (format!("${edge}"), skip)
    };
    format!(
        "WITH {ctes} \
         SELECT total, beyond,{same} (SELECT {listed} \
         FROM (SELECT {WALKED}, {key} FROM {table} {clause} AND {key} {edge_op} {edge} \
         ORDER BY {order} LIMIT {take} OFFSET ({skip})) AS page) AS sids FROM k",
        same = if vouched { " same," } else { "" },
        listed = listed_sql::<R>(key),
        table = R::TABLE,
        clause = w.clause(true, days.len()),
    )
}

/// Whether `spans` (newest first) are of consecutive days: a page walks
/// them as one range.
fn consecutive(spans: &[DaySpan]) -> bool {
    match (spans.first(), spans.last()) {
        (Some(newest), Some(oldest)) => {
            usize::try_from(newest.day - oldest.day).is_ok_and(|gaps| gaps + 1 == spans.len())
        }
        _ => false,
    }
}

/// What guides [`one_statement_page`]: the days its rows lie in (newest
/// first), the list's total by the guide, and the guide itself when it was
/// read at a version of the account's counts.
#[derive(Debug, Clone, Copy)]
struct Guided<'a> {
    spans: &'a [DaySpan],
    total: i64,
    vouched: Option<Vouched<'a>>,
}

/// A guide read at a version of `account`'s counts (see
/// [`one_statement_sql`]).
#[derive(Debug, Clone, Copy)]
struct Vouched<'a> {
    account: &'a AccountSid,
    version: i64,
    guide: &'a Guide,
    /// The guides it is kept among, under `key`: they keep the hour sums
    /// of the days its pages begin in too ([`Guides::hour_start`]).
    guides: &'a Guides,
    key: &'a str,
}

/// How many of a day's rows a walk skips before it starts at an hour of
/// the day instead (`guides::hour_start`). Fewer are walked: on SQLite a
/// walk passes about 28 index entries a microsecond, while the day's hour
/// sums are one more statement the first time a guide's day is paged (16
/// µs for the sums alone; both timed in Python on a 1M file, 2026-12-08).
const HOURS_WORTH: i64 = 128;

/// What [`one_statement_page`] found.
struct OneStatement<R: Final> {
    /// The page and the list's total, if the statement's guide fit.
    page: Option<(Vec<Listed<R>>, u64)>,
    /// Whether the counts had changed since the guide it was given was
    /// read (its version no longer theirs).
    guide_stale: bool,
}

/// The page at `offset` and the list's total in one statement, one
/// snapshot, walking the list's index through the days `spans` name (a
/// seek's guide, read outside that snapshot) from the nearer end, as one
/// range: no page when those days are not consecutive (a walk through the
/// days between would pass rows of other lists), or when the guide does
/// not fit the statement's snapshot.
///
/// The statement counts the total and the list's rows beyond the walk's
/// first day (newer than its newest day, or older than its oldest) from
/// the day counts, and skips what that leaves to skip: so the page is
/// exact in its snapshot whenever the skip is not negative and the walk
/// finds every row the page should hold within the range. When `vouched`
/// (the spans are that guide's) and the counts' version is still the
/// guide's, the guide's own numbers are those counts, and the statement
/// sums no day rows.
async fn one_statement_page<R: Final>(
    conn: &mut AnyConnection,
    seek: &Seeking<'_>,
    page_where: &impl Fn() -> Where,
    guided: Guided<'_>,
    limit: i64,
    offset: i64,
) -> Result<OneStatement<R>, StoreError> {
    let Guided {
        spans,
        total: guide_total,
        vouched,
    } = guided;
    let declined = OneStatement {
        page: None,
        guide_stale: false,
    };
    let (Some(newest), Some(oldest)) = (spans.first(), spans.last()) else {
        return Ok(declined);
    };
    let (Some(start), Some(end), true) = (oldest.start, newest.end, consecutive(spans)) else {
        return Ok(declined);
    };
    let Seeking {
        days,
        key,
        created_before,
        ..
    } = *seek;
    let stop = offset.saturating_add(limit);
    let oldest_first = day_counts::oldest_first(newest, oldest, created_before);
    // The days' bound away from where the walk starts; the statement
    // bounds that side itself (see `one_statement_sql`).
    let mut w = page_where();
    let edge = if oldest_first {
        w.push(key, "<", Value::Int(end));
        start
    } else {
        w.push(key, ">=", Value::Int(start));
        end
    };
    // When the rows beyond the walk's first day are most of the list (by
    // the guide's total), the statement counts them as the total less the
    // rest, which takes fewer day rows.
    let from_other_side = if oldest_first {
        stop.saturating_mul(2) < guide_total
    } else {
        offset.saturating_mul(2) > guide_total
    };
    let day = if oldest_first { oldest.day } else { newest.day };
    let vouched = match vouched.and_then(|v| Some((v, v.guide.beyond(day, oldest_first)?))) {
        Some((v, beyond)) => {
            // The rows of the walk's first day it skips, as the statement
            // counts them while the guide's version stands.
            let total = v.guide.total();
            let skip = if oldest_first {
                total.saturating_sub(stop.min(total)).saturating_sub(beyond)
            } else {
                offset.saturating_sub(beyond)
            }
            .max(0);
            let walk = DayWalk {
                day,
                skip,
                oldest_first,
            };
            let start = if skip >= HOURS_WORTH && DayCounts::totals_answer(days) {
                let at = (v.key, v.version);
                v.guides.hour_start(conn, seek, v.account, at, walk).await?
            } else {
                None
            };
            Some((v, beyond, start.unwrap_or(HourStart { edge, passed: 0 })))
        }
        None => None,
    };
    let sql = one_statement_sql::<R>(seek, &w, oldest_first, from_other_side, vouched.is_some());
    let mut query = w
        .bind_all(days.bind_all(sqlx::query(AssertSqlSafe(sql))))
        .bind(day)
        .bind(offset)
        .bind(stop);
    if let Some((v, beyond, start)) = vouched {
        query = query
            .bind(v.account.as_str())
            .bind(v.version)
            .bind(v.guide.total())
            .bind(beyond)
            .bind(start.edge)
            .bind(start.passed);
    }
    let row = query.bind(edge).fetch_one(&mut *conn).await?;
    let guide_stale = match vouched {
        Some(_) => !rows::same_counts(&row)?,
        None => false,
    };
    let total = rows::total(&row)?;
    let beyond = rows::beyond(&row)?;
    let sids = rows::sids(&row, R::TABLE, R::parse_sid)?;
    // What the snapshot says the walk should have started after and found.
    let rows_in_all = i64::try_from(total).unwrap_or(i64::MAX);
    let beyond = i64::try_from(beyond).unwrap_or(i64::MAX);
    let page_end = stop.min(rows_in_all);
    let fits = if oldest_first {
        beyond <= rows_in_all - page_end
    } else {
        beyond <= offset
    };
    let wanted = usize::try_from((page_end - offset).max(0)).unwrap_or(usize::MAX);
    Ok(OneStatement {
        page: (fits && sids.len() == wanted).then_some((sids, total)),
        guide_stale,
    })
}

/// A record as a page lists it: its sid, and its row version if it is live.
type Listed<R> = (<R as Final>::Sid, Option<i64>);

/// The columns a page's walk reads of each row besides the order's key, all
/// of them in every index a list walks (`migrations/0021`): the walk reads no
/// table row.
const WALKED: &str = "sid, status, version";

/// The aggregate of a page's rows (`page`: [`WALKED`] and the order's
/// `key`) that lists them in order, newest `key` first, ties by sid: each
/// final row's sid, each live row's sid, `:` and its version, joined by
/// commas.
fn listed_sql<R: Final>(key: &str) -> String {
    format!(
        "string_agg(CASE WHEN {live} THEN sid || ':' || CAST(version AS TEXT) ELSE sid END, \
         ',' ORDER BY {key} DESC, sid ASC)",
        live = R::LIVE,
    )
}

/// The account's records `listed`, in that order: from `cache` when it
/// holds them as listed (final, or live at the listed version), the others
/// in one query (and cached). A sid that is not found (never, unless rows
/// are deleted by hand) is left out.
async fn by_sid<R: Final>(
    conn: &mut AnyConnection,
    cache: &RecordCache<R>,
    account: &AccountSid,
    listed: &[Listed<R>],
) -> Result<Vec<R>, StoreError> {
    let mut records: Vec<Option<R>> = listed
        .iter()
        .map(|(sid, version)| cache.get(sid, *version))
        .collect();
    let missing: Vec<&R::Sid> = listed
        .iter()
        .zip(&records)
        .filter_map(|((sid, _), r)| r.is_none().then_some(sid))
        .collect();
    if !missing.is_empty() {
        let placeholders: Vec<String> = (2..missing.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {}, version FROM {} WHERE account_sid = $1 AND sid IN ({})",
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
            cache.remember(&r, rows::version(&row, R::TABLE)?);
            found.insert(r.sid().clone(), r);
        }
        for (slot, (sid, _)) in records.iter_mut().zip(listed) {
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
        "SELECT {} AS sids, ({count_sql}) AS total FROM ({}) AS page",
        listed_sql::<R>(key),
        sid_page_sql::<R>(key, w, count_where.len(), limit, offset)
    );
    w.bind_all(count_where.bind_all(sqlx::query(AssertSqlSafe(sql))))
}

/// The page of a list, [`WALKED`] and the order's `key` only (what the
/// index it walks carries), with `w`'s placeholders from `$(base + 1)`.
pub(crate) fn sid_page_sql<R: Final>(
    key: &str,
    w: &Where,
    base: usize,
    limit: i64,
    offset: i64,
) -> String {
    walk_sql::<R>(key, w, base, false, limit, offset)
}

/// Rows `offset .. offset + limit` of the list `w` selects, [`WALKED`] and
/// `key` only, walking its index newest `key` first (ties by sid), or
/// oldest first (the same index backwards, ties by sid descending).
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
        "SELECT {WALKED}, {key} FROM {} {} ORDER BY {order} {}",
        R::TABLE,
        w.clause(true, base),
        limit_offset(limit, offset)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use model::{Account, AuthToken, ConferenceStatus, Timestamp};

    use super::*;
    use crate::Change;
    use crate::day_counts::CONFERENCES;

    const DAY: i64 = Timestamp::MICROS_PER_DAY;
    const HOUR: i64 = Timestamp::MICROS_PER_HOUR;
    const FIRST_DAY: i64 = 19_000;

    /// A page lists a row with its version exactly when its record can
    /// still change: `Final::LIVE` says in SQL what `is_final` says.
    #[tokio::test]
    async fn live_in_sql_is_not_final() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        async fn live<R: Final>(store: &Store, code: i64) -> bool {
            let sql = format!(
                "SELECT CASE WHEN {} THEN 1 ELSE 0 END AS live FROM (SELECT $1 AS status) AS page",
                R::LIVE
            );
            let live: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(code)
                .fetch_one(&store.pool)
                .await
                .unwrap();
            live == 1
        }
        for status in model::CallStatus::ALL {
            let live = live::<CallRecord>(&store, status.code()).await;
            assert_eq!(live, !status.is_final(), "{status:?}");
        }
        for status in [
            ConferenceStatus::Init,
            ConferenceStatus::InProgress,
            ConferenceStatus::Completed,
        ] {
            let live = live::<ConferenceRecord>(&store, status.code()).await;
            assert_eq!(live, status != ConferenceStatus::Completed, "{status:?}");
        }
    }

    /// A store with one account and seven rooms a day for three days, an
    /// hour apart, all completed; the rooms newest first.
    async fn three_days_of_rooms(
        dir: &tempfile::TempDir,
    ) -> (Store, Account, Vec<ConferenceRecord>) {
        let times = (0..21).map(|n| FIRST_DAY * DAY + (n / 7) * DAY + (n % 7) * HOUR);
        rooms_at(dir, times).await
    }

    /// A store with one account and a completed room created and updated
    /// at each of `times` (microseconds, oldest first); the rooms newest
    /// first.
    async fn rooms_at(
        dir: &tempfile::TempDir,
        times: impl Iterator<Item = i64>,
    ) -> (Store, Account, Vec<ConferenceRecord>) {
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let store = Store::connect(&url).await.unwrap();
        let created = Timestamp::from_micros(FIRST_DAY * DAY);
        let account = Account {
            sid: AccountSid::from_random([1; 16]),
            friendly_name: "a".to_owned(),
            auth_token: AuthToken::from_random([2; 16]),
            date_created: created,
            date_updated: created,
        };
        store.insert_account(&account).await.unwrap();
        let mut rooms: Vec<ConferenceRecord> = times
            .enumerate()
            .map(|(n, micros)| {
                let at = Timestamp::from_micros(micros);
                let mut sid = [0; 16];
                sid[..8].copy_from_slice(&u64::try_from(n + 1).unwrap().to_be_bytes());
                ConferenceRecord {
                    sid: ConferenceSid::from_random(sid),
                    account_sid: account.sid.clone(),
                    friendly_name: format!("r{n}"),
                    status: ConferenceStatus::Completed,
                    date_created: at,
                    date_updated: at,
                    reason_ended: None,
                    call_sid_ending: None,
                }
            })
            .collect();
        let changes: Vec<Change> = rooms
            .iter()
            .cloned()
            .map(Change::ConferenceCreated)
            .collect();
        store.apply(&changes).await.unwrap();
        rooms.reverse();
        (store, account, rooms)
    }

    /// The day counts' selection of every conference of `account`.
    fn list_of(account: &Account) -> Where {
        let mut w = Where::default();
        w.push(
            "account_sid",
            "=",
            Value::Text(account.sid.as_str().to_owned()),
        );
        w
    }

    /// The unfiltered conference list's seek over `w`.
    fn seeking(w: &Where) -> Seeking<'_> {
        Seeking {
            counts: CONFERENCES,
            by: "updated_day",
            days: w,
            key: "date_updated",
            created_before: None,
        }
    }

    /// The reference page: rows `offset..offset + limit` of `rooms`
    /// (newest first), as a page lists them (all completed: no versions).
    fn page_of(
        rooms: &[ConferenceRecord],
        offset: i64,
        limit: i64,
    ) -> Vec<Listed<ConferenceRecord>> {
        rooms
            .iter()
            .skip(usize::try_from(offset).unwrap())
            .take(usize::try_from(limit).unwrap())
            .map(|c| (c.sid.clone(), None))
            .collect()
    }

    /// [`one_statement_page`] of the list `w` selects, as `guided` says.
    async fn guided_page(
        conn: &mut AnyConnection,
        w: &Where,
        guided: Guided<'_>,
        limit: i64,
        offset: i64,
    ) -> OneStatement<ConferenceRecord> {
        one_statement_page(conn, &seeking(w), &|| w.clone(), guided, limit, offset)
            .await
            .unwrap()
    }

    /// A deep page whose guide stands starts its walk at the hour of its
    /// first day the guide's hour sums name, from either end of the day,
    /// and is the reference page at every offset.
    #[tokio::test]
    async fn a_deep_page_walks_from_the_hour_it_begins_in() {
        let dir = tempfile::tempdir().unwrap();
        // Two days of 300 rooms, 288 s apart: 12 or 13 an hour.
        let times = (0..600).map(|n| FIRST_DAY * DAY + (n / 300) * DAY + (n % 300) * 288_000_000);
        let (store, account, rooms) = rooms_at(&dir, times).await;
        let w = list_of(&account);
        let seek = seeking(&w);
        let guides = Guides::default();
        let mut conn = store.pool.acquire().await.unwrap();
        let (guide, key) = guides.guide(&mut conn, &seek, &account.sid).await.unwrap();
        let version = guide.version().unwrap();
        let limit = 50;
        for offset in (0..600).step_by(7) {
            let spans = guide.spans(offset, limit).unwrap();
            let guided = Guided {
                spans: &spans,
                total: guide.total(),
                vouched: Some(Vouched {
                    account: &account.sid,
                    version,
                    guide: &guide,
                    guides: &guides,
                    key: &key,
                }),
            };
            let got = guided_page(&mut conn, &w, guided, limit, offset).await;
            assert!(!got.guide_stale, "offset {offset}");
            assert_eq!(
                got.page,
                Some((page_of(&rooms, offset, limit), 600)),
                "offset {offset}"
            );
        }
        // Both days' hours were read, once each, and the walks started in
        // them from both ends: a day's middle is 150 rows from either.
        assert_eq!(guides.hour_days(), 2);
    }

    /// The counts' version covers their hours: a live room touched later
    /// in its hour leaves it as it was, touched in the next hour of the
    /// same day (no day count changes) moves it on.
    #[tokio::test]
    async fn the_counts_version_covers_their_hours() {
        let dir = tempfile::tempdir().unwrap();
        let (store, account, _) = three_days_of_rooms(&dir).await;
        let version = async || {
            let sql = format!("SELECT ({}) AS version", CONFERENCES.version_sql(1));
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(account.sid.as_str())
                .fetch_one(&store.pool)
                .await
                .unwrap();
            rows::count_version(&row).unwrap().unwrap()
        };
        let at = |micros: i64| Timestamp::from_micros(FIRST_DAY * DAY + micros);
        let live = ConferenceRecord {
            sid: ConferenceSid::from_random([77; 16]),
            account_sid: account.sid.clone(),
            friendly_name: "live".to_owned(),
            status: ConferenceStatus::Init,
            date_created: at(10 * HOUR),
            date_updated: at(10 * HOUR),
            reason_ended: None,
            call_sid_ending: None,
        };
        store
            .apply(&[Change::ConferenceCreated(live.clone())])
            .await
            .unwrap();
        let touch = |micros: i64| Change::ConferenceEnding {
            sid: live.sid.clone(),
            reason: model::ConferenceEndReason::LastParticipantLeft,
            call_sid_ending: None,
            at: at(micros),
        };
        let before = version().await;
        store
            .apply(&[touch(10 * HOUR + 1_800_000_000)])
            .await
            .unwrap();
        assert_eq!(version().await, before, "within its hour");
        store.apply(&[touch(11 * HOUR)]).await.unwrap();
        assert_eq!(version().await, before + 1, "into the next hour");
    }

    /// A guide read at the counts' version is taken at its word while that
    /// version stands: the statement then sums no day rows. Once any write
    /// changes the account's counts it is stale, and the statement sums
    /// them again: a guide read at another version, however wrong its
    /// numbers, still gives the exact page or none.
    #[tokio::test]
    async fn a_guide_is_taken_at_its_word_only_at_its_counts_version() {
        let dir = tempfile::tempdir().unwrap();
        let (store, account, mut rooms) = three_days_of_rooms(&dir).await;
        let w = list_of(&account);
        let seek = seeking(&w);
        let guides = Guides::default();
        let mut conn = store.pool.acquire().await.unwrap();
        let (guide, key) = guides.guide(&mut conn, &seek, &account.sid).await.unwrap();
        let limit = 4;
        let page = async |conn: &mut AnyConnection, guide: &Guide, version: i64, offset: i64| {
            let spans = guide.spans(offset, limit).unwrap();
            let vouched = Vouched {
                account: &account.sid,
                version,
                guide,
                guides: &guides,
                key: &key,
            };
            let guided = Guided {
                spans: &spans,
                total: guide.total(),
                vouched: Some(vouched),
            };
            guided_page(conn, &w, guided, limit, offset).await
        };
        let want = |rooms: &[ConferenceRecord], offset: i64| page_of(rooms, offset, limit);

        let version = guide
            .version()
            .expect("the seed's writes gave the counts a version");
        // A wrong guide: the newest day's rows counted on the oldest.
        let wrong = Guide::from_sums(
            vec![(FIRST_DAY + 2, 0), (FIRST_DAY + 1, 7), (FIRST_DAY, 14)],
            Some(version),
        );
        let mut misled = 0;
        for offset in 0..21 {
            let got = page(&mut conn, &guide, version, offset).await;
            assert!(!got.guide_stale, "offset {offset}");
            assert_eq!(
                got.page,
                Some((want(&rooms, offset), 21)),
                "offset {offset}"
            );
            // At its version even a wrong guide is believed: the version,
            // not a sum, vouches for it.
            let believed = page(&mut conn, &wrong, version, offset).await;
            assert!(!believed.guide_stale, "offset {offset}");
            if believed
                .page
                .is_some_and(|(sids, _)| sids != want(&rooms, offset))
            {
                misled += 1;
            }
            // At another version it is checked, and gives the page or none.
            let checked = page(&mut conn, &wrong, version - 1, offset).await;
            assert!(checked.guide_stale, "offset {offset}");
            if let Some(got) = checked.page {
                assert_eq!(got, (want(&rooms, offset), 21), "offset {offset}");
            }
        }

        assert!(
            misled > 0,
            "a wrong guide at its version must be taken at its word"
        );

        // A new room on the last day: every number of the guide's is off
        // by one now.
        let at = Timestamp::from_micros((FIRST_DAY + 2) * DAY + 23 * 3_600_000_000);
        let newest = ConferenceRecord {
            sid: ConferenceSid::from_random([99; 16]),
            friendly_name: "r21".to_owned(),
            date_created: at,
            date_updated: at,
            ..rooms[0].clone()
        };
        store
            .apply(&[Change::ConferenceCreated(newest.clone())])
            .await
            .unwrap();
        rooms.insert(0, newest);
        let (mut pages, mut declined) = (0, 0);
        for offset in 0..21 {
            let got = page(&mut conn, &guide, version, offset).await;
            assert!(got.guide_stale, "offset {offset}");
            match got.page {
                Some(got) => {
                    assert_eq!(got, (want(&rooms, offset), 22), "offset {offset}");
                    pages += 1;
                }
                None => declined += 1,
            }
        }
        assert!(
            pages > 0 && declined > 0,
            "the stale guide still fits some pages and must find its days off for others: \
             {pages} pages, {declined} declined"
        );
        guides.forget(&key);
        let (fresh, _) = guides.guide(&mut conn, &seek, &account.sid).await.unwrap();
        assert!(fresh.version() > Some(version));
    }

    /// The one statement is exact in its own snapshot or declines, however
    /// wrong its guide: every guide over three days of rooms (any newest
    /// and oldest day, any skips, so both walks), at every offset, gives the
    /// reference page and total, or `None` (and the caller then reads the
    /// page in one read transaction). The right guide always gives a page.
    #[tokio::test]
    async fn a_stale_guide_gives_the_exact_page_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let (store, account, rooms) = three_days_of_rooms(&dir).await;
        let w = list_of(&account);
        let span = |day: i64, skip: i64| DaySpan {
            day,
            start: Some(day * DAY),
            end: Some((day + 1) * DAY),
            rows: 7,
            skip,
            take: 1,
        };
        let limit = 4;
        let (mut pages, mut declined) = (0, 0);
        let mut conn = store.pool.acquire().await.unwrap();
        for offset in 0..23 {
            let want = page_of(&rooms, offset, limit);
            // The days of the page's first and last rows.
            let day_of = |row: i64| FIRST_DAY + 2 - row / 7;
            let covered = |newest: i64, oldest: i64| {
                offset >= 21
                    || (newest >= day_of(offset) && oldest <= day_of((offset + limit).min(21) - 1))
            };
            for newest in FIRST_DAY..FIRST_DAY + 3 {
                for oldest in FIRST_DAY..=newest {
                    for (first_skip, last_skip) in [(0, 6), (6, 0), (3, 3)] {
                        let spans: Vec<DaySpan> = (oldest..=newest)
                            .rev()
                            .map(|d| span(d, if d == newest { first_skip } else { 0 }))
                            .map(|s| DaySpan {
                                skip: if s.day == oldest { last_skip } else { s.skip },
                                ..s
                            })
                            .collect();
                        // A guide's total only says from which side the
                        // statement counts: either way, the same page.
                        for guide_total in [0, i64::MAX] {
                            let guided = Guided {
                                spans: &spans,
                                total: guide_total,
                                vouched: None,
                            };
                            let got = guided_page(&mut conn, &w, guided, limit, offset).await.page;
                            let label = format!(
                                "offset {offset}, days {newest}..={oldest}, guide total {guide_total}"
                            );
                            match got {
                                Some((sids, total)) => {
                                    assert!(covered(newest, oldest) || sids.is_empty(), "{label}");
                                    assert_eq!(total, 21, "{label}");
                                    assert_eq!(sids, want, "{label}");
                                    pages += 1;
                                }
                                None => {
                                    // Only a guide whose days miss some of the page's.
                                    assert!(offset >= 21 || !covered(newest, oldest), "{label}");
                                    declined += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            pages > 0 && declined > 0,
            "{pages} pages, {declined} declined"
        );
    }
}
