//! A per-leg adaptive playout buffer, keyed by RTP timestamp, sample-exact.
//!
//! Packets of any size (20 ms and 30 ms ptime both occur: SIPp's PCMA pcap
//! sends 240-byte payloads) are decoded and written into a ring of samples
//! at their timestamp; the mixer takes exactly 160 samples every 20 ms with
//! [`JitterBuffer::pop_frame`]. Reordering inside the window fixes itself
//! (a packet lands where its timestamp says), duplicates find their samples
//! already there, and packets that arrive after their samples were played
//! are dropped and counted as late.
//!
//! ## Delay
//!
//! Each packet's *margin* is how early it arrived: the distance from its
//! first sample to the next sample to be played (0 = just in time, negative
//! = late). The buffer keeps the **smallest margin seen over each second**
//! near a target of `2 × J`, clamped to `[min_delay, max_delay]`, where `J`
//! is the RFC 3550 §A.8 interarrival jitter estimate. The smallest margin
//! says how close the worst packet of the last second came to being late
//! (lost packets never count, so loss does not inflate the delay); `J` adds
//! headroom for bursts not seen in that second. Every change of delay cuts
//! or repeats audio, so it changes only when there is something to change,
//! and where it is least heard:
//!
//! - **A late packet** (its samples were already concealed) schedules growth
//!   at once, by how late it was, up to `max_delay`. Growth is applied by
//!   holding the play position while there is nothing to play (free), in a
//!   quiet frame, or by a cross-faded splice that replays a pitch period.
//! - **A second with too little margin** (but nothing late) schedules growth
//!   that waits for a hold or a quiet frame: no audible splice for a packet
//!   that made it in time.
//! - **A backlog** (more margin than the target) is shrunk only once it
//!   *persisted*: the smallest margin of two whole seconds in a row was
//!   above the target (by more than `HYSTERESIS`). A backlog under
//!   `AUDIBLE_BACKLOG` (40 ms) is shed only in quiet frames (below
//!   `QUIET_RMS`: a speech pause), up to a whole frame at a time; a
//!   larger one (a burst after a stall, a fast sender clock) gets a second
//!   of quiet frames too, and if that second had no pause, it is worth an
//!   audible splice: it is shed in sound, a pitch period at a time.
//!
//! So a steady stream with no jitter is never touched: the start-up delay
//! (`initial_delay`, above the target when nothing jitters) is not a
//! backlog worth a splice, and goes in the first pause. Sound splices skip
//! or replay 5–10 ms, a length picked by autocorrelation (a WSOLA-style
//! search), so a periodic signal is spliced a whole number of periods
//! apart; quiet ones cross-fade a frame with the audio up to 20 ms later
//! (or earlier). Sender clock drift is absorbed the same way: the margin
//! creeps, and quiet frames (or, past 40 ms, splices) take it back.
//!
//! ## Loss and restarts
//!
//! Missing samples go through the concealer (the last pitch period repeated,
//! faded to silence by 60 ms, cross-faded back: no clicks). The room is never
//! stalled: `pop_frame` always returns a frame. Every SSRC change, or two
//! consecutive packets far outside the window (a sender that restarted its
//! sequence and timestamp), resynchronise the buffer to the new stream. A
//! change back to the SSRC just left is a change like any other (A→B→A is
//! heard throughout), except within [`STRAGGLER_WINDOW`] of the switch:
//! there it is a packet of the old stream overtaken by the new one, dropped
//! as [`Push::Stale`] rather than flipping the buffer back and forth.
//!
//! Time enters only as the `now` of each push (for the jitter estimate);
//! popping is driven by the caller's tick.

use std::time::{Duration, Instant};

use crate::plc::Concealer;
use crate::rtp::{RtpTimestamp, SeqNo, Ssrc};
use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE};

/// Ring size in samples (512 ms), a power of two above `max_delay` plus the
/// largest packet plus a frame.
const CAPACITY: usize = 4096;
/// Largest packet accepted, in samples (128 ms).
pub const MAX_PACKET_SAMPLES: usize = 1024;
/// Pops per adaptation window (1 s).
const WINDOW_POPS: u32 = 50;
/// The sender counts as active while it sent something in the last 200 ms.
const ACTIVE_POPS: u32 = 10;
/// Headroom within this distance of the target is left alone (10 ms).
const HYSTERESIS: i64 = 80;
/// A persisted backlog this large (40 ms) is shed in sound too; a smaller
/// one waits for quiet frames.
const AUDIBLE_BACKLOG: i64 = 320;
/// A frame (with the audio a quiet splice skips or repeats) whose RMS is
/// below this is quiet: the level talker detection calls quiet (−44 dBFS).
const QUIET_RMS: i64 = 200;
/// Splices in sound skip or replay between these many samples (5–10 ms).
const MIN_SPLICE: usize = 40;
const MAX_SPLICE: usize = 80;
/// A quiet splice skips or replays up to a whole frame.
const MAX_QUIET_SPLICE: usize = FRAME_SAMPLES;
/// After an SSRC change, packets of the previous SSRC arriving this soon
/// are stragglers of the old stream, not its return.
pub const STRAGGLER_WINDOW: Duration = Duration::from_millis(100);

/// Tuning of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The smallest margin target (how early the latest packet of a second may arrive).
    pub min_delay: Duration,
    /// The largest margin target, and the most growth one late packet can cause.
    pub max_delay: Duration,
    /// The margin a new stream starts with, before any jitter is measured.
    pub initial_delay: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(40),
        }
    }
}

/// The RTP header fields the buffer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Sender's SSRC.
    pub ssrc: Ssrc,
    /// Sequence number (loss statistics and restart detection).
    pub seq: SeqNo,
    /// Timestamp of the first sample.
    pub timestamp: RtpTimestamp,
}

/// The stream being played, as an RTCP report block describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reception {
    /// The sender's SSRC.
    pub ssrc: Ssrc,
    /// Extended highest sequence number received (cycles in the high half).
    pub highest_seq: u32,
    /// Packets expected (highest minus first, plus one) and received.
    pub expected: u64,
    pub received: u64,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Stored for playout.
    Accepted,
    /// Stored, after resynchronising to a new or restarted stream.
    Resynced,
    /// Every sample was already buffered.
    Duplicate,
    /// Its samples were already played (or concealed).
    Late,
    /// Far outside the window; kept as a candidate for a resync only.
    OutOfWindow,
    /// From the SSRC we switched away from less than
    /// [`STRAGGLER_WINDOW`] ago: a straggler of the old stream.
    Stale,
    /// Empty, or larger than [`MAX_PACKET_SAMPLES`].
    BadSize,
}

/// What [`JitterBuffer::pop_frame`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// At least some received audio.
    Audio,
    /// Only concealment (repetition of earlier audio).
    Concealed,
    /// Nothing: the frame is all zeros.
    Silence,
}

/// Counters since the buffer was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored.
    pub accepted: u64,
    /// Packets dropped as duplicates.
    pub duplicate: u64,
    /// Packets dropped because their time had passed.
    pub late: u64,
    /// Packets never received, from sequence-number gaps (RFC 3550 §A.3).
    pub lost: u64,
    /// Times the buffer resynchronised to a new or restarted stream.
    pub resyncs: u64,
    /// Samples played that were concealment rather than received audio.
    pub concealed_samples: u64,
    /// Samples of delay added by splices and holds.
    pub expanded_samples: u64,
    /// Samples of delay removed by splices.
    pub compressed_samples: u64,
    /// Current interarrival jitter estimate, in samples.
    pub jitter_samples: u32,
    /// Current margin target, in samples.
    pub target_samples: u32,
}

/// One leg's playout buffer. See the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    ring: Box<[i16; CAPACITY]>,
    present: [u64; CAPACITY / 64],
    stream: Option<Stream>,
    /// The SSRC switched away from, and when (arrival, in samples).
    prev_ssrc: Option<(Ssrc, i64)>,
    /// Timestamp (extended) of the next sample to play.
    play: i64,
    /// End (extended timestamp, exclusive) of the newest audio stored.
    end: i64,
    epoch: Option<Instant>,
    /// RFC 3550 jitter, in samples, times 16 (the RFC's fixed-point form).
    jitter16: i64,
    target: i64,
    /// Samples of delay still to add (> 0) or remove (< 0).
    pending: i64,
    /// Whether `pending` may be applied by a splice in sound (a late
    /// packet's growth, a large backlog), or waits for a hold or quiet.
    audible: bool,
    /// The smallest margin of this window, and of the previous one
    /// (`i64::MAX`: none), both relative to the current play position.
    window_min: i64,
    prev_window_min: i64,
    /// Whether a quiet frame played this window (measured while a change
    /// waited for one).
    window_quiet: bool,
    /// Whether the last frame played was quiet (measured only while a
    /// change waits for one: a loud frame is rarely followed by a quiet one,
    /// so a loud one saves the next tick the search).
    last_quiet: bool,
    /// Whether the last judgment found a backlog of `AUDIBLE_BACKLOG` and
    /// gave the quiet frames a window to shed it.
    backlog_waited: bool,
    window_pops: u32,
    /// Samples an 8 kHz sample stands for: 1, or 2 for a 16 kHz stream on
    /// a doubled clock ([`crate::playout`]); the windows and thresholds
    /// counted in pops or samples scale with it, so they keep their time.
    rate: u32,
    window_packets: u32,
    idle_pops: u32,
    candidate: Option<(Ssrc, SeqNo, RtpTimestamp)>,
    concealer: Concealer,
    stats: JitterStats,
    lost_before: u64,
}

#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: Ssrc,
    /// Newest extended timestamp seen, the reference for unwrapping.
    ext_ts: i64,
    /// Sequence bookkeeping (extended numbers).
    seq_base: i64,
    seq_max: i64,
    received: u64,
    /// Last transit time (arrival − timestamp) for the jitter estimate.
    transit: Option<i64>,
}

impl Stream {
    fn new(info: PacketInfo) -> Self {
        let seq = i64::from(info.seq.0);
        Self {
            ssrc: info.ssrc,
            ext_ts: i64::from(info.timestamp.0),
            seq_base: seq,
            seq_max: seq - 1,
            received: 0,
            transit: None,
        }
    }

    fn extend_ts(&self, ts: RtpTimestamp) -> i64 {
        self.ext_ts + ts.distance(RtpTimestamp(self.ext_ts as u32))
    }

    fn count_seq(&mut self, seq: SeqNo) {
        let ext = self.seq_max + i64::from(seq.distance(SeqNo(self.seq_max as u16)));
        self.seq_max = self.seq_max.max(ext);
        self.seq_base = self.seq_base.min(ext);
        self.received += 1;
    }

    fn lost(&self) -> u64 {
        let expected = self.seq_max - self.seq_base + 1;
        u64::try_from(expected - self.received as i64).unwrap_or(0)
    }
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new(JitterConfig::default())
    }
}

impl JitterBuffer {
    /// An empty buffer.
    #[must_use]
    pub fn new(config: JitterConfig) -> Self {
        Self::with_rate(config, 1)
    }

    /// An empty buffer whose pops and samples run `rate` times as fast as
    /// 8 kHz ([`crate::playout`]'s wideband buffer).
    pub(crate) fn with_rate(config: JitterConfig, rate: u32) -> Self {
        let mut jb = Self {
            config,
            ring: Box::new([0; CAPACITY]),
            present: [0; CAPACITY / 64],
            stream: None,
            prev_ssrc: None,
            play: 0,
            end: 0,
            epoch: None,
            jitter16: 0,
            target: 0,
            pending: 0,
            audible: false,
            window_min: i64::MAX,
            prev_window_min: i64::MAX,
            window_quiet: false,
            backlog_waited: false,
            last_quiet: false,
            window_pops: 0,
            rate: rate.max(1),
            window_packets: 0,
            idle_pops: u32::MAX,
            candidate: None,
            concealer: Concealer::default(),
            stats: JitterStats::default(),
            lost_before: 0,
        };
        jb.target = jb.clamp_delay(samples_of(config.initial_delay));
        jb
    }

    /// Counters and current estimates.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        let mut stats = self.stats;
        stats.lost = self.lost_before + self.stream.map_or(0, |s| s.lost());
        stats.jitter_samples = u32::try_from(self.jitter16 / 16).unwrap_or(u32::MAX);
        stats.target_samples = u32::try_from(self.target).unwrap_or(0);
        stats
    }

    /// The current stream's reception counts, once a packet arrived.
    #[must_use]
    pub fn reception(&self) -> Option<Reception> {
        self.stream.map(|s| Reception {
            ssrc: s.ssrc,
            highest_seq: s.seq_max as u32,
            expected: u64::try_from(s.seq_max - s.seq_base + 1).unwrap_or(0),
            received: s.received,
        })
    }

    /// Audio buffered beyond the next frame, in samples (newest received
    /// timestamp minus play position; negative: an underrun is coming).
    #[must_use]
    pub fn headroom(&self) -> i64 {
        self.end - self.play - FRAME_SAMPLES as i64
    }

    /// Stores a decoded packet that arrived at `now`.
    pub fn push(&mut self, info: PacketInfo, samples: &[i16], now: Instant) -> Push {
        let len = samples.len();
        if len == 0 || len > MAX_PACKET_SAMPLES {
            return Push::BadSize;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = samples_of(now.saturating_duration_since(epoch));

        let Some(stream) = self.stream.as_mut() else {
            return self.resync(info, samples, arrival);
        };
        if stream.ssrc != info.ssrc {
            if let Some((prev, at)) = self.prev_ssrc
                && prev == info.ssrc
                && arrival - at < samples_of(STRAGGLER_WINDOW)
            {
                return Push::Stale;
            }
            self.prev_ssrc = Some((stream.ssrc, arrival));
            return self.resync(info, samples, arrival);
        }
        let ext = stream.extend_ts(info.timestamp);
        let start = ext - self.play;
        let stop = start + len as i64;
        let behind_limit = -(samples_of(self.config.max_delay) + CAPACITY as i64);
        let ahead_limit = (CAPACITY - FRAME_SAMPLES - MAX_QUIET_SPLICE) as i64;

        if stop > ahead_limit || start < behind_limit {
            // Not a packet of the stream we are playing: a restart, or junk.
            // An idle buffer follows a packet ahead at once; otherwise two
            // consecutive packets must agree before we jump.
            if start > 0 && self.end <= self.play {
                return self.resync(info, samples, arrival);
            }
            if let Some((ssrc, seq, ts)) = self.candidate
                && ssrc == info.ssrc
                && (1..=3).contains(&info.seq.distance(seq))
                && (0..=4 * MAX_PACKET_SAMPLES as i64).contains(&info.timestamp.distance(ts))
            {
                return self.resync(info, samples, arrival);
            }
            self.candidate = Some((info.ssrc, info.seq, info.timestamp));
            return Push::OutOfWindow;
        }
        self.candidate = None;
        stream.ext_ts = stream.ext_ts.max(ext);
        stream.count_seq(info.seq);
        self.update_jitter(arrival, ext);
        self.idle_pops = 0;
        self.record_margin(start);

        if stop <= 0 {
            self.stats.late += 1;
            return Push::Late;
        }
        if self.store(ext, samples) == 0 {
            // Counted as received above; a duplicate is not a loss either way.
            if let Some(s) = self.stream.as_mut() {
                s.received -= 1;
            }
            self.stats.duplicate += 1;
            return Push::Duplicate;
        }
        self.end = self.end.max(ext + len as i64);
        self.stats.accepted += 1;
        Push::Accepted
    }

    /// Notes a packet of the same stream that carries no audio (a telephone
    /// event, comfort noise): it used a sequence number, so it is not a loss.
    pub fn note_non_audio(&mut self, info: PacketInfo) {
        if let Some(stream) = self.stream.as_mut()
            && stream.ssrc == info.ssrc
            && stream.extend_ts(info.timestamp).abs_diff(stream.ext_ts) < CAPACITY as u64 * 16
        {
            stream.count_seq(info.seq);
        }
    }

    /// Produces the next 20 ms for the mixer. Never waits: missing audio is concealed.
    pub fn pop_frame(&mut self, out: &mut Frame) -> FrameKind {
        if self.stream.is_none() {
            out.fill(0);
            return FrameKind::Silence;
        }
        self.idle_pops = self.idle_pops.saturating_add(1);
        let active = self.idle_pops <= ACTIVE_POPS * self.rate;

        let frame = FRAME_SAMPLES as i64;
        let present = self.count_present(self.play, frame);
        let mut any_audio = present > 0;
        let adapted = if present == frame && self.pending != 0 && (self.audible || self.last_quiet)
        {
            self.splice(out)
        } else {
            None
        };
        let consumed = if let Some(consumed) = adapted {
            consumed
        } else if present == 0 && self.pending > 0 && active {
            // Nothing to play yet and we want more delay: hold the position.
            for s in out.iter_mut() {
                *s = self.concealer.missing();
            }
            self.stats.concealed_samples += frame as u64;
            let hold = self.pending.min(frame);
            self.pending -= hold;
            self.stats.expanded_samples += hold as u64;
            self.shift_margins(hold);
            any_audio = false;
            frame - hold
        } else {
            if present == frame {
                // The usual frame: all of it arrived, one copy out of the ring.
                let (a, b) = ring_slices(&self.ring, self.play, FRAME_SAMPLES);
                out[..a.len()].copy_from_slice(a);
                out[a.len()..].copy_from_slice(b);
                self.concealer.good_run(out);
            } else {
                for (i, s) in out.iter_mut().enumerate() {
                    let t = self.play + i as i64;
                    *s = if self.is_present(t) {
                        self.concealer.good(self.ring[slot(t)])
                    } else {
                        self.stats.concealed_samples += 1;
                        self.concealer.missing()
                    };
                }
            }
            frame
        };
        self.clear(self.play, consumed);
        self.play += consumed;
        self.last_quiet = self.pending != 0
            && !self.audible
            && energy(out) < FRAME_SAMPLES as i64 * QUIET_RMS * QUIET_RMS;
        self.window_quiet |= self.last_quiet;

        self.window_pops += 1;
        if self.window_pops >= WINDOW_POPS * self.rate {
            self.end_window();
        }

        if any_audio {
            FrameKind::Audio
        } else if out.iter().all(|&s| s == 0) {
            FrameKind::Silence
        } else {
            FrameKind::Concealed
        }
    }

    /// Makes the buffer play `info`'s stream from now on.
    fn resync(&mut self, info: PacketInfo, samples: &[i16], arrival: i64) -> Push {
        let first = self.stream.is_none();
        if let Some(old) = self.stream.take() {
            self.lost_before += old.lost();
            self.stats.resyncs += 1;
        }
        let mut stream = Stream::new(info);
        stream.count_seq(info.seq);
        let ext = stream.ext_ts;
        self.stream = Some(stream);
        self.present = [0; CAPACITY / 64];
        self.candidate = None;
        self.pending = 0;
        self.audible = false;
        self.reset_window();
        self.prev_window_min = i64::MAX;
        self.backlog_waited = false;
        let len = samples.len() as i64;
        self.play = ext - self.target;
        self.end = ext + len;
        self.record_margin(self.target);
        self.store(ext, samples);
        self.update_jitter(arrival, ext);
        self.idle_pops = 0;
        self.stats.accepted += 1;
        if first {
            Push::Accepted
        } else {
            Push::Resynced
        }
    }

    /// Writes the samples not yet present; returns how many were written.
    fn store(&mut self, ext: i64, samples: &[i16]) -> usize {
        let len = samples.len() as i64;
        if ext >= self.play && self.count_present(ext, len) == 0 {
            // The usual packet: new, in order; one copy into the ring.
            let first = (CAPACITY - slot(ext)).min(samples.len());
            let (a, b) = samples.split_at(first);
            self.ring[slot(ext)..slot(ext) + a.len()].copy_from_slice(a);
            self.ring[..b.len()].copy_from_slice(b);
            for_each_word(ext, len, |w, mask| self.present[w] |= mask);
            return samples.len();
        }
        let mut written = 0;
        for (i, &x) in samples.iter().enumerate() {
            let t = ext + i as i64;
            if t < self.play || self.is_present(t) {
                continue;
            }
            self.ring[slot(t)] = x;
            self.present[slot(t) / 64] |= 1 << (slot(t) % 64);
            written += 1;
        }
        written
    }

    fn update_jitter(&mut self, arrival: i64, ext: i64) {
        let transit = arrival - ext;
        if let Some(stream) = self.stream.as_mut() {
            if let Some(prev) = stream.transit {
                // J += (|D| - J) / 16, kept as 16·J in integers.
                let d = (transit - prev).abs().min(1 << 20);
                self.jitter16 += d - (self.jitter16 + 8) / 16;
            }
            stream.transit = Some(transit);
        }
    }

    /// Notes how early a packet arrived: its first sample's distance from
    /// the next sample to be played (0 = just in time, negative = late).
    fn record_margin(&mut self, margin: i64) {
        self.window_min = self.window_min.min(margin);
        self.window_packets += 1;
        if margin < 0 {
            // Late: grow now rather than after a second of glitches.
            let grow = (self.target - margin).min(samples_of(self.config.max_delay));
            self.pending = self.pending.max(grow);
            self.audible = true;
        }
    }

    fn end_window(&mut self) {
        let min_margin = self.window_min;
        // Judge only a second in which the sender was really sending.
        let judged = self.window_packets * 4 >= self.window_pops && min_margin != i64::MAX;
        self.target = self.clamp_delay(2 * self.jitter16 / 16);
        // A late packet's growth is left to finish; anything else is judged
        // afresh (the margins follow every change of the play position).
        let growing_late = self.audible && self.pending > 0;
        if judged && !growing_late {
            let max = samples_of(self.config.max_delay);
            let waited = std::mem::take(&mut self.backlog_waited);
            self.pending = 0;
            self.audible = false;
            let deficit = self.target - min_margin;
            if deficit > HYSTERESIS * i64::from(self.rate) {
                self.pending = deficit.min(max);
            } else if self.prev_window_min != i64::MAX {
                // Shrink back to the target (not merely into the hysteresis
                // band), by what two seconds in a row had to spare.
                let excess = min_margin.min(self.prev_window_min) - self.target;
                if excess > HYSTERESIS * i64::from(self.rate) {
                    self.pending = -excess.min(max);
                    // A large backlog gets one window of quiet frames first;
                    // if it had no pause to use, it is shed in sound.
                    let large = excess >= AUDIBLE_BACKLOG * i64::from(self.rate);
                    self.audible = large && waited && !self.window_quiet;
                    self.backlog_waited = large && !self.audible;
                }
            }
        }
        self.prev_window_min = if judged { min_margin } else { i64::MAX };
        self.reset_window();
    }

    /// The play position moved by `delay` samples more (> 0) or fewer (< 0)
    /// than a frame: the margins measured so far move the other way.
    fn shift_margins(&mut self, delay: i64) {
        for m in [&mut self.window_min, &mut self.prev_window_min] {
            if *m != i64::MAX {
                *m += delay;
            }
        }
    }

    fn reset_window(&mut self) {
        self.window_quiet = false;
        self.window_min = i64::MAX;
        self.window_pops = 0;
        self.window_packets = 0;
    }

    fn clamp_delay(&self, samples: i64) -> i64 {
        samples.clamp(
            samples_of(self.config.min_delay),
            samples_of(self.config.max_delay).max(samples_of(self.config.min_delay)),
        )
    }

    /// A cross-faded splice that replays (pending > 0) or skips (pending < 0)
    /// audio; returns the samples consumed, or `None` when this frame is not
    /// the place for one (neither quiet nor allowed in sound, or the audio
    /// to skip is not all there). Needs the frame fully present.
    fn splice(&mut self, out: &mut Frame) -> Option<i64> {
        let frame = FRAME_SAMPLES as i64;
        let want = (self.pending.unsigned_abs() as usize).min(MAX_QUIET_SPLICE);
        let mut a = [0i16; FRAME_SAMPLES + MAX_QUIET_SPLICE];
        let compress = self.pending < 0;
        let available = if compress {
            // The longest fully present stretch after the frame.
            let mut n = 0;
            while n < want && self.is_present(self.play + frame + n as i64) {
                n += 1;
            }
            n
        } else {
            want
        };
        for (i, s) in a.iter_mut().take(FRAME_SAMPLES + available).enumerate() {
            *s = self.ring[slot(self.play + i as i64)];
        }
        // Expansion cross-fades towards the audio k samples back, which for
        // the first k samples was already played: take those from history.
        let mut prev = [0i16; MAX_QUIET_SPLICE];
        for (j, p) in prev.iter_mut().enumerate() {
            *p = self.concealer.played(MAX_QUIET_SPLICE - j);
        }
        let other = |i: usize, k: usize| -> i16 {
            if compress {
                a[i + k]
            } else if i >= k {
                a[i - k]
            } else {
                prev[MAX_QUIET_SPLICE + i - k]
            }
        };
        // Everything the cross-fade would touch.
        let touched = if compress {
            energy(&a[..FRAME_SAMPLES + available])
        } else {
            energy(&a[..FRAME_SAMPLES]) + energy(&prev[MAX_QUIET_SPLICE - available..])
        };
        let quiet = touched < (FRAME_SAMPLES + available) as i64 * QUIET_RMS * QUIET_RMS;
        self.window_quiet |= quiet;
        let k = if quiet && available > 0 {
            available
        } else if self.audible && available >= MIN_SPLICE {
            // In sound: the lag that best continues the waveform (a whole
            // number of pitch periods for a periodic signal).
            let mut best = (f64::MIN, MIN_SPLICE);
            for k in MIN_SPLICE..=available.min(MAX_SPLICE) {
                let (mut dot, mut energy) = (0i64, 0i64);
                for (i, &x) in a.iter().take(FRAME_SAMPLES).enumerate() {
                    let y = i64::from(other(i, k));
                    dot += i64::from(x) * y;
                    energy += y * y;
                }
                let score = if energy == 0 {
                    0.0
                } else {
                    dot as f64 / (energy as f64).sqrt()
                };
                if score > best.0 {
                    best = (score, k);
                }
            }
            best.1
        } else {
            return None;
        };
        for (i, o) in out.iter_mut().enumerate() {
            let w = i as i32;
            let x = (i32::from(a[i]) * (FRAME_SAMPLES as i32 - w) + i32::from(other(i, k)) * w)
                / FRAME_SAMPLES as i32;
            *o = self.concealer.good(x as i16);
        }
        let k = k as i64;
        if compress {
            self.pending += k;
            self.stats.compressed_samples += k as u64;
            self.shift_margins(-k);
            Some(frame + k)
        } else {
            self.pending -= k;
            self.stats.expanded_samples += k as u64;
            self.shift_margins(k);
            Some(frame - k)
        }
    }

    fn is_present(&self, t: i64) -> bool {
        let s = slot(t);
        self.present[s / 64] & (1 << (s % 64)) != 0
    }

    /// How many of the `n` (at most `CAPACITY`) positions from `from` hold audio.
    fn count_present(&self, from: i64, n: i64) -> i64 {
        let mut count = 0;
        for_each_word(from, n, |w, mask| {
            count += (self.present[w] & mask).count_ones()
        });
        i64::from(count)
    }

    fn clear(&mut self, from: i64, n: i64) {
        for_each_word(from, n, |w, mask| self.present[w] &= !mask);
    }
}

/// Calls `f(word, mask)` for each word of the `present` bitmap that the `n`
/// (at most `CAPACITY`) ring positions from `from` touch, `mask` marking
/// their bits. A word never straddles the ring's end (`CAPACITY` is a
/// multiple of 64).
fn for_each_word(from: i64, n: i64, mut f: impl FnMut(usize, u64)) {
    debug_assert!((0..=CAPACITY as i64).contains(&n));
    let mut s = slot(from);
    let mut left = usize::try_from(n).unwrap_or(0).min(CAPACITY);
    while left > 0 {
        let bit = s % 64;
        let take = (64 - bit).min(left);
        let mask = if take == 64 {
            u64::MAX
        } else {
            ((1u64 << take) - 1) << bit
        };
        f(s / 64, mask);
        left -= take;
        s = (s + take) % CAPACITY;
    }
}

/// The `n` (at most `CAPACITY`) ring samples from position `from`, as the
/// part before the ring's end and the part after it.
fn ring_slices(ring: &[i16; CAPACITY], from: i64, n: usize) -> (&[i16], &[i16]) {
    let start = slot(from);
    let first = (CAPACITY - start).min(n);
    (&ring[start..start + first], &ring[..n - first])
}

/// Sum of squares.
fn energy(x: &[i16]) -> i64 {
    x.iter().map(|&s| i64::from(s) * i64::from(s)).sum()
}

fn slot(t: i64) -> usize {
    t.rem_euclid(CAPACITY as i64) as usize
}

fn samples_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    const TICK: Duration = Duration::from_millis(20);

    /// One fake-time origin for every tick of a test (the clock is never read
    /// again: every `now` is this plus ticks).
    fn epoch() -> Instant {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn fixed_delay() -> JitterConfig {
        JitterConfig {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(20),
        }
    }

    /// A test signal whose samples are identifiable: a ramp of the timestamp.
    fn ramp(ts: u32) -> i16 {
        (ts % 30_000) as i16
    }

    fn sine(freq: f64, t: u64) -> i16 {
        (10_000.0 * (std::f64::consts::TAU * freq * t as f64 / 8000.0).sin()) as i16
    }

    fn max_step(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    /// A sender: packet `n` holds samples `n*ptime ..` of `signal`.
    struct Sender {
        ssrc: Ssrc,
        seq0: u16,
        ts0: u32,
        ptime: usize,
        signal: fn(u64) -> i16,
    }

    impl Sender {
        fn packet(&self, n: usize) -> (PacketInfo, Vec<i16>) {
            let first = (n * self.ptime) as u64;
            let info = PacketInfo {
                ssrc: self.ssrc,
                seq: SeqNo(self.seq0.wrapping_add(n as u16)),
                timestamp: RtpTimestamp(self.ts0.wrapping_add(first as u32)),
            };
            let samples = (0..self.ptime as u64)
                .map(|i| (self.signal)(first + i))
                .collect();
            (info, samples)
        }

        /// Send time of packet `n`, in ms.
        fn sent_ms(&self, n: usize) -> u64 {
            (n * self.ptime / 8) as u64
        }
    }

    /// Runs `ticks` ticks; packet n arrives at the first tick at or after
    /// `arrive(n)` ms (None: lost). Each tick pushes what arrived, then pops.
    fn run(
        jb: &mut JitterBuffer,
        sender: &Sender,
        ticks: usize,
        arrive: impl Fn(usize) -> Option<u64>,
    ) -> (Vec<i16>, Vec<FrameKind>) {
        run_from(jb, sender, 0, ticks, arrive)
    }

    /// [`run`] from tick `first` on (ticks before it were run already).
    fn run_from(
        jb: &mut JitterBuffer,
        sender: &Sender,
        first: usize,
        ticks: usize,
        arrive: impl Fn(usize) -> Option<u64>,
    ) -> (Vec<i16>, Vec<FrameKind>) {
        let t0 = epoch();
        let packets = (first + ticks) * 20 * 8 / sender.ptime + 10;
        let mut schedule: Vec<(u64, usize)> = (0..packets)
            .filter_map(|n| arrive(n).map(|ms| (ms.div_ceil(20), n)))
            .filter(|&(tick, _)| tick >= first as u64)
            .collect();
        schedule.sort_by_key(|&(tick, _)| tick); // stable: same tick keeps order
        let mut out = Vec::new();
        let mut kinds = Vec::new();
        let mut next = 0;
        for tick in first as u64..(first + ticks) as u64 {
            let now = t0 + TICK * tick as u32;
            while next < schedule.len() && schedule[next].0 <= tick {
                let (info, samples) = sender.packet(schedule[next].1);
                let _ = jb.push(info, &samples, now);
                next += 1;
            }
            let mut frame = [0; FRAME_SAMPLES];
            kinds.push(jb.pop_frame(&mut frame));
            out.extend_from_slice(&frame);
        }
        (out, kinds)
    }

    fn ramp_sender(ptime: usize) -> Sender {
        Sender {
            ssrc: Ssrc(1),
            seq0: 1000,
            ts0: 0,
            ptime,
            signal: |t| ramp(t as u32),
        }
    }

    /// Index of the first received sample, and whether everything after the
    /// 5 ms fade-in that follows it is contiguous.
    fn contiguous_after_start(out: &[i16]) -> (usize, bool) {
        let start = out.iter().position(|&s| s != 0).unwrap();
        let broken = out[start + 40..]
            .windows(2)
            .position(|w| !(w[1] == w[0] + 1 || (w[0] == 29_999 && w[1] == 0)));
        if let Some(i) = broken {
            let i = start + 40 + i;
            eprintln!(
                "break at {i}: {:?}",
                &out[i.saturating_sub(3)..(i + 4).min(out.len())]
            );
        }
        let ok = broken.is_none();
        (start, ok)
    }

    #[test]
    fn in_order_packets_play_unchanged_after_the_initial_delay() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let sender = ramp_sender(160);
        let (out, _) = run(&mut jb, &sender, 100, |n| Some(sender.sent_ms(n)));
        let (_, ok) = contiguous_after_start(&out);
        assert!(ok);
        // The first packet is played one frame after it arrived, faded in.
        assert!(out[..FRAME_SAMPLES].iter().all(|&s| s == 0));
        assert_eq!(out[FRAME_SAMPLES + 40], 40);
        assert_eq!(jb.stats().concealed_samples as usize, FRAME_SAMPLES);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn thirty_ms_packets_fill_twenty_ms_frames() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let sender = ramp_sender(240);
        let (out, kinds) = run(&mut jb, &sender, 200, |n| Some(sender.sent_ms(n)));
        let (_, ok) = contiguous_after_start(&out);
        assert!(ok, "{:?} {kinds:?}", jb.stats());
        assert!(kinds[5..].iter().all(|&k| k == FrameKind::Audio));
        let stats = jb.stats();
        assert_eq!((stats.late, stats.lost, stats.duplicate), (0, 0, 0));
    }

    #[test]
    fn reordering_and_duplicates_are_repaired() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let sender = ramp_sender(160);
        // Swap each pair 2k+1, 2k+2 (one tick apart).
        let (out, _) = run(&mut jb, &sender, 100, |n| {
            let swapped = if n % 2 == 1 {
                n + 1
            } else if n > 0 {
                n - 1
            } else {
                0
            };
            Some(sender.sent_ms(swapped))
        });
        // Exact throughout: packets arrived with no margin to spare, but none
        // was late, so the buffer waits for a quiet frame (never, in a ramp)
        // to grow rather than splicing what plays fine.
        assert!(contiguous_after_start(&out).1);
        let stats = jb.stats();
        assert_eq!(
            (stats.late, stats.concealed_samples),
            (0, FRAME_SAMPLES as u64)
        );
        assert!(stats.lost <= 1); // the very last packet is swapped past the end of the run
        assert_eq!(stats.expanded_samples, 0);

        // Every packet twice, the copy one tick later.
        let mut jb = JitterBuffer::new(fixed_delay());
        let t0 = Instant::now();
        let mut out = Vec::new();
        for tick in 0..50usize {
            let now = t0 + TICK * tick as u32;
            for n in [tick, tick.wrapping_sub(1)] {
                if n < 50 {
                    let (info, samples) = sender.packet(n);
                    let _ = jb.push(info, &samples, now);
                }
            }
            let mut frame = [0; FRAME_SAMPLES];
            let _ = jb.pop_frame(&mut frame);
            out.extend_from_slice(&frame);
        }
        assert!(contiguous_after_start(&out).1);
        assert_eq!(jb.stats().duplicate, 49);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn late_packets_are_dropped_counted_and_concealed() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let sender = ramp_sender(160);
        let (_, kinds) = run(&mut jb, &sender, 60, |n| {
            Some(sender.sent_ms(n) + if n == 20 { 100 } else { 0 })
        });
        let stats = jb.stats();
        assert_eq!(stats.late, 1);
        assert_eq!(stats.lost, 0); // it did arrive
        // The first frame and the late packet's frame; then it grew the delay.
        assert_eq!(
            stats.concealed_samples,
            2 * FRAME_SAMPLES as u64,
            "{stats:?} {kinds:?}"
        );
        assert!(stats.expanded_samples >= 640, "{stats:?}");
        assert!(kinds[30..].iter().all(|&k| k == FrameKind::Audio));
    }

    #[test]
    fn a_lost_packet_fades_instead_of_stepping() {
        for freq in [400.0, 700.0, 1100.0] {
            let mut jb = JitterBuffer::new(fixed_delay());
            let sender = Sender {
                ssrc: Ssrc(9),
                seq0: 0,
                ts0: 1234,
                ptime: 160,
                signal: match freq {
                    400.0 => |t| sine(400.0, t),
                    700.0 => |t| sine(700.0, t),
                    _ => |t| sine(1100.0, t),
                },
            };
            let (out, _) = run(&mut jb, &sender, 60, |n| {
                (n != 30).then(|| sender.sent_ms(n))
            });
            let natural = max_step(&(0..2000).map(|t| sine(freq, t)).collect::<Vec<_>>());
            let played = &out[3 * FRAME_SAMPLES..];
            assert!(
                max_step(played) <= natural + natural / 5,
                "{freq} Hz: step {} vs {natural} {:?}",
                max_step(played),
                jb.stats()
            );
            assert_eq!(jb.stats().lost, 1);
            assert_eq!(jb.stats().concealed_samples as usize, FRAME_SAMPLES + 160);
        }
    }

    #[test]
    fn a_long_loss_goes_silent_and_comes_back_smoothly() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let sender = Sender {
            ssrc: Ssrc(9),
            seq0: 0,
            ts0: 0,
            ptime: 160,
            signal: |t| sine(500.0, t),
        };
        let (out, kinds) = run(&mut jb, &sender, 80, |n| {
            (!(20..40).contains(&n)).then(|| sender.sent_ms(n))
        });
        assert!(
            kinds[26..40].iter().all(|&k| k == FrameKind::Silence),
            "{kinds:?}"
        );
        assert_eq!(kinds[22], FrameKind::Concealed, "{kinds:?}");
        assert_eq!(kinds[45], FrameKind::Audio, "{kinds:?}");
        let natural = max_step(&(0..2000).map(|t| sine(500.0, t)).collect::<Vec<_>>());
        assert!(max_step(&out[3 * FRAME_SAMPLES..]) <= natural + natural / 5);
        assert_eq!(jb.stats().lost, 20);
    }

    #[test]
    fn sequence_and_timestamp_wrap_are_seamless() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let sender = Sender {
            ssrc: Ssrc(5),
            seq0: 65_530,
            ts0: u32::MAX - 1000,
            ptime: 160,
            signal: |t| ramp(t as u32),
        };
        let (out, _) = run(&mut jb, &sender, 100, |n| Some(sender.sent_ms(n)));
        assert!(contiguous_after_start(&out).1);
        let stats = jb.stats();
        assert_eq!((stats.lost, stats.late, stats.resyncs), (0, 0, 0));
    }

    #[test]
    fn a_new_ssrc_resyncs_without_stalling() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let t0 = Instant::now();
        let first = Sender {
            ssrc: Ssrc(1),
            seq0: 10,
            ts0: 50_000,
            ptime: 160,
            signal: |t| sine(400.0, t),
        };
        // The restarted sender continues the same waveform from new random numbers.
        let second = Sender {
            ssrc: Ssrc(2),
            seq0: 40_000,
            ts0: 3_000_000_000,
            ptime: 160,
            signal: |t| sine(400.0, t + 40 * 160),
        };
        let mut out = Vec::new();
        let mut kinds = Vec::new();
        for tick in 0..80usize {
            let now = t0 + TICK * tick as u32;
            let (info, samples) = if tick < 40 {
                first.packet(tick)
            } else {
                second.packet(tick - 40)
            };
            let _ = jb.push(info, &samples, now);
            // A straggler from the old SSRC is ignored rather than flipping back.
            if tick == 42 {
                let (info, samples) = first.packet(40);
                assert_eq!(jb.push(info, &samples, now), Push::Stale);
            }
            let mut frame = [0; FRAME_SAMPLES];
            kinds.push(jb.pop_frame(&mut frame));
            out.extend_from_slice(&frame);
        }
        assert_eq!(jb.stats().resyncs, 1);
        assert!(
            kinds[42..].iter().all(|&k| k == FrameKind::Audio),
            "{kinds:?}"
        );
        let natural = max_step(&(0..2000).map(|t| sine(400.0, t)).collect::<Vec<_>>());
        assert!(max_step(&out[3 * FRAME_SAMPLES..]) <= natural + natural / 5);
    }

    #[test]
    fn a_return_to_the_earlier_ssrc_is_heard_too() {
        // A→B→A, each SSRC keeping its own numbering (a PBX switching
        // between two sources): every switch resyncs and plays at once.
        let mut jb = JitterBuffer::new(fixed_delay());
        let t0 = Instant::now();
        let a = Sender {
            ssrc: Ssrc(1),
            seq0: 100,
            ts0: 8_000,
            ptime: 160,
            signal: |t| sine(400.0, t),
        };
        let b = Sender {
            ssrc: Ssrc(2),
            seq0: 60_000,
            ts0: 4_000_000_000,
            ptime: 160,
            signal: |t| sine(400.0, t),
        };
        let mut results = Vec::new();
        let mut kinds = Vec::new();
        let mut straggler = None;
        for tick in 0..90usize {
            let now = t0 + TICK * tick as u32;
            let (info, samples) = match tick {
                0..30 => a.packet(tick),
                30..60 => b.packet(tick - 30),
                // A continues where it stopped (its next sequence number).
                _ => a.packet(tick - 30),
            };
            results.push(jb.push(info, &samples, now));
            // A straggler of B just after the switch back is dropped (A
            // came back 600 ms after it was left: not a straggler).
            if tick == 62 {
                let (info, samples) = b.packet(30);
                straggler = Some(jb.push(info, &samples, now));
            }
            let mut frame = [0; FRAME_SAMPLES];
            kinds.push(jb.pop_frame(&mut frame));
        }
        assert_eq!(results[30], Push::Resynced);
        assert_eq!(results[60], Push::Resynced);
        assert_eq!(
            results
                .iter()
                .filter(|r| **r == Push::Accepted || **r == Push::Resynced)
                .count(),
            90
        );
        assert_eq!(jb.stats().resyncs, 2);
        // One concealed frame bridges each switch; nothing goes silent.
        let concealed: Vec<usize> = (3..90).filter(|&i| kinds[i] != FrameKind::Audio).collect();
        assert_eq!(concealed, [30, 60], "{kinds:?}");
        assert_eq!(straggler, Some(Push::Stale));
    }

    #[test]
    fn a_restart_with_the_same_ssrc_resyncs_after_two_packets() {
        let mut jb = JitterBuffer::new(fixed_delay());
        let t0 = Instant::now();
        let before = ramp_sender(160);
        let after = Sender {
            ssrc: Ssrc(1),
            seq0: 7,
            ts0: 2_000_000_000,
            ptime: 160,
            signal: |t| ramp(t as u32),
        };
        let mut kinds = Vec::new();
        let mut results = Vec::new();
        for tick in 0..60usize {
            let now = t0 + TICK * tick as u32;
            let (info, samples) = if tick < 30 {
                before.packet(tick)
            } else {
                after.packet(tick - 30)
            };
            results.push(jb.push(info, &samples, now));
            let mut frame = [0; FRAME_SAMPLES];
            kinds.push(jb.pop_frame(&mut frame));
        }
        assert_eq!(results[30], Push::OutOfWindow);
        assert_eq!(results[31], Push::Resynced);
        assert!(kinds[34..].iter().all(|&k| k == FrameKind::Audio));
        // A single wild packet does not move the play point.
        let (info, samples) = before.packet(10_000);
        assert_eq!(jb.push(info, &samples, t0 + TICK * 60), Push::OutOfWindow);
        let mut frame = [0; FRAME_SAMPLES];
        assert_eq!(jb.pop_frame(&mut frame), FrameKind::Audio);
    }

    /// Deterministic pseudo-random numbers for jitter (no RNG crate, no clock).
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *seed >> 33
    }

    #[test]
    fn target_delay_follows_measured_jitter() {
        // No jitter: the target stays at the minimum.
        let mut jb = JitterBuffer::default();
        let sender = ramp_sender(160);
        let _ = run(&mut jb, &sender, 500, |n| Some(sender.sent_ms(n)));
        assert_eq!(jb.stats().target_samples, 160);

        // Up to 80 ms of random network delay.
        let mut jb = JitterBuffer::default();
        let sender = Sender {
            ssrc: Ssrc(3),
            seq0: 0,
            ts0: 0,
            ptime: 160,
            signal: |t| sine(400.0, t),
        };
        let delays: Vec<u64> = {
            let mut seed = 42;
            (0..2000).map(|_| lcg(&mut seed) % 80).collect()
        };
        let (out, _) = run(&mut jb, &sender, 1500, |n| {
            Some(sender.sent_ms(n) + delays[n])
        });
        let stats = jb.stats();
        assert!(stats.target_samples > 160, "{stats:?}");
        assert!(stats.target_samples <= 1600);
        // After settling, almost nothing is concealed: late packets are rare.
        let before = stats.concealed_samples;
        let (_, _) = run(&mut jb, &sender, 0, |_| None);
        assert_eq!(jb.stats().concealed_samples, before);
        assert!(stats.late * 100 < 1500, "{stats:?}");
        // Never more delay than the maximum plus a packet.
        assert!(jb.headroom() <= 1600 + 160, "{}", jb.headroom());
        let natural = max_step(&(0..2000).map(|t| sine(400.0, t)).collect::<Vec<_>>());
        assert!(max_step(&out[20 * FRAME_SAMPLES..]) <= 2 * natural);
    }

    /// SINAD (dB) of each 40 ms window of `out` (10 ms apart) that lies
    /// wholly in sound (`loud` for every 10 ms of it), with its start.
    fn sinad_in_sound(out: &[i16], freq: f64) -> Vec<(f64, usize)> {
        let loud = |w: &[i16]| {
            w.chunks(80)
                .all(|c| c.iter().any(|s| s.unsigned_abs() > 5000))
        };
        (0..out.len().saturating_sub(320))
            .step_by(80)
            .filter(|&i| loud(&out[i..i + 320]))
            .map(|i| (crate::goertzel::sinad(&out[i..i + 320], freq), i))
            .collect()
    }

    fn worst(windows: &[(f64, usize)]) -> (f64, usize) {
        windows
            .iter()
            .copied()
            .fold((f64::INFINITY, 0), |m, x| if x.0 < m.0 { x } else { m })
    }

    #[test]
    fn a_steady_tone_with_zero_jitter_is_never_spliced() {
        // 5 s of a 1004 Hz tone at a steady 20 ms, with the default tuning:
        // the 40 ms start is above the 20 ms target, but it is no backlog.
        // Also with the arrivals slipping by a tick now and then (a room
        // reads its sockets at its ticks, and the two clocks' phases meet):
        // those packets are still in time, so nothing grows either.
        for slips in [false, true] {
            let mut jb = JitterBuffer::default();
            let sender = Sender {
                ssrc: Ssrc(7),
                seq0: 0,
                ts0: 0,
                ptime: 160,
                signal: |t| sine(1004.0, t),
            };
            let (out, _) = run(&mut jb, &sender, 250, |n| {
                Some(sender.sent_ms(n) + if slips && n % 37 == 5 { 20 } else { 0 })
            });
            // After the 40 ms start and the 5 ms fade-in.
            let windows = sinad_in_sound(&out[4 * FRAME_SAMPLES..], 1004.0);
            assert!(windows.len() > 450);
            let (db, at) = worst(&windows);
            assert!(db >= 35.0, "slips {slips}: {db:.1} dB at sample {at}");
            let stats = jb.stats();
            assert_eq!(
                (stats.compressed_samples, stats.expanded_samples, stats.late),
                (0, 0, 0),
                "{stats:?}"
            );
        }
    }

    #[test]
    fn after_a_burst_the_delay_comes_back_down_in_pauses_or_by_periods() {
        // Up to 20 ms of jitter; at 2 s the network stalls for 300 ms and
        // then delivers everything at once. Talkspurts (600 ms of tone, 400
        // ms of silence) shed the backlog in the pauses, the tone whole
        // untouched; a continuous tone sheds it a pitch period at a time.
        let delays: Vec<u64> = {
            let mut seed = 7;
            (0..2000).map(|_| lcg(&mut seed) % 20).collect()
        };
        let arrive = |n: usize| {
            let sent = n as u64 * 20;
            Some(if (2000..2300).contains(&sent) {
                2300
            } else {
                sent + delays[n]
            })
        };
        for talkspurts in [true, false] {
            let mut jb = JitterBuffer::default();
            let sender = Sender {
                ssrc: Ssrc(8),
                seq0: 0,
                ts0: 0,
                ptime: 160,
                signal: if talkspurts {
                    |t| if t % 8000 < 4800 { sine(1004.0, t) } else { 0 }
                } else {
                    |t| sine(1004.0, t)
                },
            };
            let mut peak = 0;
            let mut out = Vec::new();
            let mut headroom = Vec::new();
            for _ in 0..10 {
                let (o, _) = run_from(&mut jb, &sender, out.len() / FRAME_SAMPLES, 50, arrive);
                out.extend_from_slice(&o);
                headroom.push(jb.headroom());
                peak = peak.max(jb.headroom());
            }
            let stats = jb.stats();
            assert!(
                stats.late > 0 && stats.expanded_samples >= 1000,
                "{stats:?}"
            );
            assert!(peak >= 1000, "{headroom:?}");
            // Back to within the target's reach in the last seconds.
            assert!(headroom[7..].iter().all(|&h| h <= 480), "{headroom:?}");
            assert!(stats.compressed_samples >= 1000, "{stats:?}");
            if talkspurts {
                // Every stretch of tone, outside the stall, plays clean.
                let windows: Vec<(f64, usize)> = sinad_in_sound(&out, 1004.0)
                    .into_iter()
                    .filter(|&(_, i)| i >= 4 * FRAME_SAMPLES && !(15_000..22_000).contains(&i))
                    .collect();
                let (db, at) = worst(&windows);
                assert!(db >= 35.0, "{db:.1} dB at sample {at}");
            }
        }
    }

    #[test]
    fn clock_drift_is_absorbed_both_ways() {
        for (ppm, grows) in [(5_000i64, false), (-5_000, true)] {
            let mut jb = JitterBuffer::new(fixed_delay());
            let sender = Sender {
                ssrc: Ssrc(4),
                seq0: 0,
                ts0: 0,
                ptime: 160,
                signal: |t| sine(400.0, t),
            };
            // Packet n is sent at n·20 ms scaled by the sender's clock error.
            let (out, _) = run(&mut jb, &sender, 1500, |n| {
                let ms = (n as i64 * 20 * 1_000_000 / (1_000_000 + ppm)) as u64;
                Some(ms)
            });
            let stats = jb.stats();
            if grows {
                assert!(stats.expanded_samples > 0, "{stats:?}");
            } else {
                assert!(stats.compressed_samples > 0, "{stats:?}");
            }
            // Headroom stays bounded and audio keeps flowing.
            assert!(
                (-160..=600).contains(&jb.headroom()),
                "{ppm}: {} {stats:?}",
                jb.headroom()
            );
            assert!(
                stats.concealed_samples < 50 * FRAME_SAMPLES as u64,
                "{ppm}: {stats:?}"
            );
            let natural = max_step(&(0..2000).map(|t| sine(400.0, t)).collect::<Vec<_>>());
            assert!(
                max_step(&out[5 * FRAME_SAMPLES..]) <= natural + natural / 4,
                "{ppm}: {} vs {natural} {stats:?}",
                max_step(&out[5 * FRAME_SAMPLES..])
            );
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        let mut jb = JitterBuffer::default();
        let info = PacketInfo {
            ssrc: Ssrc(1),
            seq: SeqNo(1),
            timestamp: RtpTimestamp(1),
        };
        let now = Instant::now();
        assert_eq!(jb.push(info, &[], now), Push::BadSize);
        assert_eq!(
            jb.push(info, &[0; MAX_PACKET_SAMPLES + 1], now),
            Push::BadSize
        );
        let mut frame = [1; FRAME_SAMPLES];
        assert_eq!(jb.pop_frame(&mut frame), FrameKind::Silence);
        assert!(frame.iter().all(|&s| s == 0));
    }

    proptest! {
        /// The word-at-a-time bitmap (`for_each_word`) agrees with the
        /// bit-at-a-time reading it replaced, across the ring's end and at
        /// any alignment.
        #[test]
        fn the_present_bitmap_works_a_word_at_a_time(
            sets in proptest::collection::vec((-10_000i64..10_000, 0i64..300), 0..20),
            clears in proptest::collection::vec((-10_000i64..10_000, 0i64..300), 0..5),
            from in -10_000i64..10_000,
            n in 0i64..=CAPACITY as i64,
        ) {
            let mut jb = JitterBuffer::default();
            let mut naive = vec![false; CAPACITY];
            for &(at, len) in &sets {
                for_each_word(at, len, |w, mask| jb.present[w] |= mask);
                (at..at + len).for_each(|t| naive[slot(t)] = true);
            }
            for &(at, len) in &clears {
                jb.clear(at, len);
                (at..at + len).for_each(|t| naive[slot(t)] = false);
            }
            for t in 0..CAPACITY as i64 {
                prop_assert_eq!(jb.is_present(t), naive[slot(t)]);
            }
            let expected = (from..from + n).filter(|&t| naive[slot(t)]).count() as i64;
            prop_assert_eq!(jb.count_present(from, n), expected);
        }

        #[test]
        fn arbitrary_packet_streams_never_panic(
            ops in proptest::collection::vec(
                (any::<bool>(), 0u32..4, any::<u16>(), any::<u32>(), 0usize..1100, 0u64..100), 1..200)
        ) {
            let mut jb = JitterBuffer::default();
            let t0 = Instant::now();
            let mut ms = 0;
            let samples = vec![1000i16; 1100];
            for (pop, ssrc, seq, ts, len, dt) in ops {
                ms += dt;
                let now = t0 + Duration::from_millis(ms);
                if pop {
                    let mut frame = [0; FRAME_SAMPLES];
                    let _ = jb.pop_frame(&mut frame);
                } else {
                    let info = PacketInfo { ssrc: Ssrc(ssrc), seq: SeqNo(seq), timestamp: RtpTimestamp(ts) };
                    let _ = jb.push(info, &samples[..len], now);
                }
                prop_assert!(jb.headroom() < 1 << 40);
            }
        }
    }
}
