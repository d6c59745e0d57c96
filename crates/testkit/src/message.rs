//! Just enough SIP text parsing for a test phone, written apart from confab's `sip` crate.
//!
//! A test client that shared the server's parser would share its bugs, so this
//! is a separate, small reading of RFC 3261 §7: a start line (request or
//! status), headers (any case, compact forms, folded continuation lines,
//! comma-joined values), and a body of exactly `Content-Length` bytes.
//! [`frame`] cuts one message out of a TCP byte stream. Nothing here panics
//! on hostile input; anything we cannot read is a [`PhoneParseError`].

use std::fmt;

/// Why bytes are not a SIP message we can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneParseError {
    /// Only whitespace (a CRLF keep-alive).
    Empty,
    /// No blank line ends the headers.
    Incomplete,
    /// The start line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 code reason`.
    StartLine(String),
    /// A header line without a colon, or bytes that are not UTF-8.
    Header(String),
    /// `Content-Length` is not a number, or promises more than arrived.
    ContentLength(String),
}

impl fmt::Display for PhoneParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneParseError::Empty => write!(f, "empty message (keep-alive)"),
            PhoneParseError::Incomplete => write!(f, "no blank line after the headers"),
            PhoneParseError::StartLine(l) => write!(f, "bad start line {l:?}"),
            PhoneParseError::Header(h) => write!(f, "bad header line {h:?}"),
            PhoneParseError::ContentLength(why) => write!(f, "bad Content-Length: {why}"),
        }
    }
}

impl std::error::Error for PhoneParseError {}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `INVITE sip:room1@127.0.0.1 SIP/2.0`
    Request {
        /// The method, as sent (methods are case-sensitive).
        method: String,
        /// The Request-URI.
        uri: String,
    },
    /// `SIP/2.0 200 OK`
    Response {
        /// The status code, 100..=699.
        status: u16,
        /// The reason phrase (may be empty).
        reason: String,
    },
}

/// One parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Headers in arrival order: (name as sent, value with folding undone).
    pub headers: Vec<(String, String)>,
    /// Exactly `Content-Length` bytes (the rest of the datagram if it is absent).
    pub body: Vec<u8>,
}

impl Message {
    /// Parses one whole message (a UDP datagram, or what [`frame`] cut from TCP).
    ///
    /// Leading CRLFs are skipped (RFC 3261 §7.5). A missing `Content-Length`
    /// means the body is the rest of the bytes, as RFC 3261 §18.3 allows on UDP.
    pub fn parse(bytes: &[u8]) -> Result<Self, PhoneParseError> {
        let bytes = skip_leading_newlines(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(PhoneParseError::Empty);
        }
        let (head_len, body_start) = head_end(bytes).ok_or(PhoneParseError::Incomplete)?;
        let head = std::str::from_utf8(&bytes[..head_len])
            .map_err(|_| PhoneParseError::Header("headers are not UTF-8".into()))?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().unwrap_or_default();
        let start = parse_start_line(first)?;

        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // A folded continuation of the previous header (RFC 3261 §7.3.1).
                let Some((_, value)) = headers.last_mut() else {
                    return Err(PhoneParseError::Header(line.into()));
                };
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| PhoneParseError::Header(line.into()))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(PhoneParseError::Header(line.into()));
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        }

        let rest = &bytes[body_start..];
        let mut message = Self {
            start,
            headers,
            body: Vec::new(),
        };
        let body_len = match message.header("Content-Length") {
            None => rest.len(),
            Some(v) => {
                let n: usize = v.parse().map_err(|_| {
                    PhoneParseError::ContentLength(format!("{v:?} is not a number"))
                })?;
                if n > rest.len() {
                    return Err(PhoneParseError::ContentLength(format!(
                        "{n} announced, {} present",
                        rest.len()
                    )));
                }
                n
            }
        };
        message.body = rest[..body_len].to_vec();
        Ok(message)
    }

    /// The status code, if this is a response.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The method, if this is a request.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The first value of a header, matched without case and through its
    /// compact form (`i` is `Call-ID`, `v` is `Via`, ...). For a header sent as
    /// several comma-joined values this is the whole line; see [`Message::values`].
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_lines(name).next()
    }

    /// Every line of a header, in order (same matching as [`Message::header`]).
    pub fn header_lines<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| same_header(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list header (`Via`, `Record-Route`, `Contact`), whether
    /// sent on separate lines or joined by commas on one.
    #[must_use]
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.header_lines(name).flat_map(split_list).collect()
    }

    /// `Call-ID`.
    #[must_use]
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// `CSeq` as (number, method).
    #[must_use]
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (n, method) = self.header("CSeq")?.split_once(char::is_whitespace)?;
        Some((n.trim().parse().ok()?, method.trim()))
    }

    /// The `branch` parameter of the topmost `Via`.
    #[must_use]
    pub fn top_branch(&self) -> Option<&str> {
        header_param(self.values("Via").first()?, "branch")
    }

    /// The `tag` parameter of `To` (the far end's tag on a response to us).
    #[must_use]
    pub fn to_tag(&self) -> Option<&str> {
        header_param(self.header("To")?, "tag")
    }
}

/// The length of the first complete message in a TCP stream buffer, counting
/// any CRLF keep-alives before it; `Ok(None)` while more bytes are needed.
/// On TCP `Content-Length` is mandatory (RFC 3261 §18.3); missing means zero.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, PhoneParseError> {
    let skipped = buf.len() - skip_leading_newlines(buf).len();
    let msg = &buf[skipped..];
    let Some((head_len, body_start)) = head_end(msg) else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&msg[..head_len]);
    let mut body_len = 0;
    for line in head.split('\n').skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && same_header(name.trim(), "Content-Length")
        {
            let value = value.trim();
            body_len = value.parse().map_err(|_| {
                PhoneParseError::ContentLength(format!("{value:?} is not a number"))
            })?;
        }
    }
    let total = skipped + body_start + body_len;
    Ok((buf.len() >= total).then_some(total))
}

/// A header parameter (`;tag=`, `;branch=`, `;received=`), looked for after
/// the URI: after the closing `>` of a name-addr, or after the first `;` of a
/// bare URI or a Via. Parameter names match without case; a parameter given
/// without `=` has the value `""`.
#[must_use]
pub fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match angle_span(value) {
        Some((_, close)) => &value[close + 1..],
        None => value.split_once(';').map_or("", |(_, p)| p),
    };
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URI inside a name-addr (`"Bob" <sip:bob@h>;tag=1` → `sip:bob@h`), or a
/// bare URI without its header parameters (`sip:bob@h;tag=1` → `sip:bob@h`).
#[must_use]
pub fn uri_of(value: &str) -> &str {
    match angle_span(value) {
        Some((open, close)) => value[open + 1..close].trim(),
        None => value.split(';').next().unwrap_or_default().trim(),
    }
}

/// Splits a list header's value at commas outside quotes and `<...>`.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// Byte offsets of the `<` and `>` around a name-addr's URI, skipping a quoted display name.
fn angle_span(value: &str) -> Option<(usize, usize)> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => {
                let close = value[i..].find('>')? + i;
                return Some((i, close));
            }
            ';' if !quoted => return None,
            _ => {}
        }
    }
    None
}

/// RFC 3261 §7.3.3 compact forms, and the RFCs that added more.
const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("x", "Session-Expires"),
];

fn same_header(a: &str, b: &str) -> bool {
    let full = |n: &str| {
        COMPACT
            .iter()
            .find(|(short, _)| short.eq_ignore_ascii_case(n))
            .map_or_else(|| n.to_owned(), |(_, long)| (*long).to_owned())
    };
    a.eq_ignore_ascii_case(b) || full(a).eq_ignore_ascii_case(&full(b))
}

fn parse_start_line(line: &str) -> Result<StartLine, PhoneParseError> {
    let bad = || PhoneParseError::StartLine(line.into());
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&status) || code.len() != 3 {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.trim().to_owned(),
        });
    }
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(uri), Some("SIP/2.0"), None)
            if !method.is_empty()
                && !uri.is_empty()
                && method.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(StartLine::Request {
                method: method.to_owned(),
                uri: uri.to_owned(),
            })
        }
        _ => Err(bad()),
    }
}

fn skip_leading_newlines(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    &bytes[n..]
}

/// (length of the head without its blank line, offset of the body). Accepts
/// bare LF line ends as well as CRLF, as RFC 3261 §7 asks of receivers.
fn head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(nl) = bytes[i..].iter().position(|&b| b == b'\n') {
        let line_end = i + nl;
        let next = line_end + 1;
        match bytes.get(next..) {
            Some([b'\r', b'\n', ..]) => return Some((line_end, next + 2)),
            Some([b'\n', ..]) => return Some((line_end, next + 1)),
            _ => i = next,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const RESPONSE: &str = "SIP/2.0 200 OK\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKdef\r\n\
        Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKghi\r\n\
        f: <sip:testkit@127.0.0.1:5070>;tag=111\r\n\
        t: \"Room; <one>\" <sip:room1@127.0.0.1>;tag=srv-9\r\n\
        i: abc@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        m: <sip:confab@127.0.0.1:5060;transport=udp>\r\n\
        Subject: a folded\r\n  header value\r\n\
        c: application/sdp\r\n\
        l: 5\r\n\
        \r\n\
        v=0\r\nextra";

    #[test]
    fn parses_a_response_with_compact_and_folded_headers() {
        let m = Message::parse(RESPONSE.as_bytes()).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.method(), None);
        assert_eq!(m.call_id(), Some("abc@127.0.0.1"));
        assert_eq!(m.header("call-id"), Some("abc@127.0.0.1"));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.top_branch(), Some("z9hG4bKabc"));
        assert_eq!(m.values("Via").len(), 3);
        assert_eq!(m.to_tag(), Some("srv-9"));
        assert_eq!(header_param(m.header("From").unwrap(), "tag"), Some("111"));
        assert_eq!(
            uri_of(m.header("Contact").unwrap()),
            "sip:confab@127.0.0.1:5060;transport=udp"
        );
        assert_eq!(m.header("Subject"), Some("a folded header value"));
        assert_eq!(m.header("Content-Type"), Some("application/sdp"));
        assert_eq!(m.body, b"v=0\r\n");
    }

    #[test]
    fn parses_a_request_and_tolerates_bare_lf() {
        let m = Message::parse(
            b"\r\n\r\nBYE sip:testkit@127.0.0.1:5070 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\nCALL-ID: x\nCSeq: 7 BYE\nContent-Length: 0\n\n",
        )
        .unwrap();
        assert_eq!(
            m.start,
            StartLine::Request {
                method: "BYE".into(),
                uri: "sip:testkit@127.0.0.1:5070".into()
            }
        );
        assert_eq!(m.call_id(), Some("x"));
        assert_eq!(m.cseq(), Some((7, "BYE")));
        assert!(m.body.is_empty());
    }

    #[test]
    fn missing_content_length_takes_the_rest_of_a_datagram() {
        let m = Message::parse(b"SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\nabc").unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.body, b"abc");
        let m = Message::parse(b"SIP/2.0 486 Busy Here\r\n\r\n").unwrap();
        assert_eq!(
            m.start,
            StartLine::Response {
                status: 486,
                reason: "Busy Here".into()
            }
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert_eq!(Message::parse(b"\r\n\r\n"), Err(PhoneParseError::Empty));
        assert_eq!(
            Message::parse(b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n"),
            Err(PhoneParseError::Incomplete)
        );
        for bad in [
            &b"SIP/2.0 20 OK\r\n\r\n"[..],
            b"SIP/2.0 700 Nope\r\n\r\n",
            b"SIP/2.0 abc OK\r\n\r\n",
            b"INVITE sip:a@b SIP/3.0\r\n\r\n",
            b"INVITE  sip:a@b SIP/2.0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(
                matches!(Message::parse(bad), Err(PhoneParseError::StartLine(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Message::parse(b"SIP/2.0 200 OK\r\nno colon\r\n\r\n"),
            Err(PhoneParseError::Header(_))
        ));
        assert!(matches!(
            Message::parse(b"SIP/2.0 200 OK\r\n folded first\r\n\r\n"),
            Err(PhoneParseError::Header(_))
        ));
        assert!(matches!(
            Message::parse(b"SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            Err(PhoneParseError::ContentLength(_))
        ));
        assert!(matches!(
            Message::parse(b"SIP/2.0 200 OK\r\nl: -1\r\n\r\n"),
            Err(PhoneParseError::ContentLength(_))
        ));
        // Arbitrary bytes never panic.
        for len in 0..RESPONSE.len() {
            let _ = Message::parse(&RESPONSE.as_bytes()[..len]);
            let _ = frame(&RESPONSE.as_bytes()[..len]);
        }
        let _ = Message::parse(&[0xff, 0xfe, b'\n', b'\n']);
    }

    #[test]
    fn frames_a_tcp_stream() {
        let one = "SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let two = "OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nxyz";
        let stream = format!("\r\n\r\n{one}{two}");
        let first = frame(stream.as_bytes()).unwrap().unwrap();
        assert_eq!(first, 4 + one.len());
        let rest = &stream.as_bytes()[first..];
        assert_eq!(frame(rest).unwrap(), Some(two.len()));
        assert_eq!(frame(&rest[..two.len() - 1]).unwrap(), None);
        assert_eq!(frame(&rest[..10]).unwrap(), None);
        assert_eq!(Message::parse(rest).unwrap().body, b"xyz");
        assert!(frame(b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    }

    #[test]
    fn params_and_uris() {
        assert_eq!(header_param("<sip:a@b;tag=no>;tag=yes", "tag"), Some("yes"));
        assert_eq!(header_param("sip:a@b;TAG=bare", "tag"), Some("bare"));
        assert_eq!(header_param("sip:a@b", "tag"), None);
        assert_eq!(
            header_param("SIP/2.0/UDP h:1;rport;branch=z9hG4bK1", "rport"),
            Some("")
        );
        assert_eq!(header_param("\"x;tag=1\" <sip:a@b>", "tag"), None);
        assert_eq!(uri_of("\"Bob <x>\" <sip:bob@h>;tag=1"), "sip:bob@h");
        assert_eq!(uri_of("sip:bob@h;tag=1"), "sip:bob@h");
        assert_eq!(uri_of("<sip:unclosed"), "<sip:unclosed");
        assert_eq!(
            split_list("<sip:a,b@h>, \"x,y\" <sip:c@h>,sip:d@h").collect::<Vec<_>>(),
            ["<sip:a,b@h>", "\"x,y\" <sip:c@h>", "sip:d@h"]
        );
    }
}
