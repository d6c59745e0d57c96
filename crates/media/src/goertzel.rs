//! A Goertzel tone detector: how much of a signal's energy sits at one frequency.
//!
//! The mixer tests, the room scenarios and the end-to-end tests all ask the
//! same question ("does this leg hear 700 Hz, and not its own 400 Hz?"), so
//! the detector lives here, once, rather than in each test. In-band DTMF
//! ([`crate::inband`]) asks it too, so [`Goertzel`] is always built; the
//! shorthands `tone_fraction` and `rms`, and `sinad` (how clean a test
//! tone came through), are for tests only (`cfg(test)` or the `test-util`
//! feature).

/// Power at one frequency, computed by the Goertzel recurrence.
#[derive(Debug, Clone, Copy)]
pub struct Goertzel {
    coeff: f64,
    cos: f64,
    sin: f64,
}

impl Goertzel {
    /// A detector for `freq_hz` in a signal sampled at `rate_hz`.
    #[must_use]
    pub fn new(freq_hz: f64, rate_hz: f64) -> Self {
        let w = std::f64::consts::TAU * freq_hz / rate_hz;
        Self {
            coeff: 2.0 * w.cos(),
            cos: w.cos(),
            sin: w.sin(),
        }
    }

    /// |X(f)|², the squared magnitude of the signal's DTFT at the frequency.
    #[must_use]
    pub fn magnitude_squared(&self, samples: &[i16]) -> f64 {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) + self.coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let re = s1 - s2 * self.cos;
        let im = s2 * self.sin;
        re * re + im * im
    }

    /// |X(f)|² at each of `bank`'s frequencies, in one pass over `samples`:
    /// the recurrences are independent, so they run side by side instead of
    /// one after another (what [`Goertzel::magnitude_squared`] on each
    /// would give, in a fraction of the time).
    #[must_use]
    pub fn bank_magnitudes_squared<const N: usize>(bank: &[Self; N], samples: &[i16]) -> [f64; N] {
        let coeff = bank.map(|g| g.coeff);
        let mut s1 = [0.0f64; N];
        let mut s2 = [0.0f64; N];
        for &x in samples {
            let x = f64::from(x);
            for ((s1, s2), coeff) in s1.iter_mut().zip(&mut s2).zip(&coeff) {
                let s0 = x + coeff * *s1 - *s2;
                *s2 = *s1;
                *s1 = s0;
            }
        }
        let mut out = [0.0; N];
        for (((out, g), s1), s2) in out.iter_mut().zip(bank).zip(s1).zip(s2) {
            let re = s1 - s2 * g.cos;
            let im = s2 * g.sin;
            *out = re * re + im * im;
        }
        out
    }

    /// The fraction of the signal's energy at this frequency: about 1.0 for a
    /// pure tone spanning a whole number of periods, about 0.0 when the tone
    /// is absent, 1/n for each of n equal tones. Silence gives 0.0.
    #[must_use]
    pub fn fraction(&self, samples: &[i16]) -> f64 {
        let energy: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
        if energy == 0.0 || samples.is_empty() {
            return 0.0;
        }
        2.0 * self.magnitude_squared(samples) / (samples.len() as f64 * energy)
    }
}

/// Shorthand: the fraction of energy at `freq_hz` in 8 kHz `samples`.
#[cfg(any(test, feature = "test-util"))]
#[must_use]
pub fn tone_fraction(samples: &[i16], freq_hz: f64) -> f64 {
    tone_fraction_at(samples, freq_hz, crate::SAMPLE_RATE)
}

/// [`tone_fraction`] of `samples` taken at `rate_hz` (16 kHz for a wideband leg).
#[cfg(any(test, feature = "test-util"))]
#[must_use]
pub fn tone_fraction_at(samples: &[i16], freq_hz: f64, rate_hz: u32) -> f64 {
    Goertzel::new(freq_hz, f64::from(rate_hz)).fraction(samples)
}

/// Root-mean-square level of `samples`, in sample units (0.0 for an empty slice).
#[cfg(any(test, feature = "test-util"))]
#[must_use]
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let energy: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    (energy / samples.len() as f64).sqrt()
}

/// SINAD of a tone at `freq_hz` in 8 kHz `samples`, in dB: the signal's
/// energy (about its mean) over what is left once the tone is notched out.
/// The notch is a least-squares fit of `a·cos + b·sin + c` at exactly that
/// frequency over the slice (IEEE 1057's three-parameter sine fit), so a
/// splice, a click, a phase jump or a level change inside the slice all
/// count as distortion. A pure tone gives `f64::INFINITY`; silence gives 0.
#[cfg(any(test, feature = "test-util"))]
#[must_use]
pub fn sinad(samples: &[i16], freq_hz: f64) -> f64 {
    sinad_at(samples, freq_hz, crate::SAMPLE_RATE)
}

/// [`sinad`] of `samples` taken at `rate_hz`.
#[cfg(any(test, feature = "test-util"))]
#[must_use]
pub fn sinad_at(samples: &[i16], freq_hz: f64, rate_hz: u32) -> f64 {
    let w = std::f64::consts::TAU * freq_hz / f64::from(rate_hz);
    let basis = |n: usize| [(w * n as f64).cos(), (w * n as f64).sin(), 1.0];
    // Normal equations: (BᵀB) p = Bᵀx.
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for (n, &x) in samples.iter().enumerate() {
        let b = basis(n);
        for i in 0..3 {
            v[i] += b[i] * f64::from(x);
            for j in 0..3 {
                m[i][j] += b[i] * b[j];
            }
        }
    }
    let Some(p) = solve3(m, v) else {
        return 0.0;
    };
    let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / samples.len() as f64;
    let (mut total, mut residual) = (0.0, 0.0);
    for (n, &x) in samples.iter().enumerate() {
        let b = basis(n);
        let fit = p[0] * b[0] + p[1] * b[1] + p[2] * b[2];
        total += (f64::from(x) - mean).powi(2);
        residual += (f64::from(x) - fit).powi(2);
    }
    if total == 0.0 {
        0.0
    } else if residual == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (total / residual).log10()
    }
}

/// Solves a 3×3 system by Cramer's rule; `None` when it is singular.
#[cfg(any(test, feature = "test-util"))]
fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> Option<[f64; 3]> {
    let det = |a: [[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut a = m;
        for (row, &x) in a.iter_mut().zip(&v) {
            row[k] = x;
        }
        *o = det(a) / d;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, amplitude: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amplitude * (std::f64::consts::TAU * freq * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn finds_a_pure_tone_and_nothing_else() {
        let x = tone(700.0, 10_000.0, 8000);
        assert!(tone_fraction(&x, 700.0) > 0.99);
        assert!(tone_fraction(&x, 400.0) < 0.001);
        assert!(tone_fraction(&x, 1100.0) < 0.001);
    }

    #[test]
    fn splits_energy_between_tones() {
        let a = tone(400.0, 8000.0, 8000);
        let b = tone(1100.0, 8000.0, 8000);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let f = tone_fraction(&mix, 400.0);
        assert!((0.45..0.55).contains(&f), "{f}");
        assert!(tone_fraction(&mix, 700.0) < 0.001);
    }

    #[test]
    fn sinad_sees_quantisation_and_a_phase_jump() {
        let clean = tone(1004.0, 10_000.0, 400);
        assert!(sinad(&clean, 1004.0) > 60.0, "{}", sinad(&clean, 1004.0));
        // µ-law's quantisation alone: its well-known ~37 dB.
        let mu: Vec<i16> = clean
            .iter()
            .map(|&x| crate::Codec::Pcmu.decode(crate::Codec::Pcmu.encode(x)))
            .collect();
        let q = sinad(&mu, 1004.0);
        assert!((35.0..40.0).contains(&q), "{q}");
        // A quarter-period skipped halfway through ruins it.
        let mut jumped = clean[..200].to_vec();
        jumped.extend_from_slice(&tone(1004.0, 10_000.0, 402)[202..]);
        assert!(sinad(&jumped, 1004.0) < 15.0, "{}", sinad(&jumped, 1004.0));
        assert_eq!(sinad(&[0; 160], 1004.0), 0.0);
    }

    #[test]
    fn silence_is_zero() {
        assert_eq!(tone_fraction(&[0; 160], 400.0), 0.0);
        assert_eq!(tone_fraction(&[], 400.0), 0.0);
        assert_eq!(rms(&[]), 0.0);
        assert!((rms(&[3, -3, 3, -3]) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_bank_measures_what_each_filter_measures_alone() {
        let samples: Vec<i16> = (0..160)
            .map(|i| {
                let t = f64::from(i) / 8000.0;
                (4000.0 * (std::f64::consts::TAU * 770.0 * t).sin()
                    + 3000.0 * (std::f64::consts::TAU * 1336.0 * t).sin()) as i16
            })
            .collect();
        let bank = [697.0, 770.0, 1336.0, 1633.0].map(|f| Goertzel::new(f, 8000.0));
        let together = Goertzel::bank_magnitudes_squared(&bank, &samples);
        for (g, m) in bank.iter().zip(together) {
            let alone = g.magnitude_squared(&samples);
            assert!((alone - m).abs() <= 1e-9 * alone.max(1.0), "{alone} vs {m}");
        }
    }
}
