//! The Calls lists of the 2010-04-01 and 2008-08-01 APIs: one call of an
//! account, and the filtered, paged list, newest first.
//!
//! Same shape as `reads`: one statement per page, scoped by account in the
//! `WHERE`, walking an index in list order: `calls_by_created`
//! (`migrations/0008_calls_lists.sql`) or `calls_by_updated` (`0003`).
//! A list filtered by Status alone (or not at all) is totalled and paged
//! through the per-day counts (`day_counts`, `0012`) as the Conferences
//! list is: its total is their sum, a shallow page with at most one status
//! walks an index in list order from the top (`0013` adds one per status),
//! and a deeper one (or one of several statuses, whose matches an index
//! walk would have to sort) reads only the days the counts name. A filter
//! no call can match (any `ParentCallSid`) is answered without a query.
//! Every page reads only its calls' sids from the index it walks, and takes
//! the ended calls from a cache (an ended call never changes: `cached`).

use model::{AccountSid, CallFilter, CallRecord, CallSid, PageRequest};

use crate::count::Count;
use crate::day_counts::CALLS as COUNTED;
use crate::day_counts::Seeking;
use crate::sql_where::{Value, Where};
use crate::{Store, StoreError};

/// The order of a Calls list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOrder {
    /// Newest `date_created` first, ties by sid: the 2010-04-01 list
    /// (Twilio lists calls most recent first).
    Created,
    /// Newest `date_updated` first, ties by sid: the 2008-08-01 list
    /// ("sorted by DateUpdated").
    Updated,
}

impl CallOrder {
    /// The column the list is ordered by (newest first, ties by sid), and
    /// its day column in the per-day counts.
    pub(crate) fn key(self) -> (&'static str, &'static str) {
        match self {
            CallOrder::Created => ("date_created", "day"),
            CallOrder::Updated => ("date_updated", "updated_day"),
        }
    }
}

impl Store {
    /// The call `sid` if it belongs to `account`.
    pub async fn call_of(
        &self,
        account: &AccountSid,
        sid: &CallSid,
    ) -> Result<Option<CallRecord>, StoreError> {
        self.record(&self.call_cache, account, sid).await
    }

    /// One page of an account's calls matching `filter` in `order`, and
    /// how many match in all. Each page reads its sids, and takes ended
    /// calls from a cache (`cached`).
    pub async fn calls(
        &self,
        account: &AccountSid,
        filter: &CallFilter,
        order: CallOrder,
        page: PageRequest,
    ) -> Result<(Vec<CallRecord>, u64), StoreError> {
        // Boxed for the reason `Store::conferences` is.
        Box::pin(self.calls_unboxed(account, filter, order, page)).await
    }

    async fn calls_unboxed(
        &self,
        account: &AccountSid,
        filter: &CallFilter,
        order: CallOrder,
        page: PageRequest,
    ) -> Result<(Vec<CallRecord>, u64), StoreError> {
        if filter.matches_nothing() {
            return Ok((Vec::new(), 0));
        }
        let w = call_where(account, filter);
        let (key, by) = order.key();
        let only_status = CallFilter {
            status: filter.status.clone(),
            ..CallFilter::default()
        };
        let by_status_alone = *filter == only_status;
        let count = if by_status_alone {
            Count::DaySums(COUNTED, w.clone())
        } else {
            Count::Rows
        };
        // An offset past what SQL can skip is past any real end: the total
        // alone (an empty page).
        let (limit, offset) = match page.offset() {
            Some(offset) => (i64::try_from(page.size).unwrap_or(i64::MAX), offset),
            None => (0, 0),
        };
        // A page walks an index in list order from its top in one
        // statement with the total (`calls_by_created`/`calls_by_updated`,
        // or with one status the status indexes of migration 0013), unless
        // the per-day counts can seek it: a deep page of a list by Status
        // alone, or any page of several statuses (whose matches a walk
        // would have to sort).
        let shallow =
            offset < self.shallow_rows && filter.status.as_ref().is_none_or(|s| s.len() <= 1);
        if !by_status_alone || shallow || limit == 0 {
            return self
                .sid_page(&self.call_cache, key, account, (&w, &count), limit, offset)
                .await;
        }
        // Otherwise the per-day counts total it and name the days the
        // page's rows lie in (see `day_counts`); the page and its total
        // come from one snapshot (`Store::seek_page`).
        self.seek_page(
            &self.call_cache,
            Seeking {
                counts: COUNTED,
                by,
                days: &w,
                key,
                created_before: None,
            },
            account,
            || call_where(account, filter),
            limit,
            offset,
        )
        .await
    }
}

/// The `WHERE` of a Calls list. A time filter excludes calls without that
/// time (SQL's `NULL` comparisons are never true), as `CallFilter::matches`
/// says.
pub(crate) fn call_where(account: &AccountSid, filter: &CallFilter) -> Where {
    let mut w = Where::default();
    w.push("account_sid", "=", Value::Text(account.as_str().to_owned()));
    if let Some(statuses) = &filter.status {
        w.push_codes("status", statuses.iter().map(|s| s.code()));
    }
    if let Some(called) = &filter.called {
        w.push("called", "=", Value::Text(called.clone()));
    }
    if let Some(caller) = &filter.caller {
        w.push("caller", "=", Value::Text(caller.clone()));
    }
    w.push_range("start_time", &filter.start_time, false);
    w.push_range("end_time", &filter.end_time, false);
    w
}

/// One filter of each shape the API sends, for the plan test in `reads`.
#[cfg(test)]
pub(crate) fn example_filters() -> Vec<CallFilter> {
    use model::{CallStatus, DateRange, Timestamp};
    let range = DateRange {
        from: Some(Timestamp::from_secs(1_700_000_000)),
        until: Some(Timestamp::from_secs(1_700_086_400)),
    };
    vec![
        CallFilter::default(),
        CallFilter {
            status: Some(vec![CallStatus::Complete]),
            ..Default::default()
        },
        CallFilter {
            status: CallStatus::from_code_2008(0),
            ..Default::default()
        },
        CallFilter {
            called: Some("+15551234567".to_owned()),
            caller: Some("alice".to_owned()),
            ..Default::default()
        },
        CallFilter {
            status: Some(vec![CallStatus::InProgress]),
            start_time: range,
            end_time: range,
            ..Default::default()
        },
    ]
}
