//! Packet-loss concealment, sample by sample, in the spirit of G.711 Appendix I.
//!
//! When audio is missing the concealer repeats the last pitch period of what
//! was played (found by autocorrelation, 5–15 ms), at full level for 10 ms,
//! then fading linearly to silence at 60 ms. When audio comes back it is
//! cross-faded in over 5 ms from the concealment (or from silence). Nothing
//! ever steps: the output is continuous across both edges of a loss.
//!
//! The jitter buffer feeds every output sample through here, present or
//! missing, so the history is always what the listener actually heard.

/// Shortest pitch period searched (200 Hz).
const MIN_PITCH: usize = 40;
/// Longest pitch period searched (66 Hz).
const MAX_PITCH: usize = 120;
/// Samples matched when searching for the period.
const TEMPLATE: usize = 40;
const HISTORY: usize = 256;
/// Concealment plays at full level this long (10 ms) ...
const HOLD: usize = 80;
/// ... then fades to zero by here (60 ms).
const FADE_END: usize = 480;
/// Cross-fade from concealment back to real audio (5 ms).
const RECOVER: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Concealing,
    Recovering { left: usize },
}

/// The concealer's state; one per leg, inside its jitter buffer.
#[derive(Debug, Clone)]
pub(crate) struct Concealer {
    history: [i16; HISTORY],
    /// Next write position in `history`.
    pos: usize,
    state: State,
    /// Samples generated since the current loss began.
    lost: usize,
    pitch: usize,
    pitch_buf: [i16; MAX_PITCH],
}

impl Default for Concealer {
    fn default() -> Self {
        Self {
            history: [0; HISTORY],
            pos: 0,
            state: State::Normal,
            lost: 0,
            pitch: MIN_PITCH,
            pitch_buf: [0; MAX_PITCH],
        }
    }
}

impl Concealer {
    /// A real sample arrived for this position; returns what to play.
    pub(crate) fn good(&mut self, x: i16) -> i16 {
        let out = match self.state {
            State::Normal => x,
            State::Concealing => {
                self.state = State::Recovering { left: RECOVER };
                self.blend_recovery(x)
            }
            State::Recovering { .. } => self.blend_recovery(x),
        };
        self.push(out);
        out
    }

    /// A run of real samples arrived; turns them into what to play, in
    /// place: [`Concealer::good`] for each, one copy when nothing is being
    /// concealed or recovered from.
    pub(crate) fn good_run(&mut self, samples: &mut [i16]) {
        if self.state != State::Normal || samples.len() > HISTORY {
            for x in samples.iter_mut() {
                *x = self.good(*x);
            }
            return;
        }
        let first = (HISTORY - self.pos).min(samples.len());
        let (a, b) = samples.split_at(first);
        self.history[self.pos..self.pos + a.len()].copy_from_slice(a);
        self.history[..b.len()].copy_from_slice(b);
        self.pos = (self.pos + samples.len()) % HISTORY;
    }

    /// No sample for this position; returns the concealment.
    pub(crate) fn missing(&mut self) -> i16 {
        if self.state != State::Concealing {
            self.begin_loss();
        }
        let out = self.conceal_next();
        self.push(out);
        out
    }

    /// The sample played `back` samples ago (1 = the last one), `back <= HISTORY`.
    pub(crate) fn played(&self, back: usize) -> i16 {
        let back = back.clamp(1, HISTORY);
        self.history[(self.pos + HISTORY - back) % HISTORY]
    }

    fn blend_recovery(&mut self, x: i16) -> i16 {
        let State::Recovering { left } = self.state else {
            return x;
        };
        let concealed = i32::from(self.conceal_next());
        let step = (RECOVER - left + 1) as i32; // 1..=RECOVER
        let total = RECOVER as i32 + 1;
        let mixed = (i32::from(x) * step + concealed * (total - step)) / total;
        self.state = if left <= 1 {
            State::Normal
        } else {
            State::Recovering { left: left - 1 }
        };
        mixed as i16
    }

    fn begin_loss(&mut self) {
        // The last TEMPLATE + MAX_PITCH samples played, oldest first.
        let mut recent = [0i16; TEMPLATE + MAX_PITCH];
        let n = recent.len();
        for (i, slot) in recent.iter_mut().enumerate() {
            *slot = self.played(n - i);
        }
        self.pitch = best_period(&recent);
        for j in 0..self.pitch {
            self.pitch_buf[j] = recent[n - self.pitch + j];
        }
        // Make the buffer's wrap-around seamless: fade its last quarter into
        // the samples that preceded its first one a period earlier.
        let overlap = self.pitch / 4;
        for j in self.pitch - overlap..self.pitch {
            let w = (j - (self.pitch - overlap) + 1) as i32;
            let earlier = i32::from(recent[n + j - 2 * self.pitch]);
            let here = i32::from(self.pitch_buf[j]);
            let total = overlap as i32 + 1;
            self.pitch_buf[j] = ((here * (total - w) + earlier * w) / total) as i16;
        }
        self.lost = 0;
        self.state = State::Concealing;
    }

    fn conceal_next(&mut self) -> i16 {
        let k = self.lost;
        self.lost = self.lost.saturating_add(1);
        if k >= FADE_END {
            return 0;
        }
        let x = i32::from(self.pitch_buf[k % self.pitch]);
        let scaled = if k < HOLD {
            x
        } else {
            x * (FADE_END - k) as i32 / (FADE_END - HOLD) as i32
        };
        scaled as i16
    }

    fn push(&mut self, x: i16) {
        self.history[self.pos] = x;
        self.pos = (self.pos + 1) % HISTORY;
    }
}

/// The period in `MIN_PITCH..=MAX_PITCH` that best predicts the last
/// `TEMPLATE` samples of `recent` from the samples one period earlier.
fn best_period(recent: &[i16; TEMPLATE + MAX_PITCH]) -> usize {
    let n = recent.len();
    let template = &recent[n - TEMPLATE..];
    let mut best = (f64::MIN, MIN_PITCH * 2);
    for p in MIN_PITCH..=MAX_PITCH {
        let candidate = &recent[n - TEMPLATE - p..n - p];
        let (mut dot, mut energy) = (0i64, 0i64);
        for (&a, &b) in template.iter().zip(candidate) {
            dot += i64::from(a) * i64::from(b);
            energy += i64::from(b) * i64::from(b);
        }
        if energy == 0 {
            continue;
        }
        let score = dot as f64 / (energy as f64).sqrt();
        if score > best.0 {
            best = (score, p);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amp: f64, i: usize) -> i16 {
        (amp * (std::f64::consts::TAU * freq * i as f64 / 8000.0).sin()) as i16
    }

    /// `good_run` plays and remembers exactly what `good` sample by sample
    /// would, through a loss and its recovery and across the history's end.
    #[test]
    fn a_run_of_good_samples_is_the_same_as_one_at_a_time() {
        let (mut run, mut single) = (Concealer::default(), Concealer::default());
        let mut t = 0;
        for (good, len) in [
            (true, 160),
            (true, 100),
            (false, 80),
            (true, 160),
            (true, 160),
        ] {
            if good {
                let mut frame: Vec<i16> = (t..t + len).map(|i| sine(440.0, 8000.0, i)).collect();
                let one: Vec<i16> = frame.iter().map(|&x| single.good(x)).collect();
                run.good_run(&mut frame);
                assert_eq!(frame, one);
            } else {
                for _ in 0..len {
                    assert_eq!(run.missing(), single.missing());
                }
            }
            assert_eq!(run.history, single.history);
            assert_eq!(run.pos, single.pos);
            t += len;
        }
    }

    fn max_step(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    /// Plays `good` samples of a signal, then `gap` missing ones, then more good.
    fn run(signal: impl Fn(usize) -> i16, gap: usize) -> Vec<i16> {
        let mut c = Concealer::default();
        let mut out = Vec::new();
        for i in 0..800 + gap {
            out.push(if (400..400 + gap).contains(&i) {
                c.missing()
            } else {
                c.good(signal(i))
            });
        }
        out
    }

    #[test]
    fn a_short_loss_continues_the_waveform() {
        for freq in [300.0, 440.0, 700.0, 1100.0] {
            let signal = |i| sine(freq, 10_000.0, i);
            let natural = max_step(&(0..960).map(signal).collect::<Vec<_>>());
            let out = run(signal, 160);
            assert!(
                max_step(&out) <= natural + natural / 5,
                "{freq} Hz: {} vs {natural}",
                max_step(&out)
            );
            // During the first 10 ms the level is kept.
            let peak = out[400..480]
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap_or(0);
            assert!(peak > 9000, "{freq} Hz: peak {peak}");
        }
    }

    #[test]
    fn a_long_loss_fades_to_silence_then_fades_back_in() {
        let signal = |i| sine(500.0, 12_000.0, i);
        let out = run(signal, 320);
        assert!(
            out[400 + FADE_END - 160..400 + 320]
                .iter()
                .all(|&s| s.unsigned_abs() < 4000)
        );
        let natural = max_step(&(0..1200).map(signal).collect::<Vec<_>>());
        assert!(max_step(&out) <= natural + natural / 5);
        let out = run(signal, 600);
        assert!(out[400 + FADE_END..1000].iter().all(|&s| s == 0));
        // Back from silence: ramps, no step.
        assert!(max_step(&out[990..]) <= natural + natural / 5);
        assert!(out[1000].unsigned_abs() < 600);
    }

    #[test]
    fn no_history_conceals_with_silence() {
        let mut c = Concealer::default();
        assert!((0..1000).all(|_| c.missing() == 0));
        assert_eq!(c.good(5000), 5000 / (RECOVER as i16 + 1));
    }

    #[test]
    fn two_tone_signal_stays_smooth() {
        let signal = |i| sine(310.0, 6000.0, i) / 2 + sine(470.0, 6000.0, i) / 2;
        let natural = max_step(&(0..800).map(signal).collect::<Vec<_>>());
        let out = run(signal, 80);
        assert!(
            max_step(&out) <= natural * 2,
            "{} vs {natural}",
            max_step(&out)
        );
    }
}
