//! SIP INFO in a dialog (RFC 6086 §4.2, the legacy usage without an Info
//! Package that trunks and desk phones send): DTMF keys as
//! `application/dtmf-relay` (`Signal=5`, `Duration=160`) or
//! `application/dtmf` (`5`). A key becomes [`SipEvent::Dtmf`] and 200; an
//! empty INFO (a keep-alive) gets 200; any other body 415 naming the two we
//! read; a DTMF body naming no key 400. INFO outside a dialog is refused
//! with 481 before this (dispatch).

use std::net::SocketAddr;
use std::time::Instant;

use media::Digit;

use crate::event::SipEvent;
use crate::message::{Request, StatusCode};
use crate::rejection::Rejection;
use crate::types::{CallId, Transport};

use super::Engine;

impl Engine {
    pub(super) fn info(
        &mut self,
        call: CallId,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        let c = self.calls.get_mut(&call).ok_or(Rejection::NoDialog)?;
        c.admits(request)?;
        let digit = dtmf_of(request)?;
        c.dialog.remote_seq = request.headers.cseq.seq;
        self.reply(transport, source, request, StatusCode::OK, vec![], now);
        if let Some(digit) = digit {
            self.events.push_back(SipEvent::Dtmf { call, digit });
        }
        Ok(())
    }
}

/// The key an INFO body carries; `None` for an empty body.
fn dtmf_of(request: &Request) -> Result<Option<Digit>, Rejection> {
    if request.body.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(&request.body).map_err(|_| Rejection::BadDigit)?;
    let kind = request.headers.content_type.as_ref();
    let key = if kind.is_some_and(|t| t.is("application", "dtmf-relay")) {
        text.lines()
            .find_map(|line| {
                let (name, value) = line.split_once('=')?;
                name.trim().eq_ignore_ascii_case("Signal").then_some(value)
            })
            .ok_or(Rejection::BadDigit)?
    } else if kind.is_some_and(|t| t.is("application", "dtmf")) {
        text
    } else {
        return Err(Rejection::UnsupportedInfo);
    };
    key_of(key.trim()).map(Some).ok_or(Rejection::BadDigit)
}

/// `0`–`9`, `*`, `#`, `A`–`D` (either case), or the RFC 4733 event number
/// some gateways write instead (`10` is `*`, `11` is `#`).
fn key_of(key: &str) -> Option<Digit> {
    const KEYS: &str = "0123456789*#ABCD";
    let mut chars = key.chars();
    let event = match (chars.next(), chars.next()) {
        (Some(c), None) => KEYS.find(c.to_ascii_uppercase())?,
        _ => key.parse::<usize>().ok()?,
    };
    Digit::from_event(u8::try_from(event).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_by_character_or_event_number() {
        let key = |s| key_of(s).map(Digit::as_char);
        assert_eq!(key("5"), Some('5'));
        assert_eq!(key("*"), Some('*'));
        assert_eq!(key("#"), Some('#'));
        assert_eq!(key("d"), Some('D'));
        assert_eq!(key("10"), Some('*'));
        assert_eq!(key("11"), Some('#'));
        for bad in ["", "x", "16", "99999999999999999999", "**", "-1"] {
            assert_eq!(key(bad), None, "{bad:?}");
        }
    }
}
