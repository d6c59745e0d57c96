//! The records confab keeps and the filters the API lists them by.

use crate::{AccountSid, CallSid, ConferenceSid, PhoneNumberSid, Timestamp, sid::hex32};

/// A conference's life: 0 = init, 1 = in-progress, 2 = completed.
/// It only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConferenceStatus {
    Init = 0,
    InProgress = 1,
    Completed = 2,
}

impl ConferenceStatus {
    /// The integer the 2008 API writes and the store keeps.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::Init),
            1 => Some(Self::InProgress),
            2 => Some(Self::Completed),
            _ => None,
        }
    }

    /// The `Status` list filter: `0 1 2`, or the names `init in-progress completed`.
    pub fn parse_filter(s: &str) -> Option<Self> {
        match s {
            "0" | "init" => Some(Self::Init),
            "1" | "in-progress" => Some(Self::InProgress),
            "2" | "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// An AuthToken: 32 lowercase hex digits. It is also the HMAC key of
/// webhook signatures, so confab keeps it; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(hex32(bytes))
    }

    /// A token as stored. Not validated: whatever was stored is what must match.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub sid: AccountSid,
    pub friendly_name: String,
    pub auth_token: AuthToken,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// GET or POST, for voice URLs and TwiML `method` attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    /// Case-insensitive `GET` or `POST`.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("GET") {
            Some(Self::Get)
        } else if s.eq_ignore_ascii_case("POST") {
            Some(Self::Post)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// The conference events a status callback may ask for, as Twilio spells
/// them (`<Conference statusCallbackEvent>`, the API's
/// `ConferenceStatusCallbackEvent`).
pub const CONFERENCE_CALLBACK_EVENTS: [&str; 9] = [
    "start",
    "end",
    "join",
    "leave",
    "mute",
    "hold",
    "modify",
    "speaker",
    "announcement",
];

/// The call progress events a call's `StatusCallbackEvent` may ask for.
pub const CALL_CALLBACK_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// Where to report status changes, and which: Twilio's event names as
/// the TwiML attribute or request parameter gave them (space or comma
/// separated there; checked and split here), sent with `method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// An absolute `http`/`https` URL.
    pub url: String,
    pub method: HttpMethod,
    pub events: Vec<String>,
}

/// A number callers dial: the SIP Request-URI user part, routed to a voice URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    pub sid: PhoneNumberSid,
    pub account_sid: AccountSid,
    pub phone_number: String,
    pub voice_url: String,
    pub voice_method: HttpMethod,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// Why a conference ended, as the 2010-04-01 API's `reason_conference_ended`
/// and the `ReasonConferenceEnded` callback parameter say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConferenceEndReason {
    /// `POST Conferences/{CF}` with `Status=completed`.
    EndedViaApi,
    /// A participant with `endConferenceOnExit` left.
    EndConferenceOnExitLeft,
    /// A participant with `endConferenceOnExit` was removed through the API.
    EndConferenceOnExitKicked,
    /// The last participant left.
    LastParticipantLeft,
    /// The last participant was removed through the API.
    LastParticipantKicked,
}

impl ConferenceEndReason {
    /// Twilio's words, which the store keeps too.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndedViaApi => "conference-ended-via-api",
            Self::EndConferenceOnExitLeft => "participant-with-end-conference-on-exit-left",
            Self::EndConferenceOnExitKicked => "participant-with-end-conference-on-exit-kicked",
            Self::LastParticipantLeft => "last-participant-left",
            Self::LastParticipantKicked => "last-participant-kicked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::EndedViaApi,
            Self::EndConferenceOnExitLeft,
            Self::EndConferenceOnExitKicked,
            Self::LastParticipantLeft,
            Self::LastParticipantKicked,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One conference instance as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceRecord {
    pub sid: ConferenceSid,
    pub account_sid: AccountSid,
    pub friendly_name: String,
    pub status: ConferenceStatus,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// Why it ended (2010 API); `None` while live, and for conferences
    /// completed before confab recorded reasons or by start-up recovery.
    pub reason_ended: Option<ConferenceEndReason>,
    /// The call whose leaving (or kick) ended it, if one did.
    pub call_sid_ending: Option<CallSid>,
}

/// A caller who is in a conference right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    pub call_sid: CallSid,
    pub conference_sid: ConferenceSid,
    pub account_sid: AccountSid,
    pub muted: bool,
    /// On hold (2010 API): neither heard nor hearing the room.
    pub hold: bool,
    /// The participant's `label` (2010 API), unique within its conference.
    pub label: Option<String>,
    /// The call this participant coaches (only it hears the coach), if any;
    /// `coaching` in the 2010 API is `call_sid_to_coach.is_some()`.
    pub call_sid_to_coach: Option<CallSid>,
    pub start_conference_on_enter: bool,
    pub end_conference_on_exit: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// An inclusive-exclusive time range `[from, until)`; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateRange {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl DateRange {
    /// Narrows the range to also lie within `[from, until)`.
    pub fn narrow(&mut self, from: Option<Timestamp>, until: Option<Timestamp>) {
        if let Some(f) = from {
            self.from = Some(self.from.map_or(f, |g| g.max(f)));
        }
        if let Some(u) = until {
            self.until = Some(self.until.map_or(u, |v| v.min(u)));
        }
    }

    pub fn contains(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.until.is_none_or(|u| t < u)
    }
}

/// The Conferences list filters. All present filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceFilter {
    pub status: Option<ConferenceStatus>,
    pub friendly_name: Option<String>,
    pub date_created: DateRange,
    pub date_updated: DateRange,
}

impl ConferenceFilter {
    /// Whether `c` passes the filter: the reference the SQL must agree with.
    pub fn matches(&self, c: &ConferenceRecord) -> bool {
        self.status.is_none_or(|s| s == c.status)
            && self
                .friendly_name
                .as_ref()
                .is_none_or(|n| *n == c.friendly_name)
            && self.date_created.contains(c.date_created)
            && self.date_updated.contains(c.date_updated)
    }
}

/// The Participants list filters (2010-04-01 adds `Hold` and `Coaching`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParticipantFilter {
    pub muted: Option<bool>,
    pub hold: Option<bool>,
    /// Whether the participant coaches a call (`call_sid_to_coach` is set).
    pub coaching: Option<bool>,
}

impl ParticipantFilter {
    pub fn matches(&self, p: &ParticipantRecord) -> bool {
        self.muted.is_none_or(|m| m == p.muted)
            && self.hold.is_none_or(|h| h == p.hold)
            && self
                .coaching
                .is_none_or(|c| c == p.call_sid_to_coach.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filter_accepts_codes_and_names_only() {
        assert_eq!(
            ConferenceStatus::parse_filter("1"),
            Some(ConferenceStatus::InProgress)
        );
        assert_eq!(
            ConferenceStatus::parse_filter("completed"),
            Some(ConferenceStatus::Completed)
        );
        for bad in ["3", "-1", "01", "Init", " 1", ""] {
            assert_eq!(ConferenceStatus::parse_filter(bad), None, "{bad}");
        }
    }

    #[test]
    fn auth_token_debug_hides_the_secret() {
        let t = AuthToken::from_random([7; 16]);
        assert_eq!(format!("{t:?}"), "AuthToken(..)");
        assert_eq!(t.expose().len(), 32);
    }

    #[test]
    fn date_ranges_narrow_to_the_intersection() {
        let mut r = DateRange::default();
        r.narrow(
            Some(Timestamp::from_secs(10)),
            Some(Timestamp::from_secs(20)),
        );
        r.narrow(
            Some(Timestamp::from_secs(5)),
            Some(Timestamp::from_secs(15)),
        );
        assert_eq!(r.from, Some(Timestamp::from_secs(10)));
        assert_eq!(r.until, Some(Timestamp::from_secs(15)));
        assert!(r.contains(Timestamp::from_secs(10)));
        assert!(!r.contains(Timestamp::from_secs(15)));
    }
}
