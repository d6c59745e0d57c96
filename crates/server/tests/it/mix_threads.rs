//! Rooms spread over two mix threads, end to end: a real server with
//! `mix_threads = 2` on 127.0.0.1, testkit phones in several open rooms over
//! real SIP and RTP, and `/metrics` read through the router. The rooms land
//! on both threads by the placement rule (fewest legs, then fewest rooms),
//! every caller hears its own room's other caller and nobody from another
//! room, and a room that ends gives its thread's load back, so the next room
//! goes there. Every wait polls with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use media::tone_fraction;
use server::{CallConfig, Clock, Config, Server, SystemClock};
use tower::ServiceExt;

use crate::common::caller::{Caller, DEADLINE};

/// RTP ports of this module (main.rs lists every module's).
const RTP_PORTS: (u16, u16) = (59500, 59999);

/// Every caller's tone: room `i`'s two callers send `TONES[2i]` and
/// `TONES[2i + 1]`.
const TONES: [u32; 10] = [400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300];

/// A server with two mix threads, SIP on 127.0.0.1 with open rooms.
struct TwoThreads {
    _dir: tempfile::TempDir,
    server: Server,
    router: axum::Router,
    sip: SocketAddr,
}

impl TwoThreads {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("confab.db").display());
        let store = store::Store::connect(&url).await.unwrap();
        server::accounts::create(&store, "default", SystemClock.now())
            .await
            .unwrap();
        let config = Config {
            mix_threads: 2,
            ..Config::default()
        };
        let mut server = Server::start(store, config, Arc::new(SystemClock))
            .await
            .unwrap();
        let calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), RTP_PORTS);
        assert!(calls.open_rooms);
        let sip = server.listen_sip(calls).await.unwrap().udp;
        let router = server.router();
        Self {
            _dir: dir,
            server,
            router,
            sip,
        }
    }

    async fn metrics(&self) -> String {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Each thread's (rooms, legs), once `/metrics` shows exactly `want`.
    async fn until_load(&self, what: &str, want: [(f64, f64); 2]) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let text = self.metrics().await;
            let load = [0, 1].map(|t| {
                (
                    value(
                        &text,
                        &format!(r#"confab_mix_thread_rooms{{thread="{t}"}}"#),
                    ),
                    value(&text, &format!(r#"confab_mix_thread_legs{{thread="{t}"}}"#)),
                )
            });
            if load == want {
                assert!(!text.contains(r#"thread="2""#), "a third thread in\n{text}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: (rooms, legs) per thread never {want:?}; last {load:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of the series written exactly `series`.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// Room `room`'s two callers, dialled one after the other.
async fn fill(rig: &TwoThreads, room: usize) -> [Caller; 2] {
    let name = format!("spread{room}");
    let a = Caller::dial(rig.sip, &name, "a", TONES[2 * room])
        .await
        .unwrap();
    let b = Caller::dial(rig.sip, &name, "b", TONES[2 * room + 1])
        .await
        .unwrap();
    [a, b]
}

/// `caller` (the `me`-th tone) hears `other`'s tone clearly and no other
/// tone of `TONES`, its own included.
async fn hears_only(caller: &Caller, me: usize, other: usize) {
    let what = format!(
        "the caller on {} Hz hears {} Hz only",
        TONES[me], TONES[other]
    );
    caller
        .until_heard(&what, |s| {
            tone_fraction(s, f64::from(TONES[other])) > 0.6
                && TONES
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != other)
                    .all(|(_, &hz)| tone_fraction(s, f64::from(hz)) < 0.05)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_spread_over_two_threads_hear_only_their_own_and_an_ended_room_frees_its_thread() {
    let rig = TwoThreads::start().await;
    rig.until_load("at start", [(0.0, 0.0), (0.0, 0.0)]).await;

    // Each room is placed once its predecessors' legs count: the first on
    // thread 0, the second where no legs are (1), the third on a tie in
    // legs and rooms (the first thread, 0), the fourth on 1.
    let mut rooms = Vec::new();
    let expected = [
        [(1.0, 2.0), (0.0, 0.0)],
        [(1.0, 2.0), (1.0, 2.0)],
        [(2.0, 4.0), (1.0, 2.0)],
        [(2.0, 4.0), (2.0, 4.0)],
    ];
    for (room, want) in expected.into_iter().enumerate() {
        rooms.push(fill(&rig, room).await);
        rig.until_load(&format!("room {room} placed"), want).await;
    }

    for (room, [a, b]) in rooms.iter().enumerate() {
        hears_only(a, 2 * room, 2 * room + 1).await;
        hears_only(b, 2 * room + 1, 2 * room).await;
    }

    // Room 1 (thread 1) ends: its thread's room and legs are given back.
    let [a, b] = rooms.remove(1);
    a.hang_up().await;
    b.hang_up().await;
    rig.until_load("room 1 ended", [(2.0, 4.0), (1.0, 2.0)])
        .await;

    // So the next room goes to thread 1, and is heard there.
    let fifth = fill(&rig, 4).await;
    rig.until_load("room 4 placed", [(2.0, 4.0), (2.0, 4.0)])
        .await;
    hears_only(&fifth[0], 8, 9).await;
    hears_only(&fifth[1], 9, 8).await;
    // The rooms left on both threads still mix.
    let [a, b] = &rooms[2];
    hears_only(a, 6, 7).await;
    hears_only(b, 7, 6).await;

    for caller in rooms.into_iter().flatten().chain(fifth) {
        caller.hang_up().await;
    }
    rig.until_load("every room ended", [(0.0, 0.0), (0.0, 0.0)])
        .await;
    rig.server.stop().await;
}
