//! Tones: the join and leave beeps and the error tone, as [`AudioSource`]s.
//!
//! Every segment starts and ends with a 5 ms raised-cosine ramp, so a beep
//! never clicks, and consecutive segments keep their phase.

use crate::source::AudioSource;
use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE};

/// Pitch of the beep played when someone joins (A5).
pub const JOIN_BEEP_HZ: f64 = 880.0;
/// Pitch of the beep played when someone leaves (E5, a fifth lower than the join beep).
pub const LEAVE_BEEP_HZ: f64 = 659.25;
/// The three rising frequencies of the special information tone (ITU-T E.180).
pub const ERROR_TONE_HZ: [f64; 3] = [913.8, 1370.6, 1776.7];

const RAMP_SAMPLES: usize = 40; // 5 ms

/// Which room-wide beep to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beep {
    /// Someone joined.
    Join,
    /// Someone left.
    Leave,
}

impl Beep {
    /// The tone for this beep: 250 ms at -12 dBFS.
    #[must_use]
    pub fn tone(self) -> Tone {
        let hz = match self {
            Beep::Join => JOIN_BEEP_HZ,
            Beep::Leave => LEAVE_BEEP_HZ,
        };
        Tone::new(&[(hz, 250)], 8000)
    }
}

/// A finite sequence of sine segments.
#[derive(Debug, Clone)]
pub struct Tone {
    /// (frequency in Hz, length in samples); frequency 0 is a gap.
    segments: Vec<(f64, usize)>,
    amplitude: f64,
    segment: usize,
    pos: usize,
    phase: f64,
}

impl Tone {
    /// A tone playing `segments` of (Hz, milliseconds) in order at peak `amplitude`.
    /// A frequency of 0 makes a silent gap.
    #[must_use]
    pub fn new(segments: &[(f64, u32)], amplitude: i16) -> Self {
        let per_ms = SAMPLE_RATE as usize / 1000;
        Self {
            segments: segments
                .iter()
                .map(|&(hz, ms)| (hz, ms as usize * per_ms))
                .collect(),
            amplitude: f64::from(amplitude),
            segment: 0,
            pos: 0,
            phase: 0.0,
        }
    }

    /// The special information tone that precedes an error announcement.
    #[must_use]
    pub fn error() -> Self {
        let [a, b, c] = ERROR_TONE_HZ;
        Self::new(&[(a, 274), (b, 274), (c, 380)], 8000)
    }

    fn next_sample(&mut self) -> Option<i16> {
        loop {
            let &(hz, len) = self.segments.get(self.segment)?;
            if self.pos < len {
                let edge = self.pos.min(len - 1 - self.pos);
                let gain = if edge < RAMP_SAMPLES {
                    let x = (edge as f64 + 0.5) / RAMP_SAMPLES as f64;
                    0.5 - 0.5 * (std::f64::consts::PI * x).cos()
                } else {
                    1.0
                };
                let value = if hz > 0.0 {
                    gain * self.amplitude * self.phase.sin()
                } else {
                    0.0
                };
                self.phase = (self.phase + std::f64::consts::TAU * hz / f64::from(SAMPLE_RATE))
                    % std::f64::consts::TAU;
                self.pos += 1;
                return Some(value as i16);
            }
            self.segment += 1;
            self.pos = 0;
        }
    }
}

impl AudioSource for Tone {
    fn next_frame(&mut self, out: &mut Frame) -> bool {
        out.fill(0);
        let mut any = false;
        for slot in out.iter_mut().take(FRAME_SAMPLES) {
            match self.next_sample() {
                Some(s) => {
                    *slot = s;
                    any = true;
                }
                None => break,
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::tone_fraction;

    fn render(mut tone: Tone) -> Vec<i16> {
        let mut out = Vec::new();
        let mut frame = [0; FRAME_SAMPLES];
        while tone.next_frame(&mut frame) {
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn beeps_have_their_pitch_and_length() {
        let join = render(Beep::Join.tone());
        let leave = render(Beep::Leave.tone());
        assert_eq!(join.len(), 2080); // 250 ms, padded to whole frames
        assert!(tone_fraction(&join, JOIN_BEEP_HZ) > 0.9);
        assert!(tone_fraction(&leave, LEAVE_BEEP_HZ) > 0.9);
        assert!(tone_fraction(&leave, JOIN_BEEP_HZ) < 0.01);
        let peak = join.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((7900..=8000).contains(&peak), "{peak}");
    }

    #[test]
    fn edges_ramp_instead_of_clicking() {
        let join = render(Beep::Join.tone());
        assert!(join[0].unsigned_abs() < 100);
        assert!(join[join.len() - 1].unsigned_abs() < 100);
        let max_step = join
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0);
        // A full-amplitude 880 Hz sine moves at most 8000·2π·880/8000 ≈ 5530 per sample.
        assert!(max_step <= 5600, "{max_step}");
    }

    #[test]
    fn error_tone_rises_through_three_pitches() {
        let sit = render(Tone::error());
        assert_eq!(
            sit.len(),
            (928 * 8usize).div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES
        );
        assert!(tone_fraction(&sit[..2192], ERROR_TONE_HZ[0]) > 0.8);
        assert!(tone_fraction(&sit[2192..4384], ERROR_TONE_HZ[1]) > 0.8);
        assert!(tone_fraction(&sit[4384..], ERROR_TONE_HZ[2]) > 0.8);
    }
}
