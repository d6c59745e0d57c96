//! G.711 μ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).
//!
//! Decoding is a 256-entry table built at compile time; encoding is the
//! classic segment search of the ITU reference (Sun's `g711.c`), which
//! truncates within a segment, so `encode(decode(code)) == code` for every
//! code (μ-law's two zeros, 0x7F and 0xFF, both decode to 0, which encodes
//! to 0xFF). Encoders of other vendors round differently: compare decoded
//! PCM with a tolerance, never encoded bytes.

/// The audio codecs confab speaks: the two G.711 companding laws, and
/// G.722 (wideband, [`crate::g722`]).
///
/// The per-sample methods ([`Codec::decode`], [`Codec::encode`] and their
/// `_into` forms) are G.711's: a G.711 byte is one sample, with no state.
/// G.722 is not (a byte is two samples of an adaptive predictor's output),
/// so for [`Codec::G722`] they do nothing (decode to 0 samples, encode to
/// no bytes, `decode`/`encode` give 0): a G.722 leg has its own
/// [`crate::g722::G722Encoder`] and [`crate::g722::G722Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, static payload type 0 ("PCMU/8000").
    Pcmu,
    /// A-law, static payload type 8 ("PCMA/8000").
    Pcma,
    /// G.722 at 64 kbit/s, static payload type 9 ("G722/8000": 16 kHz
    /// audio on an 8 kHz RTP clock, RFC 3551).
    G722,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    #[must_use]
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => crate::g722::PAYLOAD_TYPE,
        }
    }

    /// Whether the codec carries 16 kHz audio (G.722): a leg speaking it
    /// makes its room mix at 16 kHz.
    #[must_use]
    pub fn is_wideband(self) -> bool {
        self == Codec::G722
    }

    /// The codec a static payload type stands for, if it is one of ours.
    #[must_use]
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            crate::g722::PAYLOAD_TYPE => Some(Codec::G722),
            _ => None,
        }
    }

    /// Decodes one G.711 byte (0 for G.722: see the type's docs).
    #[must_use]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_TO_LINEAR[usize::from(code)],
            Codec::Pcma => ALAW_TO_LINEAR[usize::from(code)],
            Codec::G722 => 0,
        }
    }

    /// Encodes one sample in G.711 (0 for G.722: see the type's docs).
    #[must_use]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
            Codec::G722 => 0,
        }
    }

    /// Decodes G.711 `codes` into the front of `out`; returns how many
    /// samples were written (`min(codes.len(), out.len())`; 0 for G.722).
    pub fn decode_into(self, codes: &[u8], out: &mut [i16]) -> usize {
        let table = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
            Codec::G722 => return 0,
        };
        let n = codes.len().min(out.len());
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = table[usize::from(c)];
        }
        n
    }

    /// Appends the G.711 encoding of `samples` to `out` (nothing for G.722).
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        // The codec is chosen once, outside the loop, so the loop inlines.
        match self {
            Codec::Pcmu => out.extend(samples.iter().map(|&s| ulaw_encode(s))),
            Codec::Pcma => out.extend(samples.iter().map(|&s| alaw_encode(s))),
            Codec::G722 => {}
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// μ-law decode table: index is the received byte.
pub static ULAW_TO_LINEAR: [i16; 256] = decode_table(Codec::Pcmu);
/// A-law decode table: index is the received byte.
pub static ALAW_TO_LINEAR: [i16; 256] = decode_table(Codec::Pcma);

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0f) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// Every byte of `codec` decoded, for the lookup tables above.
const fn decode_table(codec: Codec) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match codec {
            Codec::Pcmu => ulaw_decode(i as u8),
            Codec::Pcma => alaw_decode(i as u8),
            Codec::G722 => 0,
        };
        i += 1;
    }
    table
}

#[inline]
fn ulaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign: u8 = if pcm < 0 { 0x80 } else { 0 };
    if pcm < 0 {
        pcm = -pcm;
    }
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // pcm is in 0x84..=0x7FFF, so its top set bit is bit 7..=14.
    let exponent = (31 - pcm.leading_zeros()).saturating_sub(7).min(7);
    let mantissa = (pcm >> (exponent + 3)) & 0x0f;
    !(sign | (exponent as u8) << 4 | mantissa as u8)
}

#[inline]
fn alaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3; // 13-bit
    let mask: u8 = if pcm >= 0 {
        0xd5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    // Segment ends: 0x1F, 0x3F, 0x7F, ... 0xFFF; pcm <= 0xFFF always.
    let seg = (32 - pcm.leading_zeros()).saturating_sub(5).min(7);
    let mantissa = if seg < 2 {
        (pcm >> 1) & 0x0f
    } else {
        (pcm >> seg) & 0x0f
    };
    ((seg as u8) << 4 | mantissa as u8) ^ mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_tables_match_known_values() {
        assert_eq!(Codec::Pcmu.decode(0xff), 0);
        assert_eq!(Codec::Pcmu.decode(0x7f), 0);
        assert_eq!(Codec::Pcmu.decode(0x00), -32124);
        assert_eq!(Codec::Pcmu.decode(0x80), 32124);
        assert_eq!(Codec::Pcmu.decode(0xfe), 8);
        assert_eq!(Codec::Pcmu.decode(0x7e), -8);
        assert_eq!(Codec::Pcma.decode(0xd5), 8);
        assert_eq!(Codec::Pcma.decode(0x55), -8);
        assert_eq!(Codec::Pcma.decode(0xaa), 32256);
        assert_eq!(Codec::Pcma.decode(0x2a), -32256);
    }

    #[test]
    fn encoding_a_frame_is_encoding_each_sample() {
        let every: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut frame = Vec::new();
            codec.encode_into(&every, &mut frame);
            let each: Vec<u8> = every.iter().map(|&s| codec.encode(s)).collect();
            assert_eq!(frame, each, "{codec:?}");
        }
        let mut none = Vec::new();
        Codec::G722.encode_into(&every, &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn encode_of_decode_is_identity_on_every_code() {
        for code in 0..=255u8 {
            let back = Codec::Pcma.encode(Codec::Pcma.decode(code));
            assert_eq!(back, code, "A-law {code:#04x}");
            // μ-law has a negative zero, 0x7F, which comes back as 0xFF.
            let expected = if code == 0x7f { 0xff } else { code };
            let back = Codec::Pcmu.encode(Codec::Pcmu.decode(code));
            assert_eq!(back, expected, "μ-law {code:#04x}");
        }
    }

    #[test]
    fn tables_are_monotonic_in_magnitude() {
        // Within each sign half, larger magnitude codes decode to larger magnitudes.
        let mut samples: Vec<i16> = (0..=255u8).map(|c| Codec::Pcma.decode(c)).collect();
        samples.sort_unstable();
        samples.dedup();
        assert_eq!(samples.len(), 256);
        let mut samples: Vec<i16> = (0..=255u8).map(|c| Codec::Pcmu.decode(c)).collect();
        samples.sort_unstable();
        samples.dedup();
        assert_eq!(samples.len(), 255); // two zeros
    }

    #[test]
    fn payload_types() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
        }
        assert_eq!(Codec::from_payload_type(101), None);
    }

    /// Every sample, not a random few: a random draw found μ-law's negative
    /// zero only now and then (a flaky test), so all 65,536 are checked.
    #[test]
    fn encode_decode_encode_is_stable() {
        for sample in i16::MIN..=i16::MAX {
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let code = codec.encode(sample);
                let decoded = codec.decode(code);
                // μ-law has two zeros: a small negative sample encodes as
                // 0x7F, which decodes to 0, and 0 encodes as 0xFF. Every
                // other decoded value encodes back to its own code.
                if !(codec == Codec::Pcmu && decoded == 0) {
                    assert_eq!(codec.encode(decoded), code, "{codec:?} {sample}");
                }
                assert_eq!(codec.decode(codec.encode(decoded)), decoded);
                // Quantisation error is bounded by the segment step (at most 1/16
                // of the magnitude, plus the clip above 32635 for μ-law).
                let err = (i32::from(decoded) - i32::from(sample)).abs();
                let bound = (i32::from(sample).abs() / 16).max(16)
                    + 1024 * i32::from(sample.unsigned_abs() > 32000);
                assert!(err <= bound, "{codec:?} {sample} -> {decoded}");
            }
        }
    }
}
