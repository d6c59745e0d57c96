//! 8 kHz ↔ 16 kHz, a 20 ms frame at a time, for the wideband mix: a G.711
//! leg's voice is doubled in rate on its way in ([`Upsampler`]) and the mix
//! it hears is halved on its way out ([`Downsampler`]), low-passed first
//! so nothing above 4 kHz folds back into its band.
//!
//! One linear-phase FIR low-pass serves both ways: 63 taps at 16 kHz, a
//! Kaiser-windowed sinc cut at 3.9 kHz (β = 7: about −70 dB from 4.5 kHz
//! on, flat to within 0.01 dB below 3.4 kHz). Upsampling stuffs a zero
//! between samples and filters, evaluated as its two polyphase halves (32
//! and 31 taps an output sample); downsampling filters and keeps every other
//! sample, computing only those. Each delays by 31 samples at 16 kHz, so a
//! G.711 voice heard by a G.711 leg through a 16 kHz mix comes 31 samples
//! (3.9 ms) at 8 kHz later than through an 8 kHz one, and otherwise the same
//! (`a_narrowband_tone_survives_up_and_down` measures it).
//!
//! Why not [`crate::resample`]: that one converts any ratio a whole file at
//! a time, off the tick path; this one is the fixed 2:1 case, per leg per
//! tick, with state carried across frames and no allocation.

use std::sync::OnceLock;

use crate::resample::kaiser_window;
use crate::{FRAME_SAMPLES, Frame, WIDE_FRAME_SAMPLES, WideFrame};

/// Taps of the low-pass (odd: a whole-sample delay of `(TAPS - 1) / 2`).
const TAPS: usize = 63;
/// The cut-off, as a fraction of 16 kHz.
const CUTOFF: f64 = 3900.0 / 16_000.0;
const BETA: f64 = 7.0;
/// Input samples an upsampled output needs (the longer polyphase half).
const UP_HISTORY: usize = TAPS.div_ceil(2);

/// The low-pass's coefficients, unity gain at DC.
fn taps() -> &'static [f32; TAPS] {
    static TAPS_CELL: OnceLock<[f32; TAPS]> = OnceLock::new();
    TAPS_CELL.get_or_init(|| {
        let centre = (TAPS - 1) as f64 / 2.0;
        let raw: [f64; TAPS] = std::array::from_fn(|j| {
            let x = j as f64 - centre;
            let sinc = if x == 0.0 {
                1.0
            } else {
                let a = std::f64::consts::PI * 2.0 * CUTOFF * x;
                a.sin() / a
            };
            2.0 * CUTOFF * sinc * kaiser_window(x / (centre + 1.0), BETA)
        });
        let sum: f64 = raw.iter().sum();
        std::array::from_fn(|j| (raw[j] / sum) as f32)
    })
}

/// Doubles a stream's rate: 160 samples at 8 kHz in, 320 at 16 kHz out.
#[derive(Debug, Clone)]
pub(crate) struct Upsampler {
    /// The last `UP_HISTORY` inputs, then this frame's.
    buf: [f32; UP_HISTORY + FRAME_SAMPLES],
}

impl Upsampler {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0.0; UP_HISTORY + FRAME_SAMPLES],
        }
    }

    /// Forgets the past (a stream starting again).
    pub(crate) fn reset(&mut self) {
        self.buf.fill(0.0);
    }

    /// One frame. The output saturates (a full-scale input can ring a
    /// little above full scale).
    pub(crate) fn frame(&mut self, input: &Frame, out: &mut WideFrame) {
        let h = taps();
        for (b, &x) in self.buf[UP_HISTORY..].iter_mut().zip(input) {
            *b = f32::from(x);
        }
        for n in 0..FRAME_SAMPLES {
            // Output 2n + r is 2 · Σ h[2i + r] · x[n - i] (the zero-stuffed
            // samples between contribute nothing; 2 restores the gain).
            let newest = UP_HISTORY + n;
            for r in 0..2 {
                let mut acc = 0f32;
                for (i, &c) in h.iter().skip(r).step_by(2).enumerate() {
                    acc += c * self.buf[newest - i];
                }
                out[2 * n + r] = (2.0 * acc).clamp(-32_768.0, 32_767.0) as i16;
            }
        }
        self.buf.copy_within(FRAME_SAMPLES.., 0);
    }
}

/// Halves a mix's rate: 320 samples at 16 kHz in, 160 at 8 kHz out,
/// low-passed first. Works on the `i32` mix (before the listener's limiter).
#[derive(Debug, Clone)]
pub(crate) struct Downsampler {
    /// The last `TAPS - 1` inputs, then this frame's.
    buf: [f32; TAPS - 1 + WIDE_FRAME_SAMPLES],
}

impl Downsampler {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0.0; TAPS - 1 + WIDE_FRAME_SAMPLES],
        }
    }

    /// Forgets the past.
    pub(crate) fn reset(&mut self) {
        self.buf.fill(0.0);
    }

    /// One frame.
    pub(crate) fn frame(
        &mut self,
        input: &[i32; WIDE_FRAME_SAMPLES],
        out: &mut [i32; FRAME_SAMPLES],
    ) {
        let h = taps();
        for (b, &x) in self.buf[TAPS - 1..].iter_mut().zip(input) {
            *b = x as f32;
        }
        for (n, o) in out.iter_mut().enumerate() {
            // Output n is the filter at 16 kHz sample 2n of this frame,
            // Σ h[j] · w[2n - j]: an even sample, so that with the
            // upsampler's delay a G.711 voice comes back a whole 31 samples late.
            let newest = TAPS - 1 + 2 * n;
            let mut acc = 0f32;
            for (j, &c) in h.iter().enumerate() {
                acc += c * self.buf[newest - j];
            }
            *o = acc.round() as i32;
        }
        self.buf.copy_within(WIDE_FRAME_SAMPLES.., 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{rms, sinad_at, tone_fraction_at};

    fn tone(freq: f64, rate: f64, amplitude: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amplitude * (std::f64::consts::TAU * freq * i as f64 / rate).sin()) as i16)
            .collect()
    }

    fn up(input: &[i16]) -> Vec<i16> {
        let mut u = Upsampler::new();
        let mut out = Vec::new();
        for chunk in input.chunks_exact(FRAME_SAMPLES) {
            let frame: Frame = chunk.try_into().unwrap_or([0; FRAME_SAMPLES]);
            let mut wide = [0; WIDE_FRAME_SAMPLES];
            u.frame(&frame, &mut wide);
            out.extend_from_slice(&wide);
        }
        out
    }

    fn down(input: &[i16]) -> Vec<i16> {
        let mut d = Downsampler::new();
        let mut out = Vec::new();
        for chunk in input.chunks_exact(WIDE_FRAME_SAMPLES) {
            let wide: [i32; WIDE_FRAME_SAMPLES] = std::array::from_fn(|i| i32::from(chunk[i]));
            let mut narrow = [0; FRAME_SAMPLES];
            d.frame(&wide, &mut narrow);
            out.extend(narrow.iter().map(|&s| s.clamp(-32_768, 32_767) as i16));
        }
        out
    }

    #[test]
    fn a_narrowband_tone_survives_up_and_down() {
        // 1004 Hz at -10 dBFS, a second of it, through both filters.
        let input = tone(1004.0, 8000.0, 10_362.0, 8000);
        let wide = up(&input);
        assert!(sinad_at(&wide[800..], 1004.0, 16_000) > 60.0);
        let back = down(&wide);
        let s = sinad_at(&back[400..], 1004.0, 8000);
        assert!(s > 60.0, "SINAD {s:.1} dB");
        // Same level, 31 samples later (the two filters' delays).
        for i in 400..8000 {
            let diff = (i32::from(back[i]) - i32::from(input[i - 31])).abs();
            assert!(diff < 40, "sample {i}: {} vs {}", back[i], input[i - 31]);
        }
    }

    #[test]
    fn downsampling_removes_what_would_alias() {
        // 6 kHz would fold to 2 kHz; 4.6 kHz to 3.4 kHz.
        for freq in [6000.0, 4600.0] {
            let out = down(&tone(freq, 16_000.0, 20_000.0, 16_000));
            let level = rms(&out[400..]);
            assert!(level < 10.0, "{freq} Hz leaves {level:.1} RMS");
        }
    }

    #[test]
    fn upsampling_adds_no_image_above_4_khz() {
        // A 3 kHz tone's image would be at 5 kHz.
        let wide = up(&tone(3000.0, 8000.0, 20_000.0, 8000));
        let image = tone_fraction_at(&wide[800..], 5000.0, 16_000);
        let tone = tone_fraction_at(&wide[800..], 3000.0, 16_000);
        assert!(tone > 0.99 && image < 1e-6, "image {image}, tone {tone}");
    }
}
