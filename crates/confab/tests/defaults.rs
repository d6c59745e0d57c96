//! `serve`'s secure defaults and address flags, against the real binary:
//!
//! - Bound to a wildcard (not loopback) without `--open-rooms`, an unknown
//!   number gets 404, and the log says open rooms are off and why; with
//!   `--open-rooms` the same call joins a room.
//! - On loopback open rooms are on, and the log says so.
//! - `--public-addr` is what a call's Contact and SDP carry, and the log
//!   says what is advertised; `--sip-rate-limit` and `--sip-trusted` are
//!   taken and logged.
//! - A log file gets no colour codes; `--log-format json` writes one JSON
//!   object a line.
//! - The async runtime's threads run at a lower priority (nice 10) than the
//!   mix threads, which keep the process's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use common::{Serve, db_url};
use testkit::{Codec, Phone};

/// `serve` with `extra` flags, its log in `dir`; returns it and its log text.
/// The log is a file, not a terminal: it must hold no colour codes.
fn serve(dir: &Path, rtp_ports: &str, extra: &[&str]) -> (Serve, String) {
    let log = dir.join("serve.log");
    let serve = Serve::start_as_deployed(&db_url(dir), rtp_ports, &log, extra);
    // Logged before the HTTP address is printed, which `Serve` waited for.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\x1b'),
        "escape codes in a log file:\n{text}"
    );
    (serve, text)
}

/// The server's SIP address as a caller on this host dials it.
fn dial_addr(serve: &Serve) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_bind_needs_open_rooms_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let (closed, log) = serve(dir.path(), "30300-30319", &["--sip-addr", "0.0.0.0:0"]);
    assert!(
        log.contains("open rooms off: SIP is not bound to loopback"),
        "{log}"
    );
    assert!(
        log.contains("advertising the address each request arrives on"),
        "{log}"
    );
    let phone = Phone::bind(dial_addr(&closed)).await.unwrap();
    let refused = phone.call("standup", Codec::Pcmu).await.unwrap_err();
    assert_eq!(refused.status(), Some(404), "{refused}");
    drop(phone);
    assert!(closed.stop());

    let dir = tempfile::tempdir().unwrap();
    let extra = ["--sip-addr", "0.0.0.0:0", "--open-rooms"];
    let (open, log) = serve(dir.path(), "30300-30319", &extra);
    assert!(log.contains("open rooms on (--open-rooms)"), "{log}");
    let phone = Phone::bind(dial_addr(&open)).await.unwrap();
    let mut call = phone.call("standup", Codec::Pcmu).await.unwrap();
    // Reached on 127.0.0.1, it says 127.0.0.1, never 0.0.0.0.
    assert!(
        call.remote_target().contains("127.0.0.1"),
        "{}",
        call.remote_target()
    );
    call.hang_up().await.unwrap();
    drop(phone);
    assert!(open.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_open_rooms_are_on_and_the_public_address_is_advertised() {
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--public-addr",
        "198.51.100.7",
        "--sip-rate-limit",
        "7",
        "--sip-trusted",
        "192.0.2.0/24,2001:db8::5",
    ];
    let (serve, log) = serve(dir.path(), "30320-30339", &extra);
    assert!(
        log.contains("open rooms on: SIP is bound to loopback"),
        "{log}"
    );
    assert!(
        log.contains("advertising 198.51.100.7 (--public-addr)"),
        "{log}"
    );
    assert!(log.contains("per_second=7"), "{log}");
    assert!(
        log.contains("192.0.2.0/24") && log.contains("2001:db8::5/128"),
        "{log}"
    );
    let phone = Phone::bind(serve.sip_udp).await.unwrap();
    let mut call = phone.call("standup", Codec::Pcmu).await.unwrap();
    assert!(
        call.remote_target().contains("198.51.100.7"),
        "{}",
        call.remote_target()
    );
    assert_eq!(
        call.remote_rtp().ip(),
        "198.51.100.7".parse::<IpAddr>().unwrap()
    );
    call.hang_up().await.unwrap();
    drop(phone);
    assert!(serve.stop());
}

/// `--log-format json`: every line of the log is one JSON object with the
/// level, the target and the message (fields beside it), for log shippers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, log) = serve(dir.path(), "30340-30359", &["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(!lines.is_empty(), "nothing was logged");
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["target"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let opened = lines
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("open rooms on"))
        })
        .unwrap_or_else(|| panic!("no open-rooms line:\n{log}"));
    assert_eq!(opened["level"], "INFO", "{opened}");
    assert!(serve.stop());
}

/// Each of the running server's threads: its name and nice value (Linux
/// `/proc/PID/task/*/stat`, field 19).
fn threads(pid: u32) -> Vec<(String, i64)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap();
        // The name is in parentheses and may hold spaces: count after it.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i64 = after.split(' ').nth(16).unwrap().parse().unwrap();
        let name = std::fs::read_to_string(path.join("comm")).unwrap();
        threads.push((name.trim().to_owned(), nice));
    }
    threads
}

#[test]
fn the_runtime_yields_to_the_mix_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, _) = serve(dir.path(), "30950-30959", &["--mix-threads", "2"]);
    let threads = threads(serve.pid());
    let nice_of = |prefix: &str| -> Vec<i64> {
        threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, nice)| *nice)
            .collect()
    };
    assert_eq!(nice_of("confab-mix-"), [0, 0], "{threads:?}");
    let workers = nice_of("tokio-rt-worker");
    assert!(!workers.is_empty(), "{threads:?}");
    assert!(workers.iter().all(|&n| n == 10), "{threads:?}");
}
