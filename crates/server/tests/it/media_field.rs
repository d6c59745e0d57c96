//! Media in the field: a phone that changes its SSRC (and back) stays
//! heard, and a dead peer (RTP stops, no BYE) is hung up after
//! `--rtp-timeout`, while a caller on hold, or one still sending, is not;
//! after a re-INVITE to a new port media follows; RTCP flows with and
//! without rtcp-mux; a `*` pressed as tones ends a hangupOnStar membership.
//! RTP ports 49xxx. Every wait is on an event with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::caller::{Caller, hears};
use crate::common::rig::Rig;
use model::CallStatus;

/// A rig with open rooms and `rtp_timeout`.
async fn rig(rtp_ports: (u16, u16), rtp_timeout: Option<Duration>) -> Rig {
    Rig::with_calls(rtp_ports, 40, |calls| calls.rtp_timeout = rtp_timeout).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_switching_ssrc_a_b_a_stays_heard() {
    let rig = rig((49000, 49049), None).await;
    let a = Caller::dial(rig.sip, "ssrc", "a", 440).await.unwrap();
    const A: u32 = 0x0A0A_0A0A;
    a.call().set_ssrc(A);
    let b = Caller::dial(rig.sip, "ssrc", "b", 700).await.unwrap();
    rig.room_with("ssrc", 2).await;
    b.until_heard("b hears a on its first SSRC", hears(440.0, 700.0))
        .await;
    a.call().set_ssrc(0x0B0B_0B0B);
    // Heard again only once audio after the switch arrived: 400 ms of it.
    let mark = b.heard_len();
    let after_b = b.listen_from(mark, 400).await;
    assert!(
        hears(440.0, 700.0)(&after_b[after_b.len() - 1600..]),
        "a went silent after switching to SSRC B"
    );
    a.call().set_ssrc(A);
    let mark = b.heard_len();
    let after_a = b.listen_from(mark, 400).await;
    assert!(
        hears(440.0, 700.0)(&after_a[after_a.len() - 1600..]),
        "a went silent after switching back"
    );
    a.hang_up().await;
    b.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_peer_is_hung_up_and_leaves_while_held_and_live_callers_stay() {
    let rig = rig((49100, 49149), Some(Duration::from_secs(2))).await;
    let mut dead = Caller::dial(rig.sip, "field", "dead", 440).await.unwrap();
    // Alone, the room waits (status 0): its one participant is the dead one.
    let (_, first) = rig.room_of(&rig.account, "field", "0", 1).await;
    let dead_sid = first[0].clone();
    let live = Caller::dial(rig.sip, "field", "live", 700).await.unwrap();
    let mut held = Caller::dial(rig.sip, "field", "held", 1000).await.unwrap();
    let (cf, calls) = rig.room_with("field", 3).await;
    let mut others: Vec<String> = calls.into_iter().filter(|c| *c != dead_sid).collect();
    others.sort();
    live.until_heard("live hears dead", |s| media::tone_fraction(s, 440.0) > 0.2)
        .await;
    // Held first, and silent from then on: longer than the dead one.
    held.reinvite("sendonly").await;
    held.call().stop_sending();
    dead.call().stop_sending();
    dead.expect_bye().await;
    // The participant list loses it, its record ends completed.
    let base = rig.base();
    let uri = format!("{base}/Conferences/{cf}/Participants");
    let deadline = std::time::Instant::now() + crate::common::caller::DEADLINE;
    loop {
        let now = rig.column(&uri, "CallSid").await;
        if !now.contains(&dead_sid) {
            let mut now = now;
            now.sort();
            assert_eq!(now, others, "the others stay");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still listed: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row = rig
        .call_row(&dead_sid, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    // Silent longer than the dead one, but on hold; and one still sending.
    assert!(!held.call().bye_received(), "a held caller was hung up");
    assert!(!live.call().bye_received(), "a live caller was hung up");
    // Resumed and silent: it is watched again, and goes the same way.
    held.reinvite("sendrecv").await;
    held.expect_bye().await;
    rig.room_with("field", 1).await;
    assert!(!live.call().bye_received());
    live.hang_up().await;
    rig.server.stop().await;
}

/// A counter's value in the server's `/metrics`.
async fn metric(rig: &Rig, name: &str) -> f64 {
    let (status, text) = rig.api(axum::http::Method::GET, "/metrics", "").await;
    assert_eq!(status, axum::http::StatusCode::OK);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtcp_mux_caller_in_a_room_is_sent_reports_on_its_rtp_port() {
    let rig = rig((49200, 49249), None).await;
    let mut phone = testkit::Phone::bind(rig.sip).await.unwrap();
    phone.set_timeout(crate::common::caller::DEADLINE);
    let call = phone
        .call_offering(
            "mux",
            "0 101",
            &[
                "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=rtcp-mux",
            ],
        )
        .await
        .unwrap();
    call.send_tone(440);
    let other = Caller::dial(rig.sip, "mux", "other", 700).await.unwrap();
    rig.room_with("mux", 2).await;
    // The first report is due 2.5–7.5 s after the leg has an address.
    let deadline = std::time::Instant::now() + crate::common::caller::DEADLINE;
    while metric(&rig, "confab_rtcp_reports_sent_total").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no RTCP report sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(&rig, "confab_rtcp_packets_malformed_total").await,
        0.0
    );
    // The phone's RTP socket got it among its audio, which it still hears.
    assert!(call.rtp_stats().received > 0);
    drop(call);
    other.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reinvite_to_a_new_port_media_follows_the_phone() {
    let rig = rig((49300, 49349), None).await;
    let phone = testkit::Phone::bind(rig.sip).await.unwrap();
    let mut mover = phone.call("moving", media::Codec::Pcmu).await.unwrap();
    mover.send_tone(440);
    let other = Caller::dial(rig.sip, "moving", "other", 700).await.unwrap();
    rig.room_with("moving", 2).await;
    other
        .until_heard("the other hears the mover", hears(440.0, 700.0))
        .await;
    let old = mover.local_rtp();
    mover.reinvite_moved().await.unwrap();
    assert_ne!(mover.local_rtp(), old);
    mover.send_tone(440);
    // Sent to the new port: the mover hears the other there.
    mover
        .wait_to_hear(700, crate::common::caller::DEADLINE)
        .await
        .unwrap();
    // And its packets from the new port are heard (the old one is closed).
    let mark = other.heard_len();
    let after = other.listen_from(mark, 600).await;
    assert!(
        hears(440.0, 700.0)(&after[after.len() - 1600..]),
        "the mover's new port is not heard"
    );
    assert!(!mover.bye_received());
    mover.hang_up().await.unwrap();
    other.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rtcp_mux_reports_go_between_the_odd_ports_both_ways() {
    use media::rtcp::{RtcpPacket, RtcpPackets, write_report};
    let rig = rig((49400, 49449), None).await;
    // A phone whose RTP port + 1 is ours to listen on.
    let (phone, listener) = loop {
        let phone = testkit::Phone::bind(rig.sip).await.unwrap();
        let odd = std::net::SocketAddr::new(phone.rtp_addr().ip(), phone.rtp_addr().port() + 1);
        if let Ok(listener) = tokio::net::UdpSocket::bind(odd).await {
            break (phone, listener);
        }
    };
    let call = phone.call("odd", media::Codec::Pcmu).await.unwrap();
    call.send_tone(440);
    let other = Caller::dial(rig.sip, "odd", "other", 700).await.unwrap();
    rig.room_with("odd", 2).await;
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(
        crate::common::caller::DEADLINE,
        listener.recv_from(&mut buf),
    )
    .await
    .expect("an RTCP report on the odd port")
    .unwrap();
    assert_eq!(
        from.port(),
        call.remote_rtp().port() + 1,
        "from our RTCP port"
    );
    let packets: Vec<_> = RtcpPackets::new(&buf[..n])
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        matches!(packets[0], RtcpPacket::SenderReport { .. }),
        "{packets:?}"
    );
    assert_eq!(
        packets[1],
        RtcpPacket::SourceDescription {
            cname: Some(b"confab")
        }
    );
    // Our RR to the server's odd port is read and counted.
    let mut rr = Vec::new();
    write_report(&mut rr, media::Ssrc(5), None, None, b"phone");
    listener.send_to(&rr, from).await.unwrap();
    let deadline = std::time::Instant::now() + crate::common::caller::DEADLINE;
    while metric(&rig, "confab_rtcp_packets_received_total").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "our RR was not read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(call);
    other.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_star_pressed_in_band_leaves_a_hangup_on_star_room() {
    use crate::common::rig::{App, add_number_for};
    let rig = rig((49500, 49549), None).await;
    let (base, _hits) = App::new()
        .twiml(
            "/star",
            "<Response><Dial hangupOnStar=\"true\"><Conference beep=\"false\">\
             inband</Conference></Dial></Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5550700",
        &format!("{base}/star"),
        model::HttpMethod::Post,
    )
    .await;
    // No telephone-event offered: keys can only come as tones.
    let phone = testkit::Phone::bind(rig.sip).await.unwrap();
    let mut presser = phone
        .call_offering("5550700", "0", &["a=rtpmap:0 PCMU/8000"])
        .await
        .unwrap();
    assert_eq!(presser.telephone_event(), None);
    presser.send_tone(440);
    let other = Caller::dial(rig.sip, "inband", "other", 700).await.unwrap();
    rig.room_with("inband", 2).await;
    other
        .until_heard("the other hears the presser", hears(440.0, 700.0))
        .await;
    presser.send_tones(941, 1209); // '*'
    // Out of the room; the script has nothing after the <Dial>: BYE.
    presser
        .wait_for_bye(crate::common::caller::DEADLINE)
        .await
        .unwrap();
    rig.room_with("inband", 1).await;
    other.hang_up().await;
    rig.server.stop().await;
}
