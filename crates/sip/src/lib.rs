//! SIP for confab (work in progress).

mod dialog;
mod engine;
mod error;
mod message;
mod parse;
pub mod sdp;
mod timer;
mod transaction;
mod uri;

pub use engine::{
    CallError, CallId, Config, ConfigError, ConnId, EndedBy, Engine, Event, IncomingCall, Random,
    Stats, Transmit, Transport,
};
pub use error::ParseError;
pub use message::{
    BRANCH_COOKIE, CSeq, Headers, MediaType, Message, Method, NameAddr, Param, RawHeader, Request,
    Response, SipCallId, StatusCode, Via,
};
pub use parse::{MAX_HEADER_LINES, MAX_LINE_LEN, MAX_MESSAGE_LEN, StreamFrame, frame_stream};
pub use timer::Timers;
pub use uri::{Host, SipUri, Uri};
