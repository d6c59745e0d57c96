//! ITU-T G.722 at 64 kbit/s (mode 1): 16 kHz audio in one byte per pair of
//! samples, two ADPCM sub-bands split by a quadrature mirror filter.
//!
//! Why our own: no maintained Rust crate does G.722 (the ones on crates.io
//! are bindings to C or unmaintained), and the codec is small and fixed:
//! the ITU's integer arithmetic, written out here block by block under the
//! names the Recommendation gives them (`QUANTL`, `INVQAL`, `LOGSCL`, ...),
//! bit-exact with the usual implementations (the test compares with
//! ffmpeg's `g722` codec on a recorded vector).
//!
//! The encoder and the decoder each carry state (the predictors and the
//! QMF's delay line): one of each per direction of a call. Over RTP the
//! codec is "G722/8000", static payload type 9: RFC 3551 keeps the clock
//! at 8000 (an old error kept for compatibility), so a 20 ms packet is 160
//! bytes and 160 timestamp units, and carries 320 samples.

/// The static RTP payload type of G.722 (RFC 3551).
pub const PAYLOAD_TYPE: u8 = 9;

/// Transmit and receive QMF coefficients (G.722 Table 11).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
/// Lower sub-band quantizer decision levels (Table 6, scaled).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Lower sub-band codes for negative and positive differences, by interval.
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// Log scale factor multipliers of the lower band (Table 12).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log table for the scale factor (Table 13).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// Inverse quantizers: 4 bits (the predictor's), 6 bits (the lower band's output), 2 bits (higher).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// Higher sub-band codes and log scale factor multipliers.
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [usize; 4] = [2, 1, 2, 1];

/// Encodes 16 kHz samples to G.722, one byte per two samples.
#[derive(Debug, Clone)]
pub struct G722Encoder(State);

/// Decodes G.722 to 16 kHz samples, two per byte.
#[derive(Debug, Clone)]
pub struct G722Decoder(State);

/// What each direction keeps: the QMF's delay line and the two sub-bands.
#[derive(Debug, Clone)]
struct State {
    qmf: [i32; 24],
    low: Band,
    high: Band,
}

impl State {
    /// The Recommendation's reset state.
    fn new() -> Self {
        Self {
            qmf: [0; 24],
            low: Band::new(32),
            high: Band::new(8),
        }
    }

    /// Shifts two values into the QMF's delay line; returns its sums.
    fn qmf_push(&mut self, first: i32, second: i32) -> (i32, i32) {
        self.qmf.copy_within(2.., 0);
        self.qmf[22] = first;
        self.qmf[23] = second;
        qmf_sums(&self.qmf)
    }
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the Recommendation's reset state.
    #[must_use]
    pub fn new() -> Self {
        Self(State::new())
    }

    /// Appends the encoding of `samples` to `out`: one byte per two samples
    /// (an odd last sample is dropped: a 20 ms frame is always even).
    pub fn encode_into(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(
            samples
                .chunks_exact(2)
                .map(|pair| self.encode_pair(pair[0], pair[1])),
        );
    }

    fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        let state = &mut self.0;
        // Transmit QMF: the two sub-bands at 8 kHz.
        let (odd, even) = state.qmf_push(i32::from(first), i32::from(second));
        let xlow = (even + odd) >> 14;
        let xhigh = (odd - even) >> 14;

        // Lower band: SUBTRA, QUANTL.
        let el = saturate(xlow - state.low.s);
        let magnitude = if el >= 0 { el } else { -(el + 1) };
        let interval = (1..30)
            .find(|&i| magnitude < (Q6[i] * state.low.det) >> 12)
            .unwrap_or(30);
        let ilow = if el < 0 { ILN[interval] } else { ILP[interval] };
        state.low.follow_low(ilow as usize);

        // Higher band: SUBTRA, QUANTH, then as the decoder.
        let eh = saturate(xhigh - state.high.s);
        let magnitude = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if magnitude >= (564 * state.high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        state.high.follow_high(ihigh as usize);

        // Both fit in their bits by construction (6 and 2).
        ((ihigh << 6) | ilow) as u8
    }
}

impl G722Decoder {
    /// A decoder in the Recommendation's reset state.
    #[must_use]
    pub fn new() -> Self {
        Self(State::new())
    }

    /// Decodes `codes` into the front of `out`, two samples per byte;
    /// returns how many samples were written (stops when `out` is full).
    pub fn decode_into(&mut self, codes: &[u8], out: &mut [i16]) -> usize {
        let mut n = 0;
        for (&code, pair) in codes.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_byte(code);
            pair[0] = a;
            pair[1] = b;
            n += 2;
        }
        n
    }

    fn decode_byte(&mut self, code: u8) -> (i16, i16) {
        let ilow = usize::from(code & 0x3f);
        let ihigh = usize::from(code >> 6);

        let state = &mut self.0;
        // Lower band: INVQBL (6 bits, the output), RECONS, LIMIT; then the
        // predictor's 4-bit path as in the encoder.
        let wd = (state.low.det * QM6[ilow]) >> 15;
        let rlow = (state.low.s + wd).clamp(-16_384, 16_383);
        state.low.follow_low(ilow);

        // Higher band: RECONS, LIMIT (on the estimate before it adapts).
        let estimate = state.high.s;
        let dhigh = state.high.follow_high(ihigh);
        let rhigh = (dhigh + estimate).clamp(-16_384, 16_383);

        // Receive QMF: two 16 kHz samples.
        let (first, second) = state.qmf_push(rlow + rhigh, rlow - rhigh);
        (saturate(first >> 11) as i16, saturate(second >> 11) as i16)
    }
}

/// The QMF's two sums over its delay line: odd taps with the coefficients
/// reversed, even taps in order.
fn qmf_sums(x: &[i32; 24]) -> (i32, i32) {
    let mut odd = 0;
    let mut even = 0;
    for i in 0..12 {
        even += x[2 * i] * QMF[i];
        odd += x[2 * i + 1] * QMF[11 - i];
    }
    (odd, even)
}

/// One sub-band's adaptive predictor and scale factor (blocks 3 and 4).
#[derive(Debug, Clone)]
struct Band {
    /// Signal estimate (`s`), its pole and zero parts.
    s: i32,
    sp: i32,
    sz: i32,
    /// Reconstructed signal, partial reconstruction and difference history.
    r: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    /// Pole and zero predictor coefficients, and their next values.
    a: [i32; 3],
    ap: [i32; 3],
    b: [i32; 7],
    bp: [i32; 7],
    sg: [i32; 7],
    /// Log scale factor and scale factor.
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Self {
            s: 0,
            sp: 0,
            sz: 0,
            r: [0; 3],
            p: [0; 3],
            d: [0; 7],
            a: [0; 3],
            ap: [0; 3],
            b: [0; 7],
            bp: [0; 7],
            sg: [0; 7],
            nb: 0,
            det,
        }
    }

    /// After the lower band's 6-bit code `ilow`: INVQAL (on its top 4
    /// bits, the value the predictor sees), LOGSCL, SCALEL, the predictor.
    fn follow_low(&mut self, ilow: usize) {
        let ril = ilow >> 2;
        let d = (self.det * QM4[ril]) >> 15;
        self.scale(WL[RL42[ril]], 18_432, 8);
        self.adapt(d);
    }

    /// After the higher band's 2-bit code: INVQAH, LOGSCH, SCALEH, the
    /// predictor. Returns the quantized difference.
    fn follow_high(&mut self, ihigh: usize) -> i32 {
        let d = (self.det * QM2[ihigh]) >> 15;
        self.scale(WH[RH2[ihigh]], 22_528, 10);
        self.adapt(d);
        d
    }

    /// LOGSCL/LOGSCH then SCALEL/SCALEH: the log scale factor leaks and
    /// moves by `step`, capped at `max`; the scale factor follows it.
    fn scale(&mut self, step: i32, max: i32, shift_base: i32) {
        self.nb = (((self.nb * 127) >> 7) + step).clamp(0, max);
        let wd1 = ((self.nb >> 6) & 31) as usize;
        let wd2 = shift_base - (self.nb >> 11);
        let wd3 = if wd2 < 0 {
            ILB[wd1] << -wd2
        } else {
            ILB[wd1] >> wd2
        };
        self.det = wd3 << 2;
    }

    /// Block 4: reconstruction, the pole and zero predictors' adaptation,
    /// and the next signal estimate, from the quantized difference `d`.
    fn adapt(&mut self, d: i32) {
        // RECONS, PARREC.
        self.d[0] = d;
        self.r[0] = saturate(self.s + d);
        self.p[0] = saturate(self.sz + d);
        // UPPOL2.
        for i in 0..3 {
            self.sg[i] = self.p[i] >> 15;
        }
        let wd1 = saturate(self.a[1] << 2);
        let wd2 = if self.sg[0] == self.sg[1] { -wd1 } else { wd1 }.min(32_767);
        let mut wd3 = (wd2 >> 7) + if self.sg[0] == self.sg[2] { 128 } else { -128 };
        wd3 += (self.a[2] * 32_512) >> 15;
        self.ap[2] = wd3.clamp(-12_288, 12_288);
        // UPPOL1.
        self.sg[0] = self.p[0] >> 15;
        self.sg[1] = self.p[1] >> 15;
        let wd1 = if self.sg[0] == self.sg[1] { 192 } else { -192 };
        let wd2 = (self.a[1] * 32_640) >> 15;
        let limit = saturate(15_360 - self.ap[2]);
        self.ap[1] = saturate(wd1 + wd2).clamp(-limit, limit);
        // UPZERO.
        let wd1 = if d == 0 { 0 } else { 128 };
        self.sg[0] = d >> 15;
        for i in 1..7 {
            self.sg[i] = self.d[i] >> 15;
            let wd2 = if self.sg[i] == self.sg[0] { wd1 } else { -wd1 };
            let wd3 = (self.b[i] * 32_640) >> 15;
            self.bp[i] = saturate(wd2 + wd3);
        }
        // DELAYA.
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = self.bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
            self.a[i] = self.ap[i];
        }
        // FILTEP, FILTEZ, PREDIC.
        let wd1 = (self.a[1] * saturate(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * saturate(self.r[2] + self.r[2])) >> 15;
        self.sp = saturate(wd1 + wd2);
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * saturate(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = saturate(sz);
        self.s = saturate(self.sp + self.sz);
    }
}

fn saturate(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amplitude: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amplitude * (std::f64::consts::TAU * freq * i as f64 / 16_000.0).sin()) as i16
            })
            .collect()
    }

    fn round_trip(input: &[i16]) -> Vec<i16> {
        let mut encoder = G722Encoder::new();
        let mut decoder = G722Decoder::new();
        let mut out = vec![0; input.len()];
        for (frame, out) in input.chunks(320).zip(out.chunks_mut(320)) {
            let mut bytes = Vec::new();
            encoder.encode_into(frame, &mut bytes);
            assert_eq!(bytes.len(), frame.len() / 2);
            assert_eq!(decoder.decode_into(&bytes, out), frame.len());
        }
        out
    }

    /// SNR of `output` against `input` delayed by the codec's 22 samples
    /// (the two QMFs' 23 taps each, less one), after the first 100 ms.
    fn snr_db(input: &[i16], output: &[i16]) -> f64 {
        const DELAY: usize = 22;
        let (mut signal, mut noise) = (0.0, 0.0);
        for i in 1600..output.len() {
            let x = f64::from(input[i - DELAY]);
            let e = f64::from(output[i]) - x;
            signal += x * x;
            noise += e * e;
        }
        10.0 * (signal / noise).log10()
    }

    #[test]
    fn tones_across_both_bands_come_back_with_high_snr() {
        for (freq, floor) in [
            (440.0, 30.0),
            (1004.0, 30.0),
            (3000.0, 25.0),
            (6000.0, 15.0),
        ] {
            let input = sine(freq, 8000.0, 16_000);
            let output = round_trip(&input);
            let snr = snr_db(&input, &output);
            assert!(snr > floor, "{freq} Hz: {snr:.1} dB");
        }
    }

    #[test]
    fn silence_stays_silent_and_full_scale_does_not_wrap() {
        let output = round_trip(&[0; 3200]);
        assert!(output.iter().all(|s| s.abs() < 8), "{:?}", &output[..40]);
        let square: Vec<i16> = (0..3200)
            .map(|i| if i / 40 % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let output = round_trip(&square);
        // No wrap: the decoded square keeps its sign away from the edges.
        for (i, (&o, &x)) in output.iter().zip(&square).enumerate().skip(400) {
            if i % 40 > 30 {
                let x_delayed = square[i - 22];
                assert_eq!(
                    o.signum(),
                    x_delayed.signum(),
                    "sample {i}: {o} (input {x})"
                );
            }
        }
    }

    fn samples(bytes: &[u8]) -> Vec<i16> {
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    /// The vector: half a second of a 100 Hz - 7.5 kHz sweep with noise,
    /// loud and quiet in turns, encoded and decoded by ffmpeg 5.1's `g722`
    /// (`ffmpeg -f s16le -ar 16000 -ac 1 -i in -c:a g722 -f g722 out`, and
    /// back with `-f g722 -i out -f s16le`). Our encoder must write the same
    /// bytes and our decoder the same samples.
    #[test]
    fn agrees_with_ffmpeg_bit_for_bit() {
        let input = samples(include_bytes!("../tests/fixtures/g722_input.s16le"));
        let theirs: &[u8] = include_bytes!("../tests/fixtures/g722_ffmpeg.g722");
        let mut ours = Vec::new();
        G722Encoder::new().encode_into(&input, &mut ours);
        assert_eq!(ours.len(), theirs.len());
        let first = ours.iter().zip(theirs).position(|(a, b)| a != b);
        assert_eq!(first, None, "encoders differ from byte {first:?}");

        let theirs = samples(include_bytes!(
            "../tests/fixtures/g722_ffmpeg_decoded.s16le"
        ));
        let mut decoded = vec![0; theirs.len()];
        assert_eq!(
            G722Decoder::new().decode_into(
                include_bytes!("../tests/fixtures/g722_ffmpeg.g722"),
                &mut decoded
            ),
            theirs.len()
        );
        let first = decoded.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(first, None, "decoders differ from sample {first:?}");
    }

    #[test]
    fn any_bytes_decode_without_panicking() {
        let mut decoder = G722Decoder::new();
        let codes: Vec<u8> = (0..=255).cycle().take(4096).collect();
        let mut out = vec![0; 8192];
        assert_eq!(decoder.decode_into(&codes, &mut out), 8192);
        // A short buffer takes what fits.
        assert_eq!(decoder.decode_into(&codes, &mut out[..3]), 2);
    }
}
