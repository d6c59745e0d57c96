//! A scripted SIP phone for confab's end-to-end tests: real sockets, real
//! RTP, tones in, tones out.
//!
//! [`Phone`] places calls over UDP (or one TCP connection) to the server
//! under test; [`PhoneCall`] holds the dialog and two RTP tasks: a sender pacing
//! 20 ms G.711 frames of a tone, silence or RFC 4733 digits, and a recorder
//! that decodes everything the server sends into one timeline of 8 kHz
//! samples. [`PhoneCall::hears`] runs a Goertzel detector over the last 200 ms of
//! it, with thresholds documented once in [`audio`].
//!
//! The SIP side is deliberately **not** built on confab's `sip` crate: a test
//! client sharing the server's parser would share its bugs. Requests are
//! format strings; [`message`] reads responses and requests minimally but
//! correctly (status line, headers in any case and compact form, folding,
//! `Content-Length` bodies). RTP framing and G.711 come from `media`, whose
//! codecs are checked against the ITU reference there.
//!
//! It is the one test phone of the workspace: the server's integration
//! tests (through a thin wrapper in `crates/server/tests/it/common`), the
//! binary's end-to-end tests and testkit's own all call through it. Module
//! by module: [`Phone`] (`phone`) places calls; [`PhoneCall`] (`call`) is one
//! dialog and its audio (`audio`); [`Callee`] (`callee`) answers the calls
//! the server places, each a [`PhoneCall`] too; all build on `agent`, the transport,
//! reader task and client transactions they share; [`peers`] helps tests
//! that run SIPp or baresip beside it.
//!
//! To judge what the far end did *after* some event (a mute the API has
//! answered), [`PhoneCall::fence`] puts a marker datagram on the call's own RTP
//! socket: on loopback every packet sent before it is queued ahead of it,
//! so [`PhoneCall::packets_after`] the fence are exactly those sent later,
//! however late the test's runtime reads them. No wall-clock grace needed.
//!
//! Nothing here waits without a bound. Signalling waits for at most the
//! phone's timeout ([`Phone::set_timeout`], 10 s by default) and fails with
//! [`Error::Timeout`]; listening waits for the audio asked for plus a
//! slack; [`PhoneCall::wait_to_hear`] and [`PhoneCall::wait_for_bye`] take a timeout.
//! Tests poll these, and never sleep to let things happen.
//!
//! While a test is busy, the phone's reader task still answers the server:
//! OPTIONS with 200, BYE with 200 (then [`PhoneCall::wait_for_bye`] returns),
//! re-INVITEs with the current SDP, and retransmitted final responses with
//! the ACK again.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::{Codec, Phone};
//!
//! # async fn demo(server: std::net::SocketAddr) -> testkit::Result<()> {
//! let alice = Phone::bind(server).await?;
//! let bob = Phone::bind(server).await?;
//! let mut a = alice.call("room1", Codec::Pcmu).await?;
//! let mut b = bob.call("room1", Codec::Pcma).await?;
//! a.send_tone(440);
//! b.send_tone(700);
//! // Each hears the other, not themselves (mix-minus).
//! b.wait_to_hear(440, Duration::from_secs(3)).await?;
//! a.wait_to_hear(700, Duration::from_secs(3)).await?;
//! assert!(!a.hears(440));
//! // Or look at the audio directly.
//! let heard = b.listen(Duration::from_millis(500)).await?;
//! assert!(testkit::tone_present(&heard, 440));
//! a.send_dtmf('5').await?;
//! a.hang_up().await?;
//! b.wait_for_bye(Duration::from_secs(5)).await.ok(); // if the room ends with its host
//!
//! // Refusals carry their status code.
//! let err = alice.call("no-such-number", Codec::Pcmu).await.unwrap_err();
//! assert_eq!(err.status(), Some(404));
//! # Ok(()) }
//! ```

use std::time::Duration;

mod agent;
pub mod audio;
mod call;
mod callee;
pub mod message;
pub mod peers;
mod phone;
pub mod sdp;

pub use agent::{T1, T2};
pub use audio::{
    Fence, HEAR_MIN_FRACTION, HEAR_MIN_LEVEL, HEAR_WINDOW, Mark, RtpStats, TONE_AMPLITUDE,
    tone_present,
};
pub use call::{LISTEN_SLACK, PhoneCall, STALE_AFTER};
pub use callee::{Callee, Invite};
pub use media::Codec;
pub use phone::{DEFAULT_TIMEOUT, Phone};
pub use sdp::Direction;

/// Everything that can go wrong while driving a phone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// A bounded wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What we were waiting for, with what we saw instead when useful.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The far end answered with a non-2xx final response (already ACKed).
    #[error("rejected: {status} {reason}")]
    Rejected {
        /// The status code, 300..=699.
        status: u16,
        /// The reason phrase as sent.
        reason: String,
    },
    /// The far end said something we cannot work with (a 2xx without
    /// Contact, an SDP answer without usable audio).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The call has already been hung up, by us or by the far end.
    #[error("the call has ended")]
    Ended,
    /// The answer did not keep telephone-event, so there is no way to send a digit.
    #[error("no telephone-event payload type was negotiated")]
    NoTelephoneEvent,
    /// Not one of `0-9 * # A-D`.
    #[error("{0:?} is not a DTMF key")]
    InvalidDigit(char),
    /// The phone's SIP transport is gone (TCP connection closed).
    #[error("the SIP transport is closed")]
    Closed,
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}

impl Error {
    /// The SIP status code of a rejection (`Some(404)`), `None` for other errors.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The next datagram on `socket`, past the ICMP errors an earlier send left
/// behind (refused or reset: the socket is still fine). Any other error is
/// the socket's end: logged at debug with `reader` (who stops), then `None`.
pub(crate) async fn recv_datagram(
    socket: &tokio::net::UdpSocket,
    buf: &mut [u8],
    reader: &str,
) -> Option<(usize, std::net::SocketAddr)> {
    loop {
        match socket.recv_from(buf).await {
            Ok(received) => return Some(received),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                tracing::debug!(error = %e, reader, "receive failed; the reader stops");
                return None;
            }
        }
    }
}
