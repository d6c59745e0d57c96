//! The SIP guard end to end: a real server on 127.0.0.1 and real sockets.
//!
//! - A flood of new OPTIONS from 127.0.0.2 is cut to its source's rate,
//!   while a phone on 127.0.0.1 places a call and a phone on 127.0.0.2
//!   that was already in a call puts it on hold and hangs up (in-dialog
//!   requests are never limited).
//! - With `allow` = 127.0.0.1/32, a call from 127.0.0.2 gets 403 and one
//!   from 127.0.0.1 is answered; OPTIONS from 127.0.0.2 are still answered.
//!
//! Linux routes all of 127.0.0.0/8 to the loopback interface, so 127.0.0.2
//! is a second source address with no set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;
use server::{CallConfig, Clock, Config, Server, SipAllow, SourceLimits, SystemClock};
use testkit::{Codec, Phone};
use tokio::net::UdpSocket;
use tower::ServiceExt;

const SECOND_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

struct Site {
    _dir: tempfile::TempDir,
    server: Server,
    sip: SocketAddr,
}

/// A server with open rooms (no web app needed) and the given SIP guard.
async fn site(rtp_ports: (u16, u16), allow: SipAllow) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = store::Store::connect(&url).await.unwrap();
    server::accounts::ensure_default(&store, SystemClock.now())
        .await
        .unwrap();
    let mut server = Server::start(store, Config::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let mut calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), rtp_ports);
    calls.sip.allow = allow;
    let addrs = server.listen_sip(calls).await.unwrap();
    Site {
        _dir: dir,
        server,
        sip: addrs.udp,
    }
}

impl Site {
    /// One counter of `GET /metrics`.
    async fn metric(&self, name: &str) -> u64 {
        let request = axum::http::Request::get("/metrics")
            .body(Body::empty())
            .unwrap();
        let response = self.server.router().oneshot(request).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }
}

/// A new (out-of-dialog) OPTIONS from `from`, number `n`.
fn options(from: SocketAddr, to: SocketAddr, n: u64) -> Vec<u8> {
    format!(
        "OPTIONS sip:ping@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:scanner@{from}>;tag=f{n}\r\n\
         To: <sip:ping@{to}>\r\n\
         Call-ID: flood-{n}@{from}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// How a flood is going.
#[derive(Default)]
struct Flood {
    sent: AtomicU64,
    answered: AtomicU64,
    stop: AtomicBool,
}

impl Flood {
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Polls until `sent` OPTIONS are out (bounded).
    async fn until_sent(&self, sent: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.sent() < sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(self.sent() >= sent, "the flood is stuck at {}", self.sent());
    }
}

/// Sends OPTIONS from `socket` in bursts of 20 every 10 ms (2,000 a
/// second, 40 times the limit) until told to stop; counts the 200s that
/// come back.
fn flood(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    state: Arc<Flood>,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let counter = state.clone();
    let reader = socket.clone();
    let receiving = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, _)) = reader.recv_from(&mut buf).await {
            if buf[..n].starts_with(b"SIP/2.0 200 ") {
                counter.answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let sending = tokio::spawn(async move {
        let from = socket.local_addr().unwrap();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while !state.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            for _ in 0..20 {
                let n = state.sent.fetch_add(1, Ordering::Relaxed);
                let _ = socket.send_to(&options(from, to, n), to).await;
            }
        }
    });
    (sending, receiving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_is_cut_to_its_rate_and_hurts_nobody_else() {
    let site = site((46000, 46099), SipAllow::everyone()).await;
    let limits = SourceLimits::default();

    // A caller on the flooding host, in a call before the flood.
    let neighbour = Phone::bind_on(SECOND_HOST, site.sip).await.unwrap();
    let mut early = neighbour.call("early", Codec::Pcmu).await.unwrap();

    let socket = Arc::new(UdpSocket::bind((SECOND_HOST, 0)).await.unwrap());
    let state = Arc::new(Flood::default());
    let began = Instant::now();
    let (sending, receiving) = flood(socket, site.sip, state.clone());

    // Well into the flood (half a second of it): 127.0.0.2's bucket is empty.
    state.until_sent(1000).await;
    // Another host's caller gets in.
    let other = Phone::bind(site.sip).await.unwrap();
    let mut call = other.call("room", Codec::Pcmu).await.unwrap();
    // The flooded host's call goes on: a re-INVITE and a BYE in its dialog.
    early.reinvite_hold(true).await.unwrap();
    early.reinvite_hold(false).await.unwrap();
    early.hang_up().await.unwrap();
    call.hang_up().await.unwrap();

    state.until_sent(2000).await;
    state.stop.store(true, Ordering::Relaxed);
    sending.await.unwrap();
    let flooded_for = began.elapsed();
    let sent = state.sent();
    // Late answers to the last OPTIONS: wait until none come for 500 ms.
    let mut last = state.answered();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if state.answered() == last {
            break;
        }
        last = state.answered();
    }
    receiving.abort();

    // The bucket's burst, then its rate for as long as the flood lasted
    // (measured, so a slow machine only loosens the bound).
    let most = limits.burst + limits.per_second * (flooded_for.as_secs_f64() + 1.0);
    let answered = state.answered();
    eprintln!("flood: {sent} OPTIONS in {flooded_for:?}, {answered} answered");
    assert!(
        (answered as f64) <= most,
        "{answered} of {sent} OPTIONS answered in {flooded_for:?}; at most {most}"
    );
    assert!(answered < sent / 4, "{answered} of {sent}");
    let limited = site.metric("confab_sip_requests_limited_total").await;
    assert!(limited > 0 && limited <= sent, "{limited} of {sent}");
    site.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_listed_networks_may_call() {
    let allow = SipAllow::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let site = site((46100, 46199), allow).await;

    let outsider = Phone::bind_on(SECOND_HOST, site.sip).await.unwrap();
    let refused = outsider.call("room", Codec::Pcmu).await.unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");

    let insider = Phone::bind(site.sip).await.unwrap();
    let mut call = insider.call("room", Codec::Pcmu).await.unwrap();
    call.hang_up().await.unwrap();

    // OPTIONS from outside the list are answered.
    let socket = UdpSocket::bind((SECOND_HOST, 0)).await.unwrap();
    let from = socket.local_addr().unwrap();
    socket
        .send_to(&options(from, site.sip, 1), site.sip)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("no answer to OPTIONS")
        .unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200 "), "{:?}", &buf[..n]);

    assert_eq!(site.metric("confab_sip_invites_forbidden_total").await, 1);
    site.server.stop().await;
}
