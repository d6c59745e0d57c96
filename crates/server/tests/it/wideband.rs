//! Wideband over SIP: phones that offer G.722 get it (the answer's one
//! codec, static payload type 9, preferred over the G.711 offered before
//! it), and the room mixes at 16 kHz: a 6 kHz tone from one G.722 phone
//! reaches another, while a G.711 caller in the same room hears the
//! band-limited rest (its 700 Hz, and neither 6 kHz nor its 2 kHz alias),
//! and both G.722 phones hear the G.711 caller. RTP ports 552xx.
//!
//! The G.722 phones are testkit phones for SIP (the SDP is written by hand)
//! with their RTP sent and heard here, from a socket of the test's own
//! (testkit's phone speaks G.711 only; the room latches to the socket that
//! sends, as it would behind a NAT): paced by a 20 ms interval, heard into
//! a buffer the test polls with a deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::g722::{G722Decoder, G722Encoder};
use media::goertzel::rms;
use media::rtp::{RtpHeader, RtpPacket};
use media::{Codec, RtpTimestamp, SeqNo, Ssrc, tone_fraction, tone_fraction_at};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::common::caller::{Caller, DEADLINE};
use crate::common::rig::Rig;

/// A G.722 phone: SIP by testkit, RTP here.
struct WidePhone {
    call: testkit::PhoneCall,
    _phone: testkit::Phone,
    heard: Arc<Mutex<Vec<i16>>>,
    tasks: [JoinHandle<()>; 2],
}

impl WidePhone {
    /// Calls `room` offering PCMU first and G.722 second, and sends the sum
    /// of `tones` (Hz, each at 6000 peak) as G.722 from the answer on.
    async fn dial(rig: &Rig, room: &str, tones: &'static [f64]) -> Self {
        let phone = testkit::Phone::bind(rig.sip).await.expect("a test phone");
        let call = phone
            .call_offering(
                room,
                "0 9 101",
                &[
                    "a=rtpmap:0 PCMU/8000",
                    "a=rtpmap:9 G722/8000",
                    "a=rtpmap:101 telephone-event/8000",
                    "a=fmtp:101 0-16",
                    "a=ptime:20",
                ],
            )
            .await
            .expect("the call is answered");
        assert_eq!(
            call.codec(),
            Codec::G722,
            "G.722 wins over the PCMU before it"
        );
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let to = call.remote_rtp();
        let sender = tokio::spawn({
            let socket = socket.clone();
            async move {
                let mut encoder = G722Encoder::new();
                let mut interval = tokio::time::interval(Duration::from_millis(20));
                for k in 0u32.. {
                    interval.tick().await;
                    let pcm: Vec<i16> = (0..320u32)
                        .map(|i| {
                            let t = f64::from(k * 320 + i) / 16_000.0;
                            tones
                                .iter()
                                .map(|hz| 6000.0 * (std::f64::consts::TAU * hz * t).sin())
                                .sum::<f64>() as i16
                        })
                        .collect();
                    let mut packet = Vec::new();
                    RtpHeader {
                        marker: k == 0,
                        payload_type: 9,
                        seq: SeqNo(k as u16),
                        timestamp: RtpTimestamp(k.wrapping_mul(160)),
                        ssrc: Ssrc(0x0722_0000),
                    }
                    .write(&mut packet);
                    encoder.encode_into(&pcm, &mut packet);
                    if socket.send_to(&packet, to).await.is_err() {
                        return;
                    }
                }
            }
        });
        let heard = Arc::new(Mutex::new(Vec::new()));
        let recorder = tokio::spawn({
            let heard = heard.clone();
            async move {
                let mut decoder = G722Decoder::new();
                let mut buf = [0u8; 1500];
                while let Ok((n, _)) = socket.recv_from(&mut buf).await {
                    let Ok(packet) = RtpPacket::parse(&buf[..n]) else {
                        continue; // RTCP
                    };
                    assert_eq!(packet.payload_type, 9, "the room sends G.722");
                    let mut pcm = vec![0; 2 * packet.payload.len()];
                    decoder.decode_into(packet.payload, &mut pcm);
                    heard.lock().unwrap().extend_from_slice(&pcm);
                }
            }
        });
        Self {
            call,
            _phone: phone,
            heard,
            tasks: [sender, recorder],
        }
    }

    /// Waits until the last 400 ms heard satisfy `check`.
    async fn until_heard(&self, what: &str, check: impl Fn(&[i16]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let recent = {
                let heard = self.heard.lock().unwrap();
                heard[heard.len().saturating_sub(6400)..].to_vec()
            };
            if recent.len() == 6400 && check(&recent) {
                return;
            }
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn hang_up(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.call.hang_up().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6_khz_tone_reaches_the_g722_phone_and_not_the_g711_one() {
    let rig = Rig::new((55200, 55249), true).await;
    let talker = WidePhone::dial(&rig, "wide", &[6000.0, 700.0]).await;
    let listener = WidePhone::dial(&rig, "wide", &[]).await;
    let narrow = Caller::dial(rig.sip, "wide", "narrow", 1004).await.unwrap();
    rig.room_with("wide", 3).await;

    // The G.722 listener hears the 6 kHz and the 700 Hz, and the G.711 caller.
    listener
        .until_heard("the G.722 listener hears 6 kHz, 700 Hz and 1004 Hz", |s| {
            tone_fraction_at(s, 6000.0, 16_000) > 0.2
                && tone_fraction_at(s, 700.0, 16_000) > 0.2
                && tone_fraction_at(s, 1004.0, 16_000) > 0.2
        })
        .await;
    // The talker hears the G.711 caller, upsampled into the mix.
    talker
        .until_heard("the G.722 talker hears the G.711 caller", |s| {
            tone_fraction_at(s, 1004.0, 16_000) > 0.8
        })
        .await;
    // The G.711 caller hears the 700 Hz, and nothing of the 6 kHz: not at
    // 6 kHz (it cannot), and no alias of it at 2 kHz.
    narrow
        .until_heard("the G.711 caller hears 700 Hz", |s| {
            tone_fraction(s, 700.0) > 0.8
        })
        .await;
    let heard = narrow.recent(1000);
    let alias = tone_fraction(&heard, 2000.0);
    assert!(
        alias < 0.001,
        "2 kHz (6 kHz folded) is {alias} of what the G.711 caller hears"
    );
    assert!(
        rms(&heard) > 1000.0,
        "the G.711 caller hears {:.0} RMS",
        rms(&heard)
    );

    talker.hang_up().await;
    listener.hang_up().await;
    narrow.hang_up().await;
    rig.server.stop().await;
}
