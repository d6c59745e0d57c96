//! Where each day's rows of a list lie, remembered as a guide for its deep
//! pages.
//!
//! A deep page of a list the totals by status answer is one statement
//! that counts its total and the rows beyond the days it walks in its own
//! snapshot (`cached::one_statement_page`): it needs only a guess of those
//! days, and says when the guess no longer fits. Finding them costs the
//! day sums from the nearer end of the list, two or three more trips to
//! sqlx's SQLite worker thread; a list's day sums change only at its
//! newest days (new rows, rows that move to today), so one reading of
//! them guides every page of the list until a page finds it stale.
//!
//! A guide is read together with the version of the account's counts
//! (migration 0022), which every write that changes them bumps. While the
//! version is the same the guide is exact, and the page's statement takes
//! the list's total and the rows before its days from it instead of
//! summing day rows again; that sum was most of a deep page's statement.
//!
//! Not a [`model::ReadCache`]: that holds values that are final, which a
//! guide is not. A guide whose version has passed, or that no longer fits,
//! is forgotten ([`Guides::forget`]) and read again on the next page;
//! only at its own version is it an answer, else only where to look. The
//! hour sums of a day, kept by the version they were read at, are final,
//! and are kept in one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use model::{AccountSid, ReadCache, Timestamp};
use sqlx::AnyConnection;

use crate::StoreError;
use crate::day_counts::DaySpan;
use crate::day_counts::Seeking;
use crate::rows;

/// The guides of recently paged lists, bounded: when full it starts over.
#[derive(Debug)]
pub(crate) struct Guides {
    map: Mutex<HashMap<String, Arc<Guide>>>,
    /// The hour sums of days deep pages began in (migration 0023): `(hour,
    /// rows)`, oldest hour first, by guide key, day and the version of the
    /// account's counts they were read at. At that version they are final,
    /// as a guide is not: the version covers the hours too.
    hours: ReadCache<HoursAt, Arc<[(i64, i64)]>>,
}

/// A guide's key, a day and a version of the account's counts.
type HoursAt = (String, i64, i64);

impl Default for Guides {
    fn default() -> Self {
        Self {
            map: Mutex::default(),
            hours: ReadCache::new(Self::CAPACITY),
        }
    }
}

/// A walk through one day of a list: the day (days since 1970), how many
/// of the list's rows in it the walk skips, and from which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayWalk {
    pub(crate) day: i64,
    pub(crate) skip: i64,
    pub(crate) oldest_first: bool,
}

/// Where a walk through one day of a list starts, by the day's hours: at
/// `edge` (the end of an hour when it walks newest first, the start when
/// oldest first, in microseconds), having passed `passed` of the day's
/// list rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HourStart {
    pub(crate) edge: i64,
    pub(crate) passed: i64,
}

/// One reading of a list's day sums: each day with rows, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guide {
    days: Vec<GuideDay>,
    /// The version of the account's counts it was read at, if they have
    /// one: while it is the same, the guide is exact (migration 0022).
    version: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GuideDay {
    day: i64,
    rows: i64,
    /// The list's rows in the days newer than this one.
    newer: i64,
}

impl Guides {
    /// How many lists' guides are kept (24 bytes a day: a year of days is about 9 KiB).
    const CAPACITY: usize = 256;

    /// The guide of the list `seek` describes, read on `conn` if there is
    /// none; and its key, to forget it by.
    pub(crate) async fn guide(
        &self,
        conn: &mut AnyConnection,
        seek: &Seeking<'_>,
        account: &AccountSid,
    ) -> Result<(Arc<Guide>, String), StoreError> {
        let key = format!("{} {} {:?}", seek.counts.table, seek.by, seek.days);
        if let Some(guide) = self.lock().get(&key) {
            return Ok((Arc::clone(guide), key));
        }
        let guide = Arc::new(Guide::read(conn, seek, account).await?);
        let mut map = self.lock();
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key.clone(), Arc::clone(&guide));
        Ok((guide, key))
    }

    /// Forgets the guide under `key`: a page found it stale.
    pub(crate) fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Where `walk` through a day of the list `seek` describes (by account
    /// and status alone) starts, by the day's hour sums at `version`, the
    /// version the list's guide (under `key`) was read at: remembered, or
    /// read on `conn`. `None` when the sums read are of another version
    /// (the counts changed since the guide was read: its page's statement
    /// will not take it at its word either), or name no such hour.
    ///
    /// Valid exactly while the counts' version is `version`, which the
    /// page's statement checks: the hours are under it too.
    pub(crate) async fn hour_start(
        &self,
        conn: &mut AnyConnection,
        seek: &Seeking<'_>,
        account: &AccountSid,
        (key, version): (&str, i64),
        walk: DayWalk,
    ) -> Result<Option<HourStart>, StoreError> {
        let at = (key.to_owned(), walk.day, version);
        let sums = match self.hours.get(&at) {
            Some(sums) => sums,
            None => {
                let sql = seek
                    .counts
                    .hour_sums_sql(seek.by, seek.days, seek.days.len() + 1);
                let (sums, read_at) = read_sums(conn, seek, sql, Some(walk.day), account).await?;
                if read_at != Some(version) {
                    return Ok(None);
                }
                let sums: Arc<[(i64, i64)]> = sums.into();
                self.hours.insert(at, Arc::clone(&sums));
                sums
            }
        };
        Ok(hour_start(&sums, walk))
    }

    /// How many days' hour sums are kept.
    #[cfg(test)]
    pub(crate) fn hour_days(&self) -> usize {
        self.hours.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Guide>>> {
        // Each entry is inserted whole: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where `walk` starts, by `sums` (`(hour, rows)` of the list in its day,
/// oldest hour first): the hour farthest from the end it starts at that
/// it reaches having passed no more than the rows it skips.
/// Any such hour gives the same page (the rows between its edge and the
/// day's are exactly those it passed); the farthest leaves the fewest to
/// skip. `None` when no hour is named (or its edge would not fit).
pub(crate) fn hour_start(sums: &[(i64, i64)], walk: DayWalk) -> Option<HourStart> {
    let DayWalk {
        skip, oldest_first, ..
    } = walk;
    let per_hour = Timestamp::MICROS_PER_HOUR;
    let (mut forward, mut backward);
    let walk: &mut dyn Iterator<Item = &(i64, i64)> = if oldest_first {
        forward = sums.iter();
        &mut forward
    } else {
        backward = sums.iter().rev();
        &mut backward
    };
    let mut passed = 0_i64;
    let mut start = None;
    for &(hour, rows) in walk {
        if passed > skip {
            break;
        }
        let edge = if oldest_first {
            hour.checked_mul(per_hour)
        } else {
            hour.checked_add(1).and_then(|h| h.checked_mul(per_hour))
        };
        if let Some(edge) = edge {
            start = Some(HourStart { edge, passed });
        }
        passed = passed.saturating_add(rows);
    }
    start
}

/// The `(day or hour, rows)` pairs `sums` reads (a statement of
/// `DayCounts::day_sums_sql`'s shape over the list `seek` describes,
/// with `extra` bound after `seek.days`' values, if any) and the version of
/// `account`'s counts, in one statement (one snapshot).
async fn read_sums(
    conn: &mut AnyConnection,
    seek: &Seeking<'_>,
    sums: String,
    extra: Option<i64>,
    account: &AccountSid,
) -> Result<(Vec<(i64, i64)>, Option<i64>), StoreError> {
    let version = seek.days.len() + 1 + usize::from(extra.is_some());
    let sql = format!(
        "SELECT ({sums}) AS days, ({}) AS version",
        seek.counts.version_sql(version)
    );
    let mut query = seek.days.bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)));
    if let Some(extra) = extra {
        query = query.bind(extra);
    }
    let row = query.bind(account.as_str()).fetch_one(&mut *conn).await?;
    Ok((rows::day_sums(&row)?, rows::count_version(&row)?))
}

impl Guide {
    /// Every day's sum of the list `seek` describes of `account`'s rows,
    /// and the version of its counts, in one statement (one snapshot).
    async fn read(
        conn: &mut AnyConnection,
        seek: &Seeking<'_>,
        account: &AccountSid,
    ) -> Result<Self, StoreError> {
        let sql = seek
            .counts
            .day_sums_sql(seek.by, seek.days, true, false, i64::MAX);
        let (sums, version) = read_sums(conn, seek, sql, None, account).await?;
        Ok(Self::from_sums(sums, version))
    }

    /// From `(day, rows)` pairs, newest day first, read at `version`.
    pub(crate) fn from_sums(sums: Vec<(i64, i64)>, version: Option<i64>) -> Self {
        let mut newer = 0_i64;
        let days = sums
            .into_iter()
            .filter(|&(_, rows)| rows > 0)
            .map(|(day, rows)| {
                let d = GuideDay { day, rows, newer };
                newer = newer.saturating_add(rows);
                d
            })
            .collect();
        Self { days, version }
    }

    /// The version of the counts this guide was read at, if they had one.
    pub(crate) fn version(&self) -> Option<i64> {
        self.version
    }

    /// The list's rows by this guide beyond `day`: in the days older than
    /// it when `oldest_first`, else newer; `None` for a day it does not
    /// name.
    pub(crate) fn beyond(&self, day: i64, oldest_first: bool) -> Option<i64> {
        let d = self.days.iter().find(|d| d.day == day)?;
        Some(if oldest_first {
            self.total() - d.newer - d.rows
        } else {
            d.newer
        })
    }

    /// The list's rows by this guide.
    pub(crate) fn total(&self) -> i64 {
        self.days
            .last()
            .map_or(0, |d| d.newer.saturating_add(d.rows))
    }

    /// The days rows `offset .. offset + limit` of the list lie in by this
    /// guide, newest first, as a seek names them; `None` past the guide's
    /// end (where only a fresh count can say what the page holds).
    pub(crate) fn spans(&self, offset: i64, limit: i64) -> Option<Vec<DaySpan>> {
        let first = self
            .days
            .partition_point(|d| d.newer.saturating_add(d.rows) <= offset);
        let stop = offset.saturating_add(limit);
        let spans: Vec<DaySpan> = self.days[first..]
            .iter()
            .take_while(|d| d.newer < stop)
            .map(|d| {
                let skip = (offset - d.newer).max(0);
                DaySpan {
                    day: d.day,
                    start: d.day.checked_mul(Timestamp::MICROS_PER_DAY),
                    end: d
                        .day
                        .checked_add(1)
                        .and_then(|next| next.checked_mul(Timestamp::MICROS_PER_DAY)),
                    rows: d.rows,
                    skip,
                    take: (d.rows - skip).min(stop - d.newer.max(offset)),
                }
            })
            .collect();
        (!spans.is_empty()).then_some(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_starts_at_the_farthest_hour_it_may() {
        // Day 0: hours 10, 11, 12, 14, 15 and 16 hold 1, 1, 1, 2, 0 and 1
        // rows; hour 13 has no row.
        let sums = [(10, 1), (11, 1), (12, 1), (14, 2), (15, 0), (16, 1)];
        let start = |skip, oldest_first| {
            let walk = DayWalk {
                day: 0,
                skip,
                oldest_first,
            };
            hour_start(&sums, walk).map(|s| (s.edge / Timestamp::MICROS_PER_HOUR, s.passed))
        };
        // Newest first, the end of an hour: 16 passes none, 15 one, 14 one.
        assert_eq!(start(0, false), Some((17, 0)));
        assert_eq!(start(1, false), Some((15, 1)));
        assert_eq!(start(2, false), Some((15, 1)));
        assert_eq!(start(3, false), Some((13, 3)));
        assert_eq!(start(100, false), Some((11, 5)));
        // Oldest first, the start of an hour.
        assert_eq!(start(0, true), Some((10, 0)));
        assert_eq!(start(2, true), Some((12, 2)));
        assert_eq!(start(4, true), Some((14, 3)));
        assert_eq!(start(100, true), Some((16, 5)));
        assert_eq!(
            hour_start(
                &[],
                DayWalk {
                    day: 0,
                    skip: 5,
                    oldest_first: false
                }
            ),
            None
        );
    }

    #[test]
    fn a_guide_names_the_days_of_a_page_as_a_seek_does() {
        // Days 30, 29 (no rows), 28, 27 with 3, 0, 5 and 2 rows.
        let guide = Guide::from_sums(vec![(30, 3), (29, 0), (28, 5), (27, 2)], None);
        let days = |offset, limit| -> Option<Vec<(i64, i64, i64, i64)>> {
            guide
                .spans(offset, limit)
                .map(|s| s.iter().map(|d| (d.day, d.rows, d.skip, d.take)).collect())
        };
        assert_eq!(days(0, 2), Some(vec![(30, 3, 0, 2)]));
        assert_eq!(days(2, 2), Some(vec![(30, 3, 2, 1), (28, 5, 0, 1)]));
        assert_eq!(days(3, 5), Some(vec![(28, 5, 0, 5)]));
        assert_eq!(days(4, 50), Some(vec![(28, 5, 1, 4), (27, 2, 0, 2)]));
        assert_eq!(days(9, 1), Some(vec![(27, 2, 1, 1)]));
        assert_eq!(days(10, 1), None, "past the end");
        assert_eq!(days(i64::MAX, 50), None);
        let span = guide.spans(0, 1).unwrap()[0];
        assert_eq!(span.start, Some(30 * Timestamp::MICROS_PER_DAY));
        assert_eq!(span.end, Some(31 * Timestamp::MICROS_PER_DAY));
    }
}
