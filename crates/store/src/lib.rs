//! The store: the only crate that knows SQL.
//!
//! One [`Store`] serves SQLite (the embedded default, a WAL file created on
//! demand) and PostgreSQL, chosen by URL, through sqlx's `Any` driver: the
//! same migrations (`migrations/`) and the same queries (`$1…$N`
//! placeholders work on both) run on both. Times are `BIGINT` microseconds
//! ([`model::Timestamp`]), booleans `BIGINT` 0/1, so both backends compare
//! and sort them alike.
//!
//! Filtering, counting and paging happen in SQL with indexes; nothing here
//! loads a table to filter it in memory.
//!
//! Writes that come from the conference rules ([`Change`]) are applied in one transaction
//! per batch, and every change to a conference or its participants moves
//! the conference's `date_updated` forward (never back).
//!
//! The code is split by what it owns:
//! - `connect`: URLs, the pool, SQLite's WAL and locking settings, migrations;
//! - `accounts`: accounts and phone numbers;
//! - `calls`: call records (written by the SIP side, recovered at start-up);
//! - `call_lists`: the API's scoped call reads and filtered, paged Calls lists;
//! - `day_counts`: the per-day counts (and totals by status) behind totals
//!   and deep pages;
//! - `name_counts`: the per-name conference counts behind FriendlyName
//!   totals;
//! - `cached`: final conferences and calls cached by sid, and the lists'
//!   pages read as sids;
//! - `changes`: the conference writes ([`Store::apply`], start-up recovery);
//! - `reads`: the API's scoped reads and filtered, paged lists;
//! - `nodes`: several nodes on one PostgreSQL: leases, room claims, a dead
//!   node's work ended;
//! - `integrity`: [`Store::check_integrity`], behind `confab db check`;
//! - `count`: what a list's total is counted from;
//! - `sql_where`: the `WHERE` clauses lists build from their filters;
//! - `rows`: turning stored rows back into model types (bad values are
//!   [`StoreError::Corrupt`], never a panic);
//! - `error`: [`StoreError`] and how database errors map onto it.

mod accounts;
mod cached;
mod call_lists;
mod calls;
mod changes;
mod connect;
mod count;
mod day_counts;
mod error;
mod guides;
mod integrity;
mod name_counts;
mod nodes;
mod reads;
mod rows;
mod sql_where;
#[cfg(test)]
mod test_postgres;
mod trunks;

use std::sync::Arc;

use sqlx::AnyPool;

pub use call_lists::CallOrder;
pub use changes::Change;
pub use error::StoreError;
pub use nodes::{NodeEnded, NodeMessages, NodeRef};
pub use trunks::{TRUNK_SID_PREFIX, Trunk};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone (a connection pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    pool: AnyPool,
    /// Conferences already read: completed ones by sid (they never change
    /// again), live ones by sid and row version (`cached`).
    conference_cache: Arc<cached::RecordCache<model::ConferenceRecord>>,
    /// Calls already read, ended ones (which never change again) and live.
    call_cache: Arc<cached::RecordCache<model::CallRecord>>,
    /// Where recently paged lists' rows lie day by day: a deep page's
    /// guess, checked by the page's own statement (`guides`).
    guides: Arc<guides::Guides>,
    /// Pages that start before this row walk their index from the top;
    /// deeper ones seek through the per-day counts (`reads`).
    shallow_rows: i64,
    /// This node's id, when several share the database (`nodes`).
    node: Option<Arc<str>>,
    /// PostgreSQL's URL, for the listener of a node's messages (`nodes`).
    pg_url: Option<Arc<str>>,
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This store with pages that start at row `rows` or later found by
    /// seeking through the per-day counts, earlier ones by walking the
    /// list's index from its top (by default from row 1,000 on, where the
    /// seek starts to cost less than the walk). Both find the same rows:
    /// tests set 0 to check the seek on small lists.
    #[must_use]
    pub fn with_shallow_rows(mut self, rows: u64) -> Self {
        self.shallow_rows = i64::try_from(rows).unwrap_or(i64::MAX);
        self
    }

    /// Closes every connection of the pool (shared by all clones), waiting
    /// for the ones in use to come back. Later calls fail. For shutdown, and
    /// for tests that drop their database afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
