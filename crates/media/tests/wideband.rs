//! The wideband mix, stepped with fake time: G.722 and G.711 phones in
//! one `MediaRoom`, each sending a tone as RTP every 20 ms and decoding
//! what it is sent.
//!
//! - A 6 kHz tone from a G.722 leg reaches another G.722 leg, and not a
//!   G.711 leg: its mix is band-limited, with no alias of it below 4 kHz.
//! - A G.711 caller's 1004 Hz tone reaches another G.711 caller through
//!   the 16 kHz mix (up, mixed, low-passed and down) as clean as through
//!   the 8 kHz mix of a G.711-only room (the SINAD of both, measured here).
//! - A G.722 leg hears a G.711 leg, and the room's beep.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::g722::{G722Decoder, G722Encoder};
use media::goertzel::{rms, sinad};
use media::rtp::{RtpHeader, RtpPacket};
use media::{
    Beep, Codec, JitterConfig, LegConfig, LegId, MediaRoom, RtpTimestamp, SeqNo, Ssrc,
    tone_fraction_at,
};

const TICK: Duration = Duration::from_millis(20);

/// A phone: sends a tone (or silence), records what it hears at its codec's rate.
struct Phone {
    leg: LegId,
    addr: SocketAddr,
    codec: Codec,
    freq: f64,
    amplitude: f64,
    n: u64,
    seq: u16,
    ts: u32,
    encoder: G722Encoder,
    decoder: G722Decoder,
    heard: Vec<i16>,
}

impl Phone {
    fn new(leg: u64, codec: Codec, freq: f64, amplitude: f64) -> Self {
        Self {
            leg: LegId(leg),
            addr: SocketAddr::from(([10, 0, 0, leg as u8], 40_000)),
            codec,
            freq,
            amplitude,
            n: 0,
            seq: 65_500,
            ts: u32::MAX - 1000,
            encoder: G722Encoder::new(),
            decoder: G722Decoder::new(),
            heard: Vec::new(),
        }
    }

    fn rate(&self) -> u32 {
        if self.codec.is_wideband() {
            16_000
        } else {
            8000
        }
    }

    fn config(&self) -> LegConfig {
        LegConfig {
            codec: self.codec,
            payload_type: self.codec.payload_type(),
            telephone_event_pt: Some(101),
            ssrc: Ssrc(0x5EED_0000 + self.leg.0 as u32),
            initial_seq: SeqNo(1000),
            initial_ts: RtpTimestamp(0),
            remote: Some(self.addr),
            jitter: JitterConfig::default(),
        }
    }

    /// The next 20 ms packet.
    fn packet(&mut self) -> Vec<u8> {
        let samples = (self.rate() / 50) as u64;
        let rate = f64::from(self.rate());
        let pcm: Vec<i16> = (self.n..self.n + samples)
            .map(|i| {
                (self.amplitude * (std::f64::consts::TAU * self.freq * i as f64 / rate).sin())
                    as i16
            })
            .collect();
        self.n += samples;
        let mut bytes = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: self.codec.payload_type(),
            seq: SeqNo(self.seq),
            timestamp: RtpTimestamp(self.ts),
            ssrc: Ssrc(0xABC0 + self.leg.0 as u32),
        }
        .write(&mut bytes);
        if self.codec.is_wideband() {
            self.encoder.encode_into(&pcm, &mut bytes);
        } else {
            self.codec.encode_into(&pcm, &mut bytes);
        }
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160); // 8 kHz clock, G.722 included
        bytes
    }

    fn hear(&mut self, datagram: &[u8]) {
        let packet = RtpPacket::parse(datagram).unwrap();
        assert_eq!(packet.payload_type, self.codec.payload_type());
        assert_eq!(
            packet.payload.len(),
            160,
            "20 ms: 160 bytes in either codec"
        );
        let mut pcm = vec![0; self.rate() as usize / 50];
        if self.codec.is_wideband() {
            assert_eq!(self.decoder.decode_into(packet.payload, &mut pcm), 320);
        } else {
            self.codec.decode_into(packet.payload, &mut pcm);
        }
        self.heard.extend_from_slice(&pcm);
    }

    /// What it heard in the last `seconds`.
    fn last(&self, seconds: f64) -> &[i16] {
        let n = (seconds * f64::from(self.rate())) as usize;
        &self.heard[self.heard.len() - n..]
    }
}

/// Runs `ticks` ticks of a room of `phones`; `before` acts on the room first.
fn run(phones: &mut [Phone], ticks: u32, before: impl Fn(&mut MediaRoom, u32)) -> MediaRoom {
    let mut room = MediaRoom::new();
    for p in phones.iter() {
        room.add_leg(p.leg, p.config()).unwrap();
    }
    let t0 = Instant::now();
    for tick in 0..ticks {
        let now = t0 + TICK * tick;
        before(&mut room, tick);
        for p in phones.iter_mut() {
            let packet = p.packet();
            let _ = room.handle_datagram(p.leg, p.addr, &packet, now);
        }
        room.tick(now);
        while let Some(t) = room.poll_transmit() {
            if t.rtcp {
                continue;
            }
            let phone = phones.iter_mut().find(|p| p.leg == t.leg).unwrap();
            let payload = t.payload.to_vec();
            phone.hear(&payload);
        }
    }
    room
}

#[test]
fn a_6_khz_tone_reaches_wideband_legs_and_not_a_g711_leg() {
    let mut phones = vec![
        Phone::new(1, Codec::G722, 6000.0, 8000.0), // the talker
        Phone::new(2, Codec::G722, 440.0, 0.0),     // a wideband listener
        Phone::new(3, Codec::Pcmu, 440.0, 0.0),     // a G.711 listener
    ];
    run(&mut phones, 150, |_, _| {});
    let wide = phones[1].last(2.0);
    let share = tone_fraction_at(wide, 6000.0, 16_000);
    assert!(share > 0.9, "the G.722 listener's share of 6 kHz: {share}");
    let wide_level = rms(wide);
    assert!(
        wide_level > 3000.0,
        "the G.722 listener hears {wide_level:.0} RMS"
    );

    // The G.711 listener: nothing of the tone, and no alias of it (6 kHz
    // would fold to 2 kHz at 8 kHz). What it does hear is the G.722
    // talker's own coding noise below 4 kHz: less than that noise over the
    // whole band as the G.722 listener gets it (the part of its signal
    // that is not the tone), and 40 dB below the tone.
    let narrow = phones[2].last(2.0);
    let narrow_level = rms(narrow);
    let wide_sinad = media::goertzel::sinad_at(wide, 6000.0, 16_000);
    let codec_noise = wide_level * 10f64.powf(-wide_sinad / 20.0);
    assert!(
        narrow_level < codec_noise && narrow_level < wide_level / 100.0,
        "the G.711 listener hears {narrow_level:.1} RMS (the codec's noise: {codec_noise:.1})"
    );
    for alias in [2000.0, 3000.0, 1000.0] {
        let share = tone_fraction_at(narrow, alias, 8000);
        assert!(
            share < 0.01,
            "{alias} Hz is {share} of what the G.711 leg hears"
        );
    }
    // The talker hears none of itself.
    assert!(rms(phones[0].last(2.0)) < 50.0);
}

#[test]
fn a_g711_tone_through_the_16_khz_mix_is_as_clean_as_through_the_8_khz_one() {
    // -10 dBFS at 1004 Hz: the µ-law ceiling is about 37-38 dB SINAD.
    let talker = || Phone::new(1, Codec::Pcmu, 1004.0, 10_362.0);
    let mut narrow_room = vec![talker(), Phone::new(2, Codec::Pcmu, 440.0, 0.0)];
    run(&mut narrow_room, 150, |_, _| {});
    let mut wide_room = vec![
        talker(),
        Phone::new(2, Codec::Pcmu, 440.0, 0.0),
        Phone::new(3, Codec::G722, 440.0, 0.0), // silent, but makes the mix 16 kHz
    ];
    run(&mut wide_room, 150, |_, _| {});
    let before = sinad(narrow_room[1].last(2.0), 1004.0);
    let after = sinad(wide_room[1].last(2.0), 1004.0);
    eprintln!(
        "1004 Hz G.711 to G.711: {before:.2} dB SINAD through 8 kHz, {after:.2} dB through 16 kHz"
    );
    assert!(before > 35.0, "8 kHz mix: {before:.1} dB");
    assert!(
        after > before - 0.5,
        "16 kHz mix: {after:.1} dB against {before:.1} dB"
    );
    // The same level too (the filters' passband is flat at 1 kHz).
    let (a, b) = (rms(narrow_room[1].last(2.0)), rms(wide_room[1].last(2.0)));
    assert!((a - b).abs() < a * 0.01, "{a:.0} vs {b:.0} RMS");
    // And the G.722 leg hears it too, at 16 kHz.
    let g722 = wide_room[2].last(2.0);
    assert!(tone_fraction_at(g722, 1004.0, 16_000) > 0.95);
    assert!(sinad_at_16k(g722) > 30.0);
}

fn sinad_at_16k(samples: &[i16]) -> f64 {
    media::goertzel::sinad_at(samples, 1004.0, 16_000)
}

#[test]
fn a_g722_leg_hears_the_beep() {
    let mut phones = vec![
        Phone::new(1, Codec::G722, 440.0, 0.0),
        Phone::new(2, Codec::Pcmu, 440.0, 0.0),
    ];
    run(&mut phones, 60, |room, tick| {
        if tick == 40 {
            room.play_beep(Beep::Join);
        }
    });
    let heard = phones[0].last(0.4);
    let share = tone_fraction_at(heard, media::tone::JOIN_BEEP_HZ, 16_000);
    assert!(rms(heard) > 100.0 && share > 0.3, "beep share {share}");
}

#[test]
fn g711_in_a_g722_leg_and_g722_in_a_g711_leg_are_refused() {
    let mut room = MediaRoom::new();
    let wide = Phone::new(1, Codec::G722, 440.0, 0.0);
    let narrow = Phone::new(2, Codec::Pcmu, 440.0, 0.0);
    room.add_leg(wide.leg, wide.config()).unwrap();
    room.add_leg(narrow.leg, narrow.config()).unwrap();
    let now = Instant::now();
    let mut pcmu = Phone::new(1, Codec::Pcmu, 440.0, 1000.0);
    let mut g722 = Phone::new(2, Codec::G722, 440.0, 1000.0);
    assert_eq!(
        room.handle_datagram(wide.leg, wide.addr, &pcmu.packet(), now),
        media::Received::UnknownPayloadType(0)
    );
    assert_eq!(
        room.handle_datagram(narrow.leg, narrow.addr, &g722.packet(), now),
        media::Received::UnknownPayloadType(9)
    );
    // A G.722 payload of 64 ms is taken, one byte more is not (its 16 kHz
    // samples past the playout buffer's packet limit).
    let mut big = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: 9,
        seq: SeqNo(1),
        timestamp: RtpTimestamp(0),
        ssrc: Ssrc(1),
    }
    .write(&mut big);
    let mut ok = big.clone();
    ok.extend_from_slice(&[0x55; 512]);
    assert!(matches!(
        room.handle_datagram(wide.leg, wide.addr, &ok, now),
        media::Received::Audio(_)
    ));
    big.extend_from_slice(&[0x55; 513]);
    assert!(matches!(
        room.handle_datagram(wide.leg, wide.addr, &big, now),
        media::Received::BadPayload
    ));
}
