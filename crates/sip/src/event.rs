//! What the engine tells the shell about calls.

use std::net::{IpAddr, SocketAddr};

use crate::message::SipCallId;
use crate::sdp::NegotiatedAudio;
use crate::types::{CallId, Transport};

/// A new call, waiting for [`crate::Engine::answer`], [`crate::Engine::reject`] or
/// [`crate::Engine::ringing`]. The engine has sent 100 Trying.
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
    /// The audio the offer allows; the answer will say this. `None` for a
    /// delayed offer (an INVITE without SDP): our 200 carries the offer and
    /// the ACK the answer, which arrives as [`SipEvent::MediaChanged`] just
    /// before [`SipEvent::AckReceived`] (or the call ends, with
    /// [`EndedBy::BadAnswer`]).
    pub audio: Option<NegotiatedAudio>,
    /// Where the INVITE came from.
    pub remote: SocketAddr,
    /// The local address the INVITE arrived on, if the shell knew it (not
    /// a wildcard): where the call's RTP should be bound, so that it leaves
    /// from the address the caller reached (and our SDP names, unless a
    /// public address is fixed).
    pub arrival: Option<IpAddr>,
    pub transport: Transport,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// The caller: BYE, or CANCEL-free BYE on an early dialog.
    Remote,
    /// The shell: [`crate::Engine::hangup`].
    Local,
    /// No ACK came for our 200 OK within 64*T1; the engine sent BYE.
    Timeout,
    /// The TCP connection the INVITE came over closed before the call was
    /// answered ([`crate::Engine::handle_connection_closed`]): its final
    /// response had nowhere to go. (An answered call outlives its
    /// connection.)
    ConnectionClosed,
    /// The session expired (RFC 4028): the peer, the refresher, did not
    /// refresh it in time, or our refresh got 408 or 481 or no answer; the
    /// engine sent BYE. The shell ends the call as if the caller had hung up.
    SessionExpired,
    /// The ACK to our offer (a delayed offer, a body-less re-INVITE)
    /// carried no answer, or one without PCMU/PCMA; the engine sent BYE.
    BadAnswer,
}

/// Why an outgoing call ([`crate::Engine::dial`]) did not connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialFailure {
    /// 486 Busy Here or 600 Busy Everywhere.
    Busy(crate::message::StatusCode),
    /// Not answered within the ring timeout (the engine sent CANCEL), or
    /// 408/480 from the callee.
    NoAnswer,
    /// Another final response: 3xx (redirects are not followed), 4xx,
    /// 5xx, 6xx; a 401/407 we could not answer, or answered once already.
    Rejected(crate::message::StatusCode),
    /// No response at all within 64*T1 (Timer B).
    Timeout,
    /// The 2xx carried no usable SDP answer (none, or no PCMU/PCMA): it was
    /// acknowledged and the call hung up (BYE).
    BadAnswer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipEvent {
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
    /// A re-INVITE changed codec, payload types or the remote address; or
    /// the ACK brought the answer to our offer (always reported for a
    /// delayed offer, before [`SipEvent::AckReceived`]).
    MediaChanged {
        call: CallId,
        audio: NegotiatedAudio,
    },
    /// An in-dialog INFO carried a DTMF key (`application/dtmf-relay`
    /// `Signal=`, or `application/dtmf`); 200 was sent.
    Dtmf {
        call: CallId,
        digit: media::Digit,
    },
    /// Our INVITE ([`crate::Engine::dial`]) is ringing: a 180 or 183 (a
    /// 100 is not reported). May come more than once.
    Progress {
        call: CallId,
        status: crate::message::StatusCode,
    },
    /// Our INVITE was answered (2xx, ACKed): the dialog is up, and
    /// `audio` is the callee's answer to our offer. From here the call is
    /// like an incoming one (BYE either way, re-INVITEs, INFO).
    Answered {
        call: CallId,
        audio: NegotiatedAudio,
    },
    /// Our INVITE did not make a call; the handle is dead. Not reported
    /// after [`crate::Engine::hangup`] (which reports
    /// [`SipEvent::CallEnded`] at once).
    DialFailed {
        call: CallId,
        failure: DialFailure,
    },
    /// The call is over; the handle is dead.
    CallEnded {
        call: CallId,
        by: EndedBy,
    },
}
