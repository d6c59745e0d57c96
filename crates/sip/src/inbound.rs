//! A message from the network, parsed once at the edge.
//!
//! The shell may want to decide about a message before the engine acts on
//! it (the server's SIP task rate-limits new INVITEs and OPTIONS per
//! source). [`Inbound::parse`] parses the bytes once; the shell looks at
//! the result ([`Inbound::message`], [`Inbound::method`]) and hands the same
//! value to [`crate::Engine::handle_inbound`], which does not parse again.
//! On a stream, [`Inbound::frame`] cuts the next message out of the
//! buffer and parses it from the same split of its headers.

use crate::error::SipParseError;
use crate::message::{Message, Method};
use crate::parse::{self, ParseFailure, StreamFrame, is_token};

/// One datagram, or one message framed out of a stream, parsed.
#[derive(Debug)]
pub struct Inbound {
    pub(crate) parsed: Result<Message, ParseFailure>,
    /// For bytes that did not parse: the method their request line starts
    /// with (`INVITE garbage` is an INVITE), if it starts like one.
    request_line_method: Option<Method>,
}

/// The next thing in a stream (TCP) buffer, a whole message parsed.
#[derive(Debug)]
pub enum Framed {
    /// A whole message (`Inbound::parse` of its bytes); consume `end`
    /// bytes.
    Message { end: usize, inbound: Box<Inbound> },
    /// A keep-alive: consume `len` bytes; if `pong`, it was an RFC 5626
    /// double-CRLF ping, to be answered with a single CRLF.
    KeepAlive { len: usize, pong: bool },
    /// Not enough bytes yet.
    Incomplete,
}

impl Inbound {
    /// Parses `bytes` (see [`Message::parse`]).
    pub fn parse(bytes: &[u8]) -> Self {
        Self::of(parse::parse_message(bytes), bytes)
    }

    /// [`crate::frame_stream`] and, for a whole message, its parse: the
    /// same message [`Inbound::parse`] gives for the framed bytes, without
    /// splitting the header section a second time. Errors are those of
    /// [`crate::frame_stream`] (close the connection).
    pub fn frame(buf: &[u8]) -> Result<Framed, SipParseError> {
        Ok(match parse::frame_and_parse(buf)? {
            (StreamFrame::Message { start, end }, Some(parsed)) => {
                let bytes = buf.get(start..end).unwrap_or_default();
                Framed::Message {
                    end,
                    inbound: Box::new(Self::of(parsed, bytes)),
                }
            }
            // Framing parses every whole message; this is not reached.
            (StreamFrame::Message { start, end }, None) => Framed::Message {
                end,
                inbound: Box::new(Self::parse(buf.get(start..end).unwrap_or_default())),
            },
            (StreamFrame::KeepAlive { len, pong }, _) => Framed::KeepAlive { len, pong },
            (StreamFrame::Incomplete, _) => Framed::Incomplete,
        })
    }

    fn of(parsed: Result<Message, ParseFailure>, bytes: &[u8]) -> Self {
        let request_line_method = match parsed {
            Ok(_) => None,
            Err(_) => leading_method(bytes),
        };
        Self {
            parsed,
            request_line_method,
        }
    }

    /// The message, if it parsed.
    pub fn message(&self) -> Option<&Message> {
        self.parsed.as_ref().ok()
    }

    /// The method of a request: the parsed one, or, for bytes that did not
    /// parse, the token their first line starts with before a space.
    /// `None` for a response or for bytes that start like no request.
    pub fn method(&self) -> Option<&Method> {
        match &self.parsed {
            Ok(Message::Request(request)) => Some(&request.method),
            Ok(Message::Response(_)) => None,
            Err(_) => self.request_line_method.as_ref(),
        }
    }
}

/// The token before the first space of the first line (after the CRLFs
/// RFC 3261 §7.5 lets precede it), as a method.
fn leading_method(bytes: &[u8]) -> Option<Method> {
    let begin = bytes.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let rest = bytes.get(begin..)?;
    let end = rest.iter().position(|&b| b == b' ' || b == b'\n')?;
    let token = std::str::from_utf8(rest.get(..end)?).ok()?;
    (rest.get(end) == Some(&b' ') && is_token(token)).then(|| Method::from_token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_of_what_did_not_parse_is_read_off_its_first_line() {
        let method = |bytes: &[u8]| Inbound::parse(bytes).method().cloned();
        assert_eq!(method(b"INVITE garbage"), Some(Method::Invite));
        assert_eq!(method(b"\r\n\r\nOPTIONS x"), Some(Method::Options));
        assert_eq!(method(b"FOO x"), Some(Method::Extension("FOO".to_owned())));
        assert_eq!(method(b"INVITE\r\n x"), None);
        assert_eq!(method(b" INVITE x"), None);
        assert_eq!(method(b""), None);
        assert_eq!(method(b"SIP/2.0 200 OK\r\n\r\n"), None);
        assert!(Inbound::parse(b"INVITE garbage").message().is_none());
    }
}
