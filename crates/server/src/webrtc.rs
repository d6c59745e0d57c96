//! A browser leg's WebRTC state, sans-IO: str0m's [`Rtc`] (ICE-lite,
//! DTLS-SRTP, audio only, Opus or PCMU as the browser prefers) with the glue
//! that turns it into a plain RTP leg for a room.
//!
//! The room knows nothing of WebRTC: it gets the browser's audio as plain
//! RTP and sends it plain RTP (module `browser` carries those over a
//! loopback socket pair), in the leg's [`BrowserLeg::room_codec`]: G.722
//! for a browser that took Opus, so it keeps its bandwidth (libopus runs at
//! 16 kHz, `OpusCodec`, and the room mixes at 16 kHz while such a leg is in
//! it), PCMU bytes as they are for one that took PCMU. [`BrowserLeg`] sits between the two: datagrams
//! from the browser and the room's RTP go in with `now`; what to send to
//! the browser, what to give the room and whether the browser is gone come
//! out of [`BrowserLeg::poll_output`]; [`BrowserLeg::poll_timeout`] says
//! when to call [`BrowserLeg::handle_timeout`] next. No socket, no clock.
//!
//! A tab that closes sends nothing more: no media, no ICE consent checks
//! (RFC 7675; Chromium sends one every 5 s or so). A leg that heard
//! nothing from its browser for [`SILENCE_LIMIT`] is [`LegOutput::Gone`].

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use media::g722::{G722Decoder, G722Encoder};
use media::rtp::{RtpHeader, RtpPacket};
use media::{Codec, RtpTimestamp, SeqNo, Ssrc};
use str0m::change::SdpOffer;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// A leg that heard nothing from its browser this long is gone: more than
/// a consent check's interval, so a browser that sends no media (a muted
/// track with DTX) is not taken for a closed tab, and less than the 10 s
/// a closed tab may stay in its room.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(7);

/// Why an offer gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("not SDP: {0}")]
    NotSdp(String),
    #[error("the offer cannot be accepted: {0}")]
    Rejected(String),
    #[error("the offer has no audio in Opus or PCMU")]
    NoAudio,
}

/// What the shell does next for a browser leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegOutput {
    /// A datagram (STUN, DTLS, SRTP) for the browser.
    ToBrowser { to: SocketAddr, payload: Vec<u8> },
    /// One plain RTP packet of the browser's audio for the room, in
    /// [`BrowserLeg::room_codec`] on its static payload type.
    ToRoom(Vec<u8>),
    /// The browser is gone (silent past [`SILENCE_LIMIT`], ICE
    /// disconnected, or a broken session): take it out of its room.
    Gone(&'static str),
}

/// One browser's peer connection, on our side.
#[derive(Debug)]
pub struct BrowserLeg {
    rtc: Rtc,
    local: SocketAddr,
    /// The audio media and the payload types PCMU and Opus got in it.
    audio: Option<Audio>,
    /// Opus's decoder and encoder at 16 kHz and the G.722 seam, when Opus
    /// was negotiated.
    opus: Option<OpusCodec>,
    /// The header of what goes to the room.
    to_room: RtpHeader,
    /// The room's RTP timestamps unwrapped (str0m takes a 64-bit media time).
    room_time: Option<(u32, u64)>,
    last_heard: Instant,
    rtc_deadline: Instant,
    gone: bool,
}

impl BrowserLeg {
    /// Accepts a browser's offer on `local` (the one UDP port the leg
    /// listens on, our only ICE candidate). Returns the leg and the
    /// answer's SDP.
    pub fn answer(
        offer: &str,
        local: SocketAddr,
        ssrc: Ssrc,
        now: Instant,
    ) -> Result<(Self, String), OfferError> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::NotSdp(e.to_string()))?;
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_crypto_provider(crypto())
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .build(now);
        let candidate =
            Candidate::host(local, "udp").map_err(|e| OfferError::Rejected(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| OfferError::Rejected(e.to_string()))?;
        let answer = answer.to_sdp_string();
        let audio = negotiated_audio(&answer).ok_or(OfferError::NoAudio)?;
        let opus = match audio.opus {
            Some(_) => Some(OpusCodec::new().map_err(|e| OfferError::Rejected(e.to_string()))?),
            None => None,
        };
        let room_codec = if opus.is_some() {
            Codec::G722
        } else {
            Codec::Pcmu
        };
        let leg = Self {
            rtc,
            local,
            audio: Some(audio),
            opus,
            to_room: RtpHeader {
                marker: true,
                payload_type: room_codec.payload_type(),
                seq: SeqNo(0),
                timestamp: RtpTimestamp(0),
                ssrc,
            },
            room_time: None,
            last_heard: now,
            rtc_deadline: now,
            gone: false,
        };
        Ok((leg, answer))
    }

    /// What the leg and its room speak over the seam: G.722 (static
    /// payload type 9) when the browser took Opus, else PCMU (0).
    #[must_use]
    pub fn room_codec(&self) -> Codec {
        if self.opus.is_some() {
            Codec::G722
        } else {
            Codec::Pcmu
        }
    }

    /// A datagram from the browser (on our port `self.local`).
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        let Ok(contents) = bytes.try_into() else {
            // Neither STUN, DTLS nor RTP: dropped, and not proof of life.
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.accepts(&input) && self.rtc.handle_input(input).is_ok() {
            self.last_heard = now;
        }
    }

    /// One RTP packet of the room's mix for this browser.
    pub fn handle_room_rtp(&mut self, bytes: &[u8], now: Instant) {
        let Some(audio) = self.audio.clone() else {
            return;
        };
        let Ok(packet) = RtpPacket::parse(bytes) else {
            return;
        };
        if packet.payload_type != self.room_codec().payload_type()
            || packet.payload.is_empty()
            || packet.payload.len() > MAX_ROOM_BYTES
        {
            return;
        }
        let ts = packet.timestamp.0;
        let time = match self.room_time {
            Some((last, total)) => total.wrapping_add(u64::from(ts.wrapping_sub(last))),
            None => u64::from(ts),
        };
        self.room_time = Some((ts, time));
        if !self.rtc.is_connected() {
            return;
        }
        // Opus when the browser took it (encoded from the 16 kHz G.722
        // mix, its clock at 48 kHz), else the PCMU bytes as they are.
        let (pt, media_time, payload) = match (audio.opus, self.opus.as_mut()) {
            (Some(pt), Some(opus)) => {
                let Some(encoded) = opus.encode_room(packet.payload) else {
                    return;
                };
                let time = MediaTime::new(time.wrapping_mul(6), Frequency::FORTY_EIGHT_KHZ);
                (pt, time, encoded)
            }
            _ => match audio.pcmu {
                Some(pt) => (
                    pt,
                    MediaTime::new(time, Frequency::EIGHT_KHZ),
                    packet.payload.to_vec(),
                ),
                None => return,
            },
        };
        let Some(writer) = self.rtc.writer(audio.mid) else {
            return;
        };
        if let Err(e) = writer.write(pt, now, media_time, payload) {
            tracing::debug!(error = %e, "browser leg: could not send the room's audio");
        }
    }

    /// Time passed: call at [`BrowserLeg::poll_timeout`] (or later).
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.rtc_deadline && self.rtc.handle_input(Input::Timeout(now)).is_err() {
            self.gone = true;
        }
    }

    /// Closes the peer connection (a kick, the room's end): nothing more
    /// is sent or read.
    pub fn close(&mut self) {
        self.rtc.disconnect();
        self.gone = true;
    }

    /// The next thing to do, if any. Drain it before waiting.
    #[must_use]
    pub fn poll_output(&mut self, now: Instant) -> Option<LegOutput> {
        if self.gone {
            return None;
        }
        if now.saturating_duration_since(self.last_heard) >= SILENCE_LIMIT {
            self.gone = true;
            return Some(LegOutput::Gone("nothing heard from the browser"));
        }
        self.pump(now)
    }

    /// When [`BrowserLeg::handle_timeout`] is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        self.rtc_deadline.min(self.last_heard + SILENCE_LIMIT)
    }

    /// Drives str0m's outputs until one is ours to hand out, or its next
    /// deadline.
    fn pump(&mut self, now: Instant) -> Option<LegOutput> {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    tracing::debug!(error = %e, "browser leg: the WebRTC session broke");
                    self.gone = true;
                    return Some(LegOutput::Gone("the WebRTC session broke"));
                }
            };
            match output {
                Output::Timeout(at) => {
                    self.rtc_deadline = at.max(now);
                    return None;
                }
                Output::Transmit(t) => {
                    return Some(LegOutput::ToBrowser {
                        to: t.destination,
                        payload: t.contents.to_vec(),
                    });
                }
                Output::Event(event) => {
                    if let Some(output) = self.event(event) {
                        return Some(output);
                    }
                }
            }
        }
    }

    fn event(&mut self, event: Event) -> Option<LegOutput> {
        match event {
            Event::MediaData(data) => {
                let audio = self.audio.clone()?;
                if data.mid != audio.mid || data.data.is_empty() {
                    return None;
                }
                // Keep the browser's sequence numbers (gaps are losses the
                // room's jitter buffer conceals) and its timestamps at 8 kHz.
                self.to_room.seq = SeqNo(**data.seq_range.end() as u16);
                let mut packet = Vec::with_capacity(12 + MAX_SAMPLES);
                if Some(data.pt) == audio.pcmu {
                    self.to_room.timestamp = RtpTimestamp(data.time.numer() as u32);
                    self.to_room.write(&mut packet);
                    packet.extend_from_slice(&data.data);
                } else if Some(data.pt) == audio.opus {
                    let opus = self.opus.as_mut()?;
                    // G.722's RTP clock is 8 kHz (RFC 3551), its audio 16 kHz.
                    let ts = data.time.rebase(Frequency::EIGHT_KHZ).numer();
                    self.to_room.timestamp = RtpTimestamp(ts as u32);
                    self.to_room.write(&mut packet);
                    opus.decode_for_room(&data.data, &mut packet)?;
                } else {
                    return None;
                }
                self.to_room.marker = false;
                Some(LegOutput::ToRoom(packet))
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.gone = true;
                Some(LegOutput::Gone("ICE disconnected"))
            }
            _ => None,
        }
    }
}

/// The audio our answer accepted: its mid, and the payload types PCMU
/// and Opus got there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Audio {
    mid: Mid,
    pcmu: Option<Pt>,
    opus: Option<Pt>,
}

/// The first audio section our answer accepted (a port other than 0) with
/// PCMU or Opus in it.
fn negotiated_audio(answer: &str) -> Option<Audio> {
    let mut sections = answer.split("\nm=").skip(1);
    sections.find_map(|section| {
        let mut words = section.split_whitespace();
        let (kind, port) = (words.next()?, words.next()?);
        if kind != "audio" || port == "0" {
            return None;
        }
        let lines = || section.lines().map(str::trim_end);
        let mid = lines().find_map(|l| l.strip_prefix("a=mid:"))?;
        let pt_of = |codec: &str| {
            lines().find_map(|l| {
                let (pt, name) = l.strip_prefix("a=rtpmap:")?.split_once(' ')?;
                name.to_ascii_lowercase()
                    .starts_with(codec)
                    .then(|| pt.parse::<u8>().ok())?
            })
        };
        let (pcmu, opus) = (pt_of("pcmu/8000"), pt_of("opus/48000"));
        (pcmu.is_some() || opus.is_some()).then(|| Audio {
            mid: Mid::from(mid),
            pcmu: pcmu.map(Pt::from),
            opus: opus.map(Pt::from),
        })
    })
}

/// The most samples one packet carries to or from the room: 120 ms (Opus's
/// longest frame) at 16 kHz.
const MAX_SAMPLES: usize = 1920;
/// The most payload bytes of a room packet: 120 ms of PCMU, or of G.722
/// (a byte per two samples at 16 kHz).
const MAX_ROOM_BYTES: usize = MAX_SAMPLES / 2;

/// libopus at 16 kHz, mono (it resamples to and from the 48 kHz it sends),
/// and G.722 for the seam: the browser's Opus decoded and G.722-encoded
/// for the room, the room's G.722 decoded and Opus-encoded for the
/// browser. 16 kHz is what the room mixes at, so nothing is resampled
/// on our side.
struct OpusCodec {
    decoder: opus::Decoder,
    encoder: opus::Encoder,
    pcm: [i16; MAX_SAMPLES],
    to_room: G722Encoder,
    from_room: G722Decoder,
}

impl std::fmt::Debug for OpusCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusCodec").finish_non_exhaustive()
    }
}

impl OpusCodec {
    fn new() -> Result<Self, opus::Error> {
        Ok(Self {
            decoder: opus::Decoder::new(16_000, opus::Channels::Mono)?,
            encoder: opus::Encoder::new(16_000, opus::Channels::Mono, opus::Application::Voip)?,
            pcm: [0; MAX_SAMPLES],
            to_room: G722Encoder::new(),
            from_room: G722Decoder::new(),
        })
    }

    /// One Opus packet from the browser, appended to `out` as G.722;
    /// `None` for a packet libopus refuses.
    fn decode_for_room(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let n = self.decoder.decode(packet, &mut self.pcm, false).ok()?;
        self.to_room
            .encode_into(&self.pcm[..n.min(MAX_SAMPLES)], out);
        Some(())
    }

    /// One G.722 payload of the room's (20 ms: 160 bytes) as an Opus packet.
    fn encode_room(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let n = self.from_room.decode_into(payload, &mut self.pcm);
        let mut out = [0u8; 400];
        let len = self.encoder.encode(&self.pcm[..n], &mut out).ok()?;
        Some(out[..len].to_vec())
    }
}

/// The process's one crypto provider for str0m (aws-lc-rs, the one
/// rustls already links).
fn crypto() -> Arc<str0m::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<str0m::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(str0m::crypto::from_feature_flags()))
        .clone()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use str0m::change::SdpAnswer;
    use str0m::media::{Direction, MediaKind};

    const SERVER: &str = "127.0.0.1:59998";
    const CLIENT: &str = "127.0.0.1:59999";

    /// A browser stand-in: a full (not lite) str0m peer offering PCMU audio.
    struct Client {
        rtc: Rtc,
        mid: Mid,
        addr: SocketAddr,
        heard: Vec<Vec<u8>>,
    }

    impl Client {
        fn offer(now: Instant, opus: bool) -> (Self, String, str0m::change::SdpPendingOffer) {
            let addr: SocketAddr = CLIENT.parse().unwrap();
            let builder = Rtc::builder().set_crypto_provider(crypto()).clear_codecs();
            let builder = if opus {
                builder.enable_opus(true, false)
            } else {
                builder.enable_pcmu(true, false)
            };
            let mut rtc = builder.build(now);
            rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
            let mut change = rtc.sdp_api();
            let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
            let (offer, pending) = change.apply().unwrap();
            let client = Self {
                rtc,
                mid,
                addr,
                heard: Vec::new(),
            };
            (client, offer.to_sdp_string(), pending)
        }
    }

    /// The two peers wired together, stepped on fake time.
    struct Pair {
        now: Instant,
        client: Client,
        leg: BrowserLeg,
        to_room: Vec<Vec<u8>>,
        gone: Option<&'static str>,
    }

    impl Pair {
        fn new() -> Self {
            Self::offering(false)
        }

        fn offering(opus: bool) -> Self {
            let now = Instant::now();
            let (mut client, offer, pending) = Client::offer(now, opus);
            let (leg, answer) =
                BrowserLeg::answer(&offer, SERVER.parse().unwrap(), Ssrc(7), now).unwrap();
            let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
            client.rtc.sdp_api().accept_answer(pending, answer).unwrap();
            Self {
                now,
                client,
                leg,
                to_room: Vec::new(),
                gone: None,
            }
        }

        /// Moves every pending datagram both ways; returns the next deadline.
        fn exchange(&mut self, deliver_client: bool) -> Instant {
            loop {
                let mut moved = false;
                while let Some(out) = self.leg.poll_output(self.now) {
                    moved = true;
                    match out {
                        LegOutput::ToBrowser { to, payload } => {
                            assert_eq!(to, self.client.addr);
                            let input = Input::Receive(
                                self.now,
                                Receive {
                                    proto: Protocol::Udp,
                                    source: SERVER.parse().unwrap(),
                                    destination: self.client.addr,
                                    contents: payload.as_slice().try_into().unwrap(),
                                },
                            );
                            self.client.rtc.handle_input(input).unwrap();
                        }
                        LegOutput::ToRoom(packet) => self.to_room.push(packet),
                        LegOutput::Gone(why) => self.gone = Some(why),
                    }
                }
                let client_deadline = loop {
                    match self.client.rtc.poll_output().unwrap() {
                        Output::Timeout(t) => break t,
                        Output::Transmit(t) => {
                            moved = true;
                            if deliver_client {
                                self.leg
                                    .handle_datagram(self.client.addr, &t.contents, self.now);
                            }
                        }
                        Output::Event(Event::MediaData(data)) => {
                            self.client.heard.push(data.data.to_vec());
                        }
                        Output::Event(_) => {}
                    }
                };
                if !moved {
                    return client_deadline.min(self.leg.poll_timeout());
                }
            }
        }

        /// Steps both peers to `until`, deadline by deadline.
        fn run_until(&mut self, until: Instant, deliver_client: bool) {
            loop {
                let next = self.exchange(deliver_client).max(self.now);
                if next > until {
                    self.now = until;
                    return;
                }
                self.now = next.max(self.now + Duration::from_millis(1));
                self.leg.handle_timeout(self.now);
                self.client
                    .rtc
                    .handle_input(Input::Timeout(self.now))
                    .unwrap();
            }
        }

        fn connect(&mut self) {
            let deadline = self.now + Duration::from_secs(5);
            while !(self.client.rtc.is_connected() && self.leg.rtc.is_connected()) {
                assert!(self.now < deadline, "ICE and DTLS never came up");
                let step = self.now + Duration::from_millis(10);
                self.run_until(step, true);
            }
        }
    }

    fn room_packet(seq: u16, ts: u32, byte: u8) -> Vec<u8> {
        room_packet_of(Codec::Pcmu, seq, ts, &[byte; 160])
    }

    fn room_packet_of(codec: Codec, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut packet = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: codec.payload_type(),
            seq: SeqNo(seq),
            timestamp: RtpTimestamp(ts),
            ssrc: Ssrc(99),
        }
        .write(&mut packet);
        packet.extend_from_slice(payload);
        packet
    }

    /// `n` samples at `rate` of a 500 Hz and a 6 kHz tone, from sample `from`.
    /// The packets' RTP timestamps advance 160 (20 ms at 8 kHz) each.
    fn assert_steps_of_160(packets: &[Vec<u8>]) {
        let ts: Vec<u32> = packets
            .iter()
            .map(|p| RtpPacket::parse(p).unwrap().timestamp.0)
            .collect();
        assert!(
            ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 160),
            "{ts:?}"
        );
    }

    fn two_tones(rate: u32, from: u64, n: u64) -> Vec<i16> {
        (from..from + n)
            .map(|k| {
                let t = k as f64 / f64::from(rate);
                let tau = std::f64::consts::TAU;
                ((t * 500.0 * tau).sin() * 8000.0 + (t * 6000.0 * tau).sin() * 8000.0) as i16
            })
            .collect()
    }

    #[test]
    fn a_browser_connects_and_audio_flows_both_ways_as_plain_pcmu_rtp() {
        let mut pair = Pair::new();
        pair.connect();
        // Browser → room: each 20 ms frame comes out as one PCMU RTP packet.
        let pt = pair.leg.audio.clone().unwrap().pcmu.unwrap();
        for i in 0..5u64 {
            let writer = pair.client.rtc.writer(pair.client.mid).unwrap();
            let time = MediaTime::new(1000 + i * 160, Frequency::EIGHT_KHZ);
            writer.write(pt, pair.now, time, vec![0x55; 160]).unwrap();
            let step = pair.now + Duration::from_millis(20);
            pair.run_until(step, true);
        }
        assert_eq!(pair.to_room.len(), 5, "{:?}", pair.to_room.len());
        assert_eq!(pair.leg.room_codec(), Codec::Pcmu);
        for packet in &pair.to_room {
            let rtp = RtpPacket::parse(packet).unwrap();
            assert_eq!(rtp.payload_type, 0);
            assert_eq!(rtp.ssrc, Ssrc(7));
            assert_eq!(rtp.payload, &[0x55; 160][..]);
        }
        assert_steps_of_160(&pair.to_room);
        // Room → browser: the mix arrives decrypted at the browser as sent.
        for i in 0..5u16 {
            let packet = room_packet(
                100 + i,
                4_294_967_000u32.wrapping_add(160 * u32::from(i)),
                0x33,
            );
            pair.leg.handle_room_rtp(&packet, pair.now);
            let step = pair.now + Duration::from_millis(20);
            pair.run_until(step, true);
        }
        assert_eq!(pair.client.heard.len(), 5);
        assert!(pair.client.heard.iter().all(|f| f == &vec![0x33; 160]));
        assert_eq!(pair.gone, None);
    }

    /// Wideband both ways: a browser's 500 Hz and 6 kHz in Opus reach the
    /// room as G.722 (16 kHz audio), and the room's G.722 500 Hz and 6 kHz
    /// reach the browser in Opus it decodes with both.
    #[test]
    fn an_opus_browser_keeps_its_bandwidth_through_the_g722_seam() {
        let mut pair = Pair::offering(true);
        pair.connect();
        assert_eq!(pair.leg.room_codec(), Codec::G722);
        let pt = pair.leg.audio.clone().unwrap().opus.unwrap();
        assert_eq!(pair.leg.audio.clone().unwrap().pcmu, None);
        // The browser sends the tones in Opus, 20 ms at 48 kHz a packet.
        let mut encoder =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        for i in 0..25u64 {
            let frame = two_tones(48_000, i * 960, 960);
            let mut out = [0u8; 400];
            let len = encoder.encode(&frame, &mut out).unwrap();
            let writer = pair.client.rtc.writer(pair.client.mid).unwrap();
            let time = MediaTime::new(48_000 + i * 960, Frequency::FORTY_EIGHT_KHZ);
            writer
                .write(pt, pair.now, time, out[..len].to_vec())
                .unwrap();
            let step = pair.now + Duration::from_millis(20);
            pair.run_until(step, true);
        }
        assert_eq!(pair.to_room.len(), 25);
        let mut decoder = G722Decoder::new();
        let mut heard = Vec::new();
        for packet in &pair.to_room {
            let rtp = RtpPacket::parse(packet).unwrap();
            assert_eq!(rtp.payload_type, 9, "G.722");
            assert_eq!(rtp.payload.len(), 160, "20 ms of G.722");
            let mut pcm = [0i16; 320];
            assert_eq!(decoder.decode_into(rtp.payload, &mut pcm), 320);
            heard.extend_from_slice(&pcm);
        }
        // G.722's RTP clock is 8 kHz (RFC 3551).
        assert_steps_of_160(&pair.to_room);
        // Past the codec's start-up, the room gets both tones.
        let settled = &heard[heard.len() / 2..];
        for hz in [500.0, 6000.0] {
            let share = media::tone_fraction_at(settled, hz, 16_000);
            assert!(share > 0.3, "{hz} Hz: {share}");
        }
        // The room's G.722 mix reaches the browser as Opus with both tones.
        let mut g722 = media::g722::G722Encoder::new();
        let mut opus_decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
        for i in 0..25u16 {
            let mut payload = Vec::new();
            g722.encode_into(&two_tones(16_000, u64::from(i) * 320, 320), &mut payload);
            let packet = room_packet_of(Codec::G722, 100 + i, 160 * u32::from(i), &payload);
            pair.leg.handle_room_rtp(&packet, pair.now);
            let step = pair.now + Duration::from_millis(20);
            pair.run_until(step, true);
        }
        assert_eq!(pair.client.heard.len(), 25);
        let mut browser = Vec::new();
        for frame in &pair.client.heard {
            let mut pcm = [0i16; 5760];
            assert_eq!(opus_decoder.decode(frame, &mut pcm, false).unwrap(), 960);
            browser.extend_from_slice(&pcm[..960]);
        }
        let settled = &browser[browser.len() / 2..];
        for hz in [500.0, 6000.0] {
            let share = media::tone_fraction_at(settled, hz, 48_000);
            assert!(share > 0.3, "the browser's {hz} Hz: {share}");
        }
        // PCMU is not what this leg's room speaks.
        let before = pair.client.heard.len();
        pair.leg
            .handle_room_rtp(&room_packet(200, 0, 0x33), pair.now);
        let step = pair.now + Duration::from_millis(20);
        pair.run_until(step, true);
        assert_eq!(pair.client.heard.len(), before);
    }

    #[test]
    fn a_browser_that_falls_silent_is_gone_after_the_silence_limit_and_not_before() {
        let mut pair = Pair::new();
        pair.connect();
        let last = pair.now;
        // The tab closes: nothing more reaches the leg.
        pair.run_until(last + SILENCE_LIMIT - Duration::from_millis(100), false);
        assert_eq!(pair.gone, None);
        pair.run_until(last + SILENCE_LIMIT + Duration::from_millis(100), false);
        assert!(pair.gone.is_some());
        // Once gone, the leg says nothing more.
        assert_eq!(pair.leg.poll_output(pair.now), None);
    }

    #[test]
    fn room_rtp_that_is_not_the_seams_codec_or_not_rtp_is_dropped() {
        let mut pair = Pair::new();
        pair.connect();
        let mut other = room_packet(1, 0, 0x11);
        other[1] = 8; // PCMA
        for bad in [
            other,
            vec![0x80],
            Vec::new(),
            b"hello world, not rtp".to_vec(),
        ] {
            pair.leg.handle_room_rtp(&bad, pair.now);
        }
        let step = pair.now + Duration::from_millis(40);
        pair.run_until(step, true);
        assert!(pair.client.heard.is_empty());
    }

    #[test]
    fn offers_without_opus_or_pcmu_audio_or_not_sdp_get_no_answer() {
        let local: SocketAddr = SERVER.parse().unwrap();
        let now = Instant::now();
        let err = BrowserLeg::answer("hello", local, Ssrc(1), now).unwrap_err();
        assert!(matches!(err, OfferError::NotSdp(_)), "{err:?}");
        // A PCMA-only offer: a browser offers Opus and PCMU.
        let mut rtc = Rtc::builder()
            .set_crypto_provider(crypto())
            .clear_codecs()
            .enable_pcma(true, false)
            .build(now);
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, _) = change.apply().unwrap();
        let err = BrowserLeg::answer(&offer.to_sdp_string(), local, Ssrc(1), now).unwrap_err();
        assert_eq!(err, OfferError::NoAudio);
    }

    #[test]
    fn the_answers_audio_is_found_and_a_rejected_section_skipped() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                   m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:a\r\na=rtpmap:0 PCMU/8000\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtpmap:96 VP8/90000\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n\
                   a=rtpmap:0 pcmu/8000\r\n";
        let audio = negotiated_audio(sdp).unwrap();
        assert_eq!(audio.mid, Mid::from("1"));
        assert_eq!(audio.pcmu, Some(Pt::from(0)));
        assert_eq!(audio.opus, Some(Pt::from(111)));
        assert_eq!(negotiated_audio("v=0\r\n"), None);
    }
}
