//! SDP offer/answer for one audio stream (RFC 4566, RFC 3264): G.722,
//! PCMU or PCMA.
//!
//! [`SessionDescription::parse`] reads an offer tolerantly (unknown lines
//! and attributes are skipped; a broken `m=` or `c=` line is an error,
//! because the answer must mirror the offer's streams). [`negotiate`]
//! picks the first usable `m=audio` stream and its codec: G.722 wherever
//! the offer lists it (wideband beats the offerer's order: a phone lists
//! what it can, often G.711 first for old peers, and we mix at 16 kHz),
//! else PCMU or PCMA in the offerer's order of preference; plus
//! telephone-event if offered, into a [`NegotiatedAudio`]. [`answer`] writes the answer: the chosen stream
//! with our address and port, every other stream rejected with port 0.
//!
//! The codec is [`media::Codec`], the one codec enum confab has: the SDP
//! names it, the media core encodes and decodes it. Our own offers (a
//! delayed offer, a re-INVITE without SDP) still list PCMU and PCMA only.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use media::Codec;

/// The most `m=` sections an offer may have (the answer repeats each).
pub const MAX_STREAMS: usize = 16;
/// The most formats one `m=` line may list.
pub const MAX_FORMATS: usize = 64;

/// Why an offer cannot be answered. The engine answers 488 to all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(&'static str),
    #[error("no audio stream offered")]
    NoAudio,
    #[error("no common audio codec (PCMU or PCMA)")]
    NoCommonCodec,
    #[error("the audio stream has no usable connection address")]
    NoConnectionAddress,
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The session-level `c=`.
    pub connection: Option<ConnectionAddress>,
    /// The session-level direction attribute.
    pub direction: Option<Direction>,
    /// The `t=` line's value, mirrored in the answer.
    pub timing: Option<String>,
    pub media: Vec<Media>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ...
    pub kind: String,
    /// 0 for a rejected or disabled stream.
    pub port: u16,
    /// `RTP/AVP`, ...
    pub proto: String,
    /// The format list (payload types for RTP), as written.
    pub formats: Vec<String>,
    pub connection: Option<ConnectionAddress>,
    pub rtpmap: Vec<RtpMap>,
    /// `a=fmtp:<pt> <params>`.
    pub fmtp: Vec<(u8, String)>,
    pub ptime: Option<u32>,
    pub direction: Option<Direction>,
    /// `a=rtcp-mux` (RFC 5761): RTCP on the RTP port.
    pub rtcp_mux: bool,
}

/// The address of a `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionAddress {
    Ip(IpAddr),
    /// A domain name: legal, but a sans-IO core cannot resolve it.
    Name(String),
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
}

/// A stream's direction, from the point of view of whoever wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// The outcome of offer/answer for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    pub codec: Codec,
    /// The payload type for `codec` (the offer's number).
    pub payload_type: u8,
    /// telephone-event's payload type, if offered (RFC 4733 DTMF).
    pub telephone_event: Option<u8>,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Our direction, as answered.
    pub direction: Direction,
    /// The offerer's `a=ptime`, if any (we always send 20 ms).
    pub remote_ptime: Option<u32>,
    /// RTCP shares the RTP port (RFC 5761): offered, so answered.
    pub rtcp_mux: bool,
}

impl NegotiatedAudio {
    /// On hold: the remote offered `sendonly` or `inactive` (or the RFC 2543
    /// `c=0.0.0.0`): the leg is neither heard nor sent audio.
    pub fn on_hold(&self) -> bool {
        matches!(self.direction, Direction::RecvOnly | Direction::Inactive)
    }
}

impl Direction {
    /// The direction that answers this one (RFC 3264 §6.1).
    pub fn answer(self) -> Self {
        match self {
            Self::SendRecv => Self::SendRecv,
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            Self::Inactive => Self::Inactive,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// What the remote's direction becomes when it also says "do not send
    /// to me" (RFC 2543 hold, `c=0.0.0.0`).
    fn without_receiving(self) -> Self {
        match self {
            Self::SendRecv | Self::SendOnly => Self::SendOnly,
            Self::RecvOnly | Self::Inactive => Self::Inactive,
        }
    }
}

/// A codec's SDP encoding name (`a=rtpmap:8 PCMA/8000`).
fn encoding_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "PCMU",
        Codec::Pcma => "PCMA",
        Codec::G722 => "G722",
    }
}

/// The codec an `a=rtpmap` names, if it is one of ours at 8 kHz (G.722's
/// RTP clock is 8000 too, RFC 3551).
fn codec_of_rtpmap(map: &RtpMap) -> Option<Codec> {
    if map.clock_rate != 8000 {
        return None;
    }
    [Codec::Pcmu, Codec::Pcma, Codec::G722]
        .into_iter()
        .find(|&c| map.encoding.eq_ignore_ascii_case(encoding_name(c)))
}

impl SessionDescription {
    /// Parses an SDP body. The first line must be `v=0`.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = String::from_utf8_lossy(body);
        let mut lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).trim_end())
            .filter(|l| !l.is_empty());
        if lines.next() != Some("v=0") {
            return Err(SdpError::Malformed("does not start with v=0"));
        }
        let mut sdp = Self {
            connection: None,
            direction: None,
            timing: None,
            media: Vec::new(),
        };
        for line in lines {
            let Some((kind, value)) = line.split_once('=') else {
                continue;
            };
            if kind == "m" && sdp.media.len() == MAX_STREAMS {
                return Err(SdpError::Malformed("too many m= lines"));
            }
            match (kind, sdp.media.last_mut()) {
                ("m", _) => sdp.media.push(parse_media_line(value)?),
                ("c", None) => sdp.connection = Some(parse_connection(value)?),
                ("c", Some(media)) => media.connection = Some(parse_connection(value)?),
                ("t", None) => sdp.timing = Some(value.to_owned()),
                ("a", None) => {
                    if let Some(direction) = Direction::from_attribute(value) {
                        sdp.direction = Some(direction);
                    }
                }
                ("a", Some(media)) => media.apply_attribute(value),
                _ => {}
            }
        }
        Ok(sdp)
    }
}

impl Media {
    fn apply_attribute(&mut self, attribute: &str) {
        if let Some(direction) = Direction::from_attribute(attribute) {
            self.direction = Some(direction);
            return;
        }
        if attribute.trim() == "rtcp-mux" {
            self.rtcp_mux = true;
            return;
        }
        let Some((name, value)) = attribute.split_once(':') else {
            return;
        };
        match name {
            "rtpmap" => {
                if let Some(map) = parse_rtpmap(value) {
                    self.rtpmap.push(map);
                }
            }
            "fmtp" => {
                let (pt, params) = value.split_once(' ').unwrap_or((value, ""));
                if let Ok(pt) = pt.parse() {
                    self.fmtp.push((pt, params.trim().to_owned()));
                }
            }
            "ptime" => self.ptime = value.trim().parse().ok(),
            _ => {}
        }
    }

    fn rtpmap_for(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtpmap.iter().find(|m| m.payload_type == payload_type)
    }

    fn is_rtp_avp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/AVP")
    }
}

fn parse_media_line(value: &str) -> Result<Media, SdpError> {
    let mut fields = value.split_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::Malformed("short m= line"));
    };
    // `<port>/<number of ports>`: the first port is the one used.
    let port = port.split('/').next().unwrap_or(port);
    let formats: Vec<String> = fields.map(str::to_owned).collect();
    if formats.len() > MAX_FORMATS {
        return Err(SdpError::Malformed("too many formats"));
    }
    Ok(Media {
        kind: kind.to_owned(),
        port: port
            .parse()
            .map_err(|_| SdpError::Malformed("bad m= port"))?,
        proto: proto.to_owned(),
        formats,
        connection: None,
        rtpmap: Vec::new(),
        fmtp: Vec::new(),
        ptime: None,
        direction: None,
        rtcp_mux: false,
    })
}

/// `IN IP4 192.0.2.1[/ttl]` or `IN IP6 2001:db8::1`.
fn parse_connection(value: &str) -> Result<ConnectionAddress, SdpError> {
    let mut fields = value.split_whitespace();
    let (Some(_net), Some(_kind), Some(address)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::Malformed("short c= line"));
    };
    let address = address.split('/').next().unwrap_or(address);
    Ok(match address.parse() {
        Ok(ip) => ConnectionAddress::Ip(ip),
        Err(_) => ConnectionAddress::Name(address.to_owned()),
    })
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.split_once(' ')?;
    let mut parts = rest.trim().split('/');
    Some(RtpMap {
        payload_type: pt.parse().ok()?,
        encoding: parts.next()?.to_owned(),
        clock_rate: parts.next()?.parse().ok()?,
    })
}

/// Picks the audio stream and codec: the first `m=audio` RTP/AVP stream
/// with a non-zero port and G.722, PCMU or PCMA among its formats; G.722
/// if offered, else the first G.711 in the offerer's order. Returns the
/// stream's index in `offer.media`.
pub fn negotiate(offer: &SessionDescription) -> Result<(usize, NegotiatedAudio), SdpError> {
    let mut saw_audio = false;
    for (index, media) in offer.media.iter().enumerate() {
        if !media.kind.eq_ignore_ascii_case("audio") || media.port == 0 || !media.is_rtp_avp() {
            continue;
        }
        saw_audio = true;
        let codecs = media
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter_map(|pt| {
                let codec = match media.rtpmap_for(pt) {
                    Some(map) => codec_of_rtpmap(map),
                    None => Codec::from_payload_type(pt),
                };
                codec.map(|c| (pt, c))
            });
        let Some((payload_type, codec)) = codecs
            .clone()
            .find(|(_, c)| c.is_wideband())
            .or_else(|| codecs.clone().next())
        else {
            continue;
        };
        let telephone_event = media
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find(|&pt| {
                media.rtpmap_for(pt).is_some_and(|m| {
                    m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000
                })
            });
        let ip = match media.connection.as_ref().or(offer.connection.as_ref()) {
            Some(ConnectionAddress::Ip(ip)) => *ip,
            _ => return Err(SdpError::NoConnectionAddress),
        };
        let mut offered = media
            .direction
            .or(offer.direction)
            .unwrap_or(Direction::SendRecv);
        if ip.is_unspecified() {
            offered = offered.without_receiving();
        }
        return Ok((
            index,
            NegotiatedAudio {
                codec,
                payload_type,
                telephone_event,
                remote: SocketAddr::new(ip, media.port),
                direction: offered.answer(),
                remote_ptime: media.ptime,
                rtcp_mux: media.rtcp_mux,
            },
        ));
    }
    Err(if saw_audio {
        SdpError::NoCommonCodec
    } else {
        SdpError::NoAudio
    })
}

/// The `o=` line's session id and version: the id stays for the whole
/// call, the version goes up by one whenever the description changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub session_id: u64,
    pub version: u64,
}

/// Writes the answer to `offer`: `audio` on stream `chosen`, sent from and
/// received at `local`, 20 ms packets; every other stream rejected.
pub fn answer(
    offer: &SessionDescription,
    chosen: usize,
    audio: &NegotiatedAudio,
    local: SocketAddr,
    origin: Origin,
) -> String {
    let mut out = session_lines(local, origin, offer.timing.as_deref());
    for (index, media) in offer.media.iter().enumerate() {
        if index != chosen {
            let _ = write!(out, "m={} 0 {}", media.kind, media.proto);
            for format in &media.formats {
                let _ = write!(out, " {format}");
            }
            out.push_str("\r\n");
            continue;
        }
        let pt = audio.payload_type;
        let _ = write!(out, "m=audio {} RTP/AVP {pt}", local.port());
        if let Some(te) = audio.telephone_event {
            let _ = write!(out, " {te}");
        }
        let _ = write!(
            out,
            "\r\na=rtpmap:{pt} {}/8000\r\n",
            encoding_name(audio.codec)
        );
        if let Some(te) = audio.telephone_event {
            let _ = write!(
                out,
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
            );
        }
        let _ = write!(out, "a=ptime:20\r\na={}\r\n", audio.direction.as_str());
        if audio.rtcp_mux {
            out.push_str("a=rtcp-mux\r\n");
        }
    }
    out
}

/// The payload types of our own offer: the static G.711 ones (PCMU first,
/// RFC 3551) and telephone-event on the number everyone uses for it.
const OFFER_PCMU: u8 = 0;
const OFFER_PCMA: u8 = 8;
const OFFER_TELEPHONE_EVENT: u8 = 101;

/// Writes our offer, for a 2xx whose ACK brings the answer (a delayed-offer
/// INVITE or a body-less re-INVITE, RFC 3261 §13.2.1 and §14.2): one audio
/// stream at `local`, 20 ms, `sendrecv`. A first offer (`current` is
/// `None`) has PCMU, PCMA and telephone-event; a new offer in a session
/// keeps what was negotiated (`current`: its codec and payload types, and
/// rtcp-mux), so the answer cannot move the call to formats its media was
/// not made for (RFC 3264 §8).
pub fn offer(local: SocketAddr, origin: Origin, current: Option<&NegotiatedAudio>) -> String {
    let mut out = session_lines(local, origin, None);
    let (codecs, te) = match current {
        None => (
            vec![(OFFER_PCMU, Codec::Pcmu), (OFFER_PCMA, Codec::Pcma)],
            Some(OFFER_TELEPHONE_EVENT),
        ),
        Some(audio) => (
            vec![(audio.payload_type, audio.codec)],
            audio.telephone_event,
        ),
    };
    let mut formats = Vec::new();
    let mut attributes = String::new();
    for (pt, codec) in codecs {
        formats.push(pt);
        let _ = write!(
            attributes,
            "a=rtpmap:{pt} {}/8000\r\n",
            encoding_name(codec)
        );
    }
    if let Some(te) = te {
        formats.push(te);
        let _ = write!(
            attributes,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        );
    }
    if current.is_some_and(|a| a.rtcp_mux) {
        attributes.push_str("a=rtcp-mux\r\n");
    }
    let formats = formats
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let _ = write!(
        out,
        "m=audio {} RTP/AVP {formats}\r\n{attributes}a=ptime:20\r\na=sendrecv\r\n",
        local.port()
    );
    out
}

/// The audio of our offer as if it had been answered in kind: what a call
/// stands on between a delayed offer and its answer (the shell is told the
/// real one, from the ACK, before anything is sent).
pub fn offered_audio() -> NegotiatedAudio {
    NegotiatedAudio {
        codec: Codec::Pcmu,
        payload_type: OFFER_PCMU,
        telephone_event: Some(OFFER_TELEPHONE_EVENT),
        remote: SocketAddr::from(([0, 0, 0, 0], 0)),
        direction: Direction::SendRecv,
        remote_ptime: None,
        rtcp_mux: false,
    }
}

/// `v=`, `o=`, `s=`, `c=` and `t=` (`0 0` unless the offer had another).
fn session_lines(local: SocketAddr, origin: Origin, timing: Option<&str>) -> String {
    let ip_kind = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let mut out = String::new();
    let _ = write!(
        out,
        "v=0\r\no=confab {} {} IN {ip_kind} {ip}\r\ns=confab\r\nc=IN {ip_kind} {ip}\r\nt={}\r\n",
        origin.session_id,
        origin.version,
        timing.unwrap_or("0 0"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn negotiates_sipp_pcma_with_telephone_event() {
        let (index, audio) = negotiate(&parse(SIPP)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index, 0);
        assert_eq!(audio.codec, Codec::Pcma);
        assert_eq!(audio.payload_type, 8);
        assert_eq!(audio.telephone_event, Some(101));
        assert_eq!(
            audio.remote,
            "127.0.0.1:6000".parse().unwrap_or_else(|_| unreachable!())
        );
        assert_eq!(audio.direction, Direction::SendRecv);
        assert!(!audio.on_hold());
    }

    #[test]
    fn offerer_order_decides() {
        let sdp = parse(&SIPP.replace("RTP/AVP 8 101", "RTP/AVP 18 0 8 101"));
        assert_eq!(negotiate(&sdp).map(|(_, a)| a.codec), Ok(Codec::Pcmu));
    }

    #[test]
    fn g722_wins_wherever_it_is_offered_and_is_answered_as_offered() {
        let sdp = parse(
            &SIPP
                .replace("RTP/AVP 8 101", "RTP/AVP 0 8 9 101")
                .replace("a=rtpmap:8", "a=rtpmap:9 G722/8000\r\na=rtpmap:8"),
        );
        let (index, audio) = negotiate(&sdp).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((audio.codec, audio.payload_type), (Codec::G722, 9));
        let local = "192.0.2.1:40000".parse().unwrap_or_else(|_| unreachable!());
        let origin = Origin {
            session_id: 1,
            version: 1,
        };
        let answer = answer(&sdp, index, &audio, local, origin);
        assert!(answer.contains("m=audio 40000 RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\n"));
        // Static 9 with no rtpmap is G.722 too; a G722 at another clock is not ours.
        let bare = parse(&SIPP.replace("RTP/AVP 8 101", "RTP/AVP 0 9"));
        assert_eq!(negotiate(&bare).map(|(_, a)| a.codec), Ok(Codec::G722));
        let odd = parse(
            &SIPP
                .replace("RTP/AVP 8 101", "RTP/AVP 96 8")
                .replace("a=rtpmap:8", "a=rtpmap:96 G722/16000\r\na=rtpmap:8"),
        );
        assert_eq!(negotiate(&odd).map(|(_, a)| a.codec), Ok(Codec::Pcma));
    }

    #[test]
    fn hold_directions() {
        for (attr, ours, hold) in [
            ("a=sendonly\r\n", Direction::RecvOnly, true),
            ("a=inactive\r\n", Direction::Inactive, true),
            ("a=recvonly\r\n", Direction::SendOnly, false),
            ("a=sendrecv\r\n", Direction::SendRecv, false),
        ] {
            let (_, audio) =
                negotiate(&parse(&format!("{SIPP}{attr}"))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((audio.direction, audio.on_hold()), (ours, hold), "{attr}");
        }
        // Session level applies when the media level says nothing.
        let session = SIPP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        assert!(negotiate(&parse(&session)).is_ok_and(|(_, a)| a.on_hold()));
        // RFC 2543 hold.
        let old = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(negotiate(&parse(&old)).is_ok_and(|(_, a)| a.on_hold()));
    }

    #[test]
    fn failures() {
        let video_only = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 3227 RTP/AVP 31\r\n";
        assert_eq!(negotiate(&parse(video_only)), Err(SdpError::NoAudio));
        let rejected = SIPP.replace("m=audio 6000", "m=audio 0");
        assert_eq!(negotiate(&parse(&rejected)), Err(SdpError::NoAudio));
        let g726 =
            "v=0\r\nc=IN IP6 2001:db8::20\r\nm=audio 6000 RTP/AVP 2\r\na=rtpmap:2 G726-32/8000\r\n";
        assert_eq!(negotiate(&parse(g726)), Err(SdpError::NoCommonCodec));
        let name = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 host.example.com");
        assert_eq!(negotiate(&parse(&name)), Err(SdpError::NoConnectionAddress));
        assert!(SessionDescription::parse(b"hello").is_err());
        let many = format!(
            "v=0\r\n{}",
            "m=video 0 RTP/AVP 31\r\n".repeat(MAX_STREAMS + 1)
        );
        assert!(SessionDescription::parse(many.as_bytes()).is_err());
        let wide = format!(
            "v=0\r\nm=audio 1 RTP/AVP{}\r\n",
            " 96".repeat(MAX_FORMATS + 1)
        );
        assert!(SessionDescription::parse(wide.as_bytes()).is_err());
        assert!(SessionDescription::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn ipv6_media_level_connection() {
        let sdp = parse(
            "v=0\r\no=bob 1 2 IN IP4 host.example.com\r\ns=\r\nt=0 0\r\nm=audio 22334 RTP/AVP 0\r\n\
             c=IN IP4 192.0.2.1\r\nm=video 6024 RTP/AVP 107\r\nc=IN IP6 2001:db8::1\r\na=rtpmap:107 H263-1998",
        );
        let (index, audio) = negotiate(&sdp).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (index, audio.remote.to_string()),
            (0, "192.0.2.1:22334".to_owned())
        );
    }

    #[test]
    fn answer_mirrors_streams() {
        let offer = parse(&format!(
            "{SIPP}a=sendonly\r\nm=video 3227 RTP/AVP 31 34\r\n"
        ));
        let (index, audio) = negotiate(&offer).unwrap_or_else(|e| panic!("{e}"));
        let local = "203.0.113.5:40000"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let text = answer(
            &offer,
            index,
            &audio,
            local,
            Origin {
                session_id: 7,
                version: 2,
            },
        );
        assert_eq!(
            text,
            "v=0\r\no=confab 7 2 IN IP4 203.0.113.5\r\ns=confab\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\na=ptime:20\r\na=recvonly\r\nm=video 0 RTP/AVP 31 34\r\n"
        );
        // The answer is itself a description we can read back.
        let back = negotiate(&parse(&text)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.1.remote, local);
        assert_eq!(back.1.direction, Direction::SendOnly);
    }

    #[test]
    fn rtcp_mux_is_answered_only_when_offered() {
        let local = "203.0.113.5:40000"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let origin = Origin {
            session_id: 1,
            version: 1,
        };
        let offer = parse(&format!("{SIPP}a=rtcp-mux\r\n"));
        let (index, audio) = negotiate(&offer).unwrap_or_else(|e| panic!("{e}"));
        assert!(audio.rtcp_mux);
        let text = answer(&offer, index, &audio, local, origin);
        assert!(text.ends_with("a=sendrecv\r\na=rtcp-mux\r\n"), "{text}");
        let back = negotiate(&parse(&text)).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.1.rtcp_mux);
        let plain = parse(SIPP);
        let (index, audio) = negotiate(&plain).unwrap_or_else(|e| panic!("{e}"));
        assert!(!audio.rtcp_mux);
        assert!(!answer(&plain, index, &audio, local, origin).contains("rtcp-mux"));
    }

    #[test]
    fn a_first_offer_lists_both_codecs_and_a_new_offer_keeps_the_session_formats() {
        let local: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let origin = Origin {
            session_id: 1,
            version: 2,
        };
        let first = offer(local, origin, None);
        assert!(
            first.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"),
            "{first}"
        );
        let current = NegotiatedAudio {
            payload_type: 98,
            telephone_event: Some(96),
            rtcp_mux: true,
            ..offered_audio()
        };
        let again = offer(local, origin, Some(&current));
        assert!(
            again.contains(
                "m=audio 40000 RTP/AVP 98 96\r\na=rtpmap:98 PCMU/8000\r\n\
                 a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=rtcp-mux\r\n"
            ),
            "{again}"
        );
        // The answer to it is read back as the session it keeps.
        let (_, back) = negotiate(&parse(&again)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((back.payload_type, back.telephone_event), (98, Some(96)));
    }
}
