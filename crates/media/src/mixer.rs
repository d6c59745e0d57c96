//! Mix-minus: everyone hears the sum of everyone else, never themselves.
//!
//! Each tick the contributing frames are added once into an `i32` total
//! (no overflow: 2^16 full-scale legs would be needed to wrap it); each
//! listener's output is then `total - own`, passed through that listener's
//! [`Limiter`] into `i16` (turned down when loud, bit-exact below the knee).
//! That is O(N) per tick instead of the O(N²) of summing "all but me" for
//! each listener, and because the subtraction happens before the limiter, a
//! listener never hears even a limited trace of itself. The mixer owns its
//! accumulator, so a tick allocates nothing.
//!
//! Who contributes (not muted, not held, room started, audio present) is the
//! room's decision; the mixer only adds and subtracts.
//!
//! `N` is the samples of a tick: [`FRAME_SAMPLES`] at 8 kHz (the default),
//! [`crate::WIDE_FRAME_SAMPLES`] for a room that mixes at 16 kHz.

use crate::FRAME_SAMPLES;
use crate::limiter::Limiter;

/// One tick's accumulator.
#[derive(Debug, Clone)]
pub struct Mixer<const N: usize = FRAME_SAMPLES> {
    total: [i32; N],
}

impl<const N: usize> Default for Mixer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Mixer<N> {
    /// An empty mixer.
    #[must_use]
    pub fn new() -> Self {
        Self { total: [0; N] }
    }

    /// Starts a tick: the total becomes silence.
    pub fn clear(&mut self) {
        self.total.fill(0);
    }

    /// Adds a contribution to the total.
    pub fn add(&mut self, frame: &[i16; N]) {
        for (t, &s) in self.total.iter_mut().zip(frame) {
            *t += i32::from(s);
        }
    }

    /// Writes `total - own` into `out` through the listener's `limiter`.
    /// Pass `None` for a listener that contributed nothing this tick (muted,
    /// silent, or someone who only listens).
    pub fn output_minus(&self, own: Option<&[i16; N]>, limiter: &mut Limiter, out: &mut [i16; N]) {
        // The common case first: the mix saturated into `out` (as it was
        // before the limiter), kept if the limiter would pass it unchanged.
        // Saturation changes nothing within the knee, so the saturated
        // frame's own peak says whether it is within it.
        match own {
            Some(own) => {
                for ((o, &t), &s) in out.iter_mut().zip(&self.total).zip(own) {
                    *o = saturate(t - i32::from(s));
                }
            }
            None => {
                for (o, &t) in out.iter_mut().zip(&self.total) {
                    *o = saturate(t);
                }
            }
        }
        let low = out.iter().copied().min().unwrap_or(0);
        let high = out.iter().copied().max().unwrap_or(0);
        if limiter.passes(low.unsigned_abs().max(high.unsigned_abs()).into()) {
            return;
        }
        let mut mix = [0; N];
        self.minus(own, &mut mix);
        limiter.frame(&mix, out);
    }

    /// Writes `total - own` into `out` as it is, before any limiter (for a
    /// mix that is resampled or added to first).
    pub fn minus(&self, own: Option<&[i16; N]>, out: &mut [i32; N]) {
        out.copy_from_slice(&self.total);
        if let Some(own) = own {
            for (m, &s) in out.iter_mut().zip(own) {
                *m -= i32::from(s);
            }
        }
    }

    /// Adds `extra` on top of an output already written, saturating (for
    /// sounds that are not part of the mix, like a beep over wait music).
    pub fn overlay(out: &mut [i16; N], extra: &[i16; N]) {
        for (o, &e) in out.iter_mut().zip(extra) {
            *o = o.saturating_add(e);
        }
    }
}

fn saturate(x: i32) -> i16 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Frame;
    use crate::goertzel::tone_fraction;

    const TONES: [f64; 3] = [400.0, 700.0, 1100.0];

    /// A continuous sine source, 20 ms at a time.
    struct Sine {
        freq: f64,
        amplitude: f64,
        n: usize,
    }

    impl Sine {
        fn next(&mut self) -> Frame {
            let mut f = [0; FRAME_SAMPLES];
            for s in &mut f {
                let t = self.n as f64 / 8000.0;
                *s = (self.amplitude * (std::f64::consts::TAU * self.freq * t).sin()) as i16;
                self.n += 1;
            }
            f
        }
    }

    /// Runs `ticks` ticks; `muted(tick, leg)` says who is muted; returns each leg's output.
    fn run(ticks: usize, amplitude: f64, muted: impl Fn(usize, usize) -> bool) -> Vec<Vec<Frame>> {
        let mut sources: Vec<Sine> = TONES
            .iter()
            .map(|&freq| Sine {
                freq,
                amplitude,
                n: 0,
            })
            .collect();
        let mut mixer = Mixer::new();
        let mut limiters = [Limiter::new(); 3];
        let mut outputs = vec![Vec::new(); 3];
        for tick in 0..ticks {
            let inputs: Vec<Frame> = sources.iter_mut().map(Sine::next).collect();
            mixer.clear();
            for (leg, frame) in inputs.iter().enumerate() {
                if !muted(tick, leg) {
                    mixer.add(frame);
                }
            }
            for (leg, out) in outputs.iter_mut().enumerate() {
                let own = (!muted(tick, leg)).then_some(&inputs[leg]);
                let mut frame = [0; FRAME_SAMPLES];
                mixer.output_minus(own, &mut limiters[leg], &mut frame);
                out.push(frame);
            }
        }
        outputs
    }

    #[test]
    fn each_leg_hears_the_other_two_and_not_itself() {
        let outputs = run(50, 6000.0, |_, _| false);
        for (leg, frames) in outputs.iter().enumerate() {
            let pcm = frames.concat();
            for (other, &freq) in TONES.iter().enumerate() {
                let f = tone_fraction(&pcm, freq);
                if other == leg {
                    assert!(f < 1e-4, "leg {leg} hears itself: {f}");
                } else {
                    assert!(f > 0.45, "leg {leg} misses {freq} Hz: {f}");
                }
            }
        }
    }

    #[test]
    fn muting_removes_a_tone_from_the_next_tick() {
        // Leg 0 (400 Hz) is muted from tick 10 on.
        let outputs = run(20, 6000.0, |tick, leg| leg == 0 && tick >= 10);
        for listener in [1, 2] {
            assert!(tone_fraction(&outputs[listener][9], TONES[0]) > 0.3);
            for (tick, frame) in outputs[listener].iter().enumerate().skip(10) {
                let f = tone_fraction(frame, TONES[0]);
                assert!(f < 1e-4, "tick {tick}: {f}");
            }
        }
        // The muted leg still hears both others.
        let pcm = outputs[0][10..].concat();
        assert!(tone_fraction(&pcm, TONES[1]) > 0.45);
        assert!(tone_fraction(&pcm, TONES[2]) > 0.45);
    }

    #[test]
    fn a_loud_sum_is_limited_instead_of_clipped_or_wrapped() {
        use crate::limiter::CEILING;
        let mut mixer = Mixer::new();
        let mut limiter = Limiter::new();
        let loud = [i16::MAX; FRAME_SAMPLES];
        let quiet_neg = [i16::MIN; FRAME_SAMPLES];
        mixer.add(&loud);
        mixer.add(&loud);
        let mut out = [0; FRAME_SAMPLES];
        mixer.output_minus(None, &mut limiter, &mut out);
        assert!(out.iter().all(|&s| s > 0 && i32::from(s) <= CEILING));
        // Minus own: exactly the other leg, limited like any full-scale voice.
        let mut limiter = Limiter::new();
        mixer.output_minus(Some(&loud), &mut limiter, &mut out);
        assert!(out.iter().all(|&s| s > 27_000 && i32::from(s) <= CEILING));
        mixer.clear();
        mixer.add(&quiet_neg);
        mixer.add(&quiet_neg);
        mixer.add(&quiet_neg);
        mixer.output_minus(Some(&quiet_neg), &mut limiter, &mut out);
        assert!(out.iter().all(|&s| s < 0 && i32::from(s) >= -CEILING));
        // Two full-scale sines in phase: a listener gets the wave turned
        // down (one gain for the whole frame once the first peak has set
        // it), with the sign of the input on every sample (a wrap would flip it).
        let mut sine = Sine {
            freq: 400.0,
            amplitude: 32767.0,
            n: 0,
        };
        let wave = sine.next();
        mixer.clear();
        mixer.add(&wave);
        mixer.add(&wave);
        let mut limiter = Limiter::new();
        mixer.output_minus(None, &mut limiter, &mut out);
        for (&o, &w) in out.iter().zip(&wave) {
            assert_eq!(o.signum(), w.signum());
            assert!(i32::from(o).abs() <= CEILING);
        }
        assert!(tone_fraction(&out[20..], 400.0) > 0.99);
        let mut out = [7; FRAME_SAMPLES];
        Mixer::overlay(&mut out, &[i16::MAX; FRAME_SAMPLES]);
        assert!(out.iter().all(|&s| s == i16::MAX));
    }

    #[test]
    fn a_mix_within_the_knee_is_the_exact_sum() {
        let outputs = run(50, 8000.0, |_, _| false);
        let mut sources: Vec<Sine> = TONES
            .iter()
            .map(|&freq| Sine {
                freq,
                amplitude: 8000.0,
                n: 0,
            })
            .collect();
        for tick in 0..50 {
            let inputs: Vec<Frame> = sources.iter_mut().map(Sine::next).collect();
            for (leg, out) in outputs.iter().enumerate() {
                for (i, &o) in out[tick].iter().enumerate() {
                    let expected: i32 = (0..3)
                        .filter(|&other| other != leg)
                        .map(|other| i32::from(inputs[other][i]))
                        .sum();
                    assert_eq!(i32::from(o), expected);
                }
            }
        }
    }
}
