//! One file per TwiML verb (and one for the `<Conference>` noun): its typed
//! value, its attributes with their defaults, and how its element parses.
//!
//! Each `parse` takes an element that [`crate::parse`] already read and the
//! shared context (base URL, warnings); the rules for errors versus warnings
//! are in [`crate::parse`].

pub(crate) mod conference;
pub(crate) mod dial;
pub(crate) mod hangup;
pub(crate) mod pause;
pub(crate) mod play;
pub(crate) mod redirect;
pub(crate) mod say;

use std::num::NonZeroU32;

pub use conference::{Conference, WaitAudio};
pub use dial::Dial;
pub use pause::Pause;
pub use play::Play;
pub use redirect::Redirect;
pub use say::{Say, Voice};

/// How often a `<Say>` or `<Play>` plays: its `loop` attribute. `loop="0"`
/// means until the call (or the wait) ends, as in Twilio's docs; absent or
/// invalid means once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repeat {
    Times(NonZeroU32),
    Forever,
}

impl Repeat {
    pub const ONCE: Self = Self::Times(NonZeroU32::MIN);

    /// `loop`'s value: 0 is forever.
    pub fn from_count(n: u32) -> Self {
        NonZeroU32::new(n).map_or(Self::Forever, Self::Times)
    }

    /// What is left after one more play, if anything.
    pub fn after_one(self) -> Option<Self> {
        match self {
            Self::Forever => Some(Self::Forever),
            Self::Times(n) => NonZeroU32::new(n.get() - 1).map(Self::Times),
        }
    }
}

/// A Say or Play in progress and how many more times it plays: the loop
/// bookkeeping both scripts share.
#[derive(Debug)]
pub(crate) struct Playing<A> {
    action: A,
    left: Option<Repeat>,
}

impl<A: Clone> Playing<A> {
    /// The first play to hand the shell, and what to keep meanwhile.
    pub(crate) fn start(action: A, repeat: Repeat) -> (A, Self) {
        let left = repeat.after_one();
        (action.clone(), Self { action, left })
    }

    /// After a play ended: the next one, or `None` when the loop is done.
    pub(crate) fn next(self) -> Option<(A, Self)> {
        let left = self.left?;
        Some(Self::start(self.action, left))
    }
}

impl Default for Repeat {
    fn default() -> Self {
        Self::ONCE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_counts_down_and_forever_stays() {
        let mut left = Some(Repeat::from_count(3));
        let mut plays = 0;
        while let Some(r) = left {
            plays += 1;
            left = r.after_one();
        }
        assert_eq!(plays, 3);
        assert_eq!(Repeat::from_count(0), Repeat::Forever);
        assert_eq!(Repeat::Forever.after_one(), Some(Repeat::Forever));
        assert_eq!(Repeat::default().after_one(), None);
    }

    #[test]
    fn playing_hands_out_each_repetition_then_stops() {
        let (first, mut playing) = Playing::start('a', Repeat::from_count(3));
        let mut plays = vec![first];
        while let Some((next, rest)) = playing.next() {
            plays.push(next);
            playing = rest;
        }
        assert_eq!(plays, ['a', 'a', 'a']);
    }
}
