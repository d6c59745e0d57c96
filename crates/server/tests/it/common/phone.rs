//! A scripted SIP phone for the end-to-end call tests: INVITE with a
//! one-codec offer (PCMU or PCMA, plus telephone-event) over UDP or one TCP
//! connection, ACK, a tone out every 20 ms, everything heard recorded with
//! the instant each packet arrived, BYE either way. Only what the tests need;
//! it shares no code with the server's SIP stack on purpose.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::goertzel::rms;
use media::{Codec, tone_fraction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long any one wait of a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// Samples in one 20 ms packet.
pub const FRAME: usize = 160;

/// How the phone reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// The one audio codec offered (and so the one the server must send).
    pub codec: Codec,
    /// SIP over one TCP connection instead of UDP.
    pub tcp: bool,
}

impl Line {
    pub const UDP: Line = Line {
        codec: Codec::Pcmu,
        tcp: false,
    };
    pub const PCMA: Line = Line {
        codec: Codec::Pcma,
        tcp: false,
    };
    pub const TCP: Line = Line {
        codec: Codec::Pcmu,
        tcp: true,
    };
}

/// Where our SIP messages go.
enum Link {
    Udp(Arc<UdpSocket>, SocketAddr),
    /// Bytes for the connection's writer task.
    Tcp(mpsc::UnboundedSender<Vec<u8>>),
}

impl Link {
    async fn send(&self, bytes: &[u8]) {
        match self {
            Link::Udp(socket, to) => {
                socket.send_to(bytes, to).await.unwrap();
            }
            // A closed connection loses the message, as it would on a real phone.
            Link::Tcp(tx) => {
                let _ = tx.send(bytes.to_vec());
            }
        }
    }
}

/// What was heard: decoded samples, and where each packet started and when
/// it arrived.
#[derive(Default)]
struct Recording {
    samples: Vec<i16>,
    packets: Vec<(Instant, usize)>,
}

pub struct Phone {
    link: Link,
    local: SocketAddr,
    server: SocketAddr,
    user: String,
    caller: String,
    call_id: String,
    from_tag: String,
    to_tag: String,
    codec: Codec,
    /// SIP requests the server sent us (BYE), already answered 200.
    requests: mpsc::UnboundedReceiver<String>,
    responses: mpsc::UnboundedReceiver<String>,
    heard: Arc<Mutex<Recording>>,
    /// A key to press (RFC 4733 event code), sent by the RTP sender.
    key: Arc<Mutex<Option<u8>>>,
    /// The SIP reader (and, over TCP, writer) and the two RTP tasks.
    sip_tasks: Vec<JoinHandle<()>>,
    rtp_tasks: Vec<JoinHandle<()>>,
    rtp_port: u16,
    /// Our last CSeq in the dialog.
    cseq: u32,
}

pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

pub fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

pub fn random() -> u64 {
    u64::from_le_bytes(server::ids::random_bytes()[..8].try_into().unwrap())
}

/// Our 200 to a request from the server: its transaction headers copied.
fn ok_to(request: &str) -> String {
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for line in request.lines().filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        }) {
            ok.push_str(line);
            ok.push_str("\r\n");
        }
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    ok
}

/// One whole message at the start of `buf` (after any keep-alive CRLFs):
/// its length, or `None` if more bytes are needed.
fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let rest = &buf[skip..];
    let end = rest.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&rest[..end]).ok()?;
    let body = header(head, "Content-Length")
        .or_else(|| header(head, "l"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    (rest.len() >= end + body).then_some((skip, end + body))
}

/// Sorts what the server sent: responses to `responses`; requests are
/// answered 200 through `answer` and passed to `requests`.
fn route(
    text: String,
    responses: &mpsc::UnboundedSender<String>,
    requests: &mpsc::UnboundedSender<String>,
) -> Option<String> {
    if text.starts_with("SIP/2.0") {
        let _ = responses.send(text);
        None
    } else if text.trim().is_empty() || text.starts_with("ACK ") {
        None
    } else {
        let ok = ok_to(&text);
        let _ = requests.send(text);
        Some(ok)
    }
}

impl Phone {
    /// Dials `user` over UDP offering PCMU; see [`Phone::dial_on`].
    pub async fn dial(
        server: SocketAddr,
        user: &str,
        caller: &str,
        tone_hz: f64,
    ) -> Result<Phone, u16> {
        Self::dial_on(Line::UDP, server, user, caller, tone_hz).await
    }

    /// Dials `user` at the server and waits for the final response: Ok once
    /// the call is up (ACK sent, tone `tone_hz` flowing; 0 is silence),
    /// Err(status) if refused.
    pub async fn dial_on(
        line: Line,
        server: SocketAddr,
        user: &str,
        caller: &str,
        tone_hz: f64,
    ) -> Result<Phone, u16> {
        let (resp_tx, mut responses) = mpsc::unbounded_channel();
        let (req_tx, requests) = mpsc::unbounded_channel();
        let mut sip_tasks = Vec::new();
        let (link, local) = if line.tcp {
            let stream = TcpStream::connect(server).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let local = stream.local_addr().unwrap();
            let (mut read, mut write) = stream.into_split();
            let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
            sip_tasks.push(tokio::spawn(async move {
                while let Some(bytes) = out_rx.recv().await {
                    if write.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            }));
            let answers = out_tx.clone();
            sip_tasks.push(tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 8192];
                while let Ok(n @ 1..) = read.read(&mut chunk).await {
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some((skip, len)) = frame(&buf) {
                        let text = String::from_utf8_lossy(&buf[skip..skip + len]).into_owned();
                        buf.drain(..skip + len);
                        if let Some(ok) = route(text, &resp_tx, &req_tx) {
                            let _ = answers.send(ok.into_bytes());
                        }
                    }
                }
            }));
            (Link::Tcp(out_tx), local)
        } else {
            let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let local = socket.local_addr().unwrap();
            let reader = socket.clone();
            sip_tasks.push(tokio::spawn(async move {
                let mut buf = vec![0; 65_535];
                while let Ok((n, from)) = reader.recv_from(&mut buf).await {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if let Some(ok) = route(text, &resp_tx, &req_tx) {
                        let _ = reader.send_to(ok.as_bytes(), from).await;
                    }
                }
            }));
            (Link::Udp(socket, server), local)
        };
        let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let rtp_port = rtp.local_addr().unwrap().port();
        let mut phone = Phone {
            link,
            local,
            server,
            user: user.to_owned(),
            caller: caller.to_owned(),
            call_id: format!("{:x}@test", random()),
            from_tag: format!("{:x}", random()),
            to_tag: String::new(),
            codec: line.codec,
            requests,
            responses: mpsc::unbounded_channel().1,
            heard: Arc::default(),
            key: Arc::default(),
            sip_tasks,
            rtp_tasks: Vec::new(),
            rtp_port,
            cseq: 1,
        };
        let sdp = phone.sdp(1, "sendrecv");
        let invite = format!(
            "INVITE sip:{user}@{server} SIP/2.0\r\n{}\
             From: <sip:{caller}@127.0.0.1>;tag={}\r\n\
             To: <sip:{user}@{server}>\r\n\
             Call-ID: {}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: {}\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            phone.via(),
            phone.from_tag,
            phone.call_id,
            phone.contact(),
            sdp.len()
        );
        phone.link.send(invite.as_bytes()).await;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let final_response = loop {
            let r = tokio::time::timeout_at(deadline, responses.recv())
                .await
                .expect("no final response to the INVITE")
                .expect("the SIP connection closed");
            if status(&r).is_some_and(|s| s >= 200) {
                break r;
            }
        };
        phone.responses = responses;
        let code = status(&final_response).unwrap();
        let to = header(&final_response, "To").unwrap();
        phone.to_tag = to.split(";tag=").nth(1).unwrap_or_default().to_owned();
        if code >= 300 {
            // A failure's ACK is hop-by-hop; the engine matches it to the INVITE.
            return Err(code);
        }
        let ack = phone.in_dialog("ACK", 1, "");
        phone.link.send(ack.as_bytes()).await;
        // Where the server wants RTP: the answer's c= and m= lines.
        let body = final_response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .unwrap()
            .trim()
            .to_owned();
        let m = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .unwrap()
            .to_owned();
        let mut fields = m.split_whitespace();
        let port: u16 = fields.next().unwrap().parse().unwrap();
        let formats: Vec<&str> = fields.skip(1).collect();
        let pt = line.codec.payload_type().to_string();
        assert_eq!(
            formats.first(),
            Some(&pt.as_str()),
            "the answer's first format is not the one codec offered: {m}"
        );
        let media_to: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        phone.rtp_tasks = vec![
            tokio::spawn(send_rtp(
                rtp.clone(),
                media_to,
                line.codec,
                phone.key.clone(),
                tone_hz,
            )),
            tokio::spawn(record_rtp(rtp, line.codec, phone.heard.clone())),
        ];
        Ok(phone)
    }

    fn via(&self) -> String {
        let transport = match self.link {
            Link::Udp(..) => "UDP",
            Link::Tcp(_) => "TCP",
        };
        format!(
            "Via: SIP/2.0/{transport} {};branch=z9hG4bK{:x};rport\r\nMax-Forwards: 70\r\n",
            self.local,
            random()
        )
    }

    fn contact(&self) -> String {
        match self.link {
            Link::Udp(..) => format!("<sip:{}@{}>", self.caller, self.local),
            Link::Tcp(_) => format!("<sip:{}@{};transport=tcp>", self.caller, self.local),
        }
    }

    fn sdp(&self, version: u32, direction: &str) -> String {
        let (pt, name) = match self.codec {
            Codec::Pcmu => (0, "PCMU"),
            Codec::Pcma => (8, "PCMA"),
        };
        format!(
            "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
             a={direction}\r\n",
            self.rtp_port
        )
    }

    /// A request in our dialog (`extra` is more header lines and the body).
    fn in_dialog(&self, method: &str, cseq: u32, extra: &str) -> String {
        let extra = if extra.is_empty() {
            "Content-Length: 0\r\n\r\n"
        } else {
            extra
        };
        format!(
            "{method} sip:{user}@{server} SIP/2.0\r\n{}\
             From: <sip:{}@127.0.0.1>;tag={}\r\n\
             To: <sip:{user}@{server}>;tag={}\r\n\
             Call-ID: {}\r\n\
             CSeq: {cseq} {method}\r\n{extra}",
            self.via(),
            self.caller,
            self.from_tag,
            self.to_tag,
            self.call_id,
            user = self.user,
            server = self.server,
        )
    }

    /// Waits for the final response to our request `cseq` `method`.
    async fn final_response(&mut self, cseq: u32, method: &str) -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let want = format!("{cseq} {method}");
        loop {
            let r = tokio::time::timeout_at(deadline, self.responses.recv())
                .await
                .unwrap_or_else(|_| panic!("no answer to our {method}"))
                .expect("the SIP connection closed");
            if header(&r, "CSeq") == Some(want.as_str()) && status(&r).is_some_and(|s| s >= 200) {
                return r;
            }
        }
    }

    pub fn heard_len(&self) -> usize {
        self.heard.lock().unwrap().samples.len()
    }

    /// What was heard from sample `from` on.
    pub fn heard_since(&self, from: usize) -> Vec<i16> {
        self.heard
            .lock()
            .unwrap()
            .samples
            .get(from..)
            .unwrap_or_default()
            .to_vec()
    }

    /// The last `ms` milliseconds heard.
    pub fn recent(&self, ms: usize) -> Vec<i16> {
        let heard = self.heard.lock().unwrap();
        let n = (ms * 8).min(heard.samples.len());
        heard.samples[heard.samples.len() - n..].to_vec()
    }

    /// Waits until the last 200 ms heard satisfy `check`.
    pub async fn until_heard(&self, what: &str, check: impl Fn(&[i16]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let recent = self.recent(200);
            if recent.len() == 1600 && check(&recent) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never heard; last 200 ms: rms {:.0}, {}",
                rms(&recent),
                describe(&recent)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `ms` of audio arrived after `since`, and returns the
    /// packets that arrived from `since` on, each with its arrival instant.
    pub async fn packets_after(&self, since: Instant, ms: usize) -> Vec<(Instant, Vec<i16>)> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let packets: Vec<(Instant, Vec<i16>)> = {
                let heard = self.heard.lock().unwrap();
                let first = heard.packets.partition_point(|(at, _)| *at < since);
                let starts = &heard.packets[first..];
                starts
                    .iter()
                    .enumerate()
                    .map(|(i, &(at, start))| {
                        let end = starts.get(i + 1).map_or(heard.samples.len(), |p| p.1);
                        (at, heard.samples[start..end].to_vec())
                    })
                    .collect()
            };
            let samples: usize = packets.iter().map(|(_, p)| p.len()).sum();
            if samples >= ms * 8 {
                return packets;
            }
            assert!(
                Instant::now() < deadline,
                "only {} ms heard after the mark",
                samples / 8
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `ms` more milliseconds were heard after sample `mark`
    /// and returns them.
    pub async fn listen_from(&self, mark: usize, ms: usize) -> Vec<i16> {
        let deadline = Instant::now() + DEADLINE;
        while self.heard_len() < mark + ms * 8 {
            assert!(
                Instant::now() < deadline,
                "the phone stopped hearing anything"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut heard = self.heard_since(mark);
        heard.truncate(ms * 8);
        heard
    }

    /// Sends a re-INVITE whose offer has `direction` (`sendonly` puts the
    /// call on hold, `sendrecv` takes it off), waits for its 200 and ACKs.
    pub async fn reinvite(&mut self, direction: &str) {
        self.cseq += 1;
        let sdp = self.sdp(self.cseq, direction);
        let extra = format!(
            "Contact: {}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            self.contact(),
            sdp.len()
        );
        let invite = self.in_dialog("INVITE", self.cseq, &extra);
        self.link.send(invite.as_bytes()).await;
        let r = self.final_response(self.cseq, "INVITE").await;
        assert_eq!(status(&r), Some(200), "{r}");
        let ack = self.in_dialog("ACK", self.cseq, "");
        self.link.send(ack.as_bytes()).await;
    }

    /// Presses a key (RFC 4733 event code: 10 is `*`).
    pub fn press(&self, event: u8) {
        *self.key.lock().unwrap() = Some(event);
    }

    pub async fn expect_bye(&mut self) {
        let request = tokio::time::timeout(DEADLINE, self.requests.recv())
            .await
            .expect("no BYE from the server")
            .unwrap();
        assert!(request.starts_with("BYE "), "{request}");
    }

    /// Hangs up with a BYE and waits for its 200.
    pub async fn hang_up(mut self) {
        self.cseq += 1;
        let bye = self.in_dialog("BYE", self.cseq, "");
        self.link.send(bye.as_bytes()).await;
        let r = self.final_response(self.cseq, "BYE").await;
        assert_eq!(status(&r), Some(200), "{r}");
    }

    /// The phone dies: its SIP connection (or socket) closes without a
    /// BYE and its media stops.
    pub fn crash(&mut self) {
        for task in self.sip_tasks.drain(..).chain(self.rtp_tasks.drain(..)) {
            task.abort();
        }
        // Dropping the writer's channel lets its half of the stream go too.
        self.link = Link::Tcp(mpsc::unbounded_channel().0);
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        for task in self.sip_tasks.iter().chain(&self.rtp_tasks) {
            task.abort();
        }
    }
}

/// Every 20 ms: one packet of the phone's tone (or of a key being pressed).
async fn send_rtp(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    codec: Codec,
    key: Arc<Mutex<Option<u8>>>,
    hz: f64,
) {
    let ssrc = random() as u32;
    let (mut seq, mut ts) = (random() as u16, random() as u32);
    let mut phase = 0.0f64;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
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
        let mut packet = vec![0x80, codec.payload_type()];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&ts.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        for _ in 0..FRAME {
            let sample = (phase.sin() * 8000.0) as i16;
            phase += std::f64::consts::TAU * hz / 8000.0;
            packet.push(codec.encode(sample));
        }
        phase %= std::f64::consts::TAU;
        let _ = socket.send_to(&packet, to).await;
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
}

/// Records every packet of `codec` that comes in, with when it came. A
/// packet of another payload type is not audio the phone can play: dropped.
async fn record_rtp(socket: Arc<UdpSocket>, codec: Codec, heard: Arc<Mutex<Recording>>) {
    let mut buf = vec![0u8; 2048];
    loop {
        // Linux reports an ICMP "port unreachable" for an earlier send here.
        let Ok((n, _)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let at = Instant::now();
        if n > 12 && buf[1] & 0x7f == codec.payload_type() {
            let mut heard = heard.lock().unwrap();
            let start = heard.samples.len();
            heard.packets.push((at, start));
            heard
                .samples
                .extend(buf[12..n].iter().map(|&b| codec.decode(b)));
        }
    }
}

/// The probe tones' shares of `samples`, for failure messages.
pub fn describe(samples: &[i16]) -> String {
    [400.0, 440.0, 700.0, 1000.0, 1100.0, 659.25, 880.0]
        .iter()
        .map(|&hz| format!("{hz} Hz {:.2}", tone_fraction(samples, hz)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hears `hz` and not `not_hz`.
pub fn hears(hz: f64, not_hz: f64) -> impl Fn(&[i16]) -> bool {
    move |s| tone_fraction(s, hz) > 0.6 && tone_fraction(s, not_hz) < 0.05
}
