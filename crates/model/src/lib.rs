//! confab's shared vocabulary.
//!
//! Everything here is plain data with no I/O: the 34-character sids as
//! newtypes that check their prefix, the conference status, the timestamp
//! type every record carries (and its RFC 2822 rendering), the records the
//! store keeps, the list filters, and the paging arithmetic of the 2008 API.
//! Randomness is an argument (`from_random`), never drawn here.
//!
//! Two things here are not data but small bounded maps more than one crate
//! needs: [`ReadCache`], the one cache of final values (the API, the store),
//! and [`PerClient`], state per network client (the API's bad-credentials
//! limit; the SIP side's per-source limit has the same shape).

mod cache;
mod call;
mod clients;
mod page;
mod records;
mod sid;
#[cfg(feature = "test-util")]
pub mod test_util;
mod time;

pub use cache::ReadCache;
pub use call::{CallDirection, CallFilter, CallRecord, CallStatus};
pub use clients::{ClientKey, PerClient};
pub use page::{PageRequest, PageWindow};
pub use records::{
    Account, AuthToken, CALL_CALLBACK_EVENTS, CONFERENCE_CALLBACK_EVENTS, ConferenceEndReason,
    ConferenceFilter, ConferenceRecord, ConferenceStatus, DateRange, HttpMethod, ParticipantFilter,
    ParticipantRecord, PhoneNumber, StatusCallback,
};
pub use sid::{AccountSid, CallSid, ConferenceSid, PhoneNumberSid, SidError};
pub use time::{DateError, Timestamp};
