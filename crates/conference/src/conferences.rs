//! The directory of live rooms, and the public face of the room rules.
//!
//! Names are scoped to an account: `(account, trimmed name)` maps to at most
//! one live room. Because one `Conferences` value is the only authority for
//! that map, two callers who dial the same new name "at once" are simply two
//! joins in sequence: the first creates the room, the second finds it.

use std::collections::{HashMap, VecDeque};

use model::{AccountSid, CallSid, ConferenceSid, ConferenceStatus, Timestamp};

use crate::room::{ParticipantOptions, Room};
use crate::{Event, LeaveReason};

/// A caller asking to join the room `name` of `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub account: AccountSid,
    /// The `<Conference>` text; surrounding whitespace is trimmed.
    pub name: String,
    pub call: CallSid,
    pub options: ParticipantOptions,
}

/// Where a join landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub conference: ConferenceSid,
    /// The room's status right after the join.
    pub status: ConferenceStatus,
    /// Whether this join created the room.
    pub created: bool,
}

/// Why a caller could not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the conference name is empty")]
    EmptyName,
    /// The room is at capacity: the caller's `<Dial>` ends with `failed`.
    #[error("the conference is full")]
    Full,
    #[error("the call is already in a conference")]
    AlreadyJoined,
    /// The fresh sid handed in names a room that exists (a broken random source).
    #[error("the new conference sid is already in use")]
    SidInUse,
}

/// Why a command on a participant could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
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
    pub options: ParticipantOptions,
    pub joined_at: Timestamp,
}

/// Every live room of one server.
#[derive(Debug)]
pub struct Conferences {
    default_capacity: usize,
    rooms: HashMap<ConferenceSid, Room>,
    live_by_name: HashMap<(AccountSid, String), ConferenceSid>,
    room_of_call: HashMap<CallSid, ConferenceSid>,
    events: VecDeque<Event>,
}

impl Conferences {
    /// `default_capacity` applies to rooms whose creator gave no `maxParticipants`.
    pub fn new(default_capacity: usize) -> Self {
        Self {
            default_capacity,
            rooms: HashMap::new(),
            live_by_name: HashMap::new(),
            room_of_call: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Puts a caller into the live room of that name, creating it (with
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
        } = request;
        let name = name.trim();
        if name.is_empty() {
            return Err(JoinError::EmptyName);
        }
        if self.room_of_call.contains_key(&call) {
            return Err(JoinError::AlreadyJoined);
        }
        let key = (account, name.to_owned());
        let existing = self.live_by_name.get(&key).cloned();
        let (sid, created) = match existing {
            Some(sid) => {
                let full = self.rooms.get(&sid).is_none_or(Room::is_full);
                if full {
                    return Err(JoinError::Full);
                }
                (sid, false)
            }
            None => {
                if self.rooms.contains_key(&new_sid) {
                    return Err(JoinError::SidInUse);
                }
                let capacity = options
                    .max_participants
                    .and_then(|m| usize::try_from(m).ok())
                    .unwrap_or(self.default_capacity);
                let room = Room::create(
                    new_sid.clone(),
                    key.0.clone(),
                    key.1.clone(),
                    capacity,
                    now,
                    &mut self.events,
                );
                self.rooms.insert(new_sid.clone(), room);
                self.live_by_name.insert(key, new_sid.clone());
                (new_sid, true)
            }
        };
        let Some(room) = self.rooms.get_mut(&sid) else {
            return Err(JoinError::Full);
        };
        room.join(call.clone(), options, now, &mut self.events);
        self.room_of_call.insert(call, sid.clone());
        Ok(Joined {
            conference: sid,
            status: room.status,
            created,
        })
    }

    /// A caller leaves its room (hang-up, `*`, time limit...). Returns the
    /// calls dropped with it because the room ended.
    pub fn leave(
        &mut self,
        call: &CallSid,
        reason: LeaveReason,
        now: Timestamp,
    ) -> Result<Vec<CallSid>, ControlError> {
        let sid = self
            .room_of_call
            .get(call)
            .cloned()
            .ok_or(ControlError::NotFound)?;
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
    ) -> Result<Vec<CallSid>, ControlError> {
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
    ) -> Result<(), ControlError> {
        let index = self.check(account, conference, call)?;
        let room = self
            .rooms
            .get_mut(conference)
            .ok_or(ControlError::NotFound)?;
        room.set_muted(index, muted, now, &mut self.events);
        Ok(())
    }

    /// Ends every room (server shutdown): everyone leaves with `Shutdown`.
    pub fn end_all(&mut self, now: Timestamp) {
        let sids: Vec<ConferenceSid> = self.rooms.keys().cloned().collect();
        for sid in sids {
            if let Some(room) = self.rooms.get_mut(&sid) {
                for call in room.end(LeaveReason::Shutdown, now, &mut self.events) {
                    self.room_of_call.remove(&call);
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

    /// A participant's current state, if the call is in a room.
    pub fn participant(&self, call: &CallSid) -> Option<ParticipantView> {
        let sid = self.room_of_call.get(call)?;
        let room = self.rooms.get(sid)?;
        let p = &room.participants[room.position(call)?];
        Some(ParticipantView {
            conference: room.sid.clone(),
            account: room.account.clone(),
            call: p.call.clone(),
            muted: p.muted,
            options: p.options,
            joined_at: p.joined_at,
        })
    }

    /// The live room of that name, if any, and its status.
    pub fn live_room(
        &self,
        account: &AccountSid,
        name: &str,
    ) -> Option<(ConferenceSid, ConferenceStatus)> {
        let sid = self
            .live_by_name
            .get(&(account.clone(), name.trim().to_owned()))?;
        self.rooms.get(sid).map(|r| (r.sid.clone(), r.status))
    }

    /// The calls in a live room, in join order.
    pub fn participants_of(&self, conference: &ConferenceSid) -> Vec<CallSid> {
        self.rooms
            .get(conference)
            .map(|r| r.participants.iter().map(|p| p.call.clone()).collect())
            .unwrap_or_default()
    }

    /// How many rooms are live.
    pub fn live_rooms(&self) -> usize {
        self.rooms.len()
    }

    /// The index of `call` in `conference`, if that conference is `account`'s.
    fn check(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
    ) -> Result<usize, ControlError> {
        let room = self.rooms.get(conference).ok_or(ControlError::NotFound)?;
        if &room.account != account {
            return Err(ControlError::NotFound);
        }
        room.position(call).ok_or(ControlError::NotFound)
    }

    fn remove(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        reason: LeaveReason,
        now: Timestamp,
    ) -> Result<Vec<CallSid>, ControlError> {
        let room = self
            .rooms
            .get_mut(conference)
            .ok_or(ControlError::NotFound)?;
        let index = room.position(call).ok_or(ControlError::NotFound)?;
        let dropped = room.leave(index, reason, now, &mut self.events);
        self.room_of_call.remove(call);
        for other in &dropped {
            self.room_of_call.remove(other);
        }
        self.forget_if_completed(conference);
        Ok(dropped)
    }

    fn forget_if_completed(&mut self, sid: &ConferenceSid) {
        let Some(room) = self.rooms.get(sid) else {
            return;
        };
        if room.status != ConferenceStatus::Completed {
            return;
        }
        let key = (room.account.clone(), room.name.clone());
        if self.live_by_name.get(&key) == Some(sid) {
            self.live_by_name.remove(&key);
        }
        self.rooms.remove(sid);
    }

    /// Checks every structural invariant of the directory and its rooms;
    /// tests call it after each step. `Err` names the first one broken.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        fn ensure(ok: bool, broken: &'static str) -> Result<(), &'static str> {
            if ok { Ok(()) } else { Err(broken) }
        }
        for ((account, name), sid) in &self.live_by_name {
            let room = self
                .rooms
                .get(sid)
                .ok_or("the directory names a room that does not exist")?;
            ensure(
                (&room.account, &room.name) == (account, name),
                "the directory points at the wrong room",
            )?;
            ensure(
                room.status != ConferenceStatus::Completed,
                "a completed room is still live",
            )?;
        }
        ensure(
            self.live_by_name.len() == self.rooms.len(),
            "a room is missing from the directory",
        )?;
        let mut calls = 0;
        for room in self.rooms.values() {
            ensure(
                !room.participants.is_empty(),
                "a live room has nobody in it",
            )?;
            ensure(
                room.participants.len() <= room.capacity,
                "a room is over capacity",
            )?;
            for p in &room.participants {
                ensure(
                    self.room_of_call.get(&p.call) == Some(&room.sid),
                    "the call index is stale",
                )?;
                calls += 1;
            }
        }
        ensure(
            calls == self.room_of_call.len(),
            "the call index has calls in no room",
        )
    }
}
