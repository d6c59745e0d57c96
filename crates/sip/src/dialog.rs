//! The dialog layer: a call is the dialog an INVITE creates (RFC 3261
//! §12) and the media session negotiated in it. [`Calls`] finds a call
//! from an in-dialog request; [`Dialog::request`] builds the requests we
//! send in a dialog (BYE, a session refresh) and [`Dialog::destination`]
//! says where they go: the remote target through the route set (§12.2).
//!
//! A call we place ([`crate::Engine::dial`]) starts in `Calling` and,
//! answered, goes straight to `Confirmed` (we send the ACK):
//!
//! ```text
//!   dial ─▶ Calling ──2xx, ACK sent──▶ Confirmed
//!             ╰─ 3xx-6xx, Timer B, CANCEL and 487: gone
//!   INVITE ─▶ Offered ──answer──▶ Answered ──ACK──▶ Confirmed ──BYE out──▶ Ending
//!               │  ╰─reject/CANCEL/BYE: gone      │ ╰─no ACK in 64*T1: BYE, Ending
//!               ╰──────────── BYE in: gone ────────┴── BYE in: gone
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::event::SipEvent;
use crate::message::{CSeq, Headers, Method, NameAddr, RawHeader, Request, SipCallId, Via};
use crate::rejection::{ReadSdp, Rejection};
use crate::sdp::{NegotiatedAudio, Origin, SessionDescription};
use crate::session_timer::SessionTimer;
use crate::types::{CallId, Transport, TxId};
use crate::uri::Uri;

/// Finds a dialog from an in-dialog request: Call-ID, our tag (the
/// request's To tag) and the remote tag (its From tag, absent for an RFC
/// 2543 caller).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DialogKey {
    pub call_id: SipCallId,
    pub local_tag: String,
    pub remote_tag: Option<String>,
}

impl DialogKey {
    /// The key an in-dialog request from the remote names.
    pub fn of_request(request: &Request) -> Option<Self> {
        Some(Self {
            call_id: request.headers.call_id.clone(),
            local_tag: request.headers.to.tag()?.to_owned(),
            remote_tag: request.headers.from.tag().map(str::to_owned),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Our INVITE is out (a call we place); no final response yet.
    Calling,
    /// Told the shell; no final response yet.
    Offered,
    /// 200 OK sent, waiting for the ACK.
    Answered,
    Confirmed,
    /// Our BYE is in flight; the call is over for the shell.
    Ending,
}

#[derive(Debug)]
pub(crate) struct Dialog {
    pub key: DialogKey,
    /// Our URI (the INVITE's To, without tag).
    pub local: NameAddr,
    /// The caller's URI (the INVITE's From, without tag).
    pub remote: NameAddr,
    /// Where in-dialog requests go: the latest Contact.
    pub remote_target: Uri,
    /// The INVITE's Record-Route, in order (UAS route set, §12.1.1).
    pub route_set: Vec<NameAddr>,
    pub remote_seq: u32,
    pub local_seq: u32,
    /// How the caller's signalling reaches us: UDP, the TCP connection it
    /// runs over, or [`Transport::TcpConnect`] once that connection has
    /// closed (our next request opens a new one).
    pub transport: Transport,
    /// Where the caller's requests come from.
    pub peer: SocketAddr,
    /// The address we advertise in this dialog (Contact, Via, SDP `o=` and
    /// `c=`): the local address the INVITE arrived on, or the configured
    /// public address.
    pub local_addr: IpAddr,
}

/// A 2xx to an INVITE, retransmitted until its ACK (§13.3.1.4).
#[derive(Debug)]
pub(crate) struct Pending2xx {
    pub seq: u32,
    pub bytes: Vec<u8>,
    pub interval: Duration,
    /// The 2xx to the initial INVITE (its ACK is reported to the shell).
    pub initial: bool,
}

#[derive(Debug)]
pub(crate) struct MediaSession {
    pub offer: SessionDescription,
    /// The offer's stream that carries our audio.
    pub stream: usize,
    pub audio: NegotiatedAudio,
    /// Our RTP address, once answered.
    pub local: Option<SocketAddr>,
    pub origin: Origin,
    /// The last SDP we sent (answer or offer), for the origin's version.
    pub last_answer: Option<String>,
    /// The next 2xx carries our offer and its ACK the answer (a delayed
    /// offer or a body-less re-INVITE); until that ACK, `offer`, `stream`
    /// and `audio` are the session before it (for a delayed offer, our own
    /// offer's audio, [`crate::sdp::offered_audio`]).
    pub awaiting_answer: bool,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub state: CallState,
    pub dialog: Dialog,
    pub media: MediaSession,
    /// The initial INVITE and its transaction, until the final response.
    pub invite: Option<(Request, TxId)>,
    pub pending_2xx: Option<Pending2xx>,
    /// The shell hung up before the ACK came: send BYE when it does.
    pub bye_after_ack: bool,
    /// The session timer agreed on (RFC 4028), if any.
    pub session: Option<SessionTimer>,
    /// The peer's Allow lists UPDATE: our refreshes are UPDATEs, not
    /// re-INVITEs.
    pub peer_allows_update: bool,
    /// The CSeq number of our last re-INVITE, whose final responses we
    /// acknowledge.
    pub reinvite_seq: Option<u32>,
    /// Our re-INVITE (a refresh carrying our offer) has no final response
    /// yet: a re-INVITE or an UPDATE offer from the peer now is glare.
    pub reinvite_pending: bool,
    /// Our BYE was lost with its closing connection and sent again over a
    /// new one (once: a peer that closes that one too is not chased).
    pub bye_resent: bool,
    /// A `Require: 100rel` caller's reliable 180, until its PRACK.
    pub reliable: Option<Reliable18x>,
    /// A call we placed: its INVITE, and how far it got.
    pub outgoing: Option<Outgoing>,
}

/// The INVITE of a call we place ([`crate::Engine::dial`]), kept for its
/// CANCEL, the ACK of a failure, a retry with credentials, and the ACK of
/// a retransmitted 2xx.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The INVITE as last sent (after a challenge, the one with
    /// credentials).
    pub invite: Request,
    /// Its branch: the client transaction, and its CANCEL's.
    pub branch: String,
    /// Where it went, and over what.
    pub transport: Transport,
    pub next_hop: SocketAddr,
    /// A provisional response came: a CANCEL may be sent (§9.1).
    pub provisional: bool,
    /// Why we want it cancelled, once we do (the CANCEL is sent at once,
    /// or at the first provisional response).
    pub cancel: Option<CancelReason>,
    /// The CANCEL went out.
    pub cancel_sent: bool,
    /// For a 401/407: tried once already?
    pub credentials: Option<crate::digest::Credentials>,
    pub authenticated: bool,
    /// The ACK of the 2xx, sent again for a retransmitted 2xx.
    pub ack: Option<Vec<u8>>,
}

/// Why we CANCEL our INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelReason {
    /// The shell hung up ([`crate::Engine::hangup`]): already reported.
    Local,
    /// The ring timeout: reported as [`crate::DialFailure::NoAnswer`] when
    /// it fires.
    RingTimeout,
}

impl Call {
    /// Whether a new request from the peer in this dialog (re-INVITE,
    /// UPDATE, INFO) may be taken: not once the call is ending or our BYE
    /// waits for the ACK (481), and not with a CSeq below the last one
    /// (500, RFC 3261 §12.2.2).
    pub fn admits(&self, request: &Request) -> Result<(), Rejection> {
        if self.state == CallState::Ending || self.bye_after_ack {
            return Err(Rejection::NoDialog);
        }
        if request.headers.cseq.seq < self.dialog.remote_seq {
            return Err(Rejection::OutOfOrder);
        }
        Ok(())
    }

    /// Whether the peer may make a new offer (a re-INVITE, an UPDATE with
    /// SDP): not while an offer of ours is unanswered, our re-INVITE in
    /// flight or our 2xx offer waiting for its ACK (491, RFC 3261 §14.2,
    /// RFC 3311 §5.2).
    pub fn offer_allowed(&self) -> Result<(), Rejection> {
        if self.reinvite_pending || self.media.awaiting_answer {
            return Err(Rejection::Glare);
        }
        Ok(())
    }
}

/// A reliable provisional response (RFC 3262 §3), retransmitted until its
/// PRACK; the 200 follows it, on `rtp_port`.
#[derive(Debug)]
pub(crate) struct Reliable18x {
    pub rseq: u32,
    pub bytes: Vec<u8>,
    pub interval: Duration,
    pub rtp_port: u16,
}

impl Dialog {
    /// The next request we send in this dialog (§12.2.1.1): our next CSeq,
    /// From with our tag, To with theirs, the remote target as the
    /// Request-URI and the route set as Route. A strict router first in
    /// the route set (no `;lr`) takes the Request-URI instead, and the
    /// remote target goes last in Route.
    pub fn request(&mut self, method: Method, via: Via, other: Vec<RawHeader>) -> Request {
        self.local_seq += 1;
        let seq = self.local_seq;
        self.request_numbered(method, seq, via, other)
    }

    /// A request of this dialog numbered `seq` (the ACK of a 2xx takes its
    /// INVITE's number).
    pub fn request_numbered(
        &self,
        method: Method,
        seq: u32,
        via: Via,
        other: Vec<RawHeader>,
    ) -> Request {
        let mut from = self.local.clone();
        from.set_tag(&self.key.local_tag);
        let mut to = self.remote.clone();
        if let Some(tag) = &self.key.remote_tag {
            to.set_tag(tag);
        }
        let cseq = CSeq {
            seq,
            method: method.clone(),
        };
        let mut headers = Headers::new(vec![via], from, to, self.key.call_id.clone(), cseq);
        headers.max_forwards = Some(70);
        headers.other = other;
        let uri = match self.route_set.split_first() {
            Some((first, rest)) if !is_loose(first) => {
                headers.route = rest.to_vec();
                headers
                    .route
                    .push(NameAddr::new(self.remote_target.clone()));
                strip_for_request_uri(&first.uri)
            }
            _ => {
                headers.route.clone_from(&self.route_set);
                self.remote_target.clone()
            }
        };
        Request {
            method,
            uri,
            headers,
            body: Vec::new(),
        }
    }

    /// Where the next request in this dialog goes, and over what.
    ///
    /// Over TCP, while the connection the caller's signalling runs over is
    /// open, on that connection (RFC 3261 §18.1.1 lets a request reuse an
    /// open connection to its peer, and a phone behind NAT can be reached
    /// no other way). Otherwise to the next hop (§8.1.2): the first route
    /// of the route set, or the remote target when there is none. The
    /// engine does no DNS: a next hop whose host is an IP literal is used
    /// as is (its port, or 5060; over TCP if it says `transport=tcp` or
    /// the dialog ran over TCP, else UDP); a next hop named by a hostname
    /// falls back to the address the dialog's requests came from.
    pub fn destination(&self) -> (Transport, SocketAddr) {
        if let Transport::Tcp(_) = self.transport {
            return (self.transport, self.peer);
        }
        let next_hop = self
            .route_set
            .first()
            .map_or(&self.remote_target, |route| &route.uri);
        let Some((sip, ip)) = next_hop.as_sip().and_then(|u| Some((u, u.host.ip()?))) else {
            return (self.transport, self.peer);
        };
        let over_tcp = match sip.param("transport").flatten() {
            Some(t) if t.eq_ignore_ascii_case("tcp") => true,
            Some(t) if t.eq_ignore_ascii_case("udp") => false,
            _ => self.transport.is_reliable(),
        };
        let transport = if over_tcp {
            Transport::TcpConnect
        } else {
            Transport::Udp
        };
        (transport, SocketAddr::new(ip, sip.port.unwrap_or(5060)))
    }
}

/// A loose router (RFC 3261 §16.12.1.1: its URI carries `lr`).
fn is_loose(route: &NameAddr) -> bool {
    route.uri.as_sip().is_some_and(|u| u.param("lr").is_some())
}

/// A strict router's URI as a Request-URI: without the `method`
/// parameter and the headers, which a Request-URI may not carry (§19.1.1).
fn strip_for_request_uri(uri: &Uri) -> Uri {
    match uri {
        Uri::Sip(sip) => {
            let mut sip = sip.clone();
            sip.headers = None;
            sip.params
                .retain(|p| !p.name.eq_ignore_ascii_case("method"));
            Uri::Sip(sip)
        }
        other => other.clone(),
    }
}

/// The live calls, and the dialogs that find them.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    calls: HashMap<CallId, Call>,
    dialogs: HashMap<DialogKey, CallId>,
}

impl Calls {
    pub fn insert(&mut self, id: CallId, call: Call) {
        self.dialogs.insert(call.dialog.key.clone(), id);
        self.calls.insert(id, call);
    }

    pub fn get(&self, id: &CallId) -> Option<&Call> {
        self.calls.get(id)
    }

    pub fn get_mut(&mut self, id: &CallId) -> Option<&mut Call> {
        self.calls.get_mut(id)
    }

    /// Files `id` under its dialog's key again, with the remote tag of
    /// the 2xx that established it (a call we placed).
    pub fn set_remote_tag(&mut self, id: CallId, tag: Option<String>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        self.dialogs.remove(&call.dialog.key);
        call.dialog.key.remote_tag = tag;
        self.dialogs.insert(call.dialog.key.clone(), id);
    }

    pub fn remove(&mut self, id: &CallId) -> Option<Call> {
        let call = self.calls.remove(id)?;
        self.dialogs.remove(&call.dialog.key);
        Some(call)
    }

    /// The call an in-dialog request names.
    pub fn find(&self, key: &DialogKey) -> Option<CallId> {
        self.dialogs.get(key).copied()
    }

    /// Another copy of an INVITE we already have (same Call-ID, From tag
    /// and CSeq, another branch): it forked upstream (§8.2.2.2).
    pub fn is_merged(&self, request: &Request) -> bool {
        let h = &request.headers;
        request.method == Method::Invite
            && self.calls.values().any(|c| {
                let key = &c.dialog.key;
                key.call_id == h.call_id
                    && key.remote_tag.as_deref() == h.from.tag()
                    && c.dialog.remote_seq == h.cseq.seq
            })
    }

    /// The calls whose signalling runs over `transport`, in order.
    pub fn on_transport(&self, transport: Transport) -> Vec<CallId> {
        let mut calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.dialog.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        calls.sort_unstable();
        calls
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.dialogs.is_empty()
    }
}

impl MediaSession {
    /// The session an INVITE opens: its offer, or (a delayed offer) ours
    /// to come.
    pub fn of_offer(offer: Option<ReadSdp>, origin: Origin) -> Self {
        let awaiting_answer = offer.is_none();
        let (offer, stream, audio) = offer.unwrap_or_else(|| {
            let none = SessionDescription {
                connection: None,
                direction: None,
                timing: None,
                media: Vec::new(),
            };
            (none, 0, crate::sdp::offered_audio())
        });
        Self {
            offer,
            stream,
            audio,
            local: None,
            origin,
            last_answer: None,
            awaiting_answer,
        }
    }

    /// Takes a new offer or answer as the session; what changed for the
    /// shell: [`SipEvent::HoldChanged`] if the hold state did,
    /// [`SipEvent::MediaChanged`] if codec, payload types or address did.
    pub fn take(&mut self, call: CallId, (sdp, stream, audio): ReadSdp) -> Vec<SipEvent> {
        let before = std::mem::replace(&mut self.audio, audio.clone());
        self.offer = sdp;
        self.stream = stream;
        let mut changes = Vec::new();
        if before.on_hold() != audio.on_hold() {
            changes.push(SipEvent::HoldChanged {
                call,
                on_hold: audio.on_hold(),
            });
        }
        let moved = NegotiatedAudio {
            direction: before.direction,
            ..audio.clone()
        };
        if moved != before {
            changes.push(SipEvent::MediaChanged { call, audio });
        }
        changes
    }

    /// The SDP of our next 2xx, from `local`: the answer to the current
    /// offer, or our own offer while [`MediaSession::awaiting_answer`]; the
    /// origin's version goes up when the text changes (RFC 3264 §8).
    pub fn answer(&mut self, local: SocketAddr) -> String {
        self.local = Some(local);
        let (offer, stream, audio) = (&self.offer, self.stream, &self.audio);
        let write = |origin| {
            if self.awaiting_answer {
                // A first offer (delayed offer) before any answer was
                // written; in a session, one that keeps its formats.
                let current = self.last_answer.is_some().then_some(audio);
                crate::sdp::offer(local, origin, current)
            } else {
                crate::sdp::answer(offer, stream, audio, local, origin)
            }
        };
        let mut text = write(self.origin);
        if self.last_answer.as_ref().is_some_and(|last| *last != text) {
            self.origin.version += 1;
            text = write(self.origin);
        }
        self.last_answer = Some(text.clone());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_addr(uri: &str) -> NameAddr {
        NameAddr::new(Uri::parse(uri).expect("a test URI"))
    }

    #[test]
    fn requests_in_a_dialog_carry_its_tags_target_routes_and_the_next_cseq() {
        let mut dialog = Dialog {
            key: DialogKey {
                call_id: SipCallId("c1".to_owned()),
                local_tag: "ours".to_owned(),
                remote_tag: Some("theirs".to_owned()),
            },
            local: name_addr("sip:room@203.0.113.10"),
            remote: name_addr("sip:+15551234@192.0.2.7"),
            remote_target: Uri::parse("sip:caller@192.0.2.7:5070").expect("a test URI"),
            route_set: vec![name_addr("sip:proxy.example;lr")],
            remote_seq: 314_159,
            local_seq: 0,
            transport: Transport::Udp,
            peer: "192.0.2.7:5070".parse().expect("a test address"),
            local_addr: "203.0.113.10".parse().expect("a test address"),
        };
        let via = crate::parse::parse_via("SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK1")
            .expect("a test Via");
        let first = dialog.request(Method::Bye, via.clone(), Vec::new());
        let second = dialog.request(Method::Bye, via, Vec::new());
        let text = String::from_utf8(first.to_bytes()).expect("UTF-8");
        assert!(
            text.starts_with("BYE sip:caller@192.0.2.7:5070 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nFrom: <sip:room@203.0.113.10>;tag=ours\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nTo: <sip:+15551234@192.0.2.7>;tag=theirs\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nRoute: <sip:proxy.example;lr>\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nCSeq: 1 BYE\r\n"), "{text}");
        assert!(text.contains("\r\nMax-Forwards: 70\r\n"), "{text}");
        assert_eq!(second.headers.cseq.seq, 2);
        assert_eq!(dialog.remote_seq, 314_159);
    }
}
