//! One live conference: its participants and its status.
//!
//! A `Conference` knows the life rules but not the directory of names; it writes
//! what happens into the event queue it is handed. Its clock only moves
//! forward: every input's `now` is raised to the last time it saw.

use std::collections::VecDeque;

use model::{
    AccountSid, CallSid, ConferenceEndReason, ConferenceSid, ConferenceStatus, StatusCallback,
    Timestamp,
};

use crate::{Event, LeaveReason};

/// The `<Conference>` attributes that shape one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantOptions {
    /// Joins muted: can only listen.
    pub muted: bool,
    /// Beeps when joining (played by the media layer to the room).
    pub beep: bool,
    /// Starts the conference on entering, if it has not started.
    pub start_conference_on_enter: bool,
    /// Ends the conference for everyone on leaving.
    pub end_conference_on_exit: bool,
    /// The conference's capacity, honoured when this participant creates the conference.
    pub max_participants: Option<u32>,
    /// Beeps when leaving. With [`beep`](Self::beep) this is `<Conference
    /// beep>`: `true` both, `false` neither, `onEnter` or `onExit` one.
    pub beep_on_exit: bool,
}

impl Default for ParticipantOptions {
    /// The 2008 defaults: not muted, beep, start on enter, don't end on exit.
    fn default() -> Self {
        Self {
            muted: false,
            beep: true,
            start_conference_on_enter: true,
            end_conference_on_exit: false,
            max_participants: None,
            beep_on_exit: true,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Participant {
    pub(crate) call: CallSid,
    pub(crate) options: ParticipantOptions,
    pub(crate) muted: bool,
    /// On hold: out of the mix both ways.
    pub(crate) hold: bool,
    pub(crate) label: Option<String>,
    /// The call it coaches.
    pub(crate) coach: Option<CallSid>,
    pub(crate) status_callback: Option<StatusCallback>,
    pub(crate) joined_at: Timestamp,
}

/// Who a new participant is, beside its options.
#[derive(Debug, Clone)]
pub(crate) struct Joiner {
    pub(crate) call: CallSid,
    pub(crate) options: ParticipantOptions,
    pub(crate) label: Option<String>,
    pub(crate) coach: Option<CallSid>,
    pub(crate) status_callback: Option<StatusCallback>,
}

/// Why a conference completes, and whose leaving made it.
type Ending = (Option<ConferenceEndReason>, Option<CallSid>);

#[derive(Debug)]
pub(crate) struct Conference {
    pub(crate) sid: ConferenceSid,
    pub(crate) account: AccountSid,
    pub(crate) name: String,
    pub(crate) status: ConferenceStatus,
    pub(crate) capacity: usize,
    /// In join order.
    pub(crate) participants: Vec<Participant>,
    /// The latest time this conference has seen; events never carry an earlier one.
    clock: Timestamp,
}

impl Conference {
    /// A new, empty, init conference. Emits `ConferenceCreated`.
    pub(crate) fn create(
        sid: ConferenceSid,
        account: AccountSid,
        name: String,
        capacity: usize,
        now: Timestamp,
        events: &mut VecDeque<Event>,
    ) -> Self {
        events.push_back(Event::ConferenceCreated {
            sid: sid.clone(),
            account: account.clone(),
            friendly_name: name.clone(),
            at: now,
        });
        Self {
            sid,
            account,
            name,
            status: ConferenceStatus::Init,
            capacity: capacity.max(1),
            participants: Vec::new(),
            clock: now,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.participants.len() >= self.capacity
    }

    pub(crate) fn position(&self, call: &CallSid) -> Option<usize> {
        self.participants.iter().position(|p| &p.call == call)
    }

    /// Whether a participant here has this label.
    pub(crate) fn has_label(&self, label: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.label.as_deref() == Some(label))
    }

    fn tick(&mut self, now: Timestamp) -> Timestamp {
        self.clock = self.clock.max(now);
        self.clock
    }

    /// Adds a caller (the caller checked capacity) and starts the conference if
    /// the start rule now holds.
    pub(crate) fn join(&mut self, joiner: Joiner, now: Timestamp, events: &mut VecDeque<Event>) {
        let at = self.tick(now);
        let Joiner {
            call,
            options,
            label,
            coach,
            status_callback,
        } = joiner;
        events.push_back(Event::ParticipantJoined {
            conference: self.sid.clone(),
            account: self.account.clone(),
            call: call.clone(),
            muted: options.muted,
            start_conference_on_enter: options.start_conference_on_enter,
            end_conference_on_exit: options.end_conference_on_exit,
            label: label.clone(),
            coach: coach.clone(),
            at,
        });
        self.participants.push(Participant {
            call,
            options,
            muted: options.muted,
            hold: false,
            label,
            coach,
            status_callback,
            joined_at: at,
        });

        let someone_starts = self
            .participants
            .iter()
            .any(|p| p.options.start_conference_on_enter);
        if self.status == ConferenceStatus::Init && self.participants.len() >= 2 && someone_starts {
            self.set_status(ConferenceStatus::InProgress, (None, None), at, events);
        }
    }

    /// Sets a participant's mute flag; emits an event only if it changed.
    pub(crate) fn set_muted(
        &mut self,
        index: usize,
        muted: bool,
        now: Timestamp,
        events: &mut VecDeque<Event>,
    ) {
        let at = self.tick(now);
        let Some(p) = self.participants.get_mut(index) else {
            return;
        };
        if p.muted == muted {
            return;
        }
        p.muted = muted;
        events.push_back(Event::ParticipantMuted {
            conference: self.sid.clone(),
            call: p.call.clone(),
            muted,
            at,
        });
    }

    /// Puts a participant on hold or takes it off; emits an event only if
    /// it changed.
    pub(crate) fn set_hold(
        &mut self,
        index: usize,
        hold: bool,
        now: Timestamp,
        events: &mut VecDeque<Event>,
    ) {
        let at = self.tick(now);
        let Some(p) = self.participants.get_mut(index) else {
            return;
        };
        if p.hold == hold {
            return;
        }
        p.hold = hold;
        events.push_back(Event::ParticipantHold {
            conference: self.sid.clone(),
            call: p.call.clone(),
            hold,
            at,
        });
    }

    /// Sets whether a participant's leaving ends the conference; emits an
    /// event only if it changed.
    pub(crate) fn set_end_conference_on_exit(
        &mut self,
        index: usize,
        end_conference_on_exit: bool,
        now: Timestamp,
        events: &mut VecDeque<Event>,
    ) {
        let at = self.tick(now);
        let Some(p) = self.participants.get_mut(index) else {
            return;
        };
        if p.options.end_conference_on_exit == end_conference_on_exit {
            return;
        }
        p.options.end_conference_on_exit = end_conference_on_exit;
        events.push_back(Event::ParticipantEndOnExit {
            conference: self.sid.clone(),
            call: p.call.clone(),
            end_conference_on_exit,
            at,
        });
    }

    /// Removes the participant at `index`. Returns the calls that were
    /// dropped along with it because the conference ended (empty if it did not).
    /// After this, if the conference is completed, it has no participants.
    pub(crate) fn leave(
        &mut self,
        index: usize,
        reason: LeaveReason,
        now: Timestamp,
        events: &mut VecDeque<Event>,
    ) -> Vec<CallSid> {
        let at = self.tick(now);
        if index >= self.participants.len() {
            return Vec::new();
        }
        let leaver = self.participants.remove(index);
        self.emit_left(leaver.call.clone(), reason, at, events);

        let kicked = reason == LeaveReason::Kicked;
        if leaver.options.end_conference_on_exit {
            let why = if kicked {
                ConferenceEndReason::EndConferenceOnExitKicked
            } else {
                ConferenceEndReason::EndConferenceOnExitLeft
            };
            self.end(
                LeaveReason::ConferenceEnded,
                (Some(why), Some(leaver.call)),
                at,
                events,
            )
        } else if self.participants.is_empty() {
            let why = if kicked {
                ConferenceEndReason::LastParticipantKicked
            } else {
                ConferenceEndReason::LastParticipantLeft
            };
            self.set_status(
                ConferenceStatus::Completed,
                (Some(why), Some(leaver.call)),
                at,
                events,
            );
            Vec::new()
        } else {
            Vec::new()
        }
    }

    /// Drops everyone still here with `reason` and completes the conference
    /// for the `ending` given.
    pub(crate) fn end(
        &mut self,
        reason: LeaveReason,
        ending: Ending,
        now: Timestamp,
        events: &mut VecDeque<Event>,
    ) -> Vec<CallSid> {
        let at = self.tick(now);
        let dropped: Vec<CallSid> = self.participants.drain(..).map(|p| p.call).collect();
        for call in &dropped {
            self.emit_left(call.clone(), reason, at, events);
        }
        self.set_status(ConferenceStatus::Completed, ending, at, events);
        dropped
    }

    fn emit_left(
        &self,
        call: CallSid,
        reason: LeaveReason,
        at: Timestamp,
        events: &mut VecDeque<Event>,
    ) {
        events.push_back(Event::ParticipantLeft {
            conference: self.sid.clone(),
            call,
            reason,
            at,
        });
    }

    /// Moves the status forward; never backwards, never to the same value.
    fn set_status(
        &mut self,
        status: ConferenceStatus,
        (reason, ending_call): Ending,
        at: Timestamp,
        events: &mut VecDeque<Event>,
    ) {
        if status <= self.status {
            return;
        }
        self.status = status;
        events.push_back(Event::StatusChanged {
            sid: self.sid.clone(),
            status,
            reason,
            ending_call,
            at,
        });
    }
}
