//! Why the engine refuses a request, and the one function that turns
//! each reason into a status code and the headers that explain it.

use crate::error::SipParseError;
use crate::message::{MediaType, RawHeader, Request, Response, StatusCode};
use crate::multipart;
use crate::sdp::{self, NegotiatedAudio, SdpError, SessionDescription};

/// The methods confab implements, for Allow headers.
pub(crate) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK";
/// The option tags confab supports, for Supported headers; a Require of
/// any other gets 420.
pub(crate) const SUPPORTED: &[&str] = &["100rel", "timer"];

/// `491 Request Pending` (RFC 3261 §14.2: glare).
const REQUEST_PENDING: StatusCode = match StatusCode::new(491) {
    Some(status) => status,
    None => StatusCode::SERVER_INTERNAL_ERROR,
};

/// `422 Session Interval Too Small` (RFC 4028 §6).
const INTERVAL_TOO_SMALL: StatusCode = match StatusCode::new(422) {
    Some(status) => status,
    None => StatusCode::BAD_REQUEST,
};

/// The option tags of a Require header that confab does not support
/// (420 names them in Unsupported).
pub(crate) fn unsupported_extensions(require: &[String]) -> Vec<String> {
    require
        .iter()
        .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .cloned()
        .collect()
}

/// Why the engine refuses a request; see [`rejection_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    Parse(SipParseError),
    NotImplemented,
    MethodNotAllowed,
    CSeqMismatch,
    UnsupportedScheme,
    Merged,
    BadExtension(Vec<String>),
    NoDialog,
    UnsupportedMediaType,
    /// An INFO body that is not a DTMF digit we read.
    UnsupportedInfo,
    /// An INFO DTMF body that names no key.
    BadDigit,
    NotAcceptable,
    NoOffer,
    Sdp(SdpError),
    OutOfOrder,
    Pending,
    /// An offer from the peer while one of ours is unanswered (491).
    Glare,
    Overloaded,
    /// A Session-Expires below our Min-SE, `min_se` seconds (RFC 4028 §6).
    IntervalTooSmall {
        min_se: u32,
    },
    /// A header confab reads that does not parse (its name).
    BadHeader(&'static str),
}

/// The one place where errors become status codes (and the headers that
/// explain them).
pub(crate) fn rejection_response(rejection: &Rejection) -> (StatusCode, Vec<RawHeader>) {
    use Rejection as R;
    let allow = || vec![raw("Allow", ALLOW)];
    let warning =
        |code: u16, text: &str| vec![raw("Warning", &format!("{code} confab \"{text}\""))];
    match rejection {
        R::Parse(SipParseError::UnsupportedVersion) => (StatusCode::VERSION_NOT_SUPPORTED, vec![]),
        R::Parse(_) | R::CSeqMismatch => (StatusCode::BAD_REQUEST, vec![]),
        R::NotImplemented => (StatusCode::NOT_IMPLEMENTED, allow()),
        R::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, allow()),
        R::UnsupportedScheme => (StatusCode::UNSUPPORTED_URI_SCHEME, vec![]),
        R::Merged => (StatusCode::LOOP_DETECTED, vec![]),
        R::BadExtension(tags) => (
            StatusCode::BAD_EXTENSION,
            vec![raw("Unsupported", &tags.join(", "))],
        ),
        R::NoDialog => (StatusCode::CALL_DOES_NOT_EXIST, vec![]),
        R::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![raw("Accept", "application/sdp")],
        ),
        R::UnsupportedInfo => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![raw("Accept", "application/dtmf-relay, application/dtmf")],
        ),
        R::BadDigit => (StatusCode::BAD_REQUEST, warning(399, "No DTMF key")),
        R::NotAcceptable => (StatusCode::NOT_ACCEPTABLE, vec![]),
        R::NoOffer => (
            StatusCode::NOT_ACCEPTABLE_HERE,
            warning(399, "An SDP offer is required"),
        ),
        R::Sdp(SdpError::NoCommonCodec) => (
            StatusCode::NOT_ACCEPTABLE_HERE,
            warning(305, "Incompatible media format"),
        ),
        R::Sdp(SdpError::NoAudio) => (
            StatusCode::NOT_ACCEPTABLE_HERE,
            warning(304, "Media type not available"),
        ),
        R::Sdp(_) => (StatusCode::NOT_ACCEPTABLE_HERE, vec![]),
        R::OutOfOrder => (StatusCode::SERVER_INTERNAL_ERROR, vec![]),
        R::Glare => (REQUEST_PENDING, vec![]),
        R::Pending => (
            StatusCode::SERVER_INTERNAL_ERROR,
            vec![raw("Retry-After", "1")],
        ),
        R::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            vec![raw("Retry-After", "5")],
        ),
        R::IntervalTooSmall { min_se } => {
            (INTERVAL_TOO_SMALL, vec![raw("Min-SE", &min_se.to_string())])
        }
        R::BadHeader(name) => (
            StatusCode::BAD_REQUEST,
            warning(399, &format!("Malformed {name} header")),
        ),
    }
}

pub(crate) fn raw(name: &str, value: &str) -> RawHeader {
    RawHeader {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// What a request's SDP says: the description, the audio stream and what
/// it allows.
pub(crate) type ReadSdp = (SessionDescription, usize, NegotiatedAudio);

/// The offer of an INVITE; `None` if it has no body (a delayed offer, or a
/// re-INVITE asking for ours).
pub(crate) fn read_offer(request: &Request) -> Result<Option<ReadSdp>, Rejection> {
    if request
        .headers
        .accept
        .as_ref()
        .is_some_and(|ranges| !ranges.iter().any(|r| r.covers("application", "sdp")))
    {
        return Err(Rejection::NotAcceptable);
    }
    let Some(body) = sdp_body(request)? else {
        return Ok(None);
    };
    read_sdp(body).map(Some)
}

/// The answer an ACK carries to the offer in our 2xx.
pub(crate) fn read_answer(ack: &Request) -> Result<ReadSdp, Rejection> {
    read_sdp(sdp_body(ack)?.ok_or(Rejection::NoOffer)?)
}

/// The answer a 2xx to our INVITE carries to our offer.
pub(crate) fn read_response_answer(response: &Response) -> Result<ReadSdp, Rejection> {
    let body = sdp_of(response.headers.content_type.as_ref(), &response.body)?;
    read_sdp(body.ok_or(Rejection::NoOffer)?)
}

fn read_sdp(body: &[u8]) -> Result<ReadSdp, Rejection> {
    let sdp = SessionDescription::parse(body).map_err(Rejection::Sdp)?;
    let (stream, audio) = sdp::negotiate(&sdp).map_err(Rejection::Sdp)?;
    Ok((sdp, stream, audio))
}

/// A request's SDP: its body, or the `application/sdp` part of a
/// multipart one (RFC 5621); `None` if it has no body. A multipart body
/// without SDP, or another type, is unsupported (415).
fn sdp_body(request: &Request) -> Result<Option<&[u8]>, Rejection> {
    sdp_of(request.headers.content_type.as_ref(), &request.body)
}

/// The SDP of a message with this Content-Type and body.
fn sdp_of<'a>(
    content_type: Option<&MediaType>,
    body: &'a [u8],
) -> Result<Option<&'a [u8]>, Rejection> {
    if body.is_empty() {
        return Ok(None);
    }
    match content_type {
        Some(t) if multipart::is_multipart(t) => multipart::sdp_part(t, body)
            .map(Some)
            .ok_or(Rejection::UnsupportedMediaType),
        Some(t) if !t.is("application", "sdp") => Err(Rejection::UnsupportedMediaType),
        _ => Ok(Some(body)),
    }
}
