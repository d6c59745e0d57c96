//! [`AudioSource`]: anything that yields 20 ms frames — beeps, hold music,
//! decoded `<Play>` files, `<Pause>` silence.
//!
//! The room pulls one frame per tick from each leg's wait source, so a source
//! must be cheap and must not block; decoding a file happens before (see
//! [`crate::decode`]), and [`PcmSource`] just walks the decoded samples.

use std::sync::Arc;

use crate::{FRAME_SAMPLES, Frame};

/// A pull-based stream of 8 kHz mono frames.
pub trait AudioSource: std::fmt::Debug {
    /// Writes the next 20 ms into `out` and returns `true`, padding the last
    /// frame with silence; or returns `false` once the source has ended, with
    /// `out` set to silence.
    fn next_frame(&mut self, out: &mut Frame) -> bool;
}

/// How many times a [`PcmSource`] plays (TwiML `loop`: 0 means for ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Play this many times (1 = once); 0 plays nothing.
    Times(u32),
    /// Loop until replaced.
    Forever,
}

impl Repeat {
    /// TwiML's `loop` attribute: `0` loops for ever.
    #[must_use]
    pub fn from_twiml_loop(n: u32) -> Self {
        if n == 0 {
            Self::Forever
        } else {
            Self::Times(n)
        }
    }
}

/// Decoded 8 kHz samples played once, n times or for ever. The samples are
/// shared, so one decoded file can feed many legs without copying.
#[derive(Debug, Clone)]
pub struct PcmSource {
    samples: Arc<[i16]>,
    pos: usize,
    remaining: Repeat,
}

impl PcmSource {
    /// A source over `samples`, played `repeat` times.
    #[must_use]
    pub fn new(samples: Arc<[i16]>, repeat: Repeat) -> Self {
        Self {
            samples,
            pos: 0,
            remaining: repeat,
        }
    }
}

impl AudioSource for PcmSource {
    fn next_frame(&mut self, out: &mut Frame) -> bool {
        out.fill(0);
        if self.samples.is_empty() || self.remaining == Repeat::Times(0) {
            return false;
        }
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let take = (FRAME_SAMPLES - filled).min(self.samples.len() - self.pos);
            out[filled..filled + take].copy_from_slice(&self.samples[self.pos..self.pos + take]);
            filled += take;
            self.pos += take;
            if self.pos == self.samples.len() {
                self.pos = 0;
                match &mut self.remaining {
                    Repeat::Forever => {}
                    Repeat::Times(n) => {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            // The tail of this frame stays silent.
                            return true;
                        }
                    }
                }
            }
        }
        true
    }
}

/// Silence, for a number of frames (`<Pause>`) or for ever (`waitUrl=""`).
#[derive(Debug, Clone)]
pub struct Silence {
    frames_left: Option<u32>,
}

impl Silence {
    /// Silence that never ends.
    #[must_use]
    pub fn forever() -> Self {
        Self { frames_left: None }
    }

    /// Silence lasting `frames` ticks (TwiML `<Pause length="s">` is `s * 50`).
    #[must_use]
    pub fn frames(frames: u32) -> Self {
        Self {
            frames_left: Some(frames),
        }
    }
}

impl AudioSource for Silence {
    fn next_frame(&mut self, out: &mut Frame) -> bool {
        out.fill(0);
        match &mut self.frames_left {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(source: &mut dyn AudioSource, max: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut frame = [0; FRAME_SAMPLES];
        for _ in 0..max {
            if !source.next_frame(&mut frame) {
                assert!(frame.iter().all(|&s| s == 0));
                break;
            }
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn pcm_plays_n_times_and_pads_the_last_frame() {
        let samples: Arc<[i16]> = (1..=200).collect::<Vec<i16>>().into();
        let out = drain(&mut PcmSource::new(samples.clone(), Repeat::Times(2)), 100);
        assert_eq!(out.len(), 3 * FRAME_SAMPLES);
        assert_eq!(&out[..200], &samples[..]);
        assert_eq!(&out[200..400], &samples[..]);
        assert!(out[400..].iter().all(|&s| s == 0));
        assert!(drain(&mut PcmSource::new(samples.clone(), Repeat::Times(0)), 10).is_empty());
        assert!(drain(&mut PcmSource::new(Arc::from([]), Repeat::Forever), 10).is_empty());
    }

    #[test]
    fn pcm_forever_keeps_going() {
        let samples: Arc<[i16]> = (1..=7).collect::<Vec<i16>>().into();
        let out = drain(&mut PcmSource::new(samples, Repeat::from_twiml_loop(0)), 10);
        assert_eq!(out.len(), 10 * FRAME_SAMPLES);
        assert_eq!(out[7 * 100], 1);
    }

    #[test]
    fn silence_counts_frames() {
        assert_eq!(drain(&mut Silence::frames(3), 10).len(), 3 * FRAME_SAMPLES);
        assert_eq!(drain(&mut Silence::forever(), 10).len(), 10 * FRAME_SAMPLES);
    }
}
