//! A listener's limiter: a loud mix is turned down, never clipped.
//!
//! Mix-minus hands each listener `total - own` as an `i32`; five talkers at
//! −3 dBFS add up to nearly three times full scale, which a plain clamp
//! turns into a square wave (35–40 % of the samples pinned at full scale).
//! This stage instead scales the sum by a gain that follows its peaks:
//!
//! - **Soft knee, no look-ahead.** Below [`KNEE`] (−2.5 dBFS) the curve is
//!   the identity; above it, with `R = CEILING − KNEE` and `u = e − KNEE`,
//!   a peak `e` comes out as `KNEE + R·u/(u + R)`: slope 1 at the knee (no
//!   corner), approaching [`CEILING`] and never passing it. CEILING sits
//!   below the lowest input G.711 codes as its top step (µ-law's 32124,
//!   A-law's 32256), so a limited mix is never sent at full scale. No
//!   look-ahead, because look-ahead would delay every listener's audio by
//!   its length even in a quiet room.
//! - **Instant attack, hold, slow release,** a [`BLOCK`] (1 ms) at a time.
//!   Each block's gain is at most what its loudest sample needs (so no
//!   sample ever exceeds the ceiling: there is no overshoot to clip); a
//!   reduced gain is held for [`HOLD`] (a whole period of a low voice, so
//!   it does not ripple with the waveform and distort it), renewed by every
//!   peak nearly as loud, then recovers towards 1 with a [`RELEASE`] time
//!   constant, ramped sample by sample. A steady loud mix is therefore
//!   scaled by one constant gain: turned down, not reshaped.
//! - **Bit-exact below the knee.** While the gain is 1 and a block stays
//!   within the knee, it passes unchanged; the gain snaps back to exactly 1
//!   at the end of a release. A single talker at −3 dBFS, or any quiet
//!   room, is exactly what mix-minus gave before this stage existed.
//!
//! The times are counted at 8 kHz; a limiter for a 16 kHz mix
//! ([`Limiter::wide`]) counts twice the samples for each, so it acts the
//! same in time.
//!
//! Each listener has one (its mix differs from everyone else's), so a tick
//! costs O(N) in all, with no allocation: an idle limiter finds a frame's
//! peak and copies it; a limiting one works out one gain a block and
//! multiplies (loops the compiler vectorises).

#[cfg(test)]
use crate::FRAME_SAMPLES;

/// Peaks up to this pass unchanged (0.75 of full scale, −2.5 dBFS).
pub const KNEE: i32 = 24_576;
/// The asymptote of the curve: no output sample passes it. Below µ-law's
/// top decision level (31 612) and A-law's (31 744).
pub const CEILING: i32 = 31_000;
/// Samples at 8 kHz that share one gain decision (1 ms).
pub const BLOCK: usize = 8;
/// How long a reduced gain is held before it recovers, in samples at 8 kHz
/// (15 ms: one period of a 67 Hz voice).
pub const HOLD: u32 = 120;
/// The recovery's time constant, in samples at 8 kHz (80 ms).
pub const RELEASE: f32 = 640.0;
/// A block whose own need is within this factor of the gain (0.8 dB)
/// renews the hold: the next peak of a steady sound is rarely exactly as
/// loud as the last.
const RENEW: f32 = 1.1;
/// Within this of 1, a recovering gain becomes exactly 1 (a step of at most
/// 8 in a full-scale sample; an `f32` release would stall short of 1).
const UNITY_SNAP: f32 = 1.0 / 4096.0;

/// One listener's limiter state. See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Limiter {
    gain: f32,
    /// Samples the current gain is still held for.
    hold: u32,
    /// Samples a millisecond, over 8: 1 at 8 kHz, 2 at 16 kHz.
    rate: u32,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    /// A limiter at unity gain, for an 8 kHz mix.
    #[must_use]
    pub fn new() -> Self {
        Self {
            gain: 1.0,
            hold: 0,
            rate: 1,
        }
    }

    /// A limiter at unity gain, for a 16 kHz mix.
    #[must_use]
    pub fn wide() -> Self {
        Self {
            rate: 2,
            ..Self::new()
        }
    }

    /// Whether the gain is exactly 1 (nothing is being turned down).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.gain >= 1.0
    }

    /// The current gain (1.0 when idle).
    #[must_use]
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Whether a frame whose largest magnitude is `peak` passes unchanged
    /// (the limiter is idle and the frame within the knee): then
    /// [`Limiter::frame`] would copy it and change no state.
    #[must_use]
    pub fn passes(&self, peak: u32) -> bool {
        self.is_idle() && peak <= KNEE.unsigned_abs()
    }

    /// Limits one frame of a mix into `out` (as long as `mix`; a frame is
    /// a whole number of blocks).
    pub fn frame(&mut self, mix: &[i32], out: &mut [i16]) {
        if self.passes(peak(mix)) {
            // The common case: idle and within the knee, bit-exact.
            for (o, &x) in out.iter_mut().zip(mix) {
                *o = x as i16;
            }
            return;
        }
        let block = BLOCK * self.rate as usize;
        for (o, x) in out.chunks_exact_mut(block).zip(mix.chunks_exact(block)) {
            self.block(x, o);
        }
    }

    fn block(&mut self, x: &[i32], out: &mut [i16]) {
        let level = peak(x);
        // What the block's loudest sample needs: the curve's output over its
        // level (every quieter sample needs more, the curve being concave).
        let needed = if level > KNEE.unsigned_abs() {
            curve(level as f32) / level as f32
        } else {
            1.0
        };
        let start = self.gain;
        let hold = HOLD * self.rate;
        if needed <= self.gain {
            self.gain = needed;
            self.hold = hold;
        } else if needed < 1.0 && needed < self.gain * RENEW {
            self.hold = hold;
        } else if self.hold > 0 {
            self.hold = self.hold.saturating_sub(x.len() as u32);
        } else {
            // The same fraction of the way back a block at either rate.
            let recovered = self.gain + (1.0 - self.gain) * (BLOCK as f32 / RELEASE);
            self.gain = if 1.0 - recovered <= UNITY_SNAP {
                1.0
            } else {
                recovered
            }
            .min(needed);
        }
        if start >= 1.0 && self.gain >= 1.0 {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = x as i16;
            }
            return;
        }
        // Products truncated towards zero, so no sample comes out louder
        // than the curve allows (and the loop vectorises); a recovering
        // gain ramps up from the last one, never above this block's.
        let end = self.gain;
        if end > start {
            let step = (end - start) / x.len() as f32;
            for (i, (o, &x)) in out.iter_mut().zip(x).enumerate() {
                let g = (start + step * (i + 1) as f32).min(end);
                *o = scale(x, g);
            }
        } else {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = scale(x, end);
            }
        }
    }
}

/// The largest magnitude in `x`.
fn peak(x: &[i32]) -> u32 {
    x.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0)
}

/// The soft knee: identity up to [`KNEE`], then bending towards [`CEILING`].
fn curve(level: f32) -> f32 {
    let (knee, ceiling) = (KNEE as f32, CEILING as f32);
    if level <= knee {
        return level;
    }
    let (room, over) = (ceiling - knee, level - knee);
    knee + room * over / (over + room)
}

/// `x · gain`, truncated towards zero. The clamp is a last guard (the
/// curve already keeps every product inside `i16`) that also lets the
/// conversion vectorise.
#[inline]
fn scale(x: i32, gain: f32) -> i16 {
    (x as f32 * gain).clamp(-32_768.0, 32_767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sine(freq: f64, amplitude: f64, n: usize) -> f64 {
        amplitude * (std::f64::consts::TAU * freq * n as f64 / 8000.0).sin()
    }

    /// Frame `k` of a sine (samples `k·160 ..`).
    fn sine_frame(freq: f64, amplitude: f64, k: usize) -> [i32; FRAME_SAMPLES] {
        std::array::from_fn(|i| sine(freq, amplitude, k * FRAME_SAMPLES + i).round() as i32)
    }

    #[test]
    fn below_the_knee_is_bit_exact() {
        let mut l = Limiter::new();
        let all: Vec<i32> = (-KNEE..=KNEE).collect();
        for chunk in all.chunks_exact(FRAME_SAMPLES) {
            let mix: [i32; FRAME_SAMPLES] = chunk.try_into().unwrap_or([0; FRAME_SAMPLES]);
            let mut out = [0; FRAME_SAMPLES];
            l.frame(&mix, &mut out);
            assert!(out.iter().zip(&mix).all(|(&y, &x)| i32::from(y) == x));
        }
        assert!(l.is_idle());
    }

    #[test]
    fn the_curve_is_smooth_and_bounded() {
        assert_eq!(curve(KNEE as f32), KNEE as f32);
        // Slope 1 at the knee, rising, never above the ceiling however loud.
        let just = curve(KNEE as f32 + 10.0) - KNEE as f32;
        assert!((9.9..=10.0).contains(&just), "{just}");
        let mut last = 0.0;
        for level in (KNEE..i32::MAX / 2).step_by(1 << 16) {
            let y = curve(level as f32);
            assert!(y >= last && y <= CEILING as f32, "{level}: {y}");
            last = y;
        }
        // A full-scale single voice comes out about 1.3 dB down.
        let g = curve(32_767.0) / 32_767.0;
        assert!((0.84..0.88).contains(&g), "{g}");
    }

    #[test]
    fn any_input_stays_under_the_ceiling_and_keeps_its_sign() {
        let values = [
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 20,
            -(1 << 20),
            98_301,
            -98_301,
            KNEE + 1,
            -KNEE - 1,
            0,
            5,
            -5,
        ];
        let mut mix = [0i32; FRAME_SAMPLES];
        for (i, m) in mix.iter_mut().enumerate() {
            *m = values[i % values.len()];
        }
        // Fresh, and after the loudest input set the gain near zero.
        let mut shared = Limiter::new();
        let mut out = [0; FRAME_SAMPLES];
        shared.frame(&[i32::MAX; FRAME_SAMPLES], &mut out);
        for l in [&mut Limiter::new(), &mut shared] {
            l.frame(&mix, &mut out);
            for (&y, &x) in out.iter().zip(&mix) {
                let y = i32::from(y);
                assert!(
                    y.abs() <= CEILING && y.signum() * x.signum() >= 0,
                    "{x} → {y}"
                );
            }
        }
    }

    #[test]
    fn a_steady_loud_tone_is_scaled_not_reshaped_and_recovers_exactly() {
        // Four times −3 dBFS in phase: the gain settles in the first block.
        let mut l = Limiter::new();
        let amplitude = 4.0 * 23_197.0;
        let mut out = Vec::new();
        for k in 0..10 {
            let mut frame = [0; FRAME_SAMPLES];
            l.frame(&sine_frame(400.0, amplitude, k), &mut frame);
            out.extend_from_slice(&frame);
        }
        let settled = &out[BLOCK..];
        let peak = settled
            .iter()
            .map(|s| i32::from(*s).abs())
            .max()
            .unwrap_or(0);
        assert!(peak <= CEILING && peak > CEILING - 1000, "{peak}");
        // Linear: each sample is the input times one gain (truncated).
        let g = f64::from(l.gain());
        for (n, &y) in settled.iter().enumerate() {
            let expected = sine(400.0, amplitude, n + BLOCK).round() * g;
            assert!(
                (f64::from(y) - expected).abs() <= 2.0,
                "{n}: {y} vs {expected}"
            );
        }
        // Quiet again: after the hold and a few time constants the gain is 1
        // and samples pass bit-exact.
        let quiet = sine_frame(400.0, 12_000.0, 0);
        for _ in 0..(HOLD as usize + 20 * RELEASE as usize) / FRAME_SAMPLES {
            l.frame(&quiet, &mut [0; FRAME_SAMPLES]);
        }
        assert!(l.is_idle());
        let mut frame = [0; FRAME_SAMPLES];
        l.frame(&quiet, &mut frame);
        assert!(frame.iter().zip(&quiet).all(|(&y, &x)| i32::from(y) == x));
    }

    #[test]
    fn a_burst_is_turned_down_at_once_and_released_smoothly() {
        // Quiet, 200 ms of a loud sum, quiet again: no sample over the
        // ceiling, and the release never steps more than the wave itself.
        let mut l = Limiter::new();
        let mut out = Vec::new();
        for k in 0..60 {
            let amplitude = if (10..20).contains(&k) {
                90_000.0
            } else {
                20_000.0
            };
            let mut frame = [0; FRAME_SAMPLES];
            l.frame(&sine_frame(300.0, amplitude, k), &mut frame);
            out.extend_from_slice(&frame);
        }
        assert!(out.iter().all(|&y| i32::from(y).abs() <= CEILING));
        let natural = (20_000.0 * (std::f64::consts::TAU * 300.0 / 8000.0)) as i32 + 1;
        let after = &out[20 * FRAME_SAMPLES..];
        let step = after
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0);
        assert!(step <= natural, "{step} vs {natural}");
        assert!(l.is_idle());
    }

    proptest! {
        #[test]
        fn arbitrary_mixes_never_pass_the_ceiling_or_flip_a_sign(
            frames in proptest::collection::vec(
                (proptest::collection::vec(any::<i32>(), FRAME_SAMPLES), 0u32..=31), 1..20)
        ) {
            let mut l = Limiter::new();
            for (samples, shift) in frames {
                // Every scale, from a few LSBs to the whole i32 range.
                let mix: [i32; FRAME_SAMPLES] = std::array::from_fn(|i| samples[i] >> shift);
                let idle = l.passes(peak(&mix));
                let mut out = [0; FRAME_SAMPLES];
                l.frame(&mix, &mut out);
                for (&y, &x) in out.iter().zip(&mix) {
                    let y = i32::from(y);
                    prop_assert!(y.abs() <= CEILING && y.signum() * x.signum() >= 0);
                    if idle {
                        prop_assert_eq!(y, x);
                    }
                }
            }
        }
    }
}
