//! [`RtpActivity`]: when a call's caller last sent RTP, shared by whoever
//! reads the call's socket at the time (its [`Player`](crate::player), or
//! the room task it is lent to, on the mix thread) and read by the call
//! task, which reports it to its core ([`calls::CallInput::RtpSeen`])
//! before acting on the `--rtp-timeout` deadline.
//!
//! Only RTP accepted from the leg's latched source counts (audio, a
//! telephone event, comfort noise): RTCP does not, since RFC 3550 peers
//! keep sending it while on hold, and neither does anything from another
//! address (a stray sender must not keep a dead call alive).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use media::Received;

/// One call's last RTP arrival. Clones share it.
#[derive(Debug, Clone)]
pub struct RtpActivity {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    /// Nanoseconds after `epoch` plus one; 0: nothing yet.
    last: AtomicU64,
}

impl RtpActivity {
    /// Nothing seen yet; instants before `epoch` cannot be recorded.
    pub fn new(epoch: Instant) -> Self {
        Self {
            inner: Arc::new(Inner {
                epoch,
                last: AtomicU64::new(0),
            }),
        }
    }

    /// Records what [`media::MediaRoom::handle_datagram`] made of a
    /// datagram that arrived at `now`, if it was the caller's RTP.
    pub fn note(&self, received: Received, now: Instant) {
        if matches!(
            received,
            Received::Audio(_) | Received::Dtmf | Received::ComfortNoise
        ) {
            let nanos = now.saturating_duration_since(self.inner.epoch).as_nanos();
            let stamp = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
            self.inner.last.fetch_max(stamp, Ordering::Relaxed);
        }
    }

    /// When the latest RTP arrived, if any did.
    pub fn last(&self) -> Option<Instant> {
        match self.inner.last.load(Ordering::Relaxed) {
            0 => None,
            stamp => Some(self.inner.epoch + std::time::Duration::from_nanos(stamp - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use media::jitter::Push;

    use super::*;

    #[test]
    fn only_the_callers_rtp_counts_and_the_latest_wins() {
        let t0 = Instant::now();
        let activity = RtpActivity::new(t0);
        let shared = activity.clone();
        assert_eq!(activity.last(), None);
        for not_rtp in [
            Received::Rtcp,
            Received::ForeignSource,
            Received::Learning,
            Received::Malformed(None),
            Received::UnknownPayloadType(18),
        ] {
            shared.note(not_rtp, t0 + Duration::from_secs(1));
        }
        assert_eq!(activity.last(), None);
        shared.note(Received::Audio(Push::Accepted), t0 + Duration::from_secs(3));
        shared.note(Received::Dtmf, t0 + Duration::from_secs(2));
        assert_eq!(activity.last(), Some(t0 + Duration::from_secs(3)));
        shared.note(Received::ComfortNoise, t0 + Duration::from_secs(4));
        assert_eq!(activity.last(), Some(t0 + Duration::from_secs(4)));
    }
}
