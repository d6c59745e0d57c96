//! [`MediaRoom`]: one conference's media — its legs, their RTP in and out,
//! and the 20 ms mix — as a sans-IO object the shell drives.
//!
//! The shell owns the sockets (one per leg, from the `--rtp-ports` pool) and
//! the clock. It hands every datagram to [`MediaRoom::handle_datagram`],
//! calls [`MediaRoom::tick`] every 20 ms, sends what
//! [`MediaRoom::poll_transmit`] returns from the leg's socket, and acts on
//! [`MediaRoom::poll_event`] (DTMF for `hangupOnStar`, a wait source that
//! ended so the next `waitUrl` verb can run). Room rules (who may join, who
//! is muted, when the room starts) live in the `conference` crate; this type
//! only does what it is told.
//!
//! RTCP: each leg's peer's reports (on the RTP port, RFC 5761) are read
//! into its [`LegStats`]; every 2.5–7.5 s (RFC 3550 §6.3.1, randomised from
//! the leg's seed) the leg is sent an SR, or an RR while we sent it nothing,
//! with an SDES CNAME: to its RTP address with rtcp-mux, else to port + 1
//! ([`Transmit::rtcp`]). Reports go on while a leg is held.
//!
//! Key presses come as RFC 4733 events on the negotiated telephone-event
//! payload type, or, when none was negotiated, as tones in the leg's audio
//! ([`crate::inband`]); both are the same [`MediaEvent::Dtmf`].
//!
//! Per tick, each leg's jitter buffer yields one frame; the frames of legs
//! that are not muted, not held and not silent are summed once, and each leg
//! that is not held receives the sum minus its own frame, encoded with its
//! codec, with its own RTP sequence, timestamp and SSRC. While the room is
//! *waiting* (not started), nobody's audio is mixed: each leg hears its own
//! wait source (built-in hold music unless the shell sets another) instead.
//! Beeps are heard by every leg that is not held.
//!
//! A room mixes at 8 kHz while all its legs speak G.711, and at 16 kHz
//! while any speaks G.722: G.711 voices are upsampled into that mix, each
//! G.711 listener's mix is low-passed and downsampled before its limiter
//! (module `halfrate`), and each leg's playout buffer holds samples at
//! its own codec's rate (module `playout`). Clips stay at 8 kHz and are
//! upsampled for a G.722 listener.
//!
//! The conference's own controls (the 2010 API) are applied here too: a leg
//! on hold ([`MediaRoom::set_on_hold`]) is neither mixed nor hears the mix
//! and hears its hold music instead; a coach ([`MediaRoom::set_coaching`])
//! hears the whole mix but only the leg it coaches hears it; an
//! announcement ([`MediaRoom::announce`]) plays over what one leg, or every
//! leg not on hold, hears, and reports its end.
//!
//! After the first few ticks (buffers grown to size), handling a datagram
//! and ticking allocate nothing, except the event queue growing when DTMF
//! arrives faster than it is polled (and the talker queue, likewise, while
//! [`MediaRoom::set_talker_detection`] is on) and a beep tone's segment
//! list when [`MediaRoom::play_beep`] is called.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::dtmf::{Digit, DtmfDetector, TelephoneEvent};
use crate::g711::Codec;
use crate::g722::{G722Decoder, G722Encoder};
use crate::halfrate::{Downsampler, Upsampler};
use crate::hold_music::HoldMusic;
use crate::inband::InbandDetector;
use crate::jitter::{FrameKind, JitterConfig, JitterStats, MAX_PACKET_SAMPLES, PacketInfo, Push};
use crate::latch::{Latch, Verdict};
use crate::limiter::Limiter;
use crate::mixer::Mixer;
use crate::playout::Playout;
use crate::rtcp::{ReportBlock, RtcpPacket, RtcpPackets, SenderInfo, write_report};
use crate::rtp::{
    DatagramKind, RtpError, RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc, classify,
};
use crate::source::{AudioSource, Silence};
use crate::talker::Talker;
use crate::tone::{Beep, Tone};
use crate::{FRAME_SAMPLES, Frame, WIDE_FRAME_SAMPLES, WideFrame};

/// The tick period.
pub const TICK: Duration = Duration::from_millis(20);
/// Payload type of RFC 3389 comfort noise, accepted and treated as silence.
const COMFORT_NOISE_PT: u8 = 13;
/// The RTCP report interval (RFC 3550 §6.3.1's 5 s minimum, which a
/// two-party session uses), randomised to 0.5–1.5 times this per report.
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// The CNAME in our SDES (RFC 7022 allows a per-session random one; the
/// shell's SSRC already is, so a fixed name says enough).
const CNAME: &[u8] = b"confab";
/// At most this many beeps wait to be played; more are dropped.
const MAX_QUEUED_BEEPS: usize = 4;

/// A leg of the room, numbered by the shell (unique within the room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

/// What the shell negotiated for a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    /// The codec we send with (both PCMU and PCMA are accepted on receive).
    pub codec: Codec,
    /// `codec`'s negotiated payload type: what we send with, and accepted
    /// as `codec` on receive beside the static 0 and 8 (an offer may map
    /// G.711 to any number, `a=rtpmap:98 PCMU/8000`).
    pub payload_type: u8,
    /// The negotiated `telephone-event/8000` payload type, if any; without
    /// one, key presses are listened for in the leg's audio (in-band DTMF).
    pub telephone_event_pt: Option<u8>,
    /// Our SSRC towards this leg (drawn by the shell).
    pub ssrc: Ssrc,
    /// Our first sequence number (drawn by the shell).
    pub initial_seq: SeqNo,
    /// Our first timestamp (drawn by the shell).
    pub initial_ts: RtpTimestamp,
    /// The address from the leg's SDP, if any: sent to until latching, and
    /// latched at once when packets come from it.
    pub remote: Option<SocketAddr>,
    /// Jitter buffer tuning.
    pub jitter: JitterConfig,
}

/// What a new offer/answer (a re-INVITE, an UPDATE, a delayed offer's
/// answer) can change in a leg: where its media is, and its formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegMedia {
    /// The address from the new SDP, if any (as [`LegConfig::remote`]).
    pub remote: Option<SocketAddr>,
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
    pub rtcp_mux: bool,
}

/// Something the shell should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press (reported once per press).
    Dtmf {
        /// Who pressed it.
        leg: LegId,
        /// The key.
        digit: Digit,
    },
    /// The leg's media source address is now known and fixed.
    Latched {
        /// The leg.
        leg: LegId,
        /// Where its media comes from and where we now send.
        remote: SocketAddr,
    },
    /// The leg's wait source ran out (the shell may set the next one:
    /// the next `waitUrl` verb, or the same file again).
    WaitSourceEnded {
        /// The leg.
        leg: LegId,
    },
    /// An announcement ([`MediaRoom::announce`]) played to its end: to
    /// this leg, or (`None`) to the whole room.
    AnnouncementEnded {
        /// The leg it was played to; `None` for the room's.
        leg: Option<LegId>,
    },
}

/// What [`MediaRoom::handle_datagram`] did with a datagram (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Audio, with the jitter buffer's verdict.
    Audio(Push),
    /// A telephone-event packet (a digit is reported through [`MediaRoom::poll_event`]).
    Dtmf,
    /// Comfort noise: treated as silence.
    ComfortNoise,
    /// RTCP on the RTP port: counted and ignored.
    Rtcp,
    /// Valid RTP from the leg's source before it was confirmed: not used.
    Learning,
    /// From an address other than the latched one: dropped and counted.
    ForeignSource,
    /// Not an RTP packet, or a broken one.
    Malformed(Option<RtpError>),
    /// A payload we cannot use (wrong size, bad telephone event).
    BadPayload,
    /// A payload type that was not negotiated.
    UnknownPayloadType(u8),
    /// No such leg in this room.
    UnknownLeg,
}

/// A datagram to send from `leg`'s socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The leg whose socket sends it.
    pub leg: LegId,
    /// Destination.
    pub to: SocketAddr,
    /// The whole RTP packet, or a compound RTCP report.
    pub payload: &'a [u8],
    /// An RTCP report: without rtcp-mux the shell sends it from the leg's
    /// RTCP port (RTP port + 1), to `to` (the remote's RTP port + 1).
    pub rtcp: bool,
}

/// Counters for one leg, or summed over a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP packets accepted from the leg's latched source.
    pub packets_in: u64,
    /// RTP packets sent to the leg.
    pub packets_out: u64,
    /// Packets the sender sent that never arrived (sequence gaps).
    pub lost: u64,
    /// Packets that arrived after their time was played.
    pub late: u64,
    /// Duplicate packets.
    pub duplicate: u64,
    /// Packets from an address other than the latched one (RTP bleed stopped).
    pub foreign_dropped: u64,
    /// Datagrams that were not valid RTP.
    pub malformed: u64,
    /// RTCP datagrams received.
    pub rtcp_in: u64,
    /// RTCP datagrams (or their tails) that did not parse: dropped.
    pub rtcp_malformed: u64,
    /// Sender and receiver reports received.
    pub rtcp_reports_in: u64,
    /// RTCP reports (SR or RR, with SDES) sent.
    pub rtcp_out: u64,
    /// What the peer's latest report block about our stream says: packets
    /// of ours it lost in all, and its interarrival jitter (in samples).
    pub peer_lost: u64,
    pub peer_jitter: u64,
    /// Packets with a payload type we did not negotiate.
    pub unknown_payload_type: u64,
    /// Payloads we could not decode (bad size, bad telephone event).
    pub decode_errors: u64,
    /// DTMF key presses reported.
    pub dtmf_digits: u64,
    /// Samples of concealment played instead of received audio.
    pub concealed_samples: u64,
    /// Jitter buffer resynchronisations (sender restarts, SSRC changes).
    pub resyncs: u64,
    /// Samples of playout delay the jitter buffer added and removed (its
    /// adaptation; each one a hold, a quiet stretch or a pitch period).
    pub expanded_samples: u64,
    pub compressed_samples: u64,
}

impl LegStats {
    fn add(&mut self, o: &LegStats) {
        self.packets_in += o.packets_in;
        self.packets_out += o.packets_out;
        self.lost += o.lost;
        self.late += o.late;
        self.duplicate += o.duplicate;
        self.foreign_dropped += o.foreign_dropped;
        self.malformed += o.malformed;
        self.rtcp_in += o.rtcp_in;
        self.rtcp_malformed += o.rtcp_malformed;
        self.rtcp_reports_in += o.rtcp_reports_in;
        self.rtcp_out += o.rtcp_out;
        self.peer_lost += o.peer_lost;
        self.peer_jitter += o.peer_jitter;
        self.unknown_payload_type += o.unknown_payload_type;
        self.decode_errors += o.decode_errors;
        self.dtmf_digits += o.dtmf_digits;
        self.concealed_samples += o.concealed_samples;
        self.expanded_samples += o.expanded_samples;
        self.compressed_samples += o.compressed_samples;
        self.resyncs += o.resyncs;
    }
}

/// Room-wide counters: every leg present or past, plus tick count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Sums over all legs that were ever in the room (monotonic).
    pub legs: LegStats,
    /// Ticks run.
    pub ticks: u64,
}

/// Misuse of the room's control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RoomError {
    /// `add_leg` with an id already present.
    #[error("leg {0:?} is already in the room")]
    DuplicateLeg(LegId),
    /// No leg with this id.
    #[error("no leg {0:?} in the room")]
    UnknownLeg(LegId),
}

#[derive(Debug)]
struct Leg {
    id: LegId,
    config: LegConfig,
    latch: Latch,
    /// At the codec's rate: 8 kHz for G.711, 16 kHz for G.722.
    jitter: Playout,
    /// What a leg needs for the 16 kHz mix (boxed: a room of G.711 legs
    /// only never touches it).
    wide: Box<WideLeg>,
    dtmf: DtmfDetector,
    /// Keys heard in the audio, when no telephone-event was negotiated.
    inband: Option<InbandDetector>,
    muted: bool,
    held: bool,
    /// On hold in the conference (the API's hold, not SIP's): out of the
    /// mix both ways, hearing this instead.
    hold_music: Option<Box<dyn AudioSource + Send>>,
    /// Played to this leg only, over what it hears.
    announcement: Option<Box<dyn AudioSource + Send>>,
    /// The leg this one coaches: only that leg hears it.
    coaching: Option<LegId>,
    wait: Box<dyn AudioSource + Send>,
    wait_ended: bool,
    /// This tick's received frame and whether it is in the mix (or, for a
    /// coach, heard by the leg it coaches).
    input: Frame,
    contributes: bool,
    coaches: bool,
    /// Whether it speaks (measured while the room detects talkers).
    talker: Talker,
    /// Turns this leg's mix down when it is loud (its own: each leg's mix differs).
    limiter: Limiter,
    seq: SeqNo,
    ts: RtpTimestamp,
    marker_next: bool,
    packet: Vec<u8>,
    pending_to: Option<SocketAddr>,
    stats: LegStats,
    rtcp: RtcpState,
}

/// A leg's part in a wideband mix.
#[derive(Debug)]
struct WideLeg {
    /// This tick's input at 16 kHz: a G.722 leg's own, a G.711 leg's
    /// upsampled (while the room mixes at 16 kHz).
    input: WideFrame,
    /// A G.722 leg's codec state (`None` for G.711).
    g722: Option<(G722Encoder, G722Decoder)>,
    /// What a G.722 leg is sent this tick, before encoding.
    output: WideFrame,
    /// A G.711 leg's voice up to the mix, and its mix down to it.
    up: Upsampler,
    down: Downsampler,
    /// A G.722 leg's clips (hold music, wait audio, beeps, announcements:
    /// all 8 kHz) up to its rate.
    clips_up: Upsampler,
}

impl WideLeg {
    fn new(codec: Codec) -> Self {
        Self {
            input: [0; WIDE_FRAME_SAMPLES],
            output: [0; WIDE_FRAME_SAMPLES],
            g722: codec
                .is_wideband()
                .then(|| (G722Encoder::new(), G722Decoder::new())),
            up: Upsampler::new(),
            down: Downsampler::new(),
            clips_up: Upsampler::new(),
        }
    }

    /// Forgets the converters' past (the room starts mixing at 16 kHz).
    fn reset(&mut self) {
        self.up.reset();
        self.down.reset();
        self.clips_up.reset();
    }
}

/// A leg's RTCP: when the next report is due, what it needs, and the
/// report waiting to be sent.
#[derive(Debug)]
struct RtcpState {
    mux: bool,
    next: Option<Instant>,
    /// SplitMix64 state for the report intervals, seeded from the leg's
    /// (random) SSRC and timestamp: the core draws nothing itself.
    rng: u64,
    octets_out: u64,
    /// The middle 32 bits of the peer's last SR's NTP time, and when it came.
    last_sr: Option<(u32, Instant)>,
    /// Expected and received at the previous report (for the fraction lost).
    prior: (u64, u64),
    packet: Vec<u8>,
    pending_to: Option<SocketAddr>,
}

impl RtcpState {
    fn new(config: &LegConfig) -> Self {
        Self {
            mux: false,
            next: None,
            rng: u64::from(config.ssrc.0) << 32 | u64::from(config.initial_ts.0),
            octets_out: 0,
            last_sr: None,
            prior: (0, 0),
            packet: Vec::with_capacity(128),
            pending_to: None,
        }
    }

    /// The next interval: [`RTCP_INTERVAL`] times 0.5–1.5 (RFC 3550 §6.3.1).
    fn interval(&mut self) -> Duration {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        RTCP_INTERVAL.mul_f64(0.5 + unit)
    }
}

impl Leg {
    /// Whether the leg speaks a wideband codec (G.722): then `wide.g722`
    /// is its codec state (asked of the config, which is at hand, rather
    /// than of the boxed state, which a G.711 room never needs to touch).
    fn is_wide(&self) -> bool {
        self.config.codec.is_wideband()
    }

    /// This tick's input at the leg's own rate.
    fn heard(&self) -> &[i16] {
        if self.is_wide() {
            &self.wide.input
        } else {
            &self.input
        }
    }

    /// Hears this tick's input for talker detection; a change is queued.
    fn hear_talk(&mut self, kind: FrameKind, talks: &mut VecDeque<(LegId, bool)>) {
        let change = match kind {
            FrameKind::Silence => self.talker.on_silence(),
            FrameKind::Audio | FrameKind::Concealed => {
                let heard = if self.is_wide() {
                    &self.wide.input[..]
                } else {
                    &self.input[..]
                };
                self.talker.on_frame(heard)
            }
        };
        if let Some(speaking) = change {
            talks.push_back((self.id, speaking));
        }
    }

    /// Reads a compound RTCP datagram into the leg's counters.
    fn on_rtcp(&mut self, bytes: &[u8], now: Instant) {
        self.stats.rtcp_in += 1;
        for packet in RtcpPackets::new(bytes) {
            let reports = match packet {
                Ok(RtcpPacket::SenderReport { info, reports, .. }) => {
                    self.rtcp.last_sr = Some(((info.ntp >> 16) as u32, now));
                    reports
                }
                Ok(RtcpPacket::ReceiverReport { reports, .. }) => reports,
                Ok(_) => continue,
                Err(_) => {
                    self.stats.rtcp_malformed += 1;
                    return;
                }
            };
            self.stats.rtcp_reports_in += 1;
            for block in reports.filter(|b| b.source == self.config.ssrc) {
                self.stats.peer_lost = u64::try_from(block.cumulative_lost).unwrap_or(0);
                self.stats.peer_jitter = u64::from(block.jitter);
            }
        }
    }

    /// Queues this leg's RTCP report if it is due at `now` (the first is
    /// scheduled one randomised interval after the leg first has an address).
    fn rtcp_tick(&mut self, now: Instant, epoch: Instant) {
        self.rtcp.pending_to = None;
        let Some(remote) = self.latch.remote() else {
            return;
        };
        let Some(due) = self.rtcp.next else {
            self.rtcp.next = Some(now + self.rtcp.interval());
            return;
        };
        if now < due {
            return;
        }
        self.rtcp.next = Some(now + self.rtcp.interval());
        let sender = (self.stats.packets_out > 0).then(|| {
            let elapsed = now.saturating_duration_since(epoch);
            let frac = (u64::from(elapsed.subsec_nanos()) << 32) / 1_000_000_000;
            SenderInfo {
                ntp: elapsed.as_secs() << 32 | frac,
                rtp_timestamp: self.ts.0,
                packets: self.stats.packets_out as u32,
                octets: self.rtcp.octets_out as u32,
            }
        });
        let report = self.jitter.reception().map(|r| {
            let (expected, received) = (r.expected, r.received);
            let (prior_expected, prior_received) = self.rtcp.prior;
            self.rtcp.prior = (expected, received);
            let interval_expected = expected.saturating_sub(prior_expected);
            let interval_lost =
                interval_expected.saturating_sub(received.saturating_sub(prior_received));
            let fraction_lost = (interval_lost << 8)
                .checked_div(interval_expected)
                .map_or(0, |f| f.min(255) as u8);
            let (last_sr, delay_since_last_sr) = self.rtcp.last_sr.map_or((0, 0), |(lsr, at)| {
                let delay = now.saturating_duration_since(at);
                (lsr, (delay.as_secs_f64() * 65536.0) as u32)
            });
            ReportBlock {
                source: r.ssrc,
                fraction_lost,
                cumulative_lost: i32::try_from(expected as i64 - received as i64)
                    .unwrap_or(i32::MAX),
                highest_seq: r.highest_seq,
                jitter: self.jitter.stats().jitter_samples,
                last_sr,
                delay_since_last_sr,
            }
        });
        self.rtcp.packet.clear();
        write_report(
            &mut self.rtcp.packet,
            self.config.ssrc,
            sender,
            report,
            CNAME,
        );
        self.rtcp.pending_to = Some(if self.rtcp.mux {
            remote
        } else {
            SocketAddr::new(remote.ip(), remote.port().wrapping_add(1))
        });
        self.stats.rtcp_out += 1;
    }

    fn stats(&self) -> LegStats {
        // The playout buffer keeps its own counters; the leg's are the rest.
        let mut stats = self.stats;
        stats.add(&playout_stats(&self.jitter));
        stats
    }
}

/// What a playout buffer counted, as leg counters (the others zero).
fn playout_stats(jitter: &Playout) -> LegStats {
    let JitterStats {
        lost,
        late,
        duplicate,
        concealed_samples,
        resyncs,
        expanded_samples,
        compressed_samples,
        ..
    } = jitter.stats();
    LegStats {
        lost,
        late,
        duplicate,
        concealed_samples,
        resyncs,
        expanded_samples,
        compressed_samples,
        ..LegStats::default()
    }
}

/// The in-band DTMF detector a leg needs: one when no telephone-event
/// was negotiated, for G.711 (it listens at 8 kHz; a G.722 leg's keys
/// come as RFC 4733 events or not at all).
fn inband_detector(codec: Codec, telephone_event_pt: Option<u8>) -> Option<InbandDetector> {
    (telephone_event_pt.is_none() && !codec.is_wideband()).then(InbandDetector::new)
}

/// A limiter for a leg's mix at its codec's rate.
fn limiter_for(codec: Codec) -> Limiter {
    if codec.is_wideband() {
        Limiter::wide()
    } else {
        Limiter::new()
    }
}

impl Default for MediaRoom {
    fn default() -> Self {
        Self::new()
    }
}

/// One conference's media. See the module docs.
#[derive(Debug)]
pub struct MediaRoom {
    legs: Vec<Leg>,
    mixer: Mixer,
    /// Whether the last tick mixed at 16 kHz (some leg speaks G.722).
    wide: bool,
    wide_mixer: Mixer<WIDE_FRAME_SAMPLES>,
    /// The beeps (8 kHz) up to a 16 kHz mix.
    beep_up: Upsampler,
    waiting: bool,
    beeps: VecDeque<Tone>,
    /// Played over what every leg not on hold hears.
    announcement: Option<Box<dyn AudioSource + Send>>,
    events: VecDeque<MediaEvent>,
    tx_cursor: usize,
    decoded: Vec<i16>,
    last_tick: Option<Instant>,
    /// The first tick: RTCP's NTP times count from it (RFC 3550 allows
    /// elapsed time where no wallclock is known).
    epoch: Option<Instant>,
    departed: LegStats,
    ticks: u64,
    /// Whether [`MediaRoom::poll_talker`] reports who speaks.
    detect_talkers: bool,
    talks: VecDeque<(LegId, bool)>,
}

impl MediaRoom {
    /// An empty, started room (call [`MediaRoom::set_waiting`] for one that is not).
    #[must_use]
    pub fn new() -> Self {
        Self {
            legs: Vec::new(),
            mixer: Mixer::new(),
            wide: false,
            wide_mixer: Mixer::new(),
            beep_up: Upsampler::new(),
            waiting: false,
            beeps: VecDeque::new(),
            announcement: None,
            events: VecDeque::new(),
            tx_cursor: 0,
            decoded: vec![0; MAX_PACKET_SAMPLES],
            last_tick: None,
            epoch: None,
            departed: LegStats::default(),
            ticks: 0,
            detect_talkers: false,
            talks: VecDeque::new(),
        }
    }

    /// Adds a leg. It hears the built-in hold music while the room waits,
    /// until [`MediaRoom::set_wait_source`] says otherwise.
    pub fn add_leg(&mut self, id: LegId, config: LegConfig) -> Result<(), RoomError> {
        if self.legs.iter().any(|l| l.id == id) {
            return Err(RoomError::DuplicateLeg(id));
        }
        let wideband = config.codec.is_wideband();
        self.legs.push(Leg {
            id,
            config,
            latch: Latch::new(config.remote),
            jitter: Playout::new(config.jitter, wideband),
            wide: Box::new(WideLeg::new(config.codec)),
            dtmf: DtmfDetector::new(),
            inband: inband_detector(config.codec, config.telephone_event_pt),
            muted: false,
            held: false,
            hold_music: None,
            announcement: None,
            coaching: None,
            wait: Box::new(HoldMusic::new()),
            wait_ended: false,
            input: [0; FRAME_SAMPLES],
            contributes: false,
            coaches: false,
            talker: Talker::new(),
            limiter: limiter_for(config.codec),
            seq: config.initial_seq,
            ts: config.initial_ts,
            marker_next: true,
            packet: Vec::with_capacity(12 + FRAME_SAMPLES),
            pending_to: None,
            stats: LegStats::default(),
            rtcp: RtcpState::new(&config),
        });
        Ok(())
    }

    /// Removes a leg; its counters stay in the room's totals.
    pub fn remove_leg(&mut self, id: LegId) -> Result<LegStats, RoomError> {
        let i = self.index(id)?;
        let leg = self.legs.remove(i);
        let stats = leg.stats();
        self.departed.add(&stats);
        self.tx_cursor = 2 * self.legs.len(); // pending transmits of this tick are void
        Ok(stats)
    }

    /// Mutes or unmutes a leg from the next tick: muted legs still hear.
    pub fn set_muted(&mut self, id: LegId, muted: bool) -> Result<(), RoomError> {
        self.leg_mut(id)?.muted = muted;
        Ok(())
    }

    /// Holds a leg: it neither contributes nor receives anything.
    pub fn set_hold(&mut self, id: LegId, held: bool) -> Result<(), RoomError> {
        self.leg_mut(id)?.held = held;
        Ok(())
    }

    /// Puts a leg on hold in the conference (`Some`: what it hears there)
    /// or takes it off (`None`), from the next tick. Unlike a SIP hold
    /// ([`MediaRoom::set_hold`]) the leg is still sent audio: its music.
    pub fn set_on_hold(
        &mut self,
        id: LegId,
        music: Option<Box<dyn AudioSource + Send>>,
    ) -> Result<(), RoomError> {
        self.leg_mut(id)?.hold_music = music;
        Ok(())
    }

    /// Whether a leg is on hold in the conference.
    #[must_use]
    pub fn is_on_hold(&self, id: LegId) -> bool {
        self.legs
            .iter()
            .any(|l| l.id == id && l.hold_music.is_some())
    }

    /// Makes a leg a coach of `coached` (only that leg hears it; it hears
    /// everyone), or an ordinary participant again (`None`).
    pub fn set_coaching(&mut self, id: LegId, coached: Option<LegId>) -> Result<(), RoomError> {
        self.leg_mut(id)?.coaching = coached;
        Ok(())
    }

    /// Plays `audio` over what `to` hears, or (`None`) over what every leg
    /// not on hold hears, replacing an announcement still playing there;
    /// [`MediaEvent::AnnouncementEnded`] follows its last frame.
    pub fn announce(
        &mut self,
        to: Option<LegId>,
        audio: Box<dyn AudioSource + Send>,
    ) -> Result<(), RoomError> {
        match to {
            Some(id) => self.leg_mut(id)?.announcement = Some(audio),
            None => self.announcement = Some(audio),
        }
        Ok(())
    }

    /// Whether the room is waiting to start (legs hear wait audio, not each other).
    pub fn set_waiting(&mut self, waiting: bool) {
        self.waiting = waiting;
    }

    /// Sets what a leg hears while the room waits; `None` is silence (`waitUrl=""`).
    pub fn set_wait_source(
        &mut self,
        id: LegId,
        source: Option<Box<dyn AudioSource + Send>>,
    ) -> Result<(), RoomError> {
        let leg = self.leg_mut(id)?;
        leg.wait = source.unwrap_or_else(|| Box::new(Silence::forever()));
        leg.wait_ended = false;
        Ok(())
    }

    /// Re-learns a leg's source address (after a re-INVITE moved its media).
    pub fn relatch(&mut self, id: LegId, signalled: Option<SocketAddr>) -> Result<(), RoomError> {
        let leg = self.leg_mut(id)?;
        leg.latch = Latch::new(signalled);
        Ok(())
    }

    /// A new offer/answer for the leg: its source is learnt again (the
    /// media may have moved), and it sends and hears the formats agreed
    /// now; without telephone-event, key presses are listened for in its
    /// audio.
    pub fn renegotiate(&mut self, id: LegId, media: LegMedia) -> Result<(), RoomError> {
        let i = self.index(id)?;
        let leg = &mut self.legs[i];
        leg.latch = Latch::new(media.remote);
        leg.config.remote = media.remote;
        if media.codec.is_wideband() != leg.config.codec.is_wideband() {
            // Samples at another rate: a new playout buffer (its counts
            // so far kept in the room's), codec state and limiter.
            self.departed.add(&playout_stats(&leg.jitter));
            leg.jitter = Playout::new(leg.config.jitter, media.codec.is_wideband());
            *leg.wide = WideLeg::new(media.codec);
            leg.limiter = limiter_for(media.codec);
        }
        leg.config.codec = media.codec;
        leg.config.payload_type = media.payload_type;
        // A detector that is still wanted keeps its state.
        let inband = inband_detector(media.codec, media.telephone_event_pt);
        if leg.inband.is_some() != inband.is_some() {
            leg.inband = inband;
        }
        leg.config.telephone_event_pt = media.telephone_event_pt;
        leg.rtcp.mux = media.rtcp_mux;
        Ok(())
    }

    /// Whether the leg negotiated rtcp-mux (RFC 5761): its RTCP goes to
    /// its RTP address, else to the RTP port + 1 (the default).
    pub fn set_rtcp_mux(&mut self, id: LegId, mux: bool) -> Result<(), RoomError> {
        self.leg_mut(id)?.rtcp.mux = mux;
        Ok(())
    }

    /// Queues a beep that every leg not on hold hears.
    pub fn play_beep(&mut self, beep: Beep) {
        if self.beeps.len() < MAX_QUEUED_BEEPS {
            self.beeps.push_back(beep.tone());
        }
    }

    /// Handles one datagram received on `leg`'s socket from `from` at `now`.
    pub fn handle_datagram(
        &mut self,
        leg: LegId,
        from: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) -> Received {
        let Some(i) = self.legs.iter().position(|l| l.id == leg) else {
            return Received::UnknownLeg;
        };
        let leg = &mut self.legs[i];
        match classify(bytes) {
            DatagramKind::Rtcp => {
                if leg.latch.remote().is_some_and(|r| r.ip() != from.ip()) {
                    leg.stats.foreign_dropped += 1;
                    return Received::ForeignSource;
                }
                leg.on_rtcp(bytes, now);
                return Received::Rtcp;
            }
            DatagramKind::Other => {
                leg.stats.malformed += 1;
                return Received::Malformed(None);
            }
            DatagramKind::Rtp => {}
        }
        let packet = match RtpPacket::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                leg.stats.malformed += 1;
                return Received::Malformed(Some(e));
            }
        };
        let pt = packet.payload_type;
        let is_dtmf = leg.config.telephone_event_pt == Some(pt);
        let codec = if pt == leg.config.payload_type {
            Some(leg.config.codec)
        } else {
            Codec::from_payload_type(pt)
        }
        // The playout buffer holds samples at one rate: G.711 beside a
        // negotiated G.722, or G.722 unasked, is not for this leg.
        .filter(|c| c.is_wideband() == leg.is_wide());
        if !is_dtmf && codec.is_none() && pt != COMFORT_NOISE_PT {
            leg.stats.unknown_payload_type += 1;
            return Received::UnknownPayloadType(pt);
        }
        match leg.latch.on_packet(from, packet.ssrc, packet.seq) {
            Verdict::Accept => {}
            Verdict::Latched(remote) => {
                self.events.push_back(MediaEvent::Latched {
                    leg: leg.id,
                    remote,
                });
            }
            Verdict::Learning => return Received::Learning,
            Verdict::Foreign => {
                leg.stats.foreign_dropped += 1;
                return Received::ForeignSource;
            }
        }
        leg.stats.packets_in += 1;
        let info = PacketInfo {
            ssrc: packet.ssrc,
            seq: packet.seq,
            timestamp: packet.timestamp,
        };

        if is_dtmf {
            leg.jitter.note_non_audio(info);
            let Ok(event) = TelephoneEvent::parse(packet.payload) else {
                leg.stats.decode_errors += 1;
                return Received::BadPayload;
            };
            if let Some(digit) = leg.dtmf.on_packet(packet.timestamp, event) {
                leg.stats.dtmf_digits += 1;
                self.events
                    .push_back(MediaEvent::Dtmf { leg: leg.id, digit });
            }
            return Received::Dtmf;
        }
        let Some(codec) = codec else {
            leg.jitter.note_non_audio(info);
            return Received::ComfortNoise;
        };
        let bytes = packet.payload.len();
        // A G.722 byte is two samples: its packets may be half as long
        // (64 ms) as G.711's, the playout buffer's limit being in samples.
        let n = if leg.is_wide() { 2 * bytes } else { bytes };
        if bytes == 0 || n > self.decoded.len() {
            leg.jitter.note_non_audio(info);
            leg.stats.decode_errors += 1;
            return Received::BadPayload;
        }
        let g722 = if leg.is_wide() {
            leg.wide.g722.as_mut()
        } else {
            None
        };
        match g722 {
            // Decoded in arrival order: a reordered packet meets the
            // predictor where the one before it left it (a brief blip).
            Some((_, decoder)) => decoder.decode_into(packet.payload, &mut self.decoded[..n]),
            None => codec.decode_into(packet.payload, &mut self.decoded[..n]),
        };
        Received::Audio(leg.jitter.push(info, &self.decoded[..n], now))
    }

    /// Runs one 20 ms mix. Call every [`TICK`]; then drain [`MediaRoom::poll_transmit`].
    ///
    /// A room of G.711 legs only mixes at 8 kHz; while any leg speaks
    /// G.722 the room mixes at 16 kHz: G.711 voices are upsampled into it
    /// and each G.711 listener's mix is low-passed and downsampled (before
    /// its limiter), so a G.722 leg hears the others in full and a G.711
    /// leg hears what its codec can carry, with nothing folded back.
    pub fn tick(&mut self, now: Instant) {
        self.last_tick = Some(now);
        let epoch = *self.epoch.get_or_insert(now);
        self.ticks += 1;
        self.tx_cursor = 0;
        let wide = self.legs.iter().any(Leg::is_wide);
        if wide && !self.wide {
            self.beep_up.reset();
            for leg in &mut self.legs {
                leg.wide.reset();
            }
        }
        self.wide = wide;

        // Everyone's input, summed once.
        self.mixer.clear();
        self.wide_mixer.clear();
        for leg in &mut self.legs {
            let kind = if leg.is_wide() {
                leg.jitter.pop_wide(&mut leg.wide.input)
            } else {
                let kind = leg.jitter.pop_narrow(&mut leg.input);
                if wide {
                    leg.wide.up.frame(&leg.input, &mut leg.wide.input);
                }
                kind
            };
            if self.detect_talkers {
                leg.hear_talk(kind, &mut self.talks);
            }
            if let Some(detector) = leg.inband.as_mut() {
                let digit = match kind {
                    FrameKind::Audio => detector.on_frame(&leg.input),
                    FrameKind::Silence => {
                        detector.on_silence();
                        None
                    }
                    FrameKind::Concealed => None,
                };
                if let Some(digit) = digit {
                    leg.stats.dtmf_digits += 1;
                    self.events
                        .push_back(MediaEvent::Dtmf { leg: leg.id, digit });
                }
            }
            let heard = !self.waiting
                && !leg.muted
                && !leg.held
                && leg.hold_music.is_none()
                && kind != FrameKind::Silence;
            leg.contributes = heard && leg.coaching.is_none();
            leg.coaches = heard && leg.coaching.is_some();
            if leg.contributes {
                if wide {
                    self.wide_mixer.add(&leg.wide.input);
                } else {
                    self.mixer.add(&leg.input);
                }
            }
        }
        let mut beep = [0; FRAME_SAMPLES];
        let beeping = self.next_beep_frame(&mut beep);
        if wide {
            // Run every tick, so a beep starts from silence, not the last one's tail.
            let mut beep_wide = [0; WIDE_FRAME_SAMPLES];
            self.beep_up.frame(&beep, &mut beep_wide);
            if beeping && !self.waiting {
                self.wide_mixer.add(&beep_wide);
            }
        } else if beeping && !self.waiting {
            self.mixer.add(&beep);
        }
        let mut announcement = [0; FRAME_SAMPLES];
        let announcing = self.next_announcement_frame(&mut announcement);

        // Everyone's output: the mix minus themselves, or their wait audio.
        let anyone_coaches = self.legs.iter().any(|l| l.coaches);
        for i in 0..self.legs.len() {
            // (The 16 kHz buffers only when mixing at 16 kHz: zeroing them
            // for every leg of a G.711 room would cost it.)
            let mut coached = [0; FRAME_SAMPLES];
            let mut coached_wide = None;
            let coached_by = anyone_coaches
                && if wide {
                    let mut voices = [0; WIDE_FRAME_SAMPLES];
                    let any = self.coach_voices(i, &mut voices, |l| &l.wide.input);
                    coached_wide = Some(voices);
                    any
                } else {
                    self.coach_voices(i, &mut coached, |l| &l.input)
                };
            let leg = &mut self.legs[i];
            let ts = leg.ts;
            leg.ts = leg.ts.wrapping_add(FRAME_SAMPLES as u32);
            leg.pending_to = None;
            // Reports go on while held (RFC 3550 peers expect them).
            leg.rtcp_tick(now, epoch);
            if leg.held {
                leg.marker_next = true;
                continue;
            }
            // What the leg hears at 8 kHz: its clips, and a G.711 leg's mix;
            // a G.722 leg's mix is `wide.output`, its clips join it upsampled.
            let mut frame = [0; FRAME_SAMPLES];
            if leg.is_wide() {
                leg.wide.output.fill(0);
            }
            if let Some(music) = leg.hold_music.as_mut() {
                // Nothing of the room: no mix, beep or room announcement.
                music.next_frame(&mut frame);
            } else if self.waiting {
                if !leg.wait.next_frame(&mut frame) && !leg.wait_ended {
                    leg.wait_ended = true;
                    self.events
                        .push_back(MediaEvent::WaitSourceEnded { leg: leg.id });
                }
                if beeping {
                    Mixer::overlay(&mut frame, &beep);
                }
            } else if !wide {
                self.mixer.output_minus(
                    leg.contributes.then_some(&leg.input),
                    &mut leg.limiter,
                    &mut frame,
                );
                if coached_by {
                    Mixer::overlay(&mut frame, &coached);
                }
            } else {
                let mut mix = [0; WIDE_FRAME_SAMPLES];
                self.wide_mixer
                    .minus(leg.contributes.then_some(&leg.wide.input), &mut mix);
                if let Some(coached) = coached_wide.filter(|_| coached_by) {
                    // A coach is heard through the limiter here: it is in the mix.
                    for (m, &c) in mix.iter_mut().zip(&coached) {
                        *m += i32::from(c);
                    }
                }
                if leg.is_wide() {
                    leg.limiter.frame(&mix, &mut leg.wide.output);
                } else {
                    let mut narrow = [0; FRAME_SAMPLES];
                    leg.wide.down.frame(&mix, &mut narrow);
                    leg.limiter.frame(&narrow, &mut frame);
                }
            }
            if announcing && leg.hold_music.is_none() {
                Mixer::overlay(&mut frame, &announcement);
            }
            if let Some(own) = leg.announcement.as_mut() {
                let mut extra = [0; FRAME_SAMPLES];
                if own.next_frame(&mut extra) {
                    Mixer::overlay(&mut frame, &extra);
                } else {
                    leg.announcement = None;
                    self.events
                        .push_back(MediaEvent::AnnouncementEnded { leg: Some(leg.id) });
                }
            }
            let Some(to) = leg.latch.remote() else {
                leg.marker_next = true;
                continue;
            };
            RtpHeader {
                marker: leg.marker_next,
                payload_type: leg.config.payload_type,
                seq: leg.seq,
                timestamp: ts,
                ssrc: leg.config.ssrc,
            }
            .write(&mut leg.packet);
            let header = leg.packet.len();
            let g722 = if leg.is_wide() {
                leg.wide.g722.as_mut()
            } else {
                None
            };
            match g722 {
                Some((encoder, _)) => {
                    let mut clips = [0; WIDE_FRAME_SAMPLES];
                    leg.wide.clips_up.frame(&frame, &mut clips);
                    Mixer::overlay(&mut leg.wide.output, &clips);
                    encoder.encode_into(&leg.wide.output, &mut leg.packet);
                }
                None => leg.config.codec.encode_into(&frame, &mut leg.packet),
            }
            leg.rtcp.octets_out += (leg.packet.len() - header) as u64;
            leg.seq = leg.seq.next();
            leg.marker_next = false;
            leg.pending_to = Some(to);
            leg.stats.packets_out += 1;
        }
    }

    /// The next datagram produced by the last tick, if any. Send each before
    /// polling the next (the payload borrows the room).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        // Each leg's RTP packet, then its RTCP report.
        while self.tx_cursor < 2 * self.legs.len() {
            let (i, rtcp) = (self.tx_cursor / 2, self.tx_cursor % 2 == 1);
            self.tx_cursor += 1;
            let leg = &mut self.legs[i];
            let pending = if rtcp {
                &mut leg.rtcp.pending_to
            } else {
                &mut leg.pending_to
            };
            if let Some(to) = pending.take() {
                let leg = &self.legs[i];
                let payload = if rtcp { &leg.rtcp.packet } else { &leg.packet };
                return Some(Transmit {
                    leg: leg.id,
                    to,
                    payload,
                    rtcp,
                });
            }
        }
        None
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Starts or stops talker detection ([`crate::talker`]) on every leg's
    /// input, muted and held legs included; off by default, since only a
    /// conference whose status callback asks for `speaker` events needs it.
    /// Stopping forgets who was speaking.
    pub fn set_talker_detection(&mut self, on: bool) {
        self.detect_talkers = on;
        if !on {
            self.talks.clear();
            for leg in &mut self.legs {
                leg.talker = Talker::new();
            }
        }
    }

    /// The next leg that started (`true`) or stopped (`false`) speaking, in
    /// the order the ticks heard them. A leg removed while speaking reports
    /// no stop.
    #[must_use]
    pub fn poll_talker(&mut self) -> Option<(LegId, bool)> {
        self.talks.pop_front()
    }

    /// How loud the room is: the RMS (in sample units) of the loudest frame
    /// the last tick mixed, from the legs that are heard (not muted, held
    /// or waiting); 0 when nobody is. Computed when asked, from the frames
    /// the tick kept, so a room pays for it only when a meter reads it.
    #[must_use]
    pub fn loudest_level(&self) -> u16 {
        let loudest = self
            .legs
            .iter()
            .filter(|leg| leg.contributes || leg.coaches)
            .map(|leg| {
                let heard = leg.heard();
                let energy = heard
                    .iter()
                    .map(|&s| {
                        let s = i64::from(s);
                        (s * s).unsigned_abs()
                    })
                    .sum::<u64>();
                // The mean square: a 16 kHz frame has twice the samples.
                energy / heard.len() as u64
            })
            .max()
            .unwrap_or(0);
        // At most 32768²: the square root fits a u16 but for a full-scale
        // -32768 frame, which saturates.
        u16::try_from(loudest.isqrt()).unwrap_or(u16::MAX)
    }

    /// When the next tick is due (`None` before the first tick: tick now).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.last_tick.map(|t| t + TICK)
    }

    /// Room-wide counters, including legs that have left.
    #[must_use]
    pub fn stats(&self) -> RoomStats {
        let mut legs = self.departed;
        for leg in &self.legs {
            legs.add(&leg.stats());
        }
        RoomStats {
            legs,
            ticks: self.ticks,
        }
    }

    /// One leg's counters.
    #[must_use]
    pub fn leg_stats(&self, id: LegId) -> Option<LegStats> {
        self.legs.iter().find(|l| l.id == id).map(Leg::stats)
    }

    /// Ids of the legs in the room, in the order they joined.
    pub fn legs(&self) -> impl Iterator<Item = LegId> + '_ {
        self.legs.iter().map(|l| l.id)
    }

    /// The room's announcement's next frame, if one plays; its end is
    /// reported once.
    fn next_announcement_frame(&mut self, out: &mut Frame) -> bool {
        let Some(audio) = self.announcement.as_mut() else {
            return false;
        };
        if audio.next_frame(out) {
            return true;
        }
        self.announcement = None;
        self.events
            .push_back(MediaEvent::AnnouncementEnded { leg: None });
        false
    }

    /// Adds the voices of the coaches of leg `i` this tick into `out`;
    /// whether there were any.
    /// Sums into `out` the voices (`voice` picks the frame at the mix's
    /// rate) of the coaches of leg `i`; whether there were any.
    fn coach_voices<const N: usize>(
        &self,
        i: usize,
        out: &mut [i16; N],
        voice: impl Fn(&Leg) -> &[i16; N],
    ) -> bool {
        let id = self.legs[i].id;
        let mut any = false;
        for coach in self
            .legs
            .iter()
            .filter(|l| l.coaches && l.coaching == Some(id))
        {
            Mixer::overlay(out, voice(coach));
            any = true;
        }
        any
    }

    fn next_beep_frame(&mut self, out: &mut Frame) -> bool {
        while let Some(tone) = self.beeps.front_mut() {
            if tone.next_frame(out) {
                return true;
            }
            self.beeps.pop_front();
        }
        false
    }

    fn index(&self, id: LegId) -> Result<usize, RoomError> {
        self.legs
            .iter()
            .position(|l| l.id == id)
            .ok_or(RoomError::UnknownLeg(id))
    }

    fn leg_mut(&mut self, id: LegId) -> Result<&mut Leg, RoomError> {
        let i = self.index(id)?;
        Ok(&mut self.legs[i])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn config() -> LegConfig {
        LegConfig {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(101),
            ssrc: Ssrc(1),
            initial_seq: SeqNo(0),
            initial_ts: RtpTimestamp(0),
            remote: None,
            jitter: JitterConfig::default(),
        }
    }

    fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: pt,
            seq: SeqNo(seq),
            timestamp: RtpTimestamp(u32::from(seq) * 160),
            ssrc: Ssrc(42),
        }
        .write(&mut out);
        out.extend_from_slice(payload);
        out
    }

    /// PCMA frame `n` of a 500 Hz sine with peak `peak`.
    fn sine_frame(peak: f64, n: u16) -> Vec<u8> {
        let pcm: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| {
                let t = (usize::from(n) * FRAME_SAMPLES + i) as f64 / 8000.0;
                (peak * (std::f64::consts::TAU * 500.0 * t).sin()) as i16
            })
            .collect();
        let mut out = Vec::new();
        Codec::Pcma.encode_into(&pcm, &mut out);
        out
    }

    #[test]
    fn the_level_is_the_loudest_heard_legs_rms() {
        let mut room = MediaRoom::new();
        let (loud, quiet) = (LegId(1), LegId(2));
        room.add_leg(loud, config()).unwrap();
        room.add_leg(quiet, config()).unwrap();
        let from = |port| SocketAddr::from(([192, 0, 2, 9], port));
        let t0 = Instant::now();
        let run = |room: &mut MediaRoom, from_tick: u16| {
            for n in from_tick..from_tick + 20 {
                let now = t0 + TICK * u32::from(n);
                let _ =
                    room.handle_datagram(loud, from(5004), &rtp(8, n, &sine_frame(8000.0, n)), now);
                let _ = room.handle_datagram(
                    quiet,
                    from(5006),
                    &rtp(8, n, &sine_frame(1000.0, n)),
                    now,
                );
                room.tick(now);
                while room.poll_transmit().is_some() {}
            }
        };
        assert_eq!(room.loudest_level(), 0, "nothing mixed yet");
        run(&mut room, 0);
        // A sine's RMS is its peak / √2: 8000 → 5657 (G.711 rounds a little).
        let level = room.loudest_level();
        assert!((5500..5800).contains(&level), "{level}");
        room.set_muted(loud, true).unwrap();
        run(&mut room, 20);
        let level = room.loudest_level();
        assert!(
            (650..760).contains(&level),
            "a muted leg is not heard: {level}"
        );
        room.set_muted(quiet, true).unwrap();
        run(&mut room, 40);
        assert_eq!(room.loudest_level(), 0);
    }

    #[test]
    fn non_audio_datagrams_are_sorted_and_counted() {
        let mut room = MediaRoom::new();
        let leg = LegId(7);
        room.add_leg(leg, config()).unwrap();
        let from = SocketAddr::from(([192, 0, 2, 9], 5004));
        let now = Instant::now();
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 42];
        assert_eq!(room.handle_datagram(leg, from, &rr, now), Received::Rtcp);
        assert_eq!(
            room.handle_datagram(leg, from, b"hello", now),
            Received::Malformed(None)
        );
        assert!(matches!(
            room.handle_datagram(leg, from, &[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], now),
            Received::Malformed(Some(RtpError::TooShort { .. }))
        ));
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(18, 1, &[0; 10]), now),
            Received::UnknownPayloadType(18)
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(8, 1, &[0xd5; 160]), now),
            Received::Learning
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(8, 2, &[0xd5; 160]), now),
            Received::Audio(Push::Accepted)
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(13, 3, &[40]), now),
            Received::ComfortNoise
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(101, 4, &[1, 2]), now),
            Received::BadPayload
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(8, 5, &[]), now),
            Received::BadPayload
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(0, 6, &[0xff; 160]), now),
            Received::Audio(Push::Accepted),
            "PCMU is accepted on a PCMA leg"
        );
        let stats = room.leg_stats(leg).unwrap();
        assert_eq!(
            (
                stats.rtcp_in,
                stats.malformed,
                stats.unknown_payload_type,
                stats.decode_errors
            ),
            (1, 2, 1, 2)
        );
        assert_eq!(stats.packets_in, 5);
        assert_eq!(
            stats.lost, 0,
            "comfort noise and events use sequence numbers too"
        );
        assert_eq!(
            room.poll_event(),
            Some(MediaEvent::Latched { leg, remote: from })
        );
        assert_eq!(room.poll_event(), None);
    }

    #[test]
    fn control_calls_on_unknown_legs_fail() {
        let mut room = MediaRoom::new();
        let ghost = LegId(1);
        assert_eq!(
            room.set_muted(ghost, true),
            Err(RoomError::UnknownLeg(ghost))
        );
        assert_eq!(
            room.set_hold(ghost, true),
            Err(RoomError::UnknownLeg(ghost))
        );
        assert_eq!(room.relatch(ghost, None), Err(RoomError::UnknownLeg(ghost)));
        assert!(room.set_wait_source(ghost, None).is_err());
        assert_eq!(room.remove_leg(ghost), Err(RoomError::UnknownLeg(ghost)));
        room.add_leg(ghost, config()).unwrap();
        assert_eq!(
            room.add_leg(ghost, config()),
            Err(RoomError::DuplicateLeg(ghost))
        );
        assert_eq!(room.poll_timeout(), None);
    }

    #[test]
    fn relatching_follows_a_moved_phone() {
        let mut room = MediaRoom::new();
        let leg = LegId(3);
        room.add_leg(leg, config()).unwrap();
        let old = SocketAddr::from(([192, 0, 2, 1], 4000));
        let new = SocketAddr::from(([192, 0, 2, 2], 4000));
        let now = Instant::now();
        for seq in 1..=3 {
            let _ = room.handle_datagram(leg, old, &rtp(8, seq, &[0xd5; 160]), now);
        }
        assert_eq!(
            room.handle_datagram(leg, new, &rtp(8, 4, &[0xd5; 160]), now),
            Received::ForeignSource
        );
        room.relatch(leg, Some(new)).unwrap();
        assert_eq!(
            room.handle_datagram(leg, new, &rtp(8, 5, &[0xd5; 160]), now),
            Received::Audio(Push::Accepted)
        );
        room.tick(now);
        let t = room.poll_transmit().unwrap();
        assert_eq!(t.to, new);
    }

    /// A room with one leg of PCMU on 98 and telephone-event on 96, latched
    /// to the source it returns (two packets heard).
    fn room_with_a_pt_98_leg(leg: LegId, now: Instant) -> (MediaRoom, SocketAddr) {
        let mut room = MediaRoom::new();
        let config = LegConfig {
            codec: Codec::Pcmu,
            payload_type: 98,
            telephone_event_pt: Some(96),
            ..config()
        };
        room.add_leg(leg, config).unwrap();
        let from = SocketAddr::from(([192, 0, 2, 9], 5004));
        for seq in 1..=2 {
            let _ = room.handle_datagram(leg, from, &rtp(98, seq, &[0xff; 160]), now);
        }
        (room, from)
    }

    #[test]
    fn a_dynamic_g711_payload_type_is_heard_and_sent_with() {
        let leg = LegId(4);
        let now = Instant::now();
        let (mut room, from) = room_with_a_pt_98_leg(leg, now);
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(98, 3, &[0xff; 160]), now),
            Received::Audio(Push::Accepted)
        );
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(99, 4, &[0xff; 160]), now),
            Received::UnknownPayloadType(99)
        );
        // A 4733 event on the negotiated number is a digit (`*`, ended).
        let star = [10, 0x80, 0, 160];
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(96, 5, &star), now),
            Received::Dtmf
        );
        room.tick(now);
        let t = room.poll_transmit().unwrap();
        assert_eq!(RtpPacket::parse(t.payload).unwrap().payload_type, 98);
    }

    #[test]
    fn a_renegotiated_leg_sends_and_hears_the_new_formats_at_once() {
        let leg = LegId(5);
        let now = Instant::now();
        let (mut room, from) = room_with_a_pt_98_leg(leg, now);
        // A re-INVITE moves the leg to PCMA on 8, telephone-event on 101.
        let media = LegMedia {
            remote: Some(from),
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(101),
            rtcp_mux: false,
        };
        room.renegotiate(leg, media).unwrap();
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(98, 4, &[0xff; 160]), now),
            Received::UnknownPayloadType(98),
            "the old number means nothing now"
        );
        let star = [10, 0x80, 0, 160];
        assert_eq!(
            room.handle_datagram(leg, from, &rtp(101, 5, &star), now),
            Received::Dtmf
        );
        room.tick(now);
        let t = room.poll_transmit().unwrap();
        assert_eq!(RtpPacket::parse(t.payload).unwrap().payload_type, 8);
    }
}
