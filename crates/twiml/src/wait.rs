//! [`WaitScript`]: what a caller hears while its conference has not started.
//!
//! The shell starts one when a participant lands in a room that is still
//! init, drives it like [`CallScript`](crate::CallScript) (poll actions,
//! report results) and drops it when the room starts or the participant
//! leaves. It never ends by itself: spec §9.1 and `spec/decisions.md` say the
//! wait audio loops until the conference starts.
//!
//! - [`WaitAudio::BuiltIn`] plays confab's own hold music
//!   ([`WaitAction::PlayHoldMusic`]) again each time it finishes.
//! - [`WaitAudio::Silence`] (`waitUrl=""`) has no actions at all.
//! - [`WaitAudio::Url`] fetches the `waitUrl` with the call's standard
//!   parameters (`CallStatus=in-progress`). An `audio/*` response is played as
//!   it is ([`WaitAction::PlayAudio`]); anything else must be TwiML, of which
//!   `<Play> <Say> <Pause> <Redirect>` run as in a call. `<Dial>` and
//!   `<Hangup>` are not allowed in wait TwiML: they are skipped with a
//!   warning, and the rest of the document runs. When the audio or the
//!   document ends, the `waitUrl` is fetched again (a GET lets the shell's
//!   HTTP cache help, as 2008 advised).
//! - A failing `waitUrl` must not cost the caller the call: a fetch that fails,
//!   a response that is neither audio nor TwiML (or has an unknown verb), or
//!   more than [`MAX_FETCHES_IN_A_ROW`](crate::MAX_FETCHES_IN_A_ROW) fetches
//!   with nothing heard warns ([`WaitWarning::FellBack`]) and switches to the
//!   built-in hold music for the rest of this wait.

use std::time::Duration;

use crate::runner::{Runner, Step};
use crate::verbs::{Voice, WaitAudio};
use crate::webhook::{CallInfo, WebhookRequest};
use crate::{AppError, FetchError, FetchedBody, HttpUrl, Warning};

/// Something the shell should do for a waiting participant.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitAction {
    /// Request the `waitUrl` (or a `<Redirect>`), then [`WaitScript::fetched`].
    Fetch(WebhookRequest),
    /// Play a fetched audio response (WAV or MP3), then
    /// [`WaitScript::finished`] (or [`WaitScript::media_failed`]).
    PlayAudio { body: Vec<u8>, content_type: String },
    /// As [`Action::Say`](crate::Action::Say), then `finished`.
    Say {
        text: String,
        voice: Voice,
        language: String,
    },
    /// As [`Action::Play`](crate::Action::Play), then `finished`.
    Play { url: HttpUrl },
    /// As [`Action::Pause`](crate::Action::Pause), then `finished`.
    Pause { duration: Duration },
    /// Play confab's built-in hold music once, then `finished`.
    PlayHoldMusic,
    /// Worth a log line; no report expected.
    Warn(WaitWarning),
}

/// What went wrong with wait audio, short of the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitWarning {
    #[error("wait audio: {0}; playing the built-in hold music instead")]
    FellBack(AppError),
    #[error("wait audio: <{0}> is not allowed in waitUrl TwiML and was skipped")]
    NotAllowed(&'static str),
    #[error("wait audio: {0}")]
    Document(Warning),
}

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
    pub fn poll_action(&mut self) -> Option<WaitAction> {
        loop {
            let action = match self.runner.poll_step()? {
                Step::Fetch(request) => WaitAction::Fetch(request),
                Step::Say {
                    text,
                    voice,
                    language,
                } => WaitAction::Say {
                    text,
                    voice,
                    language,
                },
                Step::Play { url } => WaitAction::Play { url },
                Step::Pause { duration } => WaitAction::Pause { duration },
                Step::PlayAudio { body, content_type } => {
                    WaitAction::PlayAudio { body, content_type }
                }
                Step::PlayHoldMusic => WaitAction::PlayHoldMusic,
                Step::Warn(warning) => WaitAction::Warn(WaitWarning::Document(warning)),
                Step::NotAllowed(verb) => WaitAction::Warn(WaitWarning::NotAllowed(verb)),
                Step::FellBack(error) => WaitAction::Warn(WaitWarning::FellBack(error)),
                // Call-mode steps: a wait's runner makes none.
                Step::JoinConference { .. } | Step::PlayErrorTone | Step::Hangup { .. } => {
                    continue;
                }
            };
            return Some(action);
        }
    }

    /// The result of the last [`WaitAction::Fetch`].
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
