//! Call records: one row per SIP call, written when it is answered (a
//! call we place: when it is asked for, again when it rings and when it is
//! answered) and again when it ends, kept afterwards (the call's history).
//!
//! Duration is computed in SQL from the stored start time, so the writes
//! of a call need not carry each other's values. Start-up recovery ends
//! the calls a previous run left live, as it does for conferences: their
//! callers are gone with the old process.

use model::{CallRecord, CallSid, CallStatus, Timestamp};
use sqlx::AssertSqlSafe;

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
        insert_call_query(call)
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(e, "a call with this sid exists", "call"))?;
        Ok(())
    }

    /// Records many calls in one transaction (the benchmark's seeder): all
    /// of them, or none if any fails.
    pub async fn insert_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for call in calls {
            insert_call_query(call)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, "a call with this sid exists", "call"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends a call at `end` with its final `status` and, if it failed, why.
    /// Sets the end time and the duration; `false` if there is no such call.
    pub async fn finish_call(
        &self,
        sid: &CallSid,
        status: CallStatus,
        end: Timestamp,
        failure: Option<&str>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE calls SET status = $2, end_time = $1, {DURATION_TO}, failure = $3, \
             date_updated = $1 WHERE sid = $4"
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(end.as_micros())
            .bind(status.code())
            .bind(failure)
            .bind(sid.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A call we placed was answered at `at`: in progress from then.
    /// `false` if there is no such call.
    pub async fn answer_call(&self, sid: &CallSid, at: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE calls SET status = $1, start_time = $2, date_updated = $2 WHERE sid = $3",
        )
        .bind(CallStatus::InProgress.code())
        .bind(at.as_micros())
        .bind(sid.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A call we placed rings at `at` (its first 180 or 183): `ringing`
    /// from `queued`, never back from a later status. `false` if there is
    /// no such queued call.
    pub async fn ring_call(&self, sid: &CallSid, at: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE calls SET status = $1, date_updated = $2 WHERE sid = $3 AND status = $4",
        )
        .bind(CallStatus::Ringing.code())
        .bind(at.as_micros())
        .bind(sid.as_str())
        .bind(CallStatus::NotYetDialed.code())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn call(&self, sid: &CallSid) -> Result<Option<CallRecord>, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE sid = $1");
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql)).bind(sid.as_str()),
            rows::call,
        )
        .await
    }

    /// Start-up recovery: every call a previous run left live ends at
    /// `at`: one in progress is complete, one we placed that was still
    /// queued or ringing failed (nobody answered it, and its CANCEL went
    /// with the old process). Returns how many.
    pub async fn complete_live_calls(&self, at: Timestamp) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE calls SET status = $2, end_time = $1, {DURATION_TO}, date_updated = $1 \
             WHERE status = $3"
        );
        let completed = sqlx::query(AssertSqlSafe(sql))
            .bind(at.as_micros())
            .bind(CallStatus::Complete.code())
            .bind(CallStatus::InProgress.code())
            .execute(&self.pool)
            .await?;
        let failed = sqlx::query(
            "UPDATE calls SET status = $2, end_time = $1, failure = $3, date_updated = $1 \
             WHERE status IN ($4, $5)",
        )
        .bind(at.as_micros())
        .bind(CallStatus::FailedApplicationError.code())
        .bind(UNANSWERED_AT_STOP)
        .bind(CallStatus::NotYetDialed.code())
        .bind(CallStatus::Ringing.code())
        .execute(&self.pool)
        .await?;
        Ok(completed.rows_affected() + failed.rows_affected())
    }
}

/// The `INSERT` of one call record, its values bound.
fn insert_call_query(
    call: &CallRecord,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO calls \
         (sid, account_sid, phone_number_sid, caller, called, direction, status, start_time, \
          end_time, duration, failure, date_created, date_updated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
}
