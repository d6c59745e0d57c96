//! What a call task, the hub and a room pass each other while the call is
//! in a conference: the leg handed over with a join and given back at the
//! leave, what the call hears about its membership, and what a room reports
//! to the hub.
//!
//! These live apart from [`crate::hub`] and [`crate::room`] so that each of
//! those can name them without naming the other: the hub drives rooms, and
//! a room knows nothing of the hub, only the [`RoomReports`] sender it was
//! given.

use std::net::{self, SocketAddr};

use conference::LeaveReason;
use media::{AudioSource, Digit, LegConfig};
use model::{CallSid, ConferenceSid};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::rtp_activity::RtpActivity;

/// A call's media leg on its way into a room: its socket and what was
/// negotiated for it.
#[derive(Debug)]
pub struct LegHandover {
    pub socket: UdpSocket,
    pub config: LegConfig,
    /// What it hears while the room waits; `None` is silence (`waitUrl=""`).
    pub wait: Option<Box<dyn AudioSource + Send>>,
    pub hangup_on_star: bool,
    /// On hold (re-INVITE `sendonly`/`inactive`) when it joins.
    pub held: bool,
    /// Where the room records the caller's RTP arrivals (`--rtp-timeout`).
    pub activity: RtpActivity,
    /// rtcp-mux was negotiated: RTCP goes to the RTP address.
    pub rtcp_mux: bool,
    /// The leg's RTCP socket (RTP port + 1), if bound: without rtcp-mux the
    /// room reads the peer's RTCP there and sends its reports from it.
    pub rtcp: Option<std::sync::Arc<net::UdpSocket>>,
    /// Where the call hears about its membership ([`CallNotice`]). The hub
    /// reserves one slot of it when the join succeeds, for the
    /// [`CallNotice::Left`] that ends the membership: the room's notices
    /// can fill the rest, never that one. Give a fresh channel per join.
    pub notify: mpsc::Sender<CallNotice>,
}

/// A leg the room gave back: the socket (std's: the call task registers it
/// with its own runtime again, `UdpSocket::from_std`), and where its media
/// came from.
#[derive(Debug)]
pub struct ReturnedLeg {
    pub socket: net::UdpSocket,
    pub remote: Option<SocketAddr>,
}

/// What a call task hears about its time in a room.
#[derive(Debug)]
pub enum CallNotice {
    /// The call is out of the room (the hub says why), with its leg back.
    /// Sent exactly once per successful join, into a slot reserved for it.
    Left {
        reason: LeaveReason,
        leg: Option<ReturnedLeg>,
    },
    /// The wait source set for the leg played to its end.
    WaitEnded,
    /// The room started: wait audio is over.
    Started,
    /// The call was put on hold with a `HoldUrl` (2010 API): make its
    /// audio and give it to the room ([`crate::room::RoomHandle::replace_hold_music`]);
    /// the leg hears silence until then.
    HoldMusic(api::Fetchable),
    /// The API's `AnnounceUrl`: make its audio and play it in the room, to
    /// this call (`to_room: false`) or to the whole conference.
    Announce {
        audio: api::Fetchable,
        to_room: bool,
    },
}

/// A change to a call's leg that SIP reported (a re-INVITE, an UPDATE).
#[derive(Debug, Clone, Copy)]
pub enum LegUpdate {
    Hold(bool),
    /// A new offer/answer: where the media is, and its formats.
    Media(media::LegMedia),
}

/// What a room (or a call task) tells the hub. A room never waits for the
/// hub (the hub waits for rooms), so reports go into an unbounded channel;
/// digits come at the pace of a finger on a keypad (one report per key
/// press, whatever carried it), and speech at the pace of talk, which
/// bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomReport {
    /// A call in `conference` pressed `digit`, however it arrived: an RFC
    /// 4733 telephone event or an in-band tone the room detected, or a SIP
    /// INFO the call task received. The hub decides what it means (`*` from
    /// a `hangupOnStar` call: the call leaves).
    Digit {
        conference: ConferenceSid,
        call: CallSid,
        digit: Digit,
    },
    /// An announcement played to its end in `conference`: to `call`, or
    /// (`None`) to the whole conference (the 2010 API's `announcement-end`).
    AnnouncementEnded {
        conference: ConferenceSid,
        call: Option<CallSid>,
    },
    /// A call in `conference` started or stopped speaking (the room's
    /// talker detection, on for every leg: for `speaker` status callbacks
    /// and the dashboard). At most one per leg per 200 ms: speech must
    /// last that long to start.
    Speaking {
        conference: ConferenceSid,
        call: CallSid,
        speaking: bool,
    },
}

/// Where rooms send their [`RoomReport`]s; the hub reads the other end
/// beside its commands.
pub type RoomReports = mpsc::UnboundedSender<RoomReport>;
