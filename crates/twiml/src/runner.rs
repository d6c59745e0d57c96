//! The one verb runner: a document's verbs, run one at a time as
//! [`Action`]s the shell carries out, in one of two modes.
//!
//! - Call mode is a call's script ([`CallScript`](crate::CallScript)):
//!   the end of the document, `<Hangup>` and a failed fetch end the call;
//!   `<Dial>` joins a conference; `<Gather>` plays its prompts and collects
//!   the caller's keys (`Gathering`).
//! - Wait mode is a conference's wait audio
//!   ([`WaitScript`](crate::WaitScript)): an `audio/*` response is played as
//!   it is, `<Dial>` and `<Hangup>` are refused with a warning, the end of
//!   the document fetches the `waitUrl` again, and a failure falls back to
//!   the built-in hold music instead of ending anything; `<Gather>` is
//!   refused like `<Dial>`.
//!
//! Everything else (`<Say>`, `<Play>` and their `loop`, `<Pause>`,
//! `<Redirect>`, parsing a fetched document, the fetch budget) is the same
//! code in both modes.

use std::collections::VecDeque;
use std::time::Duration;

use model::{CallSid, HttpMethod, StatusCallback};

use crate::fetch::{FetchBudget, url_for_logs};
use media::Repeat;

use crate::verbs::{Gather, Prompt, Voice, WaitAudio};
use crate::webhook::{CallInfo, DialStatus, Params, WebhookCallStatus, WebhookRequest};
use crate::{AppError, Document, FetchError, FetchedBody, HttpUrl, Verb, Warning};
use conference::{LeaveReason, ParticipantOptions};

/// Why a call's script hung up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupReason {
    /// `<Hangup>`, or no verbs left.
    Normal,
    /// The application failed us; the shell records the message on the call.
    ApplicationError(AppError),
    /// The server is shutting down.
    Shutdown,
}

/// Something the shell should do for a call's script or a wait script.
/// Each variant says which mode makes it and what to report back.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Request a TwiML document (a call's: sign it with the account's
    /// AuthToken), then `fetched`.
    Fetch(WebhookRequest),
    /// Speak `text` (espeak-ng), then `finished` (or `media_failed`).
    Say {
        text: String,
        voice: Voice,
        language: String,
    },
    /// Fetch and play a WAV or MP3, then `finished` (or `media_failed`).
    Play { url: HttpUrl },
    /// Play silence for `duration`, then `finished`.
    Pause { duration: Duration },
    /// Wait mode: play a fetched audio response (WAV or MP3), then
    /// `finished` (or `media_failed`).
    PlayAudio { body: Vec<u8>, content_type: String },
    /// Wait mode: play confab's built-in hold music once, then `finished`.
    PlayHoldMusic,
    /// Call mode: put the caller in the room `name` of the call's account,
    /// hearing `wait` while it has not started; leave it on `*` if
    /// `hangup_on_star`, and after `time_limit`. Then `left_conference` (or
    /// `join_failed`). `label`, `coach` and `status_callback` are the
    /// `<Conference>`'s `participantLabel`, `coach` and `statusCallback…`.
    JoinConference {
        name: String,
        options: ParticipantOptions,
        wait: WaitAudio,
        hangup_on_star: bool,
        time_limit: Duration,
        label: Option<String>,
        coach: Option<CallSid>,
        status_callback: Option<StatusCallback>,
    },
    /// Call mode: a `<Gather>` waits for a key: its prompts are over, or a
    /// key was pressed. Report each key with `digit`, and `gather_timed_out`
    /// if none comes within `timeout` (each `AwaitDigits` starts the wait
    /// afresh). Keys pressed during the prompts are reported with `digit`
    /// too, and stop the prompt being played (barge-in).
    AwaitDigits { timeout: Duration },
    /// Call mode: play the short application-error tone; a
    /// [`Action::Hangup`] follows.
    PlayErrorTone,
    /// Something in a document was tolerated (either mode): worth a log line.
    Warn(Warning),
    /// Wait mode: the wait refused a verb or fell back: worth a log line.
    WaitWarn(WaitWarning),
    /// Call mode: end the call. Nothing follows except the shell's
    /// `call_ended`.
    Hangup { reason: HangupReason },
}

/// What went wrong with wait audio, short of the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitWarning {
    #[error("wait audio: {0}; playing the built-in hold music instead")]
    FellBack(AppError),
    #[error("wait audio: <{0}> is not allowed in waitUrl TwiML and was skipped")]
    NotAllowed(&'static str),
    /// Something in a wait document was tolerated: a wait script's
    /// [`Action::Warn`], in the words a shell logs it with.
    #[error("wait audio: {0}")]
    Document(Warning),
}

/// Where the verbs come from and what ends them.
#[derive(Debug)]
pub(crate) enum Mode {
    Call {
        /// The voice URL and method, asked again when the call ends; `None`
        /// for a script that came with its document.
        voice: Option<(HttpUrl, HttpMethod)>,
        completed_sent: bool,
    },
    Wait {
        /// The `waitUrl`; `None` once the wait plays built-in music.
        source: Option<(HttpUrl, HttpMethod)>,
    },
}

/// What the runner is waiting for.
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
    /// Wait mode: a fetched audio response is playing.
    PlayingResponse,
    /// Wait mode: the hold music is playing.
    HoldMusic,
    /// Wait mode: nothing to play, ever.
    Silent,
    /// Call mode: a `<Gather>` plays its prompts or waits for keys.
    Gathering(Box<Gathering>),
    /// Call mode: in a conference, with the `<Dial>`'s action.
    InConference {
        action: Option<HttpUrl>,
        method: HttpMethod,
    },
    /// Call mode: hung up.
    Ended,
}

/// The runner. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Runner {
    call: CallInfo,
    mode: Mode,
    steps: VecDeque<Action>,
    /// The rest of the current document.
    verbs: VecDeque<Verb>,
    /// The URL the current document was requested from (as named, before
    /// a GET's parameters): a `<Gather>`'s default action.
    document: Option<HttpUrl>,
    state: State,
    budget: FetchBudget,
}

impl Runner {
    /// A call's script that starts by fetching the voice URL.
    pub(crate) fn call(call: CallInfo, url: HttpUrl, method: HttpMethod) -> Self {
        let mut runner = Self::with_mode(
            call,
            Mode::Call {
                voice: Some((url.clone(), method)),
                completed_sent: false,
            },
        );
        runner.fetch(url, method, Params::new());
        runner
    }

    /// A call's script that comes with its verbs.
    pub(crate) fn call_from_verbs(call: CallInfo, verbs: Vec<Verb>) -> Self {
        let mut runner = Self::with_mode(
            call,
            Mode::Call {
                voice: None,
                completed_sent: false,
            },
        );
        runner.verbs = verbs.into();
        runner.run();
        runner
    }

    /// A conference's wait audio.
    pub(crate) fn wait(call: CallInfo, wait: WaitAudio) -> Self {
        let mut runner = Self::with_mode(call, Mode::Wait { source: None });
        match wait {
            WaitAudio::Silence => runner.state = State::Silent,
            WaitAudio::BuiltIn => runner.hold_music(),
            WaitAudio::Url { url, method } => {
                runner.mode = Mode::Wait {
                    source: Some((url, method)),
                };
                runner.fetch_source();
            }
        }
        runner
    }

    fn with_mode(call: CallInfo, mode: Mode) -> Self {
        Self {
            call,
            mode,
            steps: VecDeque::new(),
            verbs: VecDeque::new(),
            document: None,
            state: State::Ready,
            budget: FetchBudget::default(),
        }
    }

    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.steps.pop_front()
    }

    pub(crate) fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// The result of the last [`Action::Fetch`].
    pub(crate) fn fetched(&mut self, result: Result<FetchedBody, FetchError>) {
        let State::Fetching { url } = &self.state else {
            return;
        };
        let requested = url.clone();
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let url = url_for_logs(url.as_url());
                return self.fail(AppError::Fetch { url, error });
            }
        };
        if self.is_wait() && response.is_audio() {
            self.steps.push_back(Action::PlayAudio {
                content_type: response.content_type.unwrap_or_default(),
                body: response.body,
            });
            self.state = State::PlayingResponse;
            return;
        }
        match Document::parse(&response.body, &response.url) {
            Err(error) => self.fail(AppError::Parse {
                url: url_for_logs(&response.url),
                error,
            }),
            Ok(document) => {
                self.document = Some(requested);
                self.steps
                    .extend(document.warnings.into_iter().map(Action::Warn));
                self.verbs = document.verbs.into();
                self.state = State::Ready;
                self.run();
            }
        }
    }

    /// The last thing played (or the pause) ended.
    pub(crate) fn finished(&mut self) {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Playing(playing) => {
                self.budget.reset();
                match playing.next() {
                    Some((step, rest)) => {
                        self.steps.push_back(step);
                        self.state = State::Playing(rest);
                    }
                    None => self.run(),
                }
            }
            State::Pausing => {
                self.budget.reset();
                self.run();
            }
            State::Gathering(mut gathering) => {
                self.budget.reset();
                match std::mem::replace(&mut gathering.step, Step::Listening) {
                    Step::Prompt(Some(playing)) => match playing.next() {
                        Some((step, rest)) => {
                            self.steps.push_back(step);
                            gathering.step = Step::Prompt(Some(Box::new(rest)));
                            self.state = State::Gathering(gathering);
                        }
                        None => self.prompt(gathering),
                    },
                    Step::Prompt(None) => self.prompt(gathering),
                    Step::Listening => self.state = State::Gathering(gathering),
                }
            }
            State::PlayingResponse => {
                self.budget.reset();
                self.fetch_source();
            }
            State::HoldMusic => self.hold_music(),
            other => self.state = other,
        }
    }

    /// The last thing could not be played. A verb is skipped; a fetched
    /// audio response is fetched again (the fetch bound still applies,
    /// since nothing was heard); if even the hold music fails, the wait goes
    /// silent rather than spin.
    pub(crate) fn media_failed(&mut self) {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Playing(_) | State::Pausing => self.run(),
            State::Gathering(gathering) => match gathering.step {
                Step::Prompt(_) => self.prompt(gathering),
                Step::Listening => self.state = State::Gathering(gathering),
            },
            State::PlayingResponse => self.fetch_source(),
            State::HoldMusic => self.state = State::Silent,
            other => self.state = other,
        }
    }

    /// Call mode: the caller pressed `key`. Returns whether a `<Gather>`
    /// took it; if it did while a prompt played, that prompt is over (the
    /// shell stops it, and reports nothing more about it). Keys pressed
    /// with no `<Gather>` under way are dropped, as Twilio drops them.
    pub(crate) fn digit(&mut self, key: char) -> bool {
        let State::Gathering(gathering) = &mut self.state else {
            return false;
        };
        if gathering.gather.finish_on_key == Some(key) {
            self.gathered(Some(key));
            return true;
        }
        gathering.digits.push(key);
        let enough = gathering
            .gather
            .num_digits
            .is_some_and(|n| gathering.digits.len() >= n as usize);
        if enough || gathering.digits.len() >= MAX_DIGITS {
            self.gathered(None);
            return true;
        }
        // Barge-in: the prompts are over; the wait starts again.
        gathering.step = Step::Listening;
        let timeout = gathering.gather.timeout;
        self.steps.push_back(Action::AwaitDigits { timeout });
        true
    }

    /// Call mode: the last [`Action::AwaitDigits`] ran out: the `<Gather>`
    /// ends with the keys it has.
    pub(crate) fn gather_timed_out(&mut self) {
        if matches!(
            &self.state,
            State::Gathering(gathering) if gathering.step == Step::Listening
        ) {
            self.gathered(None);
        }
    }

    /// Call mode: whether a `<Gather>` is under way (its prompts, or the
    /// wait for keys).
    pub(crate) fn gathering(&self) -> bool {
        matches!(self.state, State::Gathering(_))
    }

    /// Call mode: whether a `<Dial>` is under way.
    pub(crate) fn in_conference(&self) -> bool {
        matches!(self.state, State::InConference { .. })
    }

    /// Call mode: the caller left the room. Hanging up ends the script
    /// with no request; a shutdown hangs up; any other way out ends the
    /// `<Dial>` with `DialStatus=answered`.
    pub(crate) fn left_conference(&mut self, reason: LeaveReason) {
        if !self.in_conference() {
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

    /// Call mode: a `<Dial>` is over: its `action`, or the next verb.
    pub(crate) fn dial_ended(&mut self, status: DialStatus) {
        if !self.in_conference() {
            return;
        }
        let State::InConference { action, method } =
            std::mem::replace(&mut self.state, State::Ready)
        else {
            return;
        };
        match action {
            Some(url) => {
                let mut extra = Params::new();
                extra.push("DialStatus", status.as_str());
                self.fetch(url, method, extra);
            }
            None => self.run(),
        }
    }

    /// Call mode: the call is over. The end-of-call request the first time,
    /// if the script has a voice URL.
    pub(crate) fn call_ended(&mut self) -> Option<WebhookRequest> {
        self.steps.clear();
        self.verbs.clear();
        self.state = State::Ended;
        let Mode::Call {
            voice,
            completed_sent,
        } = &mut self.mode
        else {
            return None;
        };
        if std::mem::replace(completed_sent, true) {
            return None;
        }
        let (url, method) = voice.clone()?;
        Some(WebhookRequest {
            url,
            method,
            params: self.call.params(WebhookCallStatus::Completed),
        })
    }

    fn is_wait(&self) -> bool {
        matches!(self.mode, Mode::Wait { .. })
    }

    /// Runs verbs until one needs the shell, or the document ends.
    fn run(&mut self) {
        while matches!(self.state, State::Ready) {
            let Some(verb) = self.verbs.pop_front() else {
                if self.is_wait() {
                    self.fetch_source();
                } else {
                    self.end(HangupReason::Normal);
                }
                return;
            };
            match verb {
                Verb::Gather(_) if self.is_wait() => {
                    self.steps
                        .push_back(Action::WaitWarn(WaitWarning::NotAllowed("Gather")));
                }
                Verb::Gather(gather) => self.gather(gather),
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
                    self.steps.push_back(Action::Pause {
                        duration: pause.length,
                    });
                    self.state = State::Pausing;
                }
                Verb::Redirect(redirect) => {
                    self.fetch(redirect.url, redirect.method, Params::new());
                }
                Verb::Hangup if self.is_wait() => {
                    self.steps
                        .push_back(Action::WaitWarn(WaitWarning::NotAllowed("Hangup")));
                }
                Verb::Hangup => self.end(HangupReason::Normal),
                Verb::Dial(_) if self.is_wait() => {
                    self.steps
                        .push_back(Action::WaitWarn(WaitWarning::NotAllowed("Dial")));
                }
                Verb::Dial(dial) => {
                    let dial = *dial;
                    let conference = dial.conference;
                    self.steps.push_back(Action::JoinConference {
                        name: conference.name,
                        options: conference.options,
                        wait: conference.wait,
                        hangup_on_star: dial.hangup_on_star,
                        time_limit: dial.time_limit,
                        label: conference.label,
                        coach: conference.coach,
                        status_callback: conference.status_callback,
                    });
                    self.state = State::InConference {
                        action: dial.action,
                        method: dial.method,
                    };
                }
            }
        }
    }

    /// Starts a `<Gather>`: its first prompt, or the wait for keys.
    fn gather(&mut self, mut gather: Gather) {
        let prompts = std::mem::take(&mut gather.prompts).into();
        self.prompt(Box::new(Gathering {
            gather,
            prompts,
            step: Step::Prompt(None),
            digits: String::new(),
        }));
    }

    /// The `<Gather>`'s next prompt, or, with none left, the wait for keys.
    fn prompt(&mut self, mut gathering: Box<Gathering>) {
        gathering.step = match gathering.prompts.pop_front() {
            Some(Prompt::Say(say)) => {
                let action = Action::Say {
                    text: say.text,
                    voice: say.voice,
                    language: say.language,
                };
                let (first, playing) = Playing::start(action, say.repeat);
                self.steps.push_back(first);
                Step::Prompt(Some(Box::new(playing)))
            }
            Some(Prompt::Play(play)) => {
                let (first, playing) = Playing::start(Action::Play { url: play.url }, play.repeat);
                self.steps.push_back(first);
                Step::Prompt(Some(Box::new(playing)))
            }
            Some(Prompt::Pause(pause)) => {
                self.steps.push_back(Action::Pause {
                    duration: pause.length,
                });
                Step::Prompt(None)
            }
            None => {
                self.steps.push_back(Action::AwaitDigits {
                    timeout: gathering.gather.timeout,
                });
                Step::Listening
            }
        };
        self.state = State::Gathering(gathering);
    }

    /// The `<Gather>` is over, ended by `finished_on` or not: its action
    /// with `Digits` (and `FinishedOnKey`, as Twilio sends it, empty unless
    /// a key ended it), or, with no keys and no `actionOnEmptyResult`, the
    /// next verb.
    fn gathered(&mut self, finished_on: Option<char>) {
        let State::Gathering(gathering) = std::mem::replace(&mut self.state, State::Ready) else {
            return;
        };
        let Gathering { gather, digits, .. } = *gathering;
        let action = gather.action.or_else(|| self.document.clone());
        let Some(action) = action.filter(|_| !digits.is_empty() || gather.action_on_empty_result)
        else {
            return self.run();
        };
        let mut extra = Params::new();
        extra.push("Digits", digits);
        extra.push(
            "FinishedOnKey",
            finished_on.map(String::from).unwrap_or_default(),
        );
        self.fetch(action, gather.method, extra);
    }

    fn play(&mut self, step: Action, repeat: Repeat) {
        let (first, playing) = Playing::start(step, repeat);
        self.steps.push_back(first);
        self.state = State::Playing(playing);
    }

    /// Wait mode: the `waitUrl` again, from the top (or the hold music if
    /// there is none).
    fn fetch_source(&mut self) {
        match &self.mode {
            Mode::Wait {
                source: Some((url, method)),
            } => {
                let (url, method) = (url.clone(), *method);
                self.fetch(url, method, Params::new());
            }
            _ => self.hold_music(),
        }
    }

    /// Asks for a new document, which replaces what is left of this one,
    /// with the call's parameters and then `extra` (`DialStatus`, `Digits`).
    fn fetch(&mut self, url: HttpUrl, method: HttpMethod, extra: Params) {
        self.verbs.clear();
        if let Err(error) = self.budget.spend(url.as_url()) {
            return self.fail(error);
        }
        let mut params = self.call.params(WebhookCallStatus::InProgress);
        for (name, value) in extra.iter() {
            params.push(name, value);
        }
        self.state = State::Fetching { url: url.clone() };
        self.steps.push_back(Action::Fetch(WebhookRequest {
            url,
            method,
            params,
        }));
    }

    /// The application failed: a call plays the error tone and hangs up; a
    /// wait falls back to the hold music for good.
    fn fail(&mut self, error: AppError) {
        self.verbs.clear();
        match &mut self.mode {
            Mode::Wait { source } => {
                *source = None;
                self.steps
                    .push_back(Action::WaitWarn(WaitWarning::FellBack(error)));
                self.hold_music();
            }
            Mode::Call { .. } => {
                self.steps.push_back(Action::PlayErrorTone);
                self.end(HangupReason::ApplicationError(error));
            }
        }
    }

    fn hold_music(&mut self) {
        self.steps.push_back(Action::PlayHoldMusic);
        self.state = State::HoldMusic;
    }

    fn end(&mut self, reason: HangupReason) {
        self.verbs.clear();
        self.steps.push_back(Action::Hangup { reason });
        self.state = State::Ended;
    }
}

/// The most keys one `<Gather>` keeps: a caller who presses more (with no
/// `numDigits`, no `finishOnKey`) ends it there, so a stream of hostile
/// RFC 4733 events cannot grow a call without bound.
pub const MAX_DIGITS: usize = 128;

/// A `<Gather>` under way.
#[derive(Debug)]
pub(crate) struct Gathering {
    gather: Gather,
    /// The prompts still to play.
    prompts: VecDeque<Prompt>,
    step: Step,
    /// The keys so far, without the `finishOnKey`.
    digits: String,
}

/// Where a `<Gather>` is.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A prompt plays: a Say or Play with its repetitions still to come,
    /// or a Pause (`None`).
    Prompt(Option<Box<Playing<Action>>>),
    /// The prompts are over: waiting for a key.
    Listening,
}

/// A Say or Play in progress and how many more times it plays.
#[derive(Debug, PartialEq, Eq)]
struct Playing<A> {
    action: A,
    /// The plays still to come after the current one.
    left: Option<Repeat>,
}

impl<A: Clone> Playing<A> {
    /// The first play to hand the shell, and what to keep meanwhile. A
    /// verb always plays at least once (`loop` never says zero times: 0 is
    /// [`Repeat::Forever`]).
    fn start(action: A, repeat: Repeat) -> (A, Self) {
        let left = match repeat {
            Repeat::Forever => Some(Repeat::Forever),
            Repeat::Times(n) if n > 1 => Some(Repeat::Times(n - 1)),
            Repeat::Times(_) => None,
        };
        (action.clone(), Self { action, left })
    }

    /// After a play ended: the next one, or `None` when the loop is done.
    fn next(self) -> Option<(A, Self)> {
        let left = self.left?;
        Some(Self::start(self.action, left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plays(repeat: Repeat, most: usize) -> Vec<char> {
        let (first, mut playing) = Playing::start('a', repeat);
        let mut plays = vec![first];
        while let Some((next, rest)) = playing.next() {
            plays.push(next);
            playing = rest;
            if plays.len() == most {
                break;
            }
        }
        plays
    }

    #[test]
    fn playing_hands_out_each_repetition_then_stops() {
        assert_eq!(plays(Repeat::from_twiml_loop(3), 10), ['a', 'a', 'a']);
        assert_eq!(plays(Repeat::Times(1), 10), ['a']);
        assert_eq!(plays(Repeat::from_twiml_loop(0), 10).len(), 10);
    }
}
