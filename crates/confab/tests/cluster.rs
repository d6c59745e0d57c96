#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two `confab serve` nodes on one PostgreSQL behind Kamailio, configured
//! as docs/scaling.md says (`docs/scaling/kamailio.cfg`), all on loopback:
//! callers entering through either node meet in one room, the API of
//! either node mutes and kicks in it, and when the room's node is killed
//! (SIGKILL) the other ends its conference and calls and serves on. A node
//! paused past its lease (SIGSTOP) hangs up, once it runs again, the calls
//! the other node ended meanwhile, and their records stay as that node
//! wrote them.
//!
//! Needs PostgreSQL (`CONFAB_TEST_POSTGRES_URL`, as the store tests) and
//! Kamailio; without them it skips, unless `CONFAB_REQUIRE_POSTGRES=1` or
//! `CONFAB_REQUIRE_PEERS=1` (`scripts/test`) make that a failure.

mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Serve, confab, elements, http, value, voice_app};
use media::Codec;
use testkit::Phone;
use testkit::peers::{free_ports, peer_available};

/// How long anything the test waits for may take.
const WAIT: Duration = Duration::from_secs(30);
/// Two numbers whose callers Kamailio's hash (dispatcher algorithm 7 on the
/// Request-URI user, nodes in the order A, B) sends to different nodes;
/// both numbers' voice URL puts the caller in one room.
const NUMBER_1: &str = "alpha";
const NUMBER_2: &str = "charlie";
const ROOM: &str = "standup";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_through_either_node_meet_in_one_room_which_ends_when_its_node_dies() {
    let Some(db) = fresh_postgres_database() else {
        return;
    };
    if !peer_available("kamailio", "kamailio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b, sid, token) = two_nodes(
        &db,
        dir.path(),
        ["55700-55749", "55750-55799"],
        &[NUMBER_1, NUMBER_2],
    );
    let proxy = Kamailio::start(dir.path(), &[a.sip_udp, b.sip_udp]);
    let api_a = Api::new(&a.addr, &sid, &token);
    let api_b = Api::new(&b.addr, &sid, &token);

    // One caller per number: one lands on each node, and the one whose
    // node does not run the room is sent to the node that does.
    let phone_1 = Phone::bind(proxy.addr).await.unwrap();
    let first = phone_1.call(NUMBER_1, Codec::Pcmu).await.unwrap();
    let (conference, _) = api_a.wait_for_participants(1, &[&proxy, &a, &b]).await;
    let phone_2 = Phone::bind(proxy.addr).await.unwrap();
    let second = phone_2.call(NUMBER_2, Codec::Pcmu).await.unwrap();
    let (again, calls) = api_b.wait_for_participants(2, &[&proxy, &a, &b]).await;
    assert_eq!(again, conference, "one room for both callers");
    let logs = format!("{}\n{}", a.log_tail(), b.log_tail());
    assert!(
        logs.contains("the call's room runs on another node: 302"),
        "no caller was redirected: the numbers did not reach different nodes\n{logs}"
    );
    // Ringback while a node asked the voice URL, before it answered.
    assert!(
        first.provisional().contains(&180),
        "{:?}",
        first.provisional()
    );
    // Both answered by the room's node (the Contact of their 200).
    let room_node = first.remote_target().to_owned();
    assert_eq!(second.remote_target(), room_node);
    let (owner, other) = if room_node.contains(&format!(":{}", a.sip_udp.port())) {
        (a, b)
    } else {
        (b, a)
    };
    let (api_owner, api_other) = if owner.addr == api_a.addr {
        (api_a, api_b)
    } else {
        (api_b, api_a)
    };

    // They hear each other.
    first.send_tone(700);
    second.send_tone(1300);
    second.wait_to_hear(700, WAIT).await.unwrap();
    first.wait_to_hear(1300, WAIT).await.unwrap();

    // Muted through the node that does not run the room: the answer comes
    // after the mute took effect there, and the caller falls silent.
    // Participants list in join order (the 2008 contract): the first
    // caller joined first.
    let call_1 = &calls[0];
    let participant = format!("/Conferences/{conference}/Participants/{call_1}");
    let (status, body) = api_other.post(&participant, "Muted=true");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Muted>true</Muted>"), "{body}");
    second.wait_not_hearing(700, WAIT).await.unwrap();
    // And back, through the room's own node.
    let (status, body) = api_owner.post(&participant, "Muted=false");
    assert_eq!(status, 200, "{body}");
    second.wait_to_hear(700, WAIT).await.unwrap();
    // An unknown participant is 404 from either node.
    let missing = format!(
        "/Conferences/{conference}/Participants/CA{}",
        "0".repeat(32)
    );
    assert_eq!(api_other.post(&missing, "Muted=true").0, 404);
    // A third caller, hung up through the other node's 2010-04-01 Calls
    // API: the node that has the call sends the BYE.
    let phone_x = Phone::bind(proxy.addr).await.unwrap();
    let mut extra = phone_x.call(NUMBER_2, Codec::Pcmu).await.unwrap();
    let (_, three) = api_other
        .wait_for_participants(3, &[&proxy, &owner, &other])
        .await;
    let (status, body) =
        api_other.post_2010(&format!("/Calls/{}.json", three[2]), "Status=completed");
    assert_eq!(status, 200, "{body}");
    extra.wait_for_bye(WAIT).await.unwrap();
    api_other
        .wait_for_participants(2, &[&proxy, &owner, &other])
        .await;

    // The room's node dies (SIGKILL): no BYE goes anywhere. The other node
    // finds its lease run out and ends its conference and calls.
    drop(owner);
    api_other
        .wait_until_ended(&conference, &calls, &[&other])
        .await;

    // The other node serves on: new callers on either number (Kamailio
    // fails over from the dead node) meet in a new room of that name.
    let phone_3 = Phone::bind(proxy.addr).await.unwrap();
    let third = phone_3.call(NUMBER_1, Codec::Pcmu).await.unwrap();
    let phone_4 = Phone::bind(proxy.addr).await.unwrap();
    let fourth = phone_4.call(NUMBER_2, Codec::Pcmu).await.unwrap();
    let (fresh, _) = api_other.wait_for_participants(2, &[&proxy, &other]).await;
    assert_ne!(fresh, conference, "a new conference");
    third.send_tone(900);
    fourth.wait_to_hear(900, WAIT).await.unwrap();
    // Kicked through the surviving node: the caller is hung up.
    let calls = api_other.participants(&fresh);
    for call in &calls {
        let path = format!("/Conferences/{fresh}/Participants/{call}");
        let (status, body) = api_other.delete(&path);
        assert_eq!(status, 204, "{body}");
    }
    let (mut third, mut fourth) = (third, fourth);
    third.wait_for_bye(WAIT).await.unwrap();
    fourth.wait_for_bye(WAIT).await.unwrap();
    drop((first, second));
    assert!(other.stop(), "the surviving node did not stop cleanly");
}

/// A node paused longer than its lease (SIGSTOP) is found dead by the
/// other, which completes its conference and calls in the store. When it
/// runs again it finds its lease taken and hangs up the calls it still
/// carried, so that no caller talks on in a conference the API says ended;
/// then it serves on under a new lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_paused_past_its_lease_hangs_up_the_calls_another_node_ended() {
    let Some(db) = fresh_postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, sid, token) =
        two_nodes(&db, dir.path(), ["55900-55949", "55950-55999"], &[NUMBER_1]);
    let api_a = Api::new(&a.addr, &sid, &token);
    let api_b = Api::new(&b.addr, &sid, &token);

    // A caller straight to node A, in a room there.
    let phone = Phone::bind(a.sip_udp).await.unwrap();
    let mut first = phone.call(NUMBER_1, Codec::Pcmu).await.unwrap();
    let (conference, calls) = api_a.wait_for_participants(1, &[&a, &b]).await;

    // A stops (as a process stopped by a debugger, or a VM paused), past
    // its lease: B completes its conference and its call.
    let signal = |sig: &str| {
        let status = Command::new("kill")
            .args([sig, &a.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    api_b.wait_until_ended(&conference, &calls, &[&b]).await;
    let (_, ended) = api_b.get(&format!("/Calls/{}", calls[0]));

    // A runs again: it finds its lease taken and hangs up its caller.
    signal("-CONT");
    first.wait_for_bye(WAIT).await.unwrap();
    assert!(
        a.log_tail().contains("hanging up every call here"),
        "{}",
        a.log_tail()
    );
    // The record stays as B wrote it: completed.
    let (_, body) = api_a.get(&format!("/Conferences/{conference}"));
    assert!(body.contains("<Status>2</Status>"), "{body}");
    // So does the call's, end time and all: a call's first end is its
    // last, and A's late hang-up finds it ended (and says so).
    let deadline = Instant::now() + WAIT;
    while !a.log_contains("no live record to end") {
        assert!(
            Instant::now() < deadline,
            "node A never recorded its hang-up: {}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, after) = api_a.get(&format!("/Calls/{}", calls[0]));
    assert_eq!(after, ended);

    // A serves on under a new lease: a new caller gets a new room there,
    // which B's API reaches (B asks A, so the room is A's).
    let phone_2 = Phone::bind(a.sip_udp).await.unwrap();
    let mut second = phone_2.call(NUMBER_1, Codec::Pcmu).await.unwrap();
    let (fresh, calls) = api_a.wait_for_participants(1, &[&a, &b]).await;
    assert_ne!(fresh, conference, "a new conference");
    let path = format!("/Conferences/{fresh}/Participants/{}", calls[0]);
    let (status, body) = api_b.delete(&path);
    assert_eq!(status, 204, "{body}");
    second.wait_for_bye(WAIT).await.unwrap();
    assert!(a.stop(), "node A did not stop cleanly");
    assert!(b.stop(), "node B did not stop cleanly");
}

/// Two nodes (`--node-lease 3`, RTP on `rtp`) on `db`, their logs in `dir`,
/// and `numbers` whose voice URL puts every caller in [`ROOM`]. Node A
/// starts first and makes the default account: its sid and token.
fn two_nodes(
    db: &str,
    dir: &Path,
    rtp: [&str; 2],
    numbers: &[&str],
) -> (Serve, Serve, String, String) {
    let voice =
        voice_app(|_| format!("<Response><Dial><Conference>{ROOM}</Conference></Dial></Response>"));
    let node = |id: &str, rtp: &str| {
        Serve::start_as_deployed(
            db,
            rtp,
            &dir.join(format!("{id}.log")),
            &["--node-id", id, "--node-lease", "3"],
        )
    };
    let a = node("a", rtp[0]);
    let b = node("b", rtp[1]);
    let (sid, token) = a.default_account();
    let url = format!("http://{voice}/room");
    for number in numbers {
        let args = [
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            number,
            "--url",
            &url,
        ];
        let (ok, out, err) = confab(db, &args);
        assert!(ok, "{err}");
        value(&out, "PhoneNumberSid");
    }
    (a, b, sid, token)
}

// ---------------------------------------------------------------------------
// PostgreSQL and Kamailio.

/// A fresh database on the test server, or `None` (skipped) without one.
fn fresh_postgres_database() -> Option<String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let server = match std::env::var("CONFAB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("CONFAB_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "CONFAB_REQUIRE_POSTGRES=1 but CONFAB_TEST_POSTGRES_URL is not set"
            );
            eprintln!("skipping: set CONFAB_TEST_POSTGRES_URL (scripts/start-test-postgres)");
            return None;
        }
    };
    let name = format!(
        "confab_cluster_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let status = Command::new("psql")
        .args([&server, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .unwrap();
    assert!(status.success(), "psql could not create {name}");
    let (base, _) = server.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// Kamailio with docs/scaling/kamailio.cfg in front of `nodes`.
struct Kamailio {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Kamailio {
    fn start(dir: &Path, nodes: &[SocketAddr]) -> Self {
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scaling/kamailio.cfg");
        let list = dir.join("dispatcher.list");
        let lines: Vec<String> = nodes.iter().map(|n| format!("1 sip:{n} 0 0")).collect();
        std::fs::write(&list, lines.join("\n") + "\n").unwrap();
        let run = dir.join("kamailio");
        std::fs::create_dir(&run).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_ports(2)).parse().unwrap();
        let log = dir.join("kamailio.log");
        // Its own process group: Kamailio forks workers, which outlive a
        // main process killed alone.
        let child = Command::new("kamailio")
            .process_group(0)
            .args(["-DD", "-E", "-f"])
            .arg(&cfg)
            .arg("-Y")
            .arg(&run)
            .arg("-A")
            .arg(format!("LISTEN_ADDR=udp:{addr}"))
            .arg("-A")
            .arg(format!("DS_LIST=\"{}\"", list.display()))
            .arg("-A")
            .arg("WORKERS=2")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let proxy = Self { child, addr, log };
        let deadline = Instant::now() + WAIT;
        while !proxy.log().contains("confab-proxy ready") {
            assert!(
                Instant::now() < deadline,
                "kamailio never got ready\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// What has a log to show when the test fails.
trait Logged {
    fn tail(&self) -> String;
}

impl Logged for Kamailio {
    fn tail(&self) -> String {
        self.log()
    }
}

impl Logged for Serve {
    fn tail(&self) -> String {
        self.log_tail()
    }
}

// ---------------------------------------------------------------------------
// The 2008 API of one node.

struct Api {
    addr: String,
    sid: String,
    token: String,
}

impl Api {
    fn new(addr: &str, sid: &str, token: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            sid: sid.to_owned(),
            token: token.to_owned(),
        }
    }

    /// Polls until the live conference of [`ROOM`] has `n` participants;
    /// its sid and their CallSids.
    async fn wait_for_participants(&self, n: usize, logs: &[&dyn Logged]) -> (String, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            let (status, body) = self.get(&format!("/Conferences?FriendlyName={ROOM}"));
            assert_eq!(status, 200, "{body}");
            // The live one (init, or in progress once two are in it).
            let live = body
                .split("<Conference>")
                .skip(1)
                .find(|c| !c.contains("<Status>2</Status>"))
                .and_then(|c| elements(c, "Sid").into_iter().next());
            if let Some(conference) = live {
                let calls = self.participants(&conference);
                if calls.len() == n {
                    return (conference, calls);
                }
                last = format!("{calls:?}");
            }
            assert!(
                Instant::now() < deadline,
                "never {n} participants in {ROOM} (last: {last})\n{}",
                logs.iter().map(|l| l.tail()).collect::<Vec<_>>().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until `conference` and `calls` are completed, as another node
    /// finds them when their node's lease ran out; then the conference has
    /// no participants left.
    async fn wait_until_ended(&self, conference: &str, calls: &[String], logs: &[&dyn Logged]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = self.get(&format!("/Conferences/{conference}"));
            assert_eq!(status, 200, "{body}");
            let calls_done = calls.iter().all(|call| {
                let (_, body) = self.get(&format!("/Calls/{call}"));
                body.contains("<Status>2</Status>")
            });
            if body.contains("<Status>2</Status>") && calls_done {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the conference and calls never ended: {body}\n{}",
                logs.iter().map(|l| l.tail()).collect::<Vec<_>>().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(self.participants(conference).is_empty());
    }

    fn participants(&self, conference: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/Conferences/{conference}/Participants"));
        assert_eq!(status, 200, "{body}");
        elements(&body, "CallSid")
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "")
    }

    fn post(&self, path: &str, form: &str) -> (u16, String) {
        self.request("POST", path, form)
    }

    fn post_2010(&self, path: &str, form: &str) -> (u16, String) {
        let path = format!("/2010-04-01/Accounts/{}{path}", self.sid);
        http(
            &self.addr,
            "POST",
            &path,
            Some((&self.sid, &self.token)),
            form,
        )
    }

    fn delete(&self, path: &str) -> (u16, String) {
        self.request("DELETE", path, "")
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let path = format!("/2008-08-01/Accounts/{}{path}", self.sid);
        http(
            &self.addr,
            method,
            &path,
            Some((&self.sid, &self.token)),
            body,
        )
    }
}
