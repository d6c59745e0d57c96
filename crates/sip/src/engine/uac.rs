//! Calls we place: the user agent client side of an INVITE (RFC 3261
//! §13.2, §17.1.1).
//!
//! [`Engine::dial`] sends an INVITE with our offer (PCMU, PCMA,
//! telephone-event; Contact, Via and `c=` at the advertised address) in an
//! INVITE client transaction (Timer A doubling from T1, Timer B at 64*T1,
//! stopped by the first provisional response) and arms the call's ring
//! timeout ([`Kind::Ring`]). Then:
//!
//! - 180/183: [`SipEvent::Progress`];
//! - 2xx: the dialog is made from it (the To tag, Contact as remote
//!   target, Record-Route reversed as route set, §12.1.2), we ACK it (a
//!   new transaction; a retransmitted 2xx gets the same ACK again) and the
//!   shell hears [`SipEvent::Answered`] with the answer to our offer. From
//!   here on the call is served like an incoming one (BYE either way,
//!   re-INVITEs, UPDATE, INFO, session timers the 2xx set);
//! - 401/407, once: ACKed, and the INVITE goes again with digest
//!   credentials (`digest`) and the next CSeq;
//! - any other 3xx-6xx: ACKed inside the transaction (same branch), and
//!   [`SipEvent::DialFailed`]: busy (486, 600), no answer (408, 480),
//!   rejected with the status;
//! - the ring timeout, or [`Engine::hangup`]: CANCEL (held until the first
//!   provisional response, §9.1), whose 487 is ACKed; a 2xx that crosses
//!   the CANCEL is ACKed and hung up (BYE). With no final response 64*T1
//!   after the CANCEL was wanted, the call is given up. The ring timeout is
//!   reported at once ([`DialFailure::NoAnswer`]), answered or not: what
//!   follows is the transaction's business, not the call's.
//!
//! Only UDP, to the next hop the shell resolved (the engine does no DNS).
//! Reliable provisional responses are not asked for (our `Supported` lists
//! only `timer`), and redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::dialog::{Call, CallState, CancelReason, Dialog, DialogKey, MediaSession, Outgoing};
use crate::digest::{Challenge, Credentials};
use crate::event::{DialFailure, SipEvent};
use crate::message::{
    BRANCH_COOKIE, CSeq, Headers, MediaType, Method, NameAddr, Request, Response, SipCallId,
};
use crate::rejection::{ALLOW, raw, read_response_answer};
use crate::sdp::Origin;
use crate::session_timer::{self, SessionTimer};
use crate::timer::{Kind, Owner};
use crate::types::{CallId, Transport, TxId};
use crate::uri::{Host, SipUri, Uri};

use super::Engine;

/// A call to place ([`Engine::dial`]).
#[derive(Debug, Clone)]
pub struct Dial {
    /// Whom to call: the Request-URI and To.
    pub target: SipUri,
    /// Where the INVITE goes (the shell resolved the target's or the
    /// trunk's host), over UDP.
    pub next_hop: SocketAddr,
    /// The From user part (the caller id), and its display name.
    pub from_user: String,
    pub from_display: Option<String>,
    /// The local address the INVITE leaves from, if the shell knows it:
    /// advertised in Contact, Via and SDP unless
    /// [`crate::EngineConfig::fixed`] (else the public address).
    pub local: Option<IpAddr>,
    /// Our RTP port (already bound by the shell), for the offer.
    pub rtp_port: u16,
    /// How long it may ring before we CANCEL.
    pub ring_timeout: Duration,
    /// For a 401/407 challenge (answered once); without, a challenge
    /// fails the call.
    pub credentials: Option<Credentials>,
}

impl Engine {
    /// Places a call: sends the INVITE now. What happens to it comes as
    /// [`SipEvent::Progress`], then [`SipEvent::Answered`] or
    /// [`SipEvent::DialFailed`]. [`Engine::hangup`] cancels it while it
    /// rings, and ends it (BYE) once answered.
    pub fn dial(&mut self, dial: Dial, now: Instant) -> CallId {
        let ip = match dial.local.map(|ip| ip.to_canonical()) {
            Some(ip) if !self.config.fixed && !ip.is_unspecified() => ip,
            _ => self.config.public_addr,
        };
        let call = CallId(self.transactions.fresh_id());
        let transport = Transport::Udp;
        let mut from_uri = SipUri::new(Host::Ip(ip), None);
        from_uri.user = Some(dial.from_user).filter(|u| !u.is_empty());
        let mut from = NameAddr::new(Uri::Sip(from_uri));
        from.display = dial.from_display;
        let target = Uri::Sip(dial.target);
        let call_id = SipCallId(format!("{}@{}", self.token(), Host::Ip(ip)));
        let mut dialog = Dialog {
            key: DialogKey {
                call_id,
                local_tag: self.token(),
                remote_tag: None,
            },
            local: from,
            remote: NameAddr::new(target.clone()),
            remote_target: target,
            route_set: Vec::new(),
            remote_seq: 0,
            local_seq: 0,
            transport,
            peer: dial.next_hop,
            local_addr: ip,
        };
        let origin = Origin {
            session_id: self.rng.next_u64() >> 1,
            version: 1,
        };
        // An offer of our own: `answer` writes it while an answer is awaited.
        let mut media = MediaSession::of_offer(None, origin);
        let offer = media.answer(SocketAddr::new(ip, dial.rtp_port));
        let branch = format!("{BRANCH_COOKIE}{}", self.token());
        let via = self.via(transport, &branch, ip);
        let other = vec![
            raw("User-Agent", &self.config.user_agent),
            raw("Allow", ALLOW),
            raw("Supported", "timer"),
        ];
        let mut invite = dialog.request(Method::Invite, via, other);
        invite.headers.contact = vec![self.contact(transport, ip)];
        invite.headers.content_type = Some(MediaType::new("application", "sdp"));
        invite.body = offer.into_bytes();
        self.transactions.start_client(
            branch.clone(),
            &invite,
            transport,
            dial.next_hop,
            call,
            now,
        );
        self.calls.insert(
            call,
            Call {
                state: CallState::Calling,
                dialog,
                media,
                invite: None,
                pending_2xx: None,
                bye_after_ack: false,
                session: None,
                peer_allows_update: false,
                reinvite_seq: None,
                reinvite_pending: false,
                bye_resent: false,
                reliable: None,
                outgoing: Some(Outgoing {
                    invite,
                    branch,
                    transport,
                    next_hop: dial.next_hop,
                    provisional: false,
                    cancel: None,
                    cancel_sent: false,
                    credentials: dial.credentials,
                    authenticated: false,
                    ack: None,
                }),
            },
        );
        self.transactions
            .table
            .set(Owner::Call(call), Kind::Ring, now + dial.ring_timeout);
        call
    }

    /// Whether a response on `branch` is to the INVITE of a call we placed
    /// (not to a re-INVITE of ours in its dialog).
    pub(super) fn is_outgoing_invite(&self, call: CallId, branch: &str) -> bool {
        self.calls
            .get(&call)
            .and_then(|c| c.outgoing.as_ref())
            .is_some_and(|o| o.branch == branch)
    }

    /// A provisional response to our INVITE (on `tx`, `branch`).
    pub(super) fn outgoing_provisional(
        &mut self,
        call: CallId,
        tx: TxId,
        status: crate::message::StatusCode,
        branch: &str,
        now: Instant,
    ) {
        if !self.is_outgoing_invite(call, branch) {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(out) = c
            .outgoing
            .as_mut()
            .filter(|_| c.state == CallState::Calling)
        else {
            return;
        };
        // Proceeding: Timer B no longer runs (§17.1.1.2); the ring timeout
        // bounds the wait.
        self.transactions
            .table
            .cancel(Owner::Client(tx), Kind::GiveUp);
        out.provisional = true;
        let cancel = out.cancel;
        if cancel.is_some() && !out.cancel_sent {
            self.send_cancel(call, now);
        } else if cancel.is_none() && status.as_u16() > 100 {
            self.events.push_back(SipEvent::Progress { call, status });
        }
    }

    /// A final response to our INVITE (`first`: not a retransmission).
    pub(super) fn outgoing_final(
        &mut self,
        call: CallId,
        response: &Response,
        first: bool,
        now: Instant,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(out) = &c.outgoing else {
            return;
        };
        let status = response.status;
        if status.is_success() {
            if c.state != CallState::Calling {
                // A retransmitted 2xx (ours was lost, §13.2.2.4): ACK again.
                if let Some(ack) = out.ack.clone() {
                    let (transport, to) = c.dialog.destination();
                    self.send(transport, to, ack);
                }
                return;
            }
            self.outgoing_answered(call, response, now);
            return;
        }
        if !first || c.state != CallState::Calling {
            return;
        }
        // A failure is ACKed inside the transaction, which ACKs its
        // retransmissions too (§17.1.1.3).
        let ack = ack_of_failure(&out.invite, response).to_bytes();
        let (branch, cancel) = (out.branch.clone(), out.cancel);
        self.transactions.ack_failure(&branch, ack);
        let code = status.as_u16();
        if matches!(code, 401 | 407)
            && cancel.is_none()
            && self.retry_with_credentials(call, response, now)
        {
            return;
        }
        // (A cancelled call was reported when it was cancelled.)
        let failure = match code {
            408 | 480 => DialFailure::NoAnswer,
            486 | 600 => DialFailure::Busy(status),
            _ => DialFailure::Rejected(status),
        };
        self.outgoing_over(call, failure);
    }

    /// Our INVITE timed out (Timer B), or the CANCEL got no final response
    /// to the INVITE in 64*T1.
    pub(super) fn outgoing_timed_out(&mut self, call: CallId) {
        let calling = self
            .calls
            .get(&call)
            .is_some_and(|c| c.state == CallState::Calling && c.outgoing.is_some());
        if calling {
            // (A cancelled call was reported when it was cancelled.)
            self.outgoing_over(call, DialFailure::Timeout);
        }
    }

    /// Cancels our INVITE (the ring timeout, or the shell's hang-up): the
    /// CANCEL goes now if a provisional response came, else at the first
    /// one; the call is given up 64*T1 from now if no final response comes.
    pub(super) fn cancel_outgoing(&mut self, call: CallId, reason: CancelReason, now: Instant) {
        let give_up = self.config.timers.give_up();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(out) = c
            .outgoing
            .as_mut()
            .filter(|_| c.state == CallState::Calling)
        else {
            return;
        };
        // The first reason stays: the shell has been told of it already
        // (its own hang-up, or the no answer reported below).
        let first = out.cancel.is_none();
        if first {
            out.cancel = Some(reason);
        }
        let send = out.provisional && !out.cancel_sent;
        let table = &mut self.transactions.table;
        table.cancel(Owner::Call(call), Kind::Ring);
        if table_missing(table, call) {
            table.set(Owner::Call(call), Kind::GiveUp, now + give_up);
        }
        if send {
            self.send_cancel(call, now);
        }
        // The call's outcome is known when it rang out, even if nothing
        // answered our INVITE yet (its CANCEL then waits for a provisional
        // response, and a late 2xx is hung up): no answer, now, not when
        // the transaction ends up to 64*T1 later.
        if first && reason == CancelReason::RingTimeout {
            self.events.push_back(SipEvent::DialFailed {
                call,
                failure: DialFailure::NoAnswer,
            });
        }
    }

    /// The CANCEL of our INVITE (§9.1): its Request-URI, Call-ID, From, To,
    /// CSeq number and top Via (so its branch), in a transaction of its own.
    fn send_cancel(&mut self, call: CallId, now: Instant) {
        let Some(out) = self.calls.get_mut(&call).and_then(|c| c.outgoing.as_mut()) else {
            return;
        };
        out.cancel_sent = true;
        let h = &out.invite.headers;
        let mut headers = Headers::new(
            h.via.iter().take(1).cloned().collect(),
            h.from.clone(),
            h.to.clone(),
            h.call_id.clone(),
            CSeq {
                seq: h.cseq.seq,
                method: Method::Cancel,
            },
        );
        headers.max_forwards = Some(70);
        headers.route.clone_from(&h.route);
        let cancel = Request {
            method: Method::Cancel,
            uri: out.invite.uri.clone(),
            headers,
            body: Vec::new(),
        };
        let (branch, transport, to) = (out.branch.clone(), out.transport, out.next_hop);
        self.transactions
            .start_client(branch, &cancel, transport, to, call, now);
    }

    /// The 2xx to our INVITE: the dialog, the ACK, and the answer.
    fn outgoing_answered(&mut self, call: CallId, response: &Response, now: Instant) {
        let answer = read_response_answer(response);
        let branch = format!("{BRANCH_COOKIE}{}", self.token());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let h = &response.headers;
        if let Some(contact) = h.contact.first() {
            c.dialog.remote_target = contact.uri.clone();
        }
        c.dialog.route_set = h.record_route.iter().rev().cloned().collect();
        c.session = SessionTimer::of_answer(h);
        c.peer_allows_update = session_timer::lists(h, "Allow", "UPDATE");
        c.state = CallState::Confirmed;
        let cancel = c.outgoing.as_ref().and_then(|o| o.cancel);
        let remote_tag = h.to.tag().map(str::to_owned);
        self.calls.set_remote_tag(call, remote_tag);
        let table = &mut self.transactions.table;
        table.cancel(Owner::Call(call), Kind::Ring);
        table.cancel(Owner::Call(call), Kind::GiveUp);
        // The ACK of a 2xx is a request of the dialog (§13.2.2.4).
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (transport, to) = c.dialog.destination();
        let via = self.via(transport, &branch, c.dialog.local_addr);
        let seq = response.headers.cseq.seq;
        let ack = c
            .dialog
            .request_numbered(Method::Ack, seq, via, Vec::new())
            .to_bytes();
        self.send(transport, to, ack.clone());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(out) = c.outgoing.as_mut() {
            out.ack = Some(ack);
        }
        match (answer, cancel) {
            (Ok((sdp, stream, audio)), None) => {
                c.media.offer = sdp;
                c.media.stream = stream;
                c.media.audio = audio.clone();
                c.media.awaiting_answer = false;
                self.arm_session(call, now);
                self.events.push_back(SipEvent::Answered { call, audio });
            }
            // Answered after all, but too late (cancelled, and reported
            // then), or with nothing we can use.
            (answer, cancel) => {
                self.send_bye(call, now);
                if cancel.is_none() {
                    debug_assert!(answer.is_err());
                    self.events.push_back(SipEvent::DialFailed {
                        call,
                        failure: DialFailure::BadAnswer,
                    });
                }
            }
        }
    }

    /// Sends the INVITE again with credentials for the challenge in a
    /// 401/407 (once per call). False if there is nothing to answer it
    /// with, or it cannot be answered.
    fn retry_with_credentials(&mut self, call: CallId, response: &Response, now: Instant) -> bool {
        let (challenge_header, answer_header) = if response.status.as_u16() == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let Some(challenge) = response
            .headers
            .get_all(challenge_header)
            .find_map(Challenge::parse)
        else {
            return false;
        };
        let cnonce = self.token();
        let branch = format!("{BRANCH_COOKIE}{}", self.token());
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let Some(out) = c.outgoing.as_ref().filter(|o| !o.authenticated) else {
            return false;
        };
        let Some(credentials) = &out.credentials else {
            return false;
        };
        let uri = out.invite.uri.to_string();
        let value = challenge.authorize(credentials, "INVITE", &uri, &cnonce);
        let via = self.via(out.transport, &branch, c.dialog.local_addr);
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        c.dialog.local_seq += 1;
        let seq = c.dialog.local_seq;
        let Some(out) = c.outgoing.as_mut() else {
            return false;
        };
        let mut invite = out.invite.clone();
        invite.headers.via = vec![via];
        invite.headers.cseq.seq = seq;
        invite.headers.other.retain(|h| {
            !h.name.eq_ignore_ascii_case("Authorization")
                && !h.name.eq_ignore_ascii_case("Proxy-Authorization")
        });
        invite.headers.other.push(raw(answer_header, &value));
        out.invite = invite.clone();
        out.branch = branch.clone();
        out.provisional = false;
        out.authenticated = true;
        let (transport, to) = (out.transport, out.next_hop);
        self.transactions
            .start_client(branch, &invite, transport, to, call, now);
        true
    }

    /// The call we placed is over before it was answered: forgotten, and
    /// the shell told why (unless it hung up itself).
    fn outgoing_over(&mut self, call: CallId, failure: DialFailure) {
        let Some(out) = self.calls.get(&call).and_then(|c| c.outgoing.as_ref()) else {
            return;
        };
        // A cancelled call was reported when it was cancelled.
        let reported = out.cancel.is_some();
        let branch = out.branch.clone();
        self.transactions.abandon_invite(&branch);
        self.remove_call(call);
        if !reported {
            self.events
                .push_back(SipEvent::DialFailed { call, failure });
        }
    }
}

/// Whether `call` has no give-up timer yet.
fn table_missing(table: &crate::timer::TimerTable, call: CallId) -> bool {
    !table.is_set(Owner::Call(call), Kind::GiveUp)
}

/// The ACK of a failure response to `invite` (§17.1.1.3): the INVITE's
/// Request-URI, top Via, From, Call-ID, CSeq number and Route, and the
/// response's To (with its tag).
fn ack_of_failure(invite: &Request, response: &Response) -> Request {
    let h = &invite.headers;
    let mut headers = Headers::new(
        h.via.iter().take(1).cloned().collect(),
        h.from.clone(),
        response.headers.to.clone(),
        h.call_id.clone(),
        CSeq {
            seq: h.cseq.seq,
            method: Method::Ack,
        },
    );
    headers.max_forwards = Some(70);
    headers.route.clone_from(&h.route);
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}
