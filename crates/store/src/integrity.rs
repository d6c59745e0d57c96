//! The integrity check behind `confab db check`: the database engine's own
//! checks (SQLite only) and confab's invariants (both backends), each
//! finding reported as one line of text.
//!
//! confab's invariants are the ones its writes keep in one transaction and
//! its reads rely on: the per-day counts and the totals by status and by
//! name equal a recount of the conferences and calls (the lists' totals
//! come from them), participant rows are live rows (none under a completed
//! conference), and every participant's conference and every conference's
//! account exists. Each check is one statement, so it sees one snapshot
//! even while `serve` writes.
//!
//! Findings name sids and counts, never callers or numbers (personal data).

use sqlx::Row as _;

use crate::day_counts::{CALLS, CONFERENCES};
use crate::name_counts;
use crate::{Backend, Store, StoreError};

/// At most this many findings of one check are listed.
const LIMIT: i64 = 100;

impl Store {
    /// Checks the database; returns what is wrong, one finding a line, or
    /// nothing when all is well. An `Err` means the check itself could not
    /// run (the database is unreachable), not that a check failed.
    pub async fn check_integrity(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        if self.backend == Backend::Sqlite {
            self.sqlite_checks(&mut problems).await?;
        }
        self.count_checks(&mut problems).await?;
        self.reference_checks(&mut problems).await?;
        Ok(problems)
    }

    async fn sqlite_checks(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        for row in sqlx::query("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?
        {
            let line: String = row.try_get(0)?;
            if line != "ok" {
                problems.push(format!("sqlite integrity_check: {line}"));
            }
        }
        // table, rowid, parent, fkid: a row of `table` whose parent row in
        // `parent` is missing.
        for row in sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&self.pool)
            .await?
        {
            let table: String = row.try_get(0)?;
            let rowid: Option<i64> = row.try_get(1)?;
            let parent: String = row.try_get(2)?;
            problems.push(format!(
                "sqlite foreign_key_check: {table} row {} has no parent row in {parent}",
                rowid.map_or_else(|| "?".to_owned(), |r| r.to_string())
            ));
        }
        Ok(())
    }

    /// The per-day counts (`conference_day_counts`, `call_day_counts`), the
    /// per-hour counts (`…_hour_counts`) and the totals by status beside
    /// them (`…_status_counts`), and the
    /// conferences' counts by name (`conference_name_counts`), against a
    /// recount of their rows. Rows of n = 0 are normal (a status left on
    /// that day) and need no row behind them.
    async fn count_checks(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        for counts in [CONFERENCES, CALLS] {
            let rows = counts.rows;
            for (table, recount, key) in [
                (
                    counts.table,
                    counts.recount_sql(),
                    &["status", "day", "updated_day"][..],
                ),
                (
                    counts.hours,
                    counts.recount_hours_sql(),
                    &["clock", "hour", "status"],
                ),
                (counts.totals, counts.recount_totals_sql(), &["status"]),
            ] {
                for found in self.disagreements(table, &recount, key, key).await? {
                    let at: Vec<String> = key
                        .iter()
                        .zip(&found.key)
                        .map(|(column, value)| format!("{column} {value}"))
                        .collect();
                    problems.push(format!(
                        "{table}: account {} {} holds {}, the {rows} recount to {}",
                        found.account,
                        at.join(" "),
                        found.kept,
                        found.counted
                    ));
                }
            }
        }
        // Names are the caller's words: a finding names the account and the
        // status, never the name.
        let (table, recount) = (name_counts::TABLE, name_counts::recount_sql());
        let key = ["friendly_name", "status"];
        for found in self
            .disagreements(table, &recount, &key, &["status"])
            .await?
        {
            problems.push(format!(
                "{table}: account {}, a name with status {} holds {}, \
                 the conferences recount to {}",
                found.account, found.key[0], found.kept, found.counted
            ));
        }
        Ok(())
    }

    /// Where the count table `table` and `recount` (the same counts from
    /// the rows, as `account_sid`, the `key` columns and `n`) disagree:
    /// at most [`LIMIT`] findings, each with its `shown` key columns
    /// (integers). A count of 0 with nothing behind it is no finding.
    async fn disagreements(
        &self,
        table: &str,
        recount: &str,
        key: &[&str],
        shown: &[&str],
    ) -> Result<Vec<Disagreement>, StoreError> {
        let on: Vec<String> = std::iter::once(&"account_sid")
            .chain(key)
            .map(|c| format!("t.{c} = r.{c}"))
            .collect();
        let on = on.join(" AND ");
        let columns = |side: &str| -> String {
            shown
                .iter()
                .map(|c| format!("{side}.{c}, "))
                .collect::<String>()
        };
        let (r, t) = (columns("r"), columns("t"));
        let sql = format!(
            "SELECT r.account_sid, {r}r.n, COALESCE(t.n, 0) AS kept \
             FROM ({recount}) AS r LEFT JOIN {table} AS t ON {on} \
             WHERE t.n IS NULL OR t.n <> r.n \
             UNION ALL \
             SELECT t.account_sid, {t}0, t.n \
             FROM {table} AS t LEFT JOIN ({recount}) AS r ON {on} \
             WHERE r.n IS NULL AND t.n <> 0 \
             LIMIT {LIMIT}"
        );
        let mut found = Vec::new();
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
        {
            let key = (1..=shown.len())
                .map(|i| row.try_get::<i64, _>(i))
                .collect::<Result<Vec<_>, _>>()?;
            found.push(Disagreement {
                account: row.try_get(0)?,
                key,
                counted: row.try_get(shown.len() + 1)?,
                kept: row.try_get(shown.len() + 2)?,
            });
        }
        Ok(found)
    }

    async fn reference_checks(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        let completed = format!(
            "SELECT p.call_sid, p.conference_sid FROM participants AS p \
             JOIN conferences AS c ON c.sid = p.conference_sid \
             WHERE c.status = 2 ORDER BY p.call_sid LIMIT {LIMIT}"
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(completed))
            .fetch_all(&self.pool)
            .await?
        {
            let (call, conference): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            problems.push(format!(
                "participants: {call} is still a participant of completed conference {conference}"
            ));
        }
        let orphans = format!(
            "SELECT p.call_sid, p.conference_sid FROM participants AS p \
             LEFT JOIN conferences AS c \
               ON c.sid = p.conference_sid AND c.account_sid = p.account_sid \
             WHERE c.sid IS NULL ORDER BY p.call_sid LIMIT {LIMIT}"
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(orphans))
            .fetch_all(&self.pool)
            .await?
        {
            let (call, conference): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            problems.push(format!(
                "participants: {call} is a participant of {conference}, \
                 which does not exist under its account"
            ));
        }
        let accountless = format!(
            "SELECT c.sid FROM conferences AS c LEFT JOIN accounts AS a ON a.sid = c.account_sid \
             WHERE a.sid IS NULL ORDER BY c.sid LIMIT {LIMIT}"
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(accountless))
            .fetch_all(&self.pool)
            .await?
        {
            let sid: String = row.try_get(0)?;
            problems.push(format!("conferences: {sid} belongs to no account"));
        }
        Ok(())
    }
}

/// One count that disagrees with its recount (see `disagreements`).
struct Disagreement {
    account: String,
    key: Vec<i64>,
    counted: i64,
    kept: i64,
}
