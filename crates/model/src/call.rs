//! Calls: one record per SIP call, kept after it ends (participants are
//! live rows; a call's history lives here).

use crate::{AccountSid, CallSid, PhoneNumberSid, Timestamp};

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
}
