//! `GET /metrics` end to end: a real server serving HTTP on 127.0.0.1, a
//! testkit phone calling it over SIP/UDP and sending RTP, and scrapes over
//! real HTTP. Every wait polls with a deadline; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::rig::{Started, insert_number};
use media::rtp::RtpHeader;
use media::{RtpTimestamp, SeqNo, Ssrc};
use model::HttpMethod;
use server::{CallConfig, Config};
use testkit::{Codec, Phone};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(10);
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A server serving HTTP (and SIP, if asked) until dropped or stopped.
struct Rig {
    _dir: tempfile::TempDir,
    store: store::Store,
    account: model::Account,
    sip: Option<SocketAddr>,
    http: SocketAddr,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
}

impl Rig {
    async fn new(rtp_ports: Option<(u16, u16)>) -> Self {
        let mut started = Started::new(Config::default().room_capacity).await;
        let sip = match rtp_ports {
            Some(ports) => Some(
                started
                    .listen_sip(CallConfig::new("127.0.0.1:0".parse().unwrap(), ports))
                    .await,
            ),
            None => None,
        };
        let Started {
            dir,
            store,
            account,
            server,
        } = started;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let served = tokio::spawn(server.serve(listener, async {
            let _ = stop.await;
        }));
        Self {
            _dir: dir,
            store,
            account,
            sip,
            http,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            served: Some(served),
        }
    }

    /// One scrape, checked for status, content type and syntax.
    async fn scrape(&self) -> Scrape {
        let response = self
            .client
            .get(format!("http://{}/metrics", self.http))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            CONTENT_TYPE
        );
        let text = response.text().await.unwrap();
        check_exposition(&text);
        Scrape(text)
    }

    /// Scrapes until `ready` holds for one scrape, and returns that scrape.
    async fn scrape_until(&self, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let scrape = self.scrape().await;
            if ready(&scrape) {
                return scrape;
            }
            assert!(
                Instant::now() < deadline,
                "never {what}; last scrape:\n{}",
                scrape.0
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
    }
}

/// The text of one scrape.
struct Scrape(String);

impl Scrape {
    /// The value of the series written exactly `series` (name and labels).
    fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.0))
            .parse()
            .unwrap()
    }
}

/// Checks the Prometheus text format (0.0.4) line by line: `# HELP name
/// text` and `# TYPE name type` for each family, before its samples; every
/// other line `name{label="value",...} value`, its name one of a typed
/// family's.
fn check_exposition(text: &str) {
    assert!(text.ends_with('\n'), "no final newline");
    let mut typed: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (keyword, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("bad comment: {line}"));
            assert!(is_metric_name(name), "bad name: {line}");
            match (keyword, rest) {
                (Some("HELP"), Some(help)) => assert!(!help.is_empty(), "{line}"),
                (Some("TYPE"), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line}"
                    );
                    typed.push((name.to_owned(), kind.to_owned()));
                }
                _ => panic!("bad comment: {line}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value: {line}"
        );
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (
                name,
                Some(
                    labels
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels: {line}")),
                ),
            ),
            None => (series, None),
        };
        assert!(is_metric_name(name), "bad name: {line}");
        if let Some(labels) = labels {
            check_labels(labels, line);
        }
        let typed_family = typed.iter().any(|(family, kind)| {
            name == family
                || (kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name.strip_suffix(suffix) == Some(family)))
        });
        assert!(typed_family, "a sample of no typed family: {line}");
        assert!(name.starts_with("confab_"), "{line}");
    }
    assert!(!typed.is_empty(), "no metrics at all");
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k="v"` with no escapes (confab's label values need none).
fn check_labels(labels: &str, line: &str) {
    for pair in labels.split(',') {
        let (key, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("bad label: {line}"));
        assert!(
            is_metric_name(key) && !key.contains(':'),
            "bad label name: {line}"
        );
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("unquoted label value: {line}"));
        assert!(!inner.contains(['"', '\\', '\n']), "{line}");
    }
}

/// One RTP packet of PCMU silence.
fn pcmu_packet(seq: u16) -> Vec<u8> {
    let mut packet = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: 0,
        seq: SeqNo(seq),
        timestamp: RtpTimestamp(u32::from(seq) * 160),
        ssrc: Ssrc(0x0bad_cafe),
    }
    .write(&mut packet);
    packet.extend_from_slice(&[0xff; 160]);
    packet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_in_a_room_show_in_the_metrics_and_leave_them_at_rest() {
    let rig = Rig::new(Some((43000, 43099))).await;
    let before = rig.scrape().await;
    for series in [
        "confab_calls_active",
        "confab_calls_total",
        r#"confab_rooms{status="in-progress"}"#,
        "confab_participants",
        "confab_rtp_packets_received_total",
    ] {
        assert_eq!(before.value(series), 0.0, "{series}");
    }

    // The first caller waits in the room (init: it starts with two).
    let alice = Phone::bind(rig.sip.unwrap()).await.unwrap();
    let mut a = alice.call("metrics", Codec::Pcmu).await.unwrap();
    a.send_tone(440);
    let waiting = rig
        .scrape_until("a call in a room with media flowing", |s| {
            s.value("confab_calls_active") == 1.0
                && s.value("confab_participants") == 1.0
                && s.value("confab_rtp_packets_received_total") > 0.0
                && s.value("confab_mix_tick_seconds_count") > 0.0
        })
        .await;
    assert_eq!(waiting.value("confab_calls_total"), 1.0);
    assert_eq!(waiting.value(r#"confab_rooms{status="init"}"#), 1.0);
    assert_eq!(waiting.value(r#"confab_rooms{status="in-progress"}"#), 0.0);

    // The second one starts it.
    let bob = Phone::bind(rig.sip.unwrap()).await.unwrap();
    let mut b = bob.call("metrics", Codec::Pcma).await.unwrap();
    b.send_tone(700);
    let during = rig
        .scrape_until("the room in progress", |s| {
            s.value(r#"confab_rooms{status="in-progress"}"#) == 1.0
                && s.value("confab_participants") == 2.0
                && s.value("confab_calls_active") == 2.0
        })
        .await;
    assert_eq!(during.value("confab_calls_total"), 2.0);
    assert_eq!(during.value(r#"confab_rooms{status="init"}"#), 0.0);
    assert!(during.value("confab_rtp_packets_sent_total") > 0.0);
    assert_eq!(during.value("confab_rtp_packets_foreign_total"), 0.0);

    // Alice's leg latched on her RTP address (her packets were accepted):
    // a stranger's packets to the same port are dropped and counted.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for seq in 0..5 {
        stranger
            .send_to(&pcmu_packet(seq), a.remote_rtp())
            .await
            .unwrap();
    }
    rig.scrape_until("the stranger's packets counted", |s| {
        s.value("confab_rtp_packets_foreign_total") == 5.0
    })
    .await;

    a.hang_up().await.unwrap();
    b.hang_up().await.unwrap();
    let after = rig
        .scrape_until("the calls over and their room completed", |s| {
            s.value("confab_calls_active") == 0.0 && s.value("confab_rooms_completed_total") == 1.0
        })
        .await;
    assert_eq!(after.value("confab_calls_total"), 2.0);
    assert_eq!(after.value("confab_calls_failed_total"), 0.0);
    assert_eq!(after.value("confab_participants"), 0.0);
    assert_eq!(after.value(r#"confab_rooms{status="in-progress"}"#), 0.0);
    assert_eq!(after.value(r#"confab_rooms{status="init"}"#), 0.0);
    // No account sid, room name or SIP URI anywhere.
    for private in [rig.account.sid.as_str(), "\"metrics\"", "sip:"] {
        assert!(!after.0.contains(private), "{private} in\n{}", after.0);
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_voice_url_counts_a_failed_call_and_a_failed_webhook() {
    let rig = Rig::new(Some((43100, 43199))).await;
    // A port nobody listens on: the webhook is refused at once.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/voice", closed.local_addr().unwrap());
    drop(closed);
    insert_number(&rig.store, &rig.account, "5550600", &url, HttpMethod::Post).await;

    let phone = Phone::bind(rig.sip.unwrap()).await.unwrap();
    let mut call = phone.call("5550600", Codec::Pcmu).await.unwrap();
    // The error tone, then the server hangs up.
    call.wait_for_bye(DEADLINE).await.unwrap();
    let after = rig
        .scrape_until("the failed call counted", |s| {
            s.value("confab_calls_failed_total") == 1.0 && s.value("confab_calls_active") == 0.0
        })
        .await;
    assert_eq!(after.value("confab_calls_total"), 1.0);
    assert!(after.value("confab_webhook_seconds_count") >= 1.0);
    assert!(after.value("confab_webhook_failures_total") >= 1.0);
    assert_eq!(after.value("confab_participants"), 0.0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_sip_serves_metrics_at_zero_without_credentials() {
    let rig = Rig::new(None).await;
    let scrape = rig.scrape().await;
    assert_eq!(scrape.value("confab_calls_active"), 0.0);
    assert_eq!(scrape.value("confab_calls_total"), 0.0);
    assert_eq!(scrape.value(r#"confab_rooms{status="init"}"#), 0.0);
    assert_eq!(scrape.value("confab_mix_tick_seconds_count"), 0.0);
    assert!(scrape.0.contains("# HELP confab_calls_active "));
    // The API itself still wants credentials.
    let response = rig
        .client
        .get(format!(
            "http://{}/2008-08-01/Accounts/{}/Conferences",
            rig.http, rig.account.sid
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    rig.stop().await;
}
