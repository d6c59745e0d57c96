//! RTP packets (RFC 3550 §5.1): parse without copying, write into a reused buffer.
//!
//! Parsing checks everything a hostile sender can get wrong (version, CSRC
//! count, extension length, padding length) and borrows the payload from the
//! datagram, so the receive path allocates nothing. [`classify`] tells RTCP
//! from RTP on a shared port (RFC 5761 §4) so the room can count and ignore it.

use thiserror::Error;

/// Length of the fixed RTP header.
pub const HEADER_LEN: usize = 12;

/// An RTP sequence number. Compare with [`SeqNo::distance`], never `<`: it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNo(pub u16);

impl SeqNo {
    /// The next sequence number, wrapping at 65535.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }

    /// Signed distance from `earlier` to `self`, taking the shorter way round
    /// the 16-bit circle (`SeqNo(1).distance(SeqNo(65535)) == 2`).
    #[must_use]
    pub fn distance(self, earlier: SeqNo) -> i32 {
        i32::from(self.0.wrapping_sub(earlier.0) as i16)
    }
}

/// An RTP media timestamp, in samples of the payload's clock (8 kHz for G.711).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpTimestamp(pub u32);

impl RtpTimestamp {
    /// `self + samples`, wrapping.
    #[must_use]
    pub fn wrapping_add(self, samples: u32) -> Self {
        Self(self.0.wrapping_add(samples))
    }

    /// Signed distance from `earlier` to `self` the short way round the 32-bit circle.
    #[must_use]
    pub fn distance(self, earlier: RtpTimestamp) -> i64 {
        i64::from(self.0.wrapping_sub(earlier.0) as i32)
    }
}

/// A synchronisation source identifier. Ours are drawn by the shell, never here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ssrc(pub u32);

/// What a datagram on an RTP port is, judged from its first two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    /// Version 2 and not an RTCP packet type.
    Rtp,
    /// Version 2 with a second byte in 192..=223 (RFC 5761 §4: RTCP packet
    /// types 200–204 SR/RR/SDES/BYE/APP and their neighbours; RTP payload
    /// types 64–95 with the marker set are reserved for exactly this reason).
    Rtcp,
    /// Too short, or not version 2 (STUN, garbage, a stray SIP message).
    Other,
}

/// Classifies a datagram without parsing it.
#[must_use]
pub fn classify(bytes: &[u8]) -> DatagramKind {
    match bytes {
        [first, second, ..] if first >> 6 == 2 => {
            if (192..=223).contains(second) {
                DatagramKind::Rtcp
            } else {
                DatagramKind::Rtp
            }
        }
        _ => DatagramKind::Other,
    }
}

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the fixed header plus the CSRC list / extension it announces.
    #[error("packet too short: {len} bytes, need {need}")]
    TooShort {
        /// The datagram's length.
        len: usize,
        /// How many bytes the header says it needs.
        need: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or eats into the header.
    #[error("bad padding length {0}")]
    BadPadding(u8),
    /// The second byte is an RTCP packet type (RFC 5761).
    #[error("RTCP, not RTP")]
    Rtcp,
}

/// A header extension (RFC 3550 §5.3.1): profile word and the raw words after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// The 16-bit "defined by profile" field (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension body, a multiple of four bytes.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit (start of a talkspurt for audio).
    pub marker: bool,
    /// The 7-bit payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: SeqNo,
    /// Media timestamp.
    pub timestamp: RtpTimestamp,
    /// Sender's SSRC.
    pub ssrc: Ssrc,
    /// Number of contributing sources listed (their ids are not kept).
    pub csrc_count: u8,
    /// The header extension, if the X bit was set.
    pub extension: Option<HeaderExtension<'a>>,
    /// Payload with padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram. Never panics, never allocates.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        let len = bytes.len();
        let too_short = |need| RtpError::TooShort { len, need };
        let Some((fixed, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(too_short(HEADER_LEN));
        };
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        if (192..=223).contains(&fixed[1]) {
            return Err(RtpError::Rtcp);
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_count = fixed[0] & 0x0f;
        let marker = fixed[1] & 0x80 != 0;
        let payload_type = fixed[1] & 0x7f;
        let seq = SeqNo(u16::from_be_bytes([fixed[2], fixed[3]]));
        let timestamp = RtpTimestamp(u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]));
        let ssrc = Ssrc(u32::from_be_bytes([
            fixed[8], fixed[9], fixed[10], fixed[11],
        ]));

        let csrc_len = usize::from(csrc_count) * 4;
        let rest = rest
            .get(csrc_len..)
            .ok_or(too_short(HEADER_LEN + csrc_len))?;

        let (extension, rest) = if has_extension {
            let need = len - rest.len() + 4;
            let (head, body) = rest.split_first_chunk::<4>().ok_or(too_short(need))?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let data = body.get(..words * 4).ok_or(too_short(need + words * 4))?;
            let rest = body.get(words * 4..).unwrap_or_default();
            (Some(HeaderExtension { profile, data }), rest)
        } else {
            (None, rest)
        };

        let payload = if has_padding {
            // The last byte counts itself; it may not reach back into the header.
            let count = *rest.last().ok_or(RtpError::BadPadding(0))?;
            if count == 0 || usize::from(count) > rest.len() {
                return Err(RtpError::BadPadding(count));
            }
            &rest[..rest.len() - usize::from(count)]
        } else {
            rest
        };

        Ok(Self {
            marker,
            payload_type,
            seq,
            timestamp,
            ssrc,
            csrc_count,
            extension,
            payload,
        })
    }
}

/// The fields of an outgoing header. We never send CSRCs, extensions or padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit: set on the first packet of a talkspurt.
    pub marker: bool,
    /// Payload type, 0..=127 (the top bit is masked off).
    pub payload_type: u8,
    /// Sequence number.
    pub seq: SeqNo,
    /// Media timestamp.
    pub timestamp: RtpTimestamp,
    /// Our SSRC.
    pub ssrc: Ssrc,
}

impl RtpHeader {
    /// Clears `out` and writes the 12-byte header into it; append the payload after.
    /// Reusing `out` keeps the send path free of allocation once it has grown.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(0x80);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.seq.0.to_be_bytes());
        out.extend_from_slice(&self.timestamp.0.to_be_bytes());
        out.extend_from_slice(&self.ssrc.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn header(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker,
            payload_type: pt,
            seq: SeqNo(seq),
            timestamp: RtpTimestamp(ts),
            ssrc: Ssrc(ssrc),
        }
        .write(&mut out);
        out
    }

    #[test]
    fn round_trips_a_plain_packet() {
        let mut bytes = header(true, 8, 65535, 0xdead_beef, 0x1234_5678);
        bytes.extend_from_slice(&[1, 2, 3]);
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.seq, SeqNo(65535));
        assert_eq!(p.timestamp, RtpTimestamp(0xdead_beef));
        assert_eq!(p.ssrc, Ssrc(0x1234_5678));
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(p.extension, None);
        assert_eq!(classify(&bytes), DatagramKind::Rtp);
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let mut bytes = header(false, 0, 7, 160, 1);
        bytes[0] |= 0x20 | 0x10 | 2; // padding, extension, 2 CSRCs
        bytes.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 10]); // CSRCs
        bytes.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one ext word
        bytes.extend_from_slice(&[0x55; 5]); // payload
        bytes.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.csrc_count, 2);
        let ext = p.extension.unwrap();
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(p.payload, &[0x55; 5]);
    }

    #[test]
    fn rejects_malformed_packets() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::TooShort { len: 11, need: 12 })
        );
        let mut v1 = header(false, 0, 1, 1, 1);
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));

        let mut csrc = header(false, 0, 1, 1, 1);
        csrc[0] |= 15;
        assert!(matches!(
            RtpPacket::parse(&csrc),
            Err(RtpError::TooShort { .. })
        ));

        let mut ext = header(false, 0, 1, 1, 1);
        ext[0] |= 0x10;
        ext.extend_from_slice(&[0, 0, 0xff, 0xff]);
        assert!(matches!(
            RtpPacket::parse(&ext),
            Err(RtpError::TooShort { .. })
        ));

        let mut pad = header(false, 0, 1, 1, 1);
        pad[0] |= 0x20;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(0)));
        pad.extend_from_slice(&[1, 2, 9]);
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(9)));
        pad.pop();
        pad.push(0);
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(0)));
    }

    #[test]
    fn recognises_rtcp() {
        // A receiver report: V=2, RC=0, PT=201.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert_eq!(classify(&rr), DatagramKind::Rtcp);
        let mut padded = rr.to_vec();
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(RtpPacket::parse(&padded), Err(RtpError::Rtcp));
        for pt in 200..=204 {
            assert_eq!(classify(&[0x81, pt]), DatagramKind::Rtcp);
        }
        assert_eq!(classify(&[0x80, 101]), DatagramKind::Rtp);
        assert_eq!(classify(&[0x80, 0x80 | 8]), DatagramKind::Rtp);
        assert_eq!(classify(&[0x00, 1]), DatagramKind::Other); // STUN starts 00
        assert_eq!(classify(&[0x80]), DatagramKind::Other);
    }

    #[test]
    fn seq_and_timestamp_distances_wrap() {
        assert_eq!(SeqNo(1).distance(SeqNo(65535)), 2);
        assert_eq!(SeqNo(65535).distance(SeqNo(1)), -2);
        assert_eq!(SeqNo(65535).next(), SeqNo(0));
        assert_eq!(RtpTimestamp(80).distance(RtpTimestamp(u32::MAX - 79)), 160);
        assert_eq!(RtpTimestamp(u32::MAX).wrapping_add(1), RtpTimestamp(0));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = classify(&bytes);
            if let Ok(p) = RtpPacket::parse(&bytes) {
                prop_assert!(p.payload.len() + HEADER_LEN <= bytes.len());
            }
        }

        #[test]
        fn header_round_trips(m: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32,
                              payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Payload types 64..=95 with the marker set look like RTCP by design.
            prop_assume!(!(m && (64..=95).contains(&pt)));
            let mut bytes = header(m, pt, seq, ts, ssrc);
            bytes.extend_from_slice(&payload);
            let p = RtpPacket::parse(&bytes).unwrap();
            prop_assert_eq!((p.marker, p.payload_type, p.seq.0, p.timestamp.0, p.ssrc.0),
                            (m, pt, seq, ts, ssrc));
            prop_assert_eq!(p.payload, &payload[..]);
        }
    }
}
