//! Streaming sample-rate conversion of any input rate to 8 kHz: a
//! Kaiser-windowed sinc low-pass evaluated at exact rational positions.
//!
//! Why our own and not `rubato`: we only ever convert whole files, once, to
//! one fixed output rate, where a direct polyphase FIR is about a hundred
//! lines, exact for any ratio (44.1 kHz → 8 kHz has no small integer form),
//! free of FFT dependencies and chunk bookkeeping. With 8 zero crossings a
//! side and Kaiser β = 8 the stopband is far below G.711's own noise floor
//! (about -38 dB), which is all a telephone line can carry anyway.

/// Polyphase resolution: kernel rows per input sample (linear interpolation between rows).
const PHASES: usize = 256;
/// Zero crossings of the sinc on each side.
const ZERO_CROSSINGS: f64 = 8.0;
const KAISER_BETA: f64 = 8.0;
/// The pass band ends at this fraction of the lower Nyquist frequency.
const PASSBAND: f64 = 0.9;

/// Converts a mono stream from `in_rate` to `out_rate`, chunk by chunk.
#[derive(Debug)]
pub(crate) struct Resampler {
    in_rate: u64,
    out_rate: u64,
    /// Kernel half-width in input samples; taps per output = 2 * half.
    half: usize,
    /// `(PHASES + 1) * 2 * half` coefficients; row p is the kernel at offset p / PHASES.
    table: Vec<f32>,
    /// Input not yet consumed; `buf[0]` is input sample number `base`.
    buf: Vec<f32>,
    base: u64,
    /// Next output sample number.
    next_out: u64,
}

impl Resampler {
    /// A converter; both rates must be non-zero.
    pub(crate) fn new(in_rate: u32, out_rate: u32) -> Self {
        let (in_rate, out_rate) = (u64::from(in_rate.max(1)), u64::from(out_rate.max(1)));
        // Cut-off as a fraction of the input rate.
        let cutoff = PASSBAND * 0.5 * (out_rate.min(in_rate) as f64) / in_rate as f64;
        let half = (ZERO_CROSSINGS / (2.0 * cutoff)).ceil() as usize;
        let taps = 2 * half;
        let mut table = vec![0f32; (PHASES + 1) * taps];
        for (p, row) in table.chunks_exact_mut(taps).enumerate() {
            let frac = p as f64 / PHASES as f64;
            let mut sum = 0.0;
            let mut values = vec![0f64; taps];
            for (j, v) in values.iter_mut().enumerate() {
                // Tap j multiplies input n + j + 1 - half; its distance from the output point.
                let x = j as f64 + 1.0 - half as f64 - frac;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    let a = std::f64::consts::PI * 2.0 * cutoff * x;
                    a.sin() / a
                };
                let w = kaiser(x / half as f64);
                *v = 2.0 * cutoff * sinc * w;
                sum += *v;
            }
            // Unity gain at DC for every phase.
            for (r, v) in row.iter_mut().zip(&values) {
                *r = (v / sum) as f32;
            }
        }
        Self {
            in_rate,
            out_rate,
            half,
            table,
            buf: Vec::new(),
            base: 0,
            next_out: 0,
        }
    }

    /// Feeds input; appends every output sample that no longer depends on
    /// future input to `out`, stopping once `out` holds `limit` samples.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>, limit: usize) {
        self.buf.extend_from_slice(input);
        self.produce(out, limit, false);
    }

    /// Ends the stream: the remaining outputs see silence after the input.
    pub(crate) fn finish(&mut self, out: &mut Vec<f32>, limit: usize) {
        self.produce(out, limit, true);
    }

    fn produce(&mut self, out: &mut Vec<f32>, limit: usize, flush: bool) {
        let taps = 2 * self.half;
        let end = self.base + self.buf.len() as u64; // input samples available
        while out.len() < limit {
            // Output m sits at input position m * in / out = n + frac.
            let pos = self.next_out * self.in_rate;
            let n = pos / self.out_rate;
            if flush {
                if n >= end {
                    break;
                }
            } else if n + self.half as u64 >= end {
                break;
            }
            let frac = (pos % self.out_rate) as f64 / self.out_rate as f64;
            let scaled = frac * PHASES as f64;
            let p = (scaled as usize).min(PHASES - 1);
            let t = (scaled - p as f64) as f32;
            let row0 = &self.table[p * taps..(p + 1) * taps];
            let row1 = &self.table[(p + 1) * taps..(p + 2) * taps];
            let mut acc = 0f32;
            for j in 0..taps {
                // Input index n + j + 1 - half, which may be before the start or after the end.
                let idx = (n + j as u64 + 1).checked_sub(self.half as u64);
                let x = match idx {
                    Some(i) if i >= self.base && i < end => self.buf[(i - self.base) as usize],
                    _ => 0.0,
                };
                let c = row0[j] + (row1[j] - row0[j]) * t;
                acc += x * c;
            }
            out.push(acc);
            self.next_out += 1;
        }
        // Forget input no output will need again.
        let keep_from =
            (self.next_out * self.in_rate / self.out_rate).saturating_sub(self.half as u64);
        if keep_from > self.base + 4096 {
            let drop = (keep_from - self.base) as usize;
            self.buf.drain(..drop.min(self.buf.len()));
            self.base += drop as u64;
        }
    }
}

/// Kaiser window at `x` in [-1, 1].
fn kaiser(x: f64) -> f64 {
    kaiser_window(x, KAISER_BETA)
}

/// The Kaiser window of shape `beta` at `x` in [-1, 1] (0 outside).
pub(crate) fn kaiser_window(x: f64, beta: f64) -> f64 {
    if x.abs() > 1.0 {
        return 0.0;
    }
    bessel_i0(beta * (1.0 - x * x).sqrt()) / bessel_i0(beta)
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / k as f64).powi(2);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::tone_fraction;

    fn convert(input: &[f32], in_rate: u32) -> Vec<i16> {
        let mut r = Resampler::new(in_rate, 8000);
        let mut out = Vec::new();
        for chunk in input.chunks(1000) {
            r.push(chunk, &mut out, usize::MAX);
        }
        r.finish(&mut out, usize::MAX);
        out.iter().map(|&x| (x * 32767.0) as i16).collect()
    }

    fn sine(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn keeps_length_and_a_passband_tone() {
        for rate in [8000, 11025, 16000, 22050, 44100, 48000] {
            let out = convert(&sine(440.0, rate, 1.0), rate);
            assert!((7999..=8001).contains(&out.len()), "{rate}: {}", out.len());
            let steady = &out[400..7600];
            assert!(tone_fraction(steady, 440.0) > 0.99, "{rate}");
            let peak = steady.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
            assert!((16_000..=16_700).contains(&peak), "{rate}: peak {peak}");
        }
    }

    #[test]
    fn removes_what_would_alias() {
        // 6 kHz at 22.05 kHz would fold to 2 kHz at 8 kHz without the low-pass.
        let out = convert(&sine(6000.0, 22_050, 1.0), 22_050);
        let level = crate::goertzel::rms(&out[400..7600]);
        assert!(level < 30.0, "aliased energy {level}");
    }

    #[test]
    fn upsampling_works_too() {
        let out = convert(&sine(1000.0, 6000, 1.0), 6000);
        assert!((7999..=8001).contains(&out.len()));
        assert!(tone_fraction(&out[400..7600], 1000.0) > 0.99);
    }
}
