//! RTCP (RFC 3550 §6): the compound packets a leg's peer sends about its
//! stream and ours, read into typed packets, and the SR or RR plus SDES
//! CNAME confab sends back.
//!
//! [`RtcpPackets`] walks a compound datagram packet by packet without
//! allocating: sender reports, receiver reports (each with its report
//! blocks), SDES (the CNAME), BYE, and any other type (APP, feedback, XR)
//! as [`RtcpPacket::Other`]. A packet whose length runs past the datagram
//! or that is not version 2 ends the walk with an [`RtcpError`]; the packets
//! before it stand. [`write_report`] builds what we send.

use thiserror::Error;

use crate::rtp::Ssrc;

/// RTCP packet types (RFC 3550 §12.1).
const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;
/// SDES item type of the canonical name.
const CNAME: u8 = 1;
/// Bytes of one report block.
const BLOCK: usize = 24;

/// Why a datagram is not (wholly) usable RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer than the 4 bytes of a header, or a length past the datagram's end.
    #[error("RTCP packet truncated")]
    Truncated,
    /// Not RTP version 2.
    #[error("RTCP version {0}, not 2")]
    Version(u8),
    /// A report or SDES whose count does not fit its length.
    #[error("RTCP packet type {0} does not fit its length")]
    BadCount(u8),
}

/// One report block: what a receiver says about one source's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The stream reported on.
    pub source: Ssrc,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from the source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// A sender report's sender information (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP-format timestamp (seconds in the high word).
    pub ntp: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
}

/// One packet of a compound datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// A sender report.
    SenderReport {
        ssrc: Ssrc,
        info: SenderInfo,
        reports: ReportBlocks<'a>,
    },
    /// A receiver report.
    ReceiverReport {
        ssrc: Ssrc,
        reports: ReportBlocks<'a>,
    },
    /// Source description: the first chunk's CNAME, if it has one.
    SourceDescription { cname: Option<&'a [u8]> },
    /// The sources are leaving.
    Bye { sources: u8 },
    /// Another type (APP, RTPFB, PSFB, XR, ...): skipped.
    Other(u8),
}

/// The report blocks of an SR or RR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for ReportBlocks<'a> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.bytes.split_first_chunk::<BLOCK>()?;
        self.bytes = rest;
        let word =
            |i: usize| u32::from_be_bytes([block[i], block[i + 1], block[i + 2], block[i + 3]]);
        // 24-bit two's complement, sign-extended.
        let lost = (i32::from_be_bytes([block[5], block[6], block[7], 0])) >> 8;
        Some(ReportBlock {
            source: Ssrc(word(0)),
            fraction_lost: block[4],
            cumulative_lost: lost,
            highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        })
    }
}

/// The packets of one compound RTCP datagram, in order.
#[derive(Debug, Clone)]
pub struct RtcpPackets<'a> {
    rest: &'a [u8],
}

impl<'a> RtcpPackets<'a> {
    /// Walks `datagram` (which [`crate::rtp::classify`] said is RTCP).
    #[must_use]
    pub fn new(datagram: &'a [u8]) -> Self {
        Self { rest: datagram }
    }
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = parse_one(self.rest);
        match result {
            Ok((packet, len)) => {
                self.rest = self.rest.get(len..).unwrap_or_default();
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// One packet at the start of `bytes`, and its length.
fn parse_one(bytes: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let &[first, pt, l0, l1] = bytes.first_chunk::<4>().ok_or(RtcpError::Truncated)?;
    if first >> 6 != 2 {
        return Err(RtcpError::Version(first >> 6));
    }
    let count = first & 0x1f;
    let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
    let packet = bytes.get(..len).ok_or(RtcpError::Truncated)?;
    let mut body = &packet[4..];
    if first & 0x20 != 0 {
        // Padding: the last byte says how much, itself included.
        let pad = usize::from(*packet.last().ok_or(RtcpError::Truncated)?);
        body = body
            .get(..body.len().checked_sub(pad).ok_or(RtcpError::Truncated)?)
            .ok_or(RtcpError::Truncated)?;
    }
    let word = |b: &[u8], i: usize| -> Option<u32> {
        b.get(i..i + 4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let blocks = |from: usize| -> Result<ReportBlocks<'_>, RtcpError> {
        let bytes = body
            .get(from..from + usize::from(count) * BLOCK)
            .ok_or(RtcpError::BadCount(pt))?;
        Ok(ReportBlocks { bytes })
    };
    let parsed = match pt {
        SR => {
            let field = |i| word(body, i).ok_or(RtcpError::BadCount(pt));
            RtcpPacket::SenderReport {
                ssrc: Ssrc(field(0)?),
                info: SenderInfo {
                    ntp: u64::from(field(4)?) << 32 | u64::from(field(8)?),
                    rtp_timestamp: field(12)?,
                    packets: field(16)?,
                    octets: field(20)?,
                },
                reports: blocks(24)?,
            }
        }
        RR => RtcpPacket::ReceiverReport {
            ssrc: Ssrc(word(body, 0).ok_or(RtcpError::BadCount(pt))?),
            reports: blocks(4)?,
        },
        SDES => RtcpPacket::SourceDescription {
            cname: if count == 0 { None } else { first_cname(body) },
        },
        BYE => {
            if body.len() < usize::from(count) * 4 {
                return Err(RtcpError::BadCount(pt));
            }
            RtcpPacket::Bye { sources: count }
        }
        other => RtcpPacket::Other(other),
    };
    Ok((parsed, len))
}

/// The CNAME of the first SDES chunk, if it has one.
fn first_cname(chunk: &[u8]) -> Option<&[u8]> {
    let mut items = chunk.get(4..)?;
    loop {
        let (&kind, rest) = items.split_first()?;
        if kind == 0 {
            return None;
        }
        let (&len, rest) = rest.split_first()?;
        let text = rest.get(..usize::from(len))?;
        if kind == CNAME {
            return Some(text);
        }
        items = rest.get(usize::from(len)..)?;
    }
}

/// Appends one compound report to `out`: an SR with `sender` (or an RR
/// without), at most one report block, and an SDES with `cname` (at most
/// 255 bytes are used).
pub fn write_report(
    out: &mut Vec<u8>,
    ssrc: Ssrc,
    sender: Option<SenderInfo>,
    report: Option<ReportBlock>,
    cname: &[u8],
) {
    let count = u8::from(report.is_some());
    let words = 1 + if sender.is_some() { 5 } else { 0 } + usize::from(count) * 6;
    out.push(0x80 | count);
    out.push(if sender.is_some() { SR } else { RR });
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.0.to_be_bytes());
    if let Some(info) = sender {
        out.extend_from_slice(&info.ntp.to_be_bytes());
        out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
        out.extend_from_slice(&info.packets.to_be_bytes());
        out.extend_from_slice(&info.octets.to_be_bytes());
    }
    if let Some(block) = report {
        out.extend_from_slice(&block.source.0.to_be_bytes());
        out.push(block.fraction_lost);
        let lost = block.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff);
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        for w in [
            block.highest_seq,
            block.jitter,
            block.last_sr,
            block.delay_since_last_sr,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }
    // SDES: one chunk, SSRC + CNAME item + terminating null, padded to 4.
    let cname = &cname[..cname.len().min(255)];
    let chunk = 4 + 2 + cname.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    out.push(0x81);
    out.push(SDES);
    out.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.0.to_be_bytes());
    out.push(CNAME);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    out.resize(out.len() + padded - chunk + 1, 0);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use proptest::prelude::*;

    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            source: Ssrc(0xABCD),
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_seq: 0x0001_0010,
            jitter: 40,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn a_written_sr_with_sdes_reads_back() {
        let info = SenderInfo {
            ntp: 0x0000_0005_8000_0000,
            rtp_timestamp: 40_000,
            packets: 250,
            octets: 40_000,
        };
        let mut out = Vec::new();
        write_report(
            &mut out,
            Ssrc(7),
            Some(info),
            Some(block()),
            b"confab@example",
        );
        assert_eq!(out.len() % 4, 0);
        let packets: Vec<_> = RtcpPackets::new(&out).collect::<Result<_, _>>().unwrap();
        let [
            RtcpPacket::SenderReport {
                ssrc,
                info: got,
                reports,
            },
            RtcpPacket::SourceDescription { cname },
        ] = packets.as_slice()
        else {
            panic!("{packets:?}");
        };
        assert_eq!((*ssrc, *got), (Ssrc(7), info));
        assert_eq!(reports.collect::<Vec<_>>(), [block()]);
        assert_eq!(*cname, Some(&b"confab@example"[..]));
        assert_eq!(crate::rtp::classify(&out), crate::rtp::DatagramKind::Rtcp);
    }

    #[test]
    fn an_rr_without_blocks_and_a_bye_and_an_app() {
        let mut out = Vec::new();
        write_report(&mut out, Ssrc(9), None, None, b"");
        out.extend_from_slice(&[0x81, BYE, 0, 1, 0, 0, 0, 9]);
        out.extend_from_slice(&[0x80, 204, 0, 2, 0, 0, 0, 9, b'n', b'a', b'm', b'e']);
        let packets: Vec<_> = RtcpPackets::new(&out).collect::<Result<_, _>>().unwrap();
        assert!(matches!(
            packets[0],
            RtcpPacket::ReceiverReport { ssrc: Ssrc(9), reports } if reports.count() == 0
        ));
        assert_eq!(
            packets[1],
            RtcpPacket::SourceDescription { cname: Some(b"") }
        );
        assert_eq!(packets[2], RtcpPacket::Bye { sources: 1 });
        assert_eq!(packets[3], RtcpPacket::Other(204));
    }

    #[test]
    fn broken_packets_end_the_walk_with_an_error() {
        let mut rr = Vec::new();
        write_report(&mut rr, Ssrc(1), None, Some(block()), b"x");
        let cut = &rr[..20];
        let got: Vec<_> = RtcpPackets::new(cut).collect();
        assert_eq!(got, [Err(RtcpError::Truncated)]);
        // A count that does not fit the length.
        let lying = [0x82, RR, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            RtcpPackets::new(&lying).next(),
            Some(Err(RtcpError::BadCount(RR)))
        );
        assert_eq!(
            RtcpPackets::new(&[0x40, RR, 0, 0]).next(),
            Some(Err(RtcpError::Version(1)))
        );
        // Padding larger than the packet.
        assert_eq!(
            RtcpPackets::new(&[0xa0, RR, 0, 1, 0, 0, 0, 200]).next(),
            Some(Err(RtcpError::Truncated))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for packet in RtcpPackets::new(&bytes) {
                if let Ok(RtcpPacket::SenderReport { reports, .. } | RtcpPacket::ReceiverReport { reports, .. }) = packet {
                    let _ = reports.count();
                }
            }
        }

        #[test]
        fn reports_round_trip(lost in -0x80_0000i32..0x80_0000, seq: u32, jitter: u32, cname in proptest::collection::vec(any::<u8>(), 0..300)) {
            let report = ReportBlock { cumulative_lost: lost, highest_seq: seq, jitter, ..block() };
            let mut out = Vec::new();
            write_report(&mut out, Ssrc(3), None, Some(report), &cname);
            let packets: Vec<_> = RtcpPackets::new(&out).collect::<Result<_, _>>().unwrap();
            let RtcpPacket::ReceiverReport { mut reports, .. } = packets[0] else { panic!() };
            prop_assert_eq!(reports.next(), Some(report));
            prop_assert_eq!(packets[1], RtcpPacket::SourceDescription { cname: Some(&cname[..cname.len().min(255)]) });
        }
    }
}
