//! Talker detection: whether a leg is speaking, from its decoded 20 ms
//! frames (Twilio's `participant-speech-start` and `-stop`).
//!
//! Energy with hysteresis and a hangover, one pass over each frame, no
//! allocation. A frame is *loud* at or above [`SPEECH_RMS`] and *quiet*
//! below [`QUIET_RMS`]; in between it neither starts nor ends speech.
//! Speech starts after [`ONSET_FRAMES`] loud frames with no quiet one among
//! them (so a click of a frame or two is ignored, and real speech is
//! reported within 0.2 s); it stops after [`HANGOVER_FRAMES`] quiet frames
//! in a row (1 s: the pauses between words and sentences do not end it).
//!
//! The levels are for telephone audio: active speech sits around −20 to
//! −30 dBFS and a line's noise floor below −50 dBFS; `SPEECH_RMS` is
//! about −38 dBFS and `QUIET_RMS` about −44 dBFS.

use crate::FRAME_SAMPLES;

/// The RMS level (in sample units) at or above which a frame is loud.
pub const SPEECH_RMS: u32 = 400;
/// The RMS level below which a frame is quiet.
pub const QUIET_RMS: u32 = 200;
/// Loud frames in a row (quiet ones reset the count) that start speech: 200 ms.
pub const ONSET_FRAMES: u32 = 10;
/// Quiet frames in a row that end speech: 1 s.
pub const HANGOVER_FRAMES: u32 = 50;

/// The energy (sum of squares) of a frame whose RMS is `rms`.
const fn energy_of(rms: u32) -> u64 {
    (rms as u64) * (rms as u64) * FRAME_SAMPLES as u64
}

const SPEECH_ENERGY: u64 = energy_of(SPEECH_RMS);
const QUIET_ENERGY: u64 = energy_of(QUIET_RMS);

/// One leg's talker state.
#[derive(Debug, Clone, Default)]
pub struct Talker {
    speaking: bool,
    /// Loud frames since the last quiet one, while not speaking.
    loud: u32,
    /// Quiet frames in a row, while speaking.
    quiet: u32,
}

impl Talker {
    #[must_use]
    pub const fn new() -> Self {
        Self {
            speaking: false,
            loud: 0,
            quiet: 0,
        }
    }

    /// Whether the leg is speaking now.
    #[must_use]
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Hears one frame; returns the new state when it changed.
    #[must_use]
    /// A 16 kHz frame ([`crate::WideFrame`]) counts as the same level at
    /// 8 kHz would: the thresholds are RMS levels.
    pub fn on_frame(&mut self, frame: &[i16]) -> Option<bool> {
        let energy: u64 = frame
            .iter()
            .map(|&s| {
                let s = i64::from(s);
                (s * s).unsigned_abs()
            })
            .sum();
        let per_frame = if frame.len() == FRAME_SAMPLES {
            energy
        } else {
            energy * FRAME_SAMPLES as u64 / frame.len().max(1) as u64
        };
        self.on_energy(per_frame)
    }

    /// Hears a frame of nothing (no packet, comfort noise).
    #[must_use]
    pub fn on_silence(&mut self) -> Option<bool> {
        self.on_energy(0)
    }

    fn on_energy(&mut self, energy: u64) -> Option<bool> {
        let loud = energy >= SPEECH_ENERGY;
        let quiet = energy < QUIET_ENERGY;
        if self.speaking {
            self.quiet = if quiet { self.quiet + 1 } else { 0 };
            if self.quiet >= HANGOVER_FRAMES {
                *self = Self::new();
                return Some(false);
            }
        } else {
            if quiet {
                self.loud = 0;
            } else if loud {
                self.loud += 1;
            }
            if self.loud >= ONSET_FRAMES {
                *self = Self {
                    speaking: true,
                    loud: 0,
                    quiet: 0,
                };
                return Some(true);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Frame;

    /// Frame `n` of a sine at `hz` with peak `amplitude`.
    fn tone(hz: f64, amplitude: f64, n: usize) -> Frame {
        let mut frame = [0; FRAME_SAMPLES];
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (n * FRAME_SAMPLES + i) as f64 / 8000.0;
            *s = (amplitude * (std::f64::consts::TAU * hz * t).sin()) as i16;
        }
        frame
    }

    /// A reproducible noise frame with RMS about `rms` (uniform, LCG).
    fn noise(rms: f64, seed: &mut u32) -> Frame {
        let peak = rms * 3f64.sqrt();
        let mut frame = [0; FRAME_SAMPLES];
        for s in &mut frame {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = f64::from(*seed >> 8) / f64::from(1u32 << 24);
            *s = ((u * 2.0 - 1.0) * peak) as i16;
        }
        frame
    }

    /// Feeds frames, returning each change with the frame index it came at.
    fn run(talker: &mut Talker, frames: impl IntoIterator<Item = Frame>) -> Vec<(usize, bool)> {
        frames
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| talker.on_frame(&f).map(|s| (i, s)))
            .collect()
    }

    #[test]
    fn a_tone_starts_speech_within_0_3_s_and_its_end_stops_it_after_1_s() {
        let mut talker = Talker::new();
        // 2 s of a -12 dBFS tone, then 2 s of digital silence.
        let frames = (0..100)
            .map(|n| tone(440.0, 8000.0, n))
            .chain((0..100).map(|_| [0; FRAME_SAMPLES]));
        let changes = run(&mut talker, frames);
        assert_eq!(changes, [(ONSET_FRAMES as usize - 1, true), (149, false)]);
        assert!((ONSET_FRAMES as usize) * 20 <= 300);
        assert!(!talker.is_speaking());
    }

    #[test]
    fn pauses_shorter_than_the_hangover_do_not_end_speech() {
        let mut talker = Talker::new();
        // Words of 300 ms with 600 ms gaps, for 5 s.
        let frames = (0..250).map(|n| {
            if n % 45 < 15 {
                tone(300.0, 6000.0, n)
            } else {
                [0; FRAME_SAMPLES]
            }
        });
        assert_eq!(
            run(&mut talker, frames),
            [(ONSET_FRAMES as usize - 1, true)]
        );
        assert!(talker.is_speaking());
    }

    #[test]
    fn a_noise_floor_is_never_speech() {
        let mut talker = Talker::new();
        let mut seed = 7;
        // -50 dBFS noise (RMS ~100), 10 s of it.
        let frames: Vec<Frame> = (0..500).map(|_| noise(100.0, &mut seed)).collect();
        assert_eq!(run(&mut talker, frames), []);
    }

    #[test]
    fn short_clicks_are_ignored() {
        let mut talker = Talker::new();
        // A loud frame or two every 100 ms, with quiet between: 5 s.
        let frames = (0..250).map(|n| match n % 5 {
            0 | 1 => tone(1000.0, 20_000.0, n),
            _ => [0; FRAME_SAMPLES],
        });
        assert_eq!(run(&mut talker, frames), []);
    }

    #[test]
    fn between_the_levels_speech_neither_starts_nor_ends() {
        // RMS ~300: above the quiet level, below the speech level.
        let middle = |n| tone(500.0, 300.0 * 2f64.sqrt(), n);
        let mut quiet = Talker::new();
        assert_eq!(run(&mut quiet, (0..200).map(middle)), []);

        let mut speaking = Talker::new();
        let frames = (0..20)
            .map(|n| tone(500.0, 8000.0, n))
            .chain((20..300).map(middle));
        assert_eq!(run(&mut speaking, frames), [(9, true)]);
        assert!(speaking.is_speaking());
    }

    #[test]
    fn nothing_received_counts_as_quiet() {
        let mut talker = Talker::new();
        for n in 0..ONSET_FRAMES as usize {
            let _ = talker.on_frame(&tone(440.0, 8000.0, n));
        }
        assert!(talker.is_speaking());
        let changes: Vec<usize> = (0..60)
            .filter_map(|i| talker.on_silence().map(|_| i))
            .collect();
        assert_eq!(changes, [HANGOVER_FRAMES as usize - 1]);
    }

    /// The room reports a leg that talks and stops, only while detecting,
    /// and never one that is silent.
    #[test]
    fn a_room_reports_who_starts_and_stops_talking() {
        use std::net::SocketAddr;
        use std::time::{Duration, Instant};

        use crate::rtp::RtpHeader;
        use crate::{Codec, JitterConfig, LegConfig, LegId, MediaRoom, RtpTimestamp, SeqNo, Ssrc};

        let config = LegConfig {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event_pt: Some(101),
            ssrc: Ssrc(1),
            initial_seq: SeqNo(0),
            initial_ts: RtpTimestamp(0),
            remote: None,
            jitter: JitterConfig::default(),
        };
        let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        // 1 s of tone from leg 1 at the tick it is sent, then 2 s of nothing;
        // the changes as (tick, leg, speaking).
        let talk = |detect: bool| {
            let mut room = MediaRoom::new();
            room.add_leg(LegId(1), config).unwrap();
            room.add_leg(LegId(2), config).unwrap();
            room.set_talker_detection(detect);
            let t0 = Instant::now();
            let mut changes = Vec::new();
            for tick in 0..150u32 {
                let now = t0 + Duration::from_millis(20) * tick;
                if tick < 50 {
                    let mut packet = Vec::new();
                    RtpHeader {
                        marker: tick == 0,
                        payload_type: 0,
                        seq: SeqNo(tick as u16),
                        timestamp: RtpTimestamp(tick * 160),
                        ssrc: Ssrc(9),
                    }
                    .write(&mut packet);
                    Codec::Pcmu.encode_into(&tone(440.0, 8000.0, tick as usize), &mut packet);
                    let _ = room.handle_datagram(LegId(1), from, &packet, now);
                }
                room.tick(now);
                while room.poll_transmit().is_some() {}
                while let Some((leg, speaking)) = room.poll_talker() {
                    changes.push((tick, leg, speaking));
                }
            }
            changes
        };
        let changes = talk(true);
        let [(start, LegId(1), true), (stop, LegId(1), false)] = changes[..] else {
            panic!("expected leg 1 to start and stop, got {changes:?}");
        };
        // Within 0.3 s of the first packet, plus the jitter buffer's delay
        // (at most 100 ms here); stopped 1 s after the last frame played.
        assert!(start < 20, "started at tick {start}");
        assert!(
            (50 + HANGOVER_FRAMES..50 + HANGOVER_FRAMES + 10).contains(&stop),
            "stopped at tick {stop}"
        );
        assert_eq!(talk(false), []);
    }

    #[test]
    fn full_scale_frames_do_not_overflow() {
        let mut talker = Talker::new();
        let frame = [i16::MIN; FRAME_SAMPLES];
        let changes: Vec<bool> = (0..ONSET_FRAMES)
            .filter_map(|_| talker.on_frame(&frame))
            .collect();
        assert_eq!(changes, [true]);
    }
}
