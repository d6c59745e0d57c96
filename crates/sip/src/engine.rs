//! The user agent server endpoint: bytes and time in; datagrams to send,
//! call events and the next deadline out.
//!
//! It answers what it can on its own (100 Trying, OPTIONS, CANCEL, BYE,
//! re-INVITEs, every error) and asks the shell only what only the shell
//! knows: whether to take a call, and which RTP port it got. Every error
//! a request can meet becomes a status code in one function,
//! [`rejection_response`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::dialog::{Call, CallState, Dialog, DialogKey, MediaSession, Pending2xx};
use crate::error::ParseError;
use crate::message::{
    BRANCH_COOKIE, CSeq, Headers, MediaType, Message, Method, NameAddr, RawHeader, Request,
    Response, SipCallId, StatusCode, Via,
};
use crate::param::Param;
use crate::parse::{self, ParseFailure, ReplyContext};
use crate::sdp::{self, NegotiatedAudio, Origin, SdpError, SessionDescription};
use crate::timer::{Kind, Owner, TimerTable, Timers};
use crate::transaction::{ClientState, ClientTx, ServerKey, ServerState, ServerTx};
use crate::types::{CallId, ConnId, Transmit, Transport, TxId};
use crate::uri::{Host, SipUri, Uri};

/// The methods confab implements, for Allow headers.
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS";

/// A source of random numbers for tags, branches and SDP session ids
/// (the shell's RNG; tests pass a counter).
pub trait Random {
    fn next_u64(&mut self) -> u64;
}

impl<F: FnMut() -> u64> Random for F {
    fn next_u64(&mut self) -> u64 {
        self()
    }
}

/// What the engine needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address written into Contact and SDP: where callers reach us.
    /// Never a wildcard (`--public-addr`, or the bind address).
    pub public_addr: IpAddr,
    /// The SIP port written into Contact and Via.
    pub sip_port: u16,
    pub timers: Timers,
    /// The Server and User-Agent header value.
    pub user_agent: String,
    /// Server transactions kept at most; over it, new requests get 503.
    pub max_transactions: usize,
}

impl Config {
    pub fn new(public_addr: IpAddr, sip_port: u16) -> Self {
        Self {
            public_addr,
            sip_port,
            timers: Timers::default(),
            user_agent: "confab".to_owned(),
            max_transactions: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the public address {0} is a wildcard; callers need a real address")]
    WildcardPublicAddr(IpAddr),
}

/// A new call, waiting for [`Engine::answer`], [`Engine::reject`] or
/// [`Engine::ringing`]. The engine has sent 100 Trying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    pub call: CallId,
    /// Who was called: the Request-URI's user part (routing uses it).
    pub request_uri_user: Option<String>,
    /// The caller: the From URI's user part.
    pub from_user: Option<String>,
    pub from_display: Option<String>,
    pub to_user: Option<String>,
    pub sip_call_id: SipCallId,
    /// The audio the offer allows; the answer will say this.
    pub audio: NegotiatedAudio,
    /// Where the INVITE came from.
    pub remote: SocketAddr,
    pub transport: Transport,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// The caller: BYE, or CANCEL-free BYE on an early dialog.
    Remote,
    /// The shell: [`Engine::hangup`].
    Local,
    /// No ACK came for our 200 OK within 64*T1; the engine sent BYE.
    Timeout,
    /// The TCP connection the call's signalling ran over closed
    /// ([`Engine::handle_connection_closed`]); no BYE could go either way.
    ConnectionClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    IncomingCall(Box<IncomingCall>),
    /// The caller gave up before an answer (CANCEL); 487 was sent.
    CallCancelled {
        call: CallId,
    },
    /// The caller acknowledged our 200 OK: media can flow both ways.
    AckReceived {
        call: CallId,
    },
    /// A re-INVITE put the leg on hold (`sendonly`/`inactive`) or took it
    /// off: on hold, it is neither heard nor sent audio.
    HoldChanged {
        call: CallId,
        on_hold: bool,
    },
    /// A re-INVITE changed codec, payload types or the remote address.
    MediaChanged {
        call: CallId,
        audio: NegotiatedAudio,
    },
    /// The call is over; the handle is dead.
    CallEnded {
        call: CallId,
        by: EndedBy,
    },
}

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

/// Why the engine refuses a request; see [`rejection_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rejection {
    Parse(ParseError),
    NotImplemented,
    MethodNotAllowed,
    CSeqMismatch,
    UnsupportedScheme,
    Merged,
    BadExtension(Vec<String>),
    NoDialog,
    UnsupportedMediaType,
    NotAcceptable,
    NoOffer,
    Sdp(SdpError),
    OutOfOrder,
    Pending,
    Overloaded,
}

/// The one place where errors become status codes (and the headers that
/// explain them).
fn rejection_response(rejection: &Rejection) -> (StatusCode, Vec<RawHeader>) {
    use Rejection as R;
    let allow = || vec![raw("Allow", ALLOW)];
    let warning =
        |code: u16, text: &str| vec![raw("Warning", &format!("{code} confab \"{text}\""))];
    match rejection {
        R::Parse(ParseError::UnsupportedVersion) => (StatusCode::VERSION_NOT_SUPPORTED, vec![]),
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
        R::Pending => (
            StatusCode::SERVER_INTERNAL_ERROR,
            vec![raw("Retry-After", "1")],
        ),
        R::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            vec![raw("Retry-After", "5")],
        ),
    }
}

fn raw(name: &str, value: &str) -> RawHeader {
    RawHeader {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// The SIP user agent server. See the crate documentation for the loop
/// that drives it.
pub struct Engine {
    config: Config,
    rng: Box<dyn Random + Send>,
    calls: HashMap<CallId, Call>,
    dialogs: HashMap<DialogKey, CallId>,
    server: HashMap<TxId, ServerTx>,
    server_keys: HashMap<ServerKey, TxId>,
    client: HashMap<TxId, ClientTx>,
    client_branches: HashMap<String, TxId>,
    timers: TimerTable,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_id: u64,
    stats: Stats,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("calls", &self.calls.len())
            .field("server_transactions", &self.server.len())
            .field("client_transactions", &self.client.len())
            .field("timers", &self.timers.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(config: Config, rng: impl Random + Send + 'static) -> Result<Self, ConfigError> {
        if config.public_addr.is_unspecified() {
            return Err(ConfigError::WildcardPublicAddr(config.public_addr));
        }
        Ok(Self {
            config,
            rng: Box::new(rng),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            server: HashMap::new(),
            server_keys: HashMap::new(),
            client: HashMap::new(),
            client_branches: HashMap::new(),
            timers: TimerTable::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            stats: Stats::default(),
        })
    }

    // -- the sans-IO surface --------------------------------------------------

    /// One datagram (UDP) or one framed message (TCP, see
    /// [`crate::frame_stream`]) from `from`.
    pub fn handle_message(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        match parse::parse_message(bytes) {
            Ok(Message::Request(request)) => self.handle_request(transport, from, request, now),
            Ok(Message::Response(response)) => self.handle_response(&response, now),
            Err(ParseFailure {
                error: ParseError::Empty,
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
        error: ParseError,
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
        while let Some((owner, kind)) = self.timers.pop_expired(now) {
            match owner {
                Owner::Server(id) => self.server_timer(id, kind, now),
                Owner::Client(id) => self.client_timer(id, kind, now),
                Owner::Call(id) => self.call_timer(id, kind, now),
            }
        }
    }

    /// The stream connection `conn` is gone (the caller closed it, or it
    /// broke). Nothing can be sent or answered on it any more, so its calls
    /// end without a BYE ([`Event::CallEnded`] with
    /// [`EndedBy::ConnectionClosed`] for each one not already reported
    /// over) and its transactions are forgotten. Calls on other
    /// transports are untouched.
    pub fn handle_connection_closed(&mut self, conn: ConnId, _now: Instant) {
        let transport = Transport::Tcp(conn);
        let mut servers: Vec<TxId> = self
            .server
            .iter()
            .filter(|(_, tx)| tx.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        servers.sort_unstable();
        for id in servers {
            self.timers.cancel_all(Owner::Server(id));
            if let Some(tx) = self.server.remove(&id) {
                self.server_keys.remove(&tx.key);
            }
        }
        let mut clients: Vec<TxId> = self
            .client
            .iter()
            .filter(|(_, tx)| tx.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        clients.sort_unstable();
        for id in clients {
            self.timers.cancel_all(Owner::Client(id));
            if let Some(tx) = self.client.remove(&id) {
                self.client_branches.remove(&tx.branch);
                // Our BYE was in flight: the shell already knows it ended.
                self.remove_call(tx.call);
            }
        }
        let mut calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.dialog.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        calls.sort_unstable();
        for call in calls {
            let reported = self
                .calls
                .get(&call)
                .is_some_and(|c| c.bye_after_ack || c.state == CallState::Ending);
            self.remove_call(call);
            if !reported {
                self.events.push_back(Event::CallEnded {
                    call,
                    by: EndedBy::ConnectionClosed,
                });
            }
        }
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the shell.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Nothing left: no calls, transactions or timers (memory is bounded
    /// by what is live).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
            && self.server.is_empty()
            && self.client.is_empty()
            && self.timers.len() == 0
            && self.dialogs.is_empty()
    }

    // -- commands ------------------------------------------------------------

    /// Answers an offered call: 200 OK with our SDP answer (RTP at the
    /// public address, `rtp_port`), retransmitted until the ACK.
    pub fn answer(&mut self, call: CallId, rtp_port: u16, now: Instant) -> Result<(), CallError> {
        let local = SocketAddr::new(self.config.public_addr, rtp_port);
        let (invite, tx) = self.take_offered(call)?;
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(CallError::UnknownCall);
        };
        let body = c.media.answer(local);
        let tag = c.dialog.key.local_tag.clone();
        let transport = c.dialog.transport;
        let mut response = self.response(&invite, StatusCode::OK, Some(&tag));
        self.dress_dialog_response(&mut response, &invite, transport);
        response.headers.content_type = Some(MediaType::new("application", "sdp"));
        response.body = body.into_bytes();
        let bytes = response.to_bytes();
        self.finish_invite(tx, bytes.clone(), true, now);
        self.start_2xx(call, invite.headers.cseq.seq, bytes, true, now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Answered;
        }
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

    /// Sends 180 Ringing for an offered call.
    pub fn ringing(&mut self, call: CallId, _now: Instant) -> Result<(), CallError> {
        let c = self.calls.get(&call).ok_or(CallError::UnknownCall)?;
        let Some((invite, tx)) = c.invite.as_ref().filter(|_| c.state == CallState::Offered) else {
            return Err(CallError::InvalidState);
        };
        let (tx, transport) = (*tx, c.dialog.transport);
        let mut response =
            self.response(invite, StatusCode::RINGING, Some(&c.dialog.key.local_tag));
        self.dress_dialog_response(&mut response, invite, transport);
        let bytes = response.to_bytes();
        if let Some(server) = self.server.get_mut(&tx) {
            server.last_response.clone_from(&bytes);
            let (transport, peer) = (server.transport, server.peer);
            self.send(transport, peer, bytes);
        }
        Ok(())
    }

    /// Ends a call from our side: BYE once established (after the ACK if
    /// it has not come yet), 480 if it was never answered. Reports
    /// [`Event::CallEnded`] with [`EndedBy::Local`] at once.
    pub fn hangup(&mut self, call: CallId, now: Instant) -> Result<(), CallError> {
        let c = self.calls.get_mut(&call).ok_or(CallError::UnknownCall)?;
        match c.state {
            CallState::Offered => {
                self.end_offered(call, StatusCode::TEMPORARILY_UNAVAILABLE, now)?
            }
            CallState::Answered if !c.bye_after_ack => c.bye_after_ack = true,
            CallState::Confirmed => self.send_bye(call, now),
            CallState::Answered | CallState::Ending => return Err(CallError::InvalidState),
        }
        self.events.push_back(Event::CallEnded {
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
        if let Some(tx) = self
            .server_keys
            .get(&key)
            .and_then(|id| self.server.get(id))
        {
            self.stats.retransmissions += 1;
            let (transport, peer, bytes) = (tx.transport, tx.peer, tx.last_response.clone());
            self.send(transport, peer, bytes);
            return;
        }
        let result = if self.server.len() >= self.config.max_transactions {
            Err(Rejection::Overloaded)
        } else if request.method == Method::Cancel {
            self.handle_cancel(transport, source, &request, &key, now)
        } else {
            self.dispatch(transport, source, &request, now)
        };
        if let Err(rejection) = result {
            self.refuse(transport, source, &request, &rejection, now);
        }
    }

    /// RFC 3261 §8.2 in order: method, Request-URI, dialog, Require, then
    /// the method's own processing.
    fn dispatch(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        match request.method {
            Method::Invite | Method::Bye | Method::Options => {}
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
            Some(key) => Some(*self.dialogs.get(&key).ok_or(Rejection::NoDialog)?),
            None if self.is_merged(request) => return Err(Rejection::Merged),
            None => None,
        };
        if !request.headers.require.is_empty() {
            return Err(Rejection::BadExtension(request.headers.require.clone()));
        }
        match (&request.method, call) {
            (Method::Invite, None) => self.new_call(transport, source, request),
            (Method::Invite, Some(call)) => self.reinvite(call, transport, source, request, now),
            (Method::Bye, Some(call)) => self.remote_bye(call, transport, source, request, now),
            (Method::Options, _) => {
                let extra = vec![raw("Allow", ALLOW), raw("Accept", "application/sdp")];
                self.reply(transport, source, request, StatusCode::OK, extra, now);
                Ok(())
            }
            _ => Err(Rejection::NoDialog),
        }
    }

    /// Another copy of an INVITE we already have (same Call-ID, From tag
    /// and CSeq, another branch): it forked upstream (§8.2.2.2).
    fn is_merged(&self, request: &Request) -> bool {
        let h = &request.headers;
        request.method == Method::Invite
            && self.calls.values().any(|c| {
                let key = &c.dialog.key;
                key.call_id == h.call_id
                    && key.remote_tag.as_deref() == h.from.tag()
                    && c.dialog.remote_seq == h.cseq.seq
            })
    }

    fn new_call(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
    ) -> Result<(), Rejection> {
        let (offer, stream, audio) = read_offer(request)?;
        let call = CallId(self.fresh_id());
        let trying = self.response(request, StatusCode::TRYING, None).to_bytes();
        let tx = self.open_server_tx(request, transport, source, ServerState::Proceeding, &trying);
        if let Some(server) = self.server.get_mut(&tx) {
            server.call = Some(call);
        }
        self.send(transport, source, trying);
        let h = &request.headers;
        let key = DialogKey {
            call_id: h.call_id.clone(),
            local_tag: self.token(),
            remote_tag: h.from.tag().map(str::to_owned),
        };
        let dialog = Dialog {
            key: key.clone(),
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
        };
        let media = MediaSession {
            offer,
            stream,
            audio: audio.clone(),
            local: None,
            origin: Origin {
                session_id: self.rng.next_u64() >> 1,
                version: 1,
            },
            last_answer: None,
        };
        self.dialogs.insert(key, call);
        self.calls.insert(
            call,
            Call {
                state: CallState::Offered,
                dialog,
                media,
                invite: Some((request.clone(), tx)),
                pending_2xx: None,
                bye_after_ack: false,
            },
        );
        self.events
            .push_back(Event::IncomingCall(Box::new(IncomingCall {
                call,
                request_uri_user: request.uri.user().map(str::to_owned),
                from_user: h.from.uri.user().map(str::to_owned),
                from_display: h.from.display.clone(),
                to_user: h.to.uri.user().map(str::to_owned),
                sip_call_id: h.call_id.clone(),
                audio,
                remote: source,
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
        match c.state {
            CallState::Offered => return Err(Rejection::Pending),
            CallState::Ending => return Err(Rejection::NoDialog),
            CallState::Answered | CallState::Confirmed => {}
        }
        if c.bye_after_ack {
            return Err(Rejection::NoDialog);
        }
        if request.headers.cseq.seq < c.dialog.remote_seq {
            return Err(Rejection::OutOfOrder);
        }
        // A body-less re-INVITE asks for our offer; we send the session as
        // it stands and do not read the answer in the ACK.
        let offer = if request.body.is_empty() {
            None
        } else {
            Some(read_offer(request)?)
        };
        // A new INVITE means the caller got our last 2xx: its ACK was lost.
        self.acknowledge(call, None, now);
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(Rejection::NoDialog);
        };
        c.dialog.remote_seq = request.headers.cseq.seq;
        if let Some(contact) = request.headers.contact.first() {
            c.dialog.remote_target = contact.uri.clone();
        }
        // Answered or confirmed, so our RTP address is known.
        let Some(local) = c.media.local else {
            return Err(Rejection::Pending);
        };
        let mut changes = Vec::new();
        if let Some((offer, stream, audio)) = offer {
            let before = std::mem::replace(&mut c.media.audio, audio.clone());
            c.media.offer = offer;
            c.media.stream = stream;
            if before.on_hold() != audio.on_hold() {
                changes.push(Event::HoldChanged {
                    call,
                    on_hold: audio.on_hold(),
                });
            }
            let moved = NegotiatedAudio {
                direction: before.direction,
                ..audio.clone()
            };
            if moved != before {
                changes.push(Event::MediaChanged { call, audio });
            }
        }
        let body = c.media.answer(local);
        let tag = c.dialog.key.local_tag.clone();
        self.events.extend(changes);
        let mut response = self.response(request, StatusCode::OK, Some(&tag));
        self.dress_dialog_response(&mut response, request, transport);
        response.headers.content_type = Some(MediaType::new("application", "sdp"));
        response.body = body.into_bytes();
        let bytes = response.to_bytes();
        let tx = self.open_server_tx(request, transport, source, ServerState::Proceeding, &bytes);
        self.finish_invite(tx, bytes.clone(), true, now);
        self.start_2xx(call, request.headers.cseq.seq, bytes, false, now);
        Ok(())
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
            CallState::Offered => {
                let _ = self.end_offered(call, StatusCode::REQUEST_TERMINATED, now);
            }
            CallState::Answered | CallState::Confirmed => self.remove_call(call),
            // Our BYE crossed theirs: the client transaction cleans up.
            CallState::Ending => return Ok(()),
        }
        if !reported {
            self.events.push_back(Event::CallEnded {
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
        let invite = self
            .server_keys
            .get(&key.with_method(Method::Invite))
            .and_then(|id| self.server.get(id))
            .ok_or(Rejection::NoDialog)?;
        let (state, call) = (invite.state, invite.call);
        // The 200 carries the To tag the INVITE's responses carry (§9.2).
        let tag = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.dialog.key.local_tag.clone());
        let tag = tag.unwrap_or_else(|| self.token());
        let mut response = self.response(request, StatusCode::OK, Some(&tag));
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
        self.send_final(transport, source, request, response, now);
        if let (ServerState::Proceeding, Some(call)) = (state, call) {
            let _ = self.end_offered(call, StatusCode::REQUEST_TERMINATED, now);
            self.events.push_back(Event::CallCancelled { call });
        }
        Ok(())
    }

    fn handle_ack(&mut self, request: &Request, key: &ServerKey, now: Instant) {
        if let Some(&id) = self.server_keys.get(key) {
            let reliable = match self.server.get_mut(&id) {
                Some(tx) if tx.state == ServerState::Completed => {
                    tx.state = ServerState::Confirmed;
                    tx.transport.is_reliable()
                }
                Some(tx) if tx.state == ServerState::Confirmed => return,
                _ => return self.ack_for_2xx(request, now),
            };
            // Timer I: absorb ACK retransmissions for T4 (0 on TCP).
            self.timers.cancel(Owner::Server(id), Kind::Retransmit);
            self.timers.cancel(Owner::Server(id), Kind::GiveUp);
            let linger = if reliable {
                now
            } else {
                now + self.config.timers.t4
            };
            self.timers.set(Owner::Server(id), Kind::Linger, linger);
            return;
        }
        self.ack_for_2xx(request, now);
    }

    fn ack_for_2xx(&mut self, request: &Request, now: Instant) {
        let call = DialogKey::of_request(request).and_then(|key| self.dialogs.get(&key).copied());
        match call {
            Some(call) => self.acknowledge(call, Some(request.headers.cseq.seq), now),
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
        self.timers.cancel(Owner::Call(call), Kind::Retransmit);
        self.timers.cancel(Owner::Call(call), Kind::GiveUp);
        if !pending.initial {
            return;
        }
        if c.bye_after_ack {
            self.send_bye(call, now);
        } else {
            c.state = CallState::Confirmed;
            self.events.push_back(Event::AckReceived { call });
        }
    }

    // -- responses (to our BYE) ----------------------------------------------

    fn handle_response(&mut self, response: &Response, now: Instant) {
        let tx = response
            .headers
            .via
            .first()
            .and_then(Via::branch)
            .and_then(|branch| self.client_branches.get(branch))
            .copied();
        let Some((id, tx)) = tx.and_then(|id| Some((id, self.client.get_mut(&id)?))) else {
            self.stats.stray_responses += 1;
            return;
        };
        if tx.method != response.headers.cseq.method {
            self.stats.stray_responses += 1;
            return;
        }
        if response.status.is_provisional() {
            // Timer E keeps going, at T2 (§17.1.2.2).
            if tx.state == ClientState::Trying {
                tx.state = ClientState::Proceeding;
                tx.interval = self.config.timers.t2;
            }
            return;
        }
        if tx.state == ClientState::Completed {
            return;
        }
        tx.state = ClientState::Completed;
        let reliable = tx.transport.is_reliable();
        self.timers.cancel(Owner::Client(id), Kind::Retransmit);
        self.timers.cancel(Owner::Client(id), Kind::GiveUp);
        // Timer K: absorb response retransmissions for T4 (0 on TCP).
        let linger = if reliable {
            now
        } else {
            now + self.config.timers.t4
        };
        self.timers.set(Owner::Client(id), Kind::Linger, linger);
    }

    // -- timers --------------------------------------------------------------

    fn server_timer(&mut self, id: TxId, kind: Kind, now: Instant) {
        match kind {
            Kind::Retransmit => {
                let timers = self.config.timers;
                let Some(tx) = self
                    .server
                    .get_mut(&id)
                    .filter(|tx| tx.state == ServerState::Completed)
                else {
                    return;
                };
                tx.interval = timers.backoff(tx.interval);
                let at = now + tx.interval;
                let (transport, peer, bytes) = (tx.transport, tx.peer, tx.last_response.clone());
                self.timers.set(Owner::Server(id), Kind::Retransmit, at);
                self.send(transport, peer, bytes);
            }
            // Timer H (no ACK for a failure), or I, J, L: forget it.
            Kind::GiveUp | Kind::Linger => {
                self.timers.cancel_all(Owner::Server(id));
                if let Some(tx) = self.server.remove(&id) {
                    self.server_keys.remove(&tx.key);
                }
            }
        }
    }

    fn client_timer(&mut self, id: TxId, kind: Kind, now: Instant) {
        match kind {
            Kind::Retransmit => {
                let timers = self.config.timers;
                let Some(tx) = self
                    .client
                    .get_mut(&id)
                    .filter(|tx| tx.state != ClientState::Completed)
                else {
                    return;
                };
                tx.interval = match tx.state {
                    ClientState::Proceeding => timers.t2,
                    _ => timers.backoff(tx.interval),
                };
                let at = now + tx.interval;
                let (transport, peer, bytes) = (tx.transport, tx.peer, tx.request.clone());
                self.timers.set(Owner::Client(id), Kind::Retransmit, at);
                self.send(transport, peer, bytes);
            }
            // Timer F (no final response) or K: either way the BYE is done
            // and so is the call.
            Kind::GiveUp | Kind::Linger => {
                self.timers.cancel_all(Owner::Client(id));
                if let Some(tx) = self.client.remove(&id) {
                    self.client_branches.remove(&tx.branch);
                    self.remove_call(tx.call);
                }
            }
        }
    }

    fn call_timer(&mut self, call: CallId, kind: Kind, now: Instant) {
        let timers = self.config.timers;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match kind {
            Kind::Retransmit => {
                let Some(pending) = c.pending_2xx.as_mut() else {
                    return;
                };
                pending.interval = timers.backoff(pending.interval);
                let at = now + pending.interval;
                let bytes = pending.bytes.clone();
                let (transport, peer) = (c.dialog.transport, c.dialog.peer);
                self.timers.set(Owner::Call(call), Kind::Retransmit, at);
                self.send(transport, peer, bytes);
            }
            // No ACK within 64*T1 (§13.3.1.4): the session ends with a BYE.
            Kind::GiveUp => {
                if c.pending_2xx.take().is_none() {
                    return;
                }
                let reported = c.bye_after_ack;
                self.timers.cancel(Owner::Call(call), Kind::Retransmit);
                self.send_bye(call, now);
                if !reported {
                    self.events.push_back(Event::CallEnded {
                        call,
                        by: EndedBy::Timeout,
                    });
                }
            }
            Kind::Linger => {}
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
        let (invite, tx) = self.take_offered(call)?;
        let tag = self
            .calls
            .get(&call)
            .map(|c| c.dialog.key.local_tag.clone())
            .unwrap_or_default();
        let mut response = self.response(&invite, status, Some(&tag));
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
        self.finish_invite(tx, response.to_bytes(), false, now);
        self.remove_call(call);
        Ok(())
    }

    fn remove_call(&mut self, call: CallId) {
        self.timers.cancel_all(Owner::Call(call));
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&c.dialog.key);
        }
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
            self.timers
                .set(Owner::Call(call), Kind::Retransmit, now + timers.t1);
            self.timers
                .set(Owner::Call(call), Kind::GiveUp, now + timers.give_up());
        }
    }

    /// Sends a final response from an INVITE server transaction: a 2xx
    /// moves it to Accepted (Timer L), a failure to Completed (Timers G,
    /// H) to wait for the ACK.
    fn finish_invite(&mut self, tx: TxId, bytes: Vec<u8>, success: bool, now: Instant) {
        let timers = self.config.timers;
        let Some(server) = self.server.get_mut(&tx) else {
            return;
        };
        server.last_response.clone_from(&bytes);
        server.interval = timers.t1;
        let (transport, peer) = (server.transport, server.peer);
        if success {
            server.state = ServerState::Accepted;
            self.timers
                .set(Owner::Server(tx), Kind::Linger, now + timers.give_up());
        } else {
            server.state = ServerState::Completed;
            if !transport.is_reliable() {
                self.timers
                    .set(Owner::Server(tx), Kind::Retransmit, now + timers.t1);
            }
            self.timers
                .set(Owner::Server(tx), Kind::GiveUp, now + timers.give_up());
        }
        self.send(transport, peer, bytes);
    }

    /// Sends a final response from a new server transaction.
    fn send_final(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        response: Response,
        now: Instant,
    ) {
        let bytes = response.to_bytes();
        if request.method == Method::Invite {
            let tx = self.open_server_tx(request, transport, source, ServerState::Proceeding, &[]);
            self.finish_invite(tx, bytes, response.status.is_success(), now);
            return;
        }
        if !transport.is_reliable() {
            // Timer J: absorb retransmissions for 64*T1 (0 on TCP).
            let tx =
                self.open_server_tx(request, transport, source, ServerState::Completed, &bytes);
            let at = now + self.config.timers.give_up();
            self.timers.set(Owner::Server(tx), Kind::Linger, at);
        }
        self.send(transport, source, bytes);
    }

    fn open_server_tx(
        &mut self,
        request: &Request,
        transport: Transport,
        peer: SocketAddr,
        state: ServerState,
        last_response: &[u8],
    ) -> TxId {
        let id = TxId(self.fresh_id());
        if let Some(key) = ServerKey::of(request) {
            self.server_keys.insert(key.clone(), id);
            self.server.insert(
                id,
                ServerTx {
                    key,
                    state,
                    transport,
                    peer,
                    last_response: last_response.to_vec(),
                    interval: self.config.timers.t1,
                    call: None,
                },
            );
        }
        id
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
        let mut response = self.response(request, status, Some(&tag));
        response.headers.other.extend(extra);
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
        self.send_final(transport, source, request, response, now);
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
            let mut response = self.response(request, status, Some(&tag));
            response.headers.other.extend(extra);
            self.send(transport, source, response.to_bytes());
            return;
        }
        self.reply(transport, source, request, status, extra, now);
    }

    /// A response to `request` copying Via, From, To (with `to_tag` if it
    /// has none), Call-ID and CSeq (§8.2.6.2).
    fn response(&self, request: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
        let h = &request.headers;
        let mut to = h.to.clone();
        if let (None, Some(tag)) = (to.tag(), to_tag) {
            to.set_tag(tag);
        }
        Response {
            status,
            reason: status.reason().to_owned(),
            headers: Headers {
                via: h.via.clone(),
                from: h.from.clone(),
                to,
                call_id: h.call_id.clone(),
                cseq: h.cseq.clone(),
                max_forwards: None,
                contact: Vec::new(),
                route: Vec::new(),
                record_route: Vec::new(),
                content_type: None,
                require: Vec::new(),
                accept: None,
                other: Vec::new(),
            },
            body: Vec::new(),
        }
    }

    /// What a dialog-creating response adds: Contact, Record-Route, Allow.
    fn dress_dialog_response(
        &self,
        response: &mut Response,
        request: &Request,
        transport: Transport,
    ) {
        response.headers.contact = vec![self.contact(transport)];
        response
            .headers
            .record_route
            .clone_from(&request.headers.record_route);
        response.headers.other.push(raw("Allow", ALLOW));
        response
            .headers
            .other
            .push(raw("Server", &self.config.user_agent));
    }

    fn contact(&self, transport: Transport) -> NameAddr {
        let mut uri = SipUri::new(
            Host::Ip(self.config.public_addr),
            Some(self.config.sip_port),
        );
        if transport.is_reliable() {
            uri.params.push(Param::new("transport", Some("tcp")));
        }
        NameAddr::new(Uri::Sip(uri))
    }

    /// Sends BYE in the call's dialog with its own client transaction
    /// (Timers E and F), and marks the call as ending.
    fn send_bye(&mut self, call: CallId, now: Instant) {
        let branch = format!("{BRANCH_COOKIE}{}", self.token());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Ending;
        c.pending_2xx = None;
        self.timers.cancel_all(Owner::Call(call));
        let d = &mut c.dialog;
        d.local_seq += 1;
        let mut from = d.local.clone();
        from.set_tag(&d.key.local_tag);
        let mut to = d.remote.clone();
        if let Some(tag) = &d.key.remote_tag {
            to.set_tag(tag);
        }
        let via = Via {
            protocol: "SIP/2.0".to_owned(),
            transport: d.transport.via_name().to_owned(),
            host: Host::Ip(self.config.public_addr),
            port: Some(self.config.sip_port),
            params: vec![
                Param::new("branch", Some(&branch)),
                Param::new("rport", None),
            ],
        };
        let request = Request {
            method: Method::Bye,
            uri: d.remote_target.clone(),
            headers: Headers {
                via: vec![via],
                from,
                to,
                call_id: d.key.call_id.clone(),
                cseq: CSeq {
                    seq: d.local_seq,
                    method: Method::Bye,
                },
                max_forwards: Some(70),
                contact: Vec::new(),
                route: d.route_set.clone(),
                record_route: Vec::new(),
                content_type: None,
                require: Vec::new(),
                accept: None,
                other: vec![raw("User-Agent", &self.config.user_agent)],
            },
            body: Vec::new(),
        };
        let (transport, peer) = (d.transport, d.peer);
        let bytes = request.to_bytes();
        let id = TxId(self.fresh_id());
        let timers = self.config.timers;
        if !transport.is_reliable() {
            self.timers
                .set(Owner::Client(id), Kind::Retransmit, now + timers.t1);
        }
        self.timers
            .set(Owner::Client(id), Kind::GiveUp, now + timers.give_up());
        self.client_branches.insert(branch.clone(), id);
        self.client.insert(
            id,
            ClientTx {
                branch,
                method: Method::Bye,
                state: ClientState::Trying,
                transport,
                peer,
                request: bytes.clone(),
                interval: timers.t1,
                call,
            },
        );
        self.send(transport, peer, bytes);
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
        self.transmits.push_back(Transmit {
            transport,
            to,
            bytes,
        });
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A random token for tags and branches.
    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.next_u64())
    }
}

/// The offer of an INVITE: its SDP, the audio stream and what it allows.
fn read_offer(
    request: &Request,
) -> Result<(SessionDescription, usize, NegotiatedAudio), Rejection> {
    let h = &request.headers;
    if request.body.is_empty() {
        return Err(Rejection::NoOffer);
    }
    if h.content_type
        .as_ref()
        .is_some_and(|t| !t.is("application", "sdp"))
    {
        return Err(Rejection::UnsupportedMediaType);
    }
    if h.accept
        .as_ref()
        .is_some_and(|ranges| !ranges.iter().any(|r| r.covers("application", "sdp")))
    {
        return Err(Rejection::NotAcceptable);
    }
    let offer = SessionDescription::parse(&request.body).map_err(Rejection::Sdp)?;
    let (stream, audio) = sdp::negotiate(&offer).map_err(Rejection::Sdp)?;
    Ok((offer, stream, audio))
}
