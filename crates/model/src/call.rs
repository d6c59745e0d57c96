//! Calls: one record per SIP call, kept after it ends (participants are
//! live rows; a call's history lives here).

use crate::{AccountSid, CallSid, DateRange, PhoneNumberSid, Timestamp};

/// A call's status. The store keeps [`CallStatus::code`]; the 2008 API
/// writes [`CallStatus::code_2008`] and the 2010-04-01 API
/// [`CallStatus::as_2010_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Placed and not ringing yet: 2010's `queued`.
    NotYetDialed = 0,
    InProgress = 1,
    Complete = 2,
    FailedBusy = 3,
    /// The application (its voice URL) failed the call.
    FailedApplicationError = 4,
    FailedNoAnswer = 5,
    /// A placed call whose callee rings (a 180 or 183 came): 2010's
    /// `ringing`.
    Ringing = 6,
    /// A placed call the API hung up before it was answered: 2010's
    /// `canceled`.
    Canceled = 7,
}

impl CallStatus {
    /// Every status, in store-code order.
    pub const ALL: [Self; 8] = [
        Self::NotYetDialed,
        Self::InProgress,
        Self::Complete,
        Self::FailedBusy,
        Self::FailedApplicationError,
        Self::FailedNoAnswer,
        Self::Ringing,
        Self::Canceled,
    ];

    /// The integer the store keeps: the 2008 code for the six statuses 2008
    /// has, 6 and 7 for `ringing` and `canceled`.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The status the store keeps as `code`.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The 2008 API's `Status` (twilio-2008.md §11), which has no word for
    /// two of today's: a ringing call is 0, "Not Yet Dialed" (nobody has
    /// answered, and 2008 numbers nothing between), and a canceled one is
    /// 5, "Failed-No Answer" (it ended unanswered, which is what a 2008
    /// client can tell).
    pub fn code_2008(self) -> i64 {
        match self {
            Self::Ringing => Self::NotYetDialed.code(),
            Self::Canceled => Self::FailedNoAnswer.code(),
            other => other.code(),
        }
    }

    /// The statuses the 2008 `Status` filter `code` matches: those whose
    /// [`CallStatus::code_2008`] it is (0 is queued and ringing calls, 5
    /// unanswered and canceled ones); `None` for a code 2008 does not have.
    pub fn from_code_2008(code: i64) -> Option<Vec<Self>> {
        let matching: Vec<Self> = Self::ALL
            .into_iter()
            .filter(|s| s.code_2008() == code)
            .collect();
        (!matching.is_empty()).then_some(matching)
    }

    /// The status as the 2010-04-01 API words it.
    pub fn as_2010_str(self) -> &'static str {
        match self {
            Self::NotYetDialed => "queued",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Complete => "completed",
            Self::FailedBusy => "busy",
            Self::FailedApplicationError => "failed",
            Self::FailedNoAnswer => "no-answer",
            Self::Canceled => "canceled",
        }
    }

    /// The 2010-04-01 word `s` (a `Status` filter), if it is one.
    pub fn parse_2010(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_2010_str() == s)
    }

    /// Whether the call has ended, one way or another.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::NotYetDialed | Self::Ringing | Self::InProgress)
    }
}

/// What a Calls list asks for (2010-04-01 `Status`, `To`, `From`,
/// `StartTime`, `EndTime`, `ParentCallSid`; the 2008 list's `Status`,
/// `Called`, `Caller`, `StartTime`, `EndTime`). All present filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallFilter {
    /// The call's status is one of these (a 2010 word names one; a 2008
    /// code may name two, see [`CallStatus::from_code_2008`]).
    pub status: Option<Vec<CallStatus>>,
    /// Exactly the recorded `called` (`To`).
    pub called: Option<String>,
    /// Exactly the recorded `caller` (`From`).
    pub caller: Option<String>,
    pub start_time: DateRange,
    pub end_time: DateRange,
    /// `ParentCallSid`: confab places no child calls, so any value matches
    /// nothing.
    pub parent_call_sid: Option<CallSid>,
}

impl CallFilter {
    /// Whether no call can match, whatever the store holds.
    pub fn matches_nothing(&self) -> bool {
        self.status.as_ref().is_some_and(Vec::is_empty) || self.parent_call_sid.is_some()
    }

    /// Whether `c` passes the filter: the reference the SQL must agree with.
    pub fn matches(&self, c: &CallRecord) -> bool {
        let within = |range: &DateRange, t: Option<Timestamp>| {
            *range == DateRange::default() || t.is_some_and(|t| range.contains(t))
        };
        !self.matches_nothing()
            && self.status.as_ref().is_none_or(|s| s.contains(&c.status))
            && self.called.as_ref().is_none_or(|v| *v == c.called)
            && self.caller.as_ref().is_none_or(|v| *v == c.caller)
            && within(&self.start_time, c.start_time)
            && within(&self.end_time, c.end_time)
    }
}

/// Who started a call, as the 2010-04-01 API's `direction` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallDirection {
    /// A caller dialled in.
    Inbound,
    /// Placed through the REST API (`POST Calls`, or a participant added by
    /// dialling out).
    OutboundApi,
    /// Placed by TwiML `<Dial>` on behalf of another call.
    OutboundDial,
}

impl CallDirection {
    /// Twilio's words, which the store keeps too.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::OutboundApi => "outbound-api",
            Self::OutboundDial => "outbound-dial",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Inbound, Self::OutboundApi, Self::OutboundDial]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One call. `caller` and `called` are personal data: `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub sid: CallSid,
    pub account_sid: AccountSid,
    /// The number that routed the call; `None` for an open-room call.
    pub phone_number_sid: Option<PhoneNumberSid>,
    /// Who called: the SIP From user part.
    pub caller: String,
    /// Who was called: the SIP Request-URI user part.
    pub called: String,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    /// Whole seconds from start to end.
    pub duration: Option<i64>,
    /// Why the call failed, in words (never shown to callers).
    pub failure: Option<String>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

impl CallRecord {
    /// An inbound call answered at `now`: in progress, not ended, routed
    /// by no number (set `phone_number_sid` when one routed it).
    pub fn answered_inbound(
        sid: CallSid,
        account_sid: AccountSid,
        caller: String,
        called: String,
        now: Timestamp,
    ) -> Self {
        Self {
            sid,
            account_sid,
            phone_number_sid: None,
            caller,
            called,
            direction: CallDirection::Inbound,
            status: CallStatus::InProgress,
            start_time: Some(now),
            end_time: None,
            duration: None,
            failure: None,
            date_created: now,
            date_updated: now,
        }
    }
}

impl std::fmt::Debug for CallRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecord")
            .field("sid", &self.sid)
            .field("account_sid", &self.account_sid)
            .field("direction", &self.direction)
            .field("status", &self.status)
            .field("start_time", &self.start_time)
            .field("end_time", &self.end_time)
            .field("duration", &self.duration)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in 0..=7 {
            assert_eq!(
                CallStatus::from_code(code).map(CallStatus::code),
                Some(code)
            );
        }
        assert_eq!(CallStatus::from_code(8), None);
        assert_eq!(CallStatus::from_code(-1), None);
    }

    #[test]
    fn status_2010_words_round_trip() {
        for status in CallStatus::ALL {
            assert_eq!(CallStatus::parse_2010(status.as_2010_str()), Some(status));
        }
        assert_eq!(CallStatus::parse_2010("ringing"), Some(CallStatus::Ringing));
        assert_eq!(
            CallStatus::parse_2010("canceled"),
            Some(CallStatus::Canceled)
        );
        for bad in ["", "Completed", "2", "in_progress", "cancelled"] {
            assert_eq!(CallStatus::parse_2010(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_2008_codes_name_the_two_new_statuses_by_their_nearest() {
        assert_eq!(CallStatus::Ringing.code_2008(), 0);
        assert_eq!(CallStatus::Canceled.code_2008(), 5);
        for code in 1..=4 {
            let status = CallStatus::from_code(code).unwrap();
            assert_eq!(status.code_2008(), code);
            assert_eq!(CallStatus::from_code_2008(code), Some(vec![status]));
        }
        assert_eq!(
            CallStatus::from_code_2008(0),
            Some(vec![CallStatus::NotYetDialed, CallStatus::Ringing])
        );
        assert_eq!(
            CallStatus::from_code_2008(5),
            Some(vec![CallStatus::FailedNoAnswer, CallStatus::Canceled])
        );
        for bad in [-1, 6, 7] {
            assert_eq!(CallStatus::from_code_2008(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_status_filter_matches_any_of_its_statuses() {
        let call = |status| CallRecord {
            sid: CallSid::from_random([1; 16]),
            account_sid: AccountSid::from_random([2; 16]),
            phone_number_sid: None,
            caller: "a".to_owned(),
            called: "b".to_owned(),
            direction: CallDirection::OutboundApi,
            status,
            start_time: None,
            end_time: None,
            duration: None,
            failure: None,
            date_created: Timestamp::from_secs(1),
            date_updated: Timestamp::from_secs(1),
        };
        let filter = CallFilter {
            status: CallStatus::from_code_2008(0),
            ..CallFilter::default()
        };
        assert!(filter.matches(&call(CallStatus::Ringing)));
        assert!(filter.matches(&call(CallStatus::NotYetDialed)));
        assert!(!filter.matches(&call(CallStatus::InProgress)));
        let none = CallFilter {
            status: Some(Vec::new()),
            ..CallFilter::default()
        };
        assert!(none.matches_nothing());
        assert!(!none.matches(&call(CallStatus::Ringing)));
    }
}
