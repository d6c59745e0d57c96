//! A call's own media while it is not in a conference: `<Say>`, `<Play>`,
//! `<Pause>` and the error tone, played to the caller through the same
//! machinery the rooms use (a [`MediaRoom`] with the call's one leg, kept
//! waiting, whose wait source is the clip; the clip is over when the room
//! reports [`MediaEvent::WaitSourceEnded`]).
//!
//! The keys the caller presses (RFC 4733 events, read with every datagram;
//! in-band tones for a leg without telephone-event, heard on ticks) are
//! kept for the call task ([`Player::poll_digit`]), which hands them to the
//! call's core: out of a room, a `<Gather>` is what listens.
//!
//! The player ticks only while something plays, or while a `<Gather>`
//! waits for keys (the call task decides). Its socket and the
//! address its media latched to move into a room at `<Dial>` and come back
//! when the call leaves, so the caller keeps hearing the script.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use media::{
    AudioSource, Digit, LegConfig, LegId, LegMedia, MediaEvent, MediaRoom, RtpTimestamp, SeqNo,
    Silence, Ssrc,
};
use sip::sdp::NegotiatedAudio;
use tokio::net::UdpSocket;

use crate::room::MAX_READS_PER_TICK;
use crate::rtp_activity::RtpActivity;

const LEG: LegId = LegId(1);

/// One call's private media.
#[derive(Debug)]
pub struct Player {
    socket: UdpSocket,
    room: MediaRoom,
    remote: Option<SocketAddr>,
    buf: Vec<u8>,
    activity: RtpActivity,
    rtcp_mux: bool,
    /// The RTCP socket (RTP port + 1), if bound.
    rtcp: Option<Arc<std::net::UdpSocket>>,
    /// Keys heard and not yet taken, oldest first (at most
    /// [`MAX_KEPT_DIGITS`]).
    digits: VecDeque<Digit>,
    /// The clip played to its end (reported by the next tick).
    clip_ended: bool,
}

/// The most keys a player keeps for its call task, which takes them after
/// every read: a flood beyond this is dropped.
const MAX_KEPT_DIGITS: usize = 64;

impl Player {
    /// A player on `socket`, sending to `remote` (the latched address, or
    /// the SDP's) with what was negotiated.
    pub fn new(
        socket: UdpSocket,
        audio: &NegotiatedAudio,
        remote: Option<SocketAddr>,
        held: bool,
        activity: RtpActivity,
        rtcp: Option<Arc<std::net::UdpSocket>>,
    ) -> Self {
        let mut room = MediaRoom::new();
        room.set_waiting(true);
        let config = leg_config(audio, remote);
        // A fresh room has no legs, so these cannot fail.
        let _ = room.add_leg(LEG, config);
        let _ = room.set_wait_source(LEG, Some(Box::new(Silence::forever())));
        let _ = room.set_hold(LEG, held);
        let _ = room.set_rtcp_mux(LEG, audio.rtcp_mux);
        Self {
            socket,
            room,
            remote: config.remote,
            buf: vec![0; 2048],
            activity,
            rtcp_mux: audio.rtcp_mux,
            rtcp,
            digits: VecDeque::new(),
            clip_ended: false,
        }
    }

    /// Starts playing `source` from the next tick.
    pub fn play(&mut self, source: Box<dyn AudioSource + Send>) {
        self.clip_ended = false;
        let _ = self.room.set_wait_source(LEG, Some(source));
    }

    /// Stops the clip playing (a key barged in): silence from the next tick.
    pub fn stop(&mut self) {
        self.clip_ended = false;
        let _ = self
            .room
            .set_wait_source(LEG, Some(Box::new(Silence::forever())));
    }

    /// The oldest key the caller pressed that was not taken yet.
    pub fn poll_digit(&mut self) -> Option<Digit> {
        self.digits.pop_front()
    }

    /// One 20 ms step; `true` when the clip has played to its end.
    pub fn tick(&mut self, now: Instant) -> bool {
        self.drain(now);
        self.room.tick(now);
        while let Some(t) = self.room.poll_transmit() {
            match &self.rtcp {
                Some(rtcp) if t.rtcp && !self.rtcp_mux => {
                    let _ = rtcp.send_to(t.payload, t.to);
                }
                _ => {
                    let _ = self.socket.try_send_to(t.payload, t.to);
                }
            }
        }
        self.events();
        let ended = std::mem::take(&mut self.clip_ended);
        if ended {
            let _ = self
                .room
                .set_wait_source(LEG, Some(Box::new(Silence::forever())));
        }
        ended
    }

    /// What the media said: where the caller's media latched, a clip's
    /// end, the keys pressed.
    fn events(&mut self) {
        while let Some(event) = self.room.poll_event() {
            match event {
                MediaEvent::Latched { remote, .. } => self.remote = Some(remote),
                MediaEvent::WaitSourceEnded { .. } => self.clip_ended = true,
                // Announcements are played in rooms only.
                MediaEvent::AnnouncementEnded { .. } => {}
                MediaEvent::Dtmf { digit, .. } => {
                    if self.digits.len() < MAX_KEPT_DIGITS {
                        self.digits.push_back(digit);
                    }
                }
            }
        }
    }

    /// Reads what the caller sent (without blocking), noting its RTP in
    /// the call's [`RtpActivity`]. Ticks do it; between clips the call task
    /// does, so a silent caller is noticed out of a room too.
    ///
    /// At most [`MAX_READS_PER_TICK`] datagrams a socket per call, as a room reads
    /// (a flood waits in the socket's buffer, and the kernel drops what
    /// does not fit, instead of holding the call task in this loop).
    pub fn drain(&mut self, now: Instant) {
        for _ in 0..MAX_READS_PER_TICK {
            match self.socket.try_recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let datagram = self.buf.get(..n).unwrap_or_default();
                    let received = self.room.handle_datagram(LEG, from, datagram, now);
                    self.activity.note(received, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        // The peer's RTCP on our odd port (read for the stats only).
        for _ in 0..MAX_READS_PER_TICK {
            let Some(Ok((n, from))) = self.rtcp.as_ref().map(|s| s.recv_from(&mut self.buf)) else {
                break;
            };
            let datagram = self.buf.get(..n).unwrap_or_default();
            let _ = self.room.handle_datagram(LEG, from, datagram, now);
        }
        self.events();
    }

    /// On hold, nothing is sent (and a clip waits for the call to resume).
    pub fn set_hold(&mut self, held: bool) {
        let _ = self.room.set_hold(LEG, held);
    }

    /// A new offer/answer (a re-INVITE, an UPDATE): the caller's media may
    /// have moved, or changed its formats.
    pub fn renegotiate(&mut self, media: LegMedia) {
        self.remote = media.remote;
        self.rtcp_mux = media.rtcp_mux;
        let _ = self.room.renegotiate(LEG, media);
    }

    /// The socket and where the caller's media comes from, for a room.
    pub fn into_parts(self) -> (UdpSocket, Option<SocketAddr>) {
        (self.socket, self.remote)
    }
}

/// A leg's configuration: the negotiated codec and telephone-event, fresh
/// random SSRC, sequence and timestamp (each handover starts a new RTP
/// source, which receivers resynchronise on), and where to send.
pub fn leg_config(audio: &NegotiatedAudio, remote: Option<SocketAddr>) -> LegConfig {
    let r = crate::ids::random_bytes();
    let word = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    LegConfig {
        codec: audio.codec,
        payload_type: audio.payload_type,
        telephone_event_pt: audio.telephone_event,
        ssrc: Ssrc(word(0)),
        initial_seq: SeqNo(u16::from_le_bytes([r[4], r[5]])),
        initial_ts: RtpTimestamp(word(8)),
        remote: remote.or_else(|| sdp_remote(audio)),
        jitter: Default::default(),
    }
}

/// What a new offer/answer gives a leg: the SDP's address and formats.
pub fn leg_media(audio: &NegotiatedAudio) -> LegMedia {
    LegMedia {
        remote: sdp_remote(audio),
        codec: audio.codec,
        payload_type: audio.payload_type,
        telephone_event_pt: audio.telephone_event,
        rtcp_mux: audio.rtcp_mux,
    }
}

/// The SDP's media address, unless it is the RFC 2543 hold address.
fn sdp_remote(audio: &NegotiatedAudio) -> Option<SocketAddr> {
    (!audio.remote.ip().is_unspecified() && audio.remote.port() != 0).then_some(audio.remote)
}
