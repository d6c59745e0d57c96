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
//! only at its own version is it an answer, else only where to look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use model::{AccountSid, Timestamp};
use sqlx::AnyConnection;

use crate::StoreError;
use crate::day_counts::DaySpan;
use crate::day_counts::Seeking;
use crate::rows;

/// The guides of recently paged lists, bounded: when full it starts over.
#[derive(Debug, Default)]
pub(crate) struct Guides {
    map: Mutex<HashMap<String, Arc<Guide>>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Guide>>> {
        // Each entry is inserted whole: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Guide {
    /// Every day's sum of the list `seek` describes of `account`'s rows,
    /// and the version of its counts, in one statement (one snapshot).
    async fn read(
        conn: &mut AnyConnection,
        seek: &Seeking<'_>,
        account: &AccountSid,
    ) -> Result<Self, StoreError> {
        let sums = seek
            .counts
            .day_sums_sql(seek.by, seek.days, true, false, i64::MAX);
        let sql = format!(
            "SELECT ({sums}) AS days, ({}) AS version",
            seek.counts.version_sql(seek.days.len() + 1)
        );
        let row = seek
            .days
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .bind(account.as_str())
            .fetch_one(&mut *conn)
            .await?;
        let version = rows::count_version(&row)?;
        Ok(Self::from_sums(rows::day_sums(&row)?, version))
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
