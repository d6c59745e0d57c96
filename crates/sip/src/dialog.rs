//! A call: the dialog an INVITE creates (RFC 3261 §12) and the media
//! session negotiated in it.
//!
//! ```text
//!   INVITE ─▶ Offered ──answer──▶ Answered ──ACK──▶ Confirmed ──BYE out──▶ Ending
//!               │  ╰─reject/CANCEL/BYE: gone      │ ╰─no ACK in 64*T1: BYE, Ending
//!               ╰──────────── BYE in: gone ────────┴── BYE in: gone
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use crate::message::{NameAddr, Request, SipCallId};
use crate::sdp::{NegotiatedAudio, Origin, SessionDescription};
use crate::types::{Transport, TxId};
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
    /// Where the caller's signalling comes from; our requests go there.
    pub transport: Transport,
    pub peer: SocketAddr,
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
    pub last_answer: Option<String>,
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
}

impl MediaSession {
    /// The SDP answer for the current offer, from `local`; the origin's
    /// version goes up when the text changes (RFC 3264 §8).
    pub fn answer(&mut self, local: SocketAddr) -> String {
        self.local = Some(local);
        let mut text =
            crate::sdp::answer(&self.offer, self.stream, &self.audio, local, self.origin);
        if self.last_answer.as_ref().is_some_and(|last| *last != text) {
            self.origin.version += 1;
            text = crate::sdp::answer(&self.offer, self.stream, &self.audio, local, self.origin);
        }
        self.last_answer = Some(text.clone());
        text
    }
}
