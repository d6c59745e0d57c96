//! [`Callee`]: a SIP user agent *server* on a real socket, for the calls
//! confab places (dial-out). It shares [`crate::agent`]'s transport and
//! reader task with [`crate::Phone`]: the reader hands it every new INVITE
//! and CANCEL, and answers the rest itself (BYE, re-INVITE, OPTIONS in a
//! dialog, ACKs).
//!
//! A test scripts it step by step: [`Callee::next_invite`] waits for an
//! INVITE, then [`Callee::ring`], [`Callee::answer`] (180 was sent or not;
//! 200 with an SDP answer to the offer, and a [`PhoneCall`] that sends and
//! records RTP like the test phone's), [`Callee::reject`] (486, 404...),
//! [`Callee::challenge`] (401 with a digest challenge, checked on the next
//! INVITE with [`Invite::digest_matches`]), or
//! [`Callee::wait_for_cancel`] (200 to the CANCEL, 487 to the INVITE).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest as _, Md5};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use crate::agent::{DialogSlot, Shared, Transport, random_u64, response, udp_reader};
use crate::audio::{Media, lock};
use crate::call::{PhoneCall, random_start};
use crate::message::{Message, StartLine};
use crate::phone::loopback;
use crate::sdp::{Answer, Direction, Offer};
use crate::{Error, Result};

/// A UAS on 127.0.0.1 (or ::1) that confab calls.
#[derive(Debug)]
pub struct Callee {
    shared: Arc<Shared>,
    incoming: Mutex<mpsc::UnboundedReceiver<Message>>,
}

/// An INVITE the callee received, with the To tag its responses carry.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The request as it arrived.
    pub message: Message,
    tag: String,
}

impl Callee {
    /// Binds a SIP socket on the loopback address of `server`'s family,
    /// port 0; `server` is confab's SIP address, where the callee's own
    /// requests (BYE) go.
    pub async fn bind(server: SocketAddr) -> Result<Self> {
        let socket = Arc::new(UdpSocket::bind(SocketAddr::new(loopback(server), 0)).await?);
        let local = socket.local_addr()?;
        let transport = Transport::Udp(socket.clone());
        let shared = Shared::new(transport, local, server, |weak| {
            tokio::spawn(udp_reader(socket, weak)).abort_handle()
        });
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&shared.state).incoming = Some(tx);
        Ok(Self {
            shared,
            incoming: Mutex::new(rx),
        })
    }

    /// Its SIP address.
    #[must_use]
    pub fn sip_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// `sip:user@host:port`, to dial.
    #[must_use]
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.shared.local)
    }

    /// The next new INVITE (CANCELs of earlier ones are skipped).
    pub async fn next_invite(&self, timeout: Duration) -> Result<Invite> {
        loop {
            let message = self.next_request(timeout, "an INVITE").await?;
            if message.method() == Some("INVITE") {
                let tag = format!("callee-{:x}", random_u64()?);
                return Ok(Invite { message, tag });
            }
        }
    }

    /// 180 Ringing.
    pub async fn ring(&self, invite: &Invite) -> Result<()> {
        self.respond(invite, 180, "Ringing", "", "").await
    }

    /// A final failure (`status` 300-699), such as 486 Busy Here.
    pub async fn reject(&self, invite: &Invite, status: u16, reason: &str) -> Result<()> {
        self.respond(invite, status, reason, "", "").await
    }

    /// 401 with a digest challenge for `realm` (MD5, `qop=auth`).
    pub async fn challenge(&self, invite: &Invite, realm: &str, nonce: &str) -> Result<()> {
        let header = format!(
            "WWW-Authenticate: Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5\r\n"
        );
        self.respond(invite, 401, "Unauthorized", &header, "").await
    }

    /// Waits for the CANCEL of `invite`, answers it 200 and the INVITE 487.
    pub async fn wait_for_cancel(&self, invite: &Invite, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.next_request(left, "a CANCEL").await?;
            if message.method() == Some("CANCEL") && message.call_id() == invite.message.call_id() {
                let ok = response(&message, 200, "OK", "", "");
                self.shared.send(&ok).await?;
                return self
                    .respond(invite, 487, "Request Terminated", "", "")
                    .await;
            }
        }
    }

    /// 200 OK with an answer to the INVITE's offer (its first G.711 codec,
    /// telephone-event 101), and the call, whose audio starts toward the
    /// offer's address.
    pub async fn answer(&self, invite: &Invite) -> Result<PhoneCall> {
        let offered = Answer::parse(&invite.message.body)
            .map_err(|e| Error::Protocol(format!("the INVITE's offer: {e}")))?;
        let rtp = UdpSocket::bind(SocketAddr::new(self.shared.local.ip(), 0)).await?;
        let local_rtp = rtp.local_addr()?;
        let offer = Offer::audio(offered.codec);
        let sdp = offer.render(local_rtp, 1, Direction::SendRecv);
        let call_id = invite.message.call_id().unwrap_or_default().to_owned();
        let (bye_tx, bye) = watch::channel(false);
        lock(&self.shared.state).dialogs.insert(
            call_id,
            DialogSlot {
                local_sdp: sdp.clone(),
                bye: bye_tx,
                requests: Vec::new(),
            },
        );
        let extra = format!(
            "Contact: {}\r\nContent-Type: application/sdp\r\n",
            self.shared.contact()
        );
        self.respond(invite, 200, "OK", &extra, &sdp).await?;
        let media = Media::start(
            rtp,
            offered.rtp,
            offered.codec,
            offered.payload_type,
            offered.telephone_event,
            random_start()?,
        )?;
        Ok(PhoneCall::answered(
            self.shared.clone(),
            &invite.message,
            format!("{};tag={}", invite.to(), invite.tag),
            media,
            offered,
            offer,
            bye,
        ))
    }

    async fn respond(
        &self,
        invite: &Invite,
        status: u16,
        reason: &str,
        extra: &str,
        body: &str,
    ) -> Result<()> {
        let mut request = invite.message.clone();
        // Our tag on the To of every response to this INVITE.
        for (name, value) in &mut request.headers {
            if name.eq_ignore_ascii_case("To") || name == "t" {
                *value = format!("{};tag={}", invite.to(), invite.tag);
            }
        }
        let bytes = response(&request, status, reason, extra, body);
        self.shared.send(&bytes).await
    }

    async fn next_request(&self, timeout: Duration, what: &str) -> Result<Message> {
        let started = Instant::now();
        let mut incoming = self.incoming.lock().await;
        match tokio::time::timeout(timeout, incoming.recv()).await {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout {
                what: what.to_owned(),
                after: started.elapsed(),
            }),
        }
    }
}

impl Invite {
    /// The Request-URI.
    #[must_use]
    pub fn uri(&self) -> &str {
        match &self.message.start {
            StartLine::Request { uri, .. } => uri,
            StartLine::Response { .. } => "",
        }
    }

    /// The To header as sent (no tag).
    #[must_use]
    pub fn to(&self) -> &str {
        self.message.header("To").unwrap_or_default()
    }

    /// The From header's user part and tag are the caller's; this is the
    /// whole From.
    #[must_use]
    pub fn from(&self) -> &str {
        self.message.header("From").unwrap_or_default()
    }

    /// Whether its `Authorization` answers a challenge for `realm` and
    /// `nonce` with `username` and `password` (RFC 2617, `qop=auth`).
    #[must_use]
    pub fn digest_matches(&self, realm: &str, nonce: &str, username: &str, password: &str) -> bool {
        let Some(auth) = self.message.header("Authorization") else {
            return false;
        };
        let Some(rest) = auth.strip_prefix("Digest ") else {
            return false;
        };
        let field = |name: &str| {
            rest.split(", ")
                .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let (Some(user), Some(uri), Some(response), Some(nc), Some(cnonce)) = (
            field("username"),
            field("uri"),
            field("response"),
            field("nc"),
            field("cnonce"),
        ) else {
            return false;
        };
        let ha1 = md5_hex(&format!("{username}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("INVITE:{uri}"));
        let expected = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        user == username && uri == self.uri() && response == expected
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
