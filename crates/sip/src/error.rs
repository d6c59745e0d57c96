//! Why a message could not be parsed. The engine turns these into status
//! codes in exactly one place (`rejection::rejection_response`); nothing here ever
//! reaches the wire as text.

use crate::limits::{MAX_HEADER_LINES, MAX_LINE_LEN, MAX_MESSAGE_LEN};

/// A syntax error in a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipParseError {
    #[error("message of {0} bytes is over the {MAX_MESSAGE_LEN}-byte limit")]
    TooLarge(usize),
    #[error("more than {MAX_HEADER_LINES} header lines")]
    TooManyHeaders,
    #[error("a line or header is longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
    #[error("no start line (empty or keep-alive)")]
    Empty,
    #[error("the start line is neither a request nor a response")]
    BadStartLine,
    #[error("malformed request line")]
    BadRequestLine,
    #[error("malformed status line")]
    BadStatusLine,
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    #[error("malformed Request-URI: {0}")]
    BadRequestUri(&'static str),
    #[error("the header section does not end with an empty line")]
    UnterminatedHeaders,
    #[error("malformed header line")]
    BadHeaderLine,
    #[error("a header value is not UTF-8")]
    NotUtf8,
    #[error("malformed {header} header: {reason}")]
    BadHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("Content-Length is larger than the message")]
    BodyTruncated,
}

impl SipParseError {
    pub(crate) fn header(header: &'static str, reason: &'static str) -> Self {
        Self::BadHeader { header, reason }
    }
}
