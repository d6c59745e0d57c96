//! The sans-IO half of the server's `lenient` module: a byte-level state machine that follows
//! the HTTP/1 requests on one connection and percent-encodes the bytes of
//! each request-target that hyper's URI parser would refuse.
//!
//! It never holds bytes back: every input byte becomes its output at once
//! (one byte, or three for `%XX`), so a client waiting on `Expect:
//! 100-continue` or a half-sent request never stalls behind it. It keeps
//! only what it needs to find the next request line: the current header
//! line (at most [`MAX_HEADER_LINE`] bytes) and the `Content-Length` of the
//! request being read. Whatever it cannot follow with certainty it hands
//! on unchanged for the rest of the connection, and hyper judges those
//! bytes exactly as it would have without us.

/// Longest request line (method, target, version, line end) followed; a
/// longer one switches the connection to pass-through.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest header line followed; a longer one switches the connection to
/// pass-through.
pub const MAX_HEADER_LINE: usize = 16 * 1024;

/// Why a connection's remaining bytes pass through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfollowable {
    /// A `Transfer-Encoding` header: we do not decode chunked framing.
    TransferEncoding,
    /// An `Upgrade` header: what follows may not be HTTP/1.
    Upgrade,
    /// A `CONNECT` request: a tunnel may follow.
    Connect,
    /// A `Content-Length` that is not a number, or disagrees with another.
    ContentLength,
    /// A line ended inside the method or the request-target.
    RequestLine,
    /// A request line longer than [`MAX_REQUEST_LINE`].
    LongRequestLine,
    /// A header line longer than [`MAX_HEADER_LINE`].
    LongHeaderLine,
}

/// Rewrites the request-targets of one connection's requests; see the
/// module docs. Feed it what the client sent, in order, in chunks of any
/// size: the output does not depend on how the input was split.
#[derive(Debug)]
pub struct TargetRewriter {
    state: State,
    /// Bytes of the current request line so far.
    request_line: usize,
    /// The method so far, enough of it to recognise `CONNECT`.
    method: [u8; METHOD_KEPT],
    method_len: usize,
    /// The current header line so far, without its `\n`.
    header: Vec<u8>,
    /// The `Content-Length` of the request whose headers are being read.
    content_length: Option<u64>,
}

impl Default for TargetRewriter {
    fn default() -> Self {
        Self::new()
    }
}

impl TargetRewriter {
    /// A rewriter expecting a connection's first request.
    pub fn new() -> Self {
        Self {
            state: State::BetweenRequests,
            request_line: 0,
            method: [0; METHOD_KEPT],
            method_len: 0,
            header: Vec::new(),
            content_length: None,
        }
    }

    /// Takes the next bytes the client sent and appends to `out` the bytes
    /// hyper should read in their place (at least one per input byte).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        self.take(input, out, false);
    }

    /// Takes the leading bytes of `input` that [`Self::feed`] would hand on
    /// exactly as they are, and returns how many: all of them unless a
    /// request-target holds a byte to encode. The bytes from that one on
    /// must go through `feed`. So a reader can leave the client's bytes
    /// where they are, and copy only when something must change.
    pub fn pass_unchanged(&mut self, input: &[u8]) -> usize {
        self.take(input, &mut Unchanged, true)
    }

    /// `feed`'s work, writing to `out`; with `until_encoding`, it stops
    /// before the first byte it would encode. Returns how many bytes of
    /// `input` it took.
    fn take(&mut self, input: &[u8], out: &mut impl Output, until_encoding: bool) -> usize {
        let mut rest = input;
        while !rest.is_empty() {
            match self.state {
                State::PassThrough(_) => {
                    out.put(rest);
                    return input.len();
                }
                State::Body { remaining } => {
                    let (body, after) = rest.split_at(
                        usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len())),
                    );
                    out.put(body);
                    rest = after;
                    // `body.len()` is at most `remaining`, so this cannot wrap.
                    let left = remaining.saturating_sub(body.len() as u64);
                    self.state = if left == 0 {
                        State::BetweenRequests
                    } else {
                        State::Body { remaining: left }
                    };
                }
                _ => {
                    let copied = self.copy_run(rest, out);
                    rest = rest.get(copied..).unwrap_or_default();
                    if let Some((&b, after)) = rest.split_first() {
                        if until_encoding && self.would_encode(b) {
                            break;
                        }
                        self.step(b, out);
                        rest = after;
                    }
                }
            }
        }
        input.len() - rest.len()
    }

    /// Whether `step` would write `b` encoded: a target byte to encode,
    /// not past the request line's limit (which `step` counts it into).
    fn would_encode(&self, b: u8) -> bool {
        self.state == State::Target && self.request_line < MAX_REQUEST_LINE && encoded_in_target(b)
    }

    /// Copies the leading bytes of `input` that need nothing but copying
    /// (the middle of a header line, of a request-target, or of the
    /// version) to `out` in one go, with the bookkeeping [`Self::step`] would
    /// do for each; returns how many. A whole header line it follows here,
    /// `\n` and all, without gathering it. Every other byte that changes the
    /// state, and the byte past a length limit, is left to `step`.
    fn copy_run(&mut self, input: &[u8], out: &mut impl Output) -> usize {
        let room = match self.state {
            State::Header => MAX_HEADER_LINE.saturating_sub(self.header.len()),
            State::Target | State::Version => MAX_REQUEST_LINE.saturating_sub(self.request_line),
            _ => return 0,
        };
        let window = input.get(..room).unwrap_or(input);
        let end = match self.state {
            // A space, CR and LF are among the bytes needing encoding.
            State::Target => window.iter().position(|&b| needs_encoding(b)),
            _ => memchr::memchr(b'\n', window),
        };
        let n = end.unwrap_or(window.len());
        let run = window.get(..n).unwrap_or_default();
        if self.state == State::Header {
            if let Some(line) = window
                .get(..=n)
                .filter(|_| self.header.is_empty() && end.is_some())
            {
                out.put(line);
                self.header_line(run);
                return n + 1;
            }
            self.header.extend_from_slice(run);
        } else {
            self.request_line += n;
        }
        out.put(run);
        n
    }

    /// Whether the rest of this connection passes through unchanged, and
    /// why.
    #[must_use]
    pub fn passing_through(&self) -> Option<Unfollowable> {
        match self.state {
            State::PassThrough(why) => Some(why),
            _ => None,
        }
    }

    /// One byte of a request line or header line.
    fn step(&mut self, b: u8, out: &mut impl Output) {
        match self.state {
            State::BetweenRequests => {
                // Empty lines before a request line are allowed (RFC 9112
                // §2.2) and hyper skips them.
                if b == b'\r' || b == b'\n' {
                    out.put(&[b]);
                } else {
                    self.request_line = 0;
                    self.method_len = 0;
                    self.state = State::Method;
                    self.step(b, out);
                }
            }
            State::Method | State::Target | State::Version => {
                self.request_line += 1;
                if self.request_line > MAX_REQUEST_LINE {
                    self.pass_through(Unfollowable::LongRequestLine);
                    out.put(&[b]);
                } else {
                    self.request_line_byte(b, out);
                }
            }
            State::Header => {
                out.put(&[b]);
                if b == b'\n' {
                    self.end_of_header_line();
                } else if self.header.len() >= MAX_HEADER_LINE {
                    self.pass_through(Unfollowable::LongHeaderLine);
                } else {
                    self.header.push(b);
                }
            }
            // `feed` handles these without calling `step`.
            State::Body { .. } | State::PassThrough(_) => out.put(&[b]),
        }
    }

    fn request_line_byte(&mut self, b: u8, out: &mut impl Output) {
        match self.state {
            State::Method => {
                out.put(&[b]);
                if b == b' ' {
                    if self.method() == b"CONNECT" {
                        self.pass_through(Unfollowable::Connect);
                    } else {
                        self.state = State::Target;
                    }
                } else if b == b'\r' || b == b'\n' {
                    self.pass_through(Unfollowable::RequestLine);
                } else {
                    if let Some(slot) = self.method.get_mut(self.method_len) {
                        *slot = b;
                    }
                    self.method_len = self.method_len.saturating_add(1);
                }
            }
            State::Target => {
                if b == b' ' {
                    out.put(&[b]);
                    self.state = State::Version;
                } else if b == b'\r' || b == b'\n' {
                    // A request line without a version: hyper refuses it,
                    // and we cannot be sure where the headers start.
                    out.put(&[b]);
                    self.pass_through(Unfollowable::RequestLine);
                } else if encoded_in_target(b) {
                    out.put(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
                } else {
                    out.put(&[b]);
                }
            }
            State::Version => {
                out.put(&[b]);
                if b == b'\n' {
                    self.header.clear();
                    self.content_length = None;
                    self.state = State::Header;
                }
            }
            _ => out.put(&[b]),
        }
    }

    /// The method, if it was short enough to keep; else a value that
    /// matches no method we look for.
    fn method(&self) -> &[u8] {
        self.method.get(..self.method_len).unwrap_or_default()
    }

    /// A header line gathered in `header` ended (its `\n` is already out).
    fn end_of_header_line(&mut self) {
        let line = std::mem::take(&mut self.header);
        self.header_line(&line);
        if self.passing_through().is_none() {
            // Keeps its capacity for the next line.
            self.header = line;
            self.header.clear();
        }
    }

    /// Follows one header line, without its `\n`.
    fn header_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.state = match self.content_length {
                None | Some(0) => State::BetweenRequests,
                Some(remaining) => State::Body { remaining },
            };
            return;
        }
        // A line without a colon is hyper's to refuse; it frames nothing.
        if let Some((name, value)) = split_header(line) {
            let verdict = if name.eq_ignore_ascii_case(b"content-length") {
                match (content_length(value), self.content_length) {
                    (Some(n), None) => {
                        self.content_length = Some(n);
                        Ok(())
                    }
                    (Some(n), Some(earlier)) if n == earlier => Ok(()),
                    _ => Err(Unfollowable::ContentLength),
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                Err(Unfollowable::TransferEncoding)
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                Err(Unfollowable::Upgrade)
            } else {
                Ok(())
            };
            if let Err(why) = verdict {
                self.pass_through(why);
            }
        }
    }

    fn pass_through(&mut self, why: Unfollowable) {
        self.state = State::PassThrough(why);
        self.header = Vec::new();
    }
}

/// Where the rewriter's output goes.
trait Output {
    fn put(&mut self, bytes: &[u8]);
}

impl Output for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// `pass_unchanged`'s output: the input itself, left where it is.
struct Unchanged;

impl Output for Unchanged {
    fn put(&mut self, _: &[u8]) {}
}

/// Where in a request the next byte falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a request line, skipping empty lines.
    BetweenRequests,
    /// The method, up to the first SP.
    Method,
    /// The request-target, up to the second SP: the bytes we rewrite.
    Target,
    /// The version, up to the line's `\n`.
    Version,
    /// A header line, or the empty line that ends the headers.
    Header,
    /// The body, framed by `Content-Length`.
    Body { remaining: u64 },
    /// The rest of the connection, unchanged.
    PassThrough(Unfollowable),
}

/// `CONNECT` is the longest method we need to recognise.
const METHOD_KEPT: usize = 7;

const HEX: [u8; 16] = *b"0123456789ABCDEF";

/// The target bytes the `http` crate's URI parser refuses, all of which a
/// client may mean literally: `<>"{}|\^` and backtick, controls (a space
/// never gets here: it ends the target), DEL and every non-ASCII byte. `%`
/// is not among them: an already-encoded target must reach the router as
/// it was sent.
fn needs_encoding(b: u8) -> bool {
    NEEDS_ENCODING[usize::from(b)]
}

/// Whether a byte of a request-target is written encoded: one that
/// [`needs_encoding`], except the space and line ends that end the target.
fn encoded_in_target(b: u8) -> bool {
    needs_encoding(b) && !matches!(b, b' ' | b'\r' | b'\n')
}

/// [`needs_encoding`] as a table: it is asked of every target byte.
const NEEDS_ENCODING: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`' | 0x00..=0x20 | 0x7F..=0xFF
        );
        b += 1;
    }
    table
};

/// `name: value` split at the first colon, the value without the
/// optional whitespace around it.
fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&c| c == b':')?;
    let (name, value) = line.split_at(colon);
    Some((name, value.get(1..).unwrap_or_default().trim_ascii()))
}

/// A `Content-Length` value as hyper reads it: one or more comma-separated
/// decimal numbers that must all be equal.
fn content_length(value: &[u8]) -> Option<u64> {
    let mut length = None;
    for part in value.split(|&c| c == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        match length {
            None => length = Some(n),
            Some(earlier) if earlier == n => {}
            Some(_) => return None,
        }
    }
    length
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;

    use super::*;

    fn rewrite(input: &[u8]) -> Vec<u8> {
        rewrite_chunks([input])
    }

    fn rewrite_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut r = TargetRewriter::new();
        let mut out = Vec::new();
        for chunk in chunks {
            r.feed(chunk, &mut out);
        }
        out
    }

    /// As a reader does: each chunk's unchanged start as it is, the rest
    /// through `feed`.
    fn rewrite_chunks_in_place<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut r = TargetRewriter::new();
        let mut out = Vec::new();
        for chunk in chunks {
            let (kept, rest) = chunk.split_at(r.pass_unchanged(chunk));
            out.extend_from_slice(kept);
            r.feed(rest, &mut out);
        }
        out
    }

    fn rewriter_after(input: &[u8]) -> TargetRewriter {
        let mut r = TargetRewriter::new();
        r.feed(input, &mut Vec::new());
        r
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    const TWO_REQUESTS: &[u8] =
        b"POST /2008-08-01/Accounts/AC1/Conferences/CF1/Participants/CA1 HTTP/1.1\r\n\
        Host: x\r\nContent-type: application/x-www-form-urlencoded\r\ncontent-LENGTH:  23 \r\n\r\n\
        Muted=true&x=<b>GET /a>\
        GET /2008-08-01/Accounts/AC1/Conferences?Status=1&DateCreated>=2009-07-06 HTTP/1.1\r\n\
        Host: x\r\n\r\n";

    const TWO_REWRITTEN: &[u8] =
        b"POST /2008-08-01/Accounts/AC1/Conferences/CF1/Participants/CA1 HTTP/1.1\r\n\
        Host: x\r\nContent-type: application/x-www-form-urlencoded\r\ncontent-LENGTH:  23 \r\n\r\n\
        Muted=true&x=<b>GET /a>\
        GET /2008-08-01/Accounts/AC1/Conferences?Status=1&DateCreated%3E=2009-07-06 HTTP/1.1\r\n\
        Host: x\r\n\r\n";

    #[test]
    fn raw_angle_brackets_in_the_target_are_encoded() {
        let out = rewrite(
            b"GET /C?DateCreated>=2009-07-06&DateUpdated<=2009-07-07 HTTP/1.1\r\nHost: a<b>\r\n\r\n",
        );
        assert_eq!(
            text(&out),
            "GET /C?DateCreated%3E=2009-07-06&DateUpdated%3C=2009-07-07 HTTP/1.1\r\nHost: a<b>\r\n\r\n"
        );
    }

    #[test]
    fn every_byte_the_uri_parser_refuses_is_encoded() {
        let out = rewrite(b"GET /\"{}|\\^`\t\x00\x7f\xc3\xa9%3E HTTP/1.1\r\n\r\n");
        assert_eq!(
            text(&out),
            "GET /%22%7B%7D%7C%5C%5E%60%09%00%7F%C3%A9%3E HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn an_already_encoded_target_is_untouched() {
        let input =
            b"GET /C?DateCreated%3E=2009-07-06&x=%25%3C%7C~!$&'()*+,;=:@[]# HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(text(&rewrite(input)), text(input));
    }

    #[test]
    fn a_body_is_not_rewritten_and_the_request_after_it_is() {
        assert_eq!(text(&rewrite(TWO_REQUESTS)), text(TWO_REWRITTEN));
        assert_eq!(rewriter_after(TWO_REQUESTS).passing_through(), None);
    }

    #[test]
    fn pipelined_requests_are_all_rewritten() {
        let out = rewrite(
            b"GET /a>b HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /c<d HTTP/1.1\r\nHost: x\r\n\r\n\
              \r\n\
              DELETE /e|f HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(
            text(&out),
            "GET /a%3Eb HTTP/1.1\r\nHost: x\r\n\r\n\
             GET /c%3Cd HTTP/1.1\r\nHost: x\r\n\r\n\
             \r\n\
             DELETE /e%7Cf HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn only_a_target_byte_to_encode_stops_the_unchanged_run() {
        let mut r = TargetRewriter::new();
        let clean = b"GET /C?DateCreated%3E=2009-07-06 HTTP/1.1\r\nHost: a<b>\r\n\r\n";
        assert_eq!(r.pass_unchanged(clean), clean.len());
        let raw = b"GET /C?DateCreated>=2009-07-06 HTTP/1.1\r\n\r\n";
        assert_eq!(r.pass_unchanged(raw), "GET /C?DateCreated".len());
        // What stopped it was not taken: `feed` encodes it.
        let mut out = Vec::new();
        r.feed(b">=", &mut out);
        assert_eq!(out, b"%3E=");
    }

    #[test]
    fn the_output_does_not_depend_on_where_the_input_is_split() {
        let whole = rewrite(TWO_REQUESTS);
        assert_eq!(text(&whole), text(TWO_REWRITTEN));
        for i in 0..=TWO_REQUESTS.len() {
            let (a, b) = TWO_REQUESTS.split_at(i);
            assert_eq!(text(&rewrite_chunks([a, b])), text(&whole), "split at {i}");
        }
        for i in (0..=TWO_REQUESTS.len()).step_by(7) {
            for j in i..=TWO_REQUESTS.len() {
                let chunks = [&TWO_REQUESTS[..i], &TWO_REQUESTS[i..j], &TWO_REQUESTS[j..]];
                assert_eq!(
                    text(&rewrite_chunks(chunks)),
                    text(&whole),
                    "split at {i}, {j}"
                );
            }
        }
        let bytes = rewrite_chunks(TWO_REQUESTS.chunks(1));
        assert_eq!(text(&bytes), text(&whole), "one byte at a time");
    }

    #[test]
    fn bare_lf_line_endings_are_followed() {
        let out = rewrite(
            b"\nPOST /a>b HTTP/1.1\nHost: x\nContent-Length: 3\n\n<>x\
              GET /c<d HTTP/1.1\n\n",
        );
        assert_eq!(
            text(&out),
            "\nPOST /a%3Eb HTTP/1.1\nHost: x\nContent-Length: 3\n\n<>x\
             GET /c%3Cd HTTP/1.1\n\n"
        );
    }

    #[test]
    fn chunked_bodies_pass_the_rest_of_the_connection_through() {
        let input = b"POST /a>b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\n<>GET\r\n0\r\n\r\nGET /c>d HTTP/1.1\r\n\r\n";
        let out = rewrite(input);
        let expected = text(input).replacen("/a>b", "/a%3Eb", 1);
        assert_eq!(text(&out), expected);
        assert_eq!(
            rewriter_after(input).passing_through(),
            Some(Unfollowable::TransferEncoding)
        );
    }

    #[test]
    fn what_cannot_be_followed_passes_through() {
        for (headers, why) in [
            (
                "transfer-encoding: gzip, chunked\r\n",
                Unfollowable::TransferEncoding,
            ),
            (
                "Upgrade: websocket\r\nConnection: upgrade\r\n",
                Unfollowable::Upgrade,
            ),
            (
                "Content-Length: 3\r\nContent-Length: 4\r\n",
                Unfollowable::ContentLength,
            ),
            ("Content-Length: 3, 4\r\n", Unfollowable::ContentLength),
            ("Content-Length: -3\r\n", Unfollowable::ContentLength),
            ("Content-Length: +3\r\n", Unfollowable::ContentLength),
            ("Content-Length: 0x3\r\n", Unfollowable::ContentLength),
            ("Content-Length:\r\n", Unfollowable::ContentLength),
            ("Content-Length: 3,\r\n", Unfollowable::ContentLength),
            (
                "Content-Length: 99999999999999999999999\r\n",
                Unfollowable::ContentLength,
            ),
        ] {
            let input = format!("POST /a HTTP/1.1\r\n{headers}\r\nabc GET /b>c HTTP/1.1\r\n\r\n");
            assert_eq!(text(&rewrite(input.as_bytes())), input, "{headers}");
            assert_eq!(
                rewriter_after(input.as_bytes()).passing_through(),
                Some(why),
                "{headers}"
            );
        }
        let tunnel = b"CONNECT a>b:443 HTTP/1.1\r\n\r\nGET /c>d HTTP/1.1\r\n\r\n";
        assert_eq!(text(&rewrite(tunnel)), text(tunnel));
        assert_eq!(
            rewriter_after(tunnel).passing_through(),
            Some(Unfollowable::Connect)
        );
        let no_version = b"GET /a>b\r\nHost: x\r\n\r\nGET /c>d HTTP/1.1\r\n\r\n";
        assert_eq!(
            text(&rewrite(no_version)),
            text(no_version).replacen("/a>b", "/a%3Eb", 1)
        );
        assert_eq!(
            rewriter_after(no_version).passing_through(),
            Some(Unfollowable::RequestLine)
        );
    }

    #[test]
    fn agreeing_content_lengths_are_followed() {
        for headers in [
            "Content-Length: 3\r\ncontent-length: 3\r\n",
            "Content-Length: 3, 3\r\n",
            "Content-Length:\t003\t\r\n",
        ] {
            let input = format!("POST /a HTTP/1.1\r\n{headers}\r\n<>xGET /b>c HTTP/1.1\r\n\r\n");
            let expected = input.replacen("/b>c", "/b%3Ec", 1);
            assert_eq!(text(&rewrite(input.as_bytes())), expected, "{headers}");
        }
    }

    #[test]
    fn overlong_lines_pass_through() {
        let long_target = format!(
            "GET /{} HTTP/1.1\r\n\r\nGET /b>c HTTP/1.1\r\n\r\n",
            ">".repeat(MAX_REQUEST_LINE)
        );
        let r = rewriter_after(long_target.as_bytes());
        assert_eq!(r.passing_through(), Some(Unfollowable::LongRequestLine));
        let out = rewrite(long_target.as_bytes());
        assert!(text(&out).ends_with(" HTTP/1.1\r\n\r\nGET /b>c HTTP/1.1\r\n\r\n"));

        let long_header = format!(
            "GET /a>b HTTP/1.1\r\nX: {}\r\n\r\nGET /b>c HTTP/1.1\r\n\r\n",
            "y".repeat(MAX_HEADER_LINE)
        );
        let r = rewriter_after(long_header.as_bytes());
        assert_eq!(r.passing_through(), Some(Unfollowable::LongHeaderLine));
        assert_eq!(
            text(&rewrite(long_header.as_bytes())),
            long_header.replacen("/a>b", "/a%3Eb", 1)
        );

        // Just under the limits is still followed.
        let fits = format!(
            "GET /{} HTTP/1.1\r\nX: {}\r\n\r\nGET /b>c HTTP/1.1\r\n\r\n",
            "a".repeat(MAX_REQUEST_LINE - "GET / HTTP/1.1\r\n".len()),
            "y".repeat(MAX_HEADER_LINE - "X: \r".len())
        );
        assert_eq!(rewriter_after(fits.as_bytes()).passing_through(), None);
        assert!(text(&rewrite(fits.as_bytes())).ends_with("GET /b%3Ec HTTP/1.1\r\n\r\n"));

        // One byte over, in bytes that are copied in runs rather than stepped.
        let over = format!(
            "GET /{} HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST_LINE - "GET / HTTP/1.1\r\n".len() + 1),
            "y".repeat(MAX_HEADER_LINE - "X: \r".len())
        );
        let r = rewriter_after(over.as_bytes());
        assert_eq!(r.passing_through(), Some(Unfollowable::LongRequestLine));
        let over = format!(
            "GET /a HTTP/1.1\r\nX: {}\r\n\r\n",
            "y".repeat(MAX_HEADER_LINE - "X: \r".len() + 1)
        );
        let r = rewriter_after(over.as_bytes());
        assert_eq!(r.passing_through(), Some(Unfollowable::LongHeaderLine));
    }

    /// Pieces that make random input look like requests often enough to
    /// reach every state.
    fn chunk() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..24),
            Just(b"GET ".to_vec()),
            Just(b"CONNECT ".to_vec()),
            Just(b" HTTP/1.1\r\n".to_vec()),
            Just(b"/a>b?c<d".to_vec()),
            Just(b"Content-Length: 5\r\n".to_vec()),
            Just(b"content-length:12\n".to_vec()),
            Just(b"Content-Length: 18446744073709551616\r\n".to_vec()),
            Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
            Just(b"Upgrade: h2c\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b":".to_vec()),
            Just(b" ".to_vec()),
        ]
    }

    /// One well-formed request: its bytes and what hyper should read.
    fn request() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let target = proptest::collection::vec(
            any::<u8>().prop_filter("not a delimiter", |b| !matches!(b, b' ' | b'\r' | b'\n')),
            1..40,
        );
        let body = proptest::collection::vec(any::<u8>(), 0..40);
        (
            prop_oneof![Just("GET"), Just("POST"), Just("DELETE")],
            target,
            any::<bool>(),
            body,
        )
            .prop_map(|(method, target, crlf, body)| {
                let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                let head = |target: &[u8]| {
                    let mut r = Vec::new();
                    r.extend_from_slice(method.as_bytes());
                    r.push(b' ');
                    r.extend_from_slice(target);
                    r.extend_from_slice(b" HTTP/1.1");
                    r.extend_from_slice(eol);
                    r.extend_from_slice(format!("Content-Length: {}", body.len()).as_bytes());
                    r.extend_from_slice(eol);
                    r.extend_from_slice(eol);
                    r.extend_from_slice(&body);
                    r
                };
                let encoded: Vec<u8> = target
                    .iter()
                    .flat_map(|&b| {
                        if needs_encoding(b) {
                            format!("%{b:02X}").into_bytes()
                        } else {
                            vec![b]
                        }
                    })
                    .collect();
                (head(&target), head(&encoded))
            })
    }

    proptest! {
        #[test]
        fn garbage_never_panics_and_splits_do_not_matter(
            chunks in proptest::collection::vec(chunk(), 0..40),
        ) {
            let whole: Vec<u8> = chunks.concat();
            let out = rewrite_chunks(chunks.iter().map(Vec::as_slice));
            prop_assert_eq!(&out, &rewrite(&whole));
            prop_assert_eq!(&rewrite_chunks_in_place(chunks.iter().map(Vec::as_slice)), &out);
            prop_assert!(out.len() >= whole.len());
        }

        #[test]
        fn well_formed_requests_are_rewritten_wherever_they_are_split(
            requests in proptest::collection::vec(request(), 1..5),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let input: Vec<u8> = requests.iter().flat_map(|(raw, _)| raw.clone()).collect();
            let expected: Vec<u8> = requests.iter().flat_map(|(_, enc)| enc.clone()).collect();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([input.len()]) {
                chunks.push(&input[start..cut]);
                start = cut;
            }
            prop_assert_eq!(text(&rewrite_chunks(chunks.iter().copied())), text(&expected));
            prop_assert_eq!(text(&rewrite_chunks_in_place(chunks)), text(&expected));
        }
    }
}
