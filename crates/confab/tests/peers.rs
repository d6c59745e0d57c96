//! Real, independent SIP peers in one room of the real binary: SIPp
//! streaming a μ-law tone (PCMU), SIPp playing its bundled PCMA speech
//! capture (`uac_pcap`), and baresip sending a WAV tone and recording what
//! it hears. A testkit phone sits in the room too, as a listener that can
//! say what reached the mix.
//!
//! What must hold: both SIPp runs count one successful call (exit 0);
//! baresip's recording holds SIPp's tone and the PCMA speech, and not its
//! own tone (mix-minus); the testkit listener hears both tones; the API
//! lists every caller as a participant while they are in, and none after.
//!
//! Without `sipp` or `baresip` on PATH the test prints a note and passes,
//! unless `CONFAB_REQUIRE_PEERS=1` (`scripts/test`), where it fails.
//! SIPp's `uac_pcap` sends its capture through a raw socket, so it needs
//! root or CAP_NET_RAW (the failure says so).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use common::{Serve, db_url, elements, http, tone};
use media::goertzel::{rms, tone_fraction};
use testkit::peers::{free_ports, peer_available};
use testkit::{Codec, Phone};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// SIPp's PCMU participant sends this tone.
const SIPP_TONE: u32 = 1200;
/// baresip sends this one (far from the 880/659 Hz join and leave beeps).
const BARESIP_TONE: u32 = 2000;
/// baresip's call lasts as long as its WAV.
const BARESIP_SECONDS: usize = 4;
/// The PCMU SIPp stays this long, longer than baresip (no leave beep in
/// baresip's recording); `uac_pcap` stays about 9 s after its ACK.
const SIPP_PCMU_MS: u32 = 12_000;
/// Signalling and joining: generous, the machine is shared.
const WAIT: Duration = Duration::from_secs(10);
/// A peer's whole run, from spawn to exit.
const PEER_EXIT: Duration = Duration::from_secs(30);
/// The bundled PCMA capture `uac_pcap` plays (package sip-tester).
const G711A_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
const ROOM: &str = "peers";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_pcmu_sipp_pcma_and_baresip_share_one_room() {
    if !peer_available("sipp", "sip-tester") || !peer_available("baresip", "baresip-core") {
        return;
    }
    assert!(
        Path::new(G711A_PCAP).is_file(),
        "{G711A_PCAP} is missing (package sip-tester)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start_with(
        &db_url(dir.path()),
        "30200-30299",
        Some(&dir.path().join("serve.log")),
    );
    let (sid, token) = serve.default_account();
    let api = Api {
        addr: serve.addr.clone(),
        sid,
        token,
    };
    let sip = serve.sip_udp;

    // The listener joins first: the room exists before the peers dial.
    let phone = Phone::bind(sip).await.unwrap();
    let mut listener = phone.call(ROOM, Codec::Pcmu).await.unwrap();
    let (conference, listener_only) = api.wait_for_participants(1, &serve).await;

    let pcma = Peer::sipp_pcap(dir.path(), sip);
    let pcmu = Peer::sipp_pcmu_tone(dir.path(), sip);
    let (_, in_room) = api.wait_for_participants(3, &serve).await;
    assert_eq!(in_room.len(), 3, "{in_room:?}");

    let mut baresip = Peer::baresip(dir.path(), sip);
    let (again, everyone) = api.wait_for_participants(4, &serve).await;
    assert_eq!(again, conference, "one room, one conference");
    let mut distinct = everyone.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "four calls: {everyone:?}");
    assert!(everyone.contains(&listener_only[0]), "{everyone:?}");

    // What reached the mix: both tones, heard by the listener.
    for tone in [SIPP_TONE, BARESIP_TONE] {
        listener
            .wait_to_hear(tone, WAIT)
            .await
            .unwrap_or_else(|e| panic!("listener: {tone} Hz: {e}\n{}", serve.log_tail()));
    }

    // baresip hangs up at the end of its WAV; then it may go.
    baresip.wait_for_output("terminated", PEER_EXIT).await;
    baresip.terminate().await;
    for mut sipp in [pcmu, pcma] {
        let status = sipp.wait(PEER_EXIT).await;
        let logs = sipp.logs();
        assert!(
            !logs.contains("Can't create raw"),
            "{} plays its pcap through a raw socket: run the tests as root, or \
             `setcap cap_net_raw+ep $(command -v sipp)`\n{logs}",
            sipp.name
        );
        assert!(
            status.success(),
            "{} did not count a successful call ({status})\n{logs}\n{}",
            sipp.name,
            serve.log_tail()
        );
    }
    let (_, left) = api.wait_for_participants(1, &serve).await;
    assert_eq!(left, listener_only, "only the listener is left");

    let heard = baresip.recording();
    assert_baresip_heard(&heard);

    listener.hang_up().await.unwrap();
    api.wait_for_participants(0, &serve).await;
    assert!(serve.is_alive());
    assert!(serve.stop(), "serve did not exit cleanly on SIGTERM");
}

/// baresip's decoded audio, 200 ms at a time, from 1 s in (its own join
/// beep is over) while everyone is in: SIPp's tone in nearly every window, the
/// PCMA speech in some (speech pauses), its own tone in none.
fn assert_baresip_heard(samples: &[i16]) {
    const WINDOW: usize = 1600;
    let from = WINDOW * 5;
    let to = (BARESIP_SECONDS * 8000 - WINDOW).min(samples.len());
    assert!(
        to > from + WINDOW * 8,
        "baresip recorded {} samples, expected about {}",
        samples.len(),
        BARESIP_SECONDS * 8000
    );
    let mut report = String::new();
    let (mut windows, mut sipp_tone, mut speech, mut own_max) = (0, 0, 0, 0.0f64);
    for window in samples[from..to].chunks_exact(WINDOW) {
        let sipp = tone_fraction(window, f64::from(SIPP_TONE));
        let own = tone_fraction(window, f64::from(BARESIP_TONE));
        // What is left once the tones are taken out: the PCMA speech.
        let rest = rms(window) * (1.0 - sipp - own).clamp(0.0, 1.0).sqrt();
        report += &format!("{sipp:.2}/{own:.3}/{rest:.0} ");
        windows += 1;
        sipp_tone += usize::from(testkit::tone_present(window, SIPP_TONE));
        speech += usize::from(rest >= SPEECH_MIN_RMS);
        own_max = own_max.max(own);
    }
    let report = format!(
        "per window, {SIPP_TONE} Hz share / own {BARESIP_TONE} Hz share / rest RMS: {report}"
    );
    assert!(
        sipp_tone * 10 >= windows * 9,
        "SIPp's tone missing: {report}"
    );
    assert!(speech >= 3, "no PCMA speech: {report}");
    assert!(own_max < 0.05, "baresip hears itself: {report}");
    eprintln!("{report}");
}

/// RMS, in sample units, of what is not a tone that counts as hearing the
/// PCMA speech: the capture's speech is about 1900 RMS, G.711 noise on a
/// mixed tone under 100.
const SPEECH_MIN_RMS: f64 = 400.0;

// ---------------------------------------------------------------------------
// The API.

struct Api {
    addr: String,
    sid: String,
    token: String,
}

impl Api {
    /// Polls until the room's conference has exactly `n` participants;
    /// returns its sid and their CallSids.
    async fn wait_for_participants(&self, n: usize, serve: &Serve) -> (String, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Some(conference) = self.conference() {
                let (status, body) = self.get(&format!("/Conferences/{conference}/Participants"));
                assert_eq!(status, 200, "{body}");
                let sids = elements(&body, "CallSid");
                if sids.len() == n {
                    return (conference, sids);
                }
                last = body;
            }
            assert!(
                Instant::now() < deadline,
                "never {n} participants in {ROOM}; last: {last}\n{}",
                serve.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sid of the room's conference, once it exists.
    fn conference(&self) -> Option<String> {
        let (status, body) = self.get(&format!("/Conferences?FriendlyName={ROOM}"));
        assert_eq!(status, 200, "{body}");
        elements(&body, "Sid").into_iter().next()
    }

    fn get(&self, path: &str) -> (u16, String) {
        let path = format!("/2008-08-01/Accounts/{}{path}", self.sid);
        http(&self.addr, "GET", &path, Some((&self.sid, &self.token)), "")
    }
}

// ---------------------------------------------------------------------------
// The peers.

/// A peer process in a directory of its own; killed if the test ends early.
struct Peer {
    name: &'static str,
    child: Child,
    dir: PathBuf,
}

impl Peer {
    /// SIPp's built-in `uac_pcap`: PCMA offer, plays `pcap/g711a.pcap`
    /// (7 s of speech, 30 ms packets), a DTMF digit, then BYE.
    fn sipp_pcap(root: &Path, server: SocketAddr) -> Self {
        let dir = peer_dir(root, "sipp-pcma");
        std::fs::create_dir(dir.join("pcap")).unwrap();
        for entry in std::fs::read_dir("/usr/share/sip-tester").unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pcap") {
                std::os::unix::fs::symlink(&path, dir.join("pcap").join(path.file_name().unwrap()))
                    .unwrap();
            }
        }
        let mut args = vec!["-sn".to_owned(), "uac_pcap".to_owned()];
        args.extend(sipp_common(server));
        Self::spawn("sipp uac_pcap (PCMA)", "sipp", &args, dir)
    }

    /// SIPp with the `uac_pcmu_stream` scenario: PCMU offer, streams a
    /// headless μ-law file of [`SIPP_TONE`] in a loop, BYE after
    /// [`SIPP_PCMU_MS`].
    fn sipp_pcmu_tone(root: &Path, server: SocketAddr) -> Self {
        let dir = peer_dir(root, "sipp-pcmu");
        // One second holds a whole number of periods: the loop is seamless.
        let mut ulaw = Vec::new();
        Codec::Pcmu.encode_into(&tone(SIPP_TONE, 8000), &mut ulaw);
        std::fs::write(dir.join("tone.ul"), ulaw).unwrap();
        std::fs::write(dir.join("uac_pcmu_stream.xml"), UAC_PCMU_STREAM).unwrap();
        let mut args = vec![
            "-sf".to_owned(),
            "uac_pcmu_stream.xml".to_owned(),
            "-d".to_owned(),
            SIPP_PCMU_MS.to_string(),
        ];
        args.extend(sipp_common(server));
        Self::spawn("sipp uac_pcmu_stream (PCMU)", "sipp", &args, dir)
    }

    /// baresip, headless: dials the room, sends a WAV of [`BARESIP_TONE`]
    /// (hanging up at its end), records what it hears with `sndfile`.
    fn baresip(root: &Path, server: SocketAddr) -> Self {
        let dir = peer_dir(root, "baresip");
        let sip_port = free_ports(16);
        let rtp_low = sip_port + 2;
        std::fs::create_dir(dir.join("rec")).unwrap();
        write_wav(
            &dir.join("in.wav"),
            &tone(BARESIP_TONE, BARESIP_SECONDS * 8000),
        );
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             rtp_ports {rtp_low}-{}\n\
             audio_player alsa,null\n\
             audio_alert alsa,null\n\
             audio_source aufile,{in_wav}\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module alsa.so\n\
             module sndfile.so\n\
             module account.so\n\
             module menu.so\n\
             snd_path {rec}\n",
            rtp_low + 13,
            in_wav = dir.join("in.wav").display(),
            rec = dir.join("rec").display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            "<sip:baresip@127.0.0.1>;regint=0;audio_codecs=PCMU\n",
        )
        .unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let args = [
            "-f".to_owned(),
            dir.display().to_string(),
            // A backstop only: the test ends it once the call is over.
            "-t".to_owned(),
            "60".to_owned(),
            "-e".to_owned(),
            format!("/dial sip:{ROOM}@{server}"),
        ];
        Self::spawn("baresip", "baresip", &args, dir)
    }

    fn spawn(name: &'static str, program: &str, args: &[String], dir: PathBuf) -> Self {
        let out = std::fs::File::create(dir.join("stdout.log")).unwrap();
        let child = Command::new(program)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        Self { name, child, dir }
    }

    /// Waits for the process to exit by itself.
    async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "{} still running after {timeout:?}\n{}",
                self.name,
                self.logs()
            ),
        }
    }

    /// Polls the peer's output until it contains `text`.
    async fn wait_for_output(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default();
            if out.contains(text) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {text:?}\n{}",
                    self.name,
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} never printed {text:?}\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM (baresip closes its files), then waits for the exit.
    async fn terminate(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(WAIT, self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
        }
    }

    /// What baresip heard: its `sndfile` dump of the decoded stream.
    fn recording(&self) -> Vec<i16> {
        let dumps: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        assert_eq!(dumps.len(), 1, "{dumps:?}\n{}", self.logs());
        read_wav(&dumps[0])
    }

    /// The peer's output and SIPp's error trace, for failure messages.
    fn logs(&self) -> String {
        let mut out = format!("--- {} ({}) ---\n", self.name, self.dir.display());
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                out += &format!(
                    "{}:\n{}\n",
                    path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        out
    }
}

fn peer_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// SIPp arguments every run shares: one call to the room from free ports.
fn sipp_common(server: SocketAddr) -> Vec<String> {
    // SIPp binds the media port and the one two above it.
    let sip_port = free_ports(6);
    let media_port = sip_port + 2;
    [
        server.to_string().as_str(),
        "-s",
        ROOM,
        "-i",
        "127.0.0.1",
        "-p",
        &sip_port.to_string(),
        "-mi",
        "127.0.0.1",
        "-mp",
        &media_port.to_string(),
        "-m",
        "1",
        "-nostdin",
        "-trace_err",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A mono 8 kHz 16-bit WAV, as baresip's `aufile` wants it for G.711.
fn write_wav(path: &Path, samples: &[i16]) {
    let mut w = hound::WavWriter::create(path, PCM_8K_MONO).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// The samples of a mono 8 kHz 16-bit PCM WAV; any other format fails.
fn read_wav(path: &Path) -> Vec<i16> {
    let reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec(), PCM_8K_MONO, "{}", path.display());
    reader.into_samples().map(Result::unwrap).collect()
}

const PCM_8K_MONO: hound::WavSpec = hound::WavSpec {
    channels: 1,
    sample_rate: 8000,
    bits_per_sample: 16,
    sample_format: hound::SampleFormat::Int,
};

/// The `uac_pcmu_stream` scenario of crates-and-peers.md §5.1 B, streaming
/// `tone.ul` (PT 0, looped) until the `-d` pause ends.
const UAC_PCMU_STREAM: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uac_pcmu_stream">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <nop><action><exec rtp_stream="tone.ul,-1,0"/></action></nop>
  <pause/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500"><![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"#;
