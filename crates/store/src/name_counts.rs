//! How many of an account's conferences of each FriendlyName have each
//! status (`conference_name_counts`, migration 0017), kept by the same
//! transactions that create conferences and change their status.
//!
//! A Conferences list filtered by FriendlyName (and perhaps Status) with no
//! date filter, the common "this room's history" question, takes its total
//! from at most three of these rows instead of counting the name's index
//! entries: a room reused every day for years has thousands of them (one
//! name of the benchmark's million conferences has 4,777: 148 µs to
//! count). Start-up
//! recovery recounts them, and `confab db check` compares them with a
//! recount.

use model::AccountSid;
use sqlx::AnyConnection;

use crate::StoreError;
use crate::day_counts::CountDeltas;
use crate::sql_where::{Value, Where};

/// The table of counts.
pub(crate) const TABLE: &str = "conference_name_counts";

/// Adds `delta` to the number of `account`'s conferences named `name`
/// with status `status`.
pub(crate) fn add(
    deltas: &mut CountDeltas,
    account: &AccountSid,
    name: &str,
    status: i64,
    delta: i64,
) {
    let key = vec![
        ("account_sid", Value::Text(account.as_str().to_owned())),
        ("friendly_name", Value::Text(name.to_owned())),
        ("status", Value::Int(status)),
    ];
    deltas.add(TABLE, key, delta);
}

/// Moves conference `sid` (of `account`) from status `before` to `after`
/// in its name's counts; nothing when the status stays.
pub(crate) async fn moved(
    conn: &mut AnyConnection,
    deltas: &mut CountDeltas,
    account: &AccountSid,
    sid: &str,
    before: i64,
    after: i64,
) -> Result<(), StoreError> {
    if before == after {
        return Ok(());
    }
    let (name,): (String,) = sqlx::query_as("SELECT friendly_name FROM conferences WHERE sid = $1")
        .bind(sid)
        .fetch_one(&mut *conn)
        .await?;
    add(deltas, account, &name, before, -1);
    add(deltas, account, &name, after, 1);
    Ok(())
}

/// The total of the conferences `names` selects (by `account_sid`,
/// `friendly_name` and perhaps `status`), as `n`, with its placeholders
/// numbered from `$base + 1`.
pub(crate) fn sum_sql(names: &Where, base: usize) -> String {
    format!(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM {TABLE} {}",
        names.clause(false, base)
    )
}

/// The counts recounted from the conferences: `account_sid,
/// friendly_name, status, n`.
pub(crate) fn recount_sql() -> String {
    "SELECT account_sid, friendly_name, status, COUNT(*) AS n FROM conferences \
     GROUP BY account_sid, friendly_name, status"
        .to_owned()
}

/// Recounts every account (start-up recovery, after it completed many
/// conferences in one statement).
pub(crate) async fn recount_all(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {TABLE}")))
        .execute(&mut *conn)
        .await?;
    let sql = format!(
        "INSERT INTO {TABLE} (account_sid, friendly_name, status, n) {}",
        recount_sql()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
