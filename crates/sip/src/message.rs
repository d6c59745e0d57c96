//! SIP messages as typed values, and the serializer.
//!
//! A parsed message holds the headers a user agent server works with as
//! types ([`Headers`]: Via, From, To, Call-ID, CSeq, Contact, ...) and
//! every other header as written ([`RawHeader`]). Content-Length is not
//! stored: the parser uses it to frame the body and the serializer writes
//! the body's length.
//!
//! The serializer writes what confab sends: responses, and the requests it
//! originates (BYE). It never writes a CR or LF inside a header value, so a
//! value taken from the network cannot inject a header.

use std::fmt::{self, Write as _};

use crate::param::Param;
use crate::uri::{Host, Uri};

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: StatusCode,
    /// The reason phrase; may be empty.
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// The headers of a message: typed where a user agent server needs them,
/// as written otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// Every Via value, top first (several headers and comma lists alike).
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: SipCallId,
    pub cseq: CSeq,
    pub max_forwards: Option<u32>,
    /// Contact values (a `Contact: *` is kept in `other`).
    pub contact: Vec<NameAddr>,
    pub route: Vec<NameAddr>,
    pub record_route: Vec<NameAddr>,
    pub content_type: Option<MediaType>,
    /// Option tags of the Require header(s).
    pub require: Vec<String>,
    /// The Accept header's media ranges; `Some(vec![])` for an empty Accept.
    pub accept: Option<Vec<MediaType>>,
    /// Every other header, in order, name as written.
    pub other: Vec<RawHeader>,
}

/// A header kept as written (folding already replaced by a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader {
    pub name: String,
    pub value: String,
}

/// A SIP method. Method names are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    /// Any other token.
    Extension(String),
}

/// A status code, 100 to 699.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

/// The value of a Call-ID header (compared case-sensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipCallId(pub String);

/// `"Display" <uri>;param=value` (From, To, Contact, Route, Record-Route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (after the URI), values as written.
    pub params: Vec<Param>,
}

/// One Via value: `SIP/2.0/UDP host:port;branch=z9hG4bK...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0`, LWS removed.
    pub protocol: String,
    /// `UDP`, `TCP`, `TLS`, `SCTP` or any other token, as written.
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

/// `type/subtype;params` (Content-Type, and Accept's media ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub kind: String,
    pub subtype: String,
    pub params: Vec<Param>,
}

/// The RFC 3261 magic cookie that starts every RFC 3261 branch.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

impl Request {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        write_headers(&mut out, &self.headers, self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

impl Response {
    /// A response to `request` copying Via, From, To (with `to_tag` if it
    /// has none), Call-ID and CSeq (§8.2.6.2).
    pub fn to(request: &Request, status: StatusCode, to_tag: Option<&str>) -> Self {
        let h = &request.headers;
        let mut to = h.to.clone();
        if let (None, Some(tag)) = (to.tag(), to_tag) {
            to.set_tag(tag);
        }
        Self {
            status,
            reason: status.reason().to_owned(),
            headers: Headers::new(
                h.via.clone(),
                h.from.clone(),
                to,
                h.call_id.clone(),
                h.cseq.clone(),
            ),
            body: Vec::new(),
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "SIP/2.0 {} {}\r\n",
            self.status.as_u16(),
            Clean(&self.reason)
        );
        write_headers(&mut out, &self.headers, self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

impl Headers {
    /// The headers every message has, and none of the others.
    pub fn new(
        via: Vec<Via>,
        from: NameAddr,
        to: NameAddr,
        call_id: SipCallId,
        cseq: CSeq,
    ) -> Self {
        Self {
            via,
            from,
            to,
            call_id,
            cseq,
            max_forwards: None,
            contact: Vec::new(),
            route: Vec::new(),
            record_route: Vec::new(),
            content_type: None,
            require: Vec::new(),
            accept: None,
            other: Vec::new(),
        }
    }

    /// The first header not typed here with this name (case-insensitive;
    /// compact forms such as `k` for Supported match too).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Every header not typed here with this name, in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let wanted = full_name(name).to_owned();
        self.other
            .iter()
            .filter(move |h| full_name(&h.name).eq_ignore_ascii_case(&wanted))
            .map(|h| h.value.as_str())
    }
}

/// The long form of a compact header name (RFC 3261 §7.3.3 and later RFCs).
pub(crate) fn full_name(name: &str) -> &str {
    let compact = match name.as_bytes() {
        [b] => b.to_ascii_lowercase(),
        _ => return name,
    };
    match compact {
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b's' => "Subject",
        b'k' => "Supported",
        b'e' => "Content-Encoding",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'u' => "Allow-Events",
        b'x' => "Session-Expires",
        _ => name,
    }
}

impl Method {
    /// The method for a token (case-sensitive, as RFC 3261 says).
    pub fn from_token(token: &str) -> Self {
        match token {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "REGISTER" => Self::Register,
            "PRACK" => Self::Prack,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "PUBLISH" => Self::Publish,
            "INFO" => Self::Info,
            "REFER" => Self::Refer,
            "MESSAGE" => Self::Message,
            "UPDATE" => Self::Update,
            other => Self::Extension(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Publish => "PUBLISH",
            Self::Info => "INFO",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Update => "UPDATE",
            Self::Extension(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StatusCode {
    pub const TRYING: Self = Self(100);
    pub const RINGING: Self = Self(180);
    pub const OK: Self = Self(200);
    pub const MOVED_TEMPORARILY: Self = Self(302);
    pub const BAD_REQUEST: Self = Self(400);
    pub const FORBIDDEN: Self = Self(403);
    pub const NOT_FOUND: Self = Self(404);
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    pub const NOT_ACCEPTABLE: Self = Self(406);
    pub const REQUEST_TIMEOUT: Self = Self(408);
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self(415);
    pub const UNSUPPORTED_URI_SCHEME: Self = Self(416);
    pub const BAD_EXTENSION: Self = Self(420);
    pub const TEMPORARILY_UNAVAILABLE: Self = Self(480);
    pub const CALL_DOES_NOT_EXIST: Self = Self(481);
    pub const LOOP_DETECTED: Self = Self(482);
    pub const BUSY_HERE: Self = Self(486);
    pub const REQUEST_TERMINATED: Self = Self(487);
    pub const NOT_ACCEPTABLE_HERE: Self = Self(488);
    pub const SERVER_INTERNAL_ERROR: Self = Self(500);
    pub const NOT_IMPLEMENTED: Self = Self(501);
    pub const SERVICE_UNAVAILABLE: Self = Self(503);
    pub const VERSION_NOT_SUPPORTED: Self = Self(505);
    pub const DECLINE: Self = Self(603);

    /// A status code in 100..=699.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 699 {
            Some(Self(code))
        } else {
            None
        }
    }

    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// 1xx.
    pub const fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx.
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }

    /// The usual reason phrase.
    pub fn reason(self) -> &'static str {
        match self.0 {
            100 => "Trying",
            180 => "Ringing",
            183 => "Session Progress",
            200 => "OK",
            302 => "Moved Temporarily",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            408 => "Request Timeout",
            410 => "Gone",
            413 => "Request Entity Too Large",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            420 => "Bad Extension",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            491 => "Request Pending",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "Version Not Supported",
            600 => "Busy Everywhere",
            603 => "Decline",
            code if code < 200 => "Session Progress",
            code if code < 300 => "OK",
            code if code < 400 => "Redirect",
            code if code < 500 => "Client Error",
            code if code < 600 => "Server Error",
            _ => "Global Failure",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

impl NameAddr {
    /// `<uri>` with no display name or parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        Param::find(&self.params, "tag").flatten()
    }

    /// Sets (or replaces) the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        Param::set(&mut self.params, "tag", Some(tag));
    }

    /// A copy without the `tag` parameter.
    pub fn without_tag(&self) -> Self {
        let mut copy = self.clone();
        copy.params.retain(|p| !p.name.eq_ignore_ascii_case("tag"));
        copy
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(display) = &self.display {
            f.write_char('"')?;
            for c in display.chars() {
                match c {
                    // A quoted-pair cannot carry CR or LF: drop them.
                    '\r' | '\n' => {}
                    '"' | '\\' => write!(f, "\\{c}")?,
                    c if c.is_ascii_control() && c != '\t' => write!(f, "\\{c}")?,
                    c => f.write_char(c)?,
                }
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        for param in &self.params {
            write!(f, ";{param}")?;
        }
        Ok(())
    }
}

impl Via {
    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        Param::find(&self.params, "branch").flatten()
    }

    /// Whether the branch is an RFC 3261 one (the magic cookie and more),
    /// so that it alone identifies the transaction.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > BRANCH_COOKIE.len() && b.starts_with(BRANCH_COOKIE))
    }

    /// `host[:port]`, lower-cased, as transaction matching compares it.
    pub fn sent_by(&self) -> String {
        let mut sent_by = self.host.to_string().to_ascii_lowercase();
        if let Some(port) = self.port {
            let _ = write!(sent_by, ":{port}");
        }
        sent_by
    }

    /// What the server transport does on receipt (RFC 3261 §18.2.1, RFC
    /// 3581 §4): note the packet's source address in `received` when it
    /// differs from sent-by (always, if `rport` was asked for), and fill in
    /// an empty `rport` with the source port.
    pub fn stamp_source(&mut self, source: std::net::SocketAddr) {
        let rport_asked = Param::find(&self.params, "rport") == Some(None);
        if rport_asked || self.host.ip() != Some(source.ip()) {
            let ip = source.ip().to_string();
            Param::set(&mut self.params, "received", Some(&ip));
        }
        if rport_asked {
            let port = source.port().to_string();
            Param::set(&mut self.params, "rport", Some(&port));
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for param in &self.params {
            write!(f, ";{param}")?;
        }
        Ok(())
    }
}

impl MediaType {
    pub fn new(kind: &str, subtype: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            subtype: subtype.to_owned(),
            params: Vec::new(),
        }
    }

    /// Whether this is `kind/subtype` (case-insensitive).
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Whether this media range (`*/*`, `application/*`, ...) covers
    /// `kind/subtype`.
    pub fn covers(&self, kind: &str, subtype: &str) -> bool {
        (self.kind == "*" || self.kind.eq_ignore_ascii_case(kind))
            && (self.subtype == "*" || self.subtype.eq_ignore_ascii_case(subtype))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.subtype)?;
        for param in &self.params {
            write!(f, ";{param}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SipCallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes a value with any CR or LF replaced by a space.
struct Clean<'a>(&'a str);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c == '\r' || c == '\n' { ' ' } else { c })?;
        }
        Ok(())
    }
}

fn header(out: &mut String, name: &str, value: impl fmt::Display) {
    let value = value.to_string();
    let _ = write!(out, "{}: {}\r\n", Clean(name), Clean(&value));
}

fn comma_list<T: fmt::Display>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{item}");
    }
    out
}

/// A body-less response from headers given as written (for requests too
/// broken to parse into [`Headers`]).
pub(crate) fn raw_response_bytes(status: StatusCode, headers: &[RawHeader]) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {} {}\r\n", status.as_u16(), status.reason());
    for raw in headers {
        header(&mut out, &raw.name, &raw.value);
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn write_headers(out: &mut String, h: &Headers, body_len: usize) {
    for via in &h.via {
        header(out, "Via", via);
    }
    for route in &h.record_route {
        header(out, "Record-Route", route);
    }
    for route in &h.route {
        header(out, "Route", route);
    }
    header(out, "From", &h.from);
    header(out, "To", &h.to);
    header(out, "Call-ID", &h.call_id);
    header(out, "CSeq", &h.cseq);
    for contact in &h.contact {
        header(out, "Contact", contact);
    }
    if let Some(max_forwards) = h.max_forwards {
        header(out, "Max-Forwards", max_forwards);
    }
    if !h.require.is_empty() {
        header(out, "Require", h.require.join(", "));
    }
    if let Some(accept) = &h.accept {
        header(out, "Accept", comma_list(accept));
    }
    if let Some(content_type) = &h.content_type {
        header(out, "Content-Type", content_type);
    }
    for raw in &h.other {
        header(out, &raw.name, &raw.value);
    }
    header(out, "Content-Length", body_len);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_quoted_and_escaped() {
        let uri = Uri::parse("sip:a@example.com").unwrap_or_else(|e| panic!("{e}"));
        let addr = NameAddr {
            display: Some("J \"R\" \\ \u{7}\r\nx".into()),
            uri,
            params: vec![Param::new("tag", Some("1"))],
        };
        assert_eq!(
            addr.to_string(),
            r#""J \"R\" \\ \x" <sip:a@example.com>;tag=1"#.replace("\\x", "\\\u{7}x")
        );
    }

    #[test]
    fn values_cannot_inject_headers() {
        let mut out = String::new();
        header(&mut out, "X\r\nEvil", "a\r\nEvil: 1");
        assert_eq!(out, "X  Evil: a  Evil: 1\r\n");
    }

    #[test]
    fn compact_names_resolve() {
        assert_eq!(full_name("k"), "Supported");
        assert_eq!(full_name("K"), "Supported");
        assert_eq!(full_name("Subject"), "Subject");
        assert_eq!(full_name("o"), "Event");
    }
}
