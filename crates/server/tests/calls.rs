//! Calls end to end: a real server (SIP on UDP, RTP, the hub, the store) on
//! 127.0.0.1, driven by a tiny scripted SIP phone of our own that sends a
//! tone and records what it hears; the API through `router().oneshot`; a
//! voice URL served by a local axum app. Every wait polls with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use media::goertzel::rms;
use media::{Codec, tone_fraction};
use model::{Account, CallSid, CallStatus, HttpMethod, PhoneNumber};
use server::{CallConfig, Clock, Config, Server, SystemClock};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tower::ServiceExt;

const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The server under test.

struct Rig {
    _dir: tempfile::TempDir,
    store: store::Store,
    account: Account,
    server: Server,
    router: axum::Router,
    sip: SocketAddr,
}

impl Rig {
    async fn new(rtp_ports: (u16, u16), open_rooms: bool) -> Self {
        Self::with_capacity(rtp_ports, open_rooms, 40).await
    }

    async fn with_capacity(rtp_ports: (u16, u16), open_rooms: bool, room_capacity: usize) -> Self {
        // RUST_LOG=server=debug shows what the server did.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("confab.db").display());
        let store = store::Store::connect(&url).await.unwrap();
        let account = server::accounts::create(&store, "default", SystemClock.now())
            .await
            .unwrap();
        let config = Config { room_capacity };
        let mut server = Server::start(store.clone(), config, Arc::new(SystemClock))
            .await
            .unwrap();
        let mut calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), rtp_ports);
        calls.open_rooms = open_rooms;
        calls.webhook_timeout = Duration::from_secs(3);
        let addrs = server.listen_sip(calls).await.unwrap();
        assert_eq!(addrs.udp.port(), addrs.tcp.port());
        let router = server.router();
        Self {
            _dir: dir,
            store,
            account,
            server,
            router,
            sip: addrs.udp,
        }
    }

    fn base(&self) -> String {
        format!("/2008-08-01/Accounts/{}", self.account.sid)
    }

    async fn api(&self, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.account.sid,
            self.account.auth_token.expose()
        ));
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Basic {auth}"))
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// Texts of every `<field>` in an API response.
    async fn column(&self, uri: &str, field: &str) -> Vec<String> {
        let (status, body) = self.api(Method::GET, uri, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let doc = roxmltree::Document::parse(&body).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name(field))
            .map(|n| n.text().unwrap_or_default().to_owned())
            .collect()
    }

    /// The live conference of that name and its participants (join order),
    /// once it has `n` of them.
    async fn room_with(&self, name: &str, n: usize) -> (String, Vec<String>) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let sids = self
                .column(
                    &format!("{}/Conferences?FriendlyName={name}&Status=1", self.base()),
                    "Sid",
                )
                .await;
            if let Some(cf) = sids.first() {
                let calls = self
                    .column(
                        &format!("{}/Conferences/{cf}/Participants", self.base()),
                        "CallSid",
                    )
                    .await;
                if calls.len() == n {
                    return (cf.clone(), calls);
                }
            }
            assert!(
                Instant::now() < deadline,
                "room {name} never had {n} participants"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn call_row(
        &self,
        sid: &str,
        until: impl Fn(&model::CallRecord) -> bool,
    ) -> model::CallRecord {
        let sid = CallSid::parse(sid).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(row) = self.store.call(&sid).await.unwrap()
                && until(&row)
            {
                return row;
            }
            assert!(Instant::now() < deadline, "the call row never got there");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------
// A scripted SIP phone: INVITE with a PCMU offer, ACK, a tone out, a
// recording in, BYE either way. Only what these tests need.

struct Phone {
    sip: Arc<UdpSocket>,
    server: SipAddrPair,
    user: String,
    call_id: String,
    from_tag: String,
    to_tag: String,
    /// SIP requests the server sent us (BYE), already answered 200.
    requests: mpsc::UnboundedReceiver<String>,
    responses: mpsc::UnboundedReceiver<String>,
    heard: Arc<Mutex<Vec<i16>>>,
    /// A key to press (RFC 4733 event code), sent by the RTP loop.
    key: Arc<Mutex<Option<u8>>>,
    rtp_task: tokio::task::JoinHandle<()>,
    rtp_port: u16,
    /// Our last CSeq in the dialog.
    cseq: u32,
}

#[derive(Clone, Copy)]
struct SipAddrPair {
    server: SocketAddr,
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn random() -> u64 {
    u64::from_le_bytes(server::ids::random_bytes()[..8].try_into().unwrap())
}

impl Phone {
    /// Dials `user` at the server and waits for the final response: Ok once
    /// the call is up (ACK sent, tone `tone_hz` flowing), Err(status) if refused.
    async fn dial(
        server: SocketAddr,
        user: &str,
        caller: &str,
        tone_hz: f64,
    ) -> Result<Phone, u16> {
        let sip = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let local = sip.local_addr().unwrap();
        let rtp_port = rtp.local_addr().unwrap().port();
        let (req_tx, requests) = mpsc::unbounded_channel();
        let (resp_tx, mut responses) = mpsc::unbounded_channel();
        let reader = sip.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 65_535];
            while let Ok((n, from)) = reader.recv_from(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.starts_with("SIP/2.0") {
                    let _ = resp_tx.send(text);
                } else if !text.trim().is_empty() {
                    let mut ok = String::from("SIP/2.0 200 OK\r\n");
                    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                        for line in text.lines().filter(|l| {
                            l.split_once(':')
                                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                        }) {
                            ok.push_str(line);
                            ok.push_str("\r\n");
                        }
                    }
                    ok.push_str("Content-Length: 0\r\n\r\n");
                    let _ = reader.send_to(ok.as_bytes(), from).await;
                    let _ = req_tx.send(text);
                }
            }
        });
        let call_id = format!("{:x}@test", random());
        let from_tag = format!("{:x}", random());
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
        );
        let invite = format!(
            "INVITE sip:{user}@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{:x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{caller}@127.0.0.1>;tag={from_tag}\r\n\
             To: <sip:{user}@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:{caller}@{local}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            random(),
            sdp.len()
        );
        sip.send_to(invite.as_bytes(), server).await.unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let final_response = loop {
            let r = tokio::time::timeout_at(deadline, responses.recv())
                .await
                .expect("no final response to the INVITE")
                .unwrap();
            if status(&r).is_some_and(|s| s >= 200) {
                break r;
            }
        };
        let code = status(&final_response).unwrap();
        let to = header(&final_response, "To").unwrap();
        let to_tag = to.split(";tag=").nth(1).unwrap_or_default().to_owned();
        let ack = |cseq: &str| {
            format!(
                "ACK sip:{user}@{server} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK{:x};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:{caller}@127.0.0.1>;tag={from_tag}\r\n\
                 To: {to}\r\n\
                 Call-ID: {call_id}\r\n\
                 CSeq: {cseq} ACK\r\n\
                 Content-Length: 0\r\n\r\n",
                random()
            )
        };
        if code >= 300 {
            // A failure's ACK is hop-by-hop; the engine matches it to the INVITE.
            return Err(code);
        }
        sip.send_to(ack("1").as_bytes(), server).await.unwrap();
        // Where the server wants RTP: the answer's c= and m= lines.
        let body = final_response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .unwrap()
            .trim()
            .to_owned();
        let port: u16 = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        let media_to: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let key = Arc::new(Mutex::new(None));
        let rtp_task = tokio::spawn(rtp_loop(rtp, media_to, heard.clone(), key.clone(), tone_hz));
        Ok(Phone {
            sip,
            server: SipAddrPair { server },
            user: user.to_owned(),
            call_id,
            from_tag,
            to_tag,
            requests,
            responses,
            heard,
            key,
            rtp_task,
            rtp_port,
            cseq: 1,
        })
    }

    fn heard_len(&self) -> usize {
        self.heard.lock().unwrap().len()
    }

    /// What was heard from sample `from` on.
    fn heard_since(&self, from: usize) -> Vec<i16> {
        self.heard
            .lock()
            .unwrap()
            .get(from..)
            .unwrap_or_default()
            .to_vec()
    }

    /// The last `ms` milliseconds heard.
    fn recent(&self, ms: usize) -> Vec<i16> {
        let heard = self.heard.lock().unwrap();
        let n = (ms * 8).min(heard.len());
        heard[heard.len() - n..].to_vec()
    }

    /// Waits until the last 200 ms heard satisfy `check`.
    async fn until_heard(&self, what: &str, check: impl Fn(&[i16]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let recent = self.recent(200);
            if recent.len() == 1600 && check(&recent) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never heard; last 200 ms: rms {:.0}, 400 Hz {:.2}, 700 Hz {:.2}",
                rms(&recent),
                tone_fraction(&recent, 400.0),
                tone_fraction(&recent, 700.0)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a re-INVITE whose offer has `direction` (`sendonly` puts the
    /// call on hold, `sendrecv` takes it off), waits for its 200 and ACKs.
    async fn reinvite(&mut self, direction: &str) {
        self.cseq += 1;
        let local = self.sip.local_addr().unwrap();
        let sdp = format!(
            "v=0\r\no=- 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na={direction}\r\n",
            self.cseq, self.rtp_port
        );
        let dialog = format!(
            "From: <sip:phone@127.0.0.1>;tag={}\r\nTo: <sip:{}@{}>;tag={}\r\nCall-ID: {}\r\n",
            self.from_tag, self.user, self.server.server, self.to_tag, self.call_id
        );
        let invite = format!(
            "INVITE sip:{}@{} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{:x};rport\r\n\
             Max-Forwards: 70\r\n{dialog}CSeq: {} INVITE\r\n\
             Contact: <sip:phone@{local}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            self.user,
            self.server.server,
            random(),
            self.cseq,
            sdp.len()
        );
        self.sip
            .send_to(invite.as_bytes(), self.server.server)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r = tokio::time::timeout_at(deadline, self.responses.recv())
                .await
                .expect("no answer to the re-INVITE")
                .unwrap();
            let this = header(&r, "CSeq") == Some(&format!("{} INVITE", self.cseq));
            if this && status(&r).is_some_and(|s| s >= 200) {
                assert_eq!(status(&r), Some(200), "{r}");
                break;
            }
        }
        let ack = format!(
            "ACK sip:{}@{} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{:x};rport\r\n\
             Max-Forwards: 70\r\n{dialog}CSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            self.user,
            self.server.server,
            random(),
            self.cseq
        );
        self.sip
            .send_to(ack.as_bytes(), self.server.server)
            .await
            .unwrap();
    }

    /// Presses a key (RFC 4733 event code: 10 is `*`).
    fn press(&self, event: u8) {
        *self.key.lock().unwrap() = Some(event);
    }

    async fn expect_bye(&mut self) {
        let request = tokio::time::timeout(DEADLINE, self.requests.recv())
            .await
            .expect("no BYE from the server")
            .unwrap();
        assert!(request.starts_with("BYE "), "{request}");
    }

    /// Hangs up with a BYE and waits for its 200.
    async fn hang_up(mut self) {
        let local = self.sip.local_addr().unwrap();
        let bye = format!(
            "BYE sip:{}@{} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{:x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:phone@127.0.0.1>;tag={}\r\n\
             To: <sip:{}@{}>;tag={}\r\n\
             Call-ID: {}\r\n\
             CSeq: {} BYE\r\n\
             Content-Length: 0\r\n\r\n",
            self.user,
            self.server.server,
            random(),
            self.from_tag,
            self.user,
            self.server.server,
            self.to_tag,
            self.call_id,
            self.cseq + 1
        );
        self.sip
            .send_to(bye.as_bytes(), self.server.server)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r = tokio::time::timeout_at(deadline, self.responses.recv())
                .await
                .expect("no answer to our BYE")
                .unwrap();
            if header(&r, "CSeq").is_some_and(|c| c.ends_with("BYE")) {
                assert_eq!(status(&r), Some(200), "{r}");
                break;
            }
        }
        self.rtp_task.abort();
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.rtp_task.abort();
    }
}

/// Every 20 ms: one PCMU packet of the phone's tone out; everything that
/// came in, decoded, onto the recording.
async fn rtp_loop(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    heard: Arc<Mutex<Vec<i16>>>,
    key: Arc<Mutex<Option<u8>>>,
    hz: f64,
) {
    let ssrc = random() as u32;
    let (mut seq, mut ts) = (random() as u16, random() as u32);
    let mut phase = 0.0f64;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut buf = vec![0u8; 2048];
    // A key press in progress: (event, its start timestamp, packets sent).
    let mut pressing: Option<(u8, u32, u16)> = None;
    loop {
        ticks.tick().await;
        if pressing.is_none() {
            pressing = key.lock().unwrap().take().map(|event| (event, ts, 0));
        }
        if let Some((event, start, sent)) = pressing {
            // RFC 4733: one timestamp, a growing duration, the last three with E.
            let end = sent >= 3;
            let duration = (sent.min(3) + 1) * 160;
            let mut packet = vec![0x80, if sent == 0 { 0x80 | 101 } else { 101 }];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&start.to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            packet.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
            packet.extend_from_slice(&duration.to_be_bytes());
            let _ = socket.send_to(&packet, to).await;
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            pressing = (sent < 5).then_some((event, start, sent + 1));
            continue;
        }
        let mut packet = vec![0x80, 0];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&ts.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        for _ in 0..160 {
            let sample = (phase.sin() * 8000.0) as i16;
            phase += std::f64::consts::TAU * hz / 8000.0;
            packet.push(Codec::Pcmu.encode(sample));
        }
        phase %= std::f64::consts::TAU;
        let _ = socket.send_to(&packet, to).await;
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                let mut heard = heard.lock().unwrap();
                heard.extend(buf[12..n].iter().map(|&b| Codec::Pcmu.decode(b)));
            }
        }
    }
}

fn hears(hz: f64, not_hz: f64) -> impl Fn(&[i16]) -> bool {
    move |s| tone_fraction(s, hz) > 0.6 && tone_fraction(s, not_hz) < 0.05
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_hear_each_other_and_the_api_mutes_and_kicks_for_real() {
    let rig = Rig::new((41000, 41099), true).await;
    let mut alice = Phone::dial(rig.sip, "demo", "alice", 400.0).await.unwrap();
    // Alone, she waits (hold music); nobody's tone reaches her.
    let bob = Phone::dial(rig.sip, "demo", "bob", 700.0).await.unwrap();
    let (cf, calls) = rig.room_with("demo", 2).await;

    alice
        .until_heard(
            "alice hears bob's 700 Hz, not her own 400",
            hears(700.0, 400.0),
        )
        .await;
    bob.until_heard(
        "bob hears alice's 400 Hz, not his own 700",
        hears(400.0, 700.0),
    )
    .await;

    // Mute alice: once the API answers, bob hears silence.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let (status, body) = rig.api(Method::POST, &participant, "Muted=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mark = bob.heard_len();
    let deadline = Instant::now() + DEADLINE;
    while bob.heard_len() < mark + 8 * 300 {
        assert!(Instant::now() < deadline, "bob stopped hearing anything");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A packet or two may have been on the wire when the API answered.
    let after = bob.heard_since(mark + 8 * 60);
    assert!(
        rms(&after) < 50.0,
        "bob still hears alice: rms {}",
        rms(&after)
    );
    // Alice still hears bob.
    alice
        .until_heard("muted alice still hears bob", hears(700.0, 400.0))
        .await;
    let (status, _) = rig.api(Method::POST, &participant, "Muted=false").await;
    assert_eq!(status, StatusCode::OK);
    bob.until_heard("bob hears alice again", hears(400.0, 700.0))
        .await;

    // Kick alice: she gets a BYE (her <Dial> ends, nothing follows).
    let (status, body) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    alice.expect_bye().await;
    let row = rig
        .call_row(&calls[0], |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    assert_eq!(
        (row.caller.as_str(), row.called.as_str()),
        ("alice", "demo")
    );
    assert!(row.end_time.is_some() && row.duration.is_some());
    assert_eq!(row.phone_number_sid, None);
    drop(alice);

    // Bob hangs up: the room completes, his row ends.
    bob.hang_up().await;
    let row = rig
        .call_row(&calls[1], |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    let deadline = Instant::now() + DEADLINE;
    while rig
        .column(&format!("{}/Conferences/{cf}", rig.base()), "Status")
        .await
        != ["2"]
    {
        assert!(Instant::now() < deadline, "the room never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.server.stop().await;
}

/// What the test's voice URL saw: the signature header and the form.
#[derive(Debug, Clone)]
struct Hit {
    signature: String,
    params: Vec<(String, String)>,
}

/// One second of a sine at `hz` as a WAV file (8 kHz mono, 16-bit).
fn wav(hz: f64) -> Vec<u8> {
    let samples: Vec<i16> = (0..8000)
        .map(|i| ((std::f64::consts::TAU * hz * f64::from(i) / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data = u32::try_from(samples.len() * 2).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// A voice URL app on 127.0.0.1: answers every POST to `/voice` with
/// `status` and `body`, and serves `/tone/{hz}` as a one-second WAV.
async fn voice_app(
    status: StatusCode,
    body: &'static str,
) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tone = |axum::extract::Path(hz): axum::extract::Path<u32>| async move {
        ([("content-type", "audio/wav")], wav(f64::from(hz)))
    };
    let app =
        axum::Router::new()
            .route("/tone/{hz}", axum::routing::get(tone).post(tone))
            .route(
                "/voice",
                axum::routing::post(
                    move |headers: HeaderMap,
                          axum::extract::Form(params): axum::extract::Form<
                        Vec<(String, String)>,
                    >| {
                        let tx = tx.clone();
                        async move {
                            let signature = headers
                                .get("x-twilio-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let _ = tx.send(Hit { signature, params });
                            (status, [("content-type", "text/xml")], body)
                        }
                    },
                ),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/voice", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn add_number(rig: &Rig, number: &str, url: &str) {
    let now = SystemClock.now();
    rig.store
        .insert_phone_number(&PhoneNumber {
            sid: server::ids::phone_number_sid(),
            account_sid: rig.account.sid.clone(),
            phone_number: number.to_owned(),
            voice_url: url.to_owned(),
            voice_method: HttpMethod::Post,
            date_created: now,
            date_updated: now,
        })
        .await
        .unwrap();
}

fn param<'a>(hit: &'a Hit, name: &str) -> &'a str {
    hit.params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

async fn next_hit(hits: &mut mpsc::UnboundedReceiver<Hit>) -> Hit {
    tokio::time::timeout(DEADLINE, hits.recv())
        .await
        .expect("the voice URL was not requested")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_runs_its_signed_voice_url_and_hears_completed_at_the_end() {
    let rig = Rig::new((41100, 41199), false).await;
    let (url, mut hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial><Conference beep=\"false\">web</Conference></Dial></Response>",
    )
    .await;
    add_number(&rig, "5551234", &url).await;
    let phone = Phone::dial(rig.sip, "5551234", "4158675309", 400.0)
        .await
        .unwrap();

    let hit = next_hit(&mut hits).await;
    let expected = twiml::webhook::signature(
        &rig.account.auth_token,
        &url,
        hit.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    assert_eq!(hit.signature, expected, "{hit:?}");
    assert_eq!(param(&hit, "AccountSid"), rig.account.sid.as_str());
    assert_eq!(param(&hit, "Caller"), "4158675309");
    assert_eq!(param(&hit, "Called"), "5551234");
    assert_eq!(param(&hit, "CallStatus"), "in-progress");
    let call = param(&hit, "CallSid").to_owned();
    assert_eq!(param(&hit, "CallGuid"), call);

    // The TwiML put the caller in "web" (init: one caller waits alone).
    let deadline = Instant::now() + DEADLINE;
    loop {
        let names = rig
            .column(
                &format!("{}/Conferences?Status=0", rig.base()),
                "FriendlyName",
            )
            .await;
        if names == ["web"] {
            break;
        }
        assert!(Instant::now() < deadline, "no room 'web': {names:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Alone in an init room, the caller hears the built-in hold music.
    phone.until_heard("hold music", |s| rms(s) > 300.0).await;
    let row = rig.call_row(&call, |_| true).await;
    assert_eq!(row.status, CallStatus::InProgress);
    assert!(row.phone_number_sid.is_some());

    phone.hang_up().await;
    let hit = next_hit(&mut hits).await;
    assert_eq!(param(&hit, "CallStatus"), "completed");
    assert_eq!(param(&hit, "CallSid"), call);
    let row = rig
        .call_row(&call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    assert_eq!(row.failure, None);
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_voice_url_ends_the_call_and_the_record_says_why() {
    let rig = Rig::new((41200, 41299), false).await;
    let (url, mut hits) = voice_app(StatusCode::INTERNAL_SERVER_ERROR, "oops").await;
    add_number(&rig, "5550500", &url).await;
    let mut phone = Phone::dial(rig.sip, "5550500", "bob", 400.0).await.unwrap();
    let call = param(&next_hit(&mut hits).await, "CallSid").to_owned();
    // The error tone, then the server hangs up.
    phone.expect_bye().await;
    let heard = phone.heard_since(0);
    assert!(
        tone_fraction(&heard, media::tone::ERROR_TONE_HZ[0]) > 0.05,
        "no error tone heard"
    );
    let row = rig
        .call_row(&call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::FailedApplicationError);
    let failure = row.failure.unwrap();
    assert!(failure.contains("500"), "{failure}");
    // The server goes on: a call to nobody is refused (open rooms are off).
    assert_eq!(
        Phone::dial(rig.sip, "nobody", "bob", 400.0).await.err(),
        Some(404)
    );
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hangs_up_every_call() {
    let rig = Rig::new((41300, 41399), true).await;
    let mut phone = Phone::dial(rig.sip, "standup", "carol", 400.0)
        .await
        .unwrap();
    rig.room_with_status("standup", "0").await;
    rig.server.stop().await;
    phone.expect_bye().await;
}

impl Rig {
    async fn room_with_status(&self, name: &str, status: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let names = self
                .column(
                    &format!("{}/Conferences?Status={status}", self.base()),
                    "FriendlyName",
                )
                .await;
            if names.iter().any(|n| n == name) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no room {name} with status {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn say_and_play_reach_the_caller_then_the_script_hangs_up() {
    let rig = Rig::new((41400, 41499), false).await;
    let (url, mut hits) = voice_app(
        StatusCode::OK,
        "<Response><Say>Welcome to confab</Say><Play>tone/1000</Play><Hangup/></Response>",
    )
    .await;
    add_number(&rig, "5550001", &url).await;
    let mut phone = Phone::dial(rig.sip, "5550001", "dave", 400.0)
        .await
        .unwrap();
    let call = param(&next_hit(&mut hits).await, "CallSid").to_owned();
    phone.expect_bye().await;
    let heard = phone.heard_since(0);
    // Speech first (espeak-ng), then one second of the 1 kHz file.
    let split = heard.len().saturating_sub(8000 + 8 * 200);
    let (speech, tail) = heard.split_at(split);
    assert!(rms(speech) > 300.0, "no speech heard: rms {}", rms(speech));
    assert!(tone_fraction(speech, 1000.0) < 0.2);
    assert!(
        tone_fraction(tail, 1000.0) > 0.5,
        "the <Play> file was not heard"
    );
    let row = rig
        .call_row(&call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!((row.status, row.failure), (CallStatus::Complete, None));
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_url_plays_until_the_room_starts_and_star_leaves_the_room() {
    let rig = Rig::new((41500, 41599), true).await;
    let (url, _hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial hangupOnStar=\"true\"><Conference waitUrl=\"tone/1000\" \
         waitMethod=\"GET\" beep=\"false\">moderated</Conference></Dial></Response>",
    )
    .await;
    add_number(&rig, "5550002", &url).await;
    let mut erin = Phone::dial(rig.sip, "5550002", "erin", 400.0)
        .await
        .unwrap();
    // Alone: the waitUrl's audio, looped (fetched again each time it ends).
    erin.until_heard("the waitUrl's 1 kHz", |s| tone_fraction(s, 1000.0) > 0.6)
        .await;
    let mark = erin.heard_len();
    let deadline = Instant::now() + DEADLINE;
    while erin.heard_len() < mark + 8 * 1500 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let later = erin.heard_since(mark + 8 * 1200);
    assert!(
        tone_fraction(&later, 1000.0) > 0.6,
        "the wait audio did not loop"
    );

    // A second caller starts the room: the wait audio stops, they talk.
    let frank = Phone::dial(rig.sip, "5550002", "frank", 700.0)
        .await
        .unwrap();
    erin.until_heard("erin hears frank", hears(700.0, 1000.0))
        .await;
    frank
        .until_heard("frank hears erin", hears(400.0, 700.0))
        .await;

    // Erin presses *: she leaves the room; nothing follows her <Dial>: BYE.
    erin.press(10);
    erin.expect_bye().await;
    let (cf, calls) = rig.room_with("moderated", 1).await;
    assert_eq!(calls.len(), 1, "{cf}");
    frank.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_hold_is_neither_heard_nor_sent_audio_until_resumed() {
    let rig = Rig::new((41600, 41699), true).await;
    let mut alice = Phone::dial(rig.sip, "holdroom", "alice", 400.0)
        .await
        .unwrap();
    let bob = Phone::dial(rig.sip, "holdroom", "bob", 700.0)
        .await
        .unwrap();
    alice
        .until_heard("alice hears bob", hears(700.0, 400.0))
        .await;
    bob.until_heard("bob hears alice", hears(400.0, 700.0))
        .await;

    alice.reinvite("sendonly").await;
    bob.until_heard("bob no longer hears alice", |s| rms(s) < 50.0)
        .await;
    let mark = alice.heard_len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sent = alice.heard_len() - mark;
    assert!(
        sent <= 8 * 60,
        "a held call was sent {} ms of audio",
        sent / 8
    );

    alice.reinvite("sendrecv").await;
    bob.until_heard("bob hears alice again", hears(400.0, 700.0))
        .await;
    alice
        .until_heard("alice hears bob again", hears(700.0, 400.0))
        .await;
    alice.hang_up().await;
    bob.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dial_time_limit_takes_the_caller_out() {
    let rig = Rig::new((41700, 41799), false).await;
    let (url, _hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial timeLimit=\"1\"><Conference>short</Conference></Dial></Response>",
    )
    .await;
    add_number(&rig, "5550003", &url).await;
    let started = Instant::now();
    let mut phone = Phone::dial(rig.sip, "5550003", "gina", 400.0)
        .await
        .unwrap();
    phone.expect_bye().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "out after {took:?}");
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kick_or_a_full_room_the_script_goes_on_with_the_callers_audio() {
    let rig = Rig::with_capacity((41800, 41899), false, 2).await;
    let (url, _hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial><Conference beep=\"false\">pair</Conference></Dial>\
         <Play>tone/1000</Play></Response>",
    )
    .await;
    add_number(&rig, "5550004", &url).await;
    let mut hana = Phone::dial(rig.sip, "5550004", "hana", 400.0)
        .await
        .unwrap();
    let ivan = Phone::dial(rig.sip, "5550004", "ivan", 700.0)
        .await
        .unwrap();
    let (cf, calls) = rig.room_with("pair", 2).await;
    hana.until_heard("hana hears ivan", hears(700.0, 400.0))
        .await;

    // The room is full: a third caller's <Dial> fails and the <Play> runs.
    let mut jo = Phone::dial(rig.sip, "5550004", "jo", 550.0).await.unwrap();
    jo.expect_bye().await;
    let heard = jo.heard_since(0);
    assert!(
        tone_fraction(&heard, 1000.0) > 0.5,
        "the full room's caller did not get the <Play>"
    );

    // Kicked, hana's <Dial> ends: she hears the <Play> on her own leg, then BYE.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let (status, _) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mark = hana.heard_len();
    hana.expect_bye().await;
    let after = hana.heard_since(mark);
    assert!(
        tone_fraction(&after, 1000.0) > 0.5,
        "the kicked caller did not get the <Play>"
    );
    ivan.hang_up().await;
    rig.server.stop().await;
}
