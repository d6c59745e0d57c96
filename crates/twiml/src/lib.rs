//! TwiML for confab, sans-IO.
//!
//! [`webhook`] builds the requests confab makes to an application's URLs:
//! each request's parameters, its URL or form body, and its
//! `X-Twilio-Signature`. Nothing here touches a socket, a clock or a file.

mod http_url;
pub mod webhook;

pub use http_url::{HttpUrl, UrlError};
pub use webhook::{CallInfo, CallStatus, DialStatus, Params, WebhookRequest};
