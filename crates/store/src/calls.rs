//! Call records: one row per SIP call, written when it is answered (a
//! call we place: when it is asked for, again when it rings and when it is
//! answered) and again when it ends, kept afterwards (the call's history).
//!
//! Duration is computed in SQL from the stored start time, so the writes
//! of a call need not carry each other's values. Start-up recovery ends
//! the calls a previous run left live, as it does for conferences: their
//! callers are gone with the old process.

use model::{CallRecord, CallSid, CallStatus, Timestamp};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

use crate::day_counts::{CALLS, CountDeltas, Counted};
use crate::error::write_error;
use crate::rows::{self, CALL_COLUMNS};
use crate::{Store, StoreError};

/// `duration` in whole seconds from `start_time` to `$1` (microseconds),
/// NULL when there is no start time. Integer division on both backends.
const DURATION_TO: &str =
    "duration = CASE WHEN start_time IS NULL THEN NULL ELSE ($1 - start_time) / 1000000 END";

/// Why start-up recovery failed a placed call nobody had answered.
const UNANSWERED_AT_STOP: &str = "the server stopped before the call was answered";

impl Store {
    /// Records a new call. `Conflict` if the sid is taken.
    pub async fn insert_call(&self, call: &CallRecord) -> Result<(), StoreError> {
        self.insert_calls(std::slice::from_ref(call)).await
    }

    /// Records many calls in one transaction (the benchmark's seeder): all
    /// of them, or none if any fails.
    pub async fn insert_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let mut deltas = CountDeltas::default();
        for call in calls {
            insert_call_query(call, self.node())
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, "a call with this sid exists", "call"))?;
            let counted = Counted {
                status: call.status.code(),
                created: call.date_created,
                updated: call.date_updated,
            };
            CALLS.add(&mut deltas, &call.account_sid, counted, 1);
        }
        deltas.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a live call at `end` with its final `status` and, if it failed,
    /// why. Sets the end time and the duration; `false` if there is no such
    /// call or it has already ended. The first end a call gets is its last:
    /// in a cluster, a node that took over a dead node's calls ends them,
    /// and the dead node's own hang-up, if it wakes, changes nothing. So a
    /// call's final record never changes again (and is cached: `cached`).
    pub async fn finish_call(
        &self,
        sid: &CallSid,
        status: CallStatus,
        end: Timestamp,
        failure: Option<&str>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE calls SET status = $2, end_time = $1, {DURATION_TO}, failure = $3, \
             date_updated = $1 WHERE sid = $4 AND status IN ($5, $6, $7)"
        );
        let update = sqlx::query(AssertSqlSafe(sql))
            .bind(end.as_micros())
            .bind(status.code())
            .bind(failure)
            .bind(sid.as_str())
            .bind(CallStatus::NotYetDialed.code())
            .bind(CallStatus::Ringing.code())
            .bind(CallStatus::InProgress.code());
        self.update_call(sid, update).await
    }

    /// A call we placed was answered at `at`: in progress from then.
    /// `false` if there is no such call still queued or ringing (an ended
    /// call stays ended).
    pub async fn answer_call(&self, sid: &CallSid, at: Timestamp) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE calls SET status = $1, start_time = $2, date_updated = $2 \
             WHERE sid = $3 AND status IN ($4, $5)",
        )
        .bind(CallStatus::InProgress.code())
        .bind(at.as_micros())
        .bind(sid.as_str())
        .bind(CallStatus::NotYetDialed.code())
        .bind(CallStatus::Ringing.code());
        self.update_call(sid, update).await
    }

    /// A call we placed rings at `at` (its first 180 or 183): `ringing`
    /// from `queued`, never back from a later status. `false` if there is
    /// no such queued call.
    pub async fn ring_call(&self, sid: &CallSid, at: Timestamp) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE calls SET status = $1, date_updated = $2 WHERE sid = $3 AND status = $4",
        )
        .bind(CallStatus::Ringing.code())
        .bind(at.as_micros())
        .bind(sid.as_str())
        .bind(CallStatus::NotYetDialed.code());
        self.update_call(sid, update).await
    }

    pub async fn call(&self, sid: &CallSid) -> Result<Option<CallRecord>, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE sid = $1");
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql)).bind(sid.as_str()),
            rows::call,
        )
        .await
    }

    /// Start-up recovery: every call a previous run (of this node, when the
    /// store is a node of several) left live ends at `at`: one in progress
    /// is complete, one we placed that was still queued or ringing failed
    /// (nobody answered it, and its CANCEL went with the old process).
    /// Returns how many.
    pub async fn complete_live_calls(&self, at: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let ended = complete_calls(&mut tx, at, self.node()).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Runs `update` of call `sid` and moves the call in the per-day counts
    /// (`day_counts`) to where it is counted afterwards, in one
    /// transaction. `false` if no call was updated.
    async fn update_call(
        &self,
        sid: &CallSid,
        update: Query<'_, Any, AnyArguments>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some((account, before)) = CALLS.counted_as(&mut tx, sid.as_str()).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        let done = update.execute(&mut *tx).await?;
        if done.rows_affected() > 0
            && let Some((_, after)) = CALLS.counted_as(&mut tx, sid.as_str()).await?
        {
            let mut deltas = CountDeltas::default();
            CALLS.moved(&mut deltas, &account, before, after);
            deltas.write(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Ends at `at` every live call (of `node` only, if given), as start-up
/// recovery does; recounts if any. How many.
pub(crate) async fn complete_calls(
    conn: &mut sqlx::AnyConnection,
    at: Timestamp,
    node: Option<&str>,
) -> Result<u64, StoreError> {
    let [complete, fail] = complete_calls_sql();
    let completed = sqlx::query(AssertSqlSafe(complete))
        .bind(at.as_micros())
        .bind(CallStatus::Complete.code())
        .bind(node)
        .execute(&mut *conn)
        .await?;
    let failed = sqlx::query(AssertSqlSafe(fail))
        .bind(at.as_micros())
        .bind(CallStatus::FailedApplicationError.code())
        .bind(UNANSWERED_AT_STOP)
        .bind(node)
        .execute(&mut *conn)
        .await?;
    let ended = completed.rows_affected() + failed.rows_affected();
    if ended > 0 {
        // Rare (start-up, a dead node): recounting everything is simpler
        // than per row.
        CALLS.recount_all(conn).await?;
    }
    Ok(ended)
}

/// `complete_calls`' two statements: live calls complete, calls nobody
/// answered fail. `$3`/`$4`: the node whose calls these are, or NULL for
/// every call.
///
/// The live statuses are written into the SQL, not bound: PostgreSQL plans
/// each statement once for any values (`plan_cache_mode`, `connect`), and
/// only constants let that plan use the partial indexes of live calls
/// instead of reading every call ever made.
fn complete_calls_sql() -> [String; 2] {
    [
        format!(
            "UPDATE calls SET status = $2, end_time = $1, {DURATION_TO}, date_updated = $1 \
             WHERE status = {in_progress} AND ($3 IS NULL OR node_id = $3)",
            in_progress = CallStatus::InProgress.code(),
        ),
        format!(
            "UPDATE calls SET status = $2, end_time = $1, failure = $3, date_updated = $1 \
             WHERE status IN ({not_yet_dialed}, {ringing}) AND ($4 IS NULL OR node_id = $4)",
            not_yet_dialed = CallStatus::NotYetDialed.code(),
            ringing = CallStatus::Ringing.code(),
        ),
    ]
}

/// The `INSERT` of one call record, its values bound.
fn insert_call_query<'a>(
    call: &'a CallRecord,
    node: Option<&'a str>,
) -> Query<'a, Any, AnyArguments> {
    sqlx::query(
        "INSERT INTO calls \
         (sid, account_sid, phone_number_sid, caller, called, direction, status, start_time, \
          end_time, duration, failure, date_created, date_updated, node_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(call.sid.as_str())
    .bind(call.account_sid.as_str())
    .bind(
        call.phone_number_sid
            .as_ref()
            .map(|s| s.as_str().to_owned()),
    )
    .bind(call.caller.as_str())
    .bind(call.called.as_str())
    .bind(call.direction.as_str())
    .bind(call.status.code())
    .bind(call.start_time.map(Timestamp::as_micros))
    .bind(call.end_time.map(Timestamp::as_micros))
    .bind(call.duration)
    .bind(call.failure.as_deref())
    .bind(call.date_created.as_micros())
    .bind(call.date_updated.as_micros())
    .bind(node)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_postgres::TestPostgres;
    use sqlx::Executor;

    /// Start-up recovery's statements, planned on PostgreSQL as the store
    /// plans them (once, for any values), read the partial indexes of live
    /// calls, not every call ever made. Runs where the store's tests run
    /// PostgreSQL (`CONFAB_TEST_POSTGRES_URL`); SQLite plans each statement
    /// with its values.
    #[tokio::test]
    async fn recovery_reads_only_live_calls_on_postgres() {
        let Some(db) = TestPostgres::create().await else {
            return;
        };
        let mut conn = db.store.pool.acquire().await.unwrap();
        // A sequential scan is priced out, so the plan shows whether an
        // index can answer at all.
        conn.execute("SET enable_seqscan = off").await.unwrap();
        let [complete, fail] = complete_calls_sql();
        let statements = [
            (complete, "bigint, bigint, text", "0, 0, NULL"),
            (fail, "bigint, bigint, text, text", "0, 0, '', NULL"),
        ];
        for (n, (sql, types, args)) in statements.into_iter().enumerate() {
            let name = format!("recovery{n}");
            let plan = TestPostgres::plan(&mut conn, &name, &sql, types, args).await;
            assert!(
                plan.contains("calls_in_progress") || plan.contains("live_calls_by_node"),
                "{sql}\n{plan}"
            );
        }
        drop(conn);
        db.finish().await;
    }
}
