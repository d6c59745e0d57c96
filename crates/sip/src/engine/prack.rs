//! Reliable provisional responses (RFC 3262) for callers that send
//! `Require: 100rel`: when the shell answers such a call, the engine sends
//! 180 Ringing with `RSeq` and `Require: 100rel` itself, retransmits it
//! (T1, doubling) until the PRACK whose `RAck` names it, answers that PRACK
//! with 200 and only then sends the call's 200 OK. No PRACK within 64*T1:
//! the INVITE gets 500 (§3) and the call ends ([`EndedBy::Timeout`]). A
//! PRACK naming anything else gets 481. A caller that only says
//! `Supported: 100rel` is answered as before, without a reliable 18x.

use std::net::SocketAddr;
use std::time::Instant;

use crate::dialog::{CallState, Reliable18x};
use crate::engine::CallError;
use crate::event::{EndedBy, SipEvent};
use crate::message::{Request, Response, StatusCode};
use crate::rejection::{Rejection, raw};
use crate::timer::{Kind, Owner};
use crate::types::{CallId, Transport};

use super::Engine;

/// The first (and only) reliable provisional's RSeq. RFC 3262 §3 lets it
/// start anywhere from 1 to 2**31 - 1.
const FIRST_RSEQ: u32 = 1;

impl Engine {
    /// Whether an offered call's INVITE requires reliable provisionals and
    /// none has been sent yet.
    pub(super) fn requires_100rel(&self, call: CallId) -> Result<bool, CallError> {
        let c = self.calls.get(&call).ok_or(CallError::UnknownCall)?;
        let Some((invite, _)) = c.invite.as_ref().filter(|_| c.state == CallState::Offered) else {
            return Err(CallError::InvalidState);
        };
        // A delayed offer's first reliable response must carry our offer
        // (RFC 3261 §13.2.1); rather than offer in a 180 and take the
        // answer from a PRACK, such a call sends no 18x at all: its 200
        // offers, its ACK answers (Require: 100rel asks only that the 18x
        // we send be reliable).
        Ok(c.reliable.is_none()
            && !c.media.awaiting_answer
            && invite
                .headers
                .require
                .iter()
                .any(|t| t.eq_ignore_ascii_case("100rel")))
    }

    /// Sends the reliable 180 and arms its retransmission and give-up.
    pub(super) fn ring_reliably(
        &mut self,
        call: CallId,
        rtp_port: u16,
        now: Instant,
    ) -> Result<(), CallError> {
        let timers = self.config.timers;
        let c = self.calls.get(&call).ok_or(CallError::UnknownCall)?;
        let (invite, tx) = c.invite.as_ref().ok_or(CallError::InvalidState)?;
        let (tx, transport) = (*tx, c.dialog.transport);
        let mut response = Response::to(invite, StatusCode::RINGING, Some(&c.dialog.key.local_tag));
        self.dress_dialog_response(&mut response, invite, transport, c.dialog.local_addr);
        response.headers.require = vec!["100rel".to_owned()];
        response
            .headers
            .other
            .push(raw("RSeq", &FIRST_RSEQ.to_string()));
        let bytes = response.to_bytes();
        self.transactions.provisional(tx, bytes.clone());
        if let Some(c) = self.calls.get_mut(&call) {
            c.reliable = Some(Reliable18x {
                rseq: FIRST_RSEQ,
                bytes,
                interval: timers.t1,
                rtp_port,
            });
        }
        let owner = Owner::Call(call);
        let table = &mut self.transactions.table;
        table.set(owner, Kind::Retransmit, now + timers.t1);
        table.set(owner, Kind::GiveUp, now + timers.give_up());
        Ok(())
    }

    /// The reliable 180 again, the interval doubled (§3: no T2 cap).
    pub(super) fn retransmit_reliable(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(reliable) = c.reliable.as_mut() else {
            return;
        };
        reliable.interval = reliable.interval.saturating_mul(2);
        let (at, bytes) = (now + reliable.interval, reliable.bytes.clone());
        let (transport, peer) = (c.dialog.transport, c.dialog.peer);
        self.transactions
            .table
            .set(Owner::Call(call), Kind::Retransmit, at);
        self.send(transport, peer, bytes);
    }

    /// No PRACK in 64*T1: 500 to the INVITE, and the call is over.
    pub(super) fn reliable_gave_up(&mut self, call: CallId, now: Instant) {
        if self
            .end_offered(call, StatusCode::SERVER_INTERNAL_ERROR, now)
            .is_ok()
        {
            self.events.push_back(SipEvent::CallEnded {
                call,
                by: EndedBy::Timeout,
            });
        }
    }

    /// A PRACK: 200 and the call's 200 OK if its RAck names our reliable
    /// 180 (RSeq, the INVITE's CSeq number and method), else 481.
    pub(super) fn prack(
        &mut self,
        call: CallId,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        let c = self.calls.get_mut(&call).ok_or(Rejection::NoDialog)?;
        let invite_seq = c.invite.as_ref().map(|(invite, _)| invite.headers.cseq.seq);
        let matches = |rseq: u32| {
            let rack = request.headers.get("RAck").map(parse_rack);
            matches!((rack, invite_seq), (Some(Some((r, seq, m))), Some(s))
                if r == rseq && seq == s && m.eq_ignore_ascii_case("INVITE"))
        };
        let Some(rtp_port) = c
            .reliable
            .as_ref()
            .filter(|r| matches(r.rseq))
            .map(|r| r.rtp_port)
        else {
            return Err(Rejection::NoDialog);
        };
        c.reliable = None;
        self.transactions.table.cancel_all(Owner::Call(call));
        self.reply(transport, source, request, StatusCode::OK, vec![], now);
        // The call is still offered: only the reliable 180 went out.
        let _ = self.send_answer(call, rtp_port, now);
        Ok(())
    }
}

/// `RAck: <rseq> <cseq number> <method>`.
fn parse_rack(value: &str) -> Option<(u32, u32, &str)> {
    let mut parts = value.split_whitespace();
    let rseq = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let method = parts.next()?;
    parts.next().is_none().then_some((rseq, seq, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_is_three_fields() {
        assert_eq!(parse_rack("1 314 INVITE"), Some((1, 314, "INVITE")));
        assert_eq!(parse_rack(" 7  2 invite "), Some((7, 2, "invite")));
        for bad in [
            "",
            "1",
            "1 2",
            "x 2 INVITE",
            "1 2 INVITE extra",
            "1 -2 INVITE",
        ] {
            assert_eq!(parse_rack(bad), None, "{bad:?}");
        }
    }
}
