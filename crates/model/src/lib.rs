//! confab's shared vocabulary.
//!
//! Everything here is plain data with no I/O: the 34-character sids as
//! newtypes that check their prefix, the conference status, the timestamp
//! type every record carries (and its RFC 2822 rendering), the records the
//! store keeps, the list filters, and the paging arithmetic of the 2008 API.
//! Randomness is an argument (`from_random`), never drawn here.
//!
//! One thing here is not data: [`ReadCache`], the one bounded cache of final
//! values that the API and the store both use (module `cache`).

mod cache;
mod call;
mod page;
mod records;
mod sid;
mod time;

pub use cache::ReadCache;
pub use call::{CallRecord, CallStatus};
pub use page::{PageRequest, PageWindow};
pub use records::{
    Account, AuthToken, ConferenceFilter, ConferenceRecord, ConferenceStatus, DateRange,
    HttpMethod, ParticipantFilter, ParticipantRecord, PhoneNumber,
};
pub use sid::{AccountSid, CallSid, ConferenceSid, PhoneNumberSid, SidError};
pub use time::{DateError, Timestamp};
