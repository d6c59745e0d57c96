//! The transaction layer (RFC 3261 §17): the state each request/response
//! exchange keeps so that retransmissions are absorbed and lost messages
//! resent, the timers that do it, and the queue of what to send.
//!
//! [`Transactions`] owns the server and client transactions, the one
//! [`TimerTable`] of the engine (the dialog layer's timers, a 2xx waiting
//! for its ACK, sit in it beside Timers E to L) and the outgoing queue.
//! It knows nothing of calls beyond the [`CallId`] a transaction belongs
//! to: the engine decides what to answer, this layer sends it, resends it
//! and forgets it when the RFC says so.
//!
//! Server transactions are matched by branch, sent-by and method
//! (§17.2.3), with ACK matching its INVITE; a request without
//! an RFC 3261 branch (an RFC 2543 client, or the bare `z9hG4bK` of RFC
//! 4475 §3.2.1) falls back to Call-ID, CSeq number, From tag and the top
//! Via. Client transactions (our BYE) are matched by branch and method.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{Method, Request, Response, StatusCode, Via};
use crate::timer::{Kind, Owner, TimerTable, Timers};
use crate::types::{CallId, Transmit, Transport, TxId};

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

/// A client transaction: our BYE, CANCEL, a session refresh (UPDATE, or a
/// re-INVITE), or the INVITE of a call we place; an INVITE's Timer A is
/// not capped at T2 and stops at a provisional response.
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
    /// An INVITE's ACK for its failure response, sent again for each
    /// retransmission of it (§17.1.1.3), even once the call is gone.
    pub failure_ack: Option<Vec<u8>>,
}

/// What an ACK matched in the transaction layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckMatch {
    /// The ACK for a failure response (or a retransmission of it): absorbed.
    Absorbed,
    /// Not an ACK for a failure: the ACK of a 2xx, for the dialog layer.
    ForDialog,
}

/// What a response did to our client transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResponseMatch {
    /// It matches none of them.
    Stray,
    /// A provisional response to a non-INVITE request, or a retransmitted
    /// final one: nothing for the engine to do.
    Absorbed,
    /// A provisional response to one of our INVITEs (Timer A stopped).
    Provisional {
        call: CallId,
        tx: TxId,
        status: StatusCode,
        branch: String,
    },
    /// A final response for the engine: the first one, or (INVITE) a
    /// retransmission of it, which is acknowledged again.
    Final {
        call: CallId,
        method: Method,
        status: StatusCode,
        branch: String,
        first: bool,
    },
}

/// A client transaction that ended without a final response for the
/// engine to act on (or whose connection closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientEnd {
    pub call: CallId,
    pub method: Method,
    /// Timer F (or B) fired: no final response came.
    pub timed_out: bool,
}

/// The transaction layer: transactions, their timers, and what to send.
#[derive(Debug)]
pub(crate) struct Transactions {
    timers: Timers,
    server: HashMap<TxId, ServerTx>,
    server_keys: HashMap<ServerKey, TxId>,
    client: HashMap<TxId, ClientTx>,
    client_branches: HashMap<(String, Method), TxId>,
    /// Every timer of the engine (transactions' and calls').
    pub table: TimerTable,
    transmits: VecDeque<Transmit>,
    /// One counter numbers transactions and calls alike.
    next_id: u64,
}

impl Transactions {
    pub fn new(timers: Timers) -> Self {
        Self {
            timers,
            server: HashMap::new(),
            server_keys: HashMap::new(),
            client: HashMap::new(),
            client_branches: HashMap::new(),
            table: TimerTable::default(),
            transmits: VecDeque::new(),
            next_id: 1,
        }
    }

    pub fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn send(&mut self, transport: Transport, to: SocketAddr, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit {
            transport,
            to,
            bytes,
        });
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn server_count(&self) -> usize {
        self.server.len()
    }

    pub fn client_count(&self) -> usize {
        self.client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.server.is_empty() && self.client.is_empty() && self.table.len() == 0
    }

    // -- server transactions --------------------------------------------------

    /// A retransmitted request: its transaction's last response goes out
    /// again. False if no transaction has the key.
    pub fn absorb_retransmission(&mut self, key: &ServerKey) -> bool {
        let Some(tx) = self.server_keys.get(key).and_then(|id| self.server.get(id)) else {
            return false;
        };
        let (transport, peer, bytes) = (tx.transport, tx.peer, tx.last_response.clone());
        self.send(transport, peer, bytes);
        true
    }

    /// The state and call of the server transaction with this key.
    pub fn server_state(&self, key: &ServerKey) -> Option<(ServerState, Option<CallId>)> {
        let tx = self
            .server_keys
            .get(key)
            .and_then(|id| self.server.get(id))?;
        Some((tx.state, tx.call))
    }

    /// A new server transaction for `request` (none if it has no Via).
    pub fn open_server(
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
                    interval: self.timers.t1,
                    call: None,
                },
            );
        }
        id
    }

    /// Marks the server transaction `tx` as the one that created `call`.
    pub fn set_call(&mut self, tx: TxId, call: CallId) {
        if let Some(server) = self.server.get_mut(&tx) {
            server.call = Some(call);
        }
    }

    /// Sends a provisional response from the INVITE server transaction
    /// `tx` (and resends it for a retransmitted INVITE).
    pub fn provisional(&mut self, tx: TxId, bytes: Vec<u8>) {
        if let Some(server) = self.server.get_mut(&tx) {
            server.last_response.clone_from(&bytes);
            let (transport, peer) = (server.transport, server.peer);
            self.send(transport, peer, bytes);
        }
    }

    /// Sends a final response from an INVITE server transaction: a 2xx
    /// moves it to Accepted (Timer L), a failure to Completed (Timers G,
    /// H) to wait for the ACK.
    pub fn finish_invite(&mut self, tx: TxId, bytes: Vec<u8>, success: bool, now: Instant) {
        let timers = self.timers;
        let Some(server) = self.server.get_mut(&tx) else {
            return;
        };
        server.last_response.clone_from(&bytes);
        server.interval = timers.t1;
        let (transport, peer) = (server.transport, server.peer);
        if success {
            server.state = ServerState::Accepted;
            self.table
                .set(Owner::Server(tx), Kind::Linger, now + timers.give_up());
        } else {
            server.state = ServerState::Completed;
            if !transport.is_reliable() {
                self.table
                    .set(Owner::Server(tx), Kind::Retransmit, now + timers.t1);
            }
            self.table
                .set(Owner::Server(tx), Kind::GiveUp, now + timers.give_up());
        }
        self.send(transport, peer, bytes);
    }

    /// Sends a final response from a new server transaction.
    pub fn send_final(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        response: &Response,
        now: Instant,
    ) {
        let bytes = response.to_bytes();
        if request.method == Method::Invite {
            let tx = self.open_server(request, transport, source, ServerState::Proceeding, &[]);
            self.finish_invite(tx, bytes, response.status.is_success(), now);
            return;
        }
        if !transport.is_reliable() {
            // Timer J: absorb retransmissions for 64*T1 (0 on TCP).
            let tx = self.open_server(request, transport, source, ServerState::Completed, &bytes);
            let at = now + self.timers.give_up();
            self.table.set(Owner::Server(tx), Kind::Linger, at);
        }
        self.send(transport, source, bytes);
    }

    /// An ACK: absorbed here if it acknowledges a failure response (Timer
    /// I then absorbs its retransmissions for T4, 0 on TCP).
    pub fn ack(&mut self, key: &ServerKey, now: Instant) -> AckMatch {
        let Some(&id) = self.server_keys.get(key) else {
            return AckMatch::ForDialog;
        };
        let reliable = match self.server.get_mut(&id) {
            Some(tx) if tx.state == ServerState::Completed => {
                tx.state = ServerState::Confirmed;
                tx.transport.is_reliable()
            }
            Some(tx) if tx.state == ServerState::Confirmed => return AckMatch::Absorbed,
            _ => return AckMatch::ForDialog,
        };
        self.table.cancel(Owner::Server(id), Kind::Retransmit);
        self.table.cancel(Owner::Server(id), Kind::GiveUp);
        let linger = if reliable { now } else { now + self.timers.t4 };
        self.table.set(Owner::Server(id), Kind::Linger, linger);
        AckMatch::Absorbed
    }

    // -- client transactions --------------------------------------------------

    /// Sends `request` in a new client transaction for `call`: Timers E
    /// and F (A and B for an INVITE).
    pub fn start_client(
        &mut self,
        branch: String,
        request: &Request,
        transport: Transport,
        peer: SocketAddr,
        call: CallId,
        now: Instant,
    ) {
        let bytes = request.to_bytes();
        let id = TxId(self.fresh_id());
        let timers = self.timers;
        if !transport.is_reliable() {
            self.table
                .set(Owner::Client(id), Kind::Retransmit, now + timers.t1);
        }
        self.table
            .set(Owner::Client(id), Kind::GiveUp, now + timers.give_up());
        self.client_branches
            .insert((branch.clone(), request.method.clone()), id);
        self.client.insert(
            id,
            ClientTx {
                branch,
                method: request.method.clone(),
                state: ClientState::Trying,
                transport,
                peer,
                request: bytes.clone(),
                interval: timers.t1,
                call,
                failure_ack: None,
            },
        );
        self.send(transport, peer, bytes);
    }

    /// A response, matched to our client transactions.
    pub fn handle_response(&mut self, response: &Response, now: Instant) -> ResponseMatch {
        let method = response.headers.cseq.method.clone();
        let tx = response
            .headers
            .via
            .first()
            .and_then(Via::branch)
            .and_then(|branch| self.client_branches.get(&(branch.to_owned(), method)))
            .copied();
        let Some((id, tx)) = tx.and_then(|id| Some((id, self.client.get_mut(&id)?))) else {
            return ResponseMatch::Stray;
        };
        let invite = tx.method == Method::Invite;
        if response.status.is_provisional() {
            if tx.state == ClientState::Trying {
                tx.state = ClientState::Proceeding;
                tx.interval = self.timers.t2;
                // Timer A stops (§17.1.1.2); Timer E keeps going, at T2
                // (§17.1.2.2).
                if invite {
                    self.table.cancel(Owner::Client(id), Kind::Retransmit);
                }
            }
            if invite && tx.state == ClientState::Proceeding {
                return ResponseMatch::Provisional {
                    call: tx.call,
                    tx: id,
                    status: response.status,
                    branch: tx.branch.clone(),
                };
            }
            return ResponseMatch::Absorbed;
        }
        let first = tx.state != ClientState::Completed;
        let end = ResponseMatch::Final {
            call: tx.call,
            method: tx.method.clone(),
            status: response.status,
            branch: tx.branch.clone(),
            first,
        };
        if !first {
            if let Some(ack) = tx
                .failure_ack
                .clone()
                .filter(|_| !response.status.is_success())
            {
                let (transport, peer) = (tx.transport, tx.peer);
                self.send(transport, peer, ack);
                return ResponseMatch::Absorbed;
            }
            return if invite { end } else { ResponseMatch::Absorbed };
        }
        tx.state = ClientState::Completed;
        let reliable = tx.transport.is_reliable();
        self.table.cancel(Owner::Client(id), Kind::Retransmit);
        self.table.cancel(Owner::Client(id), Kind::GiveUp);
        // Timer K: absorb response retransmissions for T4; an INVITE's
        // (Timer D, and the 2xx's retransmissions) for 64*T1; 0 on TCP.
        let linger = match (reliable, invite) {
            (true, _) => now,
            (false, false) => now + self.timers.t4,
            (false, true) => now + self.timers.give_up(),
        };
        self.table.set(Owner::Client(id), Kind::Linger, linger);
        end
    }

    /// Sends the ACK of the failure response to our INVITE on `branch`,
    /// and keeps it for the response's retransmissions.
    pub fn ack_failure(&mut self, branch: &str, ack: Vec<u8>) {
        let key = (branch.to_owned(), Method::Invite);
        let Some(tx) = self
            .client_branches
            .get(&key)
            .and_then(|id| self.client.get_mut(id))
        else {
            return;
        };
        tx.failure_ack = Some(ack.clone());
        let (transport, peer) = (tx.transport, tx.peer);
        self.send(transport, peer, ack);
    }

    /// Forgets our INVITE on `branch` still waiting for a final response
    /// (a call given up after its CANCEL got none: Proceeding has no timer
    /// of its own to end it).
    pub fn abandon_invite(&mut self, branch: &str) {
        let key = (branch.to_owned(), Method::Invite);
        if let Some(&id) = self.client_branches.get(&key)
            && self
                .client
                .get(&id)
                .is_some_and(|tx| tx.state != ClientState::Completed)
        {
            let _ = self.forget_client(id, false);
        }
    }

    // -- timers and connections -----------------------------------------------

    /// A transaction's timer fired. Returns the client transaction that is
    /// over (Timer F or K), for the dialog layer.
    pub fn on_timer(&mut self, owner: Owner, kind: Kind, now: Instant) -> Option<ClientEnd> {
        match owner {
            Owner::Server(id) => {
                self.server_timer(id, kind, now);
                None
            }
            Owner::Client(id) => self.client_timer(id, kind, now),
            Owner::Call(_) => None,
        }
    }

    fn server_timer(&mut self, id: TxId, kind: Kind, now: Instant) {
        match kind {
            Kind::Retransmit => {
                let timers = self.timers;
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
                self.table.set(Owner::Server(id), Kind::Retransmit, at);
                self.send(transport, peer, bytes);
            }
            // Timer H (no ACK for a failure), or I, J, L: forget it.
            Kind::GiveUp | Kind::Linger => self.forget_server(id),
            Kind::Refresh | Kind::Expire | Kind::Ring => {}
        }
    }

    fn client_timer(&mut self, id: TxId, kind: Kind, now: Instant) -> Option<ClientEnd> {
        match kind {
            Kind::Retransmit => {
                let timers = self.timers;
                let tx = self
                    .client
                    .get_mut(&id)
                    .filter(|tx| tx.state != ClientState::Completed)?;
                tx.interval = match tx.state {
                    _ if tx.method == Method::Invite => tx.interval.saturating_mul(2),
                    ClientState::Proceeding => timers.t2,
                    _ => timers.backoff(tx.interval),
                };
                let at = now + tx.interval;
                let (transport, peer, bytes) = (tx.transport, tx.peer, tx.request.clone());
                self.table.set(Owner::Client(id), Kind::Retransmit, at);
                self.send(transport, peer, bytes);
                None
            }
            // Timer F (no final response) or K: the transaction is done.
            Kind::GiveUp => self.forget_client(id, true),
            Kind::Linger => self.forget_client(id, false),
            Kind::Refresh | Kind::Expire | Kind::Ring => None,
        }
    }

    fn forget_server(&mut self, id: TxId) {
        self.table.cancel_all(Owner::Server(id));
        if let Some(tx) = self.server.remove(&id) {
            self.server_keys.remove(&tx.key);
        }
    }

    fn forget_client(&mut self, id: TxId, timed_out: bool) -> Option<ClientEnd> {
        self.table.cancel_all(Owner::Client(id));
        let tx = self.client.remove(&id)?;
        self.client_branches
            .remove(&(tx.branch.clone(), tx.method.clone()));
        // A transaction that got its final response ended when it came.
        (timed_out || tx.state != ClientState::Completed).then_some(ClientEnd {
            call: tx.call,
            method: tx.method,
            timed_out,
        })
    }

    /// Forgets every transaction on `transport` (a closed connection).
    /// Returns the client transactions that were waiting on it for a final
    /// response, in order.
    pub fn connection_closed(&mut self, transport: Transport) -> Vec<ClientEnd> {
        for id in sorted_ids(&self.server, |tx| tx.transport == transport) {
            self.forget_server(id);
        }
        sorted_ids(&self.client, |tx| tx.transport == transport)
            .into_iter()
            .filter_map(|id| self.forget_client(id, false))
            .collect()
    }
}

/// The ids of the transactions in `map` that `keep` picks, in order (the
/// order they were opened in, so that what follows is deterministic).
fn sorted_ids<T>(map: &HashMap<TxId, T>, keep: impl Fn(&T) -> bool) -> Vec<TxId> {
    let mut ids: Vec<TxId> = map
        .iter()
        .filter(|(_, tx)| keep(tx))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}
