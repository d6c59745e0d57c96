//! The kit against a real, independent SIP peer: SIPp as the far end.
//!
//! These prove the phone interoperates (INVITE/ACK/BYE, rejections, the
//! peer's OPTIONS and BYE, a hold re-INVITE, TCP) and that its audio path
//! works end to end: SIPp's `-rtp_echo` sends our RTP straight back, so the
//! phone must hear its own tone and its own DTMF.
//!
//! Without `sipp` on PATH each test prints "skipping: sipp not installed"
//! and passes, unless `CONFAB_REQUIRE_PEERS=1` (CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use testkit::peers::{free_ports, peer_available};
use testkit::{Codec, Direction, Error, Phone};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Generous: SIPp and the test share two cores with whatever else builds.
const WAIT: Duration = Duration::from_secs(5);
/// SIPp's built-in `uas` lingers 4 s after the BYE (its `timewait`) before exiting.
const SIPP_EXIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn udp_call_to_sipp_echo_hears_its_own_tone() {
    let Some(sipp) = Sipp::start(Scenario::BuiltinUas, Transport::Udp).await else {
        return;
    };
    let phone = Phone::bind(sipp.sip).await.unwrap();
    let mut call = sipp.ok(phone.call("echo", Codec::Pcmu).await);
    assert_eq!(call.provisional(), [180], "SIPp's uas rings once");
    assert_eq!(call.codec(), Codec::Pcmu);
    assert_eq!(call.remote_rtp(), sipp.media);
    assert_eq!(call.cseq(), 1);
    assert!(!call.local_tag().is_empty());
    assert!(call.remote_tag().is_some_and(|t| t.contains("SIPpTag01")));
    assert_eq!(
        call.remote_target(),
        format!("sip:{};transport=UDP", sipp.sip)
    );
    assert_eq!(
        call.telephone_event(),
        None,
        "the uas answer has no telephone-event"
    );
    assert!(matches!(
        call.send_dtmf('1').await,
        Err(Error::NoTelephoneEvent)
    ));

    assert!(!call.hears(440), "nothing sent yet, nothing heard");
    call.send_tone(440);
    sipp.ok(call.wait_to_hear(440, WAIT).await);
    assert!(call.hears(440));
    assert!(!call.hears(700));
    let heard = call.listen(Duration::from_millis(400)).await.unwrap();
    assert_eq!(heard.len(), 3200);
    assert!(testkit::tone_present(&heard, 440));
    assert!(!testkit::tone_present(&heard, 1000));

    // Switching tone is heard too, and the old one goes away.
    call.send_tone(1000);
    call.wait_to_hear(1000, WAIT).await.unwrap();
    call.wait_not_hearing(440, WAIT).await.unwrap();
    call.stop_sending();
    call.wait_not_hearing(1000, WAIT).await.unwrap();

    let stats = call.rtp_stats();
    assert!(stats.sent > 0 && stats.received > 0, "{stats:?}");
    assert_eq!(
        stats.last_source,
        Some(sipp.media),
        "the echo comes from the answered port"
    );
    assert_eq!(stats.late, 0);

    sipp.ok(call.hang_up().await);
    assert_eq!(call.cseq(), 2);
    assert!(matches!(call.hang_up().await, Err(Error::Ended)));
    sipp.expect_success().await;
}

#[tokio::test]
async fn tcp_call_to_sipp_echo_hears_its_own_tone() {
    let Some(sipp) = Sipp::start(Scenario::BuiltinUas, Transport::Tcp).await else {
        return;
    };
    // SIPp may still be starting: poll the connect, with a deadline.
    let deadline = Instant::now() + WAIT;
    let phone = loop {
        match Phone::connect_tcp(sipp.sip).await {
            Ok(phone) => break phone,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!(
                "SIPp never accepted TCP on {}: {e}\n{}",
                sipp.sip,
                sipp.logs()
            ),
        }
    };
    let mut call = sipp.ok(phone.call("echo", Codec::Pcmu).await);
    call.send_tone(440);
    sipp.ok(call.wait_to_hear(440, WAIT).await);
    sipp.ok(call.hang_up().await);
    sipp.expect_success().await;
}

#[tokio::test]
async fn a_rejection_is_acked_and_reported_with_its_status() {
    let Some(sipp) = Sipp::start(Scenario::Reject404, Transport::Udp).await else {
        return;
    };
    let phone = Phone::bind(sipp.sip).await.unwrap();
    let err = phone.call("nobody", Codec::Pcma).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    // SIPp's scenario only completes once it has our ACK.
    sipp.expect_success().await;
}

#[tokio::test]
async fn peer_hold_answer_dtmf_options_and_bye() {
    let Some(sipp) = Sipp::start(Scenario::AnswerThenHangUp, Transport::Udp).await else {
        return;
    };
    let mut phone = Phone::bind(sipp.sip).await.unwrap();
    phone.set_caller("+15551230000");
    let mut call = sipp.ok(phone.call("room1", Codec::Pcmu).await);
    assert_eq!(call.telephone_event(), Some(101));
    assert_eq!(call.remote_direction(), Direction::SendRecv);

    // The echo reflects our telephone events: the phone reads back its own digits.
    for digit in ['5', '#'] {
        sipp.ok(call.send_dtmf(digit).await);
    }
    let deadline = Instant::now() + WAIT;
    while call.received_dtmf() != ['5', '#'] {
        assert!(
            Instant::now() < deadline,
            "echoed digits: {:?}",
            call.received_dtmf()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(sipp.ok(call.reinvite_hold(true).await), Direction::RecvOnly);
    assert_eq!(call.remote_direction(), Direction::RecvOnly);

    // After the re-INVITE's ACK, SIPp pings us and hangs up.
    sipp.ok(call.wait_for_bye(WAIT).await);
    assert!(call.bye_received());
    assert_eq!(call.requests_received(), ["OPTIONS", "BYE"]);
    assert_eq!(phone.options_answered(), 1);
    assert!(matches!(call.hang_up().await, Err(Error::Ended)));
    sipp.expect_success().await;
}

#[tokio::test]
async fn waits_are_bounded() {
    // Nobody listens here: the INVITE is retransmitted, then the call times out.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut phone = Phone::bind(silent.local_addr().unwrap()).await.unwrap();
    phone.set_timeout(Duration::from_millis(1600));
    let started = Instant::now();
    let err = phone.call("void", Codec::Pcmu).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Timer A: sent at 0, 0.5 and 1.5 s, then a CANCEL.
    let mut buf = [0u8; 4096];
    silent.set_nonblocking(true).unwrap();
    let mut methods = Vec::new();
    while let Ok(n) = silent.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        methods.push(text.split(' ').next().unwrap().to_owned());
    }
    assert_eq!(methods, ["INVITE", "INVITE", "INVITE", "CANCEL"]);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

#[derive(Clone, Copy)]
enum Scenario {
    /// `sipp -sn uas`: 180, 200 with PCMU only, waits for our BYE.
    BuiltinUas,
    /// 404 to the INVITE, then insists on the ACK.
    Reject404,
    /// 200 with PCMU + telephone-event; accepts one re-INVITE (answers
    /// `recvonly`), then sends OPTIONS and BYE.
    AnswerThenHangUp,
}

/// A SIPp child process, killed if the test ends early.
struct Sipp {
    child: Child,
    dir: tempfile::TempDir,
    sip: SocketAddr,
    media: SocketAddr,
}

impl Sipp {
    /// Starts SIPp as a UAS with RTP echo, or returns `None` (after saying so)
    /// if it is not installed and peers are not required.
    async fn start(scenario: Scenario, transport: Transport) -> Option<Self> {
        if !peer_available("sipp", "sip-tester") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        // One block: two free_ports calls, made before SIPp binds, could
        // hand out the same port twice.
        let sip_port = free_ports(6);
        let media_port = sip_port + 2;
        let mut args: Vec<String> = Vec::new();
        match scenario {
            Scenario::BuiltinUas => args.extend(["-sn".into(), "uas".into()]),
            Scenario::Reject404 => args.extend(scenario_file(dir.path(), "reject", REJECT_404)),
            Scenario::AnswerThenHangUp => {
                args.extend(scenario_file(dir.path(), "hangup", ANSWER_THEN_HANG_UP));
            }
        }
        let port = sip_port.to_string();
        let mport = media_port.to_string();
        args.extend(
            [
                "-i",
                "127.0.0.1",
                "-p",
                &port,
                "-mi",
                "127.0.0.1",
                "-mp",
                &mport,
                "-rtp_echo",
                "-m",
                "1",
                "-nostdin",
                "-trace_err",
                "-trace_msg",
            ]
            .map(str::to_owned),
        );
        if transport == Transport::Tcp {
            args.extend(["-t".into(), "t1".into()]);
        }
        let out = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let child = Command::new("sipp")
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sipp");
        Some(Self {
            child,
            dir,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            media: SocketAddr::from(([127, 0, 0, 1], media_port)),
        })
    }

    /// Waits for SIPp to exit and asserts it counted one successful call.
    async fn expect_success(mut self) {
        let status = tokio::time::timeout(SIPP_EXIT, self.child.wait()).await;
        match status {
            Ok(Ok(status)) if status.success() => {}
            other => panic!("SIPp did not finish cleanly: {other:?}\n{}", self.logs()),
        }
    }

    /// Unwraps `result`, or fails the test showing SIPp's side of the story.
    fn ok<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Everything SIPp wrote: its screen and its message/error traces.
    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: String = text
                    .chars()
                    .rev()
                    .take(6000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                out.push_str(&format!("--- {} ---\n{tail}\n", path.display()));
            }
        }
        out
    }
}

fn scenario_file(dir: &Path, name: &str, xml: &str) -> [String; 2] {
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    ["-sf".into(), path.display().to_string()]
}

const REJECT_404: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="reject">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 404 Not Found
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <recv request="ACK"/>
</scenario>
"#;

const ANSWER_THEN_HANG_UP: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="answer then hang up">
  <recv request="INVITE" rrs="true"/>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
  ]]></send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
    </action>
  </recv>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=recvonly
  ]]></send>
  <recv request="ACK"/>
  <send retrans="500"><![CDATA[
      OPTIONS [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:room1@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:room1@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>
"#;
