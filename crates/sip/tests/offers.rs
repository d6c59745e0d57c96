//! Offer/answer beyond the plain INVITE offer, and INFO DTMF, on fake
//! time: a delayed offer (the 200 carries ours, the ACK the answer), a
//! body-less re-INVITE, multipart bodies, and DTMF keys in INFO.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Caller, Harness, RTP_PORT, describe, offer};
use media::Codec;
use sip::sdp::Direction;
use sip::{CallId, EndedBy, Method, SipEvent, StatusCode};

fn caller() -> Caller {
    Caller::new("192.0.2.7:5070", "offers-call")
}

fn body(r: &sip::Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A response's Accept header, as written.
fn accept(r: &sip::Response) -> Option<String> {
    let ranges = r.headers.accept.as_ref()?;
    Some(
        ranges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// An answer to our offer, as a trunk writes it.
fn answer(port: u16, pts: &str, maps: &str, direction: &str) -> String {
    format!(
        "v=0\r\no=trunk 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pts}\r\n{maps}a={direction}\r\n"
    )
}

/// A body-less INVITE, answered: the 200 carries our offer.
fn delayed(h: &mut Harness, c: &mut Caller) -> CallId {
    h.udp(c.addr, c.invite(""));
    assert_eq!(h.one_response().status, StatusCode::TRYING);
    let incoming = h.incoming_call();
    assert_eq!(incoming.audio, None);
    h.engine.answer(incoming.call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        ok.headers
            .content_type
            .as_ref()
            .map(|t| t.to_string())
            .as_deref(),
        Some("application/sdp")
    );
    let offer = body(&ok);
    for line in [
        "c=IN IP4 203.0.113.10",
        &format!("m=audio {RTP_PORT} RTP/AVP 0 8 101"),
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=sendrecv",
    ] {
        assert!(offer.contains(&format!("{line}\r\n")), "{line} in {offer}");
    }
    c.take_to_tag(&ok);
    incoming.call
}

#[test]
fn a_delayed_offer_is_answered_by_the_ack_which_decides_the_media() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = delayed(&mut h, &mut c);
    // The 200 is retransmitted like any other until the ACK.
    let again = h.advance(Duration::from_millis(500));
    assert_eq!(again.len(), 1, "{}", describe(&[again[0].1.clone()]));
    let maps = "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    h.udp(c.addr, c.ack_with(&answer(7000, "8 101", maps, "sendrecv")));
    assert!(h.sent().is_empty());
    let events = h.events();
    let [
        SipEvent::MediaChanged {
            call: changed,
            audio,
        },
        SipEvent::AckReceived { call: acked },
    ] = events.as_slice()
    else {
        panic!("MediaChanged then AckReceived, got {events:?}");
    };
    assert_eq!((*changed, *acked), (call, call));
    assert_eq!(audio.codec, Codec::Pcma);
    assert_eq!(audio.payload_type, 8);
    assert_eq!(audio.telephone_event, Some(101));
    assert_eq!(audio.remote, "198.51.100.20:7000".parse().unwrap());
    assert_eq!(audio.direction, Direction::SendRecv);
    // No more retransmissions, and the call goes on normally.
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    h.bye_ends(&mut c, call);
}

#[test]
fn an_ack_without_a_usable_answer_ends_the_delayed_offer_call_with_bye() {
    for bad in [
        String::new(),
        answer(7000, "18", "a=rtpmap:18 G729/8000\r\n", "sendrecv"),
        "garbage".to_owned(),
    ] {
        let mut h = Harness::new();
        let mut c = caller();
        let call = delayed(&mut h, &mut c);
        h.udp(c.addr, c.ack_with(&bad));
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "{bad:?}: {}", describe(&sent));
        assert_eq!(common::request(&sent[0]).method, Method::Bye, "{bad:?}");
        assert_eq!(
            h.events(),
            [SipEvent::CallEnded {
                call,
                by: EndedBy::BadAnswer
            }],
            "{bad:?}"
        );
        // The 200 is not retransmitted any more.
        let later = h.advance(Duration::from_millis(600));
        assert!(
            later
                .iter()
                .all(|(_, t)| common::request(t).method == Method::Bye)
        );
    }
}

#[test]
fn a_body_less_reinvite_gets_our_offer_and_the_acks_answer_holds_and_resumes() {
    let mut h = Harness::new();
    let mut c = caller();
    h.udp(c.addr, c.invite(&offer(6000, "0 101", None)));
    let _ = h.sent();
    let call = h.incoming_call().call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let first = h.one_response();
    c.take_to_tag(&first);
    h.udp(c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call }]);

    h.udp(c.addr, c.reinvite(""));
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    let ours = body(&ok);
    // The offer keeps the session's formats (RFC 3264 §8): it is the
    // session as it stands, so its version does not change either.
    assert!(ours.contains("m=audio 40000 RTP/AVP 0 101\r\n"), "{ours}");
    assert!(ours.contains("a=sendrecv\r\n"), "{ours}");
    assert!(ours.contains(" 1 IN IP4"), "{ours}");
    assert!(h.events().is_empty(), "nothing changes before the answer");
    let maps = "a=rtpmap:0 PCMU/8000\r\n";
    h.udp(c.addr, c.ack_with(&answer(6000, "0", maps, "sendonly")));
    let events = h.events();
    assert_eq!(
        events.first(),
        Some(&SipEvent::HoldChanged {
            call,
            on_hold: true
        }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, SipEvent::AckReceived { .. })),
        "a re-INVITE's ACK is not reported"
    );

    // And back: the same code as a re-INVITE offer.
    h.udp(c.addr, c.reinvite(""));
    let _ = h.one_response();
    h.udp(c.addr, c.ack_with(&answer(6000, "0", maps, "sendrecv")));
    assert_eq!(
        h.events().first(),
        Some(&SipEvent::HoldChanged {
            call,
            on_hold: false
        })
    );

    // A body-less re-INVITE whose ACK brings nothing usable: BYE.
    h.udp(c.addr, c.reinvite(""));
    let _ = h.one_response();
    h.udp(c.addr, c.ack());
    assert_eq!(common::request(&h.sent()[0]).method, Method::Bye);
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::BadAnswer
        }]
    );
}

const SDP_PART_TYPE: &str = "multipart/mixed;boundary=unique-boundary-1";

#[test]
fn a_multipart_offer_is_read_from_its_sdp_part() {
    let mut h = Harness::new();
    let mut c = caller();
    let multipart = format!(
        "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n{}\r\n\
         --unique-boundary-1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\n\
         \x01\x00\x49\r\n--unique-boundary-1--\r\n",
        offer(6000, "8 101", None)
    );
    h.udp(c.addr, c.typed_invite(SDP_PART_TYPE, &multipart));
    assert_eq!(h.one_response().status, StatusCode::TRYING);
    let audio = h.incoming_call().audio.expect("an offer");
    assert_eq!(audio.codec, Codec::Pcma);
    assert_eq!(audio.remote.port(), 6000);
}

#[test]
fn a_multipart_body_without_sdp_gets_415_with_accept() {
    let mut h = Harness::new();
    let mut c = caller();
    let isup_only = "--unique-boundary-1\r\nContent-Type: application/isup\r\n\r\nxx\r\n\
                     --unique-boundary-1--\r\n";
    h.udp(c.addr, c.typed_invite(SDP_PART_TYPE, isup_only));
    let refused = h.one_response();
    assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(accept(&refused).as_deref(), Some("application/sdp"));
    assert!(h.events().is_empty());
}

/// A confirmed call with the usual offer.
fn established(h: &mut Harness, c: &mut Caller) -> CallId {
    h.udp(c.addr, c.invite(&offer(6000, "0 8 101", None)));
    let _ = h.sent();
    let call = h.incoming_call().call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    c.take_to_tag(&ok);
    h.udp(c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call }]);
    call
}

#[test]
fn info_dtmf_keys_become_events_and_other_bodies_are_refused() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = established(&mut h, &mut c);
    let relay = Some("application/dtmf-relay");
    for (content_type, body, status, key) in [
        (relay, "Signal=*\r\nDuration=160\r\n", 200, Some('*')),
        (relay, "signal= 5\r\nDuration=250\r\n", 200, Some('5')),
        (relay, "Signal=11\r\n", 200, Some('#')),
        (Some("application/dtmf"), "7", 200, Some('7')),
        (None, "", 200, None),
        (relay, "Duration=160\r\n", 400, None),
        (relay, "Signal=Z\r\n", 400, None),
        (Some("application/media_control+xml"), "<x/>", 415, None),
    ] {
        h.udp(c.addr, c.in_dialog("INFO", content_type, body));
        let reply = h.one_response();
        assert_eq!(reply.status.as_u16(), status, "{body:?}");
        if status == 415 {
            assert_eq!(
                accept(&reply).as_deref(),
                Some("application/dtmf-relay, application/dtmf")
            );
        }
        let events = h.events();
        match key {
            Some(key) => match events.as_slice() {
                [SipEvent::Dtmf { call: c, digit }] => {
                    assert_eq!((*c, digit.as_char()), (call, key), "{body:?}");
                }
                other => panic!("{body:?}: {other:?}"),
            },
            None => assert!(events.is_empty(), "{body:?}: {events:?}"),
        }
    }
}

#[test]
fn info_outside_a_dialog_gets_481() {
    let mut h = Harness::new();
    let mut c = caller();
    h.udp(c.addr, c.request("INFO", ""));
    assert_eq!(h.one_response().status, StatusCode::CALL_DOES_NOT_EXIST);
    // And to a dialog that does not exist (a made-up To tag).
    c.to_tag = Some("nobody".to_owned());
    h.udp(c.addr, c.in_dialog("INFO", Some("application/dtmf"), "1"));
    assert_eq!(h.one_response().status, StatusCode::CALL_DOES_NOT_EXIST);
    assert!(h.events().is_empty());
}

/// An INVITE with `Require: 100rel`, and its 100 Trying.
fn offered_100rel(h: &mut Harness, c: &mut Caller) -> CallId {
    let invite = c.invite(&offer(6000, "0 101", None)).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
        1,
    );
    h.udp(c.addr, invite);
    assert_eq!(h.one_response().status, StatusCode::TRYING);
    h.incoming_call().call
}

#[test]
fn ringing_sends_no_unreliable_180_to_a_caller_that_requires_100rel() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered_100rel(&mut h, &mut c);
    h.engine.ringing(call, h.now).unwrap();
    assert!(h.sent().is_empty(), "an unreliable 18x to Require: 100rel");
    // The answer still rings reliably first.
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ringing = h.one_response();
    assert_eq!(ringing.status, StatusCode::RINGING);
    assert_eq!(ringing.headers.get("RSeq"), Some("1"));
}

#[test]
fn a_delayed_offer_that_requires_100rel_gets_no_18x_and_its_200_offers() {
    let mut h = Harness::new();
    let mut c = caller();
    let invite = c.invite("").replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
        1,
    );
    h.udp(c.addr, invite);
    assert_eq!(h.one_response().status, StatusCode::TRYING);
    let call = h.incoming_call().call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    // The first reliable response would have to carry our offer
    // (RFC 3261 §13.2.1): the 200 is that response.
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    assert!(body(&ok).contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
}

fn prack(c: &mut Caller, rack: &str, n: u32) -> String {
    c.cseq += 1;
    c.message(
        "PRACK",
        &format!("{} PRACK", c.cseq),
        &format!("z9hG4bK-prack-{n}"),
        c.to_tag.as_deref(),
        &format!("RAck: {rack}\r\n"),
        "",
    )
}

#[test]
fn require_100rel_gets_a_reliable_180_retransmitted_until_its_prack_then_the_200() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered_100rel(&mut h, &mut c);
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ringing = h.one_response();
    assert_eq!(ringing.status, StatusCode::RINGING);
    assert_eq!(ringing.headers.require, ["100rel"]);
    assert_eq!(ringing.headers.get("RSeq"), Some("1"));
    assert_eq!(ringing.headers.get("Supported"), Some("100rel, timer"));
    c.take_to_tag(&ringing);
    // T1, doubling, until the PRACK; no 200 before it.
    let again = h.advance(Duration::from_millis(3600));
    let at: Vec<u128> = again.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        at,
        [500, 1500, 3500],
        "{}",
        describe(&again.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
    );
    assert!(
        again
            .iter()
            .all(|(_, t)| common::response(t).status == StatusCode::RINGING)
    );

    // A PRACK for another RSeq, or another INVITE, is refused.
    let invite_seq = c.invite_cseq;
    for (n, rack) in [
        (1, format!("2 {invite_seq} INVITE")),
        (2, format!("1 {} INVITE", invite_seq + 9)),
        (3, "garbage".to_owned()),
    ] {
        h.udp(c.addr, prack(&mut c, &rack, n));
        assert_eq!(
            h.one_response().status,
            StatusCode::CALL_DOES_NOT_EXIST,
            "{rack}"
        );
    }
    h.udp(c.addr, prack(&mut c, &format!("1 {invite_seq} INVITE"), 4));
    let sent = h.sent();
    let statuses: Vec<_> = sent
        .iter()
        .map(|t| {
            let r = common::response(t);
            (r.status.as_u16(), r.headers.cseq.method.to_string())
        })
        .collect();
    assert_eq!(
        statuses,
        [(200, "PRACK".to_owned()), (200, "INVITE".to_owned())]
    );
    // The 180's retransmissions stopped; the 200's run until the ACK.
    h.udp(c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call }]);
    assert!(h.advance(Duration::from_secs(40)).is_empty());
}

#[test]
fn a_reliable_180_never_pracked_ends_the_call_with_500() {
    let mut h = Harness::new();
    let mut c = caller();
    let call = offered_100rel(&mut h, &mut c);
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    assert_eq!(h.one_response().status, StatusCode::RINGING);
    let sent = h.advance(Duration::from_secs(33));
    let status = |t: &sip::Transmit| common::response(t).status;
    let first = sent
        .iter()
        .position(|(_, t)| status(t) == StatusCode::SERVER_INTERNAL_ERROR)
        .expect("a 500");
    assert_eq!(sent[first].0, 32_000, "after 64*T1");
    assert!(
        sent[..first]
            .iter()
            .all(|(_, t)| status(t) == StatusCode::RINGING)
    );
    assert_eq!(
        h.events(),
        [SipEvent::CallEnded {
            call,
            by: EndedBy::Timeout
        }]
    );
}

#[test]
fn other_required_extensions_still_get_420() {
    let mut h = Harness::new();
    let mut c = caller();
    let invite = c.invite(&offer(6000, "0", None)).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel, foo\r\n",
        1,
    );
    h.udp(c.addr, invite);
    let refused = h.one_response();
    assert_eq!(refused.status.as_u16(), 420);
    assert_eq!(refused.headers.get("Unsupported"), Some("foo"));
}
