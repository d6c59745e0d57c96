//! Calls: one record per SIP call, kept after it ends (participants are
//! live rows; a call's history lives here).

use crate::{AccountSid, CallSid, DateRange, PhoneNumberSid, Timestamp};

/// A call's `Status` as the 2008 API numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    NotYetDialed = 0,
    InProgress = 1,
    Complete = 2,
    FailedBusy = 3,
    /// The application (its voice URL) failed the call.
    FailedApplicationError = 4,
    FailedNoAnswer = 5,
}

impl CallStatus {
    /// The integer the 2008 API writes and the store keeps.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::NotYetDialed,
            1 => Self::InProgress,
            2 => Self::Complete,
            3 => Self::FailedBusy,
            4 => Self::FailedApplicationError,
            5 => Self::FailedNoAnswer,
            _ => return None,
        })
    }
}

impl CallStatus {
    /// The status as the 2010-04-01 API words it. confab records no
    /// `ringing` or `canceled` call (an incoming call is recorded when it is
    /// answered), so those two words never come out.
    pub fn as_2010_str(self) -> &'static str {
        match self {
            Self::NotYetDialed => "queued",
            Self::InProgress => "in-progress",
            Self::Complete => "completed",
            Self::FailedBusy => "busy",
            Self::FailedApplicationError => "failed",
            Self::FailedNoAnswer => "no-answer",
        }
    }

    /// The 2010-04-01 `Status` filter: `Ok(Some(status))` for a word confab
    /// records, `Ok(None)` for Twilio's `ringing` and `canceled` (valid, and
    /// no confab call has them), `Err(())` for anything else.
    #[allow(clippy::result_unit_err)]
    pub fn parse_2010_filter(s: &str) -> Result<Option<Self>, ()> {
        match s {
            "ringing" | "canceled" => Ok(None),
            _ => [
                Self::NotYetDialed,
                Self::InProgress,
                Self::Complete,
                Self::FailedBusy,
                Self::FailedApplicationError,
                Self::FailedNoAnswer,
            ]
            .into_iter()
            .find(|status| status.as_2010_str() == s)
            .map(Some)
            .ok_or(()),
        }
    }
}

/// What a Calls list asks for (2010-04-01 `Status`, `To`, `From`,
/// `StartTime`, `EndTime`, `ParentCallSid`; the 2008 list's `Status`,
/// `Called`, `Caller`, `StartTime`, `EndTime`). All present filters must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallFilter {
    /// `Some(None)`: a status confab never records (`ringing`, `canceled`),
    /// which matches no call.
    pub status: Option<Option<CallStatus>>,
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
        matches!(self.status, Some(None)) || self.parent_call_sid.is_some()
    }

    /// Whether `c` passes the filter: the reference the SQL must agree with.
    pub fn matches(&self, c: &CallRecord) -> bool {
        let within = |range: &DateRange, t: Option<Timestamp>| {
            *range == DateRange::default() || t.is_some_and(|t| range.contains(t))
        };
        !self.matches_nothing()
            && self.status.is_none_or(|s| s == Some(c.status))
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
        for code in 0..=5 {
            assert_eq!(
                CallStatus::from_code(code).map(CallStatus::code),
                Some(code)
            );
        }
        assert_eq!(CallStatus::from_code(6), None);
        assert_eq!(CallStatus::from_code(-1), None);
    }

    #[test]
    fn status_2010_words_round_trip() {
        for code in 0..=5 {
            let status = CallStatus::from_code(code).unwrap();
            assert_eq!(
                CallStatus::parse_2010_filter(status.as_2010_str()),
                Ok(Some(status))
            );
        }
        assert_eq!(CallStatus::parse_2010_filter("ringing"), Ok(None));
        assert_eq!(CallStatus::parse_2010_filter("canceled"), Ok(None));
        for bad in ["", "Completed", "2", "in_progress", "cancelled"] {
            assert_eq!(CallStatus::parse_2010_filter(bad), Err(()), "{bad}");
        }
    }
}
