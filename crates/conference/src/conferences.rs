//! The directory of live conferences, and the public face of the conference rules.
//!
//! Names are scoped to an account: `(account, trimmed name)` maps to at most
//! one live conference. Because one `Conferences` value is the only authority for
//! that map, two callers who dial the same new name "at once" are simply two
//! joins in sequence: the first creates the conference, the second finds it.

use std::collections::{HashMap, VecDeque};

use model::{
    AccountSid, CallSid, ConferenceEndReason, ConferenceSid, ConferenceStatus, StatusCallback,
    Timestamp,
};

use crate::conference::{Conference, Joiner, ParticipantOptions};
use crate::{Event, LeaveReason};

/// A caller asking to join the conference `name` of `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub account: AccountSid,
    /// The `<Conference>` text; surrounding whitespace is trimmed.
    pub name: String,
    pub call: CallSid,
    pub options: ParticipantOptions,
    /// The participant's label (`participantLabel`, or `Label` when the API
    /// dials out): unique among the conference's participants.
    pub label: Option<String>,
    /// The call this participant coaches (`coach`, `CallSidToCoach`).
    pub coach: Option<CallSid>,
    /// `<Conference statusCallback…>` (or the API's
    /// `ConferenceStatusCallback…`): where this participant's conference
    /// events are reported.
    pub status_callback: Option<StatusCallback>,
}

/// Where a join landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub conference: ConferenceSid,
    /// The conference's status right after the join.
    pub status: ConferenceStatus,
    /// Whether this join created the conference.
    pub created: bool,
}

/// Why a caller could not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the conference name is empty")]
    EmptyName,
    /// The conference is at capacity: the caller's `<Dial>` ends with `failed`.
    #[error("the conference is full")]
    Full,
    #[error("the call is already in a conference")]
    AlreadyJoined,
    /// A participant of the conference already has the joiner's label.
    #[error("the label is taken in the conference")]
    LabelInUse,
    /// The call to coach is not a participant of the conference.
    #[error("the call to coach is not in the conference")]
    NoCallToCoach,
    /// The fresh sid handed in names a conference that exists (a broken random source).
    #[error("the new conference sid is already in use")]
    SidInUse,
}

/// Why a leave, kick or mute could not be applied to a participant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantError {
    /// The call is not in that conference of that account right now.
    #[error("no such participant")]
    NotFound,
}

/// A participant as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    pub conference: ConferenceSid,
    pub account: AccountSid,
    pub call: CallSid,
    pub muted: bool,
    pub hold: bool,
    pub label: Option<String>,
    /// The call it coaches.
    pub coach: Option<CallSid>,
    pub status_callback: Option<StatusCallback>,
    pub options: ParticipantOptions,
    pub joined_at: Timestamp,
}

/// Every live conference of one server.
#[derive(Debug)]
pub struct Conferences {
    default_capacity: usize,
    conferences: HashMap<ConferenceSid, Conference>,
    live_by_name: HashMap<(AccountSid, String), ConferenceSid>,
    conference_of_call: HashMap<CallSid, ConferenceSid>,
    events: VecDeque<Event>,
}

impl Conferences {
    /// `default_capacity` applies to conferences whose creator gave no `maxParticipants`.
    pub fn new(default_capacity: usize) -> Self {
        Self {
            default_capacity,
            conferences: HashMap::new(),
            live_by_name: HashMap::new(),
            conference_of_call: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Puts a caller into the live conference of that name, creating it (with
    /// `new_sid`) if there is none.
    pub fn join(
        &mut self,
        request: JoinRequest,
        new_sid: ConferenceSid,
        now: Timestamp,
    ) -> Result<Joined, JoinError> {
        let JoinRequest {
            account,
            name,
            call,
            options,
            label,
            coach,
            status_callback,
        } = request;
        let name = name.trim();
        if name.is_empty() {
            return Err(JoinError::EmptyName);
        }
        if self.conference_of_call.contains_key(&call) {
            return Err(JoinError::AlreadyJoined);
        }
        let key = (account, name.to_owned());
        let existing = self.live_by_name.get(&key).cloned();
        let (sid, created) = match existing {
            Some(sid) => {
                let full = self.conferences.get(&sid).is_none_or(Conference::is_full);
                if full {
                    return Err(JoinError::Full);
                }
                let conf = self.conferences.get(&sid);
                if let Some(label) = &label
                    && conf.is_some_and(|c| c.has_label(label))
                {
                    return Err(JoinError::LabelInUse);
                }
                if let Some(coached) = &coach
                    && conf.and_then(|c| c.position(coached)).is_none()
                {
                    return Err(JoinError::NoCallToCoach);
                }
                (sid, false)
            }
            // Nobody to coach in a conference that does not exist yet.
            None if coach.is_some() => return Err(JoinError::NoCallToCoach),
            None => {
                if self.conferences.contains_key(&new_sid) {
                    return Err(JoinError::SidInUse);
                }
                let capacity = options
                    .max_participants
                    .and_then(|m| usize::try_from(m).ok())
                    .unwrap_or(self.default_capacity);
                let conf = Conference::create(
                    new_sid.clone(),
                    key.0.clone(),
                    key.1.clone(),
                    capacity,
                    now,
                    &mut self.events,
                );
                self.conferences.insert(new_sid.clone(), conf);
                self.live_by_name.insert(key, new_sid.clone());
                (new_sid, true)
            }
        };
        let Some(conf) = self.conferences.get_mut(&sid) else {
            return Err(JoinError::Full);
        };
        let joiner = Joiner {
            call: call.clone(),
            options,
            label,
            coach,
            status_callback,
        };
        conf.join(joiner, now, &mut self.events);
        self.conference_of_call.insert(call, sid.clone());
        Ok(Joined {
            conference: sid,
            status: conf.status,
            created,
        })
    }

    /// A caller leaves its conference (hang-up, `*`, time limit...). Returns the
    /// calls dropped with it because the conference ended.
    pub fn leave(
        &mut self,
        call: &CallSid,
        reason: LeaveReason,
        now: Timestamp,
    ) -> Result<Vec<CallSid>, ParticipantError> {
        let sid = self
            .conference_of_call
            .get(call)
            .cloned()
            .ok_or(ParticipantError::NotFound)?;
        self.remove(&sid, call, reason, now)
    }

    /// The API's kick: like `leave`, but only if the call is in that
    /// conference of that account.
    pub fn kick(
        &mut self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
        now: Timestamp,
    ) -> Result<Vec<CallSid>, ParticipantError> {
        self.check(account, conference, call)?;
        self.remove(conference, call, LeaveReason::Kicked, now)
    }

    /// The API's mute and unmute. Setting the flag it already has changes nothing.
    pub fn set_muted(
        &mut self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
        muted: bool,
        now: Timestamp,
    ) -> Result<(), ParticipantError> {
        let index = self.check(account, conference, call)?;
        let conf = self
            .conferences
            .get_mut(conference)
            .ok_or(ParticipantError::NotFound)?;
        conf.set_muted(index, muted, now, &mut self.events);
        Ok(())
    }

    /// The API's hold and unhold. Setting the flag it already has changes nothing.
    pub fn set_hold(
        &mut self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
        hold: bool,
        now: Timestamp,
    ) -> Result<(), ParticipantError> {
        let index = self.check(account, conference, call)?;
        let conf = self
            .conferences
            .get_mut(conference)
            .ok_or(ParticipantError::NotFound)?;
        conf.set_hold(index, hold, now, &mut self.events);
        Ok(())
    }

    /// The API's `EndConferenceOnExit` on a participant. Setting the flag
    /// it already has changes nothing.
    pub fn set_end_conference_on_exit(
        &mut self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
        end_conference_on_exit: bool,
        now: Timestamp,
    ) -> Result<(), ParticipantError> {
        let index = self.check(account, conference, call)?;
        let conf = self
            .conferences
            .get_mut(conference)
            .ok_or(ParticipantError::NotFound)?;
        conf.set_end_conference_on_exit(index, end_conference_on_exit, now, &mut self.events);
        Ok(())
    }

    /// The API's `Status=completed`: everyone leaves with `ConferenceEnded`,
    /// in join order, and the conference completes, ended via the API.
    /// Returns the calls that left. `NotFound` if `account` has no such
    /// live conference.
    pub fn end(
        &mut self,
        account: &AccountSid,
        conference: &ConferenceSid,
        now: Timestamp,
    ) -> Result<Vec<CallSid>, ParticipantError> {
        let conf = self
            .conferences
            .get_mut(conference)
            .filter(|c| &c.account == account)
            .ok_or(ParticipantError::NotFound)?;
        let dropped = conf.end(
            LeaveReason::ConferenceEnded,
            (Some(ConferenceEndReason::EndedViaApi), None),
            now,
            &mut self.events,
        );
        for call in &dropped {
            self.conference_of_call.remove(call);
        }
        self.forget_if_completed(conference);
        Ok(dropped)
    }

    /// Ends every conference (server shutdown): everyone leaves with `Shutdown`.
    pub fn end_all(&mut self, now: Timestamp) {
        let sids: Vec<ConferenceSid> = self.conferences.keys().cloned().collect();
        for sid in sids {
            if let Some(conf) = self.conferences.get_mut(&sid) {
                for call in conf.end(LeaveReason::Shutdown, (None, None), now, &mut self.events) {
                    self.conference_of_call.remove(&call);
                }
            }
            self.forget_if_completed(&sid);
        }
    }

    /// The next state change to persist, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A participant's current state, if the call is in a conference.
    pub fn participant(&self, call: &CallSid) -> Option<ParticipantView> {
        let sid = self.conference_of_call.get(call)?;
        let conf = self.conferences.get(sid)?;
        let p = &conf.participants[conf.position(call)?];
        Some(ParticipantView {
            conference: conf.sid.clone(),
            account: conf.account.clone(),
            call: p.call.clone(),
            muted: p.muted,
            hold: p.hold,
            label: p.label.clone(),
            coach: p.coach.clone(),
            status_callback: p.status_callback.clone(),
            options: p.options,
            joined_at: p.joined_at,
        })
    }

    /// The live conference of that name, if any, and its status.
    pub fn live_conference(
        &self,
        account: &AccountSid,
        name: &str,
    ) -> Option<(ConferenceSid, ConferenceStatus)> {
        let sid = self
            .live_by_name
            .get(&(account.clone(), name.trim().to_owned()))?;
        self.conferences.get(sid).map(|r| (r.sid.clone(), r.status))
    }

    /// The calls in a live conference, in join order.
    pub fn participants_of(&self, conference: &ConferenceSid) -> Vec<CallSid> {
        self.conferences
            .get(conference)
            .map(|r| r.participants.iter().map(|p| p.call.clone()).collect())
            .unwrap_or_default()
    }

    /// How many conferences are live.
    pub fn live_count(&self) -> usize {
        self.conferences.len()
    }

    /// The index of `call` in `conference`, if that conference is `account`'s.
    fn check(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
    ) -> Result<usize, ParticipantError> {
        let conf = self
            .conferences
            .get(conference)
            .ok_or(ParticipantError::NotFound)?;
        if &conf.account != account {
            return Err(ParticipantError::NotFound);
        }
        conf.position(call).ok_or(ParticipantError::NotFound)
    }

    fn remove(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        reason: LeaveReason,
        now: Timestamp,
    ) -> Result<Vec<CallSid>, ParticipantError> {
        let conf = self
            .conferences
            .get_mut(conference)
            .ok_or(ParticipantError::NotFound)?;
        let index = conf.position(call).ok_or(ParticipantError::NotFound)?;
        let dropped = conf.leave(index, reason, now, &mut self.events);
        self.conference_of_call.remove(call);
        for other in &dropped {
            self.conference_of_call.remove(other);
        }
        self.forget_if_completed(conference);
        Ok(dropped)
    }

    fn forget_if_completed(&mut self, sid: &ConferenceSid) {
        let Some(conf) = self.conferences.get(sid) else {
            return;
        };
        if conf.status != ConferenceStatus::Completed {
            return;
        }
        let key = (conf.account.clone(), conf.name.clone());
        if self.live_by_name.get(&key) == Some(sid) {
            self.live_by_name.remove(&key);
        }
        self.conferences.remove(sid);
    }

    /// Checks every structural invariant of the directory and its conferences;
    /// tests call it after each step. `Err` names the first one broken.
    #[cfg(any(test, feature = "test-util"))]
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        fn ensure(ok: bool, broken: &'static str) -> Result<(), &'static str> {
            if ok { Ok(()) } else { Err(broken) }
        }
        for ((account, name), sid) in &self.live_by_name {
            let conf = self
                .conferences
                .get(sid)
                .ok_or("the directory names a conference that does not exist")?;
            ensure(
                (&conf.account, &conf.name) == (account, name),
                "the directory points at the wrong conference",
            )?;
            ensure(
                conf.status != ConferenceStatus::Completed,
                "a completed conference is still live",
            )?;
        }
        ensure(
            self.live_by_name.len() == self.conferences.len(),
            "a conference is missing from the directory",
        )?;
        let mut calls = 0;
        for conf in self.conferences.values() {
            ensure(
                !conf.participants.is_empty(),
                "a live conference has nobody in it",
            )?;
            ensure(
                conf.participants.len() <= conf.capacity,
                "a conference is over capacity",
            )?;
            for (i, p) in conf.participants.iter().enumerate() {
                ensure(
                    self.conference_of_call.get(&p.call) == Some(&conf.sid),
                    "the call index is stale",
                )?;
                ensure(
                    p.label.is_none() || conf.participants[..i].iter().all(|q| q.label != p.label),
                    "two participants of a conference share a label",
                )?;
                calls += 1;
            }
        }
        ensure(
            calls == self.conference_of_call.len(),
            "the call index has calls in no conference",
        )
    }
}
