//! TwiML for confab, sans-IO: parse a document into typed verbs,
//! run a call's script as a stream of actions, and build the signed webhook
//! requests that fetch the documents.
//!
//! - [`Document::parse`] ([`parse`], one file a verb under [`verbs`])
//!   turns response bytes into [`Verb`]s: `<Say> <Play> <Pause> <Redirect>
//!   <Hangup> <Dial><Conference>` and today's `<Gather>`, with relative URLs
//!   resolved against the document's URL. Hostile input is an error, never
//!   a panic.
//! - [`CallScript`] runs one call: it asks the shell to fetch, speak, play,
//!   pause, join a conference or hang up ([`Action`]), and is told how each
//!   went.
//! - [`WaitScript`] runs a conference's wait audio (`waitUrl`) with the
//!   same verb runner ([`runner`]), in its wait mode.
//! - [`webhook`] builds each request's parameters, its URL or form body, and
//!   its `X-Twilio-Signature`.
//!
//! Nothing here touches a socket, a clock or a file: the shell (the server's
//! call task) does the fetching with a timeout, the playing and the timers,
//! and reports back. A driver looks like this:
//!
//! ```
//! use model::{AccountSid, AuthToken, CallSid, HttpMethod};
//! use twiml::{Action, CallInfo, CallScript, FetchedBody, HttpUrl};
//!
//! let call = CallInfo {
//!     call_sid: CallSid::from_random([1; 16]),
//!     account_sid: AccountSid::from_random([2; 16]),
//!     caller: "4158675309".into(),
//!     called: "4155551212".into(),
//! };
//! let token = AuthToken::from_random([3; 16]);
//! let voice_url = HttpUrl::parse("http://app.example.com/voice")?;
//! let mut script = CallScript::new(call, voice_url, HttpMethod::Post);
//!
//! // The shell's loop: run each action, report its outcome, repeat.
//! while let Some(action) = script.poll_action() {
//!     match action {
//!         Action::Fetch(request) => {
//!             let _url = request.request_url();
//!             let _body = request.form_body();
//!             let _signature = request.signature(&token);
//!             // ... an HTTP request with a timeout; here, a canned answer:
//!             script.fetched(Ok(FetchedBody {
//!                 url: request.url.into_url(),
//!                 content_type: Some("text/xml".into()),
//!                 body: b"<Response><Say>Hello</Say></Response>".to_vec(),
//!             }));
//!         }
//!         Action::Say { .. } | Action::Play { .. } | Action::Pause { .. } => {
//!             // ... play it to the caller, then:
//!             script.finished();
//!         }
//!         Action::JoinConference { .. } => {
//!             // ... hand the leg to the room; later, when it leaves:
//!             script.left_conference(conference::LeaveReason::Kicked);
//!         }
//!         Action::AwaitDigits { .. } => {
//!             // ... wait that long for a key: `script.digit(key)` for
//!             // each, or else:
//!             script.gather_timed_out();
//!         }
//!         Action::PlayErrorTone | Action::Warn(_) => {}
//!         // Only a wait script (the runner's other mode) makes these.
//!         Action::PlayAudio { .. } | Action::PlayHoldMusic | Action::WaitWarn(_) => {}
//!         Action::Hangup { reason } => {
//!             // ... BYE; record `reason` on the call.
//!             let _ = reason;
//!         }
//!     }
//! }
//! // However the call ended: tell the application.
//! let completed = script.call_ended();
//! assert_eq!(completed.unwrap().params.get("CallStatus"), Some("completed"));
//! # Ok::<(), twiml::UrlError>(())
//! ```

mod element;
mod fetch;
mod http_url;
pub mod interpreter;
pub mod parse;
pub mod runner;
pub mod verbs;
pub mod wait;
pub mod webhook;

pub use fetch::{AppError, FetchError, FetchedBody, MAX_FETCHES_IN_A_ROW, url_for_logs};
pub use http_url::{HttpUrl, UrlError};
pub use interpreter::CallScript;
pub use parse::{Document, MAX_DEPTH, MAX_DOCUMENT_BYTES, ParseError, Verb, Warning};
pub use runner::{Action, HangupReason, WaitWarning};
pub use verbs::{Conference, Dial, Gather, Pause, Play, Prompt, Redirect, Say, Voice, WaitAudio};
pub use wait::WaitScript;
pub use webhook::{CallInfo, DialStatus, Params, WebhookCallStatus, WebhookRequest};

/// Test helper for the verbs' unit tests: parses `xml` wrapped in
/// `<Response>` against `base`, and picks its first verb with `pick`.
#[cfg(test)]
fn parse_one<T>(
    base: &str,
    xml: &str,
    pick: impl FnOnce(Verb) -> Option<T>,
) -> Result<(T, Vec<Warning>), ParseError> {
    let base = url::Url::parse(base).expect("a test base URL");
    let doc = Document::parse(format!("<Response>{xml}</Response>").as_bytes(), &base)?;
    let verb = doc.verbs.into_iter().next().expect("a verb");
    let picked = pick(verb).expect("the kind of verb asked for");
    Ok((picked, doc.warnings))
}
