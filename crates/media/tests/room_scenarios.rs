//! Scenario tests: phones sending real RTP datagrams through a `MediaRoom`,
//! stepped with fake time (20 ms a tick, never sleeping), with a Goertzel
//! detector listening to what each phone receives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::dtmf::TelephoneEvent;
use media::rtcp::{ReportBlock, RtcpPacket, RtcpPackets, write_report};
use media::rtp::{RtpHeader, RtpPacket};
use media::tone::JOIN_BEEP_HZ;
use media::{
    Beep, Codec, FRAME_SAMPLES, JitterConfig, LegConfig, LegId, MediaEvent, MediaRoom, PcmSource,
    Received, Repeat, RtpTimestamp, SeqNo, Ssrc, tone_fraction,
};
use proptest::prelude::*;

const TICK: Duration = Duration::from_millis(20);

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], port))
}

/// A simulated phone: sends a tone as RTP every `ptime`, records what it hears.
struct Phone {
    leg: LegId,
    addr: SocketAddr,
    codec: Codec,
    ptime: usize,
    freq: f64,
    amplitude: f64,
    ssrc: u32,
    seq: u16,
    ts: u32,
    sent: u64,
    sending: bool,
    /// What arrived in each tick (None: nothing was sent to this phone).
    heard: Vec<Option<Vec<i16>>>,
    headers: Vec<(bool, u16, u32, u32, u8)>,
}

impl Phone {
    fn new(leg: u64, codec: Codec, ptime_ms: usize, freq: f64) -> Self {
        Self {
            leg: LegId(leg),
            addr: addr(leg as u8, 40_000 + leg as u16),
            codec,
            ptime: ptime_ms * 8,
            freq,
            amplitude: 6000.0,
            ssrc: 0xABC0 + leg as u32,
            seq: 65_000u16.wrapping_add(leg as u16 * 100), // wraps during the tests
            ts: u32::MAX - 5000 * leg as u32,              // so does this
            sent: 0,
            sending: true,
            heard: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn config(&self) -> LegConfig {
        LegConfig {
            codec: self.codec,
            payload_type: self.codec.payload_type(),
            telephone_event_pt: Some(101),
            ssrc: Ssrc(0x5EED_0000 + self.leg.0 as u32),
            initial_seq: SeqNo(1000 * self.leg.0 as u16),
            initial_ts: RtpTimestamp(77 * self.leg.0 as u32),
            remote: None,
            jitter: JitterConfig::default(),
        }
    }

    fn sample(&self, n: u64) -> i16 {
        (self.amplitude * (std::f64::consts::TAU * self.freq * n as f64 / 8000.0).sin()) as i16
    }

    /// Packets whose send time (by the phone's clock) has come by `ms`.
    fn due(&mut self, ms: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.sending && self.sent / 8 <= ms {
            let samples: Vec<i16> = (self.sent..self.sent + self.ptime as u64)
                .map(|n| self.sample(n))
                .collect();
            out.push(self.packet(&samples));
            self.sent += self.ptime as u64;
        }
        out
    }

    fn packet(&mut self, samples: &[i16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        RtpHeader {
            marker: self.sent == 0,
            payload_type: self.codec.payload_type(),
            seq: SeqNo(self.seq),
            timestamp: RtpTimestamp(self.ts),
            ssrc: Ssrc(self.ssrc),
        }
        .write(&mut bytes);
        self.codec.encode_into(samples, &mut bytes);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(samples.len() as u32);
        bytes
    }

    /// The last `ticks` ticks of what this phone heard, concatenated (silence for gaps).
    fn recent(&self, ticks: usize) -> Vec<i16> {
        self.heard[self.heard.len() - ticks..]
            .iter()
            .flat_map(|f| f.clone().unwrap_or_else(|| vec![0; FRAME_SAMPLES]))
            .collect()
    }

    fn tick_heard(&self, tick: usize) -> &[i16] {
        self.heard[tick].as_deref().expect("something was sent")
    }
}

struct Scenario {
    room: MediaRoom,
    phones: Vec<Phone>,
    t0: Instant,
    tick: u64,
}

impl Scenario {
    fn new(phones: Vec<Phone>) -> Self {
        let mut room = MediaRoom::new();
        for p in &phones {
            room.add_leg(p.leg, p.config()).unwrap();
        }
        Self {
            room,
            phones,
            t0: Instant::now(),
            tick: 0,
        }
    }

    fn now(&self) -> Instant {
        self.t0 + TICK * self.tick as u32
    }

    /// One 20 ms step: deliver what is due, tick, collect what was sent.
    fn step(&mut self) {
        self.step_with(|_, _| {});
    }

    /// [`Scenario::step`], showing each transmit (and the tick) to `see`.
    fn step_with(&mut self, mut see: impl FnMut(&media::room::Transmit<'_>, u64)) {
        let now = self.now();
        let ms = self.tick * 20;
        for p in &mut self.phones {
            for bytes in p.due(ms) {
                let r = self.room.handle_datagram(p.leg, p.addr, &bytes, now);
                assert!(
                    matches!(r, Received::Audio(_) | Received::Learning),
                    "{r:?}"
                );
            }
        }
        self.room.tick(now);
        for p in &mut self.phones {
            p.heard.push(None);
        }
        while let Some(t) = self.room.poll_transmit() {
            see(&t, self.tick);
            if t.rtcp {
                continue; // reports: see the RTCP scenario
            }
            let p = self.phones.iter_mut().find(|p| p.leg == t.leg).unwrap();
            assert_eq!(t.to, p.addr, "sent to the latched address only");
            let packet = RtpPacket::parse(t.payload).unwrap();
            assert_eq!(packet.payload_type, p.codec.payload_type());
            p.headers.push((
                packet.marker,
                packet.seq.0,
                packet.timestamp.0,
                packet.ssrc.0,
                packet.payload_type,
            ));
            let pcm: Vec<i16> = packet.payload.iter().map(|&b| p.codec.decode(b)).collect();
            assert_eq!(pcm.len(), FRAME_SAMPLES);
            *p.heard.last_mut().unwrap() = Some(pcm);
        }
        self.tick += 1;
    }

    fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.step();
        }
    }

    fn events(&mut self) -> Vec<MediaEvent> {
        std::iter::from_fn(|| self.room.poll_event()).collect()
    }
}

const TONES: [f64; 3] = [400.0, 700.0, 1100.0];

fn three_callers() -> Scenario {
    Scenario::new(vec![
        Phone::new(1, Codec::Pcmu, 20, TONES[0]),
        Phone::new(2, Codec::Pcmu, 20, TONES[1]),
        // SIPp's PCMA pcap sends 30 ms packets.
        Phone::new(3, Codec::Pcma, 30, TONES[2]),
    ])
}

fn assert_hears(heard: &[i16], present: &[f64], absent: &[f64], what: &str) {
    for &f in present {
        let x = tone_fraction(heard, f);
        assert!(x > 0.25, "{what}: {f} Hz should be heard, fraction {x}");
    }
    for &f in absent {
        let x = tone_fraction(heard, f);
        assert!(x < 0.01, "{what}: {f} Hz should not be heard, fraction {x}");
    }
}

#[test]
fn each_caller_hears_the_other_two_and_never_itself() {
    let mut s = three_callers();
    s.run(50);
    for (i, p) in s.phones.iter().enumerate() {
        let others: Vec<f64> = (0..3).filter(|&j| j != i).map(|j| TONES[j]).collect();
        assert_hears(&p.recent(25), &others, &[TONES[i]], &format!("phone {i}"));
    }
    let events = s.events();
    for p in &s.phones {
        assert!(events.contains(&MediaEvent::Latched {
            leg: p.leg,
            remote: p.addr
        }));
    }
}

#[test]
fn outgoing_rtp_headers_count_properly() {
    let mut s = three_callers();
    s.run(40);
    for p in &s.phones {
        let config = p.config();
        let h = &p.headers;
        assert!(h.len() >= 35, "{}", h.len());
        assert!(h[0].0, "marker on the first packet");
        assert!(h[1..].iter().all(|x| !x.0), "and only there");
        for w in h.windows(2) {
            assert_eq!(w[1].1, w[0].1.wrapping_add(1));
            assert_eq!(w[1].2, w[0].2.wrapping_add(160));
        }
        assert!(h.iter().all(|x| x.3 == config.ssrc.0));
        // The timestamp counts from the configured start, a tick at a time,
        // including the ticks before the phone's address was known.
        let first_tick = p.heard.iter().position(Option::is_some).unwrap() as u32;
        assert_eq!(h[0].1, config.initial_seq.0);
        assert_eq!(h[0].2, config.initial_ts.0 + 160 * first_tick);
    }
    let stats = s.room.stats();
    assert_eq!(stats.ticks, 40);
    assert!(stats.legs.packets_in > 90);
    assert_eq!(stats.legs.foreign_dropped, 0);
    assert_eq!(stats.legs.lost, 0);
}

#[test]
fn muting_removes_a_tone_from_the_next_tick_and_unmuting_restores_it() {
    let mut s = three_callers();
    s.run(40);
    let muted = s.phones[0].leg;
    s.room.set_muted(muted, true).unwrap();
    let from = s.heard_len();
    s.run(20);
    for i in [1, 2] {
        for tick in from..from + 20 {
            let frame = s.phones[i].tick_heard(tick);
            let x = tone_fraction(frame, TONES[0]);
            assert!(x < 0.01, "phone {i} tick {tick}: muted tone at {x}");
        }
    }
    // The muted phone still hears both others.
    assert_hears(
        &s.phones[0].recent(20),
        &TONES[1..],
        &[TONES[0]],
        "muted phone",
    );

    s.room.set_muted(muted, false).unwrap();
    let from = s.heard_len();
    s.run(10);
    for i in [1, 2] {
        for tick in from..from + 10 {
            let x = tone_fraction(s.phones[i].tick_heard(tick), TONES[0]);
            assert!(x > 0.25, "phone {i} tick {tick}: unmuted tone at {x}");
        }
    }
}

impl Scenario {
    fn heard_len(&self) -> usize {
        self.phones[0].heard.len()
    }
}

#[test]
fn a_held_leg_is_not_heard_and_receives_nothing() {
    let mut s = three_callers();
    s.run(30);
    let held = s.phones[2].leg;
    s.room.set_hold(held, true).unwrap();
    let from = s.heard_len();
    let sent_before = s.phones[2].headers.len();
    s.run(25);
    assert_eq!(
        s.phones[2].headers.len(),
        sent_before,
        "nothing sent to a held leg"
    );
    assert!(s.phones[2].heard[from..].iter().all(Option::is_none));
    for i in [0, 1] {
        assert_hears(
            &s.phones[i].recent(25),
            &[TONES[1 - i]],
            &[TONES[i], TONES[2]],
            &format!("phone {i} with 2 held"),
        );
    }
    s.room.set_hold(held, false).unwrap();
    s.run(25);
    let h = &s.phones[2].headers;
    let resumed = &h[sent_before..];
    assert!(resumed[0].0, "marker again after hold");
    assert_eq!(
        resumed[0].1,
        h[sent_before - 1].1.wrapping_add(1),
        "seq continues"
    );
    assert_eq!(
        resumed[0].2,
        h[sent_before - 1].2.wrapping_add(160 * 26),
        "timestamp kept counting"
    );
    assert_hears(
        &s.phones[2].recent(20),
        &TONES[..2],
        &[TONES[2]],
        "unheld phone",
    );
    assert_hears(
        &s.phones[0].recent(20),
        &[TONES[1], TONES[2]],
        &[TONES[0]],
        "phone 0",
    );
}

#[test]
fn a_waiting_room_plays_hold_music_and_nobody_hears_anybody() {
    let mut s = three_callers();
    s.room.set_waiting(true);
    s.run(60);
    let music = media::hold_music::samples();
    for (i, p) in s.phones.iter().enumerate() {
        let heard = p.recent(50);
        assert_hears(&heard, &[], &TONES, &format!("waiting phone {i}"));
        assert!(
            media::goertzel::rms(&heard) > 500.0,
            "hold music is audible"
        );
        // Exactly the music, through the leg's codec: the wait source runs
        // one frame per tick from the leg's first tick.
        let from = (p.heard.len() - 50) * FRAME_SAMPLES;
        for (k, &x) in heard.iter().enumerate() {
            assert_eq!(
                x,
                p.codec.decode(p.codec.encode(music[from + k])),
                "phone {i} sample {k}"
            );
        }
    }
    s.room.set_waiting(false);
    s.run(30);
    for (i, p) in s.phones.iter().enumerate() {
        let others: Vec<f64> = (0..3).filter(|&j| j != i).map(|j| TONES[j]).collect();
        assert_hears(
            &p.recent(25),
            &others,
            &[TONES[i]],
            &format!("started phone {i}"),
        );
    }
}

#[test]
fn wait_sources_can_be_silence_or_a_file_that_ends() {
    let mut s = three_callers();
    s.room.set_waiting(true);
    s.room.set_wait_source(s.phones[0].leg, None).unwrap();
    let clip: Arc<[i16]> = vec![5000i16; 800].into(); // 100 ms
    s.room
        .set_wait_source(
            s.phones[1].leg,
            Some(Box::new(PcmSource::new(clip, Repeat::Times(2)))),
        )
        .unwrap();
    s.run(40);
    assert!(s.phones[0].recent(35).iter().all(|&x| x == 0));
    let ended: Vec<_> = s
        .events()
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::WaitSourceEnded { .. }))
        .collect();
    assert_eq!(
        ended,
        vec![MediaEvent::WaitSourceEnded {
            leg: s.phones[1].leg
        }]
    );
    assert!(s.phones[1].recent(20).iter().all(|&x| x == 0));
}

/// −3 dBFS, as a peak amplitude.
const MINUS_3_DBFS: f64 = 23_197.0;
/// The largest magnitude μ-law decodes to: a sample there is at full scale.
const MU_LAW_FULL_SCALE: u16 = 32_124;

fn full_scale_fraction(heard: &[i16]) -> f64 {
    let pinned = heard
        .iter()
        .filter(|x| x.unsigned_abs() >= MU_LAW_FULL_SCALE)
        .count();
    pinned as f64 / heard.len() as f64
}

/// Whether every sample of `heard` that the reference puts well away from
/// zero has the reference's sign (a wrap flips it), at the best alignment
/// (`reference` is longer than `heard`: the extra is the lags tried).
fn no_wrap(heard: &[i16], reference: &[f64]) -> Result<(), String> {
    let lag = (0..reference.len() - heard.len())
        .max_by_key(|&lag| {
            heard
                .iter()
                .zip(&reference[lag..])
                .map(|(&a, &b)| (f64::from(a) * b) as i64)
                .sum::<i64>()
        })
        .unwrap();
    let big = reference.iter().fold(0.0f64, |m, x| m.max(x.abs())) / 4.0;
    for (k, (&a, &b)) in heard.iter().zip(&reference[lag..]).enumerate() {
        if b.abs() > big && f64::from(a).signum() != b.signum() {
            return Err(format!("sample {k} wrapped: {a} vs {b}"));
        }
    }
    Ok(())
}

#[test]
fn two_full_scale_legs_are_limited_for_a_listener_not_clipped_or_wrapped() {
    let mut loud_a = Phone::new(1, Codec::Pcmu, 20, 400.0);
    let mut loud_b = Phone::new(2, Codec::Pcmu, 20, 400.0);
    loud_a.amplitude = 32_000.0;
    loud_b.amplitude = 32_000.0;
    let mut listener = Phone::new(3, Codec::Pcmu, 20, 1500.0);
    listener.amplitude = 0.0;
    let mut s = Scenario::new(vec![loud_a, loud_b, listener]);
    s.run(40);
    let heard = s.phones[2].recent(20);
    // The phones' waves are in phase, so the sum is the wave doubled: the
    // limiter turns it down to a clean sine under full scale.
    assert_eq!(full_scale_fraction(&heard), 0.0);
    let peak = heard.iter().map(|x| x.unsigned_abs()).max().unwrap();
    assert!(peak > 29_000, "{peak}");
    let reference: Vec<f64> = (0..heard.len() as u64 + 40)
        .map(|n| f64::from(s.phones[0].sample(n)))
        .collect();
    no_wrap(&heard, &reference).unwrap();
    assert!(tone_fraction(&heard, 400.0) > 0.99);
    // Each loud leg hears just the other, a clean sine.
    let x = tone_fraction(&s.phones[0].recent(20), 400.0);
    assert!(x > 0.99, "{x}");
}

#[test]
fn five_talkers_at_minus_3_dbfs_reach_a_listener_clean_and_under_full_scale() {
    const FREQS: [f64; 5] = [350.0, 450.0, 620.0, 830.0, 1100.0];
    let mut phones: Vec<Phone> = FREQS
        .iter()
        .enumerate()
        .map(|(i, &freq)| {
            let mut p = Phone::new(i as u64 + 1, Codec::Pcmu, 20, freq);
            p.amplitude = MINUS_3_DBFS;
            p
        })
        .collect();
    let mut listener = Phone::new(6, Codec::Pcmu, 20, 1500.0);
    listener.amplitude = 0.0;
    phones.push(listener);
    let mut s = Scenario::new(phones);
    s.run(250);
    // The last 4 s, after the start-up.
    let heard = s.phones[5].recent(200);
    let pinned = full_scale_fraction(&heard);
    assert!(pinned <= 0.01, "{:.1} % at full scale", 100.0 * pinned);
    // What was sent over the same 4 s, from up to 100 ms (a whole period of
    // the five tones) before.
    let first = 50 * FRAME_SAMPLES as u64 - 800;
    let reference: Vec<f64> = (first..first + heard.len() as u64 + 800)
        .map(|n| s.phones[..5].iter().map(|p| f64::from(p.sample(n))).sum())
        .collect();
    no_wrap(&heard, &reference).unwrap();
    // Every voice is still there, at about the same share.
    for &freq in &FREQS {
        let f = tone_fraction(&heard, freq);
        assert!((0.15..0.25).contains(&f), "{freq} Hz: {f}");
    }
    // Each talker hears the other four the same way.
    for (i, p) in s.phones[..5].iter().enumerate() {
        let heard = p.recent(200);
        let pinned = full_scale_fraction(&heard);
        assert!(pinned <= 0.01, "talker {i}: {:.1} %", 100.0 * pinned);
        assert!(tone_fraction(&heard, FREQS[i]) < 1e-3);
    }
}

#[test]
fn a_quiet_room_is_mixed_bit_exact() {
    // Three voices at −12 dBFS: every listener hears exactly the μ-law sum
    // of what the others sent, as before there was a limiter.
    let mut s = Scenario::new(
        TONES
            .iter()
            .enumerate()
            .map(|(i, &freq)| {
                let mut p = Phone::new(i as u64 + 1, Codec::Pcmu, 20, freq);
                p.amplitude = 8000.0;
                p
            })
            .collect(),
    );
    s.run(60);
    // Every phone's packets are played with the same delay, so the sum is
    // aligned per sample at one lag, found first.
    let sent: Vec<Vec<i16>> = s
        .phones
        .iter()
        .map(|p| {
            (0..60 * FRAME_SAMPLES as u64)
                .map(|n| Codec::Pcmu.decode(Codec::Pcmu.encode(p.sample(n))))
                .collect()
        })
        .collect();
    for (i, p) in s.phones.iter().enumerate() {
        let heard = p.recent(40);
        let start = 20 * FRAME_SAMPLES;
        let lag = (0..3 * FRAME_SAMPLES)
            .find(|&lag| {
                (0..FRAME_SAMPLES).all(|k| {
                    let sum: i32 = (0..3)
                        .filter(|&o| o != i)
                        .map(|o| i32::from(sent[o][start - lag + k]))
                        .sum();
                    Codec::Pcmu.decode(Codec::Pcmu.encode(sum as i16)) == heard[k]
                })
            })
            .expect("the exact sum, at some alignment");
        for (k, &h) in heard.iter().enumerate() {
            let sum: i32 = (0..3)
                .filter(|&o| o != i)
                .map(|o| i32::from(sent[o][start - lag + k]))
                .sum();
            assert_eq!(
                Codec::Pcmu.decode(Codec::Pcmu.encode(sum as i16)),
                h,
                "leg {i} sample {k}"
            );
        }
    }
}

#[test]
fn rtp_from_a_second_address_is_dropped_counted_and_never_mixed() {
    let mut s = three_callers();
    s.run(20);
    let victim = s.phones[0].leg;
    let mut intruder = Phone::new(9, Codec::Pcmu, 20, 1700.0);
    intruder.addr = addr(66, 6666);
    let mut dropped = 0;
    for _ in 0..40 {
        let now = s.now();
        for bytes in intruder.due(s.tick * 20) {
            let r = s.room.handle_datagram(victim, intruder.addr, &bytes, now);
            assert_eq!(r, Received::ForeignSource);
            dropped += 1;
        }
        s.step();
    }
    assert_eq!(s.room.leg_stats(victim).unwrap().foreign_dropped, dropped);
    assert_eq!(s.room.stats().legs.foreign_dropped, dropped);
    for (i, p) in s.phones.iter().enumerate() {
        let x = tone_fraction(&p.recent(40), 1700.0);
        assert!(x < 0.001, "phone {i} hears the intruder: {x}");
    }
    // The victim's own audio still flows.
    assert_hears(&s.phones[1].recent(20), &[TONES[0]], &[1700.0], "phone 1");
}

#[test]
fn nothing_is_sent_before_the_address_is_known() {
    let mut room = MediaRoom::new();
    let p = Phone::new(1, Codec::Pcmu, 20, 400.0);
    room.add_leg(p.leg, p.config()).unwrap();
    let t0 = Instant::now();
    for i in 0..5 {
        room.tick(t0 + TICK * i);
        assert!(room.poll_transmit().is_none());
    }
    // With the SDP's address we send right away, before any packet arrives.
    let mut config = p.config();
    config.remote = Some(p.addr);
    room.add_leg(LegId(2), config).unwrap();
    room.tick(t0 + TICK * 5);
    let t = room.poll_transmit().unwrap();
    assert_eq!((t.leg, t.to), (LegId(2), p.addr));
    assert!(room.poll_transmit().is_none());
    assert_eq!(room.poll_timeout(), Some(t0 + TICK * 6));
}

#[test]
fn a_star_pressed_like_a_phone_is_reported_once() {
    let mut s = three_callers();
    s.run(10);
    let _ = s.events();
    let now = s.now();
    let p = &mut s.phones[1];
    let (leg, from) = (p.leg, p.addr);
    let ts = RtpTimestamp(p.ts);
    let mut packets = Vec::new();
    for i in 1..=6u16 {
        packets.push((
            i == 1,
            TelephoneEvent {
                event: 10,
                end: false,
                volume: 10,
                duration: i * 160,
            },
        ));
    }
    for _ in 0..3 {
        packets.push((
            false,
            TelephoneEvent {
                event: 10,
                end: true,
                volume: 10,
                duration: 1120,
            },
        ));
    }
    for (marker, ev) in packets {
        let mut bytes = Vec::new();
        RtpHeader {
            marker,
            payload_type: 101,
            seq: SeqNo(p.seq),
            timestamp: ts,
            ssrc: Ssrc(p.ssrc),
        }
        .write(&mut bytes);
        bytes.extend_from_slice(&ev.to_bytes());
        p.seq = p.seq.wrapping_add(1);
        assert_eq!(
            s.room.handle_datagram(leg, from, &bytes, now),
            Received::Dtmf
        );
    }
    s.run(5);
    let digits: Vec<_> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { leg, digit } => Some((leg, digit.as_char())),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![(leg, '*')]);
    let stats = s.room.leg_stats(leg).unwrap();
    assert_eq!(stats.dtmf_digits, 1);
    // Telephone events share the audio's sequence numbers: no gap, no loss.
    assert_eq!(stats.lost, 0);
}

#[test]
fn beeps_are_heard_by_everyone_not_held() {
    let mut s = three_callers();
    s.run(30);
    s.room.set_hold(s.phones[2].leg, true).unwrap();
    s.room.play_beep(Beep::Join);
    s.run(10);
    for i in [0, 1] {
        let x = tone_fraction(&s.phones[i].recent(10), JOIN_BEEP_HZ);
        assert!(x > 0.2, "phone {i}: beep at {x}");
    }
    assert!(s.phones[2].heard[30..].iter().all(Option::is_none));
    // Waiting legs hear the beep over their wait audio too.
    s.room.set_waiting(true);
    s.room.set_wait_source(s.phones[0].leg, None).unwrap();
    s.room.play_beep(Beep::Leave);
    s.run(20);
    // The join beep's last 3 frames, then the 13 of the leave beep.
    let leave: Vec<i16> = s.phones[0].heard[43..56]
        .iter()
        .flat_map(|f| f.clone().unwrap())
        .collect();
    let x = tone_fraction(&leave, media::tone::LEAVE_BEEP_HZ);
    assert!(x > 0.9, "{x}");
}

#[test]
fn a_sender_that_stops_does_not_stall_the_room() {
    let mut s = three_callers();
    s.run(30);
    s.phones[0].sending = false;
    s.run(30);
    // Phone 0 went quiet; the others still hear each other and all get frames.
    assert_hears(
        &s.phones[1].recent(20),
        &[TONES[2]],
        &[TONES[0], TONES[1]],
        "phone 1",
    );
    assert_hears(&s.phones[0].recent(20), &TONES[1..], &[TONES[0]], "phone 0");
    assert!(
        s.phones
            .iter()
            .all(|p| p.heard[30..].iter().all(Option::is_some))
    );
}

#[test]
fn legs_come_and_go() {
    let mut s = three_callers();
    s.run(20);
    let gone = s.phones.remove(1);
    let stats = s.room.remove_leg(gone.leg).unwrap();
    assert!(stats.packets_in > 10);
    assert!(s.room.remove_leg(gone.leg).is_err());
    assert!(
        s.room
            .add_leg(s.phones[0].leg, s.phones[0].config())
            .is_err()
    );
    assert_eq!(
        s.room
            .handle_datagram(gone.leg, gone.addr, &[0x80; 20], s.now()),
        Received::UnknownLeg
    );
    s.run(20);
    assert_hears(
        &s.phones[0].recent(15),
        &[TONES[2]],
        &[TONES[0], TONES[1]],
        "phone 0",
    );
    // Totals keep the departed leg's counts.
    assert!(s.room.stats().legs.packets_in >= stats.packets_in + 20);
    assert_eq!(s.room.legs().collect::<Vec<_>>(), vec![LegId(1), LegId(3)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn garbage_datagrams_never_panic(
        datagrams in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                // Mostly-valid RTP headers with random rest, to get past the first checks.
                (any::<u8>(), any::<[u8; 11]>(), proptest::collection::vec(any::<u8>(), 0..200))
                    .prop_map(|(b1, head, rest)| {
                        let mut v = vec![0x80 | (b1 & 0x3f)];
                        v.extend_from_slice(&head);
                        v.extend(rest);
                        v
                    }),
            ],
            1..40,
        ),
        from_port in 1u16..4,
    ) {
        let mut s = three_callers();
        s.run(5);
        let now = s.now();
        let leg = s.phones[0].leg;
        for (i, bytes) in datagrams.iter().enumerate() {
            let _ = s.room.handle_datagram(leg, addr(1, from_port), bytes, now);
            if i % 5 == 0 {
                s.room.tick(now);
                while s.room.poll_transmit().is_some() {}
                while s.room.poll_event().is_some() {}
            }
        }
        s.run(5);
    }
}

#[test]
fn a_phone_that_changes_ssrc_and_back_stays_heard() {
    // A→B→A from the latched address, each SSRC with its own numbering.
    let mut s = Scenario::new(vec![
        Phone::new(1, Codec::Pcmu, 20, TONES[0]),
        Phone::new(2, Codec::Pcmu, 20, TONES[1]),
    ]);
    s.run(25);
    let a = (s.phones[0].ssrc, s.phones[0].seq, s.phones[0].ts);
    s.phones[0].ssrc = 0xB0B;
    s.phones[0].seq = 7;
    s.phones[0].ts = 123_456;
    s.run(25);
    assert_hears(&s.phones[1].recent(20), &[TONES[0]], &[], "on SSRC B");
    let b_heard = s.phones[1].heard.len();
    (s.phones[0].ssrc, s.phones[0].seq) = (a.0, a.1);
    s.phones[0].ts = a.2.wrapping_add(25 * FRAME_SAMPLES as u32);
    s.run(25);
    assert_hears(&s.phones[1].recent(20), &[TONES[0]], &[], "back on SSRC A");
    // Never silent at a switch: every tick after the start carries the tone.
    for tick in 5..s.phones[1].heard.len() {
        let frame = s.phones[1].tick_heard(tick);
        assert!(
            media::goertzel::rms(frame) > 1000.0,
            "tick {tick} (switch back at {b_heard}) is silent"
        );
    }
    let stats = s.room.leg_stats(s.phones[0].leg).unwrap();
    assert_eq!(stats.resyncs, 2);
    assert_eq!(stats.foreign_dropped, 0);
}

#[test]
fn in_band_keys_are_reported_like_telephone_events_only_without_them() {
    // '*' (941 + 1209 Hz) pressed as audio, 200 ms, on a leg without
    // telephone-event and on one with it (whose keys come as events).
    let mut room = MediaRoom::new();
    let plain = Phone::new(1, Codec::Pcmu, 20, 0.0);
    let evented = Phone::new(2, Codec::Pcmu, 20, 0.0);
    let mut config = plain.config();
    config.telephone_event_pt = None;
    room.add_leg(plain.leg, config).unwrap();
    room.add_leg(evented.leg, evented.config()).unwrap();
    let t0 = Instant::now();
    let key = |n: u64| {
        let t = n as f64 / 8000.0;
        let tau = std::f64::consts::TAU;
        (5000.0 * (tau * 941.0 * t).sin() + 5000.0 * (tau * 1209.0 * t).sin()) as i16
    };
    let packet = |p: &Phone, i: u64| {
        let samples: Vec<i16> = (0..FRAME_SAMPLES as u64)
            .map(|n| {
                if (10..20).contains(&i) {
                    key(i * 160 + n)
                } else {
                    0
                }
            })
            .collect();
        let mut bytes = Vec::new();
        RtpHeader {
            marker: i == 0,
            payload_type: 0,
            seq: SeqNo(i as u16),
            timestamp: RtpTimestamp(i as u32 * 160),
            ssrc: Ssrc(p.ssrc),
        }
        .write(&mut bytes);
        Codec::Pcmu.encode_into(&samples, &mut bytes);
        bytes
    };
    let mut events = Vec::new();
    for i in 0..40u64 {
        let now = t0 + TICK * i as u32;
        for p in [&plain, &evented] {
            let bytes = packet(p, i);
            let _ = room.handle_datagram(p.leg, p.addr, &bytes, now);
        }
        room.tick(now);
        while room.poll_transmit().is_some() {}
        events.extend(std::iter::from_fn(|| room.poll_event()));
    }
    let keys: Vec<(LegId, char)> = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { leg, digit } => Some((*leg, digit.as_char())),
            _ => None,
        })
        .collect();
    assert_eq!(keys, [(plain.leg, '*')]);
    assert_eq!(room.leg_stats(plain.leg).unwrap().dtmf_digits, 1);
}

#[test]
fn rtcp_reports_go_out_every_randomised_five_seconds_and_peer_reports_are_kept() {
    // Leg 1 negotiated rtcp-mux and talks; leg 2 did not, and is held (so
    // it sends no RTP: its reports are RRs).
    let mut s = Scenario::new(vec![
        Phone::new(1, Codec::Pcmu, 20, 400.0),
        Phone::new(2, Codec::Pcmu, 20, 700.0),
    ]);
    let (one, two) = (s.phones[0].leg, s.phones[1].leg);
    s.room.set_rtcp_mux(one, true).unwrap();
    s.room.set_hold(two, true).unwrap();
    let mut reports: Vec<(LegId, u64, std::net::SocketAddr, Vec<u8>)> = Vec::new();
    for _ in 0..(60 * 50) {
        s.step_with(|t, tick| {
            if t.rtcp {
                reports.push((t.leg, tick, t.to, t.payload.to_vec()));
            }
        });
        if s.tick == 100 {
            // The peer of leg 1 reports on our stream: 7 lost, jitter 12.
            let ours = s.phones[0].config().ssrc;
            let mut rr = Vec::new();
            let block = ReportBlock {
                source: ours,
                fraction_lost: 0,
                cumulative_lost: 7,
                highest_seq: 100,
                jitter: 12,
                last_sr: 0,
                delay_since_last_sr: 0,
            };
            write_report(&mut rr, Ssrc(s.phones[0].ssrc), None, Some(block), b"phone");
            let (addr, now) = (s.phones[0].addr, s.now());
            assert_eq!(s.room.handle_datagram(one, addr, &rr, now), Received::Rtcp);
            assert_eq!(
                s.room.handle_datagram(one, addr, &rr[..10], now),
                Received::Rtcp
            );
            let stray = addr_of(9);
            assert_eq!(
                s.room.handle_datagram(one, stray, &rr, now),
                Received::ForeignSource
            );
        }
    }
    for (leg, to) in [(one, s.phones[0].addr), (two, s.phones[1].addr)] {
        let mine: Vec<_> = reports.iter().filter(|r| r.0 == leg).collect();
        // 60 s at 2.5–7.5 s each (the first one interval after the start).
        assert!((8..=24).contains(&mine.len()), "{leg:?}: {}", mine.len());
        let gaps: Vec<u64> = mine.windows(2).map(|w| w[1].1 - w[0].1).collect();
        assert!(
            gaps.iter().all(|g| (125..=375).contains(g)),
            "{leg:?}: {gaps:?}"
        );
        assert!(gaps.iter().any(|&g| g != gaps[0]), "randomised: {gaps:?}");
        let expected_to = if leg == one {
            to
        } else {
            std::net::SocketAddr::new(to.ip(), to.port() + 1)
        };
        assert!(mine.iter().all(|r| r.2 == expected_to), "{leg:?}");
        let packets: Vec<_> = RtcpPackets::new(&mine[0].3)
            .collect::<Result<_, _>>()
            .unwrap();
        match (leg == one, packets[0]) {
            (
                true,
                RtcpPacket::SenderReport {
                    info, mut reports, ..
                },
            ) => {
                assert!(info.packets > 0);
                let block = reports.next().expect("a block on the phone's stream");
                assert_eq!(block.source, Ssrc(s.phones[0].ssrc));
            }
            (false, RtcpPacket::ReceiverReport { .. }) => {}
            (_, other) => panic!("{leg:?}: {other:?}"),
        }
        assert_eq!(
            packets[1],
            RtcpPacket::SourceDescription {
                cname: Some(b"confab")
            }
        );
    }
    let stats = s.room.leg_stats(one).unwrap();
    assert_eq!((stats.peer_lost, stats.peer_jitter), (7, 12));
    assert_eq!(
        (stats.rtcp_in, stats.rtcp_reports_in, stats.rtcp_malformed),
        (2, 1, 1)
    );
    assert_eq!(stats.foreign_dropped, 1);
}

fn addr_of(last: u8) -> SocketAddr {
    addr(last, 50_000)
}

/// A tone as a clip of `ms` milliseconds.
fn tone_clip(freq: f64, ms: usize) -> Arc<[i16]> {
    (0..ms * 8)
        .map(|n| (6000.0 * (std::f64::consts::TAU * freq * n as f64 / 8000.0).sin()) as i16)
        .collect::<Vec<i16>>()
        .into()
}

#[test]
fn a_leg_on_conference_hold_neither_hears_nor_is_heard_and_hears_its_music() {
    let mut s = three_callers();
    s.run(30);
    let held = s.phones[2].leg;
    let music = 1800.0;
    s.room
        .set_on_hold(
            held,
            Some(Box::new(PcmSource::new(
                tone_clip(music, 100),
                Repeat::Forever,
            ))),
        )
        .unwrap();
    let from = s.heard_len();
    s.run(25);
    // From the very next tick: the others lose its tone, it hears only music.
    for i in [0, 1] {
        for tick in from..from + 25 {
            let x = tone_fraction(s.phones[i].tick_heard(tick), TONES[2]);
            assert!(x < 0.01, "phone {i} tick {tick}: held tone at {x}");
        }
        assert_hears(
            &s.phones[i].recent(25),
            &[TONES[1 - i]],
            &[music],
            &format!("phone {i}"),
        );
    }
    assert_hears(&s.phones[2].recent(25), &[music], &TONES, "held phone");
    // A beep is the room's: the held leg does not hear it either.
    s.room.play_beep(Beep::Join);
    s.run(10);
    let beep = tone_fraction(&s.phones[2].recent(10), JOIN_BEEP_HZ);
    assert!(beep < 0.01, "beep heard on hold at {beep}");

    s.room.set_on_hold(held, None).unwrap();
    let from = s.heard_len();
    s.run(10);
    for tick in from..from + 10 {
        let x = tone_fraction(s.phones[2].tick_heard(tick), music);
        assert!(x < 0.01, "tick {tick}: music after unhold at {x}");
    }
    assert_hears(&s.phones[2].recent(10), &TONES[..2], &[TONES[2]], "unheld");
    assert_hears(&s.phones[0].recent(10), &TONES[1..], &[TONES[0]], "phone 0");
}

#[test]
fn a_coach_is_heard_only_by_the_leg_it_coaches_and_hears_everyone() {
    let mut s = three_callers();
    let coach = s.phones[2].leg;
    let coached = s.phones[0].leg;
    s.room.set_coaching(coach, Some(coached)).unwrap();
    s.run(50);
    assert_hears(
        &s.phones[0].recent(25),
        &[TONES[1], TONES[2]],
        &[TONES[0]],
        "coached",
    );
    assert_hears(
        &s.phones[1].recent(25),
        &[TONES[0]],
        &[TONES[1], TONES[2]],
        "other",
    );
    assert_hears(&s.phones[2].recent(25), &TONES[..2], &[TONES[2]], "coach");
    // A muted coach is heard by nobody.
    s.room.set_muted(coach, true).unwrap();
    s.run(25);
    assert_hears(
        &s.phones[0].recent(20),
        &[TONES[1]],
        &[TONES[2]],
        "muted coach",
    );
    // An ordinary participant again: everyone hears it.
    s.room.set_muted(coach, false).unwrap();
    s.room.set_coaching(coach, None).unwrap();
    s.run(25);
    assert_hears(
        &s.phones[1].recent(20),
        &[TONES[0], TONES[2]],
        &[TONES[1]],
        "uncoached",
    );
}

#[test]
fn announcements_play_over_the_mix_to_one_leg_or_all_and_report_their_end() {
    let mut s = three_callers();
    s.run(30);
    let (one, all) = (1500.0, 2200.0);
    let to = s.phones[1].leg;
    s.room
        .announce(
            Some(to),
            Box::new(PcmSource::new(tone_clip(one, 200), Repeat::Times(1))),
        )
        .unwrap();
    s.run(10);
    assert_hears(
        &s.phones[1].recent(10),
        &[one, TONES[0]],
        &[],
        "announced to",
    );
    assert_hears(
        &s.phones[0].recent(10),
        &[TONES[1]],
        &[one],
        "not announced to",
    );
    s.run(5);
    assert_eq!(
        s.events()
            .into_iter()
            .filter(|e| matches!(e, MediaEvent::AnnouncementEnded { .. }))
            .collect::<Vec<_>>(),
        vec![MediaEvent::AnnouncementEnded { leg: Some(to) }]
    );
    assert_hears(&s.phones[1].recent(3), &[], &[one], "after the end");

    // To the room: everyone not on hold hears it; one end for the room.
    let held = s.phones[2].leg;
    s.room
        .set_on_hold(held, Some(Box::new(media::Silence::forever())))
        .unwrap();
    s.room
        .announce(
            None,
            Box::new(PcmSource::new(tone_clip(all, 200), Repeat::Times(1))),
        )
        .unwrap();
    s.run(10);
    for i in [0, 1] {
        assert_hears(&s.phones[i].recent(10), &[all], &[], &format!("phone {i}"));
    }
    // Silence, through PCMA (whose zero decodes to ±8).
    let held_heard = s.phones[2].recent(10);
    assert!(
        held_heard.iter().all(|&x| x.abs() <= 8),
        "held hears silence"
    );
    s.run(5);
    let ended: Vec<_> = s
        .events()
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::AnnouncementEnded { .. }))
        .collect();
    assert_eq!(ended, vec![MediaEvent::AnnouncementEnded { leg: None }]);
}
/// SINAD (dB) of `freq` in each 40 ms window of `heard`, stepping by 10 ms.
fn sinad_windows(heard: &[i16], freq: f64) -> Vec<f64> {
    heard
        .windows(320)
        .step_by(80)
        .map(|w| media::goertzel::sinad(w, freq))
        .collect()
}

#[test]
fn a_steady_tone_is_never_spliced_with_zero_jitter() {
    // A 1004 Hz test tone at −10 dBFS sent at a perfectly steady 20 ms,
    // heard by a silent listener for 5 s: nothing to adapt, so nothing may
    // be cut. μ-law alone bounds SINAD near 37 dB (the room adds nothing:
    // a lone voice passes bit-exact, and re-encoding a decoded μ-law value
    // gives the same code).
    let mut talker = Phone::new(1, Codec::Pcmu, 20, 1004.0);
    talker.amplitude = 10_362.0;
    let mut listener = Phone::new(2, Codec::Pcmu, 20, 1500.0);
    listener.amplitude = 0.0;
    let mut s = Scenario::new(vec![talker, listener]);
    s.run(250);
    // From the first tick with the tone fully present.
    let heard = s.phones[1].recent(245);
    let windows = sinad_windows(&heard, 1004.0);
    let (worst, at) = windows
        .iter()
        .enumerate()
        .map(|(i, &x)| (x, i))
        .fold((f64::INFINITY, 0), |m, x| if x.0 < m.0 { x } else { m });
    assert!(
        worst >= 35.0,
        "SINAD {worst:.1} dB in the window at {} ms",
        100 + at * 10
    );
    let stats = s.room.leg_stats(LegId(1)).unwrap();
    assert_eq!(stats.compressed_samples, 0, "{stats:?}");
    assert_eq!(stats.expanded_samples, 0, "{stats:?}");
}
