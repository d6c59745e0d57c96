//! Calls the engine places (`Engine::dial`), against a scripted callee, on
//! fake time: the INVITE client transaction (Timers A and B), provisional
//! and final responses, the ACKs, CANCEL on the ring timeout or a hang-up,
//! digest credentials for a 401, and the dialog afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Harness, PUBLIC, describe, request};
use md5::{Digest as _, Md5};
use sip::{
    CallId, Credentials, Dial, DialFailure, EndedBy, Method, Request, SipEvent, StatusCode,
    Transport, Uri,
};

const CALLEE: &str = "192.0.2.20:5080";
const RTP: u16 = 41000;

fn callee() -> SocketAddr {
    CALLEE.parse().unwrap()
}

fn dial_to(h: &mut Harness, ring: Duration, credentials: Option<Credentials>) -> (CallId, Request) {
    let call = h.engine.dial(
        Dial {
            target: Uri::parse("sip:bob@192.0.2.20:5080")
                .unwrap()
                .as_sip()
                .unwrap()
                .clone(),
            next_hop: callee(),
            from_user: "+15550001111".to_owned(),
            from_display: None,
            local: None,
            rtp_port: RTP,
            ring_timeout: ring,
            credentials,
        },
        h.now,
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{}", describe(&sent));
    assert_eq!(sent[0].to, callee());
    assert_eq!(sent[0].transport, Transport::Udp);
    (call, request(&sent[0]))
}

/// A response of the callee to `req`, with its To tag, extra header
/// lines (each ending in CRLF) and an SDP body if any.
fn reply(req: &Request, status: u16, to_tag: Option<&str>, extra: &str, sdp: &str) -> String {
    let h = &req.headers;
    let vias: String = h.via.iter().map(|v| format!("Via: {v}\r\n")).collect();
    let mut to = h.to.to_string();
    if let Some(tag) = to_tag {
        to.push_str(&format!(";tag={tag}"));
    }
    let content_type = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "SIP/2.0 {status} {}\r\n{vias}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}{content_type}Content-Length: {}\r\n\r\n{sdp}",
        StatusCode::new(status).unwrap().reason(),
        h.from,
        h.call_id,
        h.cseq,
        sdp.len()
    )
}

fn answer_sdp() -> String {
    "v=0\r\no=bob 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
     m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        .to_owned()
}

const CONTACT: &str = "Contact: <sip:bob@192.0.2.20:5090>\r\n";

fn body(req: &Request) -> String {
    String::from_utf8(req.body.clone()).unwrap()
}

#[test]
fn an_answered_call_is_acked_and_becomes_a_dialog_like_an_incoming_one() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    // The INVITE: our offer at the public address, Contact there too.
    assert_eq!(invite.method, Method::Invite);
    assert_eq!(invite.uri.to_string(), "sip:bob@192.0.2.20:5080");
    assert_eq!(invite.headers.cseq.seq, 1);
    assert!(invite.headers.from.tag().is_some() && invite.headers.to.tag().is_none());
    assert_eq!(invite.headers.from.uri.user(), Some("+15550001111"));
    assert_eq!(
        invite.headers.contact[0].uri.to_string(),
        format!("sip:{PUBLIC}:5060")
    );
    let offer = body(&invite);
    assert!(offer.contains(&format!("c=IN IP4 {PUBLIC}\r\n")), "{offer}");
    assert!(
        offer.contains(&format!("m=audio {RTP} RTP/AVP 0 8 101\r\n")),
        "{offer}"
    );
    // Timer A: resent at T1, then 2*T1 later, until a provisional response.
    let resent: Vec<u128> = h
        .advance(Duration::from_millis(2000))
        .iter()
        .map(|(ms, t)| {
            assert_eq!(request(t), invite);
            *ms
        })
        .collect();
    assert_eq!(resent, [500, 1500]);
    h.udp(callee(), reply(&invite, 100, None, "", ""));
    assert!(h.events().is_empty());
    h.udp(callee(), reply(&invite, 180, Some("b1"), "", ""));
    assert_eq!(
        h.events(),
        [SipEvent::Progress {
            call,
            status: StatusCode::RINGING
        }]
    );
    // Proceeding: no more retransmissions, and no Timer B.
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    let ok = reply(&invite, 200, Some("b1"), CONTACT, &answer_sdp());
    h.udp(callee(), &ok);
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{}", describe(&sent));
    let ack = request(&sent[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.20:5090");
    assert_eq!(sent[0].to, "192.0.2.20:5090".parse().unwrap());
    assert_eq!(ack.headers.cseq.seq, 1);
    assert_eq!(ack.headers.to.tag(), Some("b1"));
    assert_ne!(ack.headers.via[0].branch(), invite.headers.via[0].branch());
    match h.events().as_slice() {
        [SipEvent::Answered { call: c, audio }] => {
            assert_eq!(*c, call);
            assert_eq!(audio.codec, media::Codec::Pcma);
            assert_eq!(audio.remote, "192.0.2.20:30000".parse().unwrap());
            assert_eq!(audio.telephone_event, Some(101));
        }
        other => panic!("expected Answered, got {other:?}"),
    }
    // The 2xx again (our ACK was lost): the same ACK again.
    h.udp(callee(), &ok);
    let again = h.sent();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bytes, sent[0].bytes);
    assert!(h.events().is_empty());
    // The callee hangs up: BYE in the dialog, 200, the call is over.
    let bye = format!(
        "BYE sip:{PUBLIC}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5090;branch=z9hG4bKbye1\r\n\
         From: {};tag=b1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        invite.headers.to, invite.headers.from, invite.headers.call_id
    );
    h.udp("192.0.2.20:5090".parse().unwrap(), bye);
    assert_eq!(h.one_response().status.as_u16(), 200);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Remote
        }]
    );
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn hanging_up_an_answered_call_sends_bye_in_its_dialog() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    h.udp(
        callee(),
        reply(
            &invite,
            200,
            Some("b2"),
            &format!("{CONTACT}Record-Route: <sip:192.0.2.99;lr>\r\n"),
            &answer_sdp(),
        ),
    );
    let _ack = h.sent();
    assert!(matches!(h.events().as_slice(), [SipEvent::Answered { .. }]));
    h.engine.hangup(call, h.now).unwrap();
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Local
        }]
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{}", describe(&sent));
    // Through the route set (the Record-Route), to the remote target.
    assert_eq!(sent[0].to, "192.0.2.99:5060".parse().unwrap());
    let bye = request(&sent[0]);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.headers.cseq.seq, 2);
    assert_eq!(bye.uri.to_string(), "sip:bob@192.0.2.20:5090");
    assert_eq!(bye.headers.to.tag(), Some("b2"));
    h.udp(callee(), common::ok_to(&bye));
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn busy_is_acked_in_the_transaction_and_reported() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    let busy = reply(&invite, 486, Some("b3"), "", "");
    h.udp(callee(), &busy);
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{}", describe(&sent));
    let ack = request(&sent[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(ack.headers.via, invite.headers.via);
    assert_eq!(ack.headers.to.tag(), Some("b3"));
    assert_eq!(ack.headers.cseq.seq, 1);
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::Busy(StatusCode::BUSY_HERE)
        }]
    );
    // A retransmission is ACKed again and reported no more.
    h.udp(callee(), &busy);
    assert_eq!(h.sent().len(), 1);
    assert!(h.events().is_empty());
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn other_failures_carry_their_status() {
    for (status, failure) in [
        (404, DialFailure::Rejected(StatusCode::NOT_FOUND)),
        (480, DialFailure::NoAnswer),
        (600, DialFailure::Busy(StatusCode::new(600).unwrap())),
        (302, DialFailure::Rejected(StatusCode::new(302).unwrap())),
        (503, DialFailure::Rejected(StatusCode::SERVICE_UNAVAILABLE)),
    ] {
        let mut h = Harness::new();
        let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
        h.udp(callee(), reply(&invite, status, Some("x"), "", ""));
        assert_eq!(h.sent().len(), 1, "{status}: the ACK");
        assert_eq!(h.events(), [SipEvent::DialFailed { call, failure }]);
        h.drain_timers();
        assert!(h.engine.is_idle());
    }
}

#[test]
fn the_ring_timeout_cancels_and_the_487_is_acked() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(20), None);
    h.udp(callee(), reply(&invite, 180, Some("b4"), "", ""));
    assert_eq!(h.events().len(), 1);
    let sent = h.advance(Duration::from_secs(20));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, 20_000);
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::NoAnswer
        }],
        "reported when it rang out, not at the 487"
    );
    let cancel = request(&sent[0].1);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(cancel.headers.via, invite.headers.via);
    assert_eq!(cancel.headers.cseq.seq, 1);
    assert_eq!(cancel.headers.to.tag(), None);
    assert_eq!(cancel.headers.call_id, invite.headers.call_id);
    h.udp(callee(), common::ok_to(&cancel));
    h.udp(callee(), reply(&invite, 487, Some("b4"), "", ""));
    let acked = h.sent();
    assert_eq!(acked.len(), 1);
    assert_eq!(request(&acked[0]).method, Method::Ack);
    assert!(h.events().is_empty(), "reported once");
    h.drain_timers();
    assert!(h.engine.is_idle());
}

/// A callee that never answers our INVITE at all (a dead host): the call
/// rings out at its timeout, as one that rang would, while the transaction
/// goes on; a provisional response that comes late still gets its CANCEL.
#[test]
fn the_ring_timeout_is_reported_on_time_even_before_any_provisional() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(5), None);
    let sent = h.advance(Duration::from_secs(5));
    let at: Vec<u128> = sent.iter().map(|(ms, _)| *ms).collect();
    assert_eq!(at, [500, 1500, 3500], "only the INVITE's retransmissions");
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::NoAnswer
        }]
    );
    h.udp(callee(), reply(&invite, 180, Some("b9"), "", ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let cancel = request(&sent[0]);
    assert_eq!(cancel.method, Method::Cancel);
    h.udp(callee(), common::ok_to(&cancel));
    h.udp(callee(), reply(&invite, 487, Some("b9"), "", ""));
    assert_eq!(h.sent().len(), 1, "the ACK");
    assert!(h.events().is_empty(), "reported once, when it rang out");
    h.drain_timers();
    assert!(h.engine.is_idle());
}

/// Nothing at all comes back: reported when it rang out, and the engine
/// forgets the INVITE when its transaction gives up.
#[test]
fn a_dead_callee_rings_out_then_the_transaction_ends_quietly() {
    let mut h = Harness::new();
    let (call, _) = dial_to(&mut h, Duration::from_secs(5), None);
    let _ = h.advance(Duration::from_secs(5));
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::NoAnswer
        }]
    );
    h.drain_timers();
    assert!(h.events().is_empty(), "reported once");
    assert!(h.engine.is_idle());
}

#[test]
fn a_hang_up_before_any_provisional_cancels_at_the_first_one() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    h.engine.hangup(call, h.now).unwrap();
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Local
        }]
    );
    assert!(h.sent().is_empty(), "no CANCEL before a provisional (§9.1)");
    h.udp(callee(), reply(&invite, 100, None, "", ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(request(&sent[0]).method, Method::Cancel);
    h.udp(callee(), reply(&invite, 487, Some("b5"), "", ""));
    assert_eq!(h.sent().len(), 1, "the ACK");
    assert!(h.events().is_empty(), "reported once, at the hang-up");
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn a_2xx_that_crosses_the_cancel_is_acked_and_hung_up() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(5), None);
    h.udp(callee(), reply(&invite, 180, Some("b6"), "", ""));
    let _ = h.events();
    let sent = h.advance(Duration::from_secs(5));
    assert_eq!(request(&sent[0].1).method, Method::Cancel);
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::NoAnswer
        }]
    );
    h.udp(
        callee(),
        reply(&invite, 200, Some("b6"), CONTACT, &answer_sdp()),
    );
    let sent = h.sent();
    let methods: Vec<Method> = sent.iter().map(|t| request(t).method).collect();
    assert_eq!(methods, [Method::Ack, Method::Bye]);
    assert!(h.events().is_empty(), "reported once, when it rang out");
    h.udp(callee(), common::ok_to(&request(&sent[1])));
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn timer_b_ends_an_invite_nobody_answers() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    let sent = h.advance(Duration::from_secs(40));
    let at: Vec<u128> = sent
        .iter()
        .map(|(ms, t)| {
            assert_eq!(request(t), invite);
            *ms
        })
        .collect();
    assert_eq!(at, [500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::Timeout
        }]
    );
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn a_2xx_without_usable_audio_is_acked_then_hung_up() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    let video = "v=0\r\no=bob 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
                 m=audio 30000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    h.udp(callee(), reply(&invite, 200, Some("b7"), CONTACT, video));
    let methods: Vec<Method> = h.sent().iter().map(|t| request(t).method).collect();
    assert_eq!(methods, [Method::Ack, Method::Bye]);
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::BadAnswer
        }]
    );
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_401_is_answered_once_with_digest_credentials() {
    let mut h = Harness::new();
    let credentials = Credentials {
        username: "trunkuser".to_owned(),
        password: "s3cret".to_owned(),
    };
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), Some(credentials));
    let challenge = "WWW-Authenticate: Digest realm=\"trunk.example\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5\r\n";
    h.udp(callee(), reply(&invite, 401, Some("t1"), challenge, ""));
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "{}", describe(&sent));
    let ack = request(&sent[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.via, invite.headers.via);
    let again = request(&sent[1]);
    assert_eq!(again.method, Method::Invite);
    assert_eq!(again.headers.cseq.seq, 2);
    assert_eq!(again.headers.call_id, invite.headers.call_id);
    assert_eq!(again.headers.from, invite.headers.from);
    assert_eq!(again.headers.to.tag(), None);
    assert_ne!(
        again.headers.via[0].branch(),
        invite.headers.via[0].branch()
    );
    assert_eq!(again.body, invite.body);
    let auth = again.headers.get("Authorization").expect("Authorization");
    let field = |name: &str| {
        auth.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("no {name} in {auth}"))
    };
    assert!(auth.starts_with("Digest "), "{auth}");
    assert_eq!(field("Digest username"), "trunkuser");
    assert_eq!(field("uri"), "sip:bob@192.0.2.20:5080");
    let ha1 = md5_hex("trunkuser:trunk.example:s3cret");
    let ha2 = md5_hex("INVITE:sip:bob@192.0.2.20:5080");
    let expected = md5_hex(&format!(
        "{ha1}:abc123:{}:{}:auth:{ha2}",
        field("nc"),
        field("cnonce")
    ));
    assert_eq!(field("response"), expected);
    assert!(h.events().is_empty());
    // A second challenge is not answered again.
    h.udp(callee(), reply(&again, 401, Some("t2"), challenge, ""));
    assert_eq!(h.sent().len(), 1, "the ACK");
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::Rejected(StatusCode::new(401).unwrap())
        }]
    );
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn a_challenge_without_credentials_fails_the_call() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    let challenge = "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n";
    h.udp(callee(), reply(&invite, 407, Some("p"), challenge, ""));
    assert_eq!(h.sent().len(), 1, "the ACK");
    assert_eq!(
        h.events(),
        [SipEvent::DialFailed {
            call,
            failure: DialFailure::Rejected(StatusCode::new(407).unwrap())
        }]
    );
}

/// Answers `invite` 200 with `extra` headers; the ACK sent back.
fn answered(h: &mut Harness, invite: &Request, extra: &str) -> Request {
    h.udp(
        callee(),
        reply(
            invite,
            200,
            Some("bt"),
            &format!("{CONTACT}{extra}"),
            &answer_sdp(),
        ),
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{}", describe(&sent));
    assert!(matches!(h.events().as_slice(), [SipEvent::Answered { .. }]));
    request(&sent[0])
}

#[test]
fn a_session_timer_the_2xx_sets_is_refreshed_by_us() {
    let mut h = Harness::new();
    let (_call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    let _ack = answered(
        &mut h,
        &invite,
        "Session-Expires: 90;refresher=uac\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
    );
    // Half the interval: an UPDATE in the dialog (the peer allows it).
    let sent = h.advance(Duration::from_secs(45));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, 45_000);
    let refresh = request(&sent[0].1);
    assert_eq!(refresh.method, Method::Update);
    assert_eq!(refresh.headers.cseq.seq, 2);
    assert_eq!(refresh.headers.to.tag(), Some("bt"));
    assert_eq!(
        refresh.headers.get("Session-Expires"),
        Some("90;refresher=uac")
    );
}

#[test]
fn the_callee_may_put_the_call_on_hold_with_a_reinvite() {
    let mut h = Harness::new();
    let (call, invite) = dial_to(&mut h, Duration::from_secs(60), None);
    let _ack = answered(&mut h, &invite, "");
    let hold = "v=0\r\no=bob 1 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
                m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n";
    let reinvite = format!(
        "INVITE sip:{PUBLIC}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5090;branch=z9hG4bKre1\r\n\
         From: {};tag=bt\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 INVITE\r\n\
         Contact: <sip:bob@192.0.2.20:5090>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{hold}",
        invite.headers.to,
        invite.headers.from,
        invite.headers.call_id,
        hold.len()
    );
    h.udp("192.0.2.20:5090".parse().unwrap(), reinvite);
    let ok = h.one_response();
    assert_eq!(ok.status.as_u16(), 200);
    let answer = String::from_utf8(ok.body).unwrap();
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(answer.contains(&format!("m=audio {RTP} ")), "{answer}");
    assert_eq!(
        h.events(),
        [SipEvent::HoldChanged {
            call,
            on_hold: true
        }]
    );
}

proptest::proptest! {
    /// Whatever a callee answers (any status, tag or not, any body, in any
    /// order, repeated), the engine never panics, and once its timers run
    /// out it holds nothing.
    #[test]
    fn any_responses_leave_nothing_behind(
        replies in proptest::collection::vec(
            (100u16..700, proptest::option::of("[a-z0-9]{1,8}"), "\\PC{0,80}", proptest::bool::ANY),
            1..6,
        ),
        hang_up in proptest::bool::ANY,
    ) {
        let mut h = Harness::new();
        let (call, invite) = dial_to(&mut h, Duration::from_secs(5), None);
        for (status, tag, body, contact) in &replies {
            let extra = if *contact { CONTACT } else { "" };
            h.udp(callee(), reply(&invite, *status, tag.as_deref(), extra, body));
            let _ = h.sent();
            let _ = h.events();
        }
        if hang_up {
            let _ = h.engine.hangup(call, h.now);
        }
        // Whatever BYE or CANCEL went out gets no answer: their timers end it.
        h.drain_timers();
        let _ = h.events();
        proptest::prop_assert!(h.engine.is_idle());
    }
}
