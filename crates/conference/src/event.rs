//! What the conference rules report to the shell.

use model::{AccountSid, CallSid, ConferenceEndReason, ConferenceSid, ConferenceStatus, Timestamp};

/// Why a participant left its conference. The shell needs it: a caller who
/// hung up is gone, while every other reason ends only the caller's `<Dial>`
/// and its TwiML goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// The caller hung up.
    Hangup,
    /// Removed through the API (DELETE on the participant).
    Kicked,
    /// Pressed `*` with `hangupOnStar`.
    HangupOnStar,
    /// The `<Dial timeLimit>` ran out.
    TimeLimit,
    /// The conference ended: a participant with `endConferenceOnExit` left,
    /// or the API ended it.
    ConferenceEnded,
    /// The server is shutting down.
    Shutdown,
}

/// One state change, in the order it happened. Every variant changes its
/// conference's DateUpdated to `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new conference instance, init.
    ConferenceCreated {
        sid: ConferenceSid,
        account: AccountSid,
        friendly_name: String,
        at: Timestamp,
    },
    /// The conference moved forward to `status` (in-progress or completed).
    StatusChanged {
        sid: ConferenceSid,
        status: ConferenceStatus,
        /// Why it completed; `None` unless completed, and when the server
        /// shut down (Twilio has no word for that).
        reason: Option<ConferenceEndReason>,
        /// The call whose leaving or kick completed it, if one did.
        ending_call: Option<CallSid>,
        at: Timestamp,
    },
    ParticipantJoined {
        conference: ConferenceSid,
        account: AccountSid,
        call: CallSid,
        muted: bool,
        start_conference_on_enter: bool,
        end_conference_on_exit: bool,
        /// `participantLabel` (or the API's `Label`).
        label: Option<String>,
        /// The call this participant coaches.
        coach: Option<CallSid>,
        at: Timestamp,
    },
    ParticipantMuted {
        conference: ConferenceSid,
        call: CallSid,
        muted: bool,
        at: Timestamp,
    },
    /// Put on hold (out of the mix both ways) or taken off it.
    ParticipantHold {
        conference: ConferenceSid,
        call: CallSid,
        hold: bool,
        at: Timestamp,
    },
    /// Whether the participant's leaving ends the conference changed.
    ParticipantEndOnExit {
        conference: ConferenceSid,
        call: CallSid,
        end_conference_on_exit: bool,
        at: Timestamp,
    },
    ParticipantLeft {
        conference: ConferenceSid,
        call: CallSid,
        reason: LeaveReason,
        at: Timestamp,
    },
}

impl Event {
    /// The conference the event belongs to.
    pub fn conference(&self) -> &ConferenceSid {
        match self {
            Self::ConferenceCreated { sid, .. } | Self::StatusChanged { sid, .. } => sid,
            Self::ParticipantJoined { conference, .. }
            | Self::ParticipantMuted { conference, .. }
            | Self::ParticipantHold { conference, .. }
            | Self::ParticipantEndOnExit { conference, .. }
            | Self::ParticipantLeft { conference, .. } => conference,
        }
    }

    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Self::ConferenceCreated { at, .. }
            | Self::StatusChanged { at, .. }
            | Self::ParticipantJoined { at, .. }
            | Self::ParticipantMuted { at, .. }
            | Self::ParticipantHold { at, .. }
            | Self::ParticipantEndOnExit { at, .. }
            | Self::ParticipantLeft { at, .. } => *at,
        }
    }
}
