//! The SIP side a phone's calls share: the transport (one UDP socket or one
//! TCP connection), the reader task that answers the far end, and client
//! transactions with their retransmissions.
//!
//! One reader task per phone reads the SIP socket (UDP) or connection (TCP).
//! Responses go to the client transaction waiting on their Via branch;
//! requests are answered on the spot: OPTIONS with 200, an in-dialog BYE with
//! 200 (and the call learns it ended), a re-INVITE with our current SDP, a
//! retransmitted final response to one of our INVITEs with its ACK again. So
//! a test can be busy listening to audio and the far end still sees a
//! well-behaved phone. [`crate::Phone`] and [`crate::PhoneCall`] both build on
//! this module and never on each other's insides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::UdpSocket;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::audio::lock;
use crate::message::{self, Message, StartLine, header_param};
use crate::{Error, Result};

/// RFC 3261 T1: the first retransmission interval over UDP.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the cap on non-INVITE retransmission intervals.
pub const T2: Duration = Duration::from_secs(4);

/// What a new dialog starts from, before the far end's tag is known.
#[derive(Debug, Clone)]
pub(crate) struct DialogStart {
    pub call_id: String,
    /// Our From header value, tag included.
    pub from: String,
    /// The To header value of the initial INVITE (no tag).
    pub to: String,
    /// The initial Request-URI.
    pub uri: String,
}

/// The state a phone's calls share with its reader task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub transport: Transport,
    pub local: SocketAddr,
    pub server: SocketAddr,
    pub state: Mutex<State>,
    reader: AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Shared {
    /// Stops the reader task: the far end is no longer answered, and over
    /// TCP the connection closes (the reader owns its read half and the
    /// writer task's life).
    pub fn crash(&self) {
        self.reader.abort();
    }
}

/// The phone's SIP bookkeeping, behind one mutex never held across an await.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Client transactions waiting for responses, by Via branch.
    pub transactions: HashMap<String, mpsc::UnboundedSender<Message>>,
    /// Calls by Call-ID.
    pub dialogs: HashMap<String, DialogSlot>,
    /// ACKs we sent, by (Call-ID, CSeq), to repeat when a final response is retransmitted.
    pub acks: HashMap<(String, u32), Vec<u8>>,
    pub options_answered: u64,
    /// A callee's: new INVITEs and CANCELs go here, for it to answer.
    pub incoming: Option<mpsc::UnboundedSender<Message>>,
}

/// What the reader task needs to know about one call.
#[derive(Debug)]
pub(crate) struct DialogSlot {
    /// Our current session description, for answering a re-INVITE.
    pub local_sdp: String,
    /// Set once the far end's BYE has been answered.
    pub bye: watch::Sender<bool>,
    /// Methods of the requests the far end sent in this dialog, in order.
    pub requests: Vec<String>,
}

/// Whether a client transaction is an INVITE (Timer A stops at the first
/// provisional response) or not (Timer E keeps going, capped at T2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Invite,
    NonInvite,
}

/// A finished client transaction.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub provisional: Vec<u16>,
    pub last: Message,
}

impl Shared {
    pub(crate) fn new(
        transport: Transport,
        local: SocketAddr,
        server: SocketAddr,
        spawn_reader: impl FnOnce(Weak<Shared>) -> AbortHandle,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self {
            transport,
            local,
            server,
            state: Mutex::new(State::default()),
            reader: spawn_reader(weak.clone()),
        })
    }

    /// `SIP/2.0/UDP 127.0.0.1:5070`, the Via sent-by.
    pub fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.name(),
            self.local
        )
    }

    /// Our Contact header value.
    pub fn contact(&self) -> String {
        match self.transport {
            Transport::Udp(_) => format!("<sip:testkit@{}>", self.local),
            Transport::Tcp(_) => format!("<sip:testkit@{};transport=tcp>", self.local),
        }
    }

    pub async fn send(&self, bytes: &[u8]) -> Result<()> {
        log_message("sent", bytes);
        self.transport.send(bytes, self.server).await
    }

    /// Sends without waiting (for `Drop`); losing the message is acceptable there.
    pub fn try_send(&self, bytes: &[u8]) {
        log_message("sent", bytes);
        self.transport.try_send(bytes, self.server);
    }

    /// Runs one client transaction: sends `request`, retransmits it over UDP
    /// (Timer A or E) and returns the final response, or [`Error::Timeout`]
    /// at `deadline`.
    pub async fn transact(
        &self,
        request: &[u8],
        branch: &str,
        kind: Kind,
        deadline: Instant,
        what: &str,
    ) -> Result<Outcome> {
        let (mut rx, _unregister) = self.register(branch);
        let started = Instant::now();
        self.send(request).await?;
        let mut retransmit = !self.transport.reliable();
        let mut interval = T1;
        let mut next = started + interval;
        let mut provisional = Vec::new();
        loop {
            let wake = if retransmit {
                next.min(deadline)
            } else {
                deadline
            };
            match tokio::time::timeout_at(wake, rx.recv()).await {
                Ok(Some(response)) => match response.status() {
                    Some(status @ 100..=199) => {
                        provisional.push(status);
                        if kind == Kind::Invite {
                            retransmit = false;
                        }
                    }
                    Some(_) => {
                        return Ok(Outcome {
                            provisional,
                            last: response,
                        });
                    }
                    None => {}
                },
                Ok(None) => return Err(Error::Closed),
                Err(_) if Instant::now() >= deadline => {
                    return Err(Error::Timeout {
                        what: format!("a final response to {what} (saw {provisional:?})"),
                        after: Instant::now() - started,
                    });
                }
                Err(_) => {
                    self.send(request).await?;
                    interval = match kind {
                        Kind::Invite => interval * 2,
                        Kind::NonInvite => (interval * 2).min(T2),
                    };
                    next = Instant::now() + interval;
                }
            }
        }
    }

    /// Routes responses carrying `branch` to the returned receiver until the guard drops.
    pub fn register<'a>(
        &'a self,
        branch: &'a str,
    ) -> (mpsc::UnboundedReceiver<Message>, Unregister<'a>) {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.state).transactions.insert(branch.to_owned(), tx);
        (
            rx,
            Unregister {
                state: &self.state,
                branch,
            },
        )
    }

    /// Handles one message from the far end.
    async fn on_bytes(&self, bytes: &[u8], from: SocketAddr) {
        log_message("received", bytes);
        let message = match Message::parse(bytes) {
            Ok(m) => m,
            Err(message::PhoneParseError::Empty) => return,
            Err(e) => {
                tracing::debug!(error = %e, %from, "unreadable SIP message dropped");
                return;
            }
        };
        let reply = match &message.start {
            StartLine::Response { .. } => self.on_response(message),
            StartLine::Request { method, .. } => self.on_request(method, &message),
        };
        if let Some(reply) = reply {
            log_message("sent", &reply);
            if let Err(e) = self.transport.send(&reply, from).await {
                tracing::debug!(error = %e, "SIP reply failed");
            }
        }
    }

    /// Routes a response to its transaction; returns an ACK to repeat if it is
    /// a retransmitted final response to an INVITE already finished.
    fn on_response(&self, response: Message) -> Option<Vec<u8>> {
        let state = lock(&self.state);
        if let Some(tx) = response
            .top_branch()
            .and_then(|b| state.transactions.get(b))
        {
            let _ = tx.send(response);
            return None;
        }
        let (cseq, method) = response.cseq()?;
        if method != "INVITE" || response.status()? < 200 {
            return None;
        }
        let key = (response.call_id()?.to_owned(), cseq);
        state.acks.get(&key).cloned()
    }

    fn on_request(&self, method: &str, request: &Message) -> Option<Vec<u8>> {
        let mut state = lock(&self.state);
        let call_id = request.call_id().unwrap_or_default().to_owned();
        let slot = state.dialogs.get_mut(&call_id);
        let in_dialog = slot.is_some() && request.to_tag().is_some();
        if let Some(slot) = slot {
            slot.requests.push(method.to_owned());
        }
        let ok = |extra: &str, body: &str| response(request, 200, "OK", extra, body);
        if let Some(incoming) = &state.incoming
            && !in_dialog
            && matches!(method, "INVITE" | "CANCEL")
        {
            let _ = incoming.send(request.clone());
            return None;
        }
        Some(match method {
            "ACK" => return None,
            "OPTIONS" => {
                state.options_answered += 1;
                ok(
                    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nAccept: application/sdp\r\n",
                    "",
                )
            }
            "BYE" if in_dialog => {
                if let Some(slot) = state.dialogs.get(&call_id) {
                    slot.bye.send_replace(true);
                }
                ok("", "")
            }
            "INVITE" if in_dialog => {
                let sdp = state
                    .dialogs
                    .get(&call_id)
                    .map(|s| s.local_sdp.clone())
                    .unwrap_or_default();
                let extra = format!(
                    "Contact: {}\r\nContent-Type: application/sdp\r\n",
                    self.contact()
                );
                ok(&extra, &sdp)
            }
            "INFO" | "NOTIFY" | "UPDATE" if in_dialog => ok("", ""),
            "BYE" | "CANCEL" | "INFO" | "NOTIFY" | "UPDATE" => {
                response(request, 481, "Call/Transaction Does Not Exist", "", "")
            }
            "INVITE" => response(request, 486, "Busy Here", "", ""),
            _ => response(
                request,
                501,
                "Not Implemented",
                "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n",
                "",
            ),
        })
    }
}

/// Removes a transaction's entry however its wait ends.
#[derive(Debug)]
pub(crate) struct Unregister<'a> {
    state: &'a Mutex<State>,
    branch: &'a str,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        lock(self.state).transactions.remove(self.branch);
    }
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How the phone's SIP messages travel.
#[derive(Debug)]
pub(crate) enum Transport {
    Udp(Arc<UdpSocket>),
    /// Bytes for the connection's writer task.
    Tcp(mpsc::UnboundedSender<Vec<u8>>),
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            Transport::Udp(_) => "UDP",
            Transport::Tcp(_) => "TCP",
        }
    }

    fn reliable(&self) -> bool {
        matches!(self, Transport::Tcp(_))
    }

    async fn send(&self, bytes: &[u8], to: SocketAddr) -> Result<()> {
        match self {
            Transport::Udp(socket) => {
                socket.send_to(bytes, to).await?;
                Ok(())
            }
            Transport::Tcp(tx) => tx.send(bytes.to_vec()).map_err(|_| Error::Closed),
        }
    }

    fn try_send(&self, bytes: &[u8], to: SocketAddr) {
        let _ = match self {
            Transport::Udp(socket) => socket.try_send_to(bytes, to).map(drop),
            Transport::Tcp(tx) => {
                let _ = tx.send(bytes.to_vec());
                Ok(())
            }
        };
    }
}

pub(crate) async fn udp_reader(socket: Arc<UdpSocket>, shared: Weak<Shared>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Some((len, from)) = crate::recv_datagram(&socket, &mut buf, "SIP").await else {
            return;
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.on_bytes(&buf[..len], from).await;
    }
}

pub(crate) async fn tcp_reader(
    mut read: OwnedReadHalf,
    shared: Weak<Shared>,
    server: SocketAddr,
    writer: AbortHandle,
) {
    let _writer = AbortOnDrop(writer);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    'read: loop {
        match read.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
        loop {
            match message::frame(&buf) {
                Ok(Some(len)) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    shared.on_bytes(&bytes, server).await;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "unframeable SIP over TCP; closing");
                    break 'read;
                }
            }
        }
    }
    // The connection is gone: waiting transactions see their channel close
    // and fail with `Error::Closed` instead of running into their deadline.
    if let Some(shared) = shared.upgrade() {
        lock(&shared.state).transactions.clear();
    }
}

/// A response to `request`: its Vias, From, To (with a tag of ours if it
/// had none), Call-ID and CSeq, then `extra` header lines and `body`.
pub(crate) fn response(
    request: &Message,
    status: u16,
    reason: &str,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for via in request.header_lines("Via") {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    let to = request.header("To").unwrap_or_default();
    let to = if header_param(to, "tag").is_some() {
        to.to_owned()
    } else {
        // Not random: one request, one answer; the tag only has to be present.
        format!(
            "{to};tag=testkit-{:x}",
            request.cseq().map_or(0, |(n, _)| n)
        )
    };
    for (name, value) in [
        ("From", request.header("From").unwrap_or_default()),
        ("To", to.as_str()),
        ("Call-ID", request.call_id().unwrap_or_default()),
        ("CSeq", request.header("CSeq").unwrap_or_default()),
    ] {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(extra);
    out.push_str(&format!(
        "User-Agent: confab-testkit\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    out.into_bytes()
}

/// A random number for tags, branches, Call-IDs and RTP stream starts.
pub(crate) fn random_u64() -> Result<u64> {
    getrandom::u64().map_err(|e| Error::Random(e.to_string()))
}

/// A fresh RFC 3261 branch (with the magic cookie).
pub(crate) fn new_branch() -> Result<String> {
    Ok(format!("z9hG4bK{:016x}", random_u64()?))
}

/// Logs a message's first line at debug (URIs are test data here, not personal data).
fn log_message(direction: &str, bytes: &[u8]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let text = String::from_utf8_lossy(bytes);
        let first = text.trim_start().lines().next().unwrap_or_default();
        tracing::debug!(direction, first, "SIP");
    }
    if tracing::enabled!(tracing::Level::TRACE) {
        tracing::trace!(direction, message = %String::from_utf8_lossy(bytes), "SIP");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn responses_copy_the_transaction_headers_and_add_a_to_tag() {
        let req = Message::parse(
            b"OPTIONS sip:testkit@127.0.0.1:5070 SIP/2.0\r\n\
              Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n\
              v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb\r\n\
              f: <sip:confab@127.0.0.1>;tag=s1\r\nt: <sip:testkit@127.0.0.1:5070>\r\n\
              i: opt-1\r\nCSeq: 9 OPTIONS\r\nl: 0\r\n\r\n",
        )
        .unwrap();
        let bytes = response(&req, 200, "OK", "Accept: application/sdp\r\n", "");
        let resp = Message::parse(&bytes).unwrap();
        assert_eq!(resp.status(), Some(200));
        assert_eq!(resp.values("Via").len(), 2);
        assert_eq!(resp.top_branch(), Some("z9hG4bKa"));
        assert_eq!(resp.to_tag(), Some("testkit-9"));
        assert_eq!(
            header_param(resp.header("From").unwrap(), "tag"),
            Some("s1")
        );
        assert_eq!(resp.call_id(), Some("opt-1"));
        assert_eq!(resp.cseq(), Some((9, "OPTIONS")));
        assert_eq!(resp.header("Accept"), Some("application/sdp"));
        assert_eq!(resp.header("Content-Length"), Some("0"));

        let with_body = Message::parse(&response(&req, 200, "OK", "", "v=0\r\n")).unwrap();
        assert_eq!(with_body.body, b"v=0\r\n");
    }
}
