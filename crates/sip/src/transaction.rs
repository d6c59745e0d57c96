//! Transactions (RFC 3261 §17): the state each request/response exchange
//! keeps so that retransmissions are absorbed and lost messages resent.
//!
//! The engine drives them; this file holds their state and how requests
//! are matched to them. Server transactions are matched by branch, sent-by
//! and method (§17.2.3), with ACK matching its INVITE; a request without
//! an RFC 3261 branch (an RFC 2543 client, or the bare `z9hG4bK` of RFC
//! 4475 §3.2.1) falls back to Call-ID, CSeq number, From tag and the top
//! Via. Client transactions (our BYE) are matched by branch and method.

use std::net::SocketAddr;
use std::time::Duration;

use crate::message::{Method, Request};
use crate::types::{CallId, Transport};

/// Identifies a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    Branch {
        branch: String,
        sent_by: String,
        method: Method,
    },
    Legacy {
        call_id: String,
        seq: u32,
        from_tag: Option<String>,
        top_via: String,
        method: Method,
    },
}

impl ServerKey {
    pub fn of(request: &Request) -> Option<Self> {
        let via = request.headers.via.first()?;
        let method = match &request.method {
            Method::Ack => Method::Invite,
            other => other.clone(),
        };
        Some(if via.has_rfc3261_branch() {
            Self::Branch {
                branch: via.branch().unwrap_or_default().to_owned(),
                sent_by: via.sent_by(),
                method,
            }
        } else {
            Self::Legacy {
                call_id: request.headers.call_id.0.clone(),
                seq: request.headers.cseq.seq,
                from_tag: request.headers.from.tag().map(str::to_owned),
                top_via: format!("{} {}", via.sent_by(), via.branch().unwrap_or_default()),
                method,
            }
        })
    }

    /// The same key for another method (a CANCEL's key names its INVITE's).
    pub fn with_method(&self, method: Method) -> Self {
        let mut key = self.clone();
        match &mut key {
            Self::Branch { method: m, .. } | Self::Legacy { method: m, .. } => *m = method,
        }
        key
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// INVITE: passed to the shell, a provisional response sent.
    Proceeding,
    /// A non-2xx final response sent; INVITE: waiting for the ACK.
    Completed,
    /// INVITE: a 2xx sent (RFC 6026); the call retransmits it.
    Accepted,
    /// INVITE: the ACK for a non-2xx arrived; absorbing stray ACKs.
    Confirmed,
}

#[derive(Debug)]
pub(crate) struct ServerTx {
    pub key: ServerKey,
    pub state: ServerState,
    pub transport: Transport,
    pub peer: SocketAddr,
    /// Sent again when the request is retransmitted.
    pub last_response: Vec<u8>,
    /// The current Timer G interval.
    pub interval: Duration,
    /// The call an initial INVITE created.
    pub call: Option<CallId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    Trying,
    Proceeding,
    Completed,
}

/// A non-INVITE client transaction (our BYE).
#[derive(Debug)]
pub(crate) struct ClientTx {
    pub branch: String,
    pub method: Method,
    pub state: ClientState,
    pub transport: Transport,
    pub peer: SocketAddr,
    pub request: Vec<u8>,
    /// The current Timer E interval.
    pub interval: Duration,
    pub call: CallId,
}
