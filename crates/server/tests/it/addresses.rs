//! What a server tells callers to reach it at, end to end on real sockets.
//!
//! - Bound to a wildcard (`0.0.0.0`, `[::]`), it answers each caller from
//!   the address the caller reached, and advertises that address in
//!   Contact and SDP: a phone that dialled 127.0.0.2 hears from 127.0.0.2,
//!   one that dialled 127.0.0.1 from 127.0.0.1, and the two share a room.
//! - Over TCP, a call advertises the local end of its connection.
//! - `public_addr` (`--public-addr`) overrides it.
//! - Bound to `[::1]`, a call is IPv6 end to end (SDP `c=IN IP6 ::1`,
//!   Contact `[::1]`, RTP on ::1) and a caller hears another's tone.
//!
//! Linux routes all of 127.0.0.0/8 to the loopback interface, so 127.0.0.2
//! is a second local address with no set-up; the kernel would answer it
//! from 127.0.0.1 (the route's preferred source) unless told otherwise, so
//! the test that the answer comes from 127.0.0.2 can fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use server::{CallConfig, Clock, Config, Server, SystemClock};
use testkit::{Codec, Phone, PhoneCall};
use tokio::net::UdpSocket;

const DEADLINE: Duration = Duration::from_secs(10);

struct Site {
    _dir: tempfile::TempDir,
    _server: Server,
    /// The port SIP listens on (UDP and TCP).
    port: u16,
}

/// A server with SIP on `bind`, RTP on `rtp_ports`, open rooms, and
/// `public` as its fixed public address if given.
async fn site(bind: &str, rtp_ports: (u16, u16), public: Option<&str>) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = store::Store::connect(&url).await.unwrap();
    server::accounts::ensure_default(&store, SystemClock.now())
        .await
        .unwrap();
    let mut server = Server::start(store, Config::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let mut calls = CallConfig::new(bind.parse().unwrap(), rtp_ports);
    calls.open_rooms = true;
    calls.sip.public_addr = public.map(|p| p.parse().unwrap());
    let addrs = server.listen_sip(calls).await.unwrap();
    Site {
        _dir: dir,
        _server: server,
        port: addrs.udp.port(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Sends an OPTIONS from a socket on `from_ip` to `to` and returns the
/// answer and the address it came from.
async fn options(from_ip: IpAddr, to: SocketAddr) -> (String, SocketAddr) {
    let socket = UdpSocket::bind(SocketAddr::new(from_ip, 0)).await.unwrap();
    let from = socket.local_addr().unwrap();
    let request = format!(
        "OPTIONS sip:ping@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-addr-{port};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{from}>;tag=p\r\nTo: <sip:ping@{to}>\r\n\
         Call-ID: addr-{port}@{from}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        port = from.port()
    );
    let mut buf = vec![0u8; 4096];
    // UDP: resend on T1 until answered (bounded by the deadline).
    let answer = tokio::time::timeout(DEADLINE, async {
        loop {
            socket.send_to(request.as_bytes(), to).await.unwrap();
            if let Ok(got) =
                tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
            {
                break got.unwrap();
            }
        }
    })
    .await
    .expect("an answer to OPTIONS");
    let (n, source) = answer;
    (String::from_utf8_lossy(&buf[..n]).into_owned(), source)
}

/// A phone on `local` that dials `room` at `server`.
async fn dial(local: IpAddr, server: SocketAddr, room: &str) -> (Phone, PhoneCall) {
    let mut phone = Phone::bind_on(local, server).await.unwrap();
    phone.set_timeout(DEADLINE);
    let call = phone.call(room, Codec::Pcmu).await.unwrap();
    (phone, call)
}

/// The host of a `sip:host:port[;params]` URI, brackets kept.
fn host(uri: &str) -> &str {
    let rest = uri.strip_prefix("sip:").unwrap_or(uri);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let rest = rest.split(';').next().unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() && !host.ends_with(':') => host,
        _ => rest,
    }
}

#[tokio::test]
async fn a_wildcard_server_answers_each_caller_from_and_with_the_address_it_reached() {
    let site = site("0.0.0.0:0", (47000, 47019), None).await;
    let first = SocketAddr::new(ip("127.0.0.1"), site.port);
    let second = SocketAddr::new(ip("127.0.0.2"), site.port);
    // Sent from 127.0.0.1 to 127.0.0.2: the kernel's own choice of source
    // would be 127.0.0.1.
    let (answer, source) = options(ip("127.0.0.1"), second).await;
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert_eq!(source, second);
    let (_, source) = options(ip("127.0.0.2"), first).await;
    assert_eq!(source, first);

    let (_a, a) = dial(ip("127.0.0.1"), second, "addresses").await;
    assert_eq!(
        host(a.remote_target()),
        "127.0.0.2",
        "{}",
        a.remote_target()
    );
    assert_eq!(a.remote_rtp().ip(), ip("127.0.0.2"));
    let (_b, b) = dial(ip("127.0.0.2"), first, "addresses").await;
    assert_eq!(
        host(b.remote_target()),
        "127.0.0.1",
        "{}",
        b.remote_target()
    );
    assert_eq!(b.remote_rtp().ip(), ip("127.0.0.1"));
    // Each call's RTP is bound on the address its caller reached: what each
    // sends to its advertised address arrives, the room carries it to the
    // other, and it comes back from that same address (a phone that checks
    // the source of its RTP keeps it).
    a.send_tone(697);
    b.send_tone(1209);
    b.wait_to_hear(697, DEADLINE).await.unwrap();
    a.wait_to_hear(1209, DEADLINE).await.unwrap();
    assert_eq!(a.rtp_stats().last_source, Some(a.remote_rtp()));
    assert_eq!(b.rtp_stats().last_source, Some(b.remote_rtp()));
}

#[tokio::test]
async fn a_dual_stack_wildcard_advertises_ipv4_to_ipv4_callers_and_ipv6_to_ipv6_ones() {
    let site = site("[::]:0", (47020, 47039), None).await;
    let v4 = SocketAddr::new(ip("127.0.0.2"), site.port);
    let v6 = SocketAddr::new(ip("::1"), site.port);
    let (_, source) = options(ip("127.0.0.1"), v4).await;
    // The dual-stack socket's view of it, IPv4-mapped.
    assert_eq!(source.ip().to_canonical(), ip("127.0.0.2"));
    let (_a, a) = dial(ip("127.0.0.1"), v4, "dual").await;
    assert_eq!(
        host(a.remote_target()),
        "127.0.0.2",
        "{}",
        a.remote_target()
    );
    assert_eq!(a.remote_rtp().ip(), ip("127.0.0.2"));
    let (_b, b) = dial(ip("::1"), v6, "dual").await;
    assert_eq!(host(b.remote_target()), "[::1]", "{}", b.remote_target());
    assert_eq!(b.remote_rtp().ip(), ip("::1"));
    a.send_tone(770);
    b.wait_to_hear(770, DEADLINE).await.unwrap();
}

#[tokio::test]
async fn a_public_address_overrides_the_arrival_address() {
    let site = site("0.0.0.0:0", (47040, 47059), Some("198.51.100.7")).await;
    let server = SocketAddr::new(ip("127.0.0.2"), site.port);
    let (_phone, call) = dial(ip("127.0.0.1"), server, "public").await;
    assert_eq!(
        host(call.remote_target()),
        "198.51.100.7",
        "{}",
        call.remote_target()
    );
    assert_eq!(call.remote_rtp().ip(), ip("198.51.100.7"));
}

#[tokio::test]
async fn a_call_over_ipv6_loopback_joins_a_room_and_hears_a_tone() {
    let site = site("[::1]:0", (47060, 47079), None).await;
    let server = SocketAddr::new(ip("::1"), site.port);
    let (_a, a) = dial(ip("::1"), server, "six").await;
    let (_b, b) = dial(ip("::1"), server, "six").await;
    for call in [&a, &b] {
        assert_eq!(
            host(call.remote_target()),
            "[::1]",
            "{}",
            call.remote_target()
        );
        assert_eq!(call.remote_rtp().ip(), ip("::1"));
    }
    a.send_tone(852);
    b.wait_to_hear(852, DEADLINE).await.unwrap();
}

#[tokio::test]
async fn over_tcp_a_call_advertises_the_connections_local_address() {
    let site = site("0.0.0.0:0", (47080, 47099), None).await;
    let server = SocketAddr::new(ip("127.0.0.2"), site.port);
    let mut phone = Phone::connect_tcp(server).await.unwrap();
    phone.set_timeout(DEADLINE);
    let call = phone.call("tcp-addresses", Codec::Pcmu).await.unwrap();
    assert_eq!(
        host(call.remote_target()),
        "127.0.0.2",
        "{}",
        call.remote_target()
    );
    assert!(
        call.remote_target().contains("transport=tcp"),
        "{}",
        call.remote_target()
    );
    assert_eq!(call.remote_rtp().ip(), ip("127.0.0.2"));
}
