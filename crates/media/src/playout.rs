//! A leg's playout buffer at its codec's rate: a [`JitterBuffer`] of 8 kHz
//! samples for a G.711 leg, or of 16 kHz samples for a G.722 leg.
//!
//! The jitter buffer counts time in samples at 8 kHz (its RTP clock, its
//! arrival times, its tick of 160 samples). A G.722 leg's stream has 16 kHz
//! samples on an 8 kHz RTP clock, so its buffer is the same code run on a
//! doubled clock: timestamps doubled, arrival times counted twice as fast
//! from the leg's first packet, the configured delays doubled, and two
//! 160-sample pops a tick. Delays, the jitter estimate and loss hold in real
//! time exactly, and so do the adaptation's window, its thresholds and
//! the sender's idle time (the buffer scales them by its rate). What is
//! still counted in samples halves in time: a splice or a concealed pitch
//! period is 2.5–7.5 ms instead of 5–15 (still whole periods of most
//! voices), the ring holds 256 ms (the 200 ms `max_delay` plus a packet:
//! packets of up to 64 ms are taken).
//! Why not a buffer of its own: the same splice, loss concealment and
//! adaptation rules, tested once, serve both rates.

use std::time::Instant;

use crate::jitter::{
    FrameKind, JitterBuffer, JitterConfig, JitterStats, PacketInfo, Push, Reception,
};
use crate::rtp::RtpTimestamp;
use crate::{FRAME_SAMPLES, Frame, WideFrame};

/// One leg's playout buffer. See the module docs.
#[derive(Debug)]
pub(crate) enum Playout {
    /// 8 kHz samples (G.711).
    Narrow(JitterBuffer),
    /// 16 kHz samples on the doubled clock (G.722); `epoch` is the first
    /// push's `now`, from which arrival times are doubled.
    Wide {
        buffer: JitterBuffer,
        epoch: Option<Instant>,
    },
}

impl Playout {
    /// A buffer for a leg of a wideband codec (`wide`) or not.
    pub(crate) fn new(config: JitterConfig, wide: bool) -> Self {
        if wide {
            Self::Wide {
                buffer: JitterBuffer::with_rate(
                    JitterConfig {
                        min_delay: config.min_delay * 2,
                        max_delay: config.max_delay * 2,
                        initial_delay: config.initial_delay * 2,
                    },
                    2,
                ),
                epoch: None,
            }
        } else {
            Self::Narrow(JitterBuffer::new(config))
        }
    }

    /// Stores a packet's decoded samples (at the buffer's rate).
    pub(crate) fn push(&mut self, info: PacketInfo, samples: &[i16], now: Instant) -> Push {
        match self {
            Self::Narrow(buffer) => buffer.push(info, samples, now),
            Self::Wide { buffer, epoch } => {
                let start = *epoch.get_or_insert(now);
                let doubled = start + now.saturating_duration_since(start) * 2;
                buffer.push(double(info), samples, doubled)
            }
        }
    }

    /// Notes a packet that carries no audio (telephone-event, comfort noise).
    pub(crate) fn note_non_audio(&mut self, info: PacketInfo) {
        match self {
            Self::Narrow(buffer) => buffer.note_non_audio(info),
            Self::Wide { buffer, .. } => buffer.note_non_audio(double(info)),
        }
    }

    /// This tick's 8 kHz frame; only for a narrow buffer (a wide one gives silence).
    pub(crate) fn pop_narrow(&mut self, out: &mut Frame) -> FrameKind {
        match self {
            Self::Narrow(buffer) => buffer.pop_frame(out),
            Self::Wide { .. } => {
                out.fill(0);
                FrameKind::Silence
            }
        }
    }

    /// This tick's 16 kHz frame; only for a wide buffer (a narrow one gives silence).
    pub(crate) fn pop_wide(&mut self, out: &mut WideFrame) -> FrameKind {
        let Self::Wide { buffer, .. } = self else {
            out.fill(0);
            return FrameKind::Silence;
        };
        let (first, second) = out.split_at_mut(FRAME_SAMPLES);
        let mut half = [0; FRAME_SAMPLES];
        let a = buffer.pop_frame(&mut half);
        first.copy_from_slice(&half);
        let b = buffer.pop_frame(&mut half);
        second.copy_from_slice(&half);
        match (a, b) {
            (FrameKind::Audio, _) | (_, FrameKind::Audio) => FrameKind::Audio,
            (FrameKind::Silence, FrameKind::Silence) => FrameKind::Silence,
            _ => FrameKind::Concealed,
        }
    }

    /// Counters; the jitter estimate in RTP timestamp units (8 kHz), the
    /// sample counts at the buffer's rate.
    pub(crate) fn stats(&self) -> JitterStats {
        match self {
            Self::Narrow(buffer) => buffer.stats(),
            Self::Wide { buffer, .. } => {
                let stats = buffer.stats();
                JitterStats {
                    jitter_samples: stats.jitter_samples / 2,
                    ..stats
                }
            }
        }
    }

    /// The stream being played, for RTCP.
    pub(crate) fn reception(&self) -> Option<Reception> {
        match self {
            Self::Narrow(buffer) | Self::Wide { buffer, .. } => buffer.reception(),
        }
    }
}

/// A G.722 packet on the doubled clock: each timestamp unit is two samples.
fn double(info: PacketInfo) -> PacketInfo {
    PacketInfo {
        timestamp: RtpTimestamp(info.timestamp.0.wrapping_mul(2)),
        ..info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{sinad_at, tone_fraction_at};
    use crate::rtp::{SeqNo, Ssrc};
    use std::time::Duration;

    /// A 6 kHz tone at 16 kHz, sent as 20 ms packets (160 timestamp units,
    /// 320 samples), arrives through the wide buffer whole: the same tone,
    /// no concealment, clean.
    #[test]
    fn a_wideband_stream_plays_out_whole_and_clean() {
        let mut playout = Playout::new(JitterConfig::default(), true);
        let t0 = Instant::now();
        let mut heard = Vec::new();
        for k in 0..150u32 {
            let samples: Vec<i16> = (0..320)
                .map(|i| {
                    let n = f64::from(k * 320 + i);
                    (8000.0 * (std::f64::consts::TAU * 6000.0 * n / 16_000.0).sin()) as i16
                })
                .collect();
            let info = PacketInfo {
                ssrc: Ssrc(7),
                seq: SeqNo(k as u16),
                // Across the 32-bit wrap of the doubled clock.
                timestamp: RtpTimestamp(0x7fff_f000u32.wrapping_add(k * 160)),
            };
            let now = t0 + Duration::from_millis(20) * k;
            assert_eq!(playout.push(info, &samples, now), Push::Accepted);
            let mut frame = [0; crate::WIDE_FRAME_SAMPLES];
            playout.pop_wide(&mut frame);
            heard.extend_from_slice(&frame);
        }
        let steady = &heard[16_000..];
        assert!(tone_fraction_at(steady, 6000.0, 16_000) > 0.99);
        let s = sinad_at(steady, 6000.0, 16_000);
        assert!(s > 40.0, "SINAD {s:.1} dB");
        let stats = playout.stats();
        assert_eq!(stats.lost, 0);
        assert_eq!(stats.late, 0);
        assert_eq!(stats.resyncs, 0);
        assert_eq!(
            stats.compressed_samples,
            stats.expanded_samples.min(stats.compressed_samples)
        );
    }
}
