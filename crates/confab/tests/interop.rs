//! The interop suite: SIPp, an independent SIP implementation, runs the
//! scenario files in `tests/sipp/` against the real binary, one scenario
//! a test so a failure names the feature (issue 10). Each scenario checks
//! the exact headers it is about (`<ereg check_it="true">`) and SIPp's
//! exit status says whether its one call succeeded (0 = every check held,
//! every expected message came). Where the scenario cannot see the outcome
//! (the call left its room, a BYE came on a new connection, the caller's
//! audio reached the mix), the test checks it through the API, a second
//! SIPp, or a testkit phone in the same room.
//!
//! The scenarios also run against SIPp stand-ins that do what the RFCs
//! say (`standin_*.xml`), so a failure against confab is confab's, not
//! the scenario's. Each test has its own server and
//! RTP ports (31000-31449: no other test uses them).
//!
//! docs/interop.md has the command line of every scenario, to run by hand.
//! Without `sipp` on PATH a test prints a note and passes, unless
//! `CONFAB_REQUIRE_PEERS=1` (`scripts/test`), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use common::{Serve, confab, db_url, elements, http, tone, value, voice_app};
use testkit::peers::{free_ports, peer_available};
use testkit::{Codec, Phone};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The tone SIPp streams where a scenario sends RTP (`tone.ul`).
const TONE_HZ: u32 = 1200;
/// Signalling, joining and leaving: generous, the machine is shared.
const WAIT: Duration = Duration::from_secs(15);
/// A short scenario's whole run; the session timer ones get more.
const SHORT_RUN: Duration = Duration::from_secs(40);
const TIMER_RUN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_in_and_out_of_dialog_over_udp() {
    let Some(mut s) = Suite::start("31000-31049") else {
        return;
    };
    let sipp = s.sipp("options", "room-options-udp", Transport::Udp, &[]);
    s.succeeds(sipp, SHORT_RUN).await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_in_and_out_of_dialog_over_tcp() {
    let Some(mut s) = Suite::start("31050-31099") else {
        return;
    };
    let sipp = s.sipp("options", "room-options-tcp", Transport::Tcp, &[]);
    s.succeeds(sipp, SHORT_RUN).await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_without_sdp_gets_an_offer_and_the_answer_holds_and_resumes() {
    let Some(mut s) = Suite::start("31100-31149") else {
        return;
    };
    let sipp = s.sipp("reinvite_no_sdp", "room-reinvite", Transport::Udp, &[]);
    s.succeeds(sipp, SHORT_RUN).await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_offer_gets_the_offer_in_the_200_and_the_answer_in_the_ack() {
    const ROOM: &str = "room-delayed";
    let Some(mut s) = Suite::start("31150-31199") else {
        return;
    };
    // A listener in the room: the caller's PCMU reaches the mix only if
    // confab took the answer in the ACK.
    let phone = Phone::bind(s.serve.sip_udp).await.unwrap();
    let listener = phone.call(ROOM, Codec::Pcmu).await.unwrap();
    let sipp = s.sipp("delayed_offer", ROOM, Transport::Udp, &["-d", "8000"]);
    listener
        .wait_to_hear(TONE_HZ, WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the delayed-offer caller is not heard: {e}\n{}\n{}",
                sipp.logs(),
                s.serve.log_tail()
            )
        });
    s.succeeds(sipp, SHORT_RUN).await;
    drop(listener);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_100rel_gets_a_reliable_18x_and_prack_is_answered() {
    let Some(mut s) = Suite::start("31200-31249") else {
        return;
    };
    let sipp = s.sipp("prack_100rel", "room-prack", Transport::Udp, &[]);
    s.succeeds(sipp, SHORT_RUN).await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timer_refreshed_by_reinvite_and_update_keeps_the_call() {
    let Some(mut s) = Suite::start("31250-31299") else {
        return;
    };
    let sipp = s.sipp("session_timer_refresh", "room-refresh", Transport::Udp, &[]);
    s.succeeds(sipp, TIMER_RUN).await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timer_not_refreshed_gets_a_bye_before_expiry() {
    let Some(mut s) = Suite::start("31300-31349") else {
        return;
    };
    let sipp = s.sipp("session_timer_expiry", "room-expiry", Transport::Udp, &[]);
    s.succeeds(sipp, TIMER_RUN).await;
    // The BYE came from confab, so the call's record must have ended.
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_call_survives_its_closed_connection_and_bye_comes_on_a_new_one() {
    const ROOM: &str = "room-tcp-close";
    let Some(mut s) = Suite::start("31350-31399") else {
        return;
    };
    // The far end listens first, on the port the caller's Contact names.
    // Its SIP port and, two above, its media ports (`sipp_uas`).
    let contact_port = free_ports(6);
    let uas = s.sipp_uas("tcp_bye_uas", contact_port);
    let caller = s.sipp(
        "tcp_close_then_bye",
        ROOM,
        Transport::Tcp,
        &["-key", "contact_port", &contact_port.to_string()],
    );
    // SIPp has exited: its connection is closed. The call is still in.
    s.succeeds(caller, SHORT_RUN).await;
    let (conference, calls) = s.api.participants(ROOM, 1, &s.serve).await;
    let kick = format!("/Conferences/{conference}/Participants/{}", calls[0]);
    let (status, body) = s.api.request("DELETE", &kick);
    assert_eq!(
        status, 204,
        "the call did not survive its connection: {body}"
    );
    s.succeeds(uas, SHORT_RUN).await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_dtmf_star_leaves_the_room_and_the_script_hangs_up() {
    const NUMBER: &str = "+15550106086";
    let Some(mut s) = Suite::start("31400-31449") else {
        return;
    };
    let app = voice_app(|_| {
        "<Response><Dial hangupOnStar=\"true\"><Conference>room-info</Conference></Dial>\
         <Say>bye</Say><Hangup/></Response>"
            .to_owned()
    });
    let (ok, _, err) = confab(
        &s.db,
        &[
            "numbers",
            "add",
            "--account",
            &s.api.sid,
            "--number",
            NUMBER,
            "--url",
            &format!("http://{app}/voice"),
        ],
    );
    assert!(ok, "{err}");
    let sipp = s.sipp("info_dtmf", NUMBER, Transport::Udp, &[]);
    s.succeeds(sipp, SHORT_RUN).await;
    s.finish().await;
}

/// The scenarios whose feature is not merged yet, each against a SIPp
/// stand-in that does what the RFC says (`standin_*.xml`): proof that a
/// failure of theirs against confab is confab's, not the scenario's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_pass_against_a_stand_in_that_follows_the_rfcs() {
    if !peer_available("sipp", "sip-tester") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (scenario, stand_in) in [
        ("delayed_offer", "standin_delayed_offer"),
        ("prack_100rel", "standin_prack_100rel"),
        ("prack_100rel", "standin_prack_100rel_invite_ok_first"),
        ("info_dtmf", "standin_info_dtmf"),
    ] {
        let run = dir.path().join(stand_in);
        std::fs::create_dir(&run).unwrap();
        write_tone(&run);
        // One block for both: a second free_ports call, made before the
        // stand-in has bound, could hand the UAC the stand-in's ports.
        let ports = free_ports(12);
        let uas_port = ports;
        let uas_args = [
            "-sf".into(),
            scenario_file(stand_in),
            "-mi".into(),
            "127.0.0.1".into(),
            "-mp".into(),
            (uas_port + 2).to_string(),
        ];
        let mut uas = Sipp::spawn(stand_in, uas_port, &uas_args, run.join("uas"));
        let uac_port = ports + 6;
        let uac_args = [
            format!("127.0.0.1:{uas_port}"),
            "-sf".into(),
            scenario_file(scenario),
            "-s".into(),
            "room1".into(),
            "-mi".into(),
            "127.0.0.1".into(),
            "-mp".into(),
            (uac_port + 2).to_string(),
            "-d".into(),
            "1000".into(),
        ];
        let mut uac = Sipp::spawn(scenario, uac_port, &uac_args, run.clone());
        let uac_status = wait_for(&mut uac).await;
        let uas_status = wait_for(&mut uas).await;
        assert!(
            uac_status.success() && uas_status.success(),
            "{scenario} against {stand_in}: UAC {uac_status}, stand-in {uas_status}\n{}\n{}",
            uac.logs(),
            uas.logs()
        );
    }
}

// ---------------------------------------------------------------------------
// The suite: one server, its API, and SIPp runs against it.

/// One test's server (its own RTP ports and database) and directory.
struct Suite {
    serve: Serve,
    api: Api,
    db: String,
    dir: tempfile::TempDir,
    runs: usize,
}

#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

impl Suite {
    /// The server, or `None` (after a note) when SIPp is not installed.
    fn start(rtp_ports: &str) -> Option<Self> {
        if !peer_available("sipp", "sip-tester") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = db_url(dir.path());
        let serve = Serve::start_with(&db, rtp_ports, Some(&dir.path().join("serve.log")));
        let printed = serve.preamble.join("\n");
        let api = Api {
            addr: serve.addr.clone(),
            sid: value(&printed, "AccountSid").to_owned(),
            token: value(&printed, "AuthToken").to_owned(),
        };
        Some(Self {
            serve,
            api,
            db,
            dir,
            runs: 0,
        })
    }

    /// A SIPp UAC running `tests/sipp/<scenario>.xml`: one call to
    /// `service`, from free ports, `tone.ul` in its working directory.
    fn sipp(
        &mut self,
        scenario: &str,
        service: &str,
        transport: Transport,
        extra: &[&str],
    ) -> Sipp {
        let dir = self.run_dir(scenario);
        write_tone(&dir);
        let server = match transport {
            Transport::Udp => self.serve.sip_udp,
            Transport::Tcp => self.serve.sip_tcp,
        };
        // SIPp binds the media port and the one two above it.
        let sip_port = free_ports(6);
        let mut args = vec![
            server.to_string(),
            "-sf".into(),
            scenario_file(scenario),
            "-s".into(),
            service.into(),
            "-mi".into(),
            "127.0.0.1".into(),
            "-mp".into(),
            (sip_port + 2).to_string(),
        ];
        if let Transport::Tcp = transport {
            args.extend(["-t".into(), "t1".into()]);
        }
        args.extend(extra.iter().map(|&a| a.to_owned()));
        Sipp::spawn(scenario, sip_port, &args, dir)
    }

    /// A SIPp UAS on TCP `port` running `tests/sipp/<scenario>.xml`, its
    /// media on `port + 2` and `port + 4` (`port` from `free_ports(6)`).
    fn sipp_uas(&mut self, scenario: &str, port: u16) -> Sipp {
        let dir = self.run_dir(scenario);
        // Its own media ports, not SIPp's default 6000 another run may hold.
        let media = port + 2;
        let args = [
            "-sf".into(),
            scenario_file(scenario),
            "-t".into(),
            "t1".into(),
            "-mi".into(),
            "127.0.0.1".into(),
            "-mp".into(),
            media.to_string(),
        ];
        Sipp::spawn(scenario, port, &args, dir)
    }

    fn run_dir(&mut self, scenario: &str) -> PathBuf {
        self.runs += 1;
        let dir = self.dir.path().join(format!("{}-{scenario}", self.runs));
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    /// Waits for `sipp` to exit and asserts it counted a successful call.
    async fn succeeds(&self, mut sipp: Sipp, timeout: Duration) {
        let status = sipp.wait(timeout, &self.serve).await;
        assert!(
            status.success(),
            "SIPp {} failed ({status})\n{}\n{}",
            sipp.scenario,
            sipp.logs(),
            self.serve.log_tail()
        );
    }

    /// Every call has ended (no conference has a participant), and the
    /// server stops cleanly.
    async fn finish(mut self) {
        self.api.no_participants(&self.serve).await;
        assert!(self.serve.is_alive());
        assert!(self.serve.stop(), "serve did not exit cleanly on SIGTERM");
    }
}

/// Waits for a SIPp without a server beside it to exit.
async fn wait_for(sipp: &mut Sipp) -> ExitStatus {
    tokio::time::timeout(SHORT_RUN, sipp.child.wait())
        .await
        .unwrap_or_else(|_| panic!("SIPp {} still running\n{}", sipp.scenario, sipp.logs()))
        .unwrap()
}

/// The path of `tests/sipp/<scenario>.xml`.
fn scenario_file(scenario: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(format!("{scenario}.xml"))
        .display()
        .to_string()
}

/// One SIPp process in a directory of its own (its logs land there);
/// killed if the test ends early.
struct Sipp {
    scenario: String,
    child: Child,
    dir: PathBuf,
}

impl Sipp {
    fn spawn(scenario: &str, port: u16, args: &[String], dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::fs::File::create(dir.join("stdout.log")).unwrap();
        let child = Command::new("sipp")
            .args(args)
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
            .args(["-nostdin", "-trace_err", "-trace_msg"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sipp: {e}"));
        Self {
            scenario: scenario.to_owned(),
            child,
            dir,
        }
    }

    async fn wait(&mut self, timeout: Duration, serve: &Serve) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "SIPp {} still running after {timeout:?}\n{}\n{}",
                self.scenario,
                self.logs(),
                serve.log_tail()
            ),
        }
    }

    /// SIPp's error log whole, and the tail of its message trace.
    fn logs(&self) -> String {
        let mut out = format!("--- SIPp {} ({}) ---\n", self.scenario, self.dir.display());
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if name.ends_with("_errors.log") {
                out += &format!("{name}:\n{text}\n");
            } else if name.ends_with("_messages.log") {
                let from = text.len().saturating_sub(4000);
                let from = (from..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                out += &format!("{name} (tail):\n{}\n", &text[from..]);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The API.

struct Api {
    addr: String,
    sid: String,
    token: String,
}

impl Api {
    /// Polls until `room`'s conference has exactly `n` participants;
    /// returns its sid and their CallSids.
    async fn participants(&self, room: &str, n: usize, serve: &Serve) -> (String, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, list) = self.request("GET", &format!("/Conferences?FriendlyName={room}"));
            if let Some(conference) = elements(&list, "Sid").into_iter().next() {
                let path = format!("/Conferences/{conference}/Participants");
                let (_, body) = self.request("GET", &path);
                let calls = elements(&body, "CallSid");
                if calls.len() == n {
                    return (conference, calls);
                }
            }
            assert!(
                Instant::now() < deadline,
                "never {n} participants in {room}\n{}",
                serve.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until no conference has a participant.
    async fn no_participants(&self, serve: &Serve) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, list) = self.request("GET", "/Conferences");
            assert_eq!(status, 200, "{list}");
            let left = elements(&list, "Sid")
                .iter()
                .filter(|cf| cf.starts_with("CF"))
                .map(|cf| {
                    self.request("GET", &format!("/Conferences/{cf}/Participants"))
                        .1
                })
                .flat_map(|body| elements(&body, "CallSid"))
                .collect::<Vec<_>>();
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "calls still in a room: {left:?}\n{}",
                serve.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A request under the default account's base path.
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let path = format!("/2008-08-01/Accounts/{}{path}", self.sid);
        http(
            &self.addr,
            method,
            &path,
            Some((&self.sid, &self.token)),
            "",
        )
    }
}

/// `tone.ul` in `dir`: one second of [`TONE_HZ`], headerless μ-law, for
/// SIPp's `rtp_stream` (which sends a file verbatim); one second holds
/// whole periods, so the looped file is seamless.
fn write_tone(dir: &Path) {
    let mut ulaw = Vec::new();
    Codec::Pcmu.encode_into(&tone(TONE_HZ, 8000), &mut ulaw);
    std::fs::write(dir.join("tone.ul"), ulaw).unwrap();
}
