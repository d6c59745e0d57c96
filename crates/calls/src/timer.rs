//! [`TimerTable`]: one deadline slot per [`TimerKind`], after quinn's
//! `TimerTable`. Setting a kind again moves it; [`Call`](crate::Call) stops
//! an expired kind before running its action (which may set it again), so
//! an extra `handle_timeout` does nothing.

use std::time::Instant;

/// The timers a call can have running. A call's timers are all set in
/// `call.rs`; this is the list of what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// `<Dial timeLimit>`: armed when the call joins a room, stopped when
    /// it leaves; on fire the call asks the hub to take it out.
    TimeLimit,
    /// A webhook fetch (the script's or the wait audio's): armed with each
    /// fetch, stopped by its result; on fire the fetch is cancelled and the
    /// script hears [`FetchError::Timeout`](twiml::FetchError::Timeout).
    Webhook,
    /// `--rtp-timeout`: armed when the call is answered and whenever the
    /// shell reports RTP ([`CallInput::RtpSeen`](crate::CallInput::RtpSeen)),
    /// stopped while the caller holds; on fire the call is hung up (a dead
    /// peer: its network went without a BYE).
    RtpInactivity,
    /// A `<Gather>`'s `timeout`: armed when its prompts are over and again
    /// after each key, stopped by a key or when the call leaves the
    /// gather; on fire the gather ends with the keys it has.
    GatherTimeout,
}

impl TimerKind {
    const ALL: [Self; 4] = [
        Self::TimeLimit,
        Self::Webhook,
        Self::RtpInactivity,
        Self::GatherTimeout,
    ];

    fn index(self) -> usize {
        match self {
            Self::TimeLimit => 0,
            Self::Webhook => 1,
            Self::RtpInactivity => 2,
            Self::GatherTimeout => 3,
        }
    }
}

/// The deadlines of one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; TimerKind::ALL.len()],
}

impl TimerTable {
    /// Arms `kind` at `at`, replacing its previous deadline.
    pub fn set(&mut self, kind: TimerKind, at: Instant) {
        self.slots[kind.index()] = Some(at);
    }

    pub fn stop(&mut self, kind: TimerKind) {
        self.slots[kind.index()] = None;
    }

    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.slots[kind.index()]
    }

    /// The earliest deadline and its kind.
    pub fn next(&self) -> Option<(Instant, TimerKind)> {
        TimerKind::ALL
            .into_iter()
            .filter_map(|kind| self.get(kind).map(|at| (at, kind)))
            .min_by_key(|(at, _)| *at)
    }

    /// Stops and returns one kind whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let kind = TimerKind::ALL
            .into_iter()
            .find(|&kind| self.get(kind).is_some_and(|at| at <= now))?;
        self.stop(kind);
        Some(kind)
    }

    pub fn clear(&mut self) {
        self.slots = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn setting_moves_and_expiry_stops() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(TimerKind::TimeLimit, t0 + Duration::from_secs(5));
        table.set(TimerKind::TimeLimit, t0 + Duration::from_secs(9));
        assert_eq!(
            table.next(),
            Some((t0 + Duration::from_secs(9), TimerKind::TimeLimit))
        );
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(8)), None);
        assert_eq!(
            table.pop_expired(t0 + Duration::from_secs(9)),
            Some(TimerKind::TimeLimit)
        );
        assert_eq!(table.next(), None);
    }
}
