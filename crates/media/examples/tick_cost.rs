//! How long a room's 20 ms tick takes: `cargo run -p media --release --example tick_cost [legs] [inband] [talk] [talkers=N] [wide]`.
//! With `inband`, no leg negotiated telephone-event, so each listens for
//! DTMF in its audio (the in-band detector's cost). With `talk`, the room
//! detects who speaks (talker detection's cost). With `wide`, the first leg
//! speaks G.722, so the room mixes at 16 kHz and every other (G.711) leg is
//! resampled both ways (the wideband mix's cost).
//!
//! Every leg sends a 20 ms PCMU packet per tick (encoded up front): a tone
//! (at −21 dBFS), or with `talkers=N` a tone from the first N legs only and
//! digital silence from the rest (a conference as it usually is: with all
//! 100 legs talking every listener's mix is far above full scale and its
//! limiter works on every sample; with a few it is idle). The time covers
//! handling those datagrams, the tick, and draining the transmits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::g722::G722Encoder;
use media::rtp::RtpHeader;
use media::{Codec, JitterConfig, LegConfig, LegId, MediaRoom, RtpTimestamp, SeqNo, Ssrc};

fn main() {
    let legs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let inband = std::env::args().skip(2).any(|a| a == "inband");
    let talk = std::env::args().skip(2).any(|a| a == "talk");
    let wide = std::env::args().skip(2).any(|a| a == "wide");
    let codec_of = |i: u64| {
        if wide && i == 0 {
            Codec::G722
        } else {
            Codec::Pcmu
        }
    };
    let talkers: u64 = std::env::args()
        .skip(2)
        .find_map(|a| a.strip_prefix("talkers=").and_then(|n| n.parse().ok()))
        .unwrap_or(legs);
    let ticks = 3000u32;
    let mut room = MediaRoom::new();
    room.set_talker_detection(talk);
    let addrs: Vec<SocketAddr> = (0..legs)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16)))
        .collect();
    for i in 0..legs {
        let config = LegConfig {
            codec: codec_of(i),
            payload_type: codec_of(i).payload_type(),
            telephone_event_pt: (!inband).then_some(101),
            ssrc: Ssrc(i as u32),
            initial_seq: SeqNo(0),
            initial_ts: RtpTimestamp(0),
            remote: Some(addrs[i as usize]),
            jitter: JitterConfig::default(),
        };
        room.add_leg(LegId(i), config).unwrap();
    }
    // 50 frames of a tone per leg, encoded up front so only the room is timed.
    let frames: Vec<Vec<Vec<u8>>> = (0..legs)
        .map(|i| {
            let f = 300.0 + 20.0 * i as f64; // whole cycles per second: 50 frames loop
            let amplitude = if i < talkers { 3000.0 } else { 0.0 };
            let codec = codec_of(i);
            let rate = if codec.is_wideband() { 16_000 } else { 8000 };
            let mut g722 = G722Encoder::new();
            (0..50u32)
                .map(|k| {
                    let mut out = Vec::new();
                    let n = rate / 50;
                    let pcm: Vec<i16> = (0..n)
                        .map(|m| {
                            let t = f64::from(k * n + m) / f64::from(rate);
                            (amplitude * (std::f64::consts::TAU * f * t).sin()) as i16
                        })
                        .collect();
                    if codec.is_wideband() {
                        g722.encode_into(&pcm, &mut out);
                    } else {
                        codec.encode_into(&pcm, &mut out);
                    }
                    out
                })
                .collect()
        })
        .collect();
    let t0 = Instant::now();
    let mut packet = Vec::new();
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut sent = 0u64;
    for tick in 0..ticks {
        let now = t0 + Duration::from_millis(20) * tick;
        let start = Instant::now();
        for i in 0..legs {
            RtpHeader {
                marker: false,
                payload_type: codec_of(i).payload_type(),
                seq: SeqNo(tick as u16),
                timestamp: RtpTimestamp(tick * 160),
                ssrc: Ssrc(1000 + i as u32),
            }
            .write(&mut packet);
            packet.extend_from_slice(&frames[i as usize][(tick % 50) as usize]);
            let _ = room.handle_datagram(LegId(i), addrs[i as usize], &packet, now);
        }
        room.tick(now);
        while room.poll_transmit().is_some() {
            sent += 1;
        }
        let took = start.elapsed();
        if tick > 100 {
            worst = worst.max(took);
            total += took;
        }
    }
    let mean = total / (ticks - 101);
    println!(
        "{legs} legs ({talkers} talking{}): mean {:?} per tick (datagrams in, mix, encode, transmits out), worst {:?}, {sent} packets out",
        if wide { ", the first G.722" } else { "" },
        mean,
        worst
    );
}
