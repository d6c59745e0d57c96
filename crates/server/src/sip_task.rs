//! The SIP task: the one owner of the SIP sockets and the [`sip::Engine`].
//!
//! It binds `--sip-addr` on UDP and on TCP (the same port), then loops:
//! a datagram, a framed message from a TCP connection (one reader task per
//! connection cuts the stream with [`sip::Inbound::frame`] and sends whole
//! messages, parsed, over a channel, or bytes that cannot be framed, to be
//! answered 400 before the connection closes; a writer task per connection
//! sends),
//! a command from a call task (answer, reject, hang up), or the engine's
//! next deadline. After each input it sends what the engine produced and
//! routes its events: a new call spawns a call task with a channel of its
//! own; every later event of that call goes down that channel. A TCP connection
//! that closes does not end the answered calls whose signalling ran over it:
//! when the engine next sends in such a call ([`Transport::TcpConnect`]), this
//! task opens a new connection to the next hop (within [`CONNECT_TIMEOUT`]),
//! registers it like an accepted one so that the answers on it are read, and
//! writes the request; if it cannot connect, the request's transaction times
//! out in the engine as if unanswered. [`TcpLimits`]
//! bound what connections may hold: how many there are (in all and per
//! source address; one over either is closed at once), and how long one may
//! sit on nothing or on half a message (then it is closed). A connection
//! that has sent a whole message may then stay idle: calls run over it.
//!
//! Each message reaches the engine with the local address it arrived on
//! (a datagram's destination, from [`crate::sip_udp`]; a TCP connection's
//! local end), which the calls it starts advertise; over UDP, what goes
//! back to a source leaves from the address that source last reached.
//!
//! Each message is parsed once ([`sip::Inbound`]): `sip_guard` looks at it
//! and drops a source's new INVITEs and OPTIONS over its rate, and the
//! engine takes the parsed message; a new call from outside `--sip-allow` is refused 403
//! before any call task hears of it.
//!
//! The task never waits for a call task (events are `try_send`, and a
//! call's channel is large enough for a call's events), so a slow call can
//! not stall signalling for the others.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip::{CallId, ConnId, EndedBy, Engine, Framed, IncomingCall, SipEvent, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::sip_guard::{self, Networks, SipAllow, SourceLimiter, SourceLimits};
use crate::sip_udp::{Received, SipUdp};
use model::PerClient;

/// Commands from call tasks waiting before they wait too.
const COMMANDS: usize = 1024;
/// Events a call task may leave unread before the next is dropped.
const CALL_EVENTS: usize = 64;
/// Messages from TCP readers waiting for the engine.
const TCP_INPUT: usize = 1024;
/// Messages waiting for one TCP connection's writer.
const TCP_OUTPUT: usize = 256;
/// How long opening a TCP connection for an in-dialog request may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the task keeps going after the stop signal, so the BYEs of the
/// calls that just ended are sent and answered.
const DRAIN: Duration = Duration::from_secs(1);
/// Sources whose arrival address is remembered (bound to a wildcard).
const REACHED: usize = 10_000;

/// Where SIP listens, and what it tells callers.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// UDP and TCP; port 0 picks a free one (the same for both).
    pub bind: SocketAddr,
    /// The address written into Contact, Via and SDP whatever address a
    /// request arrived on (`--public-addr`). None: the bind address, or,
    /// bound to a wildcard, the address each request arrived on.
    pub public_addr: Option<IpAddr>,
    /// Who may place calls (`--sip-allow`); others' INVITEs get 403.
    pub allow: SipAllow,
    /// How many new INVITEs and OPTIONS one source may send.
    pub source_limits: SourceLimits,
    /// Sources never rate-limited (`--sip-trusted`: a trunk, a PBX).
    pub trusted: Networks,
    /// How many TCP connections, and how long they may stall.
    pub tcp_limits: TcpLimits,
}

/// What SIP over TCP may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open connections in all.
    pub connections: usize,
    /// Open connections from one source address (phones behind one NAT
    /// share it, so this is far above the one connection a trunk uses).
    pub per_source: usize,
    /// How long a connection may go without completing a message while it
    /// has sent none yet or holds part of one (RFC 4475 §3.1.2.2: a server
    /// should close a connection stalled in the middle of a message).
    pub stall: Duration,
}

impl Default for TcpLimits {
    /// 4,096 connections, 256 per source, 32 s (64 × T1, a transaction's
    /// lifetime) to finish a message.
    fn default() -> Self {
        Self {
            connections: 4096,
            per_source: 256,
            stall: Duration::from_secs(32),
        }
    }
}

/// The addresses SIP is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipAddrs {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
}

impl SipConfig {
    /// SIP on `bind`, the bind address public, everyone allowed, the
    /// default per-source limits.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            public_addr: None,
            allow: SipAllow::everyone(),
            source_limits: SourceLimits::default(),
            trusted: Networks::default(),
            tcp_limits: TcpLimits::default(),
        }
    }

    /// The public address the engine writes when it is fixed or a
    /// request's arrival address is not known: never a wildcard (bound to
    /// one, the loopback address of its family stands in).
    pub fn effective_public_addr(&self) -> IpAddr {
        match (self.fixed_public_addr(), self.bind.ip()) {
            (Some(ip), _) => ip,
            (None, IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (None, IpAddr::V6(ip)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            (None, ip) => ip,
        }
    }

    /// `--public-addr`, unless it is a wildcard (which says nothing).
    pub fn fixed_public_addr(&self) -> Option<IpAddr> {
        self.public_addr.filter(|ip| !ip.is_unspecified())
    }

    /// What callers are told to reach us at, for the start-up log.
    pub fn advertising(&self) -> String {
        match self.fixed_public_addr() {
            Some(ip) => format!("advertising {ip} (--public-addr)"),
            None if self.bind.ip().is_unspecified() => {
                "advertising the address each request arrives on (SIP bound to a wildcard)"
                    .to_owned()
            }
            None => format!("advertising {}", self.bind.ip()),
        }
    }
}

/// What SIP tells a call task.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// The caller acknowledged our answer.
    Acked,
    /// A re-INVITE put the leg on hold or took it off.
    Hold(bool),
    /// A re-INVITE moved the media.
    Media(sip::sdp::NegotiatedAudio),
    /// The call is over (the caller gave up before the answer: `Remote`).
    Ended(EndedBy),
    /// The caller sent a DTMF key in a SIP INFO.
    Digit(media::Digit),
    /// A call we placed rings (180/183).
    Ringing,
    /// A call we placed was answered (and ACKed): the callee's answer.
    Answered(sip::sdp::NegotiatedAudio),
    /// A call we placed did not connect (the last event of the call).
    DialFailed(sip::DialFailure),
}

#[derive(Debug)]
enum Command {
    Answer {
        call: CallId,
        rtp_port: u16,
        reply: oneshot::Sender<Result<(), sip::CallError>>,
    },
    Reject {
        call: CallId,
        status: sip::StatusCode,
    },
    Redirect {
        call: CallId,
        target: sip::SipUri,
    },
    Hangup {
        call: CallId,
    },
    Ringing {
        call: CallId,
    },
    /// Place a call; its events go to `events`.
    Dial {
        dial: Box<sip::Dial>,
        events: mpsc::Sender<CallEvent>,
        reply: oneshot::Sender<Option<CallId>>,
    },
}

/// A call task's way to the SIP task.
#[derive(Debug, Clone)]
pub struct SipHandle {
    tx: mpsc::Sender<Command>,
}

impl SipHandle {
    /// Answers with our SDP (RTP on `rtp_port`); an error if the call is
    /// gone (the caller cancelled) or past answering.
    pub async fn answer(&self, call: CallId, rtp_port: u16) -> Result<(), sip::CallError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Answer {
            call,
            rtp_port,
            reply,
        };
        self.tx
            .send(command)
            .await
            .map_err(|_| sip::CallError::UnknownCall)?;
        answer.await.unwrap_or(Err(sip::CallError::UnknownCall))
    }

    pub async fn reject(&self, call: CallId, status: sip::StatusCode) {
        let _ = self.tx.send(Command::Reject { call, status }).await;
    }

    /// `180 Ringing` for an offered call.
    pub async fn ringing(&self, call: CallId) {
        let _ = self.tx.send(Command::Ringing { call }).await;
    }

    /// `302 Moved Temporarily` to `target` for an offered call.
    pub async fn redirect(&self, call: CallId, target: sip::SipUri) {
        let _ = self.tx.send(Command::Redirect { call, target }).await;
    }

    /// BYE (or 480 if never answered; CANCEL for a call we placed that
    /// rings).
    pub async fn hangup(&self, call: CallId) {
        let _ = self.tx.send(Command::Hangup { call }).await;
    }

    /// Places a call (the INVITE goes at once); `None` if SIP is stopping.
    /// Its events come on the receiver, [`CallEvent::Answered`] or
    /// [`CallEvent::DialFailed`] first of the ones that matter.
    pub async fn dial(&self, dial: sip::Dial) -> Option<(CallId, mpsc::Receiver<CallEvent>)> {
        let (events, rx) = mpsc::channel(CALL_EVENTS);
        let (reply, placed) = oneshot::channel();
        let command = Command::Dial {
            dial: Box::new(dial),
            events,
            reply,
        };
        self.tx.send(command).await.ok()?;
        Some((placed.await.ok()??, rx))
    }
}

/// Who runs a new call: the server's call-task spawner.
pub type OnCall =
    Arc<dyn Fn(Box<IncomingCall>, mpsc::Receiver<CallEvent>, SipHandle) + Send + Sync>;

/// Binds UDP and TCP on the same address (port 0: one free port for both).
pub async fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // Port 0 gave a UDP port whose TCP twin is taken: try another.
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// Starts the SIP task on bound sockets.
pub fn spawn(
    udp: UdpSocket,
    tcp: TcpListener,
    config: &SipConfig,
    on_call: OnCall,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> io::Result<(SipAddrs, SipHandle, tokio::task::JoinHandle<()>)> {
    let udp = SipUdp::new(udp)?;
    let addrs = SipAddrs {
        udp: udp.local_addr(),
        tcp: tcp.local_addr()?,
    };
    let engine_config = sip::EngineConfig {
        fixed: config.fixed_public_addr().is_some(),
        ..sip::EngineConfig::new(config.effective_public_addr(), addrs.udp.port())
    };
    let rng = || u64::from_le_bytes(crate::ids::random_bytes()[..8].try_into().unwrap_or([0; 8]));
    let engine = Engine::new(engine_config, rng).map_err(io::Error::other)?;
    let (tx, commands) = mpsc::channel(COMMANDS);
    let (tcp_tx, tcp_in) = mpsc::channel(TCP_INPUT);
    let task = SipTask {
        engine,
        udp,
        tcp,
        commands,
        handle: SipHandle { tx },
        tcp_tx,
        tcp_in,
        conns: HashMap::new(),
        reached: PerClient::new(REACHED),
        tcp_limits: config.tcp_limits,
        next_conn: 0,
        calls: HashMap::new(),
        on_call,
        draining: false,
        allow: config.allow.clone(),
        limiter: SourceLimiter::new(config.source_limits, config.trusted.clone()),
        metrics,
    };
    let handle = task.handle.clone();
    Ok((addrs, handle, tokio::spawn(task.run(stop))))
}

/// The local address datagrams to `to` leave from (SIP bound to a
/// wildcard): the routing table's answer, asked by connecting a UDP socket,
/// which sends nothing.
fn local_toward(to: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(to).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

enum TcpInput {
    /// A whole message, parsed by the reader as it framed it.
    Message {
        conn: ConnId,
        from: SocketAddr,
        inbound: Box<sip::Inbound>,
    },
    /// Bytes the stream cannot be framed past; the connection closes next.
    Unframeable {
        conn: ConnId,
        from: SocketAddr,
        bytes: Vec<u8>,
        error: sip::SipParseError,
    },
    Closed(ConnId),
    /// A connection we opened to send `bytes` on.
    Connected {
        stream: TcpStream,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
}

/// An open TCP connection: its writer, whom it counts against, and our
/// address it reached (the engine advertises it to the calls it brings).
struct Conn {
    writer: mpsc::Sender<Vec<u8>>,
    source: IpAddr,
    local: SocketAddr,
}

struct SipTask {
    engine: Engine,
    udp: SipUdp,
    tcp: TcpListener,
    commands: mpsc::Receiver<Command>,
    handle: SipHandle,
    tcp_tx: mpsc::Sender<TcpInput>,
    tcp_in: mpsc::Receiver<TcpInput>,
    conns: HashMap<ConnId, Conn>,
    /// Bound to a wildcard: the local address each admitted source last
    /// reached over UDP, so what we send it leaves from there (a source not
    /// in it: the kernel picks). Keyed as [`PerClient`] keys (an IPv6 source by
    /// its /64), bounded like it.
    reached: PerClient<IpAddr>,
    tcp_limits: TcpLimits,
    next_conn: u64,
    calls: HashMap<CallId, mpsc::Sender<CallEvent>>,
    on_call: OnCall,
    /// Stopping: new calls are refused while the last BYEs go out.
    draining: bool,
    /// Who may place calls; the rest get 403 (`sip_guard`).
    allow: SipAllow,
    /// New INVITEs and OPTIONS per source (`sip_guard`).
    limiter: SourceLimiter,
    metrics: Arc<Metrics>,
}

impl SipTask {
    async fn run(mut self, stop: CancellationToken) {
        let mut buf = vec![0u8; 65_535];
        let mut drain_until = None;
        loop {
            let deadline = self.engine.poll_timeout();
            let wake = tokio::time::Instant::from_std(
                deadline.map_or(Instant::now() + Duration::from_secs(3600), |d| d),
            );
            let drained = tokio::time::Instant::from_std(
                drain_until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                () = stop.cancelled(), if drain_until.is_none() => {
                    self.draining = true;
                    drain_until = Some(Instant::now() + DRAIN);
                }
                () = tokio::time::sleep_until(drained), if drain_until.is_some() => break,
                received = self.udp.recv(&mut buf) => match received {
                    Ok(Received { len, from, local }) => {
                        let inbound = sip::Inbound::parse(buf.get(..len).unwrap_or_default());
                        let now = Instant::now();
                        // Only admitted sources are remembered: a flood or
                        // spoofed sources cannot churn the map.
                        if self.admit(from, &inbound, now) {
                            if self.udp.is_wildcard() {
                                *self.reached.get_or_insert(from.ip(), local.ip()) = local.ip();
                            }
                            self.engine.handle_inbound(Transport::Udp, from, local, inbound, now);
                        }
                    }
                    // Linux reports an ICMP "port unreachable" for an earlier send here.
                    Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
                },
                accepted = self.tcp.accept(), if !self.draining => match accepted {
                    Ok((stream, from)) => {
                        let _ = self.connection(stream, from, true);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SIP TCP accept failed");
                        // Out of descriptors: don't spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(input) = self.tcp_in.recv() => match input {
                    TcpInput::Message { conn, from, inbound } => {
                        let now = Instant::now();
                        if let Some(local) = self.conns.get(&conn).map(|c| c.local)
                            && self.admit(from, &inbound, now)
                        {
                            self.engine.handle_inbound(Transport::Tcp(conn), from, local, *inbound, now);
                        }
                    }
                    TcpInput::Unframeable { conn, from, bytes, error } => {
                        // Answered (400) before the close, if it is a request.
                        self.engine.handle_unframeable(Transport::Tcp(conn), from, &bytes, error);
                    }
                    TcpInput::Closed(conn) => {
                        self.conns.remove(&conn);
                        // Its answered calls stay; their next request opens a new one.
                        self.engine.handle_connection_closed(conn, Instant::now());
                    }
                    TcpInput::Connected { stream, to, bytes } => {
                        match self.connection(stream, to, false).and_then(|c| self.conns.get(&c)) {
                            Some(open) => {
                                let _ = open.writer.try_send(bytes);
                            }
                            None => tracing::debug!("SIP TCP connection we opened is over the limit: request dropped"),
                        }
                    }
                },
                Some(command) = self.commands.recv() => self.command(command),
                () = tokio::time::sleep_until(wake), if deadline.is_some() => {}
            }
            self.engine.handle_timeout(Instant::now());
            self.flush().await;
        }
        tracing::debug!(stats = ?self.engine.stats(), "SIP stopped");
    }

    /// Whether a message from `from` goes to the engine: false for a new
    /// INVITE or OPTIONS over its source's rate (dropped unanswered).
    fn admit(&mut self, from: SocketAddr, inbound: &sip::Inbound, now: Instant) -> bool {
        if !sip_guard::is_new_request(inbound) || self.limiter.allow(from.ip(), now) {
            return true;
        }
        tracing::debug!(source = %from.ip(), "new SIP request over its source's rate: dropped");
        self.metrics.sip_request_limited();
        false
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Answer {
                call,
                rtp_port,
                reply,
            } => {
                let _ = reply.send(self.engine.answer(call, rtp_port, now));
            }
            Command::Reject { call, status } => {
                let _ = self.engine.reject(call, status, now);
            }
            Command::Redirect { call, target } => {
                let _ = self.engine.redirect(call, &target, now);
            }
            Command::Hangup { call } => {
                let _ = self.engine.hangup(call, now);
            }
            Command::Ringing { call } => {
                let _ = self.engine.ringing(call, now);
            }
            Command::Dial {
                mut dial,
                events,
                reply,
            } => {
                if self.draining {
                    let _ = reply.send(None);
                    return;
                }
                if self.udp.is_wildcard() {
                    dial.local = local_toward(dial.next_hop);
                } else {
                    dial.local = Some(self.udp.local_addr().ip());
                }
                let call = self.engine.dial(*dial, now);
                self.calls.insert(call, events);
                let _ = reply.send(Some(call));
            }
        }
    }

    /// Sends what the engine produced and routes its events.
    async fn flush(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            self.route(event);
        }
        while let Some(t) = self.engine.poll_transmit() {
            match t.transport {
                Transport::Udp => {
                    let from = if self.udp.is_wildcard() {
                        self.reached.get(t.to.ip()).copied()
                    } else {
                        None
                    };
                    if let Err(e) = self.udp.send(&t.bytes, t.to, from).await {
                        tracing::debug!(error = %e, "SIP UDP send failed");
                    }
                }
                Transport::Tcp(conn) => match self.conns.get(&conn) {
                    Some(open) => {
                        let _ = open.writer.try_send(t.bytes);
                    }
                    None => tracing::debug!("SIP message for a closed TCP connection dropped"),
                },
                Transport::TcpConnect => self.connect(t.to, t.bytes),
            }
        }
    }

    fn route(&mut self, event: SipEvent) {
        let (call, event, last) = match event {
            SipEvent::IncomingCall(incoming) => {
                if !self.allow.allows(incoming.remote.ip()) {
                    tracing::debug!(source = %incoming.remote.ip(), "INVITE from outside --sip-allow: 403");
                    self.metrics.sip_invite_forbidden();
                    let forbidden = sip::StatusCode::FORBIDDEN;
                    let _ = self.engine.reject(incoming.call, forbidden, Instant::now());
                    return;
                }
                if self.draining {
                    let _ = self.engine.reject(
                        incoming.call,
                        sip::StatusCode::SERVICE_UNAVAILABLE,
                        Instant::now(),
                    );
                    return;
                }
                let (tx, rx) = mpsc::channel(CALL_EVENTS);
                self.calls.insert(incoming.call, tx);
                (self.on_call)(incoming, rx, self.handle.clone());
                return;
            }
            SipEvent::AckReceived { call } => (call, CallEvent::Acked, false),
            SipEvent::HoldChanged { call, on_hold } => (call, CallEvent::Hold(on_hold), false),
            SipEvent::MediaChanged { call, audio } => (call, CallEvent::Media(audio), false),
            SipEvent::Dtmf { call, digit } => (call, CallEvent::Digit(digit), false),
            SipEvent::CallCancelled { call } => (call, CallEvent::Ended(EndedBy::Remote), true),
            SipEvent::CallEnded { call, by } => (call, CallEvent::Ended(by), true),
            SipEvent::Progress { call, .. } => (call, CallEvent::Ringing, false),
            SipEvent::Answered { call, audio } => (call, CallEvent::Answered(audio), false),
            SipEvent::DialFailed { call, failure } => (call, CallEvent::DialFailed(failure), true),
        };
        let channel = if last {
            self.calls.remove(&call)
        } else {
            self.calls.get(&call).cloned()
        };
        // The last slot is the end's: a peer flooding INFO digits or
        // re-INVITEs at a call task that is busy can cost it those events,
        // never the one that ends the call.
        if let Some(channel) = channel
            && ((!last && channel.capacity() <= 1) || channel.try_send(event).is_err())
        {
            tracing::debug!(%call, "a call task is not reading its events: one dropped");
        }
    }

    /// Opens a TCP connection to `to` in a task of its own (the SIP task
    /// never waits on a connect), to send `bytes` on once it is open. A
    /// connection that cannot be opened within [`CONNECT_TIMEOUT`] drops
    /// the bytes: the engine's transaction for them times out.
    fn connect(&self, to: SocketAddr, bytes: Vec<u8>) {
        let input = self.tcp_tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
                Ok(Ok(stream)) => {
                    let _ = input.send(TcpInput::Connected { stream, to, bytes }).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "SIP TCP connect failed"),
                Err(_) => tracing::debug!("SIP TCP connect timed out"),
            }
        });
    }

    /// A new TCP connection, `accepted` or opened by us: a reader task
    /// feeding framed messages in, and a writer task sending what the
    /// engine sends on it. Over a [`TcpLimits`] count it is closed at once
    /// (`None`); the per-source count limits only accepted connections (we
    /// open one only for a live dialog, and a trunk's dialogs all lead to
    /// one address).
    fn connection(
        &mut self,
        stream: TcpStream,
        from: SocketAddr,
        accepted: bool,
    ) -> Option<ConnId> {
        let source = from.ip();
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!(error = %e, "SIP TCP connection without a local address: closed");
                return None;
            }
        };
        // Counted on each accept (at most `connections` entries): cheaper to
        // keep right than a second map kept in step with this one.
        let from_source = self.conns.values().filter(|c| c.source == source).count();
        if self.conns.len() >= self.tcp_limits.connections
            || (accepted && from_source >= self.tcp_limits.per_source)
        {
            tracing::debug!(%source, open = self.conns.len(), from_source, "SIP TCP connection over the limit: closed");
            return None;
        }
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let (mut read, mut write) = stream.into_split();
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(TCP_OUTPUT);
        let writer = out_tx.clone();
        self.conns.insert(
            conn,
            Conn {
                writer,
                source,
                local,
            },
        );
        tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let input = self.tcp_tx.clone();
        let stall = self.tcp_limits.stall;
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 16 * 1024];
            // Until a first message, and while part of one is held, the
            // next whole message is due within `stall`.
            let mut due = Some(tokio::time::Instant::now() + stall);
            'read: loop {
                let read = read.read(&mut chunk);
                let read = match due {
                    Some(due) => match tokio::time::timeout_at(due, read).await {
                        Ok(read) => read,
                        Err(_) => {
                            tracing::debug!(source = %from.ip(), "SIP TCP connection stalled: closed");
                            break;
                        }
                    },
                    None => read.await,
                };
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                loop {
                    match sip::Inbound::frame(&buf) {
                        Ok(Framed::Message { end, inbound }) => {
                            buf.drain(..end);
                            due = None;
                            let message = TcpInput::Message {
                                conn,
                                from,
                                inbound,
                            };
                            if input.send(message).await.is_err() {
                                break 'read;
                            }
                        }
                        Ok(Framed::KeepAlive { len, pong }) => {
                            buf.drain(..len.min(buf.len()));
                            if pong {
                                let _ = out_tx.try_send(b"\r\n".to_vec());
                            }
                        }
                        Ok(Framed::Incomplete) => {
                            // Bare CRLFs (a keepalive's start) are not a message.
                            let partial = buf.iter().any(|&b| b != b'\r' && b != b'\n');
                            if partial && due.is_none() {
                                due = Some(tokio::time::Instant::now() + stall);
                            }
                            break;
                        }
                        // The stream cannot be re-synchronised: answer, close it.
                        Err(error) => {
                            tracing::debug!(%error, "unframeable SIP over TCP; closing");
                            let bytes = std::mem::take(&mut buf);
                            let _ = input
                                .send(TcpInput::Unframeable {
                                    conn,
                                    from,
                                    bytes,
                                    error,
                                })
                                .await;
                            break 'read;
                        }
                    }
                }
            }
            let _ = input.send(TcpInput::Closed(conn)).await;
        });
        Some(conn)
    }
}
