//! The user agent server endpoint: bytes and time in; datagrams to send,
//! call events and the next deadline out.
//!
//! It answers what it can on its own (100 Trying, OPTIONS, CANCEL, BYE,
//! re-INVITEs, UPDATE, every error), and keeps sessions alive or ends them
//! by their RFC 4028 timers; it asks the shell only what only the shell
//! knows: whether to take a call, and which RTP port it got. Every error
//! a request can meet becomes a status code in one function,
//! [`crate::rejection::rejection_response`].
//!
//! [`Engine`] composes two layers and holds the UAS logic between them:
//! the transaction layer ([`crate::transaction::Transactions`]: matching,
//! retransmissions, Timers E to L, the timer table and the send queue) and
//! the dialog layer ([`crate::dialog::Calls`]: dialogs, their CSeq, tags,
//! remote target and route set, and [`crate::dialog::Dialog::request`] for
//! the requests we send in one). A call's life, from INVITE to the last
//! BYE, is the `CallState` machine in `dialog.rs`, driven from here.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::{ConfigError, EngineConfig, Random};
use crate::dialog::{
    Call, CallState, Calls, CancelReason, Dialog, DialogKey, MediaSession, Pending2xx,
};
use crate::error::SipParseError;
use crate::event::{EndedBy, IncomingCall, SipEvent};
use crate::inbound::Inbound;
use crate::message::{
    BRANCH_COOKIE, MediaType, Message, Method, NameAddr, RawHeader, Request, Response, StatusCode,
    Via,
};
use crate::param::Param;
use crate::parse::{self, ParseFailure, ReplyContext};
use crate::rejection::{
    ALLOW, ReadSdp, Rejection, SUPPORTED, raw, read_offer, rejection_response,
    unsupported_extensions,
};
use crate::sdp::Origin;
use crate::session_timer::{self, SessionTimer};
use crate::timer::{Kind, Owner};
use crate::transaction::{
    AckMatch, ClientEnd, ResponseMatch, ServerKey, ServerState, Transactions,
};
use crate::types::{CallId, ConnId, Transmit, Transport, TxId};
use crate::uri::{Host, SipUri, Uri};

mod info;
mod offers;
mod prack;
mod uac;

pub use uac::Dial;

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no such call")]
    UnknownCall,
    #[error("the call is past the point where this is possible")]
    InvalidState,
    #[error("{0} is not a failure status (300-699)")]
    NotAFailureStatus(StatusCode),
}

/// Counters of what was dropped or absorbed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Messages dropped unanswered: unparseable, or a bad request with too
    /// little to answer (no Via or CSeq), or a bad ACK.
    pub dropped: u64,
    /// Empty or CRLF-only datagrams (keep-alives).
    pub keepalives: u64,
    /// Unparseable requests answered with 400 or 505.
    pub bad_requests: u64,
    /// Responses that match none of our transactions.
    pub stray_responses: u64,
    /// ACKs that match no transaction or dialog.
    pub stray_acks: u64,
    /// Retransmitted requests answered from a transaction.
    pub retransmissions: u64,
}

/// The SIP user agent server. See the crate documentation for the loop
/// that drives it.
pub struct Engine {
    config: EngineConfig,
    rng: Box<dyn Random + Send>,
    /// The dialog layer: calls and the dialogs that find them.
    calls: Calls,
    /// The transaction layer: transactions, every timer, what to send.
    transactions: Transactions,
    events: VecDeque<SipEvent>,
    stats: Stats,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("calls", &self.calls.len())
            .field("server_transactions", &self.transactions.server_count())
            .field("client_transactions", &self.transactions.client_count())
            .field("timers", &self.transactions.table.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(
        config: EngineConfig,
        rng: impl Random + Send + 'static,
    ) -> Result<Self, ConfigError> {
        if config.public_addr.is_unspecified() {
            return Err(ConfigError::WildcardPublicAddr(config.public_addr));
        }
        Ok(Self {
            transactions: Transactions::new(config.timers),
            config,
            rng: Box::new(rng),
            calls: Calls::default(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    // -- the sans-IO surface --------------------------------------------------

    /// One datagram (UDP) or one framed message (TCP, see
    /// [`crate::frame_stream`]) from `from`, as if it arrived on
    /// [`EngineConfig::public_addr`] (tests and fuzzing; the shell passes
    /// the real arrival address to [`Engine::handle_inbound`]).
    pub fn handle_message(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        let local = SocketAddr::new(self.config.public_addr, self.config.sip_port);
        self.handle_inbound(transport, from, local, Inbound::parse(bytes), now);
    }

    /// A message the shell already parsed ([`Inbound::parse`]) to look at
    /// before the engine acts, from `from`, arrived on our address `local`
    /// (the datagram's destination, or the TCP connection's local end): a
    /// call it starts advertises `local`'s address unless
    /// [`EngineConfig::fixed`] says otherwise (a wildcard `local` counts as
    /// unknown).
    pub fn handle_inbound(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        local: SocketAddr,
        inbound: Inbound,
        now: Instant,
    ) {
        match inbound.parsed {
            Ok(Message::Request(request)) => {
                self.handle_request(transport, from, local, request, now)
            }
            Ok(Message::Response(response)) => {
                self.handle_response(transport, from, &response, now)
            }
            Err(ParseFailure {
                error: SipParseError::Empty,
                ..
            }) => self.stats.keepalives += 1,
            Err(ParseFailure {
                error,
                reply: Some(reply),
            }) if reply.method != Method::Ack => {
                self.stats.bad_requests += 1;
                let (status, extra) = rejection_response(&Rejection::Parse(error));
                let bytes = self.stateless_reply(&reply, from, status, extra);
                self.send(transport, from, bytes);
            }
            Err(_) => self.stats.dropped += 1,
        }
    }

    /// Bytes of a stream connection that [`crate::frame_stream`] could not
    /// frame (`error`): a negative, repeated or missing Content-Length, or
    /// a message over the size limit. The stream cannot be re-synchronised,
    /// so the shell closes the connection; first, if the bytes begin a
    /// request with a Via and a CSeq, this answers it statelessly with the
    /// error response a datagram would get (400; RFC 4475 §3.1.2.3 and
    /// §3.3.9 ask for an error, then the close).
    pub fn handle_unframeable(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        bytes: &[u8],
        error: SipParseError,
    ) {
        match parse::unframeable_reply(bytes) {
            Some(reply) if reply.method != Method::Ack => {
                self.stats.bad_requests += 1;
                let (status, extra) = rejection_response(&Rejection::Parse(error));
                let bytes = self.stateless_reply(&reply, from, status, extra);
                self.send(transport, from, bytes);
            }
            _ => self.stats.dropped += 1,
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((owner, kind)) = self.transactions.table.pop_expired(now) {
            match owner {
                Owner::Call(id) => self.call_timer(id, kind, now),
                _ => {
                    if let Some(end) = self.transactions.on_timer(owner, kind, now) {
                        self.client_ended(&end, now);
                    }
                }
            }
        }
    }

    /// The stream connection `conn` is gone (the caller or a proxy closed
    /// it, or it broke). Its transactions are forgotten. A call that was
    /// answered stays up: a proxy may close an idle connection at any time
    /// (RFC 3261 §18), so the next request we send in its dialog (a BYE, a
    /// session refresh) goes over a new connection to the next hop
    /// ([`Transport::TcpConnect`]), and a request whose answer was due on
    /// `conn` is sent again that way. A call still offered ends
    /// ([`SipEvent::CallEnded`] with [`EndedBy::ConnectionClosed`]): its
    /// INVITE's transaction, and so the way to its final response, is gone.
    /// Calls on other transports are untouched.
    pub fn handle_connection_closed(&mut self, conn: ConnId, now: Instant) {
        let transport = Transport::Tcp(conn);
        // First the dialogs move to a new connection, so that what was in
        // flight on this one (a BYE, a refresh) is sent again over it.
        let ended = self.transactions.connection_closed(transport);
        for call in self.calls.on_transport(transport) {
            let Some(c) = self.calls.get_mut(&call) else {
                continue;
            };
            if c.state != CallState::Offered {
                c.dialog.transport = Transport::TcpConnect;
                continue;
            }
            self.remove_call(call);
            self.events.push_back(SipEvent::CallEnded {
                call,
                by: EndedBy::ConnectionClosed,
            });
        }
        for end in ended {
            self.client_ended(&end, now);
        }
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transactions.poll_transmit()
    }

    /// The next event for the shell.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SipEvent> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions.table.next_deadline()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Nothing left: no calls, transactions or timers (memory is bounded
    /// by what is live).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty() && self.transactions.is_empty()
    }

    // -- commands ------------------------------------------------------------

    /// Answers an offered call: 200 OK with our SDP answer (RTP at the
    /// public address, `rtp_port`), retransmitted until the ACK.
    ///
    /// A caller that requires `100rel` gets a reliable 180 first, and the
    /// 200 once it PRACKs it (`prack.rs`); the shell does nothing more.
    pub fn answer(&mut self, call: CallId, rtp_port: u16, now: Instant) -> Result<(), CallError> {
        if self.requires_100rel(call)? {
            return self.ring_reliably(call, rtp_port, now);
        }
        self.send_answer(call, rtp_port, now)
    }

    /// The 200 OK with our SDP, retransmitted until the ACK.
    fn send_answer(&mut self, call: CallId, rtp_port: u16, now: Instant) -> Result<(), CallError> {
        let (invite, tx) = self.take_offered(call)?;
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(CallError::UnknownCall);
        };
        let body = c
            .media
            .answer(SocketAddr::new(c.dialog.local_addr, rtp_port));
        let transport = c.dialog.transport;
        let response = self.dialog_ok(call, &invite, transport, Some(body));
        let bytes = response.to_bytes();
        self.transactions
            .finish_invite(tx, bytes.clone(), true, now);
        self.start_2xx(call, invite.headers.cseq.seq, bytes, true, now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Answered;
        }
        self.arm_session(call, now);
        Ok(())
    }

    /// Refuses an offered call with a final status (404, 486, 488, 503 ...).
    pub fn reject(
        &mut self,
        call: CallId,
        status: StatusCode,
        now: Instant,
    ) -> Result<(), CallError> {
        if status.as_u16() < 300 {
            return Err(CallError::NotAFailureStatus(status));
        }
        self.end_offered(call, status, now)
    }

    /// Sends an offered call elsewhere: `302 Moved Temporarily` with
    /// `Contact: <target>` (e.g. the node whose room the call is for). The
    /// caller (or the proxy in front) calls `target` anew.
    pub fn redirect(
        &mut self,
        call: CallId,
        target: &SipUri,
        now: Instant,
    ) -> Result<(), CallError> {
        let contact = raw("Contact", &format!("<{target}>"));
        self.end_offered_with(call, StatusCode::MOVED_TEMPORARILY, Some(contact), now)
    }

    /// Sends 180 Ringing for an offered call. A caller that requires
    /// `100rel` gets none here: every 18x it gets must be reliable (RFC 3262
    /// §3), and its reliable 180 comes with the answer (`answer`).
    pub fn ringing(&mut self, call: CallId, _now: Instant) -> Result<(), CallError> {
        let c = self.calls.get(&call).ok_or(CallError::UnknownCall)?;
        let Some((invite, tx)) = c.invite.as_ref().filter(|_| c.state == CallState::Offered) else {
            return Err(CallError::InvalidState);
        };
        if invite
            .headers
            .require
            .iter()
            .any(|t| t.eq_ignore_ascii_case("100rel"))
        {
            return Ok(());
        }
        let (tx, transport, ip) = (*tx, c.dialog.transport, c.dialog.local_addr);
        let mut response = Response::to(invite, StatusCode::RINGING, Some(&c.dialog.key.local_tag));
        self.dress_dialog_response(&mut response, invite, transport, ip);
        self.transactions.provisional(tx, response.to_bytes());
        Ok(())
    }

    /// Ends a call from our side: BYE once established (after the ACK if
    /// it has not come yet), 480 if it was never answered, CANCEL for a
    /// call we placed that has not been answered. Reports
    /// [`SipEvent::CallEnded`] with [`EndedBy::Local`] at once.
    pub fn hangup(&mut self, call: CallId, now: Instant) -> Result<(), CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        match c.state {
            CallState::Calling => self.cancel_outgoing(call, CancelReason::Local, now),
            CallState::Offered => {
                self.end_offered(call, StatusCode::TEMPORARILY_UNAVAILABLE, now)?
            }
            CallState::Answered if !c.bye_after_ack => c.bye_after_ack = true,
            CallState::Confirmed => self.send_bye(call, now),
            CallState::Answered | CallState::Ending => return Err(CallError::InvalidState),
        }
        self.events.push_back(SipEvent::CallEnded {
            call,
            by: EndedBy::Local,
        });
        Ok(())
    }

    // -- requests ------------------------------------------------------------

    fn handle_request(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        local: SocketAddr,
        mut request: Request,
        now: Instant,
    ) {
        let Some(key) = ServerKey::of(&request) else {
            self.stats.dropped += 1;
            return;
        };
        if let Some(top) = request.headers.via.first_mut() {
            top.stamp_source(source);
        }
        if request.method == Method::Ack {
            self.handle_ack(&request, &key, now);
            return;
        }
        if self.transactions.absorb_retransmission(&key) {
            self.stats.retransmissions += 1;
            return;
        }
        let result = if self.transactions.server_count() >= self.config.max_transactions
            && !self.continues_a_call(&request, &key)
        {
            Err(Rejection::Overloaded)
        } else if request.method == Method::Cancel {
            self.handle_cancel(transport, source, &request, &key, now)
        } else {
            self.dispatch(transport, source, local, &request, now)
        };
        if let Err(rejection) = result {
            self.refuse(transport, source, &request, &rejection, now);
        }
    }

    /// A request of a live call (a BYE, a refresh, an INFO in its dialog),
    /// or the CANCEL of an INVITE under way. Overload refuses new work, never
    /// these: refusing a BYE would keep a call up that its caller ended, and
    /// the load with it. A stranger cannot pass as one (a dialog's local tag
    /// is ours, random); each one it may make is bounded by the live calls.
    fn continues_a_call(&self, request: &Request, key: &ServerKey) -> bool {
        if request.method == Method::Cancel {
            return self
                .transactions
                .server_state(&key.with_method(Method::Invite))
                .is_some();
        }
        DialogKey::of_request(request).is_some_and(|dialog| self.calls.find(&dialog).is_some())
    }

    /// RFC 3261 §8.2 in order: method, Request-URI, dialog, Require, then
    /// the method's own processing.
    fn dispatch(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        local: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        match request.method {
            Method::Invite
            | Method::Bye
            | Method::Options
            | Method::Update
            | Method::Info
            | Method::Prack => {}
            Method::Extension(_) => return Err(Rejection::NotImplemented),
            _ => return Err(Rejection::MethodNotAllowed),
        }
        if request.headers.cseq.method != request.method {
            return Err(Rejection::CSeqMismatch);
        }
        if request.uri.as_sip().is_none() {
            return Err(Rejection::UnsupportedScheme);
        }
        let call = match DialogKey::of_request(request) {
            Some(key) => Some(self.calls.find(&key).ok_or(Rejection::NoDialog)?),
            None if self.calls.is_merged(request) => return Err(Rejection::Merged),
            None => None,
        };
        let unsupported = unsupported_extensions(&request.headers.require);
        if !unsupported.is_empty() {
            return Err(Rejection::BadExtension(unsupported));
        }
        match (&request.method, call) {
            (Method::Invite, None) => self.new_call(transport, source, local, request),
            (Method::Invite, Some(call)) => self.reinvite(call, transport, source, request, now),
            (Method::Bye, Some(call)) => self.remote_bye(call, transport, source, request, now),
            (Method::Update, Some(call)) => self.update(call, transport, source, request, now),
            (Method::Info, Some(call)) => self.info(call, transport, source, request, now),
            (Method::Prack, Some(call)) => self.prack(call, transport, source, request, now),
            (Method::Options, _) => {
                let extra = vec![
                    raw("Allow", ALLOW),
                    raw("Accept", "application/sdp"),
                    raw("Supported", &SUPPORTED.join(", ")),
                ];
                self.reply(transport, source, request, StatusCode::OK, extra, now);
                Ok(())
            }
            _ => Err(Rejection::NoDialog),
        }
    }

    fn new_call(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        local: SocketAddr,
        request: &Request,
    ) -> Result<(), Rejection> {
        let offer = read_offer(request)?;
        let session = session_timer::negotiate(request, false)?;
        let call = CallId(self.transactions.fresh_id());
        let trying = Response::to(request, StatusCode::TRYING, None).to_bytes();
        let tx = self.transactions.open_server(
            request,
            transport,
            source,
            ServerState::Proceeding,
            &trying,
        );
        self.transactions.set_call(tx, call);
        self.send(transport, source, trying);
        let h = &request.headers;
        let key = DialogKey {
            call_id: h.call_id.clone(),
            local_tag: self.token(),
            remote_tag: h.from.tag().map(str::to_owned),
        };
        let dialog = Dialog {
            key,
            local: h.to.without_tag(),
            remote: h.from.without_tag(),
            remote_target: h
                .contact
                .first()
                .map_or_else(|| h.from.uri.clone(), |c| c.uri.clone()),
            route_set: h.record_route.clone(),
            remote_seq: h.cseq.seq,
            local_seq: 0,
            transport,
            peer: source,
            local_addr: self.advertised(local),
        };
        let origin = Origin {
            session_id: self.rng.next_u64() >> 1,
            version: 1,
        };
        let media = MediaSession::of_offer(offer.clone(), origin);
        self.calls.insert(
            call,
            Call {
                state: CallState::Offered,
                dialog,
                media,
                invite: Some((request.clone(), tx)),
                pending_2xx: None,
                bye_after_ack: false,
                session,
                peer_allows_update: session_timer::lists(h, "Allow", "UPDATE"),
                reinvite_seq: None,
                reinvite_pending: false,
                bye_resent: false,
                reliable: None,
                outgoing: None,
            },
        );
        self.events
            .push_back(SipEvent::IncomingCall(Box::new(IncomingCall {
                call,
                request_uri_user: request.uri.user().map(str::to_owned),
                from_user: h.from.uri.user().map(str::to_owned),
                from_display: h.from.display.clone(),
                to_user: h.to.uri.user().map(str::to_owned),
                sip_call_id: h.call_id.clone(),
                audio: offer.map(|(_, _, audio)| audio),
                remote: source,
                arrival: Some(local.ip().to_canonical()).filter(|ip| !ip.is_unspecified()),
                transport,
            })));
        Ok(())
    }

    fn reinvite(
        &mut self,
        call: CallId,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        let c = self.calls.get(&call).ok_or(Rejection::NoDialog)?;
        if c.state == CallState::Offered {
            return Err(Rejection::Pending);
        }
        c.admits(request)?;
        c.offer_allowed()?;
        // A body-less re-INVITE asks for our offer; the ACK brings the
        // answer (`offers::take_answer`).
        let offer = read_offer(request)?;
        let session = session_timer::negotiate(request, self.peer_supports_timer(call))?;
        // A new INVITE means the caller got our last 2xx: its ACK was lost.
        self.acknowledge(call, None, now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.media.awaiting_answer = offer.is_none();
        }
        let body = self.target_refresh(call, request, offer, session)?;
        let response = self.dialog_ok(call, request, transport, Some(body));
        let bytes = response.to_bytes();
        let tx = self.transactions.open_server(
            request,
            transport,
            source,
            ServerState::Proceeding,
            &bytes,
        );
        self.transactions
            .finish_invite(tx, bytes.clone(), true, now);
        self.start_2xx(call, request.headers.cseq.seq, bytes, false, now);
        self.arm_session(call, now);
        Ok(())
    }

    /// An UPDATE in a dialog (RFC 3311): without a body, a session refresh
    /// (200); with an SDP offer, 200 with our answer, handled as a
    /// re-INVITE's offer is. In an early dialog (not answered yet) an offer
    /// gets 500 with Retry-After (§5.2: the INVITE's offer is unanswered).
    fn update(
        &mut self,
        call: CallId,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        let c = self.calls.get(&call).ok_or(Rejection::NoDialog)?;
        c.admits(request)?;
        let early = c.state == CallState::Offered;
        let offer = if request.body.is_empty() {
            None
        } else if early {
            return Err(Rejection::Pending);
        } else {
            c.offer_allowed()?;
            read_offer(request)?
        };
        let session = session_timer::negotiate(request, self.peer_supports_timer(call))?;
        if early {
            let c = self.calls.get_mut(&call).ok_or(Rejection::NoDialog)?;
            c.dialog.remote_seq = request.headers.cseq.seq;
            if let Some(contact) = request.headers.contact.first() {
                c.dialog.remote_target = contact.uri.clone();
            }
            c.session = session;
            let response = self.dialog_ok(call, request, transport, None);
            self.transactions
                .send_final(transport, source, request, &response, now);
            return Ok(());
        }
        let answer = offer.is_some();
        let body = self.target_refresh(call, request, offer, session)?;
        let response = self.dialog_ok(call, request, transport, answer.then_some(body));
        self.transactions
            .send_final(transport, source, request, &response, now);
        self.arm_session(call, now);
        Ok(())
    }

    /// What a re-INVITE or UPDATE from the peer changes in an answered
    /// call: the CSeq, the remote target (its Contact), the session timer,
    /// and, with an offer, the media (reporting a hold or a move). Returns
    /// our SDP for the session as it now is.
    fn target_refresh(
        &mut self,
        call: CallId,
        request: &Request,
        offer: Option<ReadSdp>,
        session: Option<SessionTimer>,
    ) -> Result<String, Rejection> {
        let c = self.calls.get_mut(&call).ok_or(Rejection::NoDialog)?;
        // Answered or confirmed, so our RTP address is known.
        let Some(local) = c.media.local else {
            return Err(Rejection::Pending);
        };
        c.dialog.remote_seq = request.headers.cseq.seq;
        if let Some(contact) = request.headers.contact.first() {
            c.dialog.remote_target = contact.uri.clone();
        }
        c.session = session;
        if let Some(offer) = offer {
            let changes = c.media.take(call, offer);
            self.events.extend(changes);
        }
        Ok(c.media.answer(local))
    }

    fn remote_bye(
        &mut self,
        call: CallId,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        let c = self.calls.get_mut(&call).ok_or(Rejection::NoDialog)?;
        if request.headers.cseq.seq < c.dialog.remote_seq {
            return Err(Rejection::OutOfOrder);
        }
        c.dialog.remote_seq = request.headers.cseq.seq;
        let (state, reported) = (c.state, c.bye_after_ack);
        self.reply(transport, source, request, StatusCode::OK, vec![], now);
        match state {
            // No early dialogs are kept: a BYE cannot name one.
            CallState::Calling => return Ok(()),
            CallState::Offered => {
                let _ = self.end_offered(call, StatusCode::REQUEST_TERMINATED, now);
            }
            CallState::Answered | CallState::Confirmed => self.remove_call(call),
            // Our BYE crossed theirs: the client transaction cleans up.
            CallState::Ending => return Ok(()),
        }
        if !reported {
            self.events.push_back(SipEvent::CallEnded {
                call,
                by: EndedBy::Remote,
            });
        }
        Ok(())
    }

    fn handle_cancel(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        key: &ServerKey,
        now: Instant,
    ) -> Result<(), Rejection> {
        if request.headers.cseq.method != Method::Cancel {
            return Err(Rejection::CSeqMismatch);
        }
        let (state, call) = self
            .transactions
            .server_state(&key.with_method(Method::Invite))
            .ok_or(Rejection::NoDialog)?;
        // The 200 carries the To tag the INVITE's responses carry (§9.2).
        let tag = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.dialog.key.local_tag.clone());
        let tag = tag.unwrap_or_else(|| self.token());
        let mut response = Response::to(request, StatusCode::OK, Some(&tag));
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
        self.transactions
            .send_final(transport, source, request, &response, now);
        if let (ServerState::Proceeding, Some(call)) = (state, call) {
            let _ = self.end_offered(call, StatusCode::REQUEST_TERMINATED, now);
            self.events.push_back(SipEvent::CallCancelled { call });
        }
        Ok(())
    }

    fn handle_ack(&mut self, request: &Request, key: &ServerKey, now: Instant) {
        if self.transactions.ack(key, now) == AckMatch::ForDialog {
            self.ack_for_2xx(request, now);
        }
    }

    fn ack_for_2xx(&mut self, request: &Request, now: Instant) {
        let call = DialogKey::of_request(request).and_then(|key| self.calls.find(&key));
        match call {
            Some(call) => {
                if self.take_answer(call, request, now) {
                    self.acknowledge(call, Some(request.headers.cseq.seq), now);
                }
            }
            None => self.stats.stray_acks += 1,
        }
    }

    /// The 2xx numbered `seq` (any, if `None`) was acknowledged.
    fn acknowledge(&mut self, call: CallId, seq: Option<u32>, now: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.pending_2xx.take_if(|p| seq.is_none_or(|s| s == p.seq)) else {
            return;
        };
        self.transactions
            .table
            .cancel(Owner::Call(call), Kind::Retransmit);
        self.transactions
            .table
            .cancel(Owner::Call(call), Kind::GiveUp);
        if !pending.initial {
            return;
        }
        if c.bye_after_ack {
            self.send_bye(call, now);
        } else {
            c.state = CallState::Confirmed;
            self.events.push_back(SipEvent::AckReceived { call });
        }
    }

    // -- responses (to our BYE and session refreshes) -------------------------

    fn handle_response(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        response: &Response,
        now: Instant,
    ) {
        let (call, method, status, branch, first) =
            match self.transactions.handle_response(response, now) {
                ResponseMatch::Stray => {
                    self.stats.stray_responses += 1;
                    return;
                }
                ResponseMatch::Absorbed => return,
                ResponseMatch::Provisional {
                    call,
                    tx,
                    status,
                    branch,
                } => {
                    self.outgoing_provisional(call, tx, status, &branch, now);
                    return;
                }
                ResponseMatch::Final {
                    call,
                    method,
                    status,
                    branch,
                    first,
                } => (call, method, status, branch, first),
            };
        match method {
            // The INVITE's final response tells what the CANCEL did.
            Method::Cancel => return,
            Method::Invite if self.is_outgoing_invite(call, &branch) => {
                self.outgoing_final(call, response, first, now);
                return;
            }
            _ => {}
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        // The answer came over the connection our request opened: the
        // dialog's requests go over it from now on.
        if c.dialog.transport == Transport::TcpConnect
            && let Transport::Tcp(_) = transport
        {
            c.dialog.transport = transport;
            c.dialog.peer = from;
        }
        if method == Method::Bye {
            self.remove_call(call);
            return;
        }
        if method == Method::Invite {
            if let Some(c) = self.calls.get_mut(&call) {
                c.reinvite_pending = false;
            }
            self.ack_reinvite(call, status, &branch);
        }
        if !first || is_ending(&self.calls, call) {
            return;
        }
        match status.as_u16() {
            200..=299 => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.session = c.session.map(|s| s.after_response(&response.headers));
                    // A 2xx to a target refresh of ours (re-INVITE, UPDATE)
                    // refreshes the remote target too (§12.2.1.2).
                    if let Some(contact) = response.headers.contact.first() {
                        c.dialog.remote_target = contact.uri.clone();
                    }
                }
                self.arm_session(call, now);
            }
            // RFC 4028 §10: the session is gone at the peer.
            408 | 481 => self.session_failed(call, now),
            // Another failure (491 glare, 500 ...): the session goes on, and
            // the refresh is tried again soon (RFC 3261 §14.1's 2.1-4 s for
            // glare), well before the peer lets the session expire.
            _ => self.transactions.table.set(
                Owner::Call(call),
                Kind::Refresh,
                now + session_timer::RETRY_AFTER_FAILURE,
            ),
        }
    }

    /// The ACK of a final response to our re-INVITE: for a 2xx, a new
    /// request of the dialog (§13.2.2.4); for a failure, part of the
    /// transaction, on its branch (§17.1.1.3).
    fn ack_reinvite(&mut self, call: CallId, status: StatusCode, branch: &str) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(seq) = c.reinvite_seq else {
            return;
        };
        let (transport, to) = c.dialog.destination();
        let ip = c.dialog.local_addr;
        let branch = if status.is_success() {
            format!("{BRANCH_COOKIE}{}", self.token())
        } else {
            branch.to_owned()
        };
        let via = self.via(transport, &branch, ip);
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let ack = c.dialog.request_numbered(Method::Ack, seq, via, Vec::new());
        self.send(transport, to, ack.to_bytes());
    }

    /// A client transaction ended without a final response for us.
    fn client_ended(&mut self, end: &ClientEnd, now: Instant) {
        if end.method == Method::Bye {
            let lost = !end.timed_out
                && self
                    .calls
                    .get_mut(&end.call)
                    .is_some_and(|c| !std::mem::replace(&mut c.bye_resent, true));
            if lost {
                // Its connection closed under it: once more, over a new one.
                self.send_bye(end.call, now);
            } else {
                // The BYE is done, answered or not, and so is the call.
                self.remove_call(end.call);
            }
        } else if end.method == Method::Cancel {
            // The INVITE's end (or the call's give-up timer) decides.
        } else if end.method == Method::Invite
            && self
                .calls
                .get(&end.call)
                .is_some_and(|c| c.state == CallState::Calling)
        {
            // Timer B: our INVITE got no final response.
            self.outgoing_timed_out(end.call);
        } else if is_ending(&self.calls, end.call) {
            // A refresh of a call already hanging up: nothing to do.
        } else if end.timed_out {
            // No answer to our refresh is a 408 (RFC 4028 §10).
            self.session_failed(end.call, now);
        } else {
            // Its connection closed under it: refresh again, over a new one.
            self.transactions
                .table
                .set(Owner::Call(end.call), Kind::Refresh, now);
        }
    }

    // -- the dialog layer's timers -------------------------------------------

    fn call_timer(&mut self, call: CallId, kind: Kind, now: Instant) {
        let timers = self.config.timers;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Calling {
            match kind {
                Kind::Ring => self.cancel_outgoing(call, CancelReason::RingTimeout, now),
                Kind::GiveUp => self.outgoing_timed_out(call),
                _ => {}
            }
            return;
        }
        match kind {
            Kind::Retransmit if c.reliable.is_some() => self.retransmit_reliable(call, now),
            Kind::GiveUp if c.reliable.is_some() => self.reliable_gave_up(call, now),
            Kind::Retransmit => {
                let Some(pending) = c.pending_2xx.as_mut() else {
                    return;
                };
                pending.interval = timers.backoff(pending.interval);
                let at = now + pending.interval;
                let bytes = pending.bytes.clone();
                let (transport, peer) = (c.dialog.transport, c.dialog.peer);
                self.transactions
                    .table
                    .set(Owner::Call(call), Kind::Retransmit, at);
                // Not over a new connection: the caller retransmits its
                // INVITE if it lost ours, or the wait ends in a BYE.
                if transport != Transport::TcpConnect {
                    self.send(transport, peer, bytes);
                }
            }
            // No ACK within 64*T1 (§13.3.1.4): the session ends with a BYE.
            Kind::GiveUp => {
                if c.pending_2xx.take().is_none() {
                    return;
                }
                let reported = c.bye_after_ack;
                self.transactions
                    .table
                    .cancel(Owner::Call(call), Kind::Retransmit);
                self.send_bye(call, now);
                if !reported {
                    self.events.push_back(SipEvent::CallEnded {
                        call,
                        by: EndedBy::Timeout,
                    });
                }
            }
            Kind::Refresh => self.send_refresh(call, now),
            // The peer did not refresh in time (RFC 4028 §10).
            Kind::Expire => self.session_failed(call, now),
            Kind::Linger | Kind::Ring => {}
        }
    }

    // -- session timers (RFC 4028) -------------------------------------------

    /// Arms the call's session timer from a refresh at `now` (our 2xx to
    /// the peer's, or the 2xx to ours), or disarms it if there is none.
    /// Whether the peer of `call` showed it supports session timers.
    fn peer_supports_timer(&self, call: CallId) -> bool {
        self.calls
            .get(&call)
            .and_then(|c| c.session)
            .is_some_and(|s| s.peer_supports)
    }

    fn arm_session(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let table = &mut self.transactions.table;
        table.cancel(Owner::Call(call), Kind::Refresh);
        table.cancel(Owner::Call(call), Kind::Expire);
        if let Some(session) = c.session {
            let deadline = session.deadline(now);
            table.set(Owner::Call(call), deadline.kind, deadline.at);
        }
    }

    /// Our session refresh: an UPDATE without a body if the peer allows
    /// UPDATE, else a re-INVITE offering the session as it stands (RFC
    /// 4028 §7.4: the same SDP, the same version).
    fn send_refresh(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(session), CallState::Answered | CallState::Confirmed) = (c.session, c.state)
        else {
            return;
        };
        let (transport, to) = c.dialog.destination();
        let ip = c.dialog.local_addr;
        let branch = format!("{BRANCH_COOKIE}{}", self.token());
        let via = self.via(transport, &branch, ip);
        let contact = self.contact(transport, ip);
        let mut other = vec![
            raw("User-Agent", &self.config.user_agent),
            raw("Allow", ALLOW),
            raw("Supported", &SUPPORTED.join(", ")),
        ];
        other.extend(session.request_headers());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let sdp = c.media.last_answer.clone();
        let method = match sdp {
            Some(_) if !c.peer_allows_update => Method::Invite,
            _ => Method::Update,
        };
        let mut request = c.dialog.request(method.clone(), via, other);
        request.headers.contact = vec![contact];
        if method == Method::Invite {
            c.reinvite_seq = Some(request.headers.cseq.seq);
            c.reinvite_pending = true;
            request.headers.content_type = Some(MediaType::new("application", "sdp"));
            request.body = sdp.unwrap_or_default().into_bytes();
        }
        self.transactions
            .start_client(branch, &request, transport, to, call, now);
    }

    /// The session is over without a BYE from the peer (it expired, or our
    /// refresh failed): BYE, and the shell hears
    /// [`EndedBy::SessionExpired`].
    fn session_failed(&mut self, call: CallId, now: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let reported = c.bye_after_ack;
        if !matches!(c.state, CallState::Answered | CallState::Confirmed) {
            return;
        }
        self.send_bye(call, now);
        if !reported {
            self.events.push_back(SipEvent::CallEnded {
                call,
                by: EndedBy::SessionExpired,
            });
        }
    }

    // -- building blocks -----------------------------------------------------

    /// The offered call's INVITE and transaction, if it is still offered.
    fn take_offered(&mut self, call: CallId) -> Result<(Request, TxId), CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        if c.state != CallState::Offered {
            return Err(CallError::InvalidState);
        }
        c.invite.take().ok_or(CallError::InvalidState)
    }

    /// Ends an offered call with a failure response to its INVITE.
    fn end_offered(
        &mut self,
        call: CallId,
        status: StatusCode,
        now: Instant,
    ) -> Result<(), CallError> {
        self.end_offered_with(call, status, None, now)
    }

    fn end_offered_with(
        &mut self,
        call: CallId,
        status: StatusCode,
        extra: Option<RawHeader>,
        now: Instant,
    ) -> Result<(), CallError> {
        let (invite, tx) = self.take_offered(call)?;
        let tag = self
            .calls
            .get(&call)
            .map(|c| c.dialog.key.local_tag.clone())
            .unwrap_or_default();
        let mut response = Response::to(&invite, status, Some(&tag));
        response.headers.other.extend(extra);
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
        self.transactions
            .finish_invite(tx, response.to_bytes(), false, now);
        self.remove_call(call);
        Ok(())
    }

    fn remove_call(&mut self, call: CallId) {
        self.transactions.table.cancel_all(Owner::Call(call));
        self.calls.remove(&call);
    }

    fn start_2xx(&mut self, call: CallId, seq: u32, bytes: Vec<u8>, initial: bool, now: Instant) {
        let timers = self.config.timers;
        if let Some(c) = self.calls.get_mut(&call) {
            c.pending_2xx = Some(Pending2xx {
                seq,
                bytes,
                interval: timers.t1,
                initial,
            });
            self.transactions
                .table
                .set(Owner::Call(call), Kind::Retransmit, now + timers.t1);
            self.transactions
                .table
                .set(Owner::Call(call), Kind::GiveUp, now + timers.give_up());
        }
    }

    /// A non-INVITE success response (OPTIONS, BYE), through a transaction.
    fn reply(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        status: StatusCode,
        extra: Vec<RawHeader>,
        now: Instant,
    ) {
        let tag = match request.headers.to.tag() {
            Some(tag) => tag.to_owned(),
            None => self.token(),
        };
        let mut response = Response::to(request, status, Some(&tag));
        response.headers.other.extend(extra);
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
        self.transactions
            .send_final(transport, source, request, &response, now);
    }

    /// Refuses a parsed request.
    fn refuse(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        rejection: &Rejection,
        now: Instant,
    ) {
        let (status, extra) = rejection_response(rejection);
        if *rejection == Rejection::Overloaded {
            // Statelessly: overload is no time to keep state.
            let tag = self.token();
            let mut response = Response::to(request, status, Some(&tag));
            response.headers.other.extend(extra);
            self.send(transport, source, response.to_bytes());
            return;
        }
        self.reply(transport, source, request, status, extra, now);
    }

    /// What a dialog-creating response adds: Contact (at `ip`, the
    /// dialog's advertised address), Record-Route, Allow.
    fn dress_dialog_response(
        &self,
        response: &mut Response,
        request: &Request,
        transport: Transport,
        ip: IpAddr,
    ) {
        response.headers.contact = vec![self.contact(transport, ip)];
        response
            .headers
            .record_route
            .clone_from(&request.headers.record_route);
        response.headers.other.push(raw("Allow", ALLOW));
        response
            .headers
            .other
            .push(raw("Supported", &SUPPORTED.join(", ")));
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
    }

    /// The address a call that arrived on `local` advertises: the
    /// configured public address when it is fixed or `local` is a wildcard
    /// (not known), else `local`'s address (an IPv4-mapped one, from a
    /// dual-stack socket, as the IPv4 address it is).
    fn advertised(&self, local: SocketAddr) -> IpAddr {
        let ip = local.ip().to_canonical();
        if self.config.fixed || ip.is_unspecified() {
            self.config.public_addr
        } else {
            ip
        }
    }

    /// Our 2xx to the INVITE, re-INVITE or UPDATE `request` of `call`:
    /// dressed as a dialog's response, with the session timer agreed on
    /// and `sdp` as its body, if any.
    fn dialog_ok(
        &self,
        call: CallId,
        request: &Request,
        transport: Transport,
        sdp: Option<String>,
    ) -> Response {
        let c = self.calls.get(&call);
        let tag = c.map(|c| c.dialog.key.local_tag.as_str());
        let mut response = Response::to(request, StatusCode::OK, tag);
        let ip = c.map_or(self.config.public_addr, |c| c.dialog.local_addr);
        self.dress_dialog_response(&mut response, request, transport, ip);
        if let Some(session) = c.and_then(|c| c.session) {
            response.headers.other.extend(session.response_headers());
        }
        if let Some(sdp) = sdp {
            response.headers.content_type = Some(MediaType::new("application", "sdp"));
            response.body = sdp.into_bytes();
        }
        response
    }

    /// Our Contact at `ip`.
    fn contact(&self, transport: Transport, ip: IpAddr) -> NameAddr {
        let mut uri = SipUri::new(Host::Ip(ip), Some(self.config.sip_port));
        if transport.is_reliable() {
            uri.params.push(Param::new("transport", Some("tcp")));
        }
        NameAddr::new(Uri::Sip(uri))
    }

    /// Sends BYE in the call's dialog with its own client transaction
    /// (Timers E and F), and marks the call as ending.
    fn send_bye(&mut self, call: CallId, now: Instant) {
        let branch = format!("{BRANCH_COOKIE}{}", self.token());
        let Some(((transport, peer), ip)) = self
            .calls
            .get(&call)
            .map(|c| (c.dialog.destination(), c.dialog.local_addr))
        else {
            return;
        };
        let via = self.via(transport, &branch, ip);
        let user_agent = vec![raw("User-Agent", &self.config.user_agent)];
        self.transactions.table.cancel_all(Owner::Call(call));
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Ending;
        c.pending_2xx = None;
        let bye = c.dialog.request(Method::Bye, via, user_agent);
        self.transactions
            .start_client(branch, &bye, transport, peer, call, now);
    }

    /// The Via of a request we send from `ip` (the dialog's advertised
    /// address), `rport` asked for.
    fn via(&self, transport: Transport, branch: &str, ip: IpAddr) -> Via {
        Via {
            protocol: "SIP/2.0".to_owned(),
            transport: transport.via_name().to_owned(),
            host: Host::Ip(ip),
            port: Some(self.config.sip_port),
            params: vec![
                Param::new("branch", Some(branch)),
                Param::new("rport", None),
            ],
        }
    }

    /// An error response to a request that did not parse, written from
    /// its raw headers.
    fn stateless_reply(
        &mut self,
        reply: &ReplyContext,
        source: SocketAddr,
        status: StatusCode,
        extra: Vec<RawHeader>,
    ) -> Vec<u8> {
        let mut other = Vec::new();
        for (i, value) in reply.via.iter().enumerate() {
            let stamped = (i == 0)
                .then(|| parse::parse_via(value).ok())
                .flatten()
                .map(|mut via| {
                    via.stamp_source(source);
                    via.to_string()
                });
            other.push(raw("Via", stamped.as_deref().unwrap_or(value)));
        }
        if let Some(from) = &reply.from {
            other.push(raw("From", from));
        }
        if let Some(to) = &reply.to {
            let tagged = match parse::parse_name_addr(to) {
                Ok(mut addr) if addr.tag().is_none() => {
                    addr.set_tag(&self.token());
                    addr.to_string()
                }
                _ => to.clone(),
            };
            other.push(raw("To", &tagged));
        }
        if let Some(call_id) = &reply.call_id {
            other.push(raw("Call-ID", call_id));
        }
        other.push(raw("CSeq", &reply.cseq));
        other.extend(extra);
        other.push(raw("Server", &self.config.user_agent));
        crate::message::raw_response_bytes(status, &other)
    }

    fn send(&mut self, transport: Transport, to: SocketAddr, bytes: Vec<u8>) {
        self.transactions.send(transport, to, bytes);
    }

    /// A random token for tags and branches.
    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.next_u64())
    }
}

/// Whether `call` is gone or its BYE is in flight.
fn is_ending(calls: &Calls, call: CallId) -> bool {
    calls
        .get(&call)
        .is_none_or(|c| c.state == CallState::Ending)
}
