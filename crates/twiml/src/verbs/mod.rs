//! One file per TwiML verb (and one for the `<Conference>` noun): its typed
//! value, its attributes with their defaults, and how its element parses.
//!
//! Each `parse` takes an element that [`crate::parse`] already read and the
//! shared context (base URL, warnings, from `element.rs`); the rules
//! for errors versus warnings are in [`crate::parse`]. A `<Say>` or
//! `<Play>` `loop` is a [`media::Repeat`], the one repeat count.

pub(crate) mod conference;
pub(crate) mod dial;
pub(crate) mod gather;
pub(crate) mod hangup;
pub(crate) mod pause;
pub(crate) mod play;
pub(crate) mod redirect;
pub(crate) mod say;

pub use conference::{Conference, WaitAudio};
pub use dial::Dial;
pub use gather::{Gather, Prompt};
pub use pause::Pause;
pub use play::Play;
pub use redirect::Redirect;
pub use say::{Say, Voice};
