//! Dialogs over real transports, on fake time: where our in-dialog
//! requests go (remote target, route set, RFC 3261 §12.2), what a closed
//! TCP connection leaves, RFC 4028 session timers (negotiation, our
//! refresh at half the interval, BYE before an unrefreshed session
//! expires), UPDATE (RFC 3311) and OPTIONS in a dialog. Nothing sleeps:
//! `Harness::advance` fires each timer on its deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Caller, Harness, RTP_PORT, describe, offer, request};
use sip::{CallId, ConnId, EndedBy, Method, Request, SipEvent, StatusCode, Transmit, Transport};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The caller's INVITE with `contact` as its Contact and `extra` headers.
fn invite(c: &mut Caller, contact: &str, extra: &str) -> String {
    let plain = c.invite(&offer(6000, "0 8 101", None));
    with_contact(c, &plain, contact).replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{extra}"),
        1,
    )
}

fn with_contact(c: &Caller, message: &str, contact: &str) -> String {
    message.replacen(
        &format!("Contact: sip:sipp@{}\r\n", c.addr),
        &format!("Contact: {contact}\r\n"),
        1,
    )
}

/// INVITE (as `invite` writes it) in over `transport`, answered, ACKed:
/// the confirmed call, and our 200 OK.
fn confirmed(
    h: &mut Harness,
    c: &mut Caller,
    transport: Transport,
    contact: &str,
    extra: &str,
) -> (CallId, sip::Response) {
    let message = invite(c, contact, extra);
    h.deliver(transport, c.addr, message);
    let trying = h.one_response();
    assert_eq!(trying.status, StatusCode::TRYING);
    let call = h.incoming_call().call;
    h.engine.answer(call, RTP_PORT, h.now).unwrap();
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    c.take_to_tag(&ok);
    h.deliver(transport, c.addr, c.ack());
    assert_eq!(h.events(), [SipEvent::AckReceived { call }]);
    (call, ok)
}

/// An in-dialog request from the caller, with `extra` headers and `body`.
fn in_dialog(c: &mut Caller, method: &str, extra: &str, body: &str) -> String {
    c.cseq += 1;
    let branch = format!("z9hG4bK-{}-{method}-{}", c.call_id, c.cseq);
    c.message(
        method,
        &format!("{} {method}", c.cseq),
        &branch,
        c.to_tag.as_deref(),
        extra,
        body,
    )
}

/// The caller's response to a request of ours, with `extra` headers.
fn reply(to: &Request, status: u16, extra: &str) -> String {
    let h = &to.headers;
    let vias: String = h.via.iter().map(|v| format!("Via: {v}\r\n")).collect();
    format!(
        "SIP/2.0 {status} Whatever\r\n{vias}From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         {extra}Content-Length: 0\r\n\r\n",
        h.from, h.to, h.call_id, h.cseq
    )
}

fn only(sent: &[(u128, Transmit)]) -> (u128, Transmit) {
    assert_eq!(
        sent.len(),
        1,
        "{}",
        describe(&sent.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
    );
    sent[0].clone()
}

fn ended(call: CallId, by: EndedBy) -> Vec<SipEvent> {
    vec![SipEvent::CallEnded { call, by }]
}

// ---------------------------------------------------------------------------
// Where in-dialog requests go.

#[test]
fn a_bye_goes_to_the_remote_target_through_the_route_set() {
    struct Case {
        what: &'static str,
        contact: &'static str,
        record_route: &'static str,
        uri: &'static str,
        route: Vec<&'static str>,
        to: (Transport, &'static str),
    }
    let cases = [
        Case {
            what: "no route set: the Contact, not the source",
            contact: "<sip:phone@192.0.2.50:5080>",
            record_route: "",
            uri: "sip:phone@192.0.2.50:5080",
            route: vec![],
            to: (Transport::Udp, "192.0.2.50:5080"),
        },
        Case {
            what: "a Contact without a port: 5060",
            contact: "<sip:phone@192.0.2.50>",
            record_route: "",
            uri: "sip:phone@192.0.2.50",
            route: vec![],
            to: (Transport::Udp, "192.0.2.50:5060"),
        },
        Case {
            what: "a loose router: it is the next hop, the target the Request-URI",
            contact: "<sip:phone@192.0.2.50:5080>",
            record_route: "Record-Route: <sip:198.51.100.9:5062;lr>, <sip:198.51.100.10;lr>\r\n",
            uri: "sip:phone@192.0.2.50:5080",
            route: vec!["<sip:198.51.100.9:5062;lr>", "<sip:198.51.100.10;lr>"],
            to: (Transport::Udp, "198.51.100.9:5062"),
        },
        Case {
            what: "a strict router: it takes the Request-URI, the target goes last in Route",
            contact: "<sip:phone@192.0.2.50:5080>",
            record_route: "Record-Route: <sip:198.51.100.9:5062;method=INVITE>, <sip:198.51.100.10;lr>\r\n",
            uri: "sip:198.51.100.9:5062",
            route: vec!["<sip:198.51.100.10;lr>", "<sip:phone@192.0.2.50:5080>"],
            to: (Transport::Udp, "198.51.100.9:5062"),
        },
        Case {
            what: "a next hop named by a hostname: back to the source (no DNS)",
            contact: "<sip:phone@phone.example.com:5080>",
            record_route: "",
            uri: "sip:phone@phone.example.com:5080",
            route: vec![],
            to: (Transport::Udp, "192.0.2.7:5070"),
        },
        Case {
            what: "an IPv6 literal",
            contact: "<sip:phone@[2001:db8::5]:5080>",
            record_route: "",
            uri: "sip:phone@[2001:db8::5]:5080",
            route: vec![],
            to: (Transport::Udp, "[2001:db8::5]:5080"),
        },
        Case {
            what: "transport=tcp in the next hop: a new TCP connection",
            contact: "<sip:phone@192.0.2.50:5080;transport=tcp>",
            record_route: "",
            uri: "sip:phone@192.0.2.50:5080;transport=tcp",
            route: vec![],
            to: (Transport::TcpConnect, "192.0.2.50:5080"),
        },
    ];
    for case in cases {
        let mut h = Harness::new();
        let mut c = Caller::new("192.0.2.7:5070", "routes");
        let (call, ok) = confirmed(
            &mut h,
            &mut c,
            Transport::Udp,
            case.contact,
            case.record_route,
        );
        let rr: Vec<String> = ok
            .headers
            .record_route
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            rr.len(),
            case.route.len(),
            "{}: 200's Record-Route",
            case.what
        );
        h.engine.hangup(call, h.now).unwrap();
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "{}: {}", case.what, describe(&sent));
        let bye = request(&sent[0]);
        assert_eq!(bye.method, Method::Bye, "{}", case.what);
        assert_eq!(bye.uri.to_string(), case.uri, "{}", case.what);
        let route: Vec<String> = bye.headers.route.iter().map(ToString::to_string).collect();
        assert_eq!(route, case.route, "{}", case.what);
        assert_eq!(
            (sent[0].transport, sent[0].to),
            (case.to.0, addr(case.to.1)),
            "{}",
            case.what
        );
    }
}

#[test]
fn a_reinvite_or_update_contact_moves_the_remote_target() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "target-refresh");
    let (call, _) = confirmed(
        &mut h,
        &mut c,
        Transport::Udp,
        "<sip:a@192.0.2.50:5080>",
        "",
    );
    let reinvite = c.reinvite(&offer(6000, "0 8 101", None));
    h.udp(
        c.addr,
        with_contact(&c, &reinvite, "<sip:a@192.0.2.51:5081>"),
    );
    assert_eq!(h.one_response().status, StatusCode::OK);
    h.udp(c.addr, c.ack());
    let update = in_dialog(&mut c, "UPDATE", "", "");
    h.udp(c.addr, with_contact(&c, &update, "<sip:a@192.0.2.52:5082>"));
    assert_eq!(h.one_response().status, StatusCode::OK);
    h.engine.hangup(call, h.now).unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].to, addr("192.0.2.52:5082"));
    assert_eq!(request(&sent[0]).uri.to_string(), "sip:a@192.0.2.52:5082");
}

// ---------------------------------------------------------------------------
// A closed TCP connection.

#[test]
fn after_the_connection_closes_the_next_request_opens_one_and_the_dialog_keeps_it() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:40111", "tcp-refresh");
    let tcp = Transport::Tcp(ConnId(3));
    let (call, _) = confirmed(
        &mut h,
        &mut c,
        tcp,
        "<sip:a@192.0.2.7:5080;transport=tcp>",
        "Session-Expires: 100;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
    );
    h.engine.handle_connection_closed(ConnId(3), h.now);
    assert!(h.events().is_empty(), "the call stays");
    assert!(h.sent().is_empty());
    // Our refresh at half the interval: an UPDATE over a new connection to
    // the Contact.
    let (at, update) = only(&h.advance(secs(60)));
    assert_eq!(at, 50_000);
    assert_eq!(
        (update.transport, update.to),
        (Transport::TcpConnect, addr("192.0.2.7:5080"))
    );
    let update = request(&update);
    assert_eq!(update.method, Method::Update);
    // The answer comes on the connection the shell opened; the dialog's
    // requests use it from then on.
    let new = Transport::Tcp(ConnId(4));
    h.deliver(new, addr("192.0.2.7:5080"), reply(&update, 200, ""));
    h.engine.hangup(call, h.now).unwrap();
    let bye = h.sent();
    assert_eq!(
        (bye[0].transport, bye[0].to),
        (new, addr("192.0.2.7:5080")),
        "{}",
        describe(&bye)
    );
    assert_eq!(ended(call, EndedBy::Local), h.events());
    h.deliver(
        new,
        addr("192.0.2.7:5080"),
        reply(&request(&bye[0]), 200, ""),
    );
    h.drain_timers();
    assert!(h.engine.is_idle());
}

#[test]
fn a_bye_lost_with_its_closing_connection_goes_again_over_a_new_one_once() {
    for closes_again in [false, true] {
        let mut h = Harness::new();
        let mut c = Caller::new("192.0.2.7:40113", "tcp-bye");
        let (call, _) = confirmed(
            &mut h,
            &mut c,
            Transport::Tcp(ConnId(3)),
            "<sip:a@192.0.2.7:5080;transport=tcp>",
            "",
        );
        h.engine.hangup(call, h.now).unwrap();
        let first = h.sent();
        assert_eq!(first[0].transport, Transport::Tcp(ConnId(3)));
        assert_eq!(ended(call, EndedBy::Local), h.events());
        // The connection closes before the BYE's answer.
        h.engine.handle_connection_closed(ConnId(3), h.now);
        let again = h.sent();
        assert_eq!(
            (again[0].transport, again[0].to),
            (Transport::TcpConnect, addr("192.0.2.7:5080")),
            "{}",
            describe(&again)
        );
        let bye = request(&again[0]);
        assert_eq!(bye.method, Method::Bye);
        assert!(h.events().is_empty(), "reported once");
        let new = Transport::Tcp(ConnId(4));
        if closes_again {
            // Delivered, and that connection closes too: not chased.
            h.deliver(new, addr("192.0.2.7:5080"), reply(&bye, 100, ""));
            h.engine.handle_connection_closed(ConnId(4), h.now);
            assert!(h.sent().is_empty());
        } else {
            h.deliver(new, addr("192.0.2.7:5080"), reply(&bye, 200, ""));
        }
        h.drain_timers();
        assert!(h.engine.is_idle(), "closes again: {closes_again}");
    }
}

#[test]
fn a_refresh_that_cannot_be_delivered_times_out_and_the_call_ends_with_bye() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:40112", "tcp-dead");
    let tcp = Transport::Tcp(ConnId(3));
    let (call, _) = confirmed(
        &mut h,
        &mut c,
        tcp,
        "<sip:a@192.0.2.7:5080;transport=tcp>",
        "Session-Expires: 100;refresher=uas\r\n",
    );
    h.engine.handle_connection_closed(ConnId(3), h.now);
    // No UPDATE in the caller's Allow: a re-INVITE, which the shell could
    // not deliver; Timer B (64*T1) ends the session.
    let sent = h.advance(secs(100));
    let got: Vec<(u128, String, Transport)> = sent
        .iter()
        .map(|(t, m)| (*t, request(m).method.to_string(), m.transport))
        .collect();
    assert_eq!(
        got,
        [
            (50_000, "INVITE".to_owned(), Transport::TcpConnect),
            (82_000, "BYE".to_owned(), Transport::TcpConnect),
        ]
    );
    assert_eq!(h.events(), ended(call, EndedBy::SessionExpired));
}

// ---------------------------------------------------------------------------
// Session timers.

#[test]
fn the_200_names_the_interval_and_the_refresher_agreed() {
    // (request headers, Session-Expires in the 200, Require: timer in it)
    let cases = [
        (
            "Session-Expires: 1800\r\nSupported: timer\r\n",
            Some("1800;refresher=uac"),
            true,
        ),
        (
            "Session-Expires: 1800;refresher=uas\r\nSupported: timer\r\n",
            Some("1800;refresher=uas"),
            true,
        ),
        ("Session-Expires: 600\r\n", Some("600;refresher=uas"), false),
        // A proxy put the header in for a UAC that cannot refresh (§9).
        (
            "Session-Expires: 600;refresher=uac\r\n",
            Some("600;refresher=uas"),
            false,
        ),
        (
            "Session-Expires: 90;refresher=uac\r\nRequire: timer\r\nSupported: timer\r\n",
            Some("90;refresher=uac"),
            true,
        ),
        (
            "x: 90;refresher=uac\r\nk: timer\r\n",
            Some("90;refresher=uac"),
            true,
        ),
        (
            "Supported: 100rel, timer\r\n",
            Some("1800;refresher=uac"),
            true,
        ),
        (
            "Supported: timer\r\nMin-SE: 3600\r\n",
            Some("3600;refresher=uac"),
            true,
        ),
        ("", None, false),
    ];
    for (extra, expires, require) in cases {
        let mut h = Harness::new();
        let mut c = Caller::new("192.0.2.7:5070", "negotiate");
        let (_, ok) = confirmed(
            &mut h,
            &mut c,
            Transport::Udp,
            "<sip:a@192.0.2.7:5070>",
            extra,
        );
        assert_eq!(ok.headers.get("Session-Expires"), expires, "{extra:?}");
        assert_eq!(
            ok.headers.require.iter().any(|t| t == "timer"),
            require,
            "{extra:?}"
        );
        assert_eq!(
            ok.headers.get("Supported"),
            Some("100rel, timer"),
            "{extra:?}"
        );
        assert!(
            ok.headers.get("Allow").unwrap().contains("UPDATE"),
            "{extra:?}"
        );
    }
}

#[test]
fn an_interval_below_min_se_gets_422_and_a_malformed_one_400() {
    let mut h = Harness::new();
    for (n, (extra, status)) in [
        ("Session-Expires: 89\r\n", 422),
        (
            "Session-Expires: 0;refresher=uac\r\nSupported: timer\r\n",
            422,
        ),
        ("Session-Expires: soon\r\n", 400),
        ("Session-Expires: 1800\r\nMin-SE: -1\r\n", 400),
        ("Require: timer, precondition\r\n", 420),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Caller::new("192.0.2.7:5070", &format!("small-{n}"));
        let message = invite(&mut c, "<sip:a@192.0.2.7:5070>", extra);
        h.udp(c.addr, message);
        let refused = h.one_response();
        assert_eq!(refused.status.as_u16(), status, "{extra:?}");
        if status == 422 {
            assert_eq!(refused.headers.get("Min-SE"), Some("90"), "{extra:?}");
        }
        if status == 420 {
            assert_eq!(refused.headers.get("Unsupported"), Some("precondition"));
        }
        assert!(h.events().is_empty(), "{extra:?}: no call");
        h.udp(c.addr, c.ack_failure(refused.headers.to.tag().unwrap()));
    }
    // In a dialog too: an UPDATE asking for 30 s.
    let mut c = Caller::new("192.0.2.7:5070", "small-update");
    let (call, _) = confirmed(&mut h, &mut c, Transport::Udp, "<sip:a@192.0.2.7:5070>", "");
    let update = in_dialog(&mut c, "UPDATE", "Session-Expires: 30\r\n", "");
    h.udp(c.addr, update);
    let refused = h.one_response();
    assert_eq!(refused.status.as_u16(), 422);
    assert_eq!(refused.headers.get("Min-SE"), Some("90"));
    h.udp(c.addr, c.bye());
    assert_eq!(h.one_response().status, StatusCode::OK);
    assert_eq!(h.events(), ended(call, EndedBy::Remote));
}

#[test]
fn confab_refreshes_with_update_at_half_the_interval_and_ends_on_481() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "we-refresh");
    let (call, _) = confirmed(
        &mut h,
        &mut c,
        Transport::Udp,
        "<sip:a@192.0.2.7:5070>",
        "Session-Expires: 120;refresher=uas\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    );
    let (at, sent) = only(&h.advance(secs(60)));
    assert_eq!(at, 60_000, "exactly half of 120 s");
    let update = request(&sent);
    assert_eq!(update.method, Method::Update);
    assert!(update.body.is_empty());
    assert_eq!(
        update.headers.get("Session-Expires"),
        Some("120;refresher=uac")
    );
    assert_eq!(update.headers.to.tag(), Some(c.from_tag.as_str()));
    assert_eq!(update.headers.from.tag(), c.to_tag.as_deref());
    assert_eq!(sent.to, c.addr);
    // The caller's answer shortens the interval: the next refresh is at
    // half of that, counted from the answer; its Contact is the new remote
    // target (a 2xx to a target refresh, §12.2.1.2).
    h.udp(
        c.addr,
        reply(
            &update,
            200,
            "Session-Expires: 100;refresher=uac\r\nContact: <sip:a@192.0.2.8:5080>\r\n",
        ),
    );
    let (at, sent) = only(&h.advance(secs(50)));
    assert_eq!(at, 110_000);
    assert_eq!(sent.to, "192.0.2.8:5080".parse().unwrap());
    let next = request(&sent);
    assert_eq!(next.headers.cseq.seq, update.headers.cseq.seq + 1);
    // 481: the session is gone at the caller (RFC 4028 §10).
    h.udp(c.addr, reply(&next, 481, ""));
    let bye = h.sent();
    assert_eq!(request(&bye[0]).method, Method::Bye, "{}", describe(&bye));
    assert_eq!(h.events(), ended(call, EndedBy::SessionExpired));
}

#[test]
fn a_refresh_refused_with_491_or_500_is_tried_again_after_4_s() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "glare");
    let (call, _) = confirmed(
        &mut h,
        &mut c,
        Transport::Udp,
        "<sip:a@192.0.2.7:5070>",
        "Session-Expires: 90;refresher=uas\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    );
    let (at, sent) = only(&h.advance(secs(45)));
    assert_eq!(at, 45_000);
    let first = request(&sent);
    h.udp(c.addr, reply(&first, 491, ""));
    let (at, sent) = only(&h.advance(secs(4)));
    assert_eq!(at, 49_000, "4 s after the 491, not another half interval");
    let second = request(&sent);
    assert_eq!(second.method, Method::Update);
    assert_eq!(second.headers.cseq.seq, first.headers.cseq.seq + 1);
    h.udp(c.addr, reply(&second, 500, ""));
    let (at, sent) = only(&h.advance(secs(4)));
    assert_eq!(at, 53_000);
    let third = request(&sent);
    // It goes through: the next one is half an interval after its answer.
    h.udp(
        c.addr,
        reply(&third, 200, "Session-Expires: 90;refresher=uac\r\n"),
    );
    let (at, _) = only(&h.advance(secs(45)));
    assert_eq!(at, 98_000);
    assert!(h.events().is_empty(), "the call goes on: {call:?}");
}

#[test]
fn without_update_in_allow_the_refresh_is_a_reinvite_with_our_sdp_and_its_2xx_is_acked() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "reinvite-refresh");
    let (_, ok) = confirmed(
        &mut h,
        &mut c,
        Transport::Udp,
        "<sip:a@192.0.2.7:5070>",
        "Session-Expires: 90\r\n",
    );
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uas"));
    // 45 s, then Timer A retransmits at 45.5 s and 46.5 s.
    let sent = h.advance(Duration::from_millis(46_600));
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, [45_000, 45_500, 46_500]);
    let reinvite = request(&sent[0].1);
    assert_eq!(reinvite.method, Method::Invite);
    assert_eq!(reinvite.body, ok.body, "the session as it stands");
    assert_eq!(
        reinvite.headers.get("Session-Expires"),
        Some("90;refresher=uac")
    );
    let answer = reply(&reinvite, 200, "");
    h.udp(c.addr, &answer);
    let ack = h.sent();
    assert_eq!(ack.len(), 1, "{}", describe(&ack));
    let ack = request(&ack[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.cseq.seq, reinvite.headers.cseq.seq);
    assert_ne!(
        ack.headers.via[0].branch(),
        reinvite.headers.via[0].branch()
    );
    // The 200 again (our ACK was lost): ACKed again, and no more INVITEs.
    h.udp(c.addr, &answer);
    assert_eq!(request(&h.sent()[0]).method, Method::Ack);
    // The next refresh: half the interval after the 200 came (at 46.6 s).
    let (at, next) = only(&h.advance(secs(45)));
    assert_eq!(at, 91_600);
    assert_eq!(request(&next).method, Method::Invite);
}

#[test]
fn a_peer_offer_while_our_reinvite_is_in_flight_gets_491() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "glare");
    let _ = confirmed(
        &mut h,
        &mut c,
        Transport::Udp,
        "<sip:a@192.0.2.7:5070>",
        "Session-Expires: 90\r\n",
    );
    let (at, sent) = only(&h.advance(secs(45)));
    assert_eq!(at, 45_000);
    let ours = request(&sent);
    assert_eq!(ours.method, Method::Invite);
    // The caller's re-INVITE crosses ours: glare (RFC 3261 §14.2).
    h.udp(c.addr, c.reinvite(&offer(6000, "0 8 101", None)));
    assert_eq!(h.one_response().status.as_u16(), 491);
    assert!(h.events().is_empty());
    // Ours is answered; the caller's retry is taken.
    h.udp(c.addr, reply(&ours, 200, ""));
    assert_eq!(request(&h.sent()[0]).method, Method::Ack);
    h.udp(c.addr, c.reinvite(&offer(6000, "0 8 101", None)));
    assert_eq!(h.one_response().status, StatusCode::OK);
}

#[test]
fn when_the_peer_refreshes_and_stops_confab_hangs_up_before_expiry() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "peer-refreshes");
    let (call, ok) = confirmed(
        &mut h,
        &mut c,
        Transport::Udp,
        "<sip:a@192.0.2.7:5070>",
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
    );
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uac"));
    // The caller refreshes at 40 s with an UPDATE and at 80 s with a
    // re-INVITE: each restarts the 90 s.
    assert!(h.advance(secs(40)).is_empty());
    let update = in_dialog(
        &mut c,
        "UPDATE",
        "Session-Expires: 90;refresher=uac\r\n",
        "",
    );
    h.udp(c.addr, update);
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uac"));
    assert!(ok.body.is_empty());
    assert!(h.advance(secs(40)).is_empty());
    let reinvite = c.reinvite(&offer(6000, "0 8 101", None));
    h.udp(
        c.addr,
        reinvite.replacen(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nSession-Expires: 90\r\nSupported: timer\r\n",
            1,
        ),
    );
    assert_eq!(h.one_response().status, StatusCode::OK);
    h.udp(c.addr, c.ack());
    // Then nothing: BYE at expiry less min(32 s, 90 s / 3) = 60 s after.
    let sent = h.advance(secs(61));
    let (at, bye) = sent.first().cloned().expect("a BYE");
    assert_eq!(at, 140_000);
    assert!(
        sent.iter().all(|(_, t)| t.bytes == bye.bytes),
        "Timer E only"
    );
    assert_eq!(request(&bye).method, Method::Bye);
    assert_eq!(h.events(), ended(call, EndedBy::SessionExpired));
    h.udp(c.addr, reply(&request(&bye), 200, ""));
    h.drain_timers();
    assert!(h.engine.is_idle());
}

// ---------------------------------------------------------------------------
// UPDATE and OPTIONS.

#[test]
fn update_with_sdp_is_answered_like_a_reinvite_offer() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "update-hold");
    let (call, _) = confirmed(&mut h, &mut c, Transport::Udp, "<sip:a@192.0.2.7:5070>", "");
    let update = in_dialog(
        &mut c,
        "UPDATE",
        "",
        &offer(6000, "0 101", Some("sendonly")),
    );
    h.udp(c.addr, update);
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    let sdp = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(sdp.contains("a=recvonly\r\n"), "{sdp}");
    assert_eq!(ok.headers.contact.len(), 1);
    assert_eq!(
        h.events(),
        [SipEvent::HoldChanged {
            call,
            on_hold: true
        }]
    );
    // A body-less UPDATE is a refresh: 200, no body, nothing changes.
    h.udp(c.addr, in_dialog(&mut c, "UPDATE", "", ""));
    let ok = h.one_response();
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.is_empty());
    assert!(h.events().is_empty());
    // Outside any dialog: 481.
    let mut stranger = Caller::new("192.0.2.8:5070", "no-dialog");
    stranger.to_tag = Some("nobody".to_owned());
    h.udp(stranger.addr, in_dialog(&mut stranger, "UPDATE", "", ""));
    assert_eq!(h.one_response().status, StatusCode::CALL_DOES_NOT_EXIST);
}

#[test]
fn update_in_an_early_dialog_refreshes_but_an_offer_waits_for_the_answer() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "early-update");
    let message = invite(&mut c, "<sip:a@192.0.2.7:5070>", "");
    h.udp(c.addr, message);
    assert_eq!(h.one_response().status, StatusCode::TRYING);
    let call = h.incoming_call().call;
    h.engine.ringing(call, h.now).unwrap();
    let ringing = h.one_response();
    c.take_to_tag(&ringing);
    h.udp(c.addr, in_dialog(&mut c, "UPDATE", "", ""));
    assert_eq!(h.one_response().status, StatusCode::OK);
    h.udp(
        c.addr,
        in_dialog(&mut c, "UPDATE", "", &offer(6000, "0", None)),
    );
    let busy = h.one_response();
    assert_eq!(busy.status, StatusCode::SERVER_INTERNAL_ERROR);
    assert_eq!(busy.headers.get("Retry-After"), Some("1"));
    assert!(h.events().is_empty());
}

#[test]
fn options_in_and_out_of_a_dialog_get_200_with_allow_and_supported() {
    let mut h = Harness::new();
    let mut c = Caller::new("192.0.2.7:5070", "options");
    let (call, _) = confirmed(&mut h, &mut c, Transport::Udp, "<sip:a@192.0.2.7:5070>", "");
    let inside = in_dialog(&mut c, "OPTIONS", "", "");
    let mut outside = Caller::new("192.0.2.9:5070", "options-outside");
    let outside = outside.request("OPTIONS", "Require: timer\r\n");
    for (what, message) in [("in the dialog", inside), ("outside", outside)] {
        h.udp(c.addr, message);
        let ok = h.one_response();
        assert_eq!(ok.status, StatusCode::OK, "{what}");
        assert_eq!(
            ok.headers.get("Allow"),
            Some("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK"),
            "{what}"
        );
        assert_eq!(ok.headers.get("Supported"), Some("100rel, timer"), "{what}");
    }
    // The dialog's OPTIONS left the call as it was.
    assert!(h.events().is_empty());
    h.engine.hangup(call, h.now).unwrap();
    assert_eq!(request(&h.sent()[0]).method, Method::Bye);
}
