//! In-band DTMF: key presses heard in a leg's decoded audio, for callers
//! that negotiated no `telephone-event` (RFC 4733) and send their keys as
//! tones. [`InbandDetector`] reports each press once, like
//! [`DtmfDetector`](crate::dtmf::DtmfDetector) does for events, so both
//! reach the same place ([`MediaEvent::Dtmf`](crate::MediaEvent::Dtmf)).
//!
//! Each 20 ms frame is measured with a [`Goertzel`] filter at the eight
//! DTMF frequencies. A frame holds a key when, as ITU-T Q.24 asks of a
//! receiver, roughly:
//!
//! - it is loud enough ([`MIN_TONE_RMS`] for each of the two tones);
//! - the strongest row and column tone carry most of its energy (speech
//!   and noise spread theirs: [`MIN_PURITY`]);
//! - each stands clear of the other tones of its group ([`MIN_GROUP_MARGIN`]);
//! - their levels differ by at most 8 dB with the high tone louder
//!   ("normal twist") or 4 dB with the low tone louder ("reverse twist").
//!
//! A key is reported after [`MIN_FRAMES`] frames in a row hold it (40 ms,
//! Q.24's shortest tone), and a new press needs a frame that holds no key
//! (or another key) in between. A lone 1 kHz tone (one tone, not two), music
//! and speech do not pass.

use crate::dtmf::Digit;
use crate::goertzel::Goertzel;
use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE};

/// The low (row) group, Hz.
pub const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// The high (column) group, Hz.
pub const COLUMNS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keys by row and column, as RFC 4733 event codes (`*` 10, `#` 11, `A`–`D` 12–15).
const KEYS: [[u8; 4]; 4] = [[1, 2, 3, 12], [4, 5, 6, 13], [7, 8, 9, 14], [10, 0, 11, 15]];
/// Each tone's least RMS level, in sample units (about −40 dBm0).
pub const MIN_TONE_RMS: f64 = 150.0;
/// The least share of a frame's energy the two tones carry together.
pub const MIN_PURITY: f64 = 0.75;
/// How much stronger (power ratio, ×6.3 = 8 dB) a tone is than the
/// others of its group.
pub const MIN_GROUP_MARGIN: f64 = 6.3;
/// Twist limits, as power ratios high/low: 8 dB normal, 4 dB reverse.
const MAX_NORMAL_TWIST: f64 = 6.31;
const MAX_REVERSE_TWIST: f64 = 2.51;
/// Frames in a row that must hold a key before it is reported.
pub const MIN_FRAMES: u32 = 2;

/// One leg's in-band DTMF detector. See the module docs.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    /// The four row frequencies, then the four columns.
    bank: [Goertzel; 8],
    /// The key the last frames held, and for how many frames.
    run: Option<(u8, u32)>,
    /// The key reported and still held (no new report until it is let go).
    reported: Option<u8>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector that has heard nothing.
    #[must_use]
    pub fn new() -> Self {
        let rate = f64::from(SAMPLE_RATE);
        let [r0, r1, r2, r3] = ROWS;
        let [c0, c1, c2, c3] = COLUMNS;
        Self {
            bank: [r0, r1, r2, r3, c0, c1, c2, c3].map(|f| Goertzel::new(f, rate)),
            run: None,
            reported: None,
        }
    }

    /// Feeds the leg's next 20 ms of audio; returns the key if a press
    /// starts being reported with it.
    pub fn on_frame(&mut self, frame: &Frame) -> Option<Digit> {
        let key = self.key_in(frame);
        match (key, self.run) {
            (Some(k), Some((held, n))) if k == held => self.run = Some((k, n + 1)),
            (Some(k), _) => self.run = Some((k, 1)),
            (None, _) => self.run = None,
        }
        let Some((k, n)) = self.run else {
            self.reported = None;
            return None;
        };
        if self.reported.is_some_and(|r| r != k) {
            self.reported = None; // another key without a pause: a new press
        }
        if n >= MIN_FRAMES && self.reported.is_none() {
            self.reported = Some(k);
            return Digit::from_event(k);
        }
        None
    }

    /// A frame with no audio at all (the phone sent nothing: DTX, or a
    /// pause): a press in progress is over, so the same key after it is a
    /// new press. Concealed frames (a lost packet) do not end a press.
    pub fn on_silence(&mut self) {
        self.run = None;
        self.reported = None;
    }

    /// The key one frame holds, if any.
    fn key_in(&self, frame: &Frame) -> Option<u8> {
        let energy: f64 = frame.iter().map(|&x| f64::from(x).powi(2)).sum();
        let n = FRAME_SAMPLES as f64;
        let min_power = MIN_TONE_RMS * MIN_TONE_RMS;
        // Too quiet to hold two tones at the least level: most frames of a
        // conference (nobody pressing, often nobody talking) end here.
        if energy < 2.0 * min_power * n * MIN_PURITY {
            return None;
        }
        // Power of a tone in the frame, as its mean square (A²/2 for amplitude A).
        let powers =
            Goertzel::bank_magnitudes_squared(&self.bank, frame).map(|m| 2.0 * m / (n * n));
        let [r0, r1, r2, r3, c0, c1, c2, c3] = powers;
        let (rows, columns) = ([r0, r1, r2, r3], [c0, c1, c2, c3]);
        let (r, row) = strongest(&rows)?;
        let (c, column) = strongest(&columns)?;
        let loud = row >= min_power && column >= min_power;
        let pure = (row + column) * n >= MIN_PURITY * energy;
        let clear = |powers: &[f64; 4], best: usize| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || p * MIN_GROUP_MARGIN <= powers[best])
        };
        let twist_ok = column <= row * MAX_NORMAL_TWIST && row <= column * MAX_REVERSE_TWIST;
        (loud && pure && clear(&rows, r) && clear(&columns, c) && twist_ok).then_some(KEYS[r][c])
    }
}

/// The index and power of the strongest of four.
fn strongest(powers: &[f64; 4]) -> Option<(usize, f64)> {
    powers
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// `ms` of 8 kHz audio from `f(t)`, in frames.
    fn frames(ms: usize, start: usize, f: impl Fn(f64) -> f64) -> Vec<Frame> {
        (0..ms / 20)
            .map(|i| {
                let mut frame = [0; FRAME_SAMPLES];
                for (j, s) in frame.iter_mut().enumerate() {
                    let t = (start + i * FRAME_SAMPLES + j) as f64 / 8000.0;
                    *s = f(t).clamp(-32768.0, 32767.0) as i16;
                }
                frame
            })
            .collect()
    }

    fn sine(hz: f64, amplitude: f64) -> impl Fn(f64) -> f64 {
        move |t| amplitude * (std::f64::consts::TAU * hz * t).sin()
    }

    /// A key as a phone sends it: row and column tone, `low_db`/`high_db`
    /// below a 6000 amplitude.
    fn key(k: char, ms: usize, low_db: f64, high_db: f64) -> Vec<Frame> {
        let (r, c) = KEYS
            .iter()
            .enumerate()
            .find_map(|(r, row)| {
                row.iter()
                    .position(|&e| Digit::from_event(e).unwrap().as_char() == k)
                    .map(|c| (r, c))
            })
            .unwrap();
        let (lo, hi) = (ROWS[r], COLUMNS[c]);
        let a_lo = 6000.0 * 10f64.powf(-low_db / 20.0);
        let a_hi = 6000.0 * 10f64.powf(-high_db / 20.0);
        frames(ms, 0, move |t| sine(lo, a_lo)(t) + sine(hi, a_hi)(t))
    }

    fn silence(ms: usize) -> Vec<Frame> {
        vec![[0; FRAME_SAMPLES]; ms / 20]
    }

    fn detect(frames: &[Frame]) -> String {
        let mut d = InbandDetector::new();
        frames
            .iter()
            .filter_map(|f| d.on_frame(f))
            .map(Digit::as_char)
            .collect()
    }

    #[test]
    fn every_key_is_heard_once_per_press() {
        let mut audio = Vec::new();
        for k in "123A456B789C*0#D".chars() {
            audio.extend(key(k, 100, 0.0, 0.0));
            audio.extend(silence(60));
        }
        assert_eq!(detect(&audio), "123A456B789C*0#D");
    }

    #[test]
    fn a_long_press_is_one_key_and_two_presses_are_two() {
        let mut audio = key('5', 2000, 0.0, 0.0);
        audio.extend(silence(40));
        audio.extend(key('5', 60, 0.0, 0.0));
        assert_eq!(detect(&audio), "55");
    }

    #[test]
    fn a_gap_without_audio_ends_a_press_and_concealment_does_not() {
        let mut d = InbandDetector::new();
        let mut heard = String::new();
        let mut feed = |d: &mut InbandDetector, frames: &[Frame]| {
            heard.extend(
                frames
                    .iter()
                    .filter_map(|f| d.on_frame(f))
                    .map(Digit::as_char),
            );
        };
        // DTX: the phone sends nothing between two presses of one key.
        feed(&mut d, &key('5', 60, 0.0, 0.0));
        d.on_silence();
        feed(&mut d, &key('5', 60, 0.0, 0.0));
        // A lost packet (concealed, not fed) inside one press: one key.
        feed(&mut d, &key('7', 60, 0.0, 0.0));
        feed(&mut d, &key('7', 60, 0.0, 0.0));
        assert_eq!(heard, "557");
    }

    #[test]
    fn twist_within_q24_limits_is_accepted_beyond_is_not() {
        assert_eq!(detect(&key('9', 100, 6.0, 0.0)), "9", "6 dB normal twist");
        assert_eq!(detect(&key('9', 100, 0.0, 3.0)), "9", "3 dB reverse twist");
        assert_eq!(detect(&key('9', 100, 12.0, 0.0)), "", "12 dB normal twist");
        assert_eq!(detect(&key('9', 100, 0.0, 8.0)), "", "8 dB reverse twist");
        assert_eq!(detect(&key('9', 100, 40.0, 40.0)), "", "too quiet");
    }

    #[test]
    fn a_20_ms_blip_is_not_a_key() {
        assert_eq!(detect(&key('1', 20, 0.0, 0.0)), "");
    }

    #[test]
    fn a_1khz_tone_music_and_speech_like_noise_are_not_keys() {
        assert_eq!(detect(&frames(2000, 0, sine(1000.0, 8000.0))), "");
        // Two musical tones near DTMF frequencies (A5 + E6): no key pair.
        assert_eq!(
            detect(&frames(2000, 0, |t| sine(880.0, 5000.0)(t)
                + sine(1318.5, 5000.0)(t))),
            ""
        );
        // Speech-like: a 120 Hz voice with its harmonics up to 3.4 kHz, its
        // formants swept, plus noise from a fixed sequence.
        let mut seed = 0x1234_5678_u64;
        let mut noise = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as f64 / f64::from(1u32 << 31) - 0.5) * 2000.0
        };
        let noise: Vec<f64> = (0..8000 * 3).map(|_| noise()).collect();
        let speech = frames(3000, 0, move |t| {
            let f0 = 120.0 + 30.0 * (t * 3.0).sin();
            let formant = 700.0 + 500.0 * (t * 2.0).sin();
            let mut x = 0.0;
            for h in 1..28 {
                let f = f0 * f64::from(h);
                let gain = (-((f - formant) / 300.0).powi(2)).exp() * 4000.0 + 200.0;
                x += gain * (std::f64::consts::TAU * f * t).sin();
            }
            x + noise[((t * 8000.0) as usize).min(noise.len() - 1)]
        });
        assert_eq!(detect(&speech), "");
        // And a key over that noise is still heard.
        let mut noisy = key('7', 100, 0.0, 0.0);
        let mut seed = 99_u64;
        for f in &mut noisy {
            for s in f.iter_mut() {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                *s = s.saturating_add(((seed >> 40) as i16 % 600) - 300);
            }
        }
        assert_eq!(detect(&noisy), "7");
    }
}
