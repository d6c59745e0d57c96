//! A call's RTP: a paced sender of tones, silence and RFC 4733 digits, and a
//! recorder that turns what arrives back into 8 kHz samples.
//!
//! Two tasks per call, both aborted when the call is dropped. The sender
//! ticks every 20 ms ([`FRAME`]) and advances its RTP timestamp on every
//! tick, sending or not, as RFC 3550 asks; the first packet after a pause
//! carries the marker bit. The recorder places each packet's samples at the
//! position its timestamp names, so gaps become silence and reordered
//! packets land where they belong; a new SSRC (or a jump of more than
//! [`MAX_GAP`]) starts a new stretch at the end of the recording.
//!
//! Tone detection is [`media::goertzel`]: [`tone_present`] states the
//! threshold once so every test means the same thing by "hears".

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use media::Codec;
use media::dtmf::TelephoneEvent;
use media::goertzel::{rms, tone_fraction};
use media::rtp::{RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// One RTP packet's worth of audio.
pub const FRAME: Duration = Duration::from_millis(20);
/// Samples in one [`FRAME`] at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Peak amplitude of the tones the phone sends (about −12 dBFS).
pub const TONE_AMPLITUDE: f64 = 8000.0;
/// How much recent audio [`crate::PhoneCall::hears`] looks at: 200 ms, which holds a
/// whole number of periods of every multiple of 5 Hz.
pub const HEAR_WINDOW: Duration = Duration::from_millis(200);
/// The smallest share of a window's energy that counts as hearing a tone.
/// A lone tone scores about 1.0, each of n equally loud tones about 1/n, so
/// 0.2 still hears one voice among four while a tone's absence scores ~0.
pub const HEAR_MIN_FRACTION: f64 = 0.2;
/// The smallest RMS level, in sample units, of the tone itself (its share
/// of the window's energy) that counts as hearing it: about −50 dBFS, far
/// below [`TONE_AMPLITUDE`] after any sane mixing gain, far above G.711
/// quantisation noise.
pub const HEAR_MIN_LEVEL: f64 = 100.0;
/// A timestamp jump larger than this (10 s) is a new stream, not a gap to fill.
pub const MAX_GAP: u32 = 80_000;

/// Whether `samples` (8 kHz) contain a tone at `freq_hz` by the thresholds
/// above: at least [`HEAR_MIN_FRACTION`] of the energy, at least
/// [`HEAR_MIN_LEVEL`] loud.
#[must_use]
pub fn tone_present(samples: &[i16], freq_hz: u32) -> bool {
    let (fraction, level) = tone_measure(samples, freq_hz);
    fraction >= HEAR_MIN_FRACTION && level >= HEAR_MIN_LEVEL
}

/// (share of energy at the frequency, RMS level of that share).
pub(crate) fn tone_measure(samples: &[i16], freq_hz: u32) -> (f64, f64) {
    let fraction = tone_fraction(samples, f64::from(freq_hz)).clamp(0.0, 1.0);
    (fraction, rms(samples) * fraction.sqrt())
}

/// What the sender puts in its audio packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Tone(u32),
    /// A tone at another peak amplitude than [`TONE_AMPLITUDE`].
    ToneAt(u32, f64),
    /// Two tones at once, each at half the level (an in-band DTMF key).
    Tones(u32, u32),
    Silence,
    Stopped,
}

/// Counters for a call's RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpStats {
    /// Packets sent (audio and telephone events).
    pub sent: u64,
    /// Packets received that parsed as RTP.
    pub received: u64,
    /// Received audio packets that arrived too late to place (more than 1 s behind).
    pub late: u64,
    /// Received audio packets in another codec, or on another payload
    /// type, than the one negotiated (recorded all the same, decoded by
    /// their own payload type).
    pub other_codec: u64,
    /// Where the last RTP packet came from.
    pub last_source: Option<SocketAddr>,
}

/// A position in a call's recording, from [`crate::PhoneCall::mark`]: the
/// number of samples recorded before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark(pub usize);

/// A point in the order RTP packets arrived on a call's socket, from
/// [`crate::PhoneCall::fence`]: every packet after it was queued on the socket
/// after the fence was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fence(pub(crate) usize);

/// One audio packet as it arrived: when, and where its samples went in
/// the recording.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub at: Instant,
    pub start: usize,
    pub len: usize,
}

/// What a fence datagram starts with: a version-0 first byte, so it can
/// never be taken for RTP.
const FENCE_MAGIC: &[u8] = b"\0testkit-fence:";

#[derive(Debug)]
struct DtmfRequest {
    event: u8,
    done: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Control {
    mode: Mode,
    remote: SocketAddr,
    /// Replaces the stream's SSRC from the next packet (`None`: the start's).
    ssrc: Option<Ssrc>,
}

/// The two RTP tasks of one call and the handles to steer them.
#[derive(Debug)]
pub(crate) struct Media {
    local: SocketAddr,
    socket: Arc<UdpSocket>,
    next_fence: std::sync::atomic::AtomicU64,
    shared: Arc<Shared>,
    control: watch::Sender<Control>,
    dtmf: mpsc::UnboundedSender<DtmfRequest>,
    tasks: [AbortHandle; 2],
}

#[derive(Debug)]
struct Shared {
    recording: Mutex<Recording>,
    /// Bumped after every placed packet, so waiters wake without polling.
    progress: watch::Sender<u64>,
    sent: AtomicU64,
}

/// Where the stream starts: RTP state the shell would draw at random.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamStart {
    pub ssrc: Ssrc,
    pub seq: SeqNo,
    pub ts: RtpTimestamp,
}

impl Media {
    /// Spawns the sender (silent until told) and the recorder on `socket`.
    pub fn start(
        socket: UdpSocket,
        remote: SocketAddr,
        codec: Codec,
        payload_type: u8,
        telephone_event: Option<u8>,
        start: StreamStart,
    ) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let socket = Arc::new(socket);
        let mut recording = Recording::new(codec, telephone_event);
        recording.payload_type = payload_type;
        let shared = Arc::new(Shared {
            recording: Mutex::new(recording),
            progress: watch::Sender::new(0),
            sent: AtomicU64::new(0),
        });
        let (control, control_rx) = watch::channel(Control {
            mode: Mode::Stopped,
            remote,
            ssrc: None,
        });
        let (dtmf, dtmf_rx) = mpsc::unbounded_channel();
        let sender = tokio::spawn(send_loop(
            socket.clone(),
            shared.clone(),
            control_rx,
            dtmf_rx,
            (codec, payload_type),
            telephone_event,
            start,
        ));
        let recorder = tokio::spawn(record_loop(socket.clone(), local, shared.clone()));
        Ok(Self {
            local,
            socket,
            next_fence: AtomicU64::new(0),
            shared,
            control,
            dtmf,
            tasks: [sender.abort_handle(), recorder.abort_handle()],
        })
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn set_mode(&self, mode: Mode) {
        self.control.send_modify(|c| c.mode = mode);
    }

    pub fn set_ssrc(&self, ssrc: Ssrc) {
        self.control.send_modify(|c| c.ssrc = Some(ssrc));
    }

    pub fn set_remote(&self, remote: SocketAddr) {
        self.control.send_modify(|c| c.remote = remote);
    }

    pub fn remote(&self) -> SocketAddr {
        self.control.borrow().remote
    }

    /// Queues one telephone event; the receiver fires once its last end packet is out.
    pub fn queue_dtmf(&self, event: u8) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        // A closed channel means the sender task is gone; the caller's wait
        // on `rx` then reports it.
        let _ = self.dtmf.send(DtmfRequest { event, done });
        rx
    }

    /// Stops the sender for good (after BYE); the recording stays readable.
    pub fn stop(&self) {
        self.tasks[0].abort();
    }

    /// Stops both tasks: nothing is sent or recorded any more.
    pub fn stop_all(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Sends a fence datagram from the RTP socket to itself and returns
    /// its id; the recorder files it in arrival order among the packets.
    pub async fn send_fence(&self) -> std::io::Result<u64> {
        let id = self.next_fence.fetch_add(1, Ordering::Relaxed);
        let mut datagram = FENCE_MAGIC.to_vec();
        datagram.extend_from_slice(&id.to_be_bytes());
        self.socket.send_to(&datagram, self.local).await?;
        Ok(id)
    }

    pub fn recording(&self) -> MutexGuard<'_, Recording> {
        lock(&self.shared.recording)
    }

    pub fn progress(&self) -> watch::Receiver<u64> {
        self.shared.progress.subscribe()
    }

    pub fn stats(&self) -> RtpStats {
        let rec = self.recording();
        RtpStats {
            sent: self.shared.sent.load(Ordering::Relaxed),
            received: rec.packets,
            late: rec.late,
            other_codec: rec.other_codec,
            last_source: rec.last_source,
        }
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a handful of plain assignments).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything received on a call's RTP socket, as one timeline of samples.
#[derive(Debug)]
pub(crate) struct Recording {
    pub samples: Vec<i16>,
    /// The current stretch: its SSRC, first timestamp and index in `samples`.
    base: Option<(Ssrc, RtpTimestamp, usize)>,
    pub last_arrival: Option<Instant>,
    pub packets: u64,
    pub late: u64,
    pub other_codec: u64,
    pub last_source: Option<SocketAddr>,
    codec: Codec,
    /// `codec`'s negotiated payload type (its static one unless the SDP
    /// mapped another, `a=rtpmap:98 PCMU/8000`).
    payload_type: u8,
    telephone_event: Option<u8>,
    pub digits: Vec<char>,
    last_event_start: Option<(Ssrc, RtpTimestamp)>,
    /// Every placed audio packet, in arrival order.
    pub arrivals: Vec<Arrival>,
    /// Fences seen: (id, how many arrivals came before it).
    pub fences: Vec<(u64, usize)>,
}

impl Recording {
    fn new(codec: Codec, telephone_event: Option<u8>) -> Self {
        Self {
            samples: Vec::new(),
            base: None,
            last_arrival: None,
            packets: 0,
            late: 0,
            other_codec: 0,
            last_source: None,
            codec,
            payload_type: codec.payload_type(),
            telephone_event,
            digits: Vec::new(),
            last_event_start: None,
            arrivals: Vec::new(),
            fences: Vec::new(),
        }
    }

    /// Where fence `id` fell among the arrivals, once it has come back.
    pub fn fence(&self, id: u64) -> Option<usize> {
        self.fences
            .iter()
            .find(|(f, _)| *f == id)
            .map(|(_, at)| *at)
    }

    /// The samples of each audio packet that arrived after `fence`, in arrival order.
    pub fn packets_after(&self, fence: Fence) -> Vec<&[i16]> {
        self.arrivals
            .get(fence.0..)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| self.samples.get(a.start..a.start + a.len))
            .collect()
    }

    /// Files one RTP packet.
    pub fn push(&mut self, packet: &RtpPacket<'_>, from: SocketAddr, now: Instant) {
        self.packets += 1;
        self.last_source = Some(from);
        self.last_arrival = Some(now);
        if Some(packet.payload_type) == self.telephone_event {
            if let Ok(event) = TelephoneEvent::parse(packet.payload) {
                let start = (packet.ssrc, packet.timestamp);
                if self.last_event_start != Some(start) {
                    self.last_event_start = Some(start);
                    if let Some(d) = media::Digit::from_event(event.event) {
                        self.digits.push(d.as_char());
                    }
                }
            }
            return;
        }
        let codec = if packet.payload_type == self.payload_type {
            Some(self.codec)
        } else {
            Codec::from_payload_type(packet.payload_type)
        };
        let Some(codec) = codec else {
            return; // comfort noise or a codec we did not offer: nothing to place
        };
        if codec != self.codec || packet.payload_type != self.payload_type {
            self.other_codec += 1;
        }
        let end = self.samples.len();
        let pos = match self.base {
            Some((ssrc, ts, idx)) if ssrc == packet.ssrc => {
                let offset = packet.timestamp.distance(ts);
                let pos = idx as i64 + offset;
                if pos < 0 || pos + (packet.payload.len() as i64) + 8000 < end as i64 {
                    self.late += 1;
                    return;
                }
                if pos > end as i64 + i64::from(MAX_GAP) {
                    None
                } else {
                    Some(pos as usize)
                }
            }
            _ => None,
        };
        let pos = pos.unwrap_or_else(|| {
            self.base = Some((packet.ssrc, packet.timestamp, end));
            end
        });
        let needed = pos + packet.payload.len();
        if needed > self.samples.len() {
            self.samples.resize(needed, 0);
        }
        codec.decode_into(packet.payload, &mut self.samples[pos..needed]);
        self.arrivals.push(Arrival {
            at: now,
            start: pos,
            len: packet.payload.len(),
        });
    }

    /// The last `n` samples, or `None` if fewer have arrived.
    pub fn tail(&self, n: usize) -> Option<&[i16]> {
        self.samples.get(self.samples.len().checked_sub(n)?..)
    }
}

async fn record_loop(socket: Arc<UdpSocket>, local: SocketAddr, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Some((len, from)) = crate::recv_datagram(&socket, &mut buf, "RTP recorder").await
        else {
            return;
        };
        let datagram = &buf[..len];
        if from == local
            && let Some(id) = datagram.strip_prefix(FENCE_MAGIC)
            && let Ok(id) = <[u8; 8]>::try_from(id)
        {
            let mut rec = lock(&shared.recording);
            let at = rec.arrivals.len();
            rec.fences.push((u64::from_be_bytes(id), at));
            drop(rec);
            shared.progress.send_modify(|n| *n += 1);
            continue;
        }
        let Ok(packet) = RtpPacket::parse(datagram) else {
            continue; // RTCP, STUN or noise
        };
        lock(&shared.recording).push(&packet, from, Instant::now());
        shared.progress.send_modify(|n| *n += 1);
    }
}

/// How a key press is spelled in packets: `UPDATES` growing durations, then
/// the final duration three times with the E bit (RFC 4733 §2.5.1.4), then
/// `GAP` ticks of audio before the next press.
const DTMF_UPDATES: u16 = 5;
const DTMF_ENDS: u16 = 3;
const DTMF_GAP: u16 = 3;
const DTMF_VOLUME: u8 = 10;

struct DtmfRun {
    request: DtmfRequest,
    start: RtpTimestamp,
    sent: u16,
}

async fn send_loop(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
    mut dtmf_rx: mpsc::UnboundedReceiver<DtmfRequest>,
    (codec, payload_type): (Codec, u8),
    telephone_event: Option<u8>,
    start: StreamStart,
) {
    let mut ticker = tokio::time::interval(FRAME);
    // Late ticks are sent at once, so the stream keeps its timestamp rate.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let (ssrc, mut seq, mut ts) = (start.ssrc, start.seq, start.ts);
    let mut phase = 0.0_f64;
    let mut phase2 = 0.0_f64;
    let mut talking = false;
    let mut queue: VecDeque<DtmfRequest> = VecDeque::new();
    let mut current: Option<DtmfRun> = None;
    let mut cooldown = 0_u16;
    let mut packet = Vec::with_capacity(12 + FRAME_SAMPLES);
    let mut pcm = [0_i16; FRAME_SAMPLES];
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            request = dtmf_rx.recv() => {
                match request {
                    Some(r) => queue.push_back(r),
                    None => return, // the call is gone
                }
                continue;
            }
        }
        let (mode, remote, ssrc) = {
            let c = control.borrow();
            (c.mode, c.remote, c.ssrc.unwrap_or(ssrc))
        };
        if current.is_none() && cooldown == 0 {
            current = queue.pop_front().map(|request| DtmfRun {
                request,
                start: ts,
                sent: 0,
            });
        }
        cooldown = cooldown.saturating_sub(1);

        let mut header = RtpHeader {
            marker: false,
            payload_type,
            seq,
            timestamp: ts,
            ssrc,
        };
        let mut send = true;
        if let (Some(run), Some(pt)) = (current.as_mut(), telephone_event) {
            let updates = run.sent.min(DTMF_UPDATES - 1) + 1;
            let event = TelephoneEvent {
                event: run.request.event,
                end: run.sent >= DTMF_UPDATES,
                volume: DTMF_VOLUME,
                duration: updates * FRAME_SAMPLES as u16,
            };
            header.marker = run.sent == 0;
            header.payload_type = pt;
            header.timestamp = run.start;
            header.write(&mut packet);
            packet.extend_from_slice(&event.to_bytes());
            run.sent += 1;
            talking = false; // audio after the event starts a new talkspurt
        } else {
            match mode {
                Mode::Stopped => {
                    send = false;
                    talking = false;
                }
                Mode::Silence => pcm.fill(0),
                Mode::Tone(freq) | Mode::ToneAt(freq, _) => {
                    let amplitude = match mode {
                        Mode::ToneAt(_, amplitude) => amplitude,
                        _ => TONE_AMPLITUDE,
                    };
                    let step = std::f64::consts::TAU * f64::from(freq) / 8000.0;
                    for s in &mut pcm {
                        *s = (amplitude * phase.sin()) as i16;
                        phase = (phase + step) % std::f64::consts::TAU;
                    }
                }
                Mode::Tones(low, high) => {
                    let step = std::f64::consts::TAU * f64::from(low) / 8000.0;
                    let step2 = std::f64::consts::TAU * f64::from(high) / 8000.0;
                    for s in &mut pcm {
                        *s = (TONE_AMPLITUDE / 2.0 * (phase.sin() + phase2.sin())) as i16;
                        phase = (phase + step) % std::f64::consts::TAU;
                        phase2 = (phase2 + step2) % std::f64::consts::TAU;
                    }
                }
            }
            if send {
                header.marker = !talking;
                talking = true;
                header.write(&mut packet);
                codec.encode_into(&pcm, &mut packet);
            }
        }
        if current
            .as_ref()
            .is_some_and(|r| r.sent >= DTMF_UPDATES + DTMF_ENDS)
            && let Some(run) = current.take()
        {
            let _ = run.request.done.send(());
            cooldown = DTMF_GAP;
        }
        if telephone_event.is_none() {
            // Nothing to send digits with; `PhoneCall::send_dtmf` refuses before
            // queueing, so this only drops what raced a renegotiation.
            current = None;
            queue.clear();
        }
        if send {
            match socket.send_to(&packet, remote).await {
                Ok(_) => {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::debug!(error = %e, %remote, "RTP send failed"),
            }
            seq = seq.next();
        }
        ts = ts.wrapping_add(FRAME_SAMPLES as u32);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tone(freq: f64, n: usize, start: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| (8000.0 * (std::f64::consts::TAU * freq * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    fn packet(codec: Codec, ssrc: u32, seq: u16, ts: u32, pcm: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: codec.payload_type(),
            seq: SeqNo(seq),
            timestamp: RtpTimestamp(ts),
            ssrc: Ssrc(ssrc),
        }
        .write(&mut out);
        codec.encode_into(pcm, &mut out);
        out
    }

    fn push(rec: &mut Recording, bytes: &[u8]) {
        let from = "127.0.0.1:9".parse().unwrap();
        rec.push(&RtpPacket::parse(bytes).unwrap(), from, Instant::now());
    }

    #[test]
    fn thresholds_hear_one_of_four_tones_and_not_an_absent_one() {
        let n = 1600;
        let mix: Vec<i16> = (0..n)
            .map(|i| {
                [440.0, 700.0, 1100.0, 1400.0]
                    .iter()
                    .map(|&f| {
                        (2000.0 * (std::f64::consts::TAU * f * i as f64 / 8000.0).sin()) as i16
                    })
                    .sum()
            })
            .collect();
        assert!(tone_present(&mix, 440));
        assert!(tone_present(&mix, 1400));
        assert!(!tone_present(&mix, 1000));
        assert!(!tone_present(&[0; 1600], 440));
        // A faint tone alone is not "heard".
        let faint: Vec<i16> = tone(440.0, n, 0).iter().map(|s| s / 100).collect();
        assert!(!tone_present(&faint, 440));
    }

    #[test]
    fn recording_fills_gaps_and_places_reordered_packets() {
        let mut rec = Recording::new(Codec::Pcmu, Some(101));
        let a = tone(440.0, 160, 0);
        push(&mut rec, &packet(Codec::Pcmu, 7, 10, 1000, &a));
        // 11 is late; 12 arrives first, one frame of silence is held for 11.
        push(&mut rec, &packet(Codec::Pcmu, 7, 12, 1320, &a));
        assert_eq!(rec.samples.len(), 480);
        assert!(rec.samples[160..320].iter().all(|&s| s == 0));
        push(&mut rec, &packet(Codec::Pcma, 7, 11, 1160, &a));
        assert!(rec.samples[160..320].iter().any(|&s| s != 0));
        // A telephone event is a digit, not audio.
        let mut dtmf = Vec::new();
        RtpHeader {
            marker: true,
            payload_type: 101,
            seq: SeqNo(13),
            timestamp: RtpTimestamp(1480),
            ssrc: Ssrc(7),
        }
        .write(&mut dtmf);
        dtmf.extend_from_slice(&[11, 10, 0, 160]);
        push(&mut rec, &dtmf);
        push(&mut rec, &dtmf);
        assert_eq!(rec.digits, ['#']);
        assert_eq!(rec.samples.len(), 480);
        assert_eq!(rec.packets, 5);
    }

    #[test]
    fn recording_restarts_on_a_new_ssrc_or_a_huge_jump_and_drops_stale_packets() {
        let mut rec = Recording::new(Codec::Pcmu, None);
        let a = tone(440.0, 160, 0);
        push(&mut rec, &packet(Codec::Pcmu, 1, 0, 50_000, &a));
        push(&mut rec, &packet(Codec::Pcmu, 2, 0, 7, &a));
        assert_eq!(rec.samples.len(), 320);
        push(&mut rec, &packet(Codec::Pcmu, 2, 1, 7 + 1_000_000, &a));
        assert_eq!(rec.samples.len(), 480);
        // 2 s behind the newest sample: too late to place.
        for i in 0..100 {
            push(
                &mut rec,
                &packet(Codec::Pcmu, 2, 2 + i, 1_000_167 + 160 * u32::from(i), &a),
            );
        }
        push(&mut rec, &packet(Codec::Pcmu, 2, 1, 1_000_007 + 160, &a));
        assert_eq!(rec.late, 1);
        assert_eq!(rec.tail(3).map(<[i16]>::len), Some(3));
        assert_eq!(Recording::new(Codec::Pcmu, None).tail(1), None);
    }
}
