//! The phone's SDP: an audio offer it writes, and the answer's few facts it needs.
//!
//! Like [`crate::message`], this is deliberately not confab's `sip::sdp`: the
//! offer is a format string and the answer is read line by line (RFC 8866
//! `c=`, `m=`, `a=rtpmap`, and the direction attributes of RFC 3264 §5.1).

use std::net::{IpAddr, SocketAddr};

use media::Codec;

/// A media direction attribute (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (also what no attribute means).
    SendRecv,
    /// `a=sendonly`: the writer sends and will not listen.
    SendOnly,
    /// `a=recvonly`: the writer listens and will not send.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute's name, as written after `a=`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(attr: &str) -> Option<Self> {
        Some(match attr {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }
}

/// What the phone offers: the `m=audio` format list and the attribute lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    pub formats: String,
    pub attributes: Vec<String>,
    /// A delayed offer: the INVITE has no SDP, the server's 200 carries
    /// its offer, and this description goes in the ACK as the answer.
    pub delayed: bool,
}

impl Offer {
    /// One codec plus telephone-event 101, 20 ms packets.
    pub fn audio(codec: Codec) -> Self {
        let pt = codec.payload_type();
        let name = match codec {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
        };
        Self {
            formats: format!("{pt} 101"),
            attributes: vec![
                format!("a=rtpmap:{pt} {name}/8000"),
                "a=rtpmap:101 telephone-event/8000".into(),
                "a=fmtp:101 0-16".into(),
                "a=ptime:20".into(),
            ],
            delayed: false,
        }
    }

    /// The session description, with `direction` appended unless the
    /// attributes already carry one.
    pub fn render(&self, rtp: SocketAddr, session_version: u64, direction: Direction) -> String {
        let ip_kind = if rtp.is_ipv4() { "IP4" } else { "IP6" };
        let ip = rtp.ip();
        let mut sdp = format!(
            "v=0\r\no=testkit 4711 {session_version} IN {ip_kind} {ip}\r\ns=testkit\r\n\
             c=IN {ip_kind} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n",
            port = rtp.port(),
            formats = self.formats,
        );
        let mut has_direction = false;
        for attr in &self.attributes {
            has_direction |= attr.strip_prefix("a=").and_then(Direction::parse).is_some();
            sdp.push_str(attr);
            sdp.push_str("\r\n");
        }
        if !has_direction {
            sdp.push_str("a=");
            sdp.push_str(direction.as_str());
            sdp.push_str("\r\n");
        }
        sdp
    }
}

/// What the phone needs from an SDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Where to send RTP: the audio stream's connection address and port.
    pub rtp: SocketAddr,
    /// The first G.711 payload type in the audio stream's format list.
    pub codec: Codec,
    /// Its number: the static 0 or 8, or what an `a=rtpmap` maps to G.711.
    pub payload_type: u8,
    /// The telephone-event payload type, if the answer kept one.
    pub telephone_event: Option<u8>,
    /// The audio stream's direction (media level, else session level, else sendrecv).
    pub direction: Direction,
}

/// Why an answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError(pub String);

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Answer {
    /// Reads the first `m=audio` stream of an SDP body.
    pub fn parse(body: &[u8]) -> Result<Self, AnswerError> {
        let text = std::str::from_utf8(body).map_err(|_| AnswerError("SDP is not UTF-8".into()))?;
        let mut session_ip: Option<IpAddr> = None;
        let mut session_dir: Option<Direction> = None;
        // The audio stream being read, then whether we are past it.
        let mut audio: Option<AudioStream> = None;
        let mut in_audio = false;
        for line in text.lines().map(str::trim_end) {
            let Some((kind, value)) = line.split_once('=') else {
                continue;
            };
            match kind {
                "m" => {
                    if audio.is_some() {
                        in_audio = false; // only the first audio stream counts
                        continue;
                    }
                    let mut parts = value.split_whitespace();
                    if parts.next() == Some("audio") {
                        let port = parts.next().and_then(|p| p.split('/').next()?.parse().ok());
                        let _proto = parts.next();
                        let formats = parts.filter_map(|f| f.parse().ok()).collect();
                        audio = Some(AudioStream {
                            port: port
                                .ok_or_else(|| AnswerError(format!("bad m= line {line:?}")))?,
                            formats,
                            ip: None,
                            direction: None,
                            telephone_event: None,
                            g711: Vec::new(),
                        });
                        in_audio = true;
                    } else {
                        in_audio = false;
                    }
                }
                "c" => {
                    let ip = parse_connection(value)
                        .ok_or_else(|| AnswerError(format!("bad c= line {line:?}")))?;
                    match (&mut audio, in_audio) {
                        (Some(a), true) => a.ip = Some(ip),
                        (None, _) => session_ip = Some(ip),
                        _ => {}
                    }
                }
                "a" => {
                    let dir = Direction::parse(value);
                    match (&mut audio, in_audio) {
                        (Some(a), true) => {
                            if dir.is_some() {
                                a.direction = dir;
                            }
                            if let Some(pt) = telephone_event_pt(value) {
                                a.telephone_event = Some(pt);
                            }
                            if let Some(map) = g711_rtpmap(value) {
                                a.g711.push(map);
                            }
                        }
                        (None, _) if dir.is_some() => session_dir = dir,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let audio = audio.ok_or_else(|| AnswerError("no m=audio stream".into()))?;
        if audio.port == 0 {
            return Err(AnswerError("the audio stream was refused (port 0)".into()));
        }
        let (payload_type, codec) = audio
            .formats
            .iter()
            .find_map(|&pt| {
                let mapped = audio.g711.iter().find(|(p, _)| *p == pt).map(|(_, c)| *c);
                mapped
                    .or_else(|| Codec::from_payload_type(pt))
                    .map(|c| (pt, c))
            })
            .ok_or_else(|| AnswerError(format!("no PCMU/PCMA in {:?}", audio.formats)))?;
        let ip = audio
            .ip
            .or(session_ip)
            .ok_or_else(|| AnswerError("no c= line".into()))?;
        Ok(Self {
            rtp: SocketAddr::new(ip, audio.port),
            codec,
            payload_type,
            telephone_event: audio
                .telephone_event
                .filter(|pt| audio.formats.contains(pt)),
            direction: audio
                .direction
                .or(session_dir)
                .unwrap_or(Direction::SendRecv),
        })
    }
}

struct AudioStream {
    port: u16,
    formats: Vec<u8>,
    ip: Option<IpAddr>,
    direction: Option<Direction>,
    telephone_event: Option<u8>,
    /// `a=rtpmap` lines naming PCMU or PCMA.
    g711: Vec<(u8, Codec)>,
}

/// `IN IP4 127.0.0.1` → the address (a multicast TTL suffix is dropped).
fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("IN"), Some("IP4" | "IP6"), Some(addr)) => addr.split('/').next()?.parse().ok(),
        _ => None,
    }
}

/// `rtpmap:98 PCMU/8000` → (98, PCMU).
fn g711_rtpmap(attr: &str) -> Option<(u8, Codec)> {
    let (pt, encoding) = attr
        .strip_prefix("rtpmap:")?
        .split_once(char::is_whitespace)?;
    let codec = match encoding.trim() {
        e if e.eq_ignore_ascii_case("PCMU/8000") => Codec::Pcmu,
        e if e.eq_ignore_ascii_case("PCMA/8000") => Codec::Pcma,
        _ => return None,
    };
    Some((pt.trim().parse().ok()?, codec))
}

/// `rtpmap:101 telephone-event/8000` → 101.
fn telephone_event_pt(attr: &str) -> Option<u8> {
    let (pt, encoding) = attr
        .strip_prefix("rtpmap:")?
        .split_once(char::is_whitespace)?;
    let name = encoding.split('/').next()?;
    name.eq_ignore_ascii_case("telephone-event")
        .then(|| pt.trim().parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn offer_lists_the_codec_and_telephone_event() {
        let sdp = Offer::audio(Codec::Pcma).render(
            "127.0.0.1:40000".parse().unwrap(),
            2,
            Direction::SendOnly,
        );
        assert!(sdp.starts_with("v=0\r\no=testkit 4711 2 IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("m=audio 40000 RTP/AVP 8 101\r\n"));
        assert!(sdp.contains("a=rtpmap:8 PCMA/8000\r\n"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(sdp.ends_with("a=sendonly\r\n"));
        let custom = Offer {
            formats: "18".into(),
            attributes: vec!["a=rtpmap:18 G729/8000".into(), "a=inactive".into()],
            delayed: false,
        }
        .render("127.0.0.1:1".parse().unwrap(), 1, Direction::SendRecv);
        assert!(custom.ends_with("a=inactive\r\n"), "{custom}");
    }

    #[test]
    fn reads_an_answer() {
        let a = Answer::parse(
            b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=recvonly\r\n\
              m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        )
        .unwrap();
        assert_eq!(a.rtp, "127.0.0.1:30000".parse().unwrap());
        assert_eq!(a.codec, Codec::Pcma);
        assert_eq!(a.telephone_event, Some(101));
        assert_eq!(a.direction, Direction::RecvOnly);
    }

    #[test]
    fn media_level_wins_and_later_streams_are_ignored() {
        let a = Answer::parse(
            b"v=0\nc=IN IP4 192.0.2.1\na=sendrecv\nm=video 9 RTP/AVP 96\nc=IN IP4 192.0.2.9\n\
              m=audio 7078 RTP/AVP 0\nc=IN IP4 127.0.0.2\na=inactive\n\
              m=audio 9999 RTP/AVP 8\nc=IN IP4 192.0.2.3\na=sendonly\n",
        )
        .unwrap();
        assert_eq!(a.rtp, "127.0.0.2:7078".parse().unwrap());
        assert_eq!(a.codec, Codec::Pcmu);
        assert_eq!(a.telephone_event, None);
        assert_eq!(a.direction, Direction::Inactive);
    }

    #[test]
    fn refuses_unusable_answers() {
        for bad in [
            &b"v=0\r\nc=IN IP4 127.0.0.1\r\n"[..],
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n",
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 18\r\n",
            b"v=0\r\nm=audio 5000 RTP/AVP 0\r\n",
            b"v=0\r\nc=IN IP4 nonsense\r\nm=audio 5000 RTP/AVP 0\r\n",
            b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio x RTP/AVP 0\r\n",
            &[0xff, 0xfe],
        ] {
            assert!(Answer::parse(bad).is_err(), "{bad:?}");
        }
    }
}
