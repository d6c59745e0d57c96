//! Scenario tests of the UAS engine on fake time: each step is a message
//! in (or a command, or time passing) and exactly what must come out.
//! Nothing sleeps; `Harness::advance` fires timers on their deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Caller, Harness, PUBLIC, RTP_PORT, describe, offer, ok_to, request, response};
use media::Codec;
use sip::sdp::Direction;
use sip::{
    CallError, CallId, ConnId, EndedBy, Engine, EngineConfig, Host, IncomingCall, MediaType,
    Method, SipEvent, SipUri, StatusCode, Transport,
};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn caller() -> Caller {
    Caller::new("192.0.2.7:5070", "scenario-call")
}

/// INVITE in; 100 Trying (no To tag) out; the call offered to the shell.
fn offered(h: &mut Harness, c: &mut Caller, sdp: &str) -> IncomingCall {
    h.udp(c.addr, c.invite(sdp));
    let trying = h.one_response();
    assert_eq!(trying.status, StatusCode::TRYING);
    assert_eq!(trying.headers.to.tag(), None);
    h.incoming_call()
}

/// A confirmed call: offered, answered, acknowledged.
fn established(h: &mut Harness, c: &mut Caller) -> CallId {
    let call = offered(h, c, &offer(6000, "0 8 101", None)).call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    c.take_to_tag(&ok);
    h.udp(c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call }]);
    call
}

fn times(sent: &[(u128, sip::Transmit)]) -> Vec<u128> {
    sent.iter().map(|(t, _)| *t).collect()
}

fn body(r: &sip::Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn invite_answered_200_retransmitted_until_ack_then_silence() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0 8 101", None));
    // The call record: Caller = From user, Called = Request-URI user.
    assert_eq!(call.request_uri_user.as_deref(), Some("room1"));
    assert_eq!(call.from_user.as_deref(), Some("sipp"));
    assert_eq!(call.from_display.as_deref(), Some("sipp"));
    assert_eq!(call.to_user.as_deref(), Some("room1"));
    assert_eq!(call.sip_call_id.0, "scenario-call");
    assert_eq!(call.remote, c.addr);
    let audio = call.audio.clone().expect("an offer");
    assert_eq!(audio.codec, Codec::Pcmu);
    assert_eq!(audio.payload_type, 0);
    assert_eq!(audio.telephone_event, Some(101));
    assert_eq!(audio.remote, "192.0.2.7:6000".parse().unwrap());
    assert_eq!(audio.direction, Direction::SendRecv);

    h.engine.answer(call.call, RTP_PORT, h.now).unwrap();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, c.addr);
    let ok = response(&sent[0]);
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.headers.to.tag().is_some());
    assert_eq!(
        ok.headers.contact[0].to_string(),
        format!("<sip:{PUBLIC}:5060>")
    );
    assert!(
        ok.headers
            .content_type
            .as_ref()
            .unwrap()
            .is("application", "sdp")
    );
    let sdp = body(&ok);
    for line in [
        "c=IN IP4 203.0.113.10",
        "m=audio 40000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=ptime:20",
        "a=sendrecv",
    ] {
        assert!(
            sdp.contains(&format!("{line}\r\n")),
            "{line} missing from\n{sdp}"
        );
    }

    // RFC 3261 §13.3.1.4: T1, 2T1, 4T1, then T2 (4 s) until the ACK.
    let resent = h.advance(secs(12.0));
    assert_eq!(times(&resent), [500, 1500, 3500, 7500, 11500]);
    assert!(
        resent
            .iter()
            .all(|(_, t)| t.bytes == sent[0].bytes && t.to == c.addr)
    );

    c.take_to_tag(&ok);
    h.udp(c.addr, c.ack());
    assert!(h.sent().is_empty());
    assert_eq!(h.events(), [SipEvent::AckReceived { call: call.call }]);
    assert!(
        h.advance(secs(60.0)).is_empty(),
        "retransmission after the ACK"
    );

    h.udp(c.addr, c.bye());
    let bye_ok = h.one_response();
    assert_eq!(
        (bye_ok.status, bye_ok.headers.cseq.method.clone()),
        (StatusCode::OK, Method::Bye)
    );
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call: call.call,
            by: EndedBy::Remote
        }]
    );
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn no_ack_ends_the_call_with_a_bye_at_64_t1() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "8", None)).call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    let sent = h.advance(secs(32.0));
    let (retransmits, rest): (Vec<_>, Vec<_>) = sent
        .into_iter()
        .partition(|(_, t)| response_status(t) == Some(200));
    assert_eq!(
        times(&retransmits),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        times(&rest),
        [32000],
        "{}",
        describe(&rest.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
    );
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Timeout
        }]
    );

    let bye = request(&rest[0].1);
    assert_eq!(rest[0].1.to, c.addr);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(
        bye.uri.to_string(),
        "sip:sipp@192.0.2.7:5070",
        "the caller's Contact"
    );
    assert_eq!(bye.headers.call_id.0, "scenario-call");
    assert_eq!(bye.headers.from.tag(), ok.headers.to.tag());
    assert_eq!(bye.headers.to.tag(), Some("caller-tag"));
    assert_eq!(bye.headers.cseq.method, Method::Bye);
    assert!(bye.headers.via[0].has_rfc3261_branch());
    assert_eq!(bye.headers.max_forwards, Some(70));

    // Its own transaction: Timer E from T1 until the 200.
    let resent = h.advance(secs(2.0));
    assert_eq!(times(&resent), [32500, 33500]);
    h.udp(c.addr, ok_to(&bye));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert!(h.advance(secs(10.0)).is_empty());
    assert!(h.engine.is_idle());
    assert_eq!(h.engine.stats().stray_responses, 0);
}

fn response_status(t: &sip::Transmit) -> Option<u16> {
    match sip::Message::parse(&t.bytes) {
        Ok(sip::Message::Response(r)) => Some(r.status.as_u16()),
        _ => None,
    }
}

#[test]
fn retransmitted_invite_gets_the_last_response_again() {
    let mut h = Harness::new();
    let mut c = caller();
    let sdp = offer(6000, "0", None);
    let call = offered(&mut h, &mut c, &sdp).call;
    h.udp(c.addr, c.invite_again(&sdp));
    assert_eq!(h.one_response().status, StatusCode::TRYING);

    h.engine.ringing(call, h.now).unwrap();
    let ringing = h.one_response();
    assert_eq!(ringing.status, StatusCode::RINGING);
    assert!(ringing.headers.to.tag().is_some());
    h.udp(c.addr, c.invite_again(&sdp));
    assert_eq!(h.one_response(), ringing);

    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    assert_eq!(
        ok.headers.to.tag(),
        ringing.headers.to.tag(),
        "one To tag per dialog"
    );
    h.udp(c.addr, c.invite_again(&sdp));
    assert_eq!(h.one_response(), ok);

    assert!(h.events().is_empty(), "one INVITE, one IncomingCall");
    assert_eq!(h.engine.stats().retransmissions, 3);
}

#[test]
fn a_forked_copy_of_the_invite_gets_482() {
    let mut h = Harness::new();
    let mut c = caller();
    let sdp = offer(6000, "0", None);
    offered(&mut h, &mut c, &sdp);
    let copy = c
        .invite_again(&sdp)
        .replace(&c.invite_branch, "z9hG4bK-other-path");
    h.udp(c.addr, copy);
    assert_eq!(h.one_response().status, StatusCode::LOOP_DETECTED);
    assert!(h.events().is_empty());
}

#[test]
fn cancel_before_answer_gets_200_and_487_and_the_ack_is_absorbed() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    h.engine.ringing(call, h.now).unwrap();
    let ringing = h.one_response();

    h.udp(c.addr, c.cancel());
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "{}", describe(&sent));
    let (cancel_ok, terminated) = (response(&sent[0]), response(&sent[1]));
    assert_eq!(
        (cancel_ok.status, cancel_ok.headers.cseq.method.clone()),
        (StatusCode::OK, Method::Cancel)
    );
    assert_eq!(
        (terminated.status, terminated.headers.cseq.method.clone()),
        (StatusCode::REQUEST_TERMINATED, Method::Invite)
    );
    let tag = terminated.headers.to.tag().unwrap().to_owned();
    assert_eq!(ringing.headers.to.tag(), Some(tag.as_str()));
    assert_eq!(cancel_ok.headers.to.tag(), Some(tag.as_str()));
    assert_eq!(h.events(), [SipEvent::CallCancelled { call }]);

    // The shell's answer crossed the CANCEL: too late.
    assert_eq!(
        h.engine.answer(call, RTP_PORT, h.now),
        Err(CallError::UnknownCall)
    );
    assert!(h.sent().is_empty());

    // Timer G until the ACK, which is absorbed.
    let resent = h.advance(secs(2.0));
    assert_eq!(times(&resent), [500, 1500]);
    assert!(resent.iter().all(|(_, t)| t.bytes == sent[1].bytes));
    h.udp(c.addr, c.ack_failure(&tag));
    h.udp(c.addr, c.ack_failure(&tag));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert!(h.advance(secs(30.0)).is_empty());
    assert!(h.engine.is_idle());
    assert_eq!(h.engine.stats().stray_acks, 0);
}

#[test]
fn cancel_racing_the_200_changes_nothing() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    c.take_to_tag(&ok);

    h.udp(c.addr, c.cancel());
    let cancel_ok = h.one_response();
    assert_eq!(
        (cancel_ok.status, cancel_ok.headers.cseq.method.clone()),
        (StatusCode::OK, Method::Cancel)
    );
    assert!(h.events().is_empty());

    h.udp(c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call }]);
    h.bye_ends(&mut c, call);
}

#[test]
fn bye_before_the_ack_ends_the_call_and_stops_the_200() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    c.take_to_tag(&h.one_response());
    h.advance(secs(0.6));
    h.bye_ends(&mut c, call);
    let later = h.advance(secs(40.0));
    assert!(
        later.is_empty(),
        "{}",
        describe(&later.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
    );
    assert!(h.engine.is_idle());
}

#[test]
fn our_bye_is_retransmitted_until_its_200() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = established(&mut h, &mut c);
    h.advance(secs(5.0));
    h.engine.hangup(call, h.now).unwrap();
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Local
        }]
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let bye = request(&sent[0]);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.headers.cseq.seq, 1);
    assert_eq!(bye.headers.to.tag(), Some("caller-tag"));
    assert_eq!(bye.headers.from.tag(), c.to_tag.as_deref());
    assert_eq!(h.engine.hangup(call, h.now), Err(CallError::InvalidState));

    // Timer E: T1, 2T1, 4T1, T2 ... (relative to the hangup at 5 s).
    let resent = h.advance(secs(8.0));
    assert_eq!(times(&resent), [5500, 6500, 8500, 12500]);
    assert!(resent.iter().all(|(_, t)| t.bytes == sent[0].bytes));

    // A crossing BYE from the caller is answered, not reported again.
    h.udp(c.addr, c.bye());
    assert_eq!(h.one_response().status, StatusCode::OK);
    assert!(h.events().is_empty());

    h.udp(c.addr, ok_to(&bye));
    h.udp(c.addr, ok_to(&bye)); // a retransmitted 200 is absorbed (Timer K)
    assert!(h.sent().is_empty());
    assert!(h.advance(secs(4.0)).is_empty());
    assert_eq!(h.engine.stats().stray_responses, 0);
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn our_bye_gives_up_at_timer_f() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = established(&mut h, &mut c);
    h.engine.hangup(call, h.now).unwrap();
    assert_eq!(h.sent().len(), 1);
    let resent = h.advance(secs(40.0));
    assert_eq!(
        times(&resent),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Local
        }]
    );
    assert!(h.engine.is_idle());
}

#[test]
fn hangup_before_the_ack_sends_bye_when_it_comes() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    c.take_to_tag(&h.one_response());
    h.engine.hangup(call, h.now).unwrap();
    assert!(h.sent().is_empty(), "no BYE before the ACK (§15)");
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Local
        }]
    );
    h.udp(c.addr, c.ack());
    let bye = request(&h.sent()[0]);
    assert_eq!(bye.method, Method::Bye);
    assert!(h.events().is_empty());
}

#[test]
fn hangup_of_an_unanswered_call_is_a_480() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    h.engine.hangup(call, h.now).unwrap();
    assert_eq!(h.one_response().status, StatusCode::TEMPORARILY_UNAVAILABLE);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Local
        }]
    );
}

#[test]
fn reject_sends_the_status_until_the_ack() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    assert_eq!(
        h.engine.reject(call, StatusCode::OK, h.now),
        Err(CallError::NotAFailureStatus(StatusCode::OK))
    );
    h.engine.reject(call, StatusCode::BUSY_HERE, h.now).unwrap();
    let busy = h.one_response();
    assert_eq!(busy.status, StatusCode::BUSY_HERE);
    assert!(h.events().is_empty());
    assert_eq!(times(&h.advance(secs(1.0))), [500]);
    h.udp(c.addr, c.ack_failure(busy.headers.to.tag().unwrap()));
    assert!(h.advance(secs(60.0)).is_empty());
    assert!(h.engine.is_idle());
}

#[test]
fn redirect_sends_302_with_the_target_as_contact_until_the_ack() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    let mut target = SipUri::new(Host::Ip([198, 51, 100, 7].into()), Some(5080));
    // The number dialled, escaped as a user part (RFC 3261 §25.1).
    target.user = Some("stand up@+1".into());
    h.engine.redirect(call, &target, h.now).unwrap();
    let moved = h.one_response();
    assert_eq!(moved.status, StatusCode::MOVED_TEMPORARILY);
    let bytes = String::from_utf8(moved.to_bytes()).unwrap();
    assert!(
        bytes.starts_with("SIP/2.0 302 Moved Temporarily\r\n"),
        "{bytes}"
    );
    assert_eq!(
        bytes.matches("\r\nContact: ").count(),
        1,
        "one Contact: {bytes}"
    );
    assert!(
        bytes.contains("\r\nContact: <sip:stand%20up%40+1@198.51.100.7:5080>\r\n"),
        "{bytes}"
    );
    assert!(h.events().is_empty());
    h.udp(c.addr, c.ack_failure(moved.headers.to.tag().unwrap()));
    assert!(h.advance(secs(60.0)).is_empty());
    assert!(h.engine.is_idle());
    assert_eq!(
        h.engine.redirect(call, &target, h.now),
        Err(CallError::UnknownCall)
    );
}

#[test]
fn reinvite_to_sendonly_holds_and_back_to_sendrecv_resumes() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = established(&mut h, &mut c);

    let hold = offer(6000, "0 101", Some("sendonly"));
    h.udp(c.addr, c.reinvite(&hold));
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers.to.tag(), c.to_tag.as_deref());
    let sdp = body(&ok);
    assert!(sdp.contains("a=recvonly\r\n"), "{sdp}");
    assert!(
        sdp.contains("m=audio 40000 RTP/AVP 0 101\r\n"),
        "same port: {sdp}"
    );
    assert!(
        sdp.contains(" 2 IN IP4 203.0.113.10\r\n"),
        "o= version goes up: {sdp}"
    );
    assert_eq!(
        h.events(),
        [SipEvent::HoldChanged {
            call,
            on_hold: true
        }]
    );
    // The re-INVITE's 200 is retransmitted, and a retransmitted re-INVITE
    // gets it again, until the ACK.
    assert_eq!(times(&h.advance(secs(0.5))), [500]);
    h.udp(c.addr, c.invite_again(&hold));
    assert_eq!(h.one_response(), ok);
    h.udp(c.addr, c.ack());
    assert!(h.events().is_empty(), "the ACK to a re-INVITE is not news");
    assert!(h.advance(secs(40.0)).is_empty());

    h.udp(c.addr, c.reinvite(&offer(6000, "0 101", None)));
    let ok = h.one_response();
    assert!(body(&ok).contains("a=sendrecv\r\n"));
    assert!(body(&ok).contains(" 3 IN IP4 "));
    assert_eq!(
        h.events(),
        [SipEvent::HoldChanged {
            call,
            on_hold: false
        }]
    );
    h.udp(c.addr, c.ack());

    h.udp(c.addr, c.reinvite(&offer(6000, "0 101", Some("inactive"))));
    assert!(body(&h.one_response()).contains("a=inactive\r\n"));
    assert_eq!(
        h.events(),
        [SipEvent::HoldChanged {
            call,
            on_hold: true
        }]
    );
    h.udp(c.addr, c.ack());

    // A new address and codec is news, and not a hold change.
    h.udp(c.addr, c.reinvite(&offer(7000, "8", Some("inactive"))));
    assert!(body(&h.one_response()).contains("m=audio 40000 RTP/AVP 8\r\n"));
    match h.events().as_slice() {
        [SipEvent::MediaChanged { call: id, audio }] => {
            assert_eq!(*id, call);
            assert_eq!(audio.codec, Codec::Pcma);
            assert_eq!(audio.remote.port(), 7000);
        }
        other => panic!("{other:?}"),
    }
    h.udp(c.addr, c.ack());
    // The same offer again: same answer, same version, no events.
    h.udp(c.addr, c.reinvite(&offer(7000, "8", Some("inactive"))));
    let same = body(&h.one_response());
    h.udp(c.addr, c.ack());
    h.udp(c.addr, c.reinvite(&offer(7000, "8", Some("inactive"))));
    assert_eq!(body(&h.one_response()), same);
    assert!(h.events().is_empty());
}

#[test]
fn reinvite_without_a_common_codec_is_refused_and_the_call_goes_on() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = established(&mut h, &mut c);
    h.udp(c.addr, c.reinvite(&offer(6000, "18", None)));
    assert_eq!(h.one_response().status, StatusCode::NOT_ACCEPTABLE_HERE);
    assert!(h.events().is_empty());
    h.bye_ends(&mut c, call);
}

#[test]
fn options_gets_200_with_allow_and_accept() {
    let mut h = Harness::new();
    let mut c = caller();
    let options = c.request("OPTIONS", "");
    h.udp(c.addr, &options);
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        ok.headers.get("Allow"),
        Some("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK")
    );
    assert_eq!(ok.headers.get("Supported"), Some("100rel, timer"));
    assert_eq!(
        ok.headers.accept,
        Some(vec![MediaType::new("application", "sdp")])
    );
    assert!(ok.headers.to.tag().is_some());
    // Timer J absorbs retransmissions, then forgets.
    h.udp(c.addr, &options);
    assert_eq!(h.one_response(), ok);
    assert!(h.advance(secs(33.0)).is_empty());
    assert!(h.engine.is_idle());
}

#[test]
fn unknown_methods_get_501_and_known_unsupported_ones_405() {
    let mut h = Harness::new();
    let mut c = caller();
    h.udp(c.addr, c.request("FOO", ""));
    let not_implemented = h.one_response();
    assert_eq!(not_implemented.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        not_implemented.headers.get("Allow"),
        Some("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK")
    );
    h.udp(c.addr, c.request("REGISTER", ""));
    let not_allowed = h.one_response();
    assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(not_allowed.headers.get("Allow").is_some());
    assert!(h.events().is_empty());
}

#[test]
fn offers_we_cannot_take_get_488_and_the_next_call_works() {
    let mut h = Harness::new();
    let video_only = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    for (sdp, warning) in [
        (
            offer(6000, "18 4", None), // G.729 and G.723 (9, G.722, is ours)
            Some("305 confab \"Incompatible media format\""),
        ),
        (
            video_only.to_owned(),
            Some("304 confab \"Media type not available\""),
        ),
        (
            offer(0, "0", None),
            Some("304 confab \"Media type not available\""),
        ),
        ("garbage".to_owned(), None),
    ] {
        let mut c = Caller::new("192.0.2.7:5070", &format!("refused-{}", sdp.len()));
        h.udp(c.addr, c.invite(&sdp));
        let refused = h.one_response();
        assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE_HERE, "{sdp}");
        assert_eq!(refused.headers.get("Warning"), warning, "{sdp}");
        assert!(h.events().is_empty());
        h.udp(c.addr, c.ack_failure(refused.headers.to.tag().unwrap()));
        assert!(h.sent().is_empty());
    }
    h.normal_call(&mut Caller::new("192.0.2.8:5070", "next-call"));
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn tcp_calls_answer_on_the_connection() {
    let mut h = Harness::new();
    let mut c = caller();
    let tcp = Transport::Tcp(ConnId(7));
    h.deliver(tcp, c.addr, c.invite(&offer(6000, "0", None)));
    let trying = h.sent();
    assert_eq!(trying[0].transport, tcp);
    let call = h.incoming_call();
    assert_eq!(call.transport, tcp);
    h.engine.answer(call.call, RTP_PORT, h.now).unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].transport, tcp);
    let ok = response(&sent[0]);
    assert_eq!(
        ok.headers.contact[0].to_string(),
        format!("<sip:{PUBLIC}:5060;transport=tcp>")
    );
    c.take_to_tag(&ok);
    h.deliver(tcp, c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call: call.call }]);
    h.engine.hangup(call.call, h.now).unwrap();
    let bye = h.sent();
    assert_eq!(bye[0].transport, tcp);
    assert!(String::from_utf8_lossy(&bye[0].bytes).contains("Via: SIP/2.0/TCP "));
    // No Timer E on a reliable transport.
    assert!(h.advance(secs(5.0)).is_empty());
    h.deliver(tcp, c.addr, ok_to(&request(&bye[0])));
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn unframeable_tcp_bytes_are_answered_400_when_they_start_a_request() {
    let torture = |name: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/torture");
        std::fs::read(dir.join(name)).unwrap()
    };
    let mut huge = b"INVITE sip:room1@203.0.113.10 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bKhuge\r\n\
        From: <sip:a@192.0.2.7>;tag=1\r\nTo: <sip:room1@203.0.113.10>\r\n\
        Call-ID: huge\r\nCSeq: 1 INVITE\r\nContent-Length: 1000000\r\n\r\n"
        .to_vec();
    huge.extend_from_slice(b"v=0\r\n");
    let tcp = Transport::Tcp(ConnId(3));
    let from = "192.0.2.7:5070".parse().unwrap();
    // Negative and repeated Content-Length (RFC 4475 §3.1.2.3, §3.3.9), none
    // at all (mandatory on a stream), and a body over the size limit.
    for (name, bytes, cseq) in [
        ("ncl.dat", torture("ncl.dat"), "CSeq: 0 INVITE"),
        ("mcl01.dat", torture("mcl01.dat"), "CSeq: 15932 OPTIONS"),
        ("inv2543.dat", torture("inv2543.dat"), "CSeq: 56 INVITE"),
        ("1 MB body", huge, "CSeq: 1 INVITE"),
    ] {
        let mut h = Harness::new();
        let error = sip::frame_stream(&bytes).expect_err(name);
        h.engine.handle_unframeable(tcp, from, &bytes, error);
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "{name}: {}", describe(&sent));
        assert_eq!((sent[0].transport, sent[0].to), (tcp, from), "{name}");
        let text = String::from_utf8_lossy(&sent[0].bytes);
        assert!(text.starts_with("SIP/2.0 400 "), "{name}: {text}");
        assert!(
            text.contains(cseq) && text.contains("\r\nVia: "),
            "{name}: {text}"
        );
        assert!(h.events().is_empty(), "{name}: no call");
        assert_eq!(h.engine.stats().bad_requests, 1, "{name}");
        h.drain_timers();
        assert!(h.engine.is_idle(), "{name}: stateless");
    }
    // Leftover bytes that are no request, and a response: nothing to answer.
    for bytes in [
        &b"C\r\n\r\n"[..],
        b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n",
    ] {
        let mut h = Harness::new();
        let error = sip::frame_stream(bytes).unwrap_err();
        h.engine.handle_unframeable(tcp, from, bytes, error);
        assert!(h.sent().is_empty());
        assert_eq!(h.engine.stats().dropped, 1);
    }
}

#[test]
fn a_closed_tcp_connection_ends_only_unanswered_calls_and_the_others_bye_over_a_new_one() {
    let mut h = Harness::new();
    let mut other = caller();
    let udp_call = established(&mut h, &mut other);
    let tcp = Transport::Tcp(ConnId(7));
    let offer_on_tcp = |h: &mut Harness, c: &mut Caller| {
        h.deliver(tcp, c.addr, c.invite(&offer(6000, "0", None)));
        assert_eq!(h.sent().len(), 1, "100 Trying");
        h.incoming_call().call
    };
    let answer = |h: &mut Harness, c: &mut Caller, call: CallId| {
        h.engine.answer(call, RTP_PORT, h.now).unwrap();
        c.take_to_tag(&response(&h.sent()[0]));
    };
    // Over connection 7: a confirmed call, an answered one still waiting
    // for its ACK, an offered one, and one whose BYE is in flight.
    let mut c1 = Caller::new("192.0.2.9:5070", "tcp-confirmed");
    let confirmed = offer_on_tcp(&mut h, &mut c1);
    answer(&mut h, &mut c1, confirmed);
    h.deliver(tcp, c1.addr, c1.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call: confirmed }]);
    let mut c2 = Caller::new("192.0.2.9:5070", "tcp-answered");
    let answered = offer_on_tcp(&mut h, &mut c2);
    answer(&mut h, &mut c2, answered);
    let mut c3 = Caller::new("192.0.2.9:5070", "tcp-offered");
    let offered = offer_on_tcp(&mut h, &mut c3);
    let mut c4 = Caller::new("192.0.2.9:5070", "tcp-ending");
    let ending = offer_on_tcp(&mut h, &mut c4);
    answer(&mut h, &mut c4, ending);
    h.deliver(tcp, c4.addr, c4.ack());
    h.engine.hangup(ending, h.now).unwrap();
    assert_eq!(request(&h.sent()[0]).method, Method::Bye);
    assert_eq!(
        h.events(),
        [
            SipEvent::AckReceived { call: ending },
            SipEvent::CallEnded {
                call: ending,
                by: EndedBy::Local
            }
        ]
    );

    h.engine.handle_connection_closed(ConnId(7), h.now);
    // The BYE in flight was lost with the connection: once more, over a
    // new one to its Contact. Nothing else is sent yet.
    let resent = h.sent();
    assert_eq!(resent.len(), 1, "{}", describe(&resent));
    assert_eq!(
        (resent[0].transport, resent[0].to),
        (Transport::TcpConnect, c4.addr)
    );
    assert_eq!(request(&resent[0]).method, Method::Bye);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call: offered,
            by: EndedBy::ConnectionClosed,
        }],
        "only the call that could not be answered any more ends"
    );
    assert_eq!(
        h.engine.answer(offered, RTP_PORT, h.now),
        Err(CallError::UnknownCall)
    );
    // The confirmed call is up: hanging up sends BYE over a new connection
    // to its Contact.
    h.engine.hangup(confirmed, h.now).unwrap();
    let bye = h.sent();
    assert_eq!(bye.len(), 1, "{}", describe(&bye));
    assert_eq!(
        (bye[0].transport, bye[0].to),
        (Transport::TcpConnect, c1.addr)
    );
    assert_eq!(request(&bye[0]).method, Method::Bye);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call: confirmed,
            by: EndedBy::Local
        }]
    );
    // Its 200 comes back on the new connection.
    h.deliver(Transport::Tcp(ConnId(8)), c1.addr, ok_to(&request(&bye[0])));
    assert!(h.sent().is_empty());
    // The answered call's 200 is not resent to the closed connection; with
    // no ACK, its BYE goes over a new connection at 64*T1.
    let later = h.advance(secs(40.0));
    assert_eq!(times(&later), [32_000], "{later:?}");
    assert_eq!(later[0].1.transport, Transport::TcpConnect);
    assert_eq!(request(&later[0].1).method, Method::Bye);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call: answered,
            by: EndedBy::Timeout
        }]
    );
    // Nobody answers that BYE: Timer F ends it.
    assert!(h.advance(secs(40.0)).is_empty());
    assert!(h.events().is_empty());

    // The UDP call did not notice.
    h.udp(other.addr, other.bye());
    assert_eq!(h.one_response().status, StatusCode::OK);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call: udp_call,
            by: EndedBy::Remote
        }]
    );
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn responses_go_to_the_source_with_received_and_rport() {
    let mut h = Harness::new();
    let nat = "198.51.100.1:40123".parse().unwrap();
    let options = "OPTIONS sip:room1@203.0.113.10 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport\r\n\
        From: <sip:a@10.0.0.5>;tag=1\r\nTo: <sip:room1@203.0.113.10>\r\n\
        Call-ID: nat\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    h.udp(nat, options);
    let sent = h.sent();
    assert_eq!(sent[0].to, nat);
    let via = &response(&sent[0]).headers.via[0];
    assert_eq!(
        via.to_string(),
        "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport=40123;received=198.51.100.1"
    );
}

#[test]
fn requests_for_dialogs_we_do_not_have_get_481() {
    let mut h = Harness::new();
    let mut c = caller();
    c.to_tag = Some("nobody".into());
    h.udp(c.addr, c.bye());
    assert_eq!(h.one_response().status, StatusCode::CALL_DOES_NOT_EXIST);
    let mut c = caller();
    c.invite(&offer(6000, "0", None)); // never sent
    h.udp(c.addr, c.cancel());
    assert_eq!(h.one_response().status, StatusCode::CALL_DOES_NOT_EXIST);
    h.udp(c.addr, c.ack());
    assert!(h.sent().is_empty());
    assert_eq!(h.engine.stats().stray_acks, 1);
}

#[test]
fn stray_responses_are_dropped() {
    let mut h = Harness::new();
    h.udp(
        "192.0.2.9:5060".parse().unwrap(),
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKnope\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n",
    );
    assert!(h.sent().is_empty());
    assert_eq!(h.engine.stats().stray_responses, 1);
}

#[test]
fn a_wildcard_public_address_is_refused() {
    assert!(Engine::new(EngineConfig::new("0.0.0.0".parse().unwrap(), 5060), || 1).is_err());
    assert!(Engine::new(EngineConfig::new("::".parse().unwrap(), 5060), || 1).is_err());
}

/// A harness whose engine keeps at most `max` server transactions.
fn capped(max: usize) -> Harness {
    let mut config = EngineConfig::new(PUBLIC.parse().unwrap(), 5060);
    config.max_transactions = max;
    let mut counter = 0;
    let mut h = Harness::new();
    h.engine = Engine::new(config, move || {
        counter += 1;
        counter
    })
    .unwrap();
    h
}

#[test]
fn over_the_transaction_cap_new_requests_get_503() {
    let mut h = capped(1);
    let mut c = caller();
    h.udp(c.addr, c.request("OPTIONS", ""));
    assert_eq!(h.one_response().status, StatusCode::OK);
    h.udp(c.addr, c.request("OPTIONS", ""));
    let busy = h.one_response();
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers.get("Retry-After"), Some("5"));
    // Once the first transaction is forgotten (Timer J), there is room again.
    h.advance(secs(33.0));
    h.udp(c.addr, c.request("OPTIONS", ""));
    assert_eq!(h.one_response().status, StatusCode::OK);
}

#[test]
fn over_the_transaction_cap_live_calls_still_end() {
    // The answered call's INVITE transaction lingers (Timer L): the cap is
    // reached, and a new call is refused.
    let mut h = capped(1);
    let mut c = caller();
    let call = established(&mut h, &mut c);
    let mut other = Caller::new("192.0.2.8:5070", "another-call");
    h.udp(other.addr, other.invite(&offer(6002, "0", None)));
    assert_eq!(h.one_response().status, StatusCode::SERVICE_UNAVAILABLE);
    // The live call's BYE is not refused: it ends the call.
    h.bye_ends(&mut c, call);

    // Nor is the CANCEL of a call that rings: 200, and 487 for the INVITE.
    let mut h = capped(1);
    let mut c = caller();
    let call = offered(&mut h, &mut c, &offer(6000, "0", None)).call;
    h.udp(c.addr, c.cancel());
    let statuses: Vec<_> = h.sent().iter().map(|t| response(t).status).collect();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::REQUEST_TERMINATED],
        "the CANCEL and its INVITE"
    );
    assert_eq!(h.events(), [SipEvent::CallCancelled { call }]);
    // A BYE for a dialog that does not exist is new work: refused.
    let mut stranger = Caller::new("192.0.2.9:5070", "no-such-call");
    stranger.to_tag = Some("nobody".into());
    h.udp(stranger.addr, stranger.bye());
    assert_eq!(h.one_response().status, StatusCode::SERVICE_UNAVAILABLE);
}
