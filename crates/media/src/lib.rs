//! The media core of confab: RTP in, mixed RTP out, for every leg of a room.
//!
//! Sans-IO like the other cores: no sockets, no tokio, no clock reads and
//! no randomness. The shell passes datagrams and `now` in, and sends the
//! datagrams handed back; SSRCs and initial sequence numbers and timestamps
//! are drawn by the shell and passed in [`LegConfig`].
//!
//! | module | owns |
//! |---|---|
//! | [`rtp`] | RTP header parse/write, RTCP recognition, `SeqNo`/`RtpTimestamp`/`Ssrc` |
//! | [`rtcp`] | RTCP compound packets read (SR, RR, SDES, BYE) and our SR/RR + SDES written |
//! | [`g711`] | μ-law and A-law, and [`Codec`], the one codec enum |
//! | [`g722`] | ITU-T G.722 (64 kbit/s), the wideband codec |
//! | `halfrate` | 8 kHz ↔ 16 kHz per frame, for G.711 legs in a wideband mix |
//! | [`dtmf`] | RFC 4733 telephone events, one report per key press |
//! | [`jitter`] | adaptive playout buffer with loss concealment |
//! | [`mixer`] | mix-minus |
//! | [`limiter`] | each listener's mix turned down when loud (soft knee), bit-exact when not |
//! | [`source`], [`tone`], [`hold_music`] | what legs hear besides each other |
//! | [`decode`] | WAV/MP3 bytes (from `<Play>`) to 8 kHz mono |
//! | [`goertzel`] | tone detection (in-band DTMF; `tone_fraction`, `rms` and `sinad` for tests only, feature `test-util`) |
//! | [`inband`] | in-band DTMF: key presses heard in decoded audio |
//! | [`talker`] | who is speaking (energy, hysteresis, hangover), for speaker events |
//! | [`room`] | [`MediaRoom`], which ties them together per conference |
//!
//! A shell's conference task drives a room like this (one socket per leg):
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use media::{Codec, LegConfig, LegId, MediaEvent, MediaRoom, RtpTimestamp, SeqNo, Ssrc};
//!
//! let mut room = MediaRoom::new();
//! room.add_leg(LegId(1), LegConfig {
//!     codec: Codec::Pcmu,
//!     payload_type: 0,
//!     telephone_event_pt: Some(101),
//!     ssrc: Ssrc(0x1234_5678),         // random, from the shell
//!     initial_seq: SeqNo(4711),        // random, from the shell
//!     initial_ts: RtpTimestamp(99),    // random, from the shell
//!     remote: None,                    // or the SDP's c=/m= address
//!     jitter: Default::default(),
//! })?;
//!
//! let now = Instant::now(); // the shell's clock, never read inside the crate
//! // Every 20 ms (tokio::time::interval), the shell:
//! // 1. drains each leg's socket without blocking
//! # let datagrams: Vec<(LegId, SocketAddr, Vec<u8>)> = Vec::new();
//! for (leg, from, bytes) in &datagrams {
//!     let _ = room.handle_datagram(*leg, *from, bytes, now);
//! }
//! // 2. mixes (time the call for the "mix tick duration" metric)
//! room.tick(now);
//! // 3. sends what the tick produced, from each leg's own socket
//! while let Some(t) = room.poll_transmit() {
//!     // sockets[t.leg].try_send_to(t.payload, t.to)
//!     # let _ = t;
//! }
//! // 4. acts on events
//! while let Some(event) = room.poll_event() {
//!     match event {
//!         MediaEvent::Dtmf { leg, digit } => { /* '*' and hangupOnStar: hang up leg */ }
//!         MediaEvent::WaitSourceEnded { leg } => { /* run the next waitUrl verb */ }
//!         MediaEvent::AnnouncementEnded { leg } => { /* the API's announcement-end */ }
//!         MediaEvent::Latched { .. } => {}
//!     }
//! #   let _ = event;
//! }
//! // 5. with room.set_talker_detection(true), who started or stopped speaking
//! while let Some((leg, speaking)) = room.poll_talker() { /* speech callbacks */ }
//! // 6. exports room.stats() to metrics now and then
//! # Ok::<(), media::RoomError>(())
//! ```
//!
//! Room rules (who is muted, when the room starts, beep on/off) are the
//! `conference` crate's; the shell turns its events into calls on
//! [`MediaRoom`] (`set_muted`, `set_waiting`, `play_beep`, `set_on_hold`,
//! `set_coaching`, `announce`, ...).

pub mod decode;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod goertzel;
mod halfrate;
pub mod hold_music;
pub mod inband;
pub mod jitter;
mod latch;
pub mod limiter;
pub mod mixer;
mod playout;
mod plc;
mod resample;
pub mod room;
pub mod rtcp;
pub mod rtp;
pub mod source;
pub mod talker;
pub mod tone;

pub use dtmf::Digit;
pub use g711::Codec;
pub use goertzel::Goertzel;
#[cfg(any(test, feature = "test-util"))]
pub use goertzel::{tone_fraction, tone_fraction_at};
pub use jitter::JitterConfig;
pub use room::{
    LegConfig, LegId, LegMedia, LegStats, MediaEvent, MediaRoom, Received, RoomError, RoomStats,
    TICK, Transmit,
};
pub use rtp::{RtpTimestamp, SeqNo, Ssrc};
pub use source::{AudioSource, PcmSource, Repeat, Silence};
pub use talker::Talker;
pub use tone::Beep;

/// Samples per second of the narrowband signals in this crate: G.711's
/// rate, that of the playout buffers of G.711 legs, the clips (`<Play>`,
/// `<Say>`, hold music, beeps) and the mix of a room of G.711 legs only.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms mixer tick at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 160;
/// One 20 ms tick of 8 kHz mono audio.
pub type Frame = [i16; FRAME_SAMPLES];
/// Samples per second of the wideband mix (a room with a G.722 leg) and
/// of a G.722 leg's playout buffer.
pub const WIDE_SAMPLE_RATE: u32 = 16_000;
/// Samples in one 20 ms tick at [`WIDE_SAMPLE_RATE`].
pub const WIDE_FRAME_SAMPLES: usize = 320;
/// One 20 ms tick of 16 kHz mono audio.
pub type WideFrame = [i16; WIDE_FRAME_SAMPLES];
