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

use std::collections::VecDeque;
use std::time::Duration;

use model::HttpMethod;

use crate::fetch::{FetchBudget, url_for_logs};
use crate::verbs::{Playing, Repeat, Voice, WaitAudio};
use crate::webhook::{CallInfo, CallStatus, WebhookRequest};
use crate::{AppError, Document, FetchError, FetchedBody, HttpUrl, Verb, Warning};

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

/// One participant's wait audio. See the [module docs](self).
#[derive(Debug)]
pub struct WaitScript {
    call: CallInfo,
    /// `None` once the script plays built-in music or silence.
    source: Option<(HttpUrl, HttpMethod)>,
    actions: VecDeque<WaitAction>,
    verbs: VecDeque<Verb>,
    state: State,
    budget: FetchBudget,
}

#[derive(Debug)]
enum State {
    Ready,
    Fetching {
        url: HttpUrl,
    },
    /// A TwiML Say or Play, with the repetitions still to come.
    Playing(Playing<WaitAction>),
    Pausing,
    PlayingResponse,
    HoldMusic,
    Silent,
}

impl WaitScript {
    pub fn new(wait: WaitAudio, call: CallInfo) -> Self {
        let mut script = Self {
            call,
            source: None,
            actions: VecDeque::new(),
            verbs: VecDeque::new(),
            state: State::Silent,
            budget: FetchBudget::default(),
        };
        match wait {
            WaitAudio::Silence => {}
            WaitAudio::BuiltIn => script.hold_music(),
            WaitAudio::Url { url, method } => {
                script.source = Some((url, method));
                script.state = State::Ready;
                script.fetch_source();
            }
        }
        script
    }

    /// The next thing to play or fetch; `None` while something plays, and
    /// always for silence.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<WaitAction> {
        self.actions.pop_front()
    }

    /// The result of the last [`WaitAction::Fetch`].
    pub fn fetched(&mut self, result: Result<FetchedBody, FetchError>) {
        let State::Fetching { url } = &self.state else {
            return;
        };
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let url = url_for_logs(url.as_url());
                return self.fall_back(AppError::Fetch { url, error });
            }
        };
        if response.is_audio() {
            self.actions.push_back(WaitAction::PlayAudio {
                content_type: response.content_type.unwrap_or_default(),
                body: response.body,
            });
            self.state = State::PlayingResponse;
            return;
        }
        match Document::parse(&response.body, &response.url) {
            Err(error) => self.fall_back(AppError::Parse {
                url: url_for_logs(&response.url),
                error,
            }),
            Ok(document) => {
                self.actions.extend(
                    document
                        .warnings
                        .into_iter()
                        .map(|w| WaitAction::Warn(WaitWarning::Document(w))),
                );
                self.verbs = document.verbs.into();
                self.state = State::Ready;
                self.run();
            }
        }
    }

    /// The last thing played (or the pause) ended.
    pub fn finished(&mut self) {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Playing(playing) => {
                self.budget.reset();
                match playing.next() {
                    Some((action, rest)) => {
                        self.actions.push_back(action);
                        self.state = State::Playing(rest);
                    }
                    None => self.run(),
                }
            }
            State::Pausing => {
                self.budget.reset();
                self.run();
            }
            State::PlayingResponse => {
                self.budget.reset();
                self.fetch_source();
            }
            State::HoldMusic => self.hold_music(),
            other => self.state = other,
        }
    }

    /// The last thing could not be played. A TwiML verb is skipped; a
    /// fetched audio response is fetched again (the fetch bound still
    /// applies, since nothing was heard); if even the built-in music fails,
    /// the wait goes silent rather than spin.
    pub fn media_failed(&mut self) {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Playing(_) | State::Pausing => self.run(),
            State::PlayingResponse => self.fetch_source(),
            State::HoldMusic => self.state = State::Silent,
            other => self.state = other,
        }
    }

    fn run(&mut self) {
        while matches!(self.state, State::Ready) {
            let Some(verb) = self.verbs.pop_front() else {
                self.fetch_source();
                return;
            };
            match verb {
                Verb::Say(say) => self.play(
                    WaitAction::Say {
                        text: say.text,
                        voice: say.voice,
                        language: say.language,
                    },
                    say.repeat,
                ),
                Verb::Play(play) => self.play(WaitAction::Play { url: play.url }, play.repeat),
                Verb::Pause(pause) => {
                    self.actions.push_back(WaitAction::Pause {
                        duration: pause.length,
                    });
                    self.state = State::Pausing;
                }
                Verb::Redirect(redirect) => {
                    self.fetch(redirect.url, redirect.method);
                }
                Verb::Dial(_) => self.not_allowed("Dial"),
                Verb::Hangup => self.not_allowed("Hangup"),
            }
        }
    }

    fn play(&mut self, action: WaitAction, repeat: Repeat) {
        let (first, playing) = Playing::start(action, repeat);
        self.actions.push_back(first);
        self.state = State::Playing(playing);
    }

    fn not_allowed(&mut self, verb: &'static str) {
        self.actions
            .push_back(WaitAction::Warn(WaitWarning::NotAllowed(verb)));
    }

    /// The `waitUrl` again, from the top.
    fn fetch_source(&mut self) {
        match self.source.clone() {
            Some((url, method)) => self.fetch(url, method),
            None => self.hold_music(),
        }
    }

    fn fetch(&mut self, url: HttpUrl, method: HttpMethod) {
        self.verbs.clear();
        if let Err(error) = self.budget.spend(url.as_url()) {
            return self.fall_back(error);
        }
        self.state = State::Fetching { url: url.clone() };
        self.actions.push_back(WaitAction::Fetch(WebhookRequest {
            url,
            method,
            params: self.call.params(CallStatus::InProgress),
        }));
    }

    fn fall_back(&mut self, error: AppError) {
        self.source = None;
        self.verbs.clear();
        self.actions
            .push_back(WaitAction::Warn(WaitWarning::FellBack(error)));
        self.hold_music();
    }

    fn hold_music(&mut self) {
        self.actions.push_back(WaitAction::PlayHoldMusic);
        self.state = State::HoldMusic;
    }
}
