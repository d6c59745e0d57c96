//! TwiML for confab, sans-IO: parse a 2009-era document into typed verbs and
//! build the signed webhook requests that fetch the documents.
//!
//! - [`Document::parse`] ([`parse`], one file a verb under [`verbs`])
//!   turns response bytes into [`Verb`]s: `<Say> <Play> <Pause> <Redirect>
//!   <Hangup> <Dial><Conference>`, with relative URLs resolved against the
//!   document's URL. Hostile input is an error, never a panic.
//! - [`webhook`] builds each request's parameters, its URL or form body, and
//!   its `X-Twilio-Signature`.
//!
//! Nothing here touches a socket, a clock or a file.

mod http_url;
pub mod parse;
pub mod verbs;
pub mod webhook;

pub use http_url::{HttpUrl, UrlError};
pub use parse::{Document, MAX_DEPTH, MAX_DOCUMENT_BYTES, ParseError, Verb, Warning};
pub use verbs::{Conference, Dial, Pause, Play, Redirect, Repeat, Say, Voice, WaitAudio};
pub use webhook::{CallInfo, CallStatus, DialStatus, Params, WebhookRequest};
