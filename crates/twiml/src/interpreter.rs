//! [`CallScript`]: one call's TwiML, run as a sans-IO state machine.
//!
//! The script never fetches, plays, waits or hangs up itself: it hands the
//! shell an [`Action`] and waits to be told how it went. Between a verb that
//! takes time and its report, [`CallScript::poll_action`] returns `None`.
//!
//! | action | the shell reports |
//! |---|---|
//! | [`Action::Fetch`] | [`CallScript::fetched`] |
//! | [`Action::Say`], [`Action::Play`], [`Action::Pause`] | [`CallScript::finished`], or [`CallScript::media_failed`] if the audio could not be made or fetched |
//! | [`Action::JoinConference`] | [`CallScript::left_conference`], or [`CallScript::join_failed`] |
//! | [`Action::PlayErrorTone`], [`Action::Warn`], [`Action::Hangup`] | nothing; play the tone to its end before the next action |
//!
//! Whenever the call ends (the caller hung up, or the shell carried out a
//! [`Action::Hangup`]), the shell calls [`CallScript::call_ended`] once and
//! sends the request it returns: 2008's end-of-call notification, the
//! initial URL again with `CallStatus=completed` (spec §10.1).
//!
//! Rules the 2008 documents leave open, as settled here:
//! - After the last verb the call hangs up ([`HangupReason::Normal`]).
//! - A fetch that fails (transport, timeout, non-2xx) or returns something
//!   that is not TwiML, at any point (voice URL, `<Redirect>`, `<Dial
//!   action>`), ends the call: [`Action::PlayErrorTone`], then
//!   [`Action::Hangup`] with [`HangupReason::ApplicationError`] for the shell
//!   to record on the call. The Content-Type is not consulted: 2009 apps
//!   served TwiML as `text/html` too, and whatever does not parse is an error.
//! - `loop="0"` on `<Say>`/`<Play>` repeats until the call ends; a play the
//!   shell reports as failed skips that verb's remaining repetitions.
//! - Redirect loops are bounded by [`MAX_FETCHES_IN_A_ROW`](crate::MAX_FETCHES_IN_A_ROW).
//! - Leaving a conference: the caller hanging up ends the script with no
//!   request (the call is gone; `call_ended` follows); a server shutdown
//!   hangs up; any other way out (kicked, `*`, `timeLimit`, the room ended)
//!   requests the `<Dial action>` with `DialStatus=answered`, or goes on with
//!   the next verb. A room that was full requests it with
//!   `DialStatus=failed` (`spec/decisions.md`, "Conference life").

use std::collections::VecDeque;
use std::time::Duration;

use conference::{JoinError, LeaveReason, ParticipantOptions};
use model::HttpMethod;

use crate::fetch::{FetchBudget, url_for_logs};
use crate::verbs::{Playing, Repeat, Voice, WaitAudio};
use crate::webhook::{CallInfo, CallStatus, DialStatus, WebhookRequest};
use crate::{AppError, Document, FetchError, FetchedBody, HttpUrl, Verb, Warning};

/// Something the shell should do for the call.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Request a TwiML document (sign it with the account's AuthToken) and
    /// report the result with [`CallScript::fetched`].
    Fetch(WebhookRequest),
    /// Speak `text` (espeak-ng), then [`CallScript::finished`].
    Say {
        text: String,
        voice: Voice,
        language: String,
    },
    /// Fetch and play a WAV or MP3, then [`CallScript::finished`].
    Play { url: HttpUrl },
    /// Play silence for `duration`, then [`CallScript::finished`].
    Pause { duration: Duration },
    /// Put the caller in the room `name` of the call's account, hearing
    /// `wait` while it has not started; leave it on `*` if `hangup_on_star`,
    /// and after `time_limit`. Then [`CallScript::left_conference`] (or
    /// [`CallScript::join_failed`]).
    JoinConference {
        name: String,
        options: ParticipantOptions,
        wait: WaitAudio,
        hangup_on_star: bool,
        time_limit: Duration,
    },
    /// Play the short application-error tone; a [`Action::Hangup`] follows.
    PlayErrorTone,
    /// Something in a document was tolerated: worth a log line.
    Warn(Warning),
    /// End the call. Nothing follows except the shell's
    /// [`CallScript::call_ended`].
    Hangup { reason: HangupReason },
}

/// Why the script hung up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupReason {
    /// `<Hangup>`, or no verbs left.
    Normal,
    /// The application failed us; the shell records the message on the call.
    ApplicationError(AppError),
    /// The server is shutting down.
    Shutdown,
}

/// The TwiML side of one call. See the [module docs](self) for the contract.
#[derive(Debug)]
pub struct CallScript {
    call: CallInfo,
    /// The voice URL and method, asked again when the call ends; `None` for
    /// a script that came with its document ([`CallScript::from_verbs`]).
    voice: Option<(HttpUrl, HttpMethod)>,
    actions: VecDeque<Action>,
    /// The rest of the current document.
    verbs: VecDeque<Verb>,
    state: State,
    budget: FetchBudget,
    completed_sent: bool,
}

/// What the script is waiting for.
#[derive(Debug)]
enum State {
    /// Nothing: run the next verb.
    Ready,
    Fetching {
        url: HttpUrl,
    },
    /// A Say or Play is playing, with the repetitions still to come.
    Playing(Playing<Action>),
    Pausing,
    InConference {
        action: Option<HttpUrl>,
        method: HttpMethod,
    },
    Ended,
}

impl CallScript {
    /// A script for an answered call whose number has this voice URL and
    /// method. Its first action fetches that URL.
    pub fn new(call: CallInfo, voice_url: HttpUrl, voice_method: HttpMethod) -> Self {
        let mut script = Self {
            call,
            voice: Some((voice_url.clone(), voice_method)),
            actions: VecDeque::new(),
            verbs: VecDeque::new(),
            state: State::Ready,
            budget: FetchBudget::default(),
            completed_sent: false,
        };
        let params = script.call.params(CallStatus::InProgress);
        script.fetch(WebhookRequest {
            url: voice_url,
            method: voice_method,
            params,
        });
        script
    }

    /// A script for a call that has no voice URL (confab's open rooms run
    /// a built-in `<Dial><Conference>`): it runs `verbs` at once, and makes
    /// no request unless they do (no end-of-call request either).
    pub fn from_verbs(call: CallInfo, verbs: Vec<Verb>) -> Self {
        let mut script = Self {
            call,
            voice: None,
            actions: VecDeque::new(),
            verbs: verbs.into(),
            state: State::Ready,
            budget: FetchBudget::default(),
            completed_sent: false,
        };
        script.run();
        script
    }

    /// The next thing to do, or `None` while waiting for a report (or after
    /// the end).
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether the script has hung up (or been told the call ended).
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// The result of the last [`Action::Fetch`].
    pub fn fetched(&mut self, result: Result<FetchedBody, FetchError>) {
        let State::Fetching { url } = &self.state else {
            return;
        };
        let requested = url_for_logs(url.as_url());
        match result {
            Err(error) => self.fail(AppError::Fetch {
                url: requested,
                error,
            }),
            Ok(response) => match Document::parse(&response.body, &response.url) {
                Err(error) => self.fail(AppError::Parse {
                    url: url_for_logs(&response.url),
                    error,
                }),
                Ok(document) => {
                    self.actions
                        .extend(document.warnings.into_iter().map(Action::Warn));
                    self.verbs = document.verbs.into();
                    self.state = State::Ready;
                    self.run();
                }
            },
        }
    }

    /// The last Say, Play or Pause played to its end.
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
            other => self.state = other,
        }
    }

    /// The last Say or Play could not be played (fetch, decode or TTS
    /// failed): its remaining repetitions are skipped and the script goes on.
    pub fn media_failed(&mut self) {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Playing(_) | State::Pausing => self.run(),
            other => self.state = other,
        }
    }

    /// The caller never got into the room (it was full, or the join was
    /// refused for another reason): the `<Dial>` ends with
    /// `DialStatus=failed`.
    pub fn join_failed(&mut self, error: &JoinError) {
        let _ = error; // Every refusal is a failed dial; the shell logs why.
        self.dial_ended(DialStatus::Failed);
    }

    /// The caller left the room.
    pub fn left_conference(&mut self, reason: LeaveReason) {
        if !matches!(self.state, State::InConference { .. }) {
            return;
        }
        self.budget.reset();
        match reason {
            LeaveReason::Hangup => {
                self.verbs.clear();
                self.state = State::Ended;
            }
            LeaveReason::Shutdown => self.end(HangupReason::Shutdown),
            LeaveReason::Kicked
            | LeaveReason::HangupOnStar
            | LeaveReason::TimeLimit
            | LeaveReason::ConferenceEnded => self.dial_ended(DialStatus::Answered),
        }
    }

    /// The call is over, whoever ended it. Returns the end-of-call request
    /// (the initial URL, its method, `CallStatus=completed`) the first time;
    /// `None` after that. The script does nothing more.
    #[must_use]
    pub fn call_ended(&mut self) -> Option<WebhookRequest> {
        self.actions.clear();
        self.verbs.clear();
        self.state = State::Ended;
        if self.completed_sent {
            return None;
        }
        self.completed_sent = true;
        let (url, method) = self.voice.clone()?;
        Some(WebhookRequest {
            url,
            method,
            params: self.call.params(CallStatus::Completed),
        })
    }

    /// Runs verbs until one needs the shell, or the document ends.
    fn run(&mut self) {
        while matches!(self.state, State::Ready) {
            let Some(verb) = self.verbs.pop_front() else {
                self.end(HangupReason::Normal);
                return;
            };
            match verb {
                Verb::Say(say) => self.play(
                    Action::Say {
                        text: say.text,
                        voice: say.voice,
                        language: say.language,
                    },
                    say.repeat,
                ),
                Verb::Play(play) => self.play(Action::Play { url: play.url }, play.repeat),
                Verb::Pause(pause) => {
                    self.actions.push_back(Action::Pause {
                        duration: pause.length,
                    });
                    self.state = State::Pausing;
                }
                Verb::Redirect(redirect) => {
                    let params = self.call.params(CallStatus::InProgress);
                    self.fetch(WebhookRequest {
                        url: redirect.url,
                        method: redirect.method,
                        params,
                    });
                }
                Verb::Hangup => self.end(HangupReason::Normal),
                Verb::Dial(dial) => {
                    let conference = dial.conference;
                    self.actions.push_back(Action::JoinConference {
                        name: conference.name,
                        options: conference.options,
                        wait: conference.wait,
                        hangup_on_star: dial.hangup_on_star,
                        time_limit: dial.time_limit,
                    });
                    self.state = State::InConference {
                        action: dial.action,
                        method: dial.method,
                    };
                }
            }
        }
    }

    fn play(&mut self, action: Action, repeat: Repeat) {
        let (first, playing) = Playing::start(action, repeat);
        self.actions.push_back(first);
        self.state = State::Playing(playing);
    }

    /// A `<Dial>` is over: its `action`, or the next verb.
    fn dial_ended(&mut self, status: DialStatus) {
        if !matches!(self.state, State::InConference { .. }) {
            return;
        }
        let State::InConference { action, method } =
            std::mem::replace(&mut self.state, State::Ready)
        else {
            return;
        };
        match action {
            Some(url) => {
                let mut params = self.call.params(CallStatus::InProgress);
                params.push("DialStatus", status.as_str());
                self.fetch(WebhookRequest {
                    url,
                    method,
                    params,
                });
            }
            None => self.run(),
        }
    }

    /// Asks for a new document, which replaces what is left of this one.
    fn fetch(&mut self, request: WebhookRequest) {
        self.verbs.clear();
        match self.budget.spend(request.url.as_url()) {
            Err(error) => self.fail(error),
            Ok(()) => {
                self.state = State::Fetching {
                    url: request.url.clone(),
                };
                self.actions.push_back(Action::Fetch(request));
            }
        }
    }

    fn fail(&mut self, error: AppError) {
        self.actions.push_back(Action::PlayErrorTone);
        self.end(HangupReason::ApplicationError(error));
    }

    fn end(&mut self, reason: HangupReason) {
        self.verbs.clear();
        self.actions.push_back(Action::Hangup { reason });
        self.state = State::Ended;
    }
}
