//! Test kit: an engine on fake time and a scripted caller that writes
//! messages the way SIPp's `uac` scenario does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::{
    CallId, Engine, EngineConfig, IncomingCall, Message, Request, Response, SipEvent, Transmit,
    Transport,
};

pub const PUBLIC: &str = "203.0.113.10";
pub const RTP_PORT: u16 = 40000;

/// The engine, a fake clock and what came out of it.
pub struct Harness {
    pub engine: Engine,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        let mut counter = 0x1000_u64;
        let config = EngineConfig::new(PUBLIC.parse().unwrap(), 5060);
        let engine = Engine::new(config, move || {
            counter += 1;
            counter
        })
        .unwrap();
        let t0 = Instant::now();
        Self {
            engine,
            t0,
            now: t0,
        }
    }

    /// Seconds since the start, in milliseconds.
    pub fn ms(&self) -> u128 {
        (self.now - self.t0).as_millis()
    }

    pub fn udp(&mut self, from: SocketAddr, bytes: impl AsRef<[u8]>) {
        self.engine
            .handle_message(Transport::Udp, from, bytes.as_ref(), self.now);
    }

    pub fn deliver(&mut self, transport: Transport, from: SocketAddr, bytes: impl AsRef<[u8]>) {
        self.engine
            .handle_message(transport, from, bytes.as_ref(), self.now);
    }

    pub fn sent(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.engine.poll_transmit()).collect()
    }

    pub fn events(&mut self) -> Vec<SipEvent> {
        std::iter::from_fn(|| self.engine.poll_event()).collect()
    }

    /// Moves the clock to `now + by`, firing every timer on its deadline.
    /// Returns what was sent, with the time (ms since start) it was sent.
    pub fn advance(&mut self, by: Duration) -> Vec<(u128, Transmit)> {
        let until = self.now + by;
        let mut out = Vec::new();
        while let Some(deadline) = self.engine.poll_timeout().filter(|d| *d <= until) {
            self.now = self.now.max(deadline);
            self.engine.handle_timeout(self.now);
            for t in self.sent() {
                out.push((self.ms(), t));
            }
        }
        self.now = until;
        out
    }

    /// Runs every timer out; the engine must then hold nothing.
    pub fn drain_timers(&mut self) -> Vec<(u128, Transmit)> {
        self.advance(Duration::from_secs(600))
    }

    /// `c` hangs up `call`: its BYE gets 200 and the call ends, by the far
    /// end.
    pub fn bye_ends(&mut self, c: &mut Caller, call: CallId) {
        self.udp(c.addr, c.bye());
        assert_eq!(self.one_response().status, sip::StatusCode::OK);
        assert_eq!(
            self.events(),
            [SipEvent::CallEnded {
                call,
                by: sip::EndedBy::Remote
            }]
        );
    }

    pub fn one_response(&mut self) -> Response {
        let sent = self.sent();
        assert_eq!(
            sent.len(),
            1,
            "expected one message, got {}",
            describe(&sent)
        );
        response(&sent[0])
    }

    pub fn incoming_call(&mut self) -> IncomingCall {
        match self.events().as_slice() {
            [SipEvent::IncomingCall(call)] => (**call).clone(),
            other => panic!("expected one IncomingCall, got {other:?}"),
        }
    }

    /// A whole normal call: INVITE → 100 → 200 (answered) → ACK → BYE → 200.
    pub fn normal_call(&mut self, caller: &mut Caller) {
        self.udp(caller.addr, caller.invite(&offer(6000, "0 8 101", None)));
        let trying = self.one_response();
        assert_eq!(trying.status.as_u16(), 100);
        let call = self.incoming_call();
        assert_eq!(call.request_uri_user.as_deref(), Some("room1"));
        self.engine.answer(call.call, RTP_PORT, self.now).unwrap();
        let ok = self.one_response();
        assert_eq!(ok.status.as_u16(), 200);
        caller.take_to_tag(&ok);
        self.udp(caller.addr, caller.ack());
        assert!(self.sent().is_empty());
        assert_eq!(self.events(), [SipEvent::AckReceived { call: call.call }]);
        self.udp(caller.addr, caller.bye());
        assert_eq!(self.one_response().status.as_u16(), 200);
        assert_eq!(
            self.events(),
            [SipEvent::CallEnded {
                call: call.call,
                by: sip::EndedBy::Remote
            }]
        );
    }
}

pub fn response(t: &Transmit) -> Response {
    match Message::parse(&t.bytes) {
        Ok(Message::Response(r)) => r,
        other => panic!(
            "not a response: {other:?}\n{}",
            String::from_utf8_lossy(&t.bytes)
        ),
    }
}

pub fn request(t: &Transmit) -> Request {
    match Message::parse(&t.bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!(
            "not a request: {other:?}\n{}",
            String::from_utf8_lossy(&t.bytes)
        ),
    }
}

pub fn describe(sent: &[Transmit]) -> String {
    sent.iter()
        .map(|t| {
            String::from_utf8_lossy(&t.bytes)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

pub fn status_line(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// An SDP offer like SIPp's: `m=audio <port> RTP/AVP <pts>` with rtpmaps
/// for 0, 8 and 101, and an optional direction attribute.
pub fn offer(port: u16, pts: &str, direction: Option<&str>) -> String {
    let mut sdp = format!(
        "v=0\r\no=user1 53655765 2353687637 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pts}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    );
    if let Some(direction) = direction {
        sdp.push_str(&format!("a={direction}\r\n"));
    }
    sdp
}

/// A scripted caller (the UAC side of a dialog).
pub struct Caller {
    pub addr: SocketAddr,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    pub invite_branch: String,
    pub invite_cseq: u32,
    invite_to_tag: Option<String>,
    branches: u32,
}

impl Caller {
    pub fn new(addr: &str, call_id: &str) -> Self {
        Self {
            addr: addr.parse().unwrap(),
            call_id: call_id.to_owned(),
            from_tag: "caller-tag".to_owned(),
            to_tag: None,
            cseq: 0,
            invite_branch: String::new(),
            invite_cseq: 0,
            invite_to_tag: None,
            branches: 0,
        }
    }

    fn branch(&mut self) -> String {
        self.branches += 1;
        format!("z9hG4bK-{}-{}", self.call_id, self.branches)
    }

    pub fn message(
        &self,
        method: &str,
        cseq: &str,
        branch: &str,
        to_tag: Option<&str>,
        extra: &str,
        body: &str,
    ) -> String {
        let content_type = (!body.is_empty()).then_some("application/sdp");
        self.typed_message(method, cseq, branch, to_tag, extra, content_type, body)
    }

    /// [`Caller::message`] with a body of any type.
    #[allow(clippy::too_many_arguments)]
    pub fn typed_message(
        &self,
        method: &str,
        cseq: &str,
        branch: &str,
        to_tag: Option<&str>,
        extra: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> String {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let content_type = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        format!(
            "{method} sip:room1@{PUBLIC}:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {addr};branch={branch}\r\n\
             From: sipp <sip:sipp@{addr}>;tag={from_tag}\r\n\
             To: <sip:room1@{PUBLIC}:5060>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq}\r\n\
             Contact: sip:sipp@{addr}\r\n\
             Max-Forwards: 70\r\n\
             {extra}{content_type}Content-Length: {len}\r\n\r\n{body}",
            addr = self.addr,
            from_tag = self.from_tag,
            call_id = self.call_id,
            len = body.len(),
        )
    }

    /// The initial INVITE (a new transaction).
    pub fn invite(&mut self, sdp: &str) -> String {
        let content_type = (!sdp.is_empty()).then_some("application/sdp");
        self.invite_of(content_type, sdp)
    }

    /// The last INVITE again, byte for byte (a retransmission).
    pub fn invite_again(&self, sdp: &str) -> String {
        self.message(
            "INVITE",
            &format!("{} INVITE", self.invite_cseq),
            &self.invite_branch,
            self.invite_to_tag.as_deref(),
            "",
            sdp,
        )
    }

    /// A re-INVITE in the dialog (a new transaction).
    pub fn reinvite(&mut self, sdp: &str) -> String {
        self.cseq += 1;
        self.invite_cseq = self.cseq;
        self.invite_branch = self.branch();
        self.invite_to_tag.clone_from(&self.to_tag);
        self.message(
            "INVITE",
            &format!("{} INVITE", self.cseq),
            &self.invite_branch,
            self.to_tag.as_deref(),
            "",
            sdp,
        )
    }

    /// ACK for a 2xx: its own branch, the dialog's tags.
    pub fn ack(&mut self) -> String {
        let branch = self.branch();
        self.message(
            "ACK",
            &format!("{} ACK", self.invite_cseq),
            &branch,
            self.to_tag.as_deref(),
            "",
            "",
        )
    }

    /// ACK for a 2xx carrying an answer (to our offer).
    pub fn ack_with(&mut self, sdp: &str) -> String {
        let branch = self.branch();
        self.message(
            "ACK",
            &format!("{} ACK", self.invite_cseq),
            &branch,
            self.to_tag.as_deref(),
            "",
            sdp,
        )
    }

    /// A request in the dialog with a body of `content_type` (INFO).
    pub fn in_dialog(&mut self, method: &str, content_type: Option<&str>, body: &str) -> String {
        self.cseq += 1;
        let branch = self.branch();
        self.typed_message(
            method,
            &format!("{} {method}", self.cseq),
            &branch,
            self.to_tag.as_deref(),
            "",
            content_type,
            body,
        )
    }

    /// The initial INVITE with a body of `content_type` (multipart).
    pub fn typed_invite(&mut self, content_type: &str, body: &str) -> String {
        self.invite_of(Some(content_type), body)
    }

    fn invite_of(&mut self, content_type: Option<&str>, body: &str) -> String {
        self.cseq += 1;
        self.invite_cseq = self.cseq;
        self.invite_branch = self.branch();
        self.invite_to_tag = None;
        self.typed_message(
            "INVITE",
            &format!("{} INVITE", self.cseq),
            &self.invite_branch,
            None,
            "",
            content_type,
            body,
        )
    }

    /// ACK for a failure response: the INVITE's branch (§17.1.1.3).
    pub fn ack_failure(&self, to_tag: &str) -> String {
        self.message(
            "ACK",
            &format!("{} ACK", self.invite_cseq),
            &self.invite_branch,
            Some(to_tag),
            "",
            "",
        )
    }

    /// CANCEL for the last INVITE: its branch and CSeq number.
    pub fn cancel(&self) -> String {
        self.message(
            "CANCEL",
            &format!("{} CANCEL", self.invite_cseq),
            &self.invite_branch,
            None,
            "",
            "",
        )
    }

    pub fn bye(&mut self) -> String {
        self.cseq += 1;
        let branch = self.branch();
        self.message(
            "BYE",
            &format!("{} BYE", self.cseq),
            &branch,
            self.to_tag.as_deref(),
            "",
            "",
        )
    }

    /// An out-of-dialog request with its own transaction.
    pub fn request(&mut self, method: &str, extra: &str) -> String {
        self.cseq += 1;
        let branch = self.branch();
        self.message(
            method,
            &format!("{} {method}", self.cseq),
            &branch,
            None,
            extra,
            "",
        )
    }

    pub fn take_to_tag(&mut self, response: &Response) {
        self.to_tag = response.headers.to.tag().map(str::to_owned);
        assert!(self.to_tag.is_some(), "no To tag in {response:?}");
    }
}

/// A 200 OK to a request of ours, as a UAC would write it.
pub fn ok_to(request: &Request) -> String {
    let h = &request.headers;
    let vias: String = h.via.iter().map(|v| format!("Via: {v}\r\n")).collect();
    format!(
        "SIP/2.0 200 OK\r\n{vias}From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        h.from, h.to, h.call_id, h.cseq
    )
}

pub fn call_of(event: &SipEvent) -> CallId {
    match event {
        SipEvent::IncomingCall(c) => c.call,
        SipEvent::CallCancelled { call }
        | SipEvent::AckReceived { call }
        | SipEvent::HoldChanged { call, .. }
        | SipEvent::MediaChanged { call, .. }
        | SipEvent::Dtmf { call, .. }
        | SipEvent::Progress { call, .. }
        | SipEvent::Answered { call, .. }
        | SipEvent::DialFailed { call, .. }
        | SipEvent::CallEnded { call, .. } => *call,
    }
}
