//! The conference hub: the one task that owns the room rules.
//!
//! Every join, leave, mute and kick arrives here as a command over a bounded
//! channel, is applied to the [`conference::Conferences`] state machine, and
//! the events it produced are written to the store in one transaction
//! *before* the command is answered. So when the API's mute returns, the
//! store already says muted, and the response it reads back tells the truth.
//!
//! One task serialises all rule changes: that is what makes "one live room
//! per name" hold when two callers dial a new room at the same moment. The
//! rules are cheap (no audio here); mixing will live in per-room tasks that
//! the hub drives.

use std::sync::Arc;

use conference::{Conferences, Event, JoinError, JoinRequest, Joined, LeaveReason};
use model::{
    AccountSid, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus, ParticipantRecord,
};
use store::{Change, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Clock, ids};

/// How many commands may wait for the hub before senders wait too.
const QUEUE: usize = 1024;

/// Why a join did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinFailure {
    #[error(transparent)]
    Rules(#[from] JoinError),
    /// The hub is gone (shutting down) or could not persist the join.
    #[error("the conference service is unavailable")]
    Unavailable,
}

type Reply<T> = oneshot::Sender<T>;

#[derive(Debug)]
enum Command {
    Join {
        request: JoinRequest,
        reply: Reply<Result<Joined, JoinFailure>>,
    },
    Leave {
        call: CallSid,
        reason: LeaveReason,
        reply: Reply<bool>,
    },
    SetMuted {
        account: AccountSid,
        conference: ConferenceSid,
        call: CallSid,
        muted: bool,
        reply: Reply<Result<(), api::ControlError>>,
    },
    Kick {
        account: AccountSid,
        conference: ConferenceSid,
        call: CallSid,
        reply: Reply<Result<(), api::ControlError>>,
    },
}

/// A cheap, cloneable way to send commands to the hub.
#[derive(Debug, Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Command>,
}

/// Starts the hub. It runs until `stop` is cancelled (or every handle is
/// dropped), then ends every room and persists that before returning.
pub fn spawn(
    store: Store,
    clock: Arc<dyn Clock>,
    capacity: usize,
    stop: CancellationToken,
) -> (HubHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let hub = Hub {
        rooms: Conferences::new(capacity),
        store,
        clock,
    };
    let task = tokio::spawn(hub.run(rx, stop));
    (HubHandle { tx }, task)
}

impl HubHandle {
    /// Puts a caller into the live room of that name (creating it if needed).
    pub async fn join(&self, request: JoinRequest) -> Result<Joined, JoinFailure> {
        self.ask(|reply| Command::Join { request, reply })
            .await
            .unwrap_or(Err(JoinFailure::Unavailable))
    }

    /// Takes a caller out of its room; `false` if it was in none.
    pub async fn leave(&self, call: CallSid, reason: LeaveReason) -> bool {
        self.ask(|reply| Command::Leave {
            call,
            reason,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(command(reply)).await.ok()?;
        answer.await.ok()
    }
}

impl api::CallControl for HubHandle {
    fn set_muted<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        call: &'a CallSid,
        muted: bool,
    ) -> api::BoxFuture<'a, Result<(), api::ControlError>> {
        Box::pin(async move {
            self.ask(|reply| Command::SetMuted {
                account: account.clone(),
                conference: conference.clone(),
                call: call.clone(),
                muted,
                reply,
            })
            .await
            .unwrap_or(Err(api::ControlError::Unavailable))
        })
    }

    fn kick<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        call: &'a CallSid,
    ) -> api::BoxFuture<'a, Result<(), api::ControlError>> {
        Box::pin(async move {
            self.ask(|reply| Command::Kick {
                account: account.clone(),
                conference: conference.clone(),
                call: call.clone(),
                reply,
            })
            .await
            .unwrap_or(Err(api::ControlError::Unavailable))
        })
    }
}

struct Hub {
    rooms: Conferences,
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Hub {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>, stop: CancellationToken) {
        loop {
            let command = tokio::select! {
                () = stop.cancelled() => break,
                command = rx.recv() => match command {
                    Some(command) => command,
                    None => break,
                },
            };
            self.handle(command).await;
        }
        self.rooms.end_all(self.clock.now());
        if let Err(e) = self.persist().await {
            tracing::error!(error = %e, "could not record the rooms ended at shutdown");
        }
    }

    async fn handle(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Join { request, reply } => {
                let result = self
                    .rooms
                    .join(request, ids::conference_sid(), now)
                    .map_err(JoinFailure::from);
                let result = self
                    .persisted(result)
                    .await
                    .unwrap_or(Err(JoinFailure::Unavailable));
                let _ = reply.send(result);
            }
            Command::Leave {
                call,
                reason,
                reply,
            } => {
                let left = self.rooms.leave(&call, reason, now).is_ok();
                let _ = reply.send(self.persisted(left).await.unwrap_or(left));
            }
            Command::SetMuted {
                account,
                conference,
                call,
                muted,
                reply,
            } => {
                let result = self
                    .rooms
                    .set_muted(&account, &conference, &call, muted, now)
                    .map_err(|_| api::ControlError::NotFound);
                let _ = reply.send(
                    self.persisted(result)
                        .await
                        .unwrap_or(Err(api::ControlError::Unavailable)),
                );
            }
            Command::Kick {
                account,
                conference,
                call,
                reply,
            } => {
                let result = self
                    .rooms
                    .kick(&account, &conference, &call, now)
                    .map(drop)
                    .map_err(|_| api::ControlError::NotFound);
                let _ = reply.send(
                    self.persisted(result)
                        .await
                        .unwrap_or(Err(api::ControlError::Unavailable)),
                );
            }
        }
    }

    /// Writes what the last command changed, then hands back its result;
    /// `None` if the store refused (the caller answers "unavailable").
    async fn persisted<T>(&mut self, result: T) -> Option<T> {
        match self.persist().await {
            Ok(()) => Some(result),
            Err(e) => {
                tracing::error!(error = %e, "could not persist a room change");
                None
            }
        }
    }

    async fn persist(&mut self) -> Result<(), store::StoreError> {
        let changes: Vec<Change> = std::iter::from_fn(|| self.rooms.poll_event())
            .map(to_change)
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        self.store.apply(&changes).await
    }
}

/// A room event in the store's vocabulary.
fn to_change(event: Event) -> Change {
    match event {
        Event::ConferenceCreated {
            sid,
            account,
            friendly_name,
            at,
        } => Change::ConferenceCreated(ConferenceRecord {
            sid,
            account_sid: account,
            friendly_name,
            status: ConferenceStatus::Init,
            date_created: at,
            date_updated: at,
        }),
        Event::StatusChanged { sid, status, at } => Change::ConferenceStatus { sid, status, at },
        Event::ParticipantJoined {
            conference,
            account,
            call,
            muted,
            start_conference_on_enter,
            end_conference_on_exit,
            at,
        } => Change::ParticipantJoined(ParticipantRecord {
            call_sid: call,
            conference_sid: conference,
            account_sid: account,
            muted,
            start_conference_on_enter,
            end_conference_on_exit,
            date_created: at,
            date_updated: at,
        }),
        Event::ParticipantMuted {
            conference,
            call,
            muted,
            at,
        } => Change::ParticipantMuted {
            conference_sid: conference,
            call_sid: call,
            muted,
            at,
        },
        Event::ParticipantLeft {
            conference,
            call,
            at,
            ..
        } => Change::ParticipantLeft {
            conference_sid: conference,
            call_sid: call,
            at,
        },
    }
}
