//! The conference hub: the one task that owns the conference rules.
//!
//! Words: a *conference* is what the rules ([`conference::Conferences`])
//! and the store know (its sid, name, status, participants); a *room* is a
//! live conference's media task (`room`), which mixes its legs.
//!
//! Every join, leave, mute, hold and kick, and the API's end of a whole
//! conference, arrives here as a command over a bounded channel, is
//! applied to the conference rules, and the events they produced are
//! written to the store in one transaction *before* the command is
//! answered. So when the API's mute returns, the store already says muted,
//! and the response it reads back tells the truth.
//!
//! One task serialises all rule changes: that is what makes "one live
//! conference per name" hold when two callers dial a new one at the same
//! moment. The rules are cheap (no audio here); the hub drives the rooms
//! after persisting each change: a created conference gets a room, a
//! joining call's leg (handed over with its join) is added to it, a start
//! ends the wait audio, a mute or a hold is applied to the mix *before* the
//! API is answered, a leaving call's leg is taken out and given back to its
//! call task with the reason, and a completed conference's room is stopped.
//! What needs a fetch (a `HoldUrl`'s music, an `AnnounceUrl`) is asked of a
//! call task (`CallNotice`), which makes it and hands it to the room
//! (`room_audio`): the hub never waits for HTTP. The
//! same events, in the same order, keep the room and participant gauges of
//! `/metrics`, the dashboard's live view (`live`), and become the
//! conferences' status callbacks (`status_callbacks`, which queues them
//! without waiting).
//!
//! The hub waits for rooms (a mute's tick, a removed leg's socket); rooms
//! never wait for the hub (they report into an unbounded channel the hub
//! reads beside its commands), so neither can wait for itself.

use std::collections::HashMap;
use std::sync::Arc;

use conference::{Conferences, Event, JoinError, JoinRequest, Joined, LeaveReason};
use model::{
    CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus, ParticipantRecord, Timestamp,
};
use store::{Change, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::live::Live;
use crate::membership::{CallNotice, LegHandover, LegUpdate, RoomReport, RoomReports};
use crate::metrics::{Metrics, RoomGauges};
use crate::mix_threads::MixThreads;
use crate::room::{self, RoomHandle};
use crate::status_callbacks::StatusCallbacks;
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

/// A call that joined with its media: where its room is.
#[derive(Debug)]
pub struct CallJoined {
    pub joined: Joined,
    /// The room's media task (for the call's wait audio).
    pub room: Option<RoomHandle>,
}

/// A join with media that did not happen: why, and the leg back.
#[derive(Debug)]
pub struct CallJoinFailed {
    pub failure: JoinFailure,
    pub leg: Option<LegHandover>,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a join carries its leg by value and is moved once through the hub's bounded \
              queue; boxing it would buy nothing"
)]
enum Command {
    #[cfg(feature = "test-util")]
    Join {
        request: JoinRequest,
        reply: Reply<Result<Joined, JoinFailure>>,
    },
    JoinCall {
        request: JoinRequest,
        leg: LegHandover,
        reply: Reply<Result<CallJoined, CallJoinFailed>>,
    },
    UpdateLeg {
        call: CallSid,
        update: LegUpdate,
    },
    Leave {
        call: CallSid,
        reason: LeaveReason,
        reply: Reply<bool>,
    },
    /// The API's command on one participant.
    Control {
        command: api::ParticipantCommand,
        reply: Reply<Result<(), api::CallControlError>>,
    },
    /// The API's command on a whole conference.
    ConferenceControl {
        command: api::ConferenceCommand,
        reply: Reply<Result<(), api::CallControlError>>,
    },
}

/// A cheap, cloneable way to send commands to the hub.
#[derive(Debug, Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Command>,
    /// The rooms' report channel, for what a call task reports the same way
    /// (a SIP INFO digit).
    reports: RoomReports,
    /// The dashboard's view of the live conferences.
    live: Arc<Live>,
}

/// Starts the hub. It runs until `stop` is cancelled (or every handle is
/// dropped), then ends every conference and persists that before returning.
pub fn spawn(
    store: Store,
    clock: Arc<dyn Clock>,
    capacity: usize,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
    mix: MixThreads,
) -> (HubHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (reports, report_rx) = mpsc::unbounded_channel();
    let live = Arc::new(Live::new());
    let handle = HubHandle {
        tx,
        reports: reports.clone(),
        live: live.clone(),
    };
    let hub = Hub {
        live,
        mix,
        conferences: Conferences::new(capacity),
        callbacks: StatusCallbacks::new(store.clone(), metrics.clone()),
        store,
        clock,
        reports,
        rooms: HashMap::new(),
        links: HashMap::new(),
        metrics,
        gauges: RoomGauges::default(),
    };
    let task = tokio::spawn(hub.run(rx, report_rx, stop));
    (handle, task)
}

impl HubHandle {
    /// Puts a caller into the live conference of that name (creating it if
    /// needed), without media: the rules and the store only, for tests.
    #[cfg(feature = "test-util")]
    pub async fn join(&self, request: JoinRequest) -> Result<Joined, JoinFailure> {
        self.ask(|reply| Command::Join { request, reply })
            .await
            .unwrap_or(Err(JoinFailure::Unavailable))
    }

    /// Puts a call into the conference of that name and its media leg into
    /// that conference's room. On success the leg is the room's until the
    /// call leaves (its notify channel then gets `CallNotice::Left` with
    /// the leg back); on failure the leg comes back with the error, when it
    /// can.
    pub async fn join_call(
        &self,
        request: JoinRequest,
        leg: LegHandover,
    ) -> Result<CallJoined, CallJoinFailed> {
        let (reply, answer) = oneshot::channel();
        let command = Command::JoinCall {
            request,
            leg,
            reply,
        };
        if let Err(mpsc::error::SendError(command)) = self.tx.send(command).await {
            let leg = match command {
                Command::JoinCall { leg, .. } => Some(leg),
                _ => None,
            };
            return Err(CallJoinFailed {
                failure: JoinFailure::Unavailable,
                leg,
            });
        }
        answer.await.unwrap_or(Err(CallJoinFailed {
            failure: JoinFailure::Unavailable,
            leg: None,
        }))
    }

    /// Tells the room of `call`'s conference that its leg went on or off
    /// hold, or moved.
    pub async fn update_leg(&self, call: CallSid, update: LegUpdate) {
        let _ = self.tx.send(Command::UpdateLeg { call, update }).await;
    }

    /// Takes a caller out of its conference; `false` if it was in none.
    pub async fn leave(&self, call: CallSid, reason: LeaveReason) -> bool {
        self.ask(|reply| Command::Leave {
            call,
            reason,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// Reports what a call saw outside its room's media (a SIP INFO
    /// digit), handled exactly like the room's own reports. Never waits.
    pub fn report(&self, report: RoomReport) {
        // Fails only when the hub is gone (shutting down).
        let _ = self.reports.send(report);
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(command(reply)).await.ok()?;
        answer.await.ok()
    }
}

impl api::LiveFeed for HubHandle {
    fn subscribe(
        &self,
        account: &model::AccountSid,
    ) -> (
        Vec<api::LiveConference>,
        tokio::sync::broadcast::Receiver<api::LiveUpdate>,
    ) {
        self.live.subscribe(account)
    }
}

impl api::CallControl for HubHandle {
    fn apply(
        &self,
        command: api::ParticipantCommand,
    ) -> api::BoxFuture<'_, Result<(), api::CallControlError>> {
        Box::pin(async move {
            self.ask(|reply| Command::Control { command, reply })
                .await
                .unwrap_or(Err(api::CallControlError::Unavailable))
        })
    }

    fn conference(
        &self,
        command: api::ConferenceCommand,
    ) -> api::BoxFuture<'_, Result<(), api::CallControlError>> {
        Box::pin(async move {
            self.ask(|reply| Command::ConferenceControl { command, reply })
                .await
                .unwrap_or(Err(api::CallControlError::Unavailable))
        })
    }
}

struct Hub {
    /// Where rooms run; ends (dropping any left) with the hub.
    mix: MixThreads,
    /// The conference rules.
    conferences: Conferences,
    /// Sends the conferences' status callbacks.
    callbacks: StatusCallbacks,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Handed to each room task: the hub reads the other end in `run`.
    reports: RoomReports,
    /// The room (media task) of every live conference.
    rooms: HashMap<ConferenceSid, RoomHandle>,
    /// What the hub remembers of each call in a conference.
    links: HashMap<CallSid, Link>,
    metrics: Arc<Metrics>,
    gauges: RoomGauges,
    /// What the dashboard shows: fed the same events as the gauges.
    live: Arc<Live>,
}

/// A call in a conference, as the hub needs it when the call leaves.
struct Link {
    /// `<Conference beep>`: on joining, and on leaving.
    beep: bool,
    beep_on_exit: bool,
    /// `<Conference hangupOnStar>`: a `*` from the call takes it out.
    hangup_on_star: bool,
    /// The call's notice channel, for what the call task makes for its
    /// room (hold music from a `HoldUrl`, an announcement).
    notify: mpsc::Sender<CallNotice>,
    /// The `HoldUrl` of the hold being applied, if it has one.
    hold_music: Option<api::Fetchable>,
    /// The slot of the call's notice channel kept for its
    /// [`CallNotice::Left`]: taken at the join, so that notice can neither
    /// be lost to a channel the room's notices filled nor make the hub wait.
    left: mpsc::OwnedPermit<CallNotice>,
}

impl Hub {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut reports: mpsc::UnboundedReceiver<RoomReport>,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                command = rx.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                // Never `None`: the hub holds a sender.
                Some(report) = reports.recv() => self.report(report).await,
            }
        }
        self.conferences.end_all(self.clock.now());
        if let Err(e) = self.persist().await {
            tracing::error!(error = %e, "could not record the conferences ended at shutdown");
        }
        // Whatever is left (nothing, normally) stops with its handles.
        self.rooms.clear();
    }

    async fn handle(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            #[cfg(feature = "test-util")]
            Command::Join { request, reply } => {
                let result = self
                    .conferences
                    .join(request, ids::conference_sid(), now)
                    .map_err(JoinFailure::from);
                let result = self
                    .persisted(result)
                    .await
                    .unwrap_or(Err(JoinFailure::Unavailable));
                let _ = reply.send(result);
            }
            Command::JoinCall {
                request,
                leg,
                reply,
            } => {
                let _ = reply.send(self.join_call(request, leg, now).await);
            }
            Command::UpdateLeg { call, update } => {
                let Some(view) = self.conferences.participant(&call) else {
                    return;
                };
                let Some(room) = self.rooms.get(&view.conference) else {
                    return;
                };
                match update {
                    LegUpdate::Hold(held) => room.set_hold(call, held).await,
                    LegUpdate::Media(media) => room.renegotiate(call, media).await,
                }
            }
            Command::Leave {
                call,
                reason,
                reply,
            } => {
                let left = self.conferences.leave(&call, reason, now).is_ok();
                let _ = reply.send(self.persisted(left).await.unwrap_or(left));
            }
            Command::Control { command, reply } => {
                let result = match command {
                    api::ParticipantCommand::SetMuted {
                        participant: p,
                        muted,
                    } => self
                        .conferences
                        .set_muted(&p.account, &p.conference, &p.call, muted, now),
                    api::ParticipantCommand::Kick { participant: p } => self
                        .conferences
                        .kick(&p.account, &p.conference, &p.call, now)
                        .map(drop),
                    api::ParticipantCommand::SetHold {
                        participant: p,
                        hold,
                        music,
                    } => {
                        let was_held = self
                            .conferences
                            .participant(&p.call)
                            .is_some_and(|v| v.hold);
                        let held = self.conferences.set_hold(
                            &p.account,
                            &p.conference,
                            &p.call,
                            hold,
                            now,
                        );
                        if held.is_ok() && was_held && hold {
                            // Still on hold: a new HoldUrl replaces the music.
                            if let Some(url) = music {
                                self.ask_call(&p.call, CallNotice::HoldMusic(url));
                            }
                        } else if held.is_ok()
                            && let Some(link) = self.links.get_mut(&p.call)
                        {
                            // Read when the hold's event is applied to the room.
                            link.hold_music = music;
                        }
                        held
                    }
                    api::ParticipantCommand::SetEndConferenceOnExit {
                        participant: p,
                        end_conference_on_exit,
                    } => self.conferences.set_end_conference_on_exit(
                        &p.account,
                        &p.conference,
                        &p.call,
                        end_conference_on_exit,
                        now,
                    ),
                    api::ParticipantCommand::Announce {
                        participant: p,
                        audio,
                    } => self
                        .conferences
                        .participant(&p.call)
                        .filter(|v| v.account == p.account && v.conference == p.conference)
                        .map(|_| {
                            self.ask_call(
                                &p.call,
                                CallNotice::Announce {
                                    audio,
                                    to_room: false,
                                },
                            )
                        })
                        .ok_or(conference::ParticipantError::NotFound),
                }
                .map_err(|_| api::CallControlError::NotFound);
                let _ = reply.send(
                    self.persisted(result)
                        .await
                        .unwrap_or(Err(api::CallControlError::Unavailable)),
                );
            }
            Command::ConferenceControl { command, reply } => {
                let result = self.conference_control(command, now);
                let _ = reply.send(
                    self.persisted(result)
                        .await
                        .unwrap_or(Err(api::CallControlError::Unavailable)),
                );
            }
        }
    }

    /// The API's command on a whole conference, applied to the rules (the
    /// caller persists and answers).
    fn conference_control(
        &mut self,
        command: api::ConferenceCommand,
        now: Timestamp,
    ) -> Result<(), api::CallControlError> {
        match command {
            api::ConferenceCommand::End {
                account,
                conference,
            } => self
                .conferences
                .end(&account, &conference, now)
                .map(drop)
                .map_err(|_| api::CallControlError::NotFound),
            api::ConferenceCommand::Announce {
                account,
                conference,
                audio,
            } => {
                // Audio is made by a call task (it has the account's token
                // to sign the fetch): the first participant's with media
                // makes it for the whole room.
                let calls = self.conferences.participants_of(&conference);
                let theirs = calls.first().is_some_and(|call| {
                    self.conferences
                        .participant(call)
                        .is_some_and(|v| v.account == account)
                });
                if !theirs {
                    return Err(api::CallControlError::NotFound);
                }
                let Some(first) = calls.into_iter().find(|c| self.links.contains_key(c)) else {
                    // Nobody in it has media: nobody to hear it.
                    return Ok(());
                };
                self.ask_call(
                    &first,
                    CallNotice::Announce {
                        audio,
                        to_room: true,
                    },
                );
                Ok(())
            }
        }
    }

    /// Asks a call's task to do something for its room; never waits. A
    /// call whose channel is full (it is not reading) misses it.
    fn ask_call(&self, call: &CallSid, notice: CallNotice) {
        if let Some(link) = self.links.get(call)
            && link.notify.try_send(notice).is_err()
        {
            tracing::warn!(call_sid = %call, "a call's notice channel is full: its room audio is lost");
        }
    }

    /// A call's join with its leg, in the order its callers rely on: the
    /// rules decide; the store is written; the rooms follow the events in
    /// order, with the joiner's leg going into its room at its own
    /// `ParticipantJoined`, so before the joiner's beep (that event's) and
    /// before a start the join caused (a later event); then the answer.
    async fn join_call(
        &mut self,
        request: JoinRequest,
        leg: LegHandover,
        now: Timestamp,
    ) -> Result<CallJoined, CallJoinFailed> {
        // Before the rules, so a refusal changes nothing. A fresh channel
        // (what a call gives) always has the slot; a full or closed one
        // could never carry the `Left`, and the call would be stranded.
        let left = match leg.notify.clone().try_reserve_owned() {
            Ok(left) => left,
            Err(_) => {
                tracing::warn!(call_sid = %request.call, "a join's notice channel is full or closed");
                return Err(CallJoinFailed {
                    failure: JoinFailure::Unavailable,
                    leg: Some(leg),
                });
            }
        };
        let claimed = match self.claim(&request).await {
            Ok(claimed) => claimed,
            Err(failure) => {
                return Err(CallJoinFailed {
                    failure,
                    leg: Some(leg),
                });
            }
        };
        let call = request.call.clone();
        let (beep, beep_on_exit) = (request.options.beep, request.options.beep_on_exit);
        let hangup_on_star = leg.hangup_on_star;
        let notify = leg.notify.clone();
        let (account, name) = (request.account.clone(), request.name.clone());
        let joined = match self.conferences.join(request, ids::conference_sid(), now) {
            Ok(joined) => joined,
            Err(e) => {
                if claimed {
                    // No conference came of the claim.
                    if let Err(e) = self.store.release_room(&account, name.trim()).await {
                        tracing::warn!(error = %e, "could not release a room's claim");
                    }
                }
                return Err(CallJoinFailed {
                    failure: e.into(),
                    leg: Some(leg),
                });
            }
        };
        self.links.insert(
            call.clone(),
            Link {
                beep,
                beep_on_exit,
                hangup_on_star,
                notify,
                hold_music: None,
                left,
            },
        );
        let stored = self.persist_joining(Some((call, leg))).await;
        match stored {
            Ok(()) => Ok(CallJoined {
                room: self.rooms.get(&joined.conference).cloned(),
                joined,
            }),
            Err(e) => {
                tracing::error!(error = %e, "could not persist a join");
                // The rules and the room have the call either way; its
                // `Left` comes when it leaves.
                Err(CallJoinFailed {
                    failure: JoinFailure::Unavailable,
                    leg: None,
                })
            }
        }
    }

    /// With several nodes (`cluster`): claims the room a join would create
    /// for this node, before the rules create its conference. `Ok(true)` if
    /// this join made the claim; refused if another node runs the room (a
    /// caller is redirected there before it is answered, so only a race
    /// or a call answered before its `<Dial>` gets here).
    async fn claim(&self, request: &JoinRequest) -> Result<bool, JoinFailure> {
        let Some(node) = self.store.node() else {
            return Ok(false);
        };
        if self
            .conferences
            .live_conference(&request.account, &request.name)
            .is_some()
        {
            return Ok(false);
        }
        match self
            .store
            .claim_room(&request.account, request.name.trim())
            .await
        {
            Ok(owner) if owner.node_id == node => Ok(true),
            Ok(owner) => {
                tracing::warn!(
                    call_sid = %request.call,
                    node = owner.node_id,
                    "the room runs on another node: this call cannot join it here"
                );
                Err(JoinFailure::Unavailable)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not claim a room");
                Err(JoinFailure::Unavailable)
            }
        }
    }

    /// What a room reported, applied like the matching command.
    async fn report(&mut self, report: RoomReport) {
        match report {
            RoomReport::Digit {
                conference,
                call,
                digit,
            } => {
                // A report that crossed the call's leave (and maybe a join
                // elsewhere) is stale: only the room the call is in counts.
                let here = self
                    .conferences
                    .participant(&call)
                    .is_some_and(|view| view.conference == conference);
                let hangs_up = digit.as_char() == '*'
                    && self.links.get(&call).is_some_and(|l| l.hangup_on_star);
                let now = self.clock.now();
                if !here
                    || !hangs_up
                    || self
                        .conferences
                        .leave(&call, LeaveReason::HangupOnStar, now)
                        .is_err()
                {
                    return;
                }
                // Nobody waits for the answer; a refusal is logged there.
                let _ = self.persisted(()).await;
            }
            RoomReport::AnnouncementEnded { conference, call } => {
                let now = self.clock.now();
                self.callbacks
                    .announcement_ended(&conference, call.as_ref(), now);
            }
            RoomReport::Speaking {
                conference,
                call,
                speaking,
            } => {
                let now = self.clock.now();
                self.live.speaking(&conference, &call, speaking);
                self.callbacks.speaking(&conference, &call, speaking, now);
            }
        }
    }

    /// Writes what the last command changed, then hands back its result;
    /// `None` if the store refused (the caller answers "unavailable").
    async fn persisted<T>(&mut self, result: T) -> Option<T> {
        match self.persist().await {
            Ok(()) => Some(result),
            Err(e) => {
                tracing::error!(error = %e, "could not persist a conference change");
                None
            }
        }
    }

    /// Writes what the rules did, then makes the media follow. The media
    /// follows even if the store refused: the rules have changed either way,
    /// and what callers hear must agree with the rules.
    async fn persist(&mut self) -> Result<(), store::StoreError> {
        self.persist_joining(None).await
    }

    /// [`Hub::persist`], with a joiner's leg: it goes into its room at the
    /// joiner's own `ParticipantJoined`, so before that event's beep and
    /// before a start the join caused (a later event). A leg with no room to
    /// go to (none, normally) is dropped.
    async fn persist_joining(
        &mut self,
        mut joining: Option<(CallSid, LegHandover)>,
    ) -> Result<(), store::StoreError> {
        let events = self.take_events();
        let stored = self.record(&events).await;
        self.callbacks.persisted(&events, &self.conferences);
        for event in events {
            if let Event::ParticipantJoined {
                conference,
                call,
                muted,
                coach,
                ..
            } = &event
                && let Some((_, leg)) = joining.take_if(|(joiner, _)| joiner == call)
                && let Some(room) = self.rooms.get(conference)
            {
                room.add_leg(call.clone(), leg, *muted).await;
                if let Some(coached) = coach {
                    room.set_coaching(call.clone(), coached.clone()).await;
                }
            }
            self.follow(event).await;
        }
        stored
    }

    /// What the rules did since the last call.
    fn take_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conferences.poll_event()).collect()
    }

    /// Writes `events` to the store in one transaction.
    async fn record(&self, events: &[Event]) -> Result<(), store::StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let changes: Vec<Change> = events.iter().cloned().flat_map(to_changes).collect();
        self.store.apply(&changes).await
    }

    /// One rules event, counted in the gauges and applied to the rooms.
    async fn follow(&mut self, event: Event) {
        self.gauges.observe(&self.metrics, &event);
        self.live.observe(&event);
        self.drive(event).await;
    }

    /// One rules event, applied to the rooms.
    async fn drive(&mut self, event: Event) {
        match event {
            Event::ConferenceCreated { sid, .. } => {
                let handle = room::spawn(
                    &sid,
                    self.reports.clone(),
                    self.metrics.clone(),
                    self.live.clone(),
                    &self.mix,
                );
                self.rooms.insert(sid, handle);
            }
            Event::ParticipantJoined {
                conference, call, ..
            } => {
                let Some(room) = self.rooms.get(&conference) else {
                    return;
                };
                // A joiner's leg is already in (see `join_call`).
                if self.links.get(&call).is_some_and(|l| l.beep) {
                    room.beep(media::Beep::Join).await;
                }
            }
            Event::StatusChanged {
                sid,
                status: ConferenceStatus::InProgress,
                ..
            } => {
                // The joiner's beep (if any) is already queued: it marks the start.
                if let Some(room) = self.rooms.get(&sid) {
                    room.set_waiting(false).await;
                }
            }
            Event::StatusChanged {
                sid,
                status: ConferenceStatus::Completed,
                ..
            } => {
                // Dropping the last handle stops the room's task.
                self.rooms.remove(&sid);
            }
            Event::StatusChanged { .. } => {}
            Event::ParticipantMuted {
                conference,
                call,
                muted,
                ..
            } => {
                if let Some(room) = self.rooms.get(&conference) {
                    room.set_muted(call, muted).await;
                }
            }
            Event::ParticipantHold {
                conference,
                call,
                hold,
                ..
            } => self.hold(&conference, call, hold).await,
            Event::ParticipantEndOnExit { .. } => {}
            Event::ParticipantLeft {
                conference,
                call,
                reason,
                ..
            } => {
                let room = self.rooms.get(&conference);
                let leg = match room {
                    Some(room) => room.remove_leg(call.clone()).await,
                    None => None,
                };
                let link = self.links.remove(&call);
                if let (Some(room), Some(true)) = (room, link.as_ref().map(|l| l.beep_on_exit)) {
                    room.beep(media::Beep::Leave).await;
                }
                if let Some(link) = link {
                    // Into the reserved slot: never full, never waits.
                    link.left.send(CallNotice::Left { reason, leg });
                }
            }
        }
    }
}

impl Hub {
    /// A hold or unhold, applied to the room: on hold, the leg hears
    /// confab's hold music, or silence until the call task has made its
    /// `HoldUrl`'s audio (then the room plays that). Returns once a tick
    /// has mixed with the new state.
    async fn hold(&mut self, conference: &ConferenceSid, call: CallSid, hold: bool) {
        let Some(room) = self.rooms.get(conference) else {
            return;
        };
        let url = self
            .links
            .get_mut(&call)
            .and_then(|l| l.hold_music.take())
            .filter(|_| hold);
        let music: Option<Box<dyn media::AudioSource + Send>> = match (&url, hold) {
            (_, false) => None,
            (None, true) => Some(Box::new(media::hold_music::HoldMusic::new())),
            (Some(_), true) => Some(Box::new(media::Silence::forever())),
        };
        room.set_on_hold(call.clone(), music).await;
        if let Some(url) = url {
            self.ask_call(&call, CallNotice::HoldMusic(url));
        }
    }
}

/// A conference event in the store's vocabulary: one change, or two for a
/// completion with its reason.
fn to_changes(event: Event) -> Vec<Change> {
    match event {
        Event::StatusChanged {
            sid,
            status,
            reason: Some(reason),
            ending_call,
            at,
        } => vec![
            Change::ConferenceEnding {
                sid: sid.clone(),
                reason,
                call_sid_ending: ending_call,
                at,
            },
            Change::ConferenceStatus { sid, status, at },
        ],
        event => vec![to_change(event)],
    }
}

/// A conference event in the store's vocabulary.
fn to_change(event: Event) -> Change {
    match event {
        Event::ConferenceCreated {
            sid,
            account,
            friendly_name,
            at,
        } => Change::ConferenceCreated(ConferenceRecord {
            reason_ended: None,
            call_sid_ending: None,
            sid,
            account_sid: account,
            friendly_name,
            status: ConferenceStatus::Init,
            date_created: at,
            date_updated: at,
        }),
        Event::StatusChanged {
            sid, status, at, ..
        } => Change::ConferenceStatus { sid, status, at },
        Event::ParticipantJoined {
            conference,
            account,
            call,
            muted,
            start_conference_on_enter,
            end_conference_on_exit,
            label,
            coach,
            at,
        } => Change::ParticipantJoined(ParticipantRecord {
            hold: false,
            label,
            call_sid_to_coach: coach,
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
        Event::ParticipantHold {
            conference,
            call,
            hold,
            at,
        } => Change::ParticipantHold {
            conference_sid: conference,
            call_sid: call,
            hold,
            at,
        },
        Event::ParticipantEndOnExit {
            conference,
            call,
            end_conference_on_exit,
            at,
        } => Change::ParticipantEndOnExit {
            conference_sid: conference,
            call_sid: call,
            end_conference_on_exit,
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

#[cfg(test)]
mod tests {
    use conference::ParticipantOptions;
    use media::{JitterConfig, LegConfig, RtpTimestamp, SeqNo, Ssrc};
    use model::AccountSid;
    use tokio::net::UdpSocket;

    use super::*;
    use crate::SystemClock;

    /// A fresh SQLite store with one account.
    async fn store() -> (Store, AccountSid, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("confab.db").display());
        let store = Store::connect(&url).await.expect("store");
        let account = crate::accounts::create(&store, "hub", SystemClock.now())
            .await
            .expect("account");
        (store, account.sid, dir)
    }

    /// A hub task on a fresh store.
    async fn hub() -> (HubHandle, AccountSid, tempfile::TempDir) {
        let (store, account, dir) = store().await;
        let metrics = Arc::new(Metrics::new());
        let mix = MixThreads::new(1, &metrics);
        let (hub, _task) = spawn(
            store,
            Arc::new(SystemClock),
            40,
            CancellationToken::new(),
            metrics,
            mix,
        );
        (hub, account, dir)
    }

    async fn leg(notify: mpsc::Sender<CallNotice>) -> LegHandover {
        LegHandover {
            socket: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            config: LegConfig {
                codec: media::Codec::Pcmu,
                payload_type: 0,
                telephone_event_pt: None,
                ssrc: Ssrc(1),
                initial_seq: SeqNo(1),
                initial_ts: RtpTimestamp(1),
                remote: None,
                jitter: JitterConfig::default(),
            },
            wait: None,
            hangup_on_star: false,
            held: false,
            activity: crate::rtp_activity::RtpActivity::new(std::time::Instant::now()),
            rtcp_mux: false,
            rtcp: None,
            notify,
        }
    }

    /// The hub itself on a fresh store, driven by the test without its
    /// task (the test sends its rooms' reports itself).
    async fn bare_hub() -> (Hub, AccountSid, tempfile::TempDir) {
        let (store, account, dir) = store().await;
        let (reports, _) = mpsc::unbounded_channel();
        let metrics = Arc::new(Metrics::new());
        let hub = Hub {
            mix: MixThreads::new(1, &metrics),
            conferences: Conferences::new(40),
            callbacks: StatusCallbacks::new(store.clone(), Arc::new(Metrics::new())),
            store,
            clock: Arc::new(SystemClock),
            reports,
            rooms: HashMap::new(),
            links: HashMap::new(),
            metrics,
            gauges: RoomGauges::default(),
            live: Arc::new(Live::new()),
        };
        (hub, account, dir)
    }

    fn request(account: &AccountSid, call: &CallSid) -> JoinRequest {
        JoinRequest {
            label: None,
            coach: None,
            status_callback: None,
            account: account.clone(),
            name: "room".into(),
            call: call.clone(),
            options: ParticipantOptions::default(),
        }
    }

    #[tokio::test]
    async fn a_left_is_delivered_when_the_room_filled_the_notice_channel() {
        let (hub, account, _dir) = hub().await;
        let call = ids::call_sid();
        let (notify, mut notices) = mpsc::channel(2);
        let joined = hub
            .join_call(request(&account, &call), leg(notify.clone()).await)
            .await
            .expect("joined");
        assert!(joined.room.is_some());
        // What the room may send fills every slot but the one kept for `Left`.
        notify.try_send(CallNotice::WaitEnded).expect("a free slot");
        assert!(notify.try_send(CallNotice::WaitEnded).is_err());

        assert!(hub.leave(call, LeaveReason::Hangup).await);
        // The hub sent before answering; a lost `Left` would never come.
        assert!(matches!(notices.try_recv(), Ok(CallNotice::WaitEnded)));
        match notices.try_recv().ok() {
            Some(CallNotice::Left {
                reason: LeaveReason::Hangup,
                leg: Some(_),
            }) => {}
            other => panic!("expected the Left with the leg back, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_join_whose_notice_channel_is_full_is_refused_with_its_leg() {
        let (hub, account, _dir) = hub().await;
        let call = ids::call_sid();
        let (notify, _notices) = mpsc::channel(1);
        notify.try_send(CallNotice::Started).expect("a free slot");
        let failed = hub
            .join_call(request(&account, &call), leg(notify).await)
            .await
            .expect_err("refused");
        assert_eq!(failed.failure, JoinFailure::Unavailable);
        assert!(failed.leg.is_some());
        // Nothing changed: the call is in no conference.
        assert!(!hub.leave(call, LeaveReason::Hangup).await);
    }

    /// A digit report from the call's room.
    fn digit(conference: &ConferenceSid, call: &CallSid, key: u8) -> RoomReport {
        RoomReport::Digit {
            conference: conference.clone(),
            call: call.clone(),
            digit: media::Digit::from_event(key).expect("a key"),
        }
    }

    /// `*` is RFC 4733 event 10.
    const STAR: u8 = 10;

    #[tokio::test]
    async fn a_star_takes_the_call_out_of_the_conference_it_was_pressed_in_only() {
        let (mut hub, account, _dir) = bare_hub().await;
        let call = ids::call_sid();
        let (notify, mut notices) = mpsc::channel(16);
        let mut handover = leg(notify).await;
        handover.hangup_on_star = true;
        let joined = hub
            .join_call(request(&account, &call), handover, hub.clock.now())
            .await
            .expect("joined");
        let here = joined.joined.conference;

        // A report from another room (one the call left) changes nothing,
        // nor does another key.
        hub.report(digit(&ids::conference_sid(), &call, STAR)).await;
        hub.report(digit(&here, &call, 11)).await;
        assert!(hub.conferences.participant(&call).is_some());
        assert!(notices.try_recv().is_err());

        hub.report(digit(&here, &call, STAR)).await;
        assert!(hub.conferences.participant(&call).is_none());
        assert!(matches!(
            notices.try_recv(),
            Ok(CallNotice::Left {
                reason: LeaveReason::HangupOnStar,
                leg: Some(_),
            })
        ));
    }

    #[tokio::test]
    async fn a_star_without_hangup_on_star_changes_nothing() {
        let (mut hub, account, _dir) = bare_hub().await;
        let call = ids::call_sid();
        let (notify, mut notices) = mpsc::channel(16);
        let joined = hub
            .join_call(request(&account, &call), leg(notify).await, hub.clock.now())
            .await
            .expect("joined");

        hub.report(digit(&joined.joined.conference, &call, STAR))
            .await;
        assert!(hub.conferences.participant(&call).is_some());
        assert!(notices.try_recv().is_err());
    }

    /// The phone's end of a leg: sends `hz` as 20 ms PCMU packets to the
    /// leg's socket (pacing, not waiting), and hears what the room sends.
    struct Peer {
        socket: Arc<UdpSocket>,
        sender: tokio::task::JoinHandle<()>,
    }

    impl Peer {
        async fn new(leg: &LegHandover, hz: f64) -> Self {
            let to = leg.socket.local_addr().expect("bound");
            let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
            let out = socket.clone();
            let sender = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(media::TICK);
                for n in 0u32.. {
                    ticks.tick().await;
                    let samples: Vec<i16> = (0..160)
                        .map(|i| {
                            let t = f64::from(n * 160 + i) / 8000.0;
                            (6000.0 * (std::f64::consts::TAU * hz * t).sin()) as i16
                        })
                        .collect();
                    let mut packet = Vec::new();
                    media::rtp::RtpHeader {
                        marker: n == 0,
                        payload_type: 0,
                        seq: SeqNo(n as u16),
                        timestamp: RtpTimestamp(n * 160),
                        ssrc: Ssrc(0x1000 + hz as u32),
                    }
                    .write(&mut packet);
                    media::Codec::Pcmu.encode_into(&samples, &mut packet);
                    let _ = out.send_to(&packet, to).await;
                }
            });
            Self { socket, sender }
        }

        /// The next `ms` of audio the room sends, after skipping `skip_ms`
        /// (the jitter buffers filling, the first mixes).
        async fn hear(&self, skip_ms: usize, ms: usize) -> Vec<i16> {
            let mut heard = Vec::new();
            let mut buf = [0u8; 2048];
            while heard.len() < (skip_ms + ms) * 8 {
                let received = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    self.socket.recv_from(&mut buf),
                )
                .await;
                let Ok(Ok((n, _))) = received else {
                    panic!("the room sent nothing for 5 s");
                };
                let packet = media::rtp::RtpPacket::parse(&buf[..n]).expect("RTP");
                heard.extend(packet.payload.iter().map(|&b| media::Codec::Pcmu.decode(b)));
            }
            heard.split_off(skip_ms * 8)
        }
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            self.sender.abort();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_coach_joined_with_its_call_is_heard_by_that_call_only_and_hears_everyone() {
        let (hub, account, _dir) = hub().await;
        let quiet = ParticipantOptions {
            beep: false,
            ..ParticipantOptions::default()
        };
        let (customer, other, coach) = (ids::call_sid(), ids::call_sid(), ids::call_sid());
        let mut peers = Vec::new();
        let mut notices = Vec::new();
        for (call, hz, coaching) in [
            (&customer, 400.0, None),
            (&other, 700.0, None),
            (&coach, 1100.0, Some(customer.clone())),
        ] {
            let (notify, rx) = mpsc::channel(16);
            notices.push(rx);
            let leg = leg(notify).await;
            peers.push(Peer::new(&leg, hz).await);
            let request = JoinRequest {
                coach: coaching,
                options: quiet,
                ..request(&account, call)
            };
            hub.join_call(request, leg).await.expect("joined");
        }
        let [customer_hears, other_hears, coach_hears] = [
            peers[0].hear(400, 600).await,
            peers[1].hear(400, 600).await,
            peers[2].hear(400, 600).await,
        ];
        let share = |heard: &[i16], hz| media::tone_fraction(heard, hz);
        assert!(
            share(&customer_hears, 700.0) > 0.3 && share(&customer_hears, 1100.0) > 0.3,
            "the coached call hears the other and its coach"
        );
        assert!(
            share(&other_hears, 400.0) > 0.8 && share(&other_hears, 1100.0) < 0.02,
            "the other hears the customer, not the coach"
        );
        assert!(
            share(&coach_hears, 400.0) > 0.3 && share(&coach_hears, 700.0) > 0.3,
            "the coach hears everyone"
        );
        for call in [customer, other, coach] {
            hub.leave(call, LeaveReason::Hangup).await;
        }
    }
}
