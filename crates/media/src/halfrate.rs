//! 8 kHz ↔ 16 kHz, a 20 ms frame at a time, for the wideband mix: a G.711
//! leg's voice is doubled in rate on its way in ([`Upsampler`]) and the mix
//! it hears is halved on its way out ([`Downsampler`]), low-passed first
//! so nothing above 4 kHz folds back into its band.
//!
//! One linear-phase FIR low-pass serves both ways: 63 taps at 16 kHz, a
//! Kaiser-windowed sinc cut at 3.9 kHz (β = 7: about −70 dB from 4.5 kHz
//! on, flat below 3.4 kHz). Upsampling stuffs a zero between samples and
//! filters, evaluated as its two polyphase halves (32 and 31 taps an
//! output sample); downsampling filters and keeps every other sample,
//! computing only those. Both are dot products of a fixed window, summed
//! eight lanes at a time so the compiler vectorises them. Each delays by 31 samples at 16 kHz, so a
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
/// Inputs one downsampled output reads (the taps and a zero, a multiple of [`LANES`]).
const DOWN_WINDOW: usize = TAPS + 1;
/// Inputs one upsampled output reads (the longer polyphase half).
const UP_WINDOW: usize = TAPS.div_ceil(2);
/// Products summed side by side (so the loop vectorises: an `f32` sum in
/// one accumulator must keep its order and cannot).
const LANES: usize = 8;

/// The low-pass laid out for the two loops: as a window over the newest
/// `DOWN_WINDOW` inputs (oldest first), and as the upsampler's two
/// polyphase halves over the newest `UP_WINDOW` inputs, times 2 (the gain
/// zero-stuffing takes away).
struct Kernels {
    down: [f32; DOWN_WINDOW],
    up: [[f32; UP_WINDOW]; 2],
}

fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(|| {
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
        let h = |j: usize| raw.get(j).map_or(0.0, |v| (v / sum) as f32);
        // Output n reads Σ h[j] · w[n - j]: window position k holds
        // w[n - (DOWN_WINDOW - 1) + k], so j = DOWN_WINDOW - 1 - k.
        let down = std::array::from_fn(|k| h(DOWN_WINDOW - 1 - k));
        // Output 2n + r is 2 · Σ h[2i + r] · x[n - i]; window position k
        // holds x[n - (UP_WINDOW - 1) + k], so i = UP_WINDOW - 1 - k.
        let up =
            std::array::from_fn(|r| std::array::from_fn(|k| 2.0 * h(2 * (UP_WINDOW - 1 - k) + r)));
        Kernels { down, up }
    })
}

/// `Σ c[k] · x[k]`.
#[inline]
fn dot(c: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (c, _) = c.as_chunks::<LANES>();
    let (x, _) = x.as_chunks::<LANES>();
    for (c, x) in c.iter().zip(x) {
        for l in 0..LANES {
            acc[l] += c[l] * x[l];
        }
    }
    acc.iter().sum()
}

/// Doubles a stream's rate: 160 samples at 8 kHz in, 320 at 16 kHz out.
#[derive(Debug, Clone)]
pub(crate) struct Upsampler {
    /// The last `UP_WINDOW - 1` inputs, then this frame's.
    buf: [f32; UP_WINDOW - 1 + FRAME_SAMPLES],
    /// The history is all zeros: a silent frame then needs no filtering
    /// (most legs of a big room are silent most of the time).
    quiet: bool,
}

impl Upsampler {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0.0; UP_WINDOW - 1 + FRAME_SAMPLES],
            quiet: true,
        }
    }

    /// Forgets the past (a stream starting again).
    pub(crate) fn reset(&mut self) {
        self.buf.fill(0.0);
        self.quiet = true;
    }

    /// One frame. The output saturates (a full-scale input can ring a
    /// little above full scale).
    pub(crate) fn frame(&mut self, input: &Frame, out: &mut WideFrame) {
        let silent = input.iter().all(|&x| x == 0);
        if silent && self.quiet {
            out.fill(0);
            return;
        }
        let k = kernels();
        for (b, &x) in self.buf[UP_WINDOW - 1..].iter_mut().zip(input) {
            *b = f32::from(x);
        }
        // A silent frame leaves a silent history once it fills the window.
        self.quiet = silent;
        for (n, pair) in out.chunks_exact_mut(2).enumerate() {
            let window = &self.buf[n..n + UP_WINDOW];
            for (o, phase) in pair.iter_mut().zip(&k.up) {
                *o = dot(phase, window).clamp(-32_768.0, 32_767.0) as i16;
            }
        }
        self.buf.copy_within(FRAME_SAMPLES.., 0);
    }
}

/// Halves a mix's rate: 320 samples at 16 kHz in, 160 at 8 kHz out,
/// low-passed first. Works on the `i32` mix (before the listener's limiter).
#[derive(Debug, Clone)]
pub(crate) struct Downsampler {
    /// The last `DOWN_WINDOW - 1` inputs, then this frame's.
    buf: [f32; DOWN_WINDOW - 1 + WIDE_FRAME_SAMPLES],
}

impl Downsampler {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0.0; DOWN_WINDOW - 1 + WIDE_FRAME_SAMPLES],
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
        let k = kernels();
        for (b, &x) in self.buf[DOWN_WINDOW - 1..].iter_mut().zip(input) {
            *b = x as f32;
        }
        for (n, o) in out.iter_mut().enumerate() {
            // Output n is the filter at this frame's 16 kHz sample 2n (an
            // even one, so that with the upsampler's delay a G.711 voice
            // comes back a whole 31 samples late).
            *o = dot(&k.down, &self.buf[2 * n..2 * n + DOWN_WINDOW]).round() as i32;
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
    fn silence_skips_the_filter_only_once_the_history_is_silent() {
        let mut u = Upsampler::new();
        let mut out = [1; WIDE_FRAME_SAMPLES];
        u.frame(&[0; FRAME_SAMPLES], &mut out);
        assert!(out.iter().all(|&s| s == 0));
        // A loud frame, then silence: the first silent frame still rings
        // out the filter's tail, the next is silence.
        u.frame(&[20_000; FRAME_SAMPLES], &mut out);
        u.frame(&[0; FRAME_SAMPLES], &mut out);
        assert!(out[..40].iter().any(|&s| s != 0), "the tail");
        assert!(out[80..].iter().all(|&s| s == 0));
        u.frame(&[0; FRAME_SAMPLES], &mut out);
        assert!(out.iter().all(|&s| s == 0));
        // Continuity: the same tone frame by frame, with or without
        // silence before, comes out the same once the history has refilled.
        let tone = tone(440.0, 8000.0, 8000.0, 320);
        let (a, b): (Frame, Frame) = (
            tone[..160].try_into().unwrap_or([0; 160]),
            tone[160..].try_into().unwrap_or([0; 160]),
        );
        let mut fresh = Upsampler::new();
        let (mut x, mut y) = ([0; WIDE_FRAME_SAMPLES], [0; WIDE_FRAME_SAMPLES]);
        fresh.frame(&a, &mut x);
        u.frame(&a, &mut y);
        assert_eq!(x, y);
        fresh.frame(&b, &mut x);
        u.frame(&b, &mut y);
        assert_eq!(x, y);
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
