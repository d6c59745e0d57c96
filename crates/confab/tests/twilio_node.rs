//! The current twilio-node (pinned in `tests/twilio/node/package.json` and
//! its lock file), unmodified, against the real `confab serve`: two
//! labelled SIP callers in a room and a third alone in another, then
//! `tests/twilio/node/drive.js` lists, filters, pages, fetches, mutes,
//! holds, kicks (by call sid and by label), reads calls, checks 404 and 401
//! errors and ends the room through the library, with only the API host
//! rewritten by its own HTTP-client hook (`httpClient`). The callers then
//! get their BYE: the kick and the end happened on SIP, not only in JSON.
//!
//! The library is installed with `npm ci` into a directory under the target
//! directory (once per lock file). Without node and npm the test says so
//! loudly and passes, except in CI (`CI` set), where it must run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Serve, confab, db_url, http, voice_app};
use testkit::{Codec, Phone};

const ROOM: &str = "twilio-node";
const OTHER_ROOM: &str = "twilio-node-other";
/// The numbers alice and bob call; their voice URL labels them.
const ALICE_NUMBER: &str = "5501";
const BOB_NUMBER: &str = "5502";
/// Joining, leaving, a BYE: generous, the machine is shared.
const WAIT: Duration = Duration::from_secs(20);

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twilio/node")
}

/// `node_modules` with the locked packages, installed once per lock file
/// (the directory holding it is returned); `None` without node or npm
/// outside CI.
fn node_modules() -> Option<PathBuf> {
    let missing = ["node", "npm"]
        .into_iter()
        .find(|tool| Command::new(tool).arg("--version").output().is_err());
    if let Some(tool) = missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing, and CI must run the twilio-node test"
        );
        eprintln!("!!! SKIPPED: {tool} is not installed; the twilio-node test did not run !!!");
        return None;
    }
    let lock = std::fs::read_to_string(here().join("package-lock.json")).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("twilio-node");
    let stamp = dir.join("lock.installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(lock.as_str()) {
        return Some(dir.join("node_modules"));
    }
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(here().join(file), dir.join(file)).unwrap();
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir);
    assert!(npm.status().unwrap().success(), "{npm:?}");
    std::fs::write(&stamp, lock).unwrap();
    Some(dir.join("node_modules"))
}

/// The TwiML for alice's and bob's numbers: the room, labelled by the path.
fn labelled(path: &str) -> String {
    let label = path.trim_start_matches('/');
    format!(
        "<Response><Dial><Conference participantLabel=\"{label}\">{ROOM}</Conference></Dial></Response>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_node_runs_unmodified_against_confab() {
    let Some(modules) = node_modules() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let log = dir.path().join("serve.log");
    let serve = Serve::start_with(&db, "55000-55099", Some(&log));
    let (sid, token) = serve.default_account();
    let app = voice_app(labelled);
    for (number, label) in [(ALICE_NUMBER, "alice"), (BOB_NUMBER, "bob")] {
        let url = format!("http://{app}/{label}");
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
        let (ok, _, err) = confab(&db, &args);
        assert!(ok, "{err}");
    }

    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let alice = Phone::bind(server).await.unwrap();
    let bob = Phone::bind(server).await.unwrap();
    let carol = Phone::bind(server).await.unwrap();
    let mut a = alice.call(ALICE_NUMBER, Codec::Pcmu).await.unwrap();
    let mut b = bob.call(BOB_NUMBER, Codec::Pcma).await.unwrap();
    let mut c = carol.call(OTHER_ROOM, Codec::Pcmu).await.unwrap();

    // Wait (with a deadline) until both are in the room.
    let path = format!(
        "/2010-04-01/Accounts/{sid}/Conferences.json?FriendlyName={ROOM}&Status=in-progress"
    );
    let deadline = Instant::now() + WAIT;
    let participants = loop {
        let (status, body) = http(&serve.addr, "GET", &path, Some((&sid, &token)), "");
        let conference = body
            .split("\"participants\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next());
        if status == 200
            && let Some(uri) = conference
        {
            let (_, list) = http(&serve.addr, "GET", uri, Some((&sid, &token)), "");
            if list.matches("\"call_sid\"").count() == 2 {
                break list;
            }
        }
        assert!(
            Instant::now() < deadline,
            "alice and bob never were both in the room: {body}\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        participants.contains("\"label\":\"alice\"") && participants.contains("\"label\":\"bob\""),
        "{participants}"
    );

    let out = Command::new("node")
        .arg(here().join("drive.js"))
        .env("NODE_PATH", &modules)
        .env("CONFAB_BASE", format!("http://{}", serve.addr))
        .env("CONFAB_ACCOUNT_SID", &sid)
        .env("CONFAB_AUTH_TOKEN", &token)
        .env("CONFAB_ROOM", ROOM)
        .env("CONFAB_OTHER_ROOM", OTHER_ROOM)
        .env("CONFAB_LABELS", "alice,bob")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.js failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    assert!(
        stdout.contains("twilio-node: all checks passed"),
        "{stdout}"
    );

    // The kick and the end were real: bob's and alice's <Dial> ended with
    // nothing after it, so each got a BYE; carol's room goes on.
    b.wait_for_bye(WAIT).await.unwrap();
    a.wait_for_bye(WAIT).await.unwrap();
    assert!(!c.bye_received());
    c.hang_up().await.unwrap();
}
