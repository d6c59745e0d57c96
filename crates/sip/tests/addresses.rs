//! What a call advertises: the local address its INVITE arrived on
//! (Contact, the Via of our BYE, SDP `o=` and `c=`), or the configured
//! public address when it is fixed (`--public-addr`) or the arrival
//! address is not known. On fake time; nothing sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, SocketAddr};

use common::{Caller, PUBLIC, RTP_PORT, offer, request, response};
use sip::{Engine, EngineConfig, Inbound, SipEvent, Transport};

/// An engine on `PUBLIC`, `fixed` or not.
fn engine(fixed: bool) -> Engine {
    let mut counter = 0x1000_u64;
    let config = EngineConfig {
        fixed,
        ..EngineConfig::new(PUBLIC.parse().unwrap(), 5060)
    };
    Engine::new(config, move || {
        counter += 1;
        counter
    })
    .unwrap()
}

/// What a call that arrived on `local` from `caller` writes: the 200's
/// Contact host, its SDP's `o=` and `c=` lines, and the host of our BYE's
/// Via.
fn advertised(e: &mut Engine, caller: &mut Caller, local: &str) -> (String, String, String) {
    let now = std::time::Instant::now();
    let local: SocketAddr = local.parse().unwrap();
    let invite = Inbound::parse(caller.invite(&offer(6000, "0 8 101", None)).as_bytes());
    e.handle_inbound(Transport::Udp, caller.addr, local, invite, now);
    let call = std::iter::from_fn(|| e.poll_event())
        .find_map(|event| match event {
            SipEvent::IncomingCall(call) => Some(call.call),
            _ => None,
        })
        .expect("an incoming call");
    e.answer(call, RTP_PORT, now).unwrap();
    let ok = std::iter::from_fn(|| e.poll_transmit())
        .map(|t| response(&t))
        .find(|r| r.status.as_u16() == 200)
        .expect("a 200");
    caller.take_to_tag(&ok);
    let ack = Inbound::parse(caller.ack().as_bytes());
    e.handle_inbound(Transport::Udp, caller.addr, local, ack, now);
    e.hangup(call, now).unwrap();
    let bye = request(&e.poll_transmit().expect("a BYE"));
    while e.poll_event().is_some() {}
    let contact = ok.headers.contact[0].uri.to_string();
    let sdp = String::from_utf8(ok.body).unwrap();
    let lines = |prefix: &str| {
        sdp.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_default()
            .to_owned()
    };
    let via = format!("{}:{:?}", bye.headers.via[0].host, bye.headers.via[0].port);
    (contact, format!("{} | {}", lines("o="), lines("c=")), via)
}

#[test]
fn a_call_advertises_the_address_its_invite_arrived_on() {
    let mut e = engine(false);
    let mut a = Caller::new("192.0.2.7:5070", "arrived-a");
    let (contact, sdp, via) = advertised(&mut e, &mut a, "198.51.100.4:5060");
    assert_eq!(contact, "sip:198.51.100.4:5060");
    assert!(
        sdp.ends_with("IN IP4 198.51.100.4 | c=IN IP4 198.51.100.4"),
        "{sdp}"
    );
    assert_eq!(via, "198.51.100.4:Some(5060)");
    // Another call, on another of the host's addresses, at the same time.
    let mut b = Caller::new("10.1.2.3:5070", "arrived-b");
    let (contact, sdp, via) = advertised(&mut e, &mut b, "10.0.0.1:5060");
    assert_eq!(contact, "sip:10.0.0.1:5060");
    assert!(
        sdp.ends_with("IN IP4 10.0.0.1 | c=IN IP4 10.0.0.1"),
        "{sdp}"
    );
    assert_eq!(via, "10.0.0.1:Some(5060)");
}

#[test]
fn an_ipv6_arrival_is_advertised_as_ip6_and_a_mapped_one_as_ip4() {
    let mut e = engine(false);
    let mut a = Caller::new("[2001:db8::7]:5070", "arrived-v6");
    let (contact, sdp, via) = advertised(&mut e, &mut a, "[2001:db8::1]:5060");
    assert_eq!(contact, "sip:[2001:db8::1]:5060");
    assert!(
        sdp.ends_with("IN IP6 2001:db8::1 | c=IN IP6 2001:db8::1"),
        "{sdp}"
    );
    assert_eq!(via, "[2001:db8::1]:Some(5060)");
    // A dual-stack socket sees an IPv4 arrival as IPv4-mapped.
    let mut b = Caller::new("[::ffff:192.0.2.9]:5070", "arrived-mapped");
    let (contact, sdp, _) = advertised(&mut e, &mut b, "[::ffff:198.51.100.4]:5060");
    assert_eq!(contact, "sip:198.51.100.4:5060");
    assert!(sdp.ends_with("c=IN IP4 198.51.100.4"), "{sdp}");
}

#[test]
fn a_fixed_public_address_or_an_unknown_arrival_advertises_the_public_address() {
    let mut fixed = engine(true);
    let mut a = Caller::new("192.0.2.7:5070", "fixed");
    let (contact, sdp, via) = advertised(&mut fixed, &mut a, "198.51.100.4:5060");
    assert_eq!(contact, format!("sip:{PUBLIC}:5060"));
    assert!(sdp.ends_with(&format!("c=IN IP4 {PUBLIC}")), "{sdp}");
    assert_eq!(via, format!("{PUBLIC}:Some(5060)"));
    let mut e = engine(false);
    let mut b = Caller::new("192.0.2.7:5070", "wildcard");
    let (contact, _, _) = advertised(&mut e, &mut b, "0.0.0.0:5060");
    assert_eq!(contact, format!("sip:{PUBLIC}:5060"));
    let public: IpAddr = PUBLIC.parse().unwrap();
    assert!(!public.is_unspecified());
}
