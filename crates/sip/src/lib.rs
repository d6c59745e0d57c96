//! SIP for confab (work in progress).

mod error;
mod message;
mod parse;
mod uri;

pub use error::ParseError;
pub use message::{
    BRANCH_COOKIE, CSeq, Headers, MediaType, Message, Method, NameAddr, Param, RawHeader, Request,
    Response, SipCallId, StatusCode, Via,
};
pub use parse::{MAX_HEADER_LINES, MAX_LINE_LEN, MAX_MESSAGE_LEN, StreamFrame, frame_stream};
pub use uri::{Host, SipUri, Uri};

pub mod sdp;
