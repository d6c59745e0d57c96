//! SIP signalling for confab: a sans-IO user agent server (UAS), and the
//! client (UAC) of the calls confab places.
//!
//! Phones and trunks dial in over SIP, UDP or TCP; [`Engine`] answers
//! them. [`Engine::dial`] calls out (over UDP), and the call it makes is
//! served like an incoming one once answered (module `engine::uac`). Like `quinn-proto` and `str0m`, it owns no socket, reads no clock
//! and draws no random numbers: the shell (the server's SIP task) feeds it
//! bytes and `now`, passes an RNG for tags and branches, and drains what
//! to send, call events and the next deadline. The rest of confab sees
//! typed calls ([`IncomingCall`], [`SipEvent`], [`sdp::NegotiatedAudio`]) and
//! never SIP text.
//!
//! # The contract
//!
//! Inputs, each taking `now`:
//! - [`Engine::handle_message`] for every UDP datagram, and for every
//!   message [`frame_stream`] cuts out of a TCP connection's bytes (tell
//!   the engine which connection with [`Transport::Tcp`]); or, to look at
//!   a message before the engine acts on it, [`Inbound::parse`] it and
//!   pass it to [`Engine::handle_inbound`] (it is parsed once);
//! - [`Engine::handle_unframeable`] when [`frame_stream`] fails on a
//!   connection's bytes (it answers 400 if it can), before closing it;
//! - [`Engine::handle_timeout`] once [`Engine::poll_timeout`]'s instant
//!   has passed;
//! - [`Engine::handle_connection_closed`] when a TCP connection is gone
//!   (its calls end, as if hung up, with no BYE possible);
//! - the shell's decisions about a call: [`Engine::answer`] (with the RTP
//!   port it bound), [`Engine::reject`], [`Engine::ringing`],
//!   [`Engine::hangup`]; and [`Engine::dial`] for a call to place (its
//!   [`SipEvent::Progress`], [`SipEvent::Answered`] or
//!   [`SipEvent::DialFailed`] follow).
//!
//! After any input, drain [`Engine::poll_transmit`] (send each to its
//! address on its transport), [`Engine::poll_event`], and sleep until
//! [`Engine::poll_timeout`] or the next datagram.
//!
//! What the engine does on its own: 100 Trying for every new INVITE;
//! retransmissions of its responses and requests (RFC 3261 timers, kept
//! as a table); OPTIONS (200 with Allow/Accept); CANCEL (200, and 487 to
//! the INVITE if it had no final response); BYE (200); re-INVITEs (an
//! answer on the same RTP port, [`SipEvent::HoldChanged`] when a `sendonly`
//! or `inactive` offer puts the leg on hold or takes it off); a BYE when
//! no ACK comes within 64*T1; and every error response, chosen in one
//! function (`rejection::rejection_response`): 400 for bad syntax (505 for
//! another SIP version), 481 for unknown dialogs and transactions, 488 for
//! offers without PCMU/PCMA audio, 501 for unknown methods, 405 for known
//! ones we do not do, 416, 415, 406, 420 (for any required extension but
//! 100rel). Hostile input never panics: a request with too little to
//! answer (no Via or CSeq) and any broken response are dropped and counted
//! in [`Stats`].
//!
//! Replies go back to the source address and port of the request on the
//! same transport (RFC 3581 symmetric response routing; `received` and
//! `rport` are filled in). Requests we send in a dialog (BYE, a session
//! refresh) go to the remote target through the route set (§12.2; see
//! `Dialog::destination`), over the dialog's TCP connection while it is
//! open. Contact, our Via and SDP carry the local address the call's INVITE
//! arrived on (the shell passes it to [`Engine::handle_inbound`]), or
//! [`EngineConfig::public_addr`] when it is fixed (`--public-addr`) or the
//! arrival address is not known; never a wildcard.
//!
//! Choices worth knowing (RFC 4475 allows each): `Max-Forwards: 0` is
//! processed normally, as an endpoint should (RFC 4475 §3.3.11), not
//! refused with 483; extra SP in the request line and LWS inside `<...>`
//! are refused with 400; a branch without the RFC 3261 cookie falls back
//! to RFC 2543 transaction matching. A closed TCP connection ends only the
//! calls not answered yet: an answered call stays up, and our next request
//! in it asks the shell for a new connection ([`Transport::TcpConnect`]).
//! RFC 4028 session timers are negotiated in `session_timer` (422 below
//! 90 s); UPDATE (RFC 3311) is answered in a dialog.
//!
//! Offer/answer beyond a plain INVITE offer: an INVITE without SDP (a
//! delayed offer) is offered to the shell with `audio: None`; our 200
//! carries our offer (PCMU, PCMA, telephone-event 101) and the ACK's answer
//! arrives as [`SipEvent::MediaChanged`] before [`SipEvent::AckReceived`];
//! a body-less re-INVITE gets our offer too, and its ACK's answer decides
//! hold and address like a re-INVITE offer. An ACK with no usable answer
//! ends the call with BYE ([`EndedBy::BadAnswer`]). A `multipart/mixed` or
//! `multipart/alternative` body is read for its `application/sdp` part
//! (415 if it has none). INFO in a dialog carrying a DTMF key
//! (`application/dtmf-relay`, `application/dtmf`) is answered 200 and
//! reported as [`SipEvent::Dtmf`]; an empty INFO gets 200, other bodies 415.
//!
//! A caller that sends `Require: 100rel` (RFC 3262; `Supported: 100rel` is
//! advertised) is sent a reliable 180 (`RSeq`, `Require: 100rel`) by the
//! engine itself when the shell calls [`Engine::answer`]; the 200 follows
//! the matching PRACK (answered 200; another RAck gets 481), or, with no
//! PRACK in 64*T1, the INVITE gets 500 and the call ends. The shell never
//! has to call [`Engine::ringing`] for it. `Supported: 100rel` alone
//! changes nothing.
//!
//! # Where things are
//!
//! From the top down (modules import no module that imports them back;
//! `module-cycles` checks):
//!
//! - `engine`: [`Engine`], the UAS logic (RFC 3261 §8.2 dispatch, INVITE,
//!   re-INVITE, UPDATE, CANCEL, BYE, ACK, session refreshes) and the UAC's
//!   (`engine/uac.rs`: INVITE, CANCEL, ACKs, digest retries) composing the
//!   two layers below; `digest`: RFC 2617 MD5 credentials;
//! - `session_timer`: RFC 4028 negotiation and the deadlines it sets;
//! - `dialog`: the dialog layer: a call's state (`CallState`), its dialog
//!   (tags, CSeq, remote target, route set; `Dialog::request` builds our
//!   in-dialog requests) and its media session;
//! - `transaction`: the transaction layer: server and client
//!   transactions, their retransmissions and Timers E to L, the engine's
//!   one timer table (`timer`) and its send queue;
//! - `rejection`: every refusal and the one function that maps it to a
//!   status code; `event` and `config`: what the shell hears and passes in;
//! - `inbound`, `parse`, `message`, `uri`, `param`, `sdp`: the wire formats,
//!   parsed once at the edge into types; `types`, `limits`, `error`: what
//!   they all share.
//!
//! # A driver loop
//!
//! A whole call, with the clock and the socket left out (see
//! `examples/udp_uas.rs` for the same loop on a real UDP socket):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sip::{EngineConfig, Engine, SipEvent, Transport};
//!
//! let mut counter = 0_u64;
//! let rng = move || { counter += 1; counter }; // the shell passes getrandom
//! let mut engine = Engine::new(EngineConfig::new("203.0.113.10".parse()?, 5060), rng)?;
//! let caller = "192.0.2.7:5070".parse()?;
//! let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
//!            m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
//! let invite = format!(
//!     "INVITE sip:room1@203.0.113.10 SIP/2.0\r\n\
//!      Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK776asdhds\r\n\
//!      From: <sip:+15551234@192.0.2.7>;tag=1928301774\r\n\
//!      To: <sip:room1@203.0.113.10>\r\nCall-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\n\
//!      Contact: <sip:caller@192.0.2.7:5070>\r\nContent-Type: application/sdp\r\n\
//!      Content-Length: {}\r\n\r\n{sdp}",
//!     sdp.len()
//! );
//!
//! let start = Instant::now();
//! let mut now = start;
//! engine.handle_message(Transport::Udp, caller, invite.as_bytes(), now);
//! let mut sent = Vec::new();
//! loop {
//!     while let Some(event) = engine.poll_event() {
//!         if let SipEvent::IncomingCall(call) = event {
//!             // Route on call.request_uri_user ("room1"), record call.from_user,
//!             // bind an RTP port for call.audio, then:
//!             engine.answer(call.call, 40_000, now)?;
//!         }
//!     }
//!     while let Some(transmit) = engine.poll_transmit() {
//!         sent.push(transmit); // socket.send_to(&transmit.bytes, transmit.to)
//!     }
//!     // Sleep until a datagram arrives or the deadline passes.
//!     let Some(deadline) = engine.poll_timeout().filter(|_| sent.len() < 3) else { break };
//!     now = now.max(deadline);
//!     engine.handle_timeout(now);
//! }
//! // 100 Trying, 200 OK, and the 200 again after T1 (no ACK yet).
//! assert!(sent[0].bytes.starts_with(b"SIP/2.0 100 "));
//! assert!(sent[1].bytes.starts_with(b"SIP/2.0 200 "));
//! assert_eq!(sent[2].bytes, sent[1].bytes);
//! assert_eq!(now - start, Duration::from_millis(500));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod dialog;
mod digest;
mod engine;
mod error;
mod event;
mod inbound;
mod limits;
mod message;
mod multipart;
mod param;
mod parse;
mod rejection;
pub mod sdp;
mod session_timer;
mod timer;
mod transaction;
mod types;
mod uri;

pub use config::{ConfigError, EngineConfig, Random};
pub use digest::Credentials;
pub use engine::{CallError, Dial, Engine, Stats};
pub use error::SipParseError;
pub use event::{DialFailure, EndedBy, IncomingCall, SipEvent};
pub use inbound::{Framed, Inbound};
pub use limits::{MAX_HEADER_LINES, MAX_LINE_LEN, MAX_MESSAGE_LEN};
pub use message::{
    BRANCH_COOKIE, CSeq, Headers, MediaType, Message, Method, NameAddr, RawHeader, Request,
    Response, SipCallId, StatusCode, Via,
};
pub use param::Param;
pub use parse::{StreamFrame, frame_stream};
pub use timer::Timers;
pub use types::{CallId, ConnId, Transmit, Transport};
pub use uri::{Host, SipUri, Uri};
