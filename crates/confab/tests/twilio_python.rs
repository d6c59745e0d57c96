//! The current twilio-python (pinned in `tests/twilio/requirements.txt`),
//! unmodified, against the real `confab serve`: two SIP callers in a room,
//! then `tests/twilio/drive.py` lists, fetches, pages, mutes and kicks
//! through the library, with only the API host rewritten by its own
//! HTTP-client hook.
//!
//! The library is installed into a venv under the target directory (once
//! per requirements file). Without `python3` the test says so loudly and
//! passes, except in CI (`CI` set), where it must run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Serve, db_url, http};
use testkit::{Callee, Codec, Phone};

const ROOM: &str = "twilio-python";

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twilio")
}

/// A venv with the pinned requirements, made once per requirements file;
/// `None` without python3 outside CI.
fn venv() -> Option<PathBuf> {
    if Command::new("python3").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is missing, and CI must run the twilio-python test"
        );
        eprintln!("!!! SKIPPED: python3 is not installed; the twilio-python test did not run !!!");
        return None;
    }
    let requirements = std::fs::read_to_string(here().join("requirements.txt")).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("twilio-venv");
    let stamp = dir.join("requirements.installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(requirements.as_str()) {
        return Some(dir);
    }
    let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
    ok(Command::new("python3").args(["-m", "venv"]).arg(&dir));
    ok(Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "-r"])
        .arg(here().join("requirements.txt")));
    std::fs::write(&stamp, requirements).unwrap();
    Some(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_python_runs_unmodified_against_confab() {
    let Some(venv) = venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let serve = Serve::start_with(&db_url(dir.path()), "54000-54099", Some(&log));
    let (sid, token) = serve.default_account();
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let alice = Phone::bind(server).await.unwrap();
    let bob = Phone::bind(server).await.unwrap();
    let _a = alice.call(ROOM, Codec::Pcmu).await.unwrap();
    let _b = bob.call(ROOM, Codec::Pcmu).await.unwrap();

    // Wait (with a deadline) until both are in: the room is in progress.
    let path = format!(
        "/2010-04-01/Accounts/{sid}/Conferences.json?FriendlyName={ROOM}&Status=in-progress"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http(&serve.addr, "GET", &path, Some((&sid, &token)), "");
        if status == 200 && body.contains(&format!("\"friendly_name\":\"{ROOM}\"")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the room never started: {body}\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = Command::new(venv.join("bin/python"))
        .arg(here().join("drive.py"))
        .env("CONFAB_BASE", format!("http://{}", serve.addr))
        .env("CONFAB_ACCOUNT_SID", &sid)
        .env("CONFAB_AUTH_TOKEN", &token)
        .env("CONFAB_ROOM", ROOM)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.py failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    assert!(
        stdout.contains("twilio-python: all checks passed"),
        "{stdout}"
    );
}

/// The library adds a participant by dialing out (`participants.create`
/// with a `sip:` To): a testkit callee answers, and hears the room's caller
/// (and is heard by it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_python_adds_a_participant_by_dialing_out() {
    const DIAL_ROOM: &str = "twilio-dial-out";
    let Some(venv) = venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let serve = Serve::start_with(&db_url(dir.path()), "54900-54999", Some(&log));
    let (sid, token) = serve.default_account();
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let alice = Phone::bind(server).await.unwrap();
    let a = alice.call(DIAL_ROOM, Codec::Pcmu).await.unwrap();
    a.send_tone(440);
    let callee = Callee::bind(server).await.unwrap();
    let uri = callee.uri("python");
    let answering = tokio::spawn(async move {
        let invite = callee.next_invite(Duration::from_secs(20)).await?;
        let call = callee.answer(&invite).await?;
        call.send_tone(700);
        call.wait_to_hear(440, Duration::from_secs(20)).await?;
        Ok::<_, testkit::Error>((callee, call))
    });
    let (base, room) = (format!("http://{}", serve.addr), DIAL_ROOM.to_owned());
    let python = venv.join("bin/python");
    let script = here().join("drive.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg("dial-out")
            .env("CONFAB_BASE", base)
            .env("CONFAB_ACCOUNT_SID", &sid)
            .env("CONFAB_AUTH_TOKEN", &token)
            .env("CONFAB_ROOM", room)
            .env("CONFAB_CALLEE_URI", uri)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.py dial-out failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    assert!(
        stdout.contains("twilio-python: dial-out checks passed"),
        "{stdout}"
    );
    let (_callee, _call) = answering
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the callee: {e}\n{}", serve.log_tail()));
    a.wait_to_hear(700, Duration::from_secs(20)).await.unwrap();
}
