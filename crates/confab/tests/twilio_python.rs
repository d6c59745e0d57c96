//! The current twilio-python (pinned in `tests/twilio/requirements.txt`),
//! unmodified, against the real `confab serve`: two SIP callers in a room,
//! then `tests/twilio/drive.py` lists, fetches, pages, mutes and kicks
//! through the library, with only the API host rewritten by its own
//! HTTP-client hook. Before that, the library mutes, unmutes, holds and
//! unholds one step at a time (`drive.py STEP CALL_SID`), and the callers'
//! audio is checked after each step: a mute and a hold are heard, not only
//! read back.
//! `tests/twilio/callbacks.py` is a conference app's web side: its voice
//! URL's TwiML asks for status callbacks, and the library's
//! `RequestValidator` checks each one's signature.
//! Calls too, one `drive.py` step at a time, each checked on a testkit
//! callee's SIP and audio: placed with TwiML, redirected into a room,
//! hung up, and another cancelled while it rings; `callbacks.py calls`
//! validates their StatusCallbacks (`initiated ringing answered
//! completed`) with `RequestValidator`.
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
use media::goertzel::rms;
use testkit::{Callee, Codec, HEAR_WINDOW, Phone, PhoneCall, tone_present};

const ROOM: &str = "twilio-python";
/// What alice and bob send.
const ALICE_HZ: u32 = 440;
const BOB_HZ: u32 = 1000;
/// How long a caller may take to hear a change in the room.
const HEAR: Duration = Duration::from_secs(10);
/// How long a state is checked to hold, once reached.
const STRETCH: Duration = Duration::from_millis(600);
/// The RMS above which a held caller hears something (confab's hold
/// music); the room's silence is 0.
const MUSIC_RMS: f64 = 300.0;

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
    // The tests of this file run on parallel threads: one installs while
    // the others wait for its stamp (two `python3 -m venv` or `npm ci` on one
    // directory at once fail).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
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
    let mut alice = Phone::bind(server).await.unwrap();
    alice.set_caller("alice");
    let mut bob = Phone::bind(server).await.unwrap();
    bob.set_caller("bob");
    let mut alice_call = alice.call(ROOM, Codec::Pcmu).await.unwrap();
    let mut bob_call = bob.call(ROOM, Codec::Pcmu).await.unwrap();

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

    mute_and_hold_on_the_audio(&venv, &serve, &mut alice_call, &mut bob_call).await;

    let stdout = drive(&venv, &serve, &[]);
    assert!(
        stdout.contains("twilio-python: all checks passed"),
        "{stdout}"
    );
}

/// Runs `drive.py` with `args` (a step and its arguments; none: the
/// checks) against `serve`; its stdout, once it succeeded.
fn drive(venv: &Path, serve: &Serve, args: &[&str]) -> String {
    let (sid, token) = serve.default_account();
    let out = Command::new(venv.join("bin/python"))
        .arg(here().join("drive.py"))
        .args(args)
        .env("CONFAB_BASE", format!("http://{}", serve.addr))
        .env("CONFAB_ACCOUNT_SID", &sid)
        .env("CONFAB_AUTH_TOKEN", &token)
        .env("CONFAB_ROOM", ROOM)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.py {args:?} failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    stdout
}

/// The live call sid of the caller whose SIP From user is `from`.
fn call_sid_from(serve: &Serve, from: &str) -> String {
    let (sid, token) = serve.default_account();
    let path = format!("/2010-04-01/Accounts/{sid}/Calls.json?From={from}&Status=in-progress");
    let (status, body) = http(&serve.addr, "GET", &path, Some((&sid, &token)), "");
    assert_eq!(status, 200, "{body}");
    let sids: Vec<&str> = body
        .split("\"sid\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(sids.len(), 1, "one live call from {from}: {body}");
    sids[0].to_owned()
}

/// The library mutes, unmutes, holds and unholds; after each step the
/// callers' audio shows it. Alice sends [`ALICE_HZ`], bob [`BOB_HZ`].
async fn mute_and_hold_on_the_audio(
    venv: &Path,
    serve: &Serve,
    alice: &mut PhoneCall,
    bob: &mut PhoneCall,
) {
    let (alice_sid, bob_sid) = (call_sid_from(serve, "alice"), call_sid_from(serve, "bob"));
    alice.send_tone(ALICE_HZ);
    bob.send_tone(BOB_HZ);
    bob.wait_to_hear(ALICE_HZ, HEAR).await.unwrap();
    alice.wait_to_hear(BOB_HZ, HEAR).await.unwrap();

    // Muted alice is out of bob's mix; she still hears him.
    drive(venv, serve, &["mute", &alice_sid]);
    bob.wait_not_hearing(ALICE_HZ, HEAR).await.unwrap();
    assert!(alice.hears(BOB_HZ), "muted alice stopped hearing bob");
    let heard = bob.listen(STRETCH).await.unwrap();
    assert!(!tone_present(&heard, ALICE_HZ), "bob hears muted alice");
    drive(venv, serve, &["unmute", &alice_sid]);
    bob.wait_to_hear(ALICE_HZ, HEAR).await.unwrap();

    // Held bob hears music, not alice (nor himself); alice no longer hears him.
    let music = |heard: &[i16]| {
        rms(heard) > MUSIC_RMS && !tone_present(heard, ALICE_HZ) && !tone_present(heard, BOB_HZ)
    };
    drive(venv, serve, &["hold", &bob_sid]);
    alice.wait_not_hearing(BOB_HZ, HEAR).await.unwrap();
    let deadline = Instant::now() + HEAR;
    loop {
        let heard = bob.listen(HEAR_WINDOW).await.unwrap();
        if music(&heard) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "held bob never heard music without alice: rms {:.0}",
            rms(&heard)
        );
    }
    let heard = bob.listen(STRETCH).await.unwrap();
    for window in heard.chunks(HEAR_WINDOW.as_millis() as usize * 8) {
        assert!(
            music(window),
            "held bob: music stopped, or a caller came through: rms {:.0}",
            rms(window)
        );
    }
    let heard = alice.listen(STRETCH).await.unwrap();
    assert!(!tone_present(&heard, BOB_HZ), "alice hears held bob");
    drive(venv, serve, &["unhold", &bob_sid]);
    bob.wait_to_hear(ALICE_HZ, HEAR).await.unwrap();
    alice.wait_to_hear(BOB_HZ, HEAR).await.unwrap();
}

/// Status callbacks, checked by the app side of the library: `callbacks.py`
/// serves the voice URL (TwiML made by the library, `statusCallback` with
/// every event) and validates each callback with the library's own
/// `RequestValidator`; two callers join and hang up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_pythons_request_validator_accepts_the_status_callbacks() {
    const ROOM: &str = "twilio-python-callbacks";
    const NUMBER: &str = "5554000";
    let Some(venv) = venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let db = db_url(dir.path());
    let serve = Serve::start_with(&db, "53900-53999", Some(&log));
    let (sid, token) = serve.default_account();

    let app = CallbacksApp::start(&venv, &serve, &[], &[("CONFAB_ROOM", ROOM)]);
    let url = format!("{}/voice", app.base);
    let (ok, out, err) = common::confab(
        &db,
        &[
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            NUMBER,
            "--url",
            &url,
        ],
    );
    assert!(ok, "numbers add: {out}{err}");

    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let alice = Phone::bind(server).await.unwrap();
    let bob = Phone::bind(server).await.unwrap();
    let mut a = alice.call(NUMBER, Codec::Pcmu).await.unwrap();
    let mut b = bob.call(NUMBER, Codec::Pcmu).await.unwrap();
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
    b.hang_up().await.unwrap();
    a.hang_up().await.unwrap();

    // callbacks.py ends by itself once the end came, or after its deadline.
    app.finish(&serve, "twilio-python callbacks: all checks passed")
        .await;
}

/// `callbacks.py` running (`args` pick its mode), serving on `base`.
struct CallbacksApp {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    base: String,
}

impl CallbacksApp {
    /// Starts it with the account of `serve` and `envs`; waits until it
    /// says where it listens.
    fn start(venv: &Path, serve: &Serve, args: &[&str], envs: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        use std::process::Stdio;

        let (sid, token) = serve.default_account();
        let mut child = Command::new(venv.join("bin/python"))
            .arg(here().join("callbacks.py"))
            .args(args)
            .env("CONFAB_ACCOUNT_SID", &sid)
            .env("CONFAB_AUTH_TOKEN", &token)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let base = first
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("callbacks.py did not start: {first:?}"))
            .to_owned();
        Self {
            child,
            stdout,
            base,
        }
    }

    /// Waits for it to end by itself, and for its success saying `passed`.
    async fn finish(self, serve: &Serve, passed: &str) {
        let Self {
            mut child,
            mut stdout,
            ..
        } = self;
        let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
            let status = child.wait().unwrap();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            (status, rest, err)
        })
        .await
        .unwrap();
        assert!(
            status.success(),
            "callbacks.py failed\n{stdout}\n{stderr}\n{}",
            serve.log_tail()
        );
        assert!(stdout.contains(passed), "{stdout}");
    }
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

/// Runs one `drive.py` step off the async workers (the callees answer
/// meanwhile): its stdout once it succeeded, and the `SID` it printed.
async fn drive_step(venv: &Path, serve: &Serve, args: &[&str]) -> (String, Option<String>) {
    let (venv, addr) = (venv.to_owned(), serve.addr.clone());
    let (sid, token) = serve.default_account();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let shown = args.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(venv.join("bin/python"))
            .arg(here().join("drive.py"))
            .args(&args)
            .env("CONFAB_BASE", format!("http://{addr}"))
            .env("CONFAB_ACCOUNT_SID", &sid)
            .env("CONFAB_AUTH_TOKEN", &token)
            .env("CONFAB_ROOM", ROOM)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("passed"),
        "drive.py {shown:?} failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    let sid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SID "))
        .map(str::to_owned);
    (stdout, sid)
}

/// Calls through the library, each checked on the callee's SIP and audio:
/// `calls.create` with TwiML (a pause) to erin, who rings, answers and
/// hears nothing of alice's room; `update(twiml=…)` puts her in it (she
/// hears alice, alice hears her); `update(status="completed")` is her BYE.
/// `calls.create` with a URL to frank, who rings, and
/// `update(status="canceled")` is his CANCEL. `callbacks.py calls`
/// validates every call StatusCallback with `RequestValidator`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_python_places_redirects_hangs_up_and_cancels_calls() {
    const CALL_ROOM: &str = "twilio-python-calls";
    const ERIN_HZ: u32 = 900;
    let Some(venv) = venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let serve = Serve::start_with(&db_url(dir.path()), "58200-58299", Some(&log));
    let app = CallbacksApp::start(
        &venv,
        &serve,
        &["calls"],
        &[
            ("CONFAB_CALLS_ENDING", "2"),
            (
                "CONFAB_CALL_SEQUENCES",
                "initiated,ringing,in-progress,completed;initiated,ringing,canceled",
            ),
        ],
    );
    let events = format!("{}/call-events", app.base);
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let alice = Phone::bind(server).await.unwrap();
    let a = alice.call(CALL_ROOM, Codec::Pcmu).await.unwrap();
    a.send_tone(ALICE_HZ);

    // calls.create with TwiML: erin rings, answers, and hears a pause…
    let erin = Callee::bind(server).await.unwrap();
    let pause = "twiml:<Response><Pause length=\"60\"/></Response>";
    let (_, sid) = drive_step(
        &venv,
        &serve,
        &["create-call", &erin.uri("erin"), pause, &events],
    )
    .await;
    let erin_sid = sid.expect("create-call prints the call's sid");
    let invite = erin.next_invite(HEAR).await.unwrap();
    erin.ring(&invite).await.unwrap();
    let mut erin_call = erin.answer(&invite).await.unwrap();
    erin_call.send_tone(ERIN_HZ);
    let heard = erin_call.listen(STRETCH).await.unwrap();
    assert!(
        !tone_present(&heard, ALICE_HZ),
        "erin hears the room before the redirect"
    );
    // …until the library redirects her call into alice's room.
    let into_room =
        format!("<Response><Dial><Conference>{CALL_ROOM}</Conference></Dial></Response>");
    drive_step(&venv, &serve, &["redirect", &erin_sid, &into_room]).await;
    erin_call.wait_to_hear(ALICE_HZ, HEAR).await.unwrap();
    a.wait_to_hear(ERIN_HZ, HEAR).await.unwrap();
    // Status=completed hangs her up: a BYE.
    drive_step(&venv, &serve, &["hang-up", &erin_sid]).await;
    erin_call.wait_for_bye(HEAR).await.unwrap();

    // calls.create with a URL: frank rings, and the library cancels it.
    let frank = Callee::bind(server).await.unwrap();
    let url = format!("url:{}/voice", app.base);
    let (_, sid) = drive_step(
        &venv,
        &serve,
        &["create-call", &frank.uri("frank"), &url, &events],
    )
    .await;
    let frank_sid = sid.expect("create-call prints the call's sid");
    let invite = frank.next_invite(HEAR).await.unwrap();
    frank.ring(&invite).await.unwrap();
    let cancelling =
        tokio::spawn(async move { frank.wait_for_cancel(&invite, HEAR).await.map(|()| frank) });
    drive_step(&venv, &serve, &["cancel", &frank_sid]).await;
    let _frank = cancelling
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("frank's CANCEL: {e}\n{}", serve.log_tail()));

    app.finish(&serve, "twilio-python call callbacks: all checks passed")
        .await;
}
