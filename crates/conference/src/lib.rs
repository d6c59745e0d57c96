//! Conference rules, as a sans-IO state machine.
//!
//! This crate knows conferences as the REST API and the store see them
//! (participants, status, capacity); it knows no audio. The live media room
//! a conference's callers are mixed in is `media::MediaRoom`, driven by the
//! server's room task: in confab "room" means that, and only that.
//!
//! [`Conferences`] owns every live conference of a server: which `(account, name)`
//! has a live conference, who is in it, and how its status moves (the life
//! rules of `spec/decisions.md`):
//!
//! - the first `<Dial><Conference>` for a name creates the conference, **init** (0);
//! - it is **in-progress** (1) once at least two participants are present and
//!   at least one of them has `startConferenceOnEnter`; it stays in-progress
//!   if it later drops to one;
//! - it is **completed** (2) when a participant with `endConferenceOnExit`
//!   leaves for any reason (everyone else is dropped), or when the last
//!   participant leaves, started or not. A completed conference is forgotten; the
//!   same name then makes a new conference with a new sid;
//! - a conference holds at most its capacity (40 by default, or the creator's
//!   `maxParticipants`); a caller over the cap does not join;
//! - a participant's label (2010 API) is unique among the conference's live
//!   participants, and a coach joins only a conference its call to coach is in;
//! - the API mutes, holds, kicks, sets `endConferenceOnExit` and ends a whole
//!   conference ([`Conferences::end`]: everyone leaves, "conference ended");
//!   a completed conference says why (`model::ConferenceEndReason`) and whose
//!   leaving or kick completed it.
//!
//! It touches no socket, clock, random source or database: the shell passes
//! `now` and freshly drawn sids in, and drains [`Event`]s out, persisting each
//! (every event moves its conference's DateUpdated). Timestamps on events
//! never go backwards per conference, even if the wall clock does.
//!
//! A driver (the server's conference hub) looks like this:
//!
//! ```
//! use conference::{Conferences, JoinRequest, ParticipantOptions, LeaveReason};
//! use model::{AccountSid, CallSid, ConferenceSid, Timestamp};
//!
//! let mut conferences = Conferences::new(40);
//! let account = AccountSid::from_random([1; 16]);
//! let request = JoinRequest {
//!     account,
//!     name: "standup".into(),
//!     call: CallSid::from_random([2; 16]),
//!     options: ParticipantOptions::default(),
//!     label: None,
//!     coach: None,
//!     status_callback: None,
//! };
//! // The sid is used only if the join has to create the conference.
//! let joined = conferences.join(request, ConferenceSid::from_random([3; 16]), Timestamp::from_secs(1))?;
//! while let Some(event) = conferences.poll_event() {
//!     // persist `event`, tell the media layer, ...
//!     # let _ = event;
//! }
//! # let _ = joined;
//! # Ok::<(), conference::JoinError>(())
//! ```

mod conference;
mod conferences;
mod event;

pub use conference::ParticipantOptions;
pub use conferences::{
    Conferences, JoinError, JoinRequest, Joined, ParticipantError, ParticipantView,
};
pub use event::{Event, LeaveReason};
