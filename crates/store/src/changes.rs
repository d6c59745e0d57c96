//! The conference writes: what a conference's owner records as its state
//! changes, and the start-up recovery of conferences a previous run left open.
//!
//! A batch of [`Change`]s is one transaction, applied in order: a conference
//! reports "A left, the conference completed" together, and readers must
//! never see half of it. Each change also moves its conference's
//! `date_updated` to `at`, but only forward (`CASE WHEN date_updated < at`,
//! which both backends understand, unlike `MAX`/`GREATEST`): clocks step
//! back and events arrive late, and the API's newest-first order must not
//! jump around when they do.
//!
//! On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the
//! write lock up front (waiting for it under the busy timeout). A deferred
//! transaction that reads and then wants to write fails at once with
//! "database is locked" if another process wrote in between, because
//! waiting could not help it. Today every batch writes first, so this is a
//! guard for the next statement someone adds, not a fix of a seen failure.

use model::{
    CallSid, ConferenceEndReason, ConferenceRecord, ConferenceSid, ConferenceStatus,
    ParticipantRecord, Timestamp,
};
use sqlx::AnyConnection;

use crate::day_counts::{CONFERENCES, CountDeltas, Counted};
use crate::error::write_error;
use crate::name_counts;
use crate::rows::bool_to_db;
use crate::{Backend, Store, StoreError};

/// One state change of a conference, as the conference core reports it.
///
/// Every change needs its conference to exist (else `NotFound`), and moves
/// the conference's `date_updated` to `at` unless it is already later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new conference instance (its status is in the record, normally
    /// init). `Conflict` if the account already has a conference that is not
    /// completed under the same name, or the sid is taken; `NotFound` if the
    /// account does not exist.
    ConferenceCreated(ConferenceRecord),
    /// The conference moved to `status` at `at`. Completing a conference
    /// also removes any participant rows it still has.
    ConferenceStatus {
        sid: ConferenceSid,
        status: ConferenceStatus,
        at: Timestamp,
    },
    /// A caller joined (the record's `date_created` is the join time).
    /// `Conflict` if the call is already a participant somewhere; `NotFound`
    /// if the conference does not exist under the record's account.
    ParticipantJoined(ParticipantRecord),
    /// A caller left, for any reason. Leaving twice, or after the completed
    /// conference already removed the row, is not an error: a conference may report
    /// "completed" before the leaves that caused it.
    ParticipantLeft {
        conference_sid: ConferenceSid,
        call_sid: CallSid,
        at: Timestamp,
    },
    /// A caller was muted or unmuted (also moves the participant's
    /// `date_updated` forward). `NotFound` if no such participant.
    ParticipantMuted {
        conference_sid: ConferenceSid,
        call_sid: CallSid,
        muted: bool,
        at: Timestamp,
    },
    /// A caller was put on hold or taken off it (2010 API), as
    /// `ParticipantMuted`.
    ParticipantHold {
        conference_sid: ConferenceSid,
        call_sid: CallSid,
        hold: bool,
        at: Timestamp,
    },
    /// A caller's `end_conference_on_exit` was changed (2010 API), as
    /// `ParticipantMuted`.
    ParticipantEndOnExit {
        conference_sid: ConferenceSid,
        call_sid: CallSid,
        end_conference_on_exit: bool,
        at: Timestamp,
    },
    /// Why the conference ended and whose leaving ended it (2010 API
    /// `reason_conference_ended`, `call_sid_ending_conference`); its owner
    /// writes it with the `ConferenceStatus` that completes it, in one
    /// batch. `NotFound` if no such conference.
    ConferenceEnding {
        sid: ConferenceSid,
        reason: ConferenceEndReason,
        call_sid_ending: Option<CallSid>,
        at: Timestamp,
    },
}

/// `date_updated` becomes `$1` unless it is already later. `$1` is the time.
const FORWARD_DATE_UPDATED: &str =
    "date_updated = CASE WHEN date_updated < $1 THEN $1 ELSE date_updated END";

impl Store {
    /// Applies a batch of conference changes in one transaction, in order. If any
    /// change fails, none of the batch is applied.
    pub async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let applied = async {
            let mut deltas = CountDeltas::default();
            for change in changes {
                apply_one(&mut tx, &mut deltas, change, self.node()).await?;
            }
            deltas.write(&mut tx).await
        }
        .await;
        if let Err(err) = applied {
            // Dropping would roll back too, but only once the connection
            // is next used; rolling back now releases SQLite's lock now.
            tx.rollback().await?;
            return Err(err);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Start-up recovery: every conference left init or in-progress by a
    /// previous run (of this node, when the store is a node of several) is
    /// completed at `at` and its participants removed. Returns how many
    /// conferences it completed.
    pub async fn complete_live_conferences(&self, at: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = complete_conferences(&mut tx, at, self.node()).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// A transaction that will write (see the module doc for SQLite's
    /// `BEGIN IMMEDIATE`).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// Completes at `at` every live conference (of `node`'s rooms only, if
/// given, whose claims then go too) and removes their participants;
/// recounts if any. How many.
pub(crate) async fn complete_conferences(
    conn: &mut AnyConnection,
    at: Timestamp,
    node: Option<&str>,
) -> Result<u64, StoreError> {
    // Live conferences, of the rooms node `$n` claimed unless it is NULL.
    let live = |n: usize| {
        format!(
            "status <> 2 AND (${n} IS NULL OR EXISTS (SELECT 1 FROM room_claims r \
             WHERE r.node_id = ${n} AND r.account_sid = conferences.account_sid \
             AND r.friendly_name = conferences.friendly_name))"
        )
    };
    let sql = format!(
        "DELETE FROM participants WHERE conference_sid IN (SELECT sid FROM conferences WHERE {})",
        live(1)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(node)
        .execute(&mut *conn)
        .await?;
    let sql = format!(
        "UPDATE conferences SET status = 2, {FORWARD_DATE_UPDATED} WHERE {}",
        live(2)
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at.as_micros())
        .bind(node)
        .execute(&mut *conn)
        .await?;
    if let Some(node) = node {
        sqlx::query("DELETE FROM room_claims WHERE node_id = $1")
            .bind(node)
            .execute(&mut *conn)
            .await?;
    }
    if done.rows_affected() > 0 {
        // Rare (start-up, a dead node): recounting everything is simpler
        // than per row.
        CONFERENCES.recount_all(conn).await?;
        name_counts::recount_all(conn).await?;
    }
    Ok(done.rows_affected())
}

async fn apply_one(
    conn: &mut AnyConnection,
    deltas: &mut CountDeltas,
    change: &Change,
    node: Option<&str>,
) -> Result<(), StoreError> {
    match change {
        Change::ConferenceCreated(c) => {
            sqlx::query(
                "INSERT INTO conferences \
                 (sid, account_sid, friendly_name, status, date_created, date_updated, \
                  reason_ended, call_sid_ending) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(c.sid.as_str())
            .bind(c.account_sid.as_str())
            .bind(c.friendly_name.as_str())
            .bind(c.status.code())
            .bind(c.date_created.as_micros())
            .bind(c.date_updated.as_micros())
            .bind(c.reason_ended.map(ConferenceEndReason::as_str))
            .bind(c.call_sid_ending.as_ref().map(|c| c.as_str().to_owned()))
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                write_error(
                    e,
                    "a live conference with this name (or this sid) exists",
                    "account",
                )
            })?;
            let counted = Counted {
                status: c.status.code(),
                created: c.date_created,
                updated: c.date_updated,
            };
            CONFERENCES.add(deltas, &c.account_sid, counted, 1);
            name_counts::add(deltas, &c.account_sid, &c.friendly_name, c.status.code(), 1);
        }
        Change::ConferenceStatus { sid, status, at } => {
            // Where the conference is counted now, for the per-day counts.
            let (account, before) = CONFERENCES
                .counted_as(conn, sid.as_str())
                .await?
                .ok_or_else(|| StoreError::NotFound("conference".into()))?;
            let sql = format!(
                "UPDATE conferences SET status = $2, {FORWARD_DATE_UPDATED} WHERE sid = $3"
            );
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(at.as_micros())
                .bind(status.code())
                .bind(sid.as_str())
                .execute(&mut *conn)
                .await
                // Re-opening a completed conference whose name is live again.
                .map_err(|e| {
                    write_error(e, "a live conference with this name exists", "conference")
                })?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound("conference".into()));
            }
            let after = Counted {
                status: status.code(),
                updated: before.updated.max(*at),
                ..before
            };
            CONFERENCES.moved(deltas, &account, before, after);
            let (from, to) = (before.status, after.status);
            name_counts::moved(conn, deltas, &account, sid.as_str(), from, to).await?;
            if *status == ConferenceStatus::Completed {
                // Participants are live rows: a completed conference has none.
                sqlx::query("DELETE FROM participants WHERE conference_sid = $1")
                    .bind(sid.as_str())
                    .execute(&mut *conn)
                    .await?;
                if let Some(node) = node {
                    // Its room is free for any node to run again (`nodes`).
                    sqlx::query(
                        "DELETE FROM room_claims WHERE node_id = $1 AND EXISTS \
                         (SELECT 1 FROM conferences c WHERE c.sid = $2 \
                          AND c.account_sid = room_claims.account_sid \
                          AND c.friendly_name = room_claims.friendly_name)",
                    )
                    .bind(node)
                    .bind(sid.as_str())
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Change::ParticipantJoined(p) => {
            sqlx::query(
                "INSERT INTO participants \
                 (call_sid, conference_sid, account_sid, muted, hold, label, call_sid_to_coach, \
                  start_conference_on_enter, end_conference_on_exit, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(p.call_sid.as_str())
            .bind(p.conference_sid.as_str())
            .bind(p.account_sid.as_str())
            .bind(bool_to_db(p.muted))
            .bind(bool_to_db(p.hold))
            .bind(p.label.as_deref())
            .bind(p.call_sid_to_coach.as_ref().map(|c| c.as_str().to_owned()))
            .bind(bool_to_db(p.start_conference_on_enter))
            .bind(bool_to_db(p.end_conference_on_exit))
            .bind(p.date_created.as_micros())
            .bind(p.date_updated.as_micros())
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                write_error(
                    e,
                    "the call is already a participant (or its label is taken)",
                    "conference of this account",
                )
            })?;
            touch_conference(conn, deltas, &p.conference_sid, p.date_created).await?;
        }
        Change::ParticipantLeft {
            conference_sid,
            call_sid,
            at,
        } => {
            sqlx::query("DELETE FROM participants WHERE conference_sid = $1 AND call_sid = $2")
                .bind(conference_sid.as_str())
                .bind(call_sid.as_str())
                .execute(&mut *conn)
                .await?;
            touch_conference(conn, deltas, conference_sid, *at).await?;
        }
        Change::ParticipantMuted {
            conference_sid,
            call_sid,
            muted,
            at,
        } => {
            let flag = ParticipantFlag::Muted;
            set_participant_flag(conn, deltas, conference_sid, call_sid, flag, *muted, *at).await?;
        }
        Change::ParticipantHold {
            conference_sid,
            call_sid,
            hold,
            at,
        } => {
            let flag = ParticipantFlag::Hold;
            set_participant_flag(conn, deltas, conference_sid, call_sid, flag, *hold, *at).await?;
        }
        Change::ParticipantEndOnExit {
            conference_sid,
            call_sid,
            end_conference_on_exit,
            at,
        } => {
            let flag = ParticipantFlag::EndConferenceOnExit;
            let value = *end_conference_on_exit;
            set_participant_flag(conn, deltas, conference_sid, call_sid, flag, value, *at).await?;
        }
        Change::ConferenceEnding {
            sid,
            reason,
            call_sid_ending,
            at,
        } => {
            sqlx::query(
                "UPDATE conferences SET reason_ended = $1, call_sid_ending = $2 WHERE sid = $3",
            )
            .bind(reason.as_str())
            .bind(call_sid_ending.as_ref().map(|c| c.as_str().to_owned()))
            .bind(sid.as_str())
            .execute(&mut *conn)
            .await?;
            touch_conference(conn, deltas, sid, *at).await?;
        }
    }
    Ok(())
}

/// A participant's boolean column the API changes.
#[derive(Debug, Clone, Copy)]
enum ParticipantFlag {
    Muted,
    Hold,
    EndConferenceOnExit,
}

impl ParticipantFlag {
    fn column(self) -> &'static str {
        match self {
            Self::Muted => "muted",
            Self::Hold => "hold",
            Self::EndConferenceOnExit => "end_conference_on_exit",
        }
    }
}

/// Sets one flag of a participant and moves its and its conference's
/// `date_updated` forward; `NotFound` if no such participant.
async fn set_participant_flag(
    conn: &mut AnyConnection,
    deltas: &mut CountDeltas,
    conference_sid: &ConferenceSid,
    call_sid: &CallSid,
    flag: ParticipantFlag,
    value: bool,
    at: Timestamp,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE participants SET {column} = $2, {FORWARD_DATE_UPDATED} \
         WHERE conference_sid = $3 AND call_sid = $4",
        column = flag.column()
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at.as_micros())
        .bind(bool_to_db(value))
        .bind(conference_sid.as_str())
        .bind(call_sid.as_str())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("participant".into()));
    }
    touch_conference(conn, deltas, conference_sid, at).await
}

/// Moves a conference's `date_updated` forward to `at`; `NotFound` if there
/// is no such conference.
async fn touch_conference(
    conn: &mut AnyConnection,
    deltas: &mut CountDeltas,
    sid: &ConferenceSid,
    at: Timestamp,
) -> Result<(), StoreError> {
    let (account, before) = CONFERENCES
        .counted_as(conn, sid.as_str())
        .await?
        .ok_or_else(|| StoreError::NotFound("conference".into()))?;
    if before.updated >= at {
        // Already later: nothing moves, not even a count.
        return Ok(());
    }
    let sql = format!("UPDATE conferences SET {FORWARD_DATE_UPDATED} WHERE sid = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at.as_micros())
        .bind(sid.as_str())
        .execute(&mut *conn)
        .await?;
    let after = Counted {
        updated: at,
        ..before
    };
    CONFERENCES.moved(deltas, &account, before, after);
    Ok(())
}
