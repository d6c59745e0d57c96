//! A listener's limiter: a loud mix is turned down, never clipped.
//!
//! Mix-minus hands each listener `total - own` as an `i32`; five talkers at
//! −3 dBFS add up to nearly three times full scale, which a plain clamp
//! turns into a square wave (40 % of the samples pinned at full scale).
//! This stage instead scales the sum by a gain that follows its peaks:
//!
//! - **Soft knee, no look-ahead.** Below [`KNEE`] (−2.5 dBFS) the curve is
//!   the identity; above it, a peak `e` comes out as
//!   `KNEE + (CEILING − KNEE)·(1 − exp(−(e − KNEE)/(CEILING − KNEE)))`:
//!   slope 1 at the knee (no corner), approaching [`CEILING`] and never
//!   passing it. CEILING sits below the lowest input G.711 codes as its top
//!   step (µ-law's 32124, A-law's 32256), so a limited mix is never sent at
//!   full scale. No look-ahead, because look-ahead would delay
//!   every listener's audio by its length even in a quiet room, and make
//!   the quiet room's output differ from its input in timing.
//! - **Instant attack, hold, slow release.** The gain drops at once to what
//!   the current sample needs (so no sample ever exceeds the ceiling: there
//!   is no overshoot to clip), is held for [`HOLD`] (a whole period of a
//!   low voice, so the gain does not ripple with the waveform and distort
//!   it), then recovers towards 1 with a [`RELEASE`] time constant. A
//!   steady loud mix is therefore scaled by a nearly constant gain: turned
//!   down, not reshaped.
//! - **Bit-exact below the knee.** While the gain is 1 and a sample is
//!   within the knee, it passes unchanged; the gain snaps back to exactly 1
//!   at the end of a release. A single talker at −3 dBFS, or any quiet
//!   room, is exactly what mix-minus gave before this stage existed.
//!
//! Each listener has one (its mix differs from everyone else's), so a tick
//! costs O(N) in all: one comparison per sample while idle, a few float
//! operations per sample while limiting, no allocation.

/// Peaks up to this pass unchanged (0.75 of full scale, −2.5 dBFS).
pub const KNEE: i32 = 24_576;
/// The asymptote of the curve: no output sample passes it. Below µ-law's
/// top decision level (31 612) and A-law's (31 744).
pub const CEILING: i32 = 31_000;
/// How long a reduced gain is held before it recovers (15 ms: one period of
/// a 67 Hz voice).
pub const HOLD: u32 = 120;
/// The recovery's time constant, in samples (80 ms).
pub const RELEASE: f32 = 640.0;
/// A sample whose own need is within this factor of the gain (0.8 dB)
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
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    /// A limiter at unity gain.
    #[must_use]
    pub fn new() -> Self {
        Self { gain: 1.0, hold: 0 }
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

    /// Limits one sample of a mix.
    #[inline]
    pub fn sample(&mut self, x: i32) -> i16 {
        let level = x.unsigned_abs();
        if self.gain >= 1.0 && level <= KNEE.unsigned_abs() {
            // The common case: idle and within the knee, bit-exact.
            return x as i16;
        }
        self.limit(x, level)
    }

    fn limit(&mut self, x: i32, level: u32) -> i16 {
        // What this sample needs: the curve's output for it over its level.
        let needed = if level > KNEE.unsigned_abs() {
            curve(level as f32) / level as f32
        } else {
            1.0
        };
        if needed <= self.gain {
            self.gain = needed;
            self.hold = HOLD;
        } else if needed < 1.0 && needed < self.gain * RENEW {
            // A peak nearly as loud as the one that set the gain: keep it.
            self.hold = HOLD;
        } else if self.hold > 0 {
            self.hold -= 1;
        } else {
            // Recover towards 1, but never above what this sample allows.
            let recovered = self.gain + (1.0 - self.gain) / RELEASE;
            self.gain = if 1.0 - recovered <= UNITY_SNAP {
                1.0
            } else {
                recovered
            }
            .min(needed);
        }
        if self.gain >= 1.0 {
            return saturate(x);
        }
        saturate((x as f32 * self.gain).round() as i32)
    }
}

/// The soft knee: identity up to [`KNEE`], then bending towards [`CEILING`].
fn curve(level: f32) -> f32 {
    let (knee, ceiling) = (KNEE as f32, CEILING as f32);
    if level <= knee {
        return level;
    }
    let room = ceiling - knee;
    knee + room * (1.0 - (-(level - knee) / room).exp())
}

/// A last guard: the curve already keeps every sample inside `i16`.
fn saturate(x: i32) -> i16 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amplitude: f64, n: usize) -> f64 {
        amplitude * (std::f64::consts::TAU * freq * n as f64 / 8000.0).sin()
    }

    #[test]
    fn below_the_knee_is_bit_exact() {
        let mut l = Limiter::new();
        for x in -KNEE..=KNEE {
            assert_eq!(i32::from(l.sample(x)), x);
        }
        assert!(l.is_idle());
    }

    #[test]
    fn the_curve_is_smooth_and_bounded() {
        assert_eq!(curve(KNEE as f32), KNEE as f32);
        // Slope 1 at the knee, rising, below the ceiling however loud.
        let just = curve(KNEE as f32 + 10.0) - KNEE as f32;
        assert!((9.9..=10.0).contains(&just), "{just}");
        let mut last = 0.0;
        for level in (KNEE..i32::MAX / 2).step_by(1 << 16) {
            let y = curve(level as f32);
            assert!(y >= last && y <= CEILING as f32, "{level}: {y}");
            last = y;
        }
        // A full-scale single voice comes out about 1 dB down.
        let g = curve(32_767.0) / 32_767.0;
        assert!((0.87..0.91).contains(&g), "{g}");
    }

    #[test]
    fn any_input_stays_under_the_ceiling_and_keeps_its_sign() {
        for x in [
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
        ] {
            // Fresh, and after the loudest input set the gain near zero.
            let mut shared = Limiter::new();
            let _ = shared.sample(i32::MAX);
            let y = i32::from(Limiter::new().sample(x));
            assert!(y.abs() <= CEILING, "{x} → {y}");
            assert_eq!(y.signum(), x.signum(), "{x} → {y}");
            let y = i32::from(shared.sample(x));
            assert!(
                y.abs() <= CEILING && y.signum() * x.signum() >= 0,
                "{x} → {y}"
            );
        }
    }

    #[test]
    fn a_steady_loud_tone_is_scaled_not_reshaped_and_recovers_exactly() {
        // Four times −3 dBFS in phase: the gain settles after the first peak.
        let mut l = Limiter::new();
        let amplitude = 4.0 * 23_197.0;
        let out: Vec<i16> = (0..1600)
            .map(|n| l.sample(sine(400.0, amplitude, n).round() as i32))
            .collect();
        let settled = &out[40..];
        let peak = settled
            .iter()
            .map(|s| i32::from(*s).abs())
            .max()
            .unwrap_or(0);
        assert!(peak <= CEILING && peak > CEILING - 200, "{peak}");
        // Linear: each sample is the input times one gain.
        let g = f64::from(l.gain());
        for (n, &y) in settled.iter().enumerate() {
            let expected = sine(400.0, amplitude, n + 40).round() * g;
            assert!(
                (f64::from(y) - expected).abs() <= 1.0,
                "{n}: {y} vs {expected}"
            );
        }
        // Quiet again: after the hold and a few time constants the gain is 1
        // and samples pass bit-exact.
        for _ in 0..(HOLD as usize + 20 * RELEASE as usize) {
            let _ = l.sample(100);
        }
        assert!(l.is_idle());
        assert_eq!(l.sample(12_345), 12_345);
    }
}
