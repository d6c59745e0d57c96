//! [`CallScript`]: one call's TwiML, run as a sans-IO state machine: the
//! [one verb runner](crate::runner) in call mode.
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
//! | [`Action::AwaitDigits`] | [`CallScript::digit`] for each key, or [`CallScript::gather_timed_out`] |
//! | [`Action::PlayErrorTone`], [`Action::Warn`], [`Action::Hangup`] | nothing; play the tone to its end before the next action |
//!
//! Whenever the call ends (the caller hung up, or the shell carried out a
//! [`Action::Hangup`]), the shell calls [`CallScript::call_ended`] once and
//! sends the request it returns: 2008's end-of-call notification, the
//! initial URL again with `CallStatus=completed` (spec §10.1).
//!
//! Rules the 2008 documents leave open, as settled here:
//! - After the last verb the call hangs up ([`HangupReason::Normal`](crate::HangupReason::Normal)).
//! - A fetch that fails (transport, timeout, non-2xx) or returns something
//!   that is not TwiML, at any point (voice URL, `<Redirect>`, `<Dial
//!   action>`), ends the call: [`Action::PlayErrorTone`], then
//!   [`Action::Hangup`] with [`HangupReason::ApplicationError`](crate::HangupReason::ApplicationError) for the shell
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
//! - `<Gather>` (today's, DTMF only): its nested `<Say>`/`<Play>`/`<Pause>`
//!   play in order; the shell reports every key the caller presses while
//!   the call is out of a room ([`CallScript::digit`]). A key during a
//!   prompt stops it (barge-in); then [`Action::AwaitDigits`] asks for the
//!   `timeout` to run again. The gather ends on the `finishOnKey` (not part
//!   of `Digits`), on `numDigits` keys, or when the wait runs out: with
//!   keys, the action is requested with `Digits` and `FinishedOnKey`, and
//!   its document replaces this one; with none, the next verb runs (or,
//!   with `actionOnEmptyResult`, the action with `Digits=""`). A
//!   `finishOnKey` pressed first counts as no keys. With no `action`, the
//!   keys go to the URL the document was requested from (before a GET's
//!   parameters); a script that came with its verbs has no such URL, and
//!   its actionless `<Gather>` goes on with the next verb. Keys pressed while no
//!   `<Gather>` is under way (before it, between documents) are dropped,
//!   not kept for the next `<Gather>`: Twilio drops them too.

use conference::{JoinError, LeaveReason};
use model::HttpMethod;

use crate::runner::{Action, Runner};
use crate::webhook::{CallInfo, DialStatus, WebhookRequest};
use crate::{FetchError, FetchedBody, HttpUrl, Verb};

/// The TwiML side of one call: the [one verb runner](crate::runner) in
/// call mode. See the [module docs](self) for the contract.
#[derive(Debug)]
pub struct CallScript {
    runner: Runner,
}

impl CallScript {
    /// A script for an answered call whose number has this voice URL and
    /// method. Its first action fetches that URL.
    pub fn new(call: CallInfo, voice_url: HttpUrl, voice_method: HttpMethod) -> Self {
        Self {
            runner: Runner::call(call, voice_url, voice_method),
        }
    }

    /// A script for a call that has no voice URL (confab's open rooms run
    /// a built-in `<Dial><Conference>`): it runs `verbs` at once, and makes
    /// no request unless they do (no end-of-call request either).
    pub fn from_verbs(call: CallInfo, verbs: Vec<Verb>) -> Self {
        Self {
            runner: Runner::call_from_verbs(call, verbs),
        }
    }

    /// The next thing to do, or `None` while waiting for a report (or after
    /// the end).
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.runner.poll_action()
    }

    /// Whether the script has hung up (or been told the call ended).
    pub fn is_ended(&self) -> bool {
        self.runner.is_ended()
    }

    /// Whether a `<Gather>` is under way: the shell should hear the
    /// caller's keys promptly (in-band keys are heard only while the
    /// call's media is read every 20 ms).
    pub fn gathering(&self) -> bool {
        self.runner.gathering()
    }

    /// The caller pressed `key` (`0`–`9`, `*`, `#`, `A`–`D`), out of a
    /// room. Returns whether a `<Gather>` took it; if it did while a Say,
    /// Play or Pause of its prompt was under way, that prompt is over:
    /// the shell stops it and reports nothing more about it. Other keys
    /// are dropped.
    #[must_use]
    pub fn digit(&mut self, key: char) -> bool {
        self.runner.digit(key)
    }

    /// The last [`Action::AwaitDigits`] ran out with no key.
    pub fn gather_timed_out(&mut self) {
        self.runner.gather_timed_out();
    }

    /// Whether a `<Dial><Conference>` is under way.
    pub fn in_conference(&self) -> bool {
        self.runner.in_conference()
    }

    /// The result of the last [`Action::Fetch`].
    pub fn fetched(&mut self, result: Result<FetchedBody, FetchError>) {
        self.runner.fetched(result);
    }

    /// The last Say, Play or Pause played to its end.
    pub fn finished(&mut self) {
        self.runner.finished();
    }

    /// The last Say or Play could not be played (fetch, decode or TTS
    /// failed): its remaining repetitions are skipped and the script goes on.
    pub fn media_failed(&mut self) {
        self.runner.media_failed();
    }

    /// The caller never got into the room (it was full, or the join was
    /// refused for another reason): the `<Dial>` ends with
    /// `DialStatus=failed`.
    pub fn join_failed(&mut self, error: &JoinError) {
        let _ = error; // Every refusal is a failed dial; the shell logs why.
        self.runner.dial_ended(DialStatus::Failed);
    }

    /// The caller left the room.
    pub fn left_conference(&mut self, reason: LeaveReason) {
        self.runner.left_conference(reason);
    }

    /// The call is over, whoever ended it. Returns the end-of-call request
    /// (the initial URL, its method, `CallStatus=completed`) the first time;
    /// `None` after that. The script does nothing more.
    #[must_use]
    pub fn call_ended(&mut self) -> Option<WebhookRequest> {
        self.runner.call_ended()
    }
}
