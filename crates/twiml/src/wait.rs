//! [`WaitScript`]: what a caller hears while its conference has not started.
//!
//! The shell starts one when a participant lands in a room that is still
//! init, drives it like [`CallScript`](crate::CallScript) (poll actions,
//! report results) and drops it when the room starts or the participant
//! leaves. It never ends by itself: spec §9.1 and `spec/decisions.md` say the
//! wait audio loops until the conference starts.
//!
//! - [`WaitAudio::BuiltIn`] plays confab's own hold music
//!   ([`Action::PlayHoldMusic`]) again each time it finishes.
//! - [`WaitAudio::Silence`] (`waitUrl=""`) has no actions at all.
//! - [`WaitAudio::Url`] fetches the `waitUrl` with the call's standard
//!   parameters (`CallStatus=in-progress`). An `audio/*` response is played as
//!   it is ([`Action::PlayAudio`]); anything else must be TwiML, of which
//!   `<Play> <Say> <Pause> <Redirect>` run as in a call. `<Dial>` and
//!   `<Hangup>` are not allowed in wait TwiML: they are skipped with a
//!   warning, and the rest of the document runs. When the audio or the
//!   document ends, the `waitUrl` is fetched again (a GET lets the shell's
//!   HTTP cache help, as 2008 advised).
//! - A failing `waitUrl` must not cost the caller the call: a fetch that fails,
//!   a response that is neither audio nor TwiML (or has an unknown verb), or
//!   more than [`MAX_FETCHES_IN_A_ROW`](crate::MAX_FETCHES_IN_A_ROW) fetches
//!   with nothing heard warns ([`crate::WaitWarning::FellBack`]) and switches to the
//!   built-in hold music for the rest of this wait.

use crate::runner::{Action, Runner};
use crate::verbs::WaitAudio;
use crate::webhook::CallInfo;
use crate::{FetchError, FetchedBody};

/// One participant's wait audio: the [one verb runner](crate::runner) in
/// wait mode. See the [module docs](self).
#[derive(Debug)]
pub struct WaitScript {
    runner: Runner,
}

impl WaitScript {
    pub fn new(wait: WaitAudio, call: CallInfo) -> Self {
        Self {
            runner: Runner::wait(call, wait),
        }
    }

    /// The next thing to play or fetch; `None` while something plays, and
    /// always for silence.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.runner.poll_action()
    }

    /// The result of the last [`Action::Fetch`].
    pub fn fetched(&mut self, result: Result<FetchedBody, FetchError>) {
        self.runner.fetched(result);
    }

    /// The last thing played (or the pause) ended.
    pub fn finished(&mut self) {
        self.runner.finished();
    }

    /// The last thing could not be played. A TwiML verb is skipped; a
    /// fetched audio response is fetched again (the fetch bound still
    /// applies, since nothing was heard); if even the built-in music fails,
    /// the wait goes silent rather than spin.
    pub fn media_failed(&mut self) {
        self.runner.media_failed();
    }
}
