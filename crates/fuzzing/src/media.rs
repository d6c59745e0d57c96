//! What arrives on a call's RTP port (crate `media`): RTP and RTCP
//! datagrams into a room, and RFC 4733 telephone events.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ::media::dtmf::{DtmfDetector, TelephoneEvent};
use ::media::room::{LegConfig, LegId, MediaRoom, Received};
use ::media::rtcp::{RtcpPacket, RtcpPackets};
use ::media::rtp::{DatagramKind, RtpError, RtpHeader, RtpPacket, classify};
use ::media::{Codec, Digit, JitterConfig, RtpTimestamp, SeqNo, Ssrc};

/// Datagrams on the RTP ports of a three-leg room (PCMU, PCMA, and G.722,
/// which makes it mix at 16 kHz), with ticks between them.
///
/// The input is a list of records: a control byte, a length byte, then that
/// many bytes of datagram (fewer at the end of the input). The control
/// byte picks the leg (or one the room does not have), the source address,
/// whether the room ticks after the datagram and how far the clock moves,
/// and now and then flips the room's waiting state or re-latches a leg.
///
/// Checked: what the room says it did with each datagram agrees with
/// [`classify`] and [`RtpPacket::parse`]; a parsed packet's header written
/// back with its payload parses to the same packet; every RTCP datagram
/// from the latched address (or before latching) is counted on its leg;
/// everything the room sends is RTP, or a well-formed RTCP report, with the
/// leg's SSRC.
pub fn rtp(data: &[u8]) {
    let legs = [
        (
            LegId(1),
            leg_config(Codec::Pcmu, Some(101), 0x1111_1111, true),
        ),
        (LegId(2), leg_config(Codec::Pcma, None, 0x2222_2222, false)),
        (
            LegId(3),
            leg_config(Codec::G722, Some(101), 0x3333_3333, false),
        ),
    ];
    let mut room = MediaRoom::new();
    for (id, config) in legs {
        room.add_leg(id, config).unwrap();
    }
    let sources: [SocketAddr; 2] = [
        "192.0.2.7:40000".parse().unwrap(),
        "198.51.100.9:41000".parse().unwrap(),
    ];
    let mut now = Instant::now();
    let mut rtcp = [0_u64; 3];
    let mut waiting = false;

    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let (bytes, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        let leg = LegId(u64::from(control & 3));
        let from = sources[usize::from(control >> 2 & 1)];

        check_packet(bytes);
        let received = room.handle_datagram(leg, from, bytes, now);
        let known = (1..=3).contains(&leg.0);
        match (known, classify(bytes)) {
            (false, _) => assert_eq!(received, Received::UnknownLeg),
            // RTCP from an address other than the latched one is dropped.
            (true, DatagramKind::Rtcp) => match received {
                Received::Rtcp => rtcp[leg.0 as usize - 1] += 1,
                other => assert_eq!(other, Received::ForeignSource),
            },
            (true, DatagramKind::Other) => assert_eq!(received, Received::Malformed(None)),
            (true, DatagramKind::Rtp) => match RtpPacket::parse(bytes) {
                Err(e) => assert_eq!(received, Received::Malformed(Some(e))),
                Ok(_) => assert!(!matches!(received, Received::Malformed(_) | Received::Rtcp)),
            },
        }

        if control & 0x40 != 0 {
            waiting = !waiting;
            room.set_waiting(waiting);
        }
        if control & 0x80 != 0 && known {
            room.relatch(leg, None).unwrap();
        }
        now += Duration::from_millis(u64::from(control >> 3 & 7) * 10);
        if control & 0x08 != 0 {
            room.tick(now);
            while let Some(transmit) = room.poll_transmit() {
                let (_, config) = legs
                    .iter()
                    .find(|(id, _)| *id == transmit.leg)
                    .expect("the room sends only from its legs");
                if transmit.rtcp {
                    let packets: Vec<_> = RtcpPackets::new(transmit.payload)
                        .collect::<Result<_, _>>()
                        .unwrap();
                    assert!(matches!(
                        packets.first(),
                        Some(RtcpPacket::SenderReport { ssrc, .. } | RtcpPacket::ReceiverReport { ssrc, .. })
                            if *ssrc == config.ssrc
                    ));
                } else {
                    let sent = RtpPacket::parse(transmit.payload).unwrap();
                    assert_eq!(sent.ssrc, config.ssrc);
                }
            }
        }
        while room.poll_event().is_some() {}
    }
    for (i, (id, _)) in legs.iter().enumerate() {
        assert_eq!(room.leg_stats(*id).unwrap().rtcp_in, rtcp[i]);
    }
}

/// One telephone-event payload, then the rest of the input as
/// (timestamp, event) packets through a [`DtmfDetector`].
///
/// Checked: a parsed event writes back as the bytes it came from (less the
/// reserved bit) and parses again equal; the detector reports only digits
/// of the packet's event code, and never twice for the same packet.
pub fn rfc4733(data: &[u8]) {
    if let Ok(event) = TelephoneEvent::parse(data) {
        let bytes = event.to_bytes();
        assert_eq!(bytes, [data[0], data[1] & !0x40, data[2], data[3]]);
        assert_eq!(TelephoneEvent::parse(&bytes), Ok(event));
    }
    let mut detector = DtmfDetector::new();
    for record in data.chunks_exact(6) {
        let timestamp = RtpTimestamp(u32::from(u16::from_be_bytes([record[0], record[1]])) << 8);
        // Four bytes are always an event.
        let event = TelephoneEvent::parse(&record[2..]).unwrap();
        if let Some(digit) = detector.on_packet(timestamp, event) {
            assert_eq!(Some(digit), Digit::from_event(event.event));
        }
        assert_eq!(detector.on_packet(timestamp, event), None);
    }
}

/// The checks on one datagram that need no room.
fn check_packet(bytes: &[u8]) {
    let packet = match RtpPacket::parse(bytes) {
        Ok(packet) => packet,
        Err(RtpError::Rtcp) => {
            assert_eq!(classify(bytes), DatagramKind::Rtcp);
            return;
        }
        Err(_) => return,
    };
    assert_eq!(classify(bytes), DatagramKind::Rtp);
    assert!(packet.payload.len() + 12 + 4 * usize::from(packet.csrc_count) <= bytes.len());
    let mut written = Vec::new();
    RtpHeader {
        marker: packet.marker,
        payload_type: packet.payload_type,
        seq: packet.seq,
        timestamp: packet.timestamp,
        ssrc: packet.ssrc,
    }
    .write(&mut written);
    written.extend_from_slice(packet.payload);
    let again = RtpPacket::parse(&written).unwrap();
    assert_eq!(
        again,
        RtpPacket {
            csrc_count: 0,
            extension: None,
            ..packet
        }
    );
}

fn leg_config(
    codec: Codec,
    telephone_event_pt: Option<u8>,
    ssrc: u32,
    signalled: bool,
) -> LegConfig {
    LegConfig {
        codec,
        payload_type: codec.payload_type(),
        telephone_event_pt,
        ssrc: Ssrc(ssrc),
        initial_seq: SeqNo(65_530),
        initial_ts: RtpTimestamp(0xffff_ff00),
        remote: signalled.then(|| "192.0.2.7:40000".parse().unwrap()),
        jitter: JitterConfig::default(),
    }
}
