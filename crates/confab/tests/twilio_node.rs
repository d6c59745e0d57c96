//! The current twilio-node (pinned in `tests/twilio/node/package.json` and
//! its lock file), unmodified, against the real `confab serve`: two
//! labelled SIP callers in a room and a third alone in another, then
//! `tests/twilio/node/drive.js` lists, filters, pages, fetches, mutes,
//! holds, kicks (by call sid and by label), reads calls, checks 404 and 401
//! errors and ends the room through the library, with only the API host
//! rewritten by its own HTTP-client hook (`httpClient`). The callers then
//! get their BYE: the kick and the end happened on SIP, not only in JSON.
//! A second test drives calls one `drive.js` step at a time, each checked
//! on SIP and the audio of testkit callees: a participant added by dialing
//! out, a call placed, redirected, hung up, another cancelled while it
//! rings; `tests/twilio/node/callbacks.js` validates the conference and call
//! status callbacks with the library's `twilio.validateRequest`.
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
    // The tests of this file run on parallel threads: one installs while
    // the others wait for its stamp (two `python3 -m venv` or `npm ci` on one
    // directory at once fail).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// Runs one step of `drive.js` (`STEP ARGS...`) against `serve` off the
/// async workers (the callees answer meanwhile); its stdout, once it
/// succeeded, and the `SID` it printed, if any.
async fn node_step(modules: &Path, serve: &Serve, args: &[&str]) -> (String, Option<String>) {
    let (sid, token) = serve.default_account();
    let mut node = Command::new("node");
    node.arg(here().join("drive.js"))
        .args(args)
        .env("NODE_PATH", modules)
        .env("CONFAB_BASE", format!("http://{}", serve.addr))
        .env("CONFAB_ACCOUNT_SID", &sid)
        .env("CONFAB_AUTH_TOKEN", &token);
    let out = tokio::task::spawn_blocking(move || node.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.js {args:?} failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    assert!(stdout.contains("passed"), "{stdout}");
    let sid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SID "))
        .map(str::to_owned);
    (stdout, sid)
}

/// Calls through twilio-node, each checked where it lands: `callbacks.js`
/// (the app, in node) puts alice in a room with conference status
/// callbacks; the library adds dave by dialing out (he answers, hears alice
/// and is heard), places a call to erin running a pause, redirects it into
/// the room (she hears alice only then), hangs it up (her BYE), places a
/// call to frank that rings and cancels it (his CANCEL), and ends the room
/// (alice's and dave's BYE). `callbacks.js` validates every conference and
/// call status callback with the library's `twilio.validateRequest`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_node_dials_out_places_redirects_hangs_up_and_cancels_calls() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    use testkit::{Callee, tone_present};

    const CALL_ROOM: &str = "twilio-node-calls";
    const NUMBER: &str = "5558000";
    const ALICE_HZ: u32 = 440;
    const DAVE_HZ: u32 = 700;
    let Some(modules) = node_modules() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let log = dir.path().join("serve.log");
    let serve = Serve::start_with(&db, "58000-58199", Some(&log));
    let (sid, token) = serve.default_account();

    // The app: dave's and erin's calls end completed, frank's canceled.
    let mut app = Command::new("node")
        .arg(here().join("callbacks.js"))
        .env("NODE_PATH", &modules)
        .env("CONFAB_ACCOUNT_SID", &sid)
        .env("CONFAB_AUTH_TOKEN", &token)
        .env("CONFAB_ROOM", CALL_ROOM)
        .env("CONFAB_CALLS_ENDING", "3")
        .env(
            "CONFAB_CALL_SEQUENCES",
            "initiated,ringing,in-progress,completed;\
             initiated,in-progress,completed;\
             initiated,ringing,canceled",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut app_out = BufReader::new(app.stdout.take().unwrap());
    let mut first = String::new();
    app_out.read_line(&mut first).unwrap();
    let base = first
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("callbacks.js did not start: {first:?}"))
        .to_owned();
    let voice = format!("{base}/voice");
    let call_events = format!("{base}/call-events");
    let args = [
        "numbers",
        "add",
        "--account",
        &sid,
        "--number",
        NUMBER,
        "--url",
        &voice,
    ];
    let (ok, _, err) = confab(&db, &args);
    assert!(ok, "{err}");

    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let alice = Phone::bind(server).await.unwrap();
    let mut a = alice.call(NUMBER, Codec::Pcmu).await.unwrap();
    a.send_tone(ALICE_HZ);
    // Alone, alice waits in the room (`init`) until dave comes.
    let path =
        format!("/2010-04-01/Accounts/{sid}/Conferences.json?FriendlyName={CALL_ROOM}&Status=init");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = http(&serve.addr, "GET", &path, Some((&sid, &token)), "");
        if status == 200 && body.contains(&format!("\"friendly_name\":\"{CALL_ROOM}\"")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alice never was in the room: {body}\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // participants.create: dave rings, answers, hears alice and is heard.
    let dave = Callee::bind(server).await.unwrap();
    let dave_uri = dave.uri("dave");
    let answering = tokio::spawn(async move {
        let invite = dave.next_invite(WAIT).await?;
        dave.ring(&invite).await?;
        let call = dave.answer(&invite).await?;
        call.send_tone(DAVE_HZ);
        call.wait_to_hear(ALICE_HZ, WAIT).await?;
        Ok::<_, testkit::Error>((dave, call))
    });
    let (_, dave_sid) = node_step(
        &modules,
        &serve,
        &[
            "add-participant",
            CALL_ROOM,
            &dave_uri,
            "dave",
            &call_events,
        ],
    )
    .await;
    let dave_sid = dave_sid.expect("add-participant prints the call's sid");
    let (_dave, mut dave_call) = answering
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("dave: {e}\n{}", serve.log_tail()));
    a.wait_to_hear(DAVE_HZ, WAIT).await.unwrap();

    // calls.create with TwiML: erin answers and hears nothing of the room…
    let erin = Callee::bind(server).await.unwrap();
    let pause = "twiml:<Response><Pause length=\"60\"/></Response>";
    let (_, erin_sid) = node_step(
        &modules,
        &serve,
        &["create-call", &erin.uri("erin"), pause, &call_events],
    )
    .await;
    let erin_sid = erin_sid.expect("create-call prints the call's sid");
    let invite = erin.next_invite(WAIT).await.unwrap();
    let mut erin_call = erin.answer(&invite).await.unwrap();
    let heard = erin_call.listen(Duration::from_millis(600)).await.unwrap();
    assert!(
        !tone_present(&heard, ALICE_HZ),
        "erin hears the room before the redirect"
    );
    // …until the library redirects her call into it.
    let into_room =
        format!("<Response><Dial><Conference>{CALL_ROOM}</Conference></Dial></Response>");
    node_step(&modules, &serve, &["redirect", &erin_sid, &into_room]).await;
    erin_call.wait_to_hear(ALICE_HZ, WAIT).await.unwrap();
    // Status=completed hangs her up: a BYE.
    node_step(&modules, &serve, &["hang-up", &erin_sid]).await;
    erin_call.wait_for_bye(WAIT).await.unwrap();

    // calls.create with a URL: frank rings, and the library cancels it.
    let frank = Callee::bind(server).await.unwrap();
    let (_, frank_sid) = node_step(
        &modules,
        &serve,
        &[
            "create-call",
            &frank.uri("frank"),
            &format!("url:{voice}"),
            &call_events,
        ],
    )
    .await;
    let frank_sid = frank_sid.expect("create-call prints the call's sid");
    let invite = frank.next_invite(WAIT).await.unwrap();
    frank.ring(&invite).await.unwrap();
    let cancelling =
        tokio::spawn(async move { frank.wait_for_cancel(&invite, WAIT).await.map(|()| frank) });
    node_step(&modules, &serve, &["cancel", &frank_sid]).await;
    let _frank = cancelling
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("frank's CANCEL: {e}\n{}", serve.log_tail()));

    // The library ends the room: alice and dave get their BYEs.
    node_step(&modules, &serve, &["end-room", CALL_ROOM]).await;
    a.wait_for_bye(WAIT).await.unwrap();
    dave_call.wait_for_bye(WAIT).await.unwrap();
    assert_ne!(dave_sid, erin_sid);

    // callbacks.js ends once the room's end and the three calls' ends came.
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut app_out, &mut rest).unwrap();
        let status = app.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut app.stderr.take().unwrap(), &mut err).unwrap();
        (status, rest, err)
    })
    .await
    .unwrap();
    assert!(
        status.success(),
        "callbacks.js failed\n{stdout}\n{stderr}\n{}",
        serve.log_tail()
    );
    assert!(
        stdout.contains("twilio-node callbacks: all checks passed"),
        "{stdout}"
    );
}
