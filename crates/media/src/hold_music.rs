//! Built-in hold music, synthesised in code so the binary ships it without a file.
//!
//! An eight-second loop: a music-box arpeggio over I–vi–IV–V in C major with a
//! soft bass, each note a sine plus a little second harmonic, 8 ms attack and
//! an exponential decay. The loop is rendered once per process (about 125 kB)
//! and shared by every leg; notes that ring past the end wrap to the start,
//! so the loop has no seam. It avoids F5 (698 Hz), G4 (392 Hz) and F4 (whose
//! second harmonic is F5) so that it stays clear of the 400/700/1100 Hz probe tones tests like to use.

use std::sync::{Arc, OnceLock};

use crate::source::{AudioSource, PcmSource, Repeat};
use crate::{Frame, SAMPLE_RATE};

/// Length of the loop.
pub const LOOP_SECONDS: usize = 8;

/// The built-in hold music as an endless [`AudioSource`].
#[derive(Debug, Clone)]
pub struct HoldMusic(PcmSource);

impl HoldMusic {
    /// A fresh player at the start of the loop.
    #[must_use]
    pub fn new() -> Self {
        Self(PcmSource::new(samples(), Repeat::Forever))
    }
}

impl Default for HoldMusic {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioSource for HoldMusic {
    fn next_frame(&mut self, out: &mut Frame) -> bool {
        self.0.next_frame(out)
    }
}

/// The rendered loop, shared. The first call renders it (tens of
/// milliseconds in a release build): a shell should call this once at
/// start-up so that no room's tick pays for it.
#[must_use]
pub fn samples() -> Arc<[i16]> {
    static LOOP: OnceLock<Arc<[i16]>> = OnceLock::new();
    LOOP.get_or_init(render).clone()
}

/// MIDI note number to Hz.
fn hz(note: u8) -> f64 {
    440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0)
}

fn render() -> Arc<[i16]> {
    let rate = SAMPLE_RATE as usize;
    let len = LOOP_SECONDS * rate;
    let mut mix = vec![0f32; len];
    // Chords as (bass, arpeggio notes), MIDI numbers. C, Am, F, G(no G4/F5).
    let chords: [(u8, [u8; 8]); 4] = [
        (48, [60, 64, 67 + 12, 72, 76, 72, 64, 67 + 12]), // C: C4 E4 G5 C5 E5 C5 E4 G5
        (45, [57, 60, 64, 69, 72, 69, 64, 60]),           // Am: A3 C4 E4 A4 C5 A4 E4 C4
        (41, [53, 57, 60, 69, 72, 69, 60, 57]),           // F: F3 A3 C4 A4 C5 A4 C4 A3
        (43, [59, 62, 71, 74, 71, 62, 59, 62]),           // G: B3 D4 B4 D5 B4 D4 B3 D4
    ];
    let beat = rate / 4; // eighth notes at 120 bpm
    for (c, (bass, notes)) in chords.iter().enumerate() {
        let chord_start = c * 2 * rate;
        add_note(&mut mix, chord_start, hz(*bass), 0.16, 0.9, rate);
        for (i, &n) in notes.iter().enumerate() {
            let velocity = if i % 4 == 0 { 0.20 } else { 0.15 };
            add_note(
                &mut mix,
                chord_start + i * beat,
                hz(n),
                velocity,
                0.35,
                rate,
            );
        }
    }
    let peak = mix.iter().fold(0f32, |m, &x| m.max(x.abs())).max(1e-6);
    // Normalise to about -9 dBFS: loud enough to hear, room left for beeps.
    let scale = 11_000.0 / peak;
    mix.iter()
        .map(|&x| (x * scale).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Adds one decaying note starting at `start`, wrapping round the loop.
fn add_note(mix: &mut [f32], start: usize, freq: f64, level: f64, tau_s: f64, rate: usize) {
    let attack = rate * 8 / 1000;
    let length = rate * 2; // rings for two seconds, by then ~e^-5 quieter
    let len = mix.len();
    let w = std::f64::consts::TAU * freq / rate as f64;
    for i in 0..length {
        let t = i as f64 / rate as f64;
        let env = if i < attack {
            i as f64 / attack as f64
        } else {
            (-(t - attack as f64 / rate as f64) / tau_s).exp()
        };
        // Fade the last 50 ms to zero so the note never ends on a step.
        let tail = ((length - i) as f64 / (rate as f64 * 0.05)).min(1.0);
        let phase = w * i as f64;
        let voice = phase.sin() + 0.25 * (2.0 * phase).sin() + 0.08 * (3.0 * phase).sin();
        if let Some(slot) = mix.get_mut((start + i) % len) {
            *slot += (level * env * tail * voice) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;
    use crate::goertzel::{rms, tone_fraction};

    #[test]
    fn loops_seamlessly_and_is_audible() {
        let loop_ = samples();
        assert_eq!(loop_.len(), LOOP_SECONDS * 8000);
        let level = rms(&loop_);
        assert!((1500.0..8000.0).contains(&level), "rms {level}");
        // The seam (last sample to first) steps no more than the music does inside.
        let max_step = loop_
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0);
        let seam = (i32::from(loop_[0]) - i32::from(loop_[loop_.len() - 1])).abs();
        assert!(seam <= max_step, "seam {seam} vs {max_step}");
        // No second of it is silent.
        for second in loop_.chunks(8000) {
            assert!(rms(second) > 500.0);
        }
    }

    #[test]
    fn stays_clear_of_probe_tones() {
        let loop_ = samples();
        for probe in [400.0, 700.0, 1100.0] {
            let f = tone_fraction(&loop_, probe);
            assert!(f < 0.005, "{probe} Hz: {f}");
        }
    }

    #[test]
    fn source_never_ends() {
        let mut music = HoldMusic::new();
        let mut frame = [0; FRAME_SAMPLES];
        for _ in 0..(LOOP_SECONDS * 50 + 10) {
            assert!(music.next_frame(&mut frame));
        }
    }
}
