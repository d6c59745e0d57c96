//! Timers as a table: every pending timer is a row `(deadline, owner,
//! kind)`. The engine asks the table for its earliest deadline
//! (`poll_timeout`) and pops the expired rows in deadline order
//! (`handle_timeout`). Nothing is spawned and nothing sleeps.
//!
//! Each owner (a server transaction, a client transaction, a call) has at
//! most one timer of each kind; setting one again moves it.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::types::{CallId, TxId};

/// The RFC 3261 timer base values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate: first retransmission interval (500 ms).
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE
    /// responses (4 s).
    pub t2: Duration,
    /// How long a message may stay in the network (5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: how long a transaction waits before giving up (Timers B, F,
    /// H, J, L and the wait for an ACK to a 2xx).
    pub fn give_up(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The next retransmission interval after `current`: doubled, capped
    /// at T2.
    pub fn backoff(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.t2)
    }
}

/// Who a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Owner {
    Server(TxId),
    Client(TxId),
    Call(CallId),
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Send the last message again (Timers E, G; a 2xx's retransmission).
    Retransmit,
    /// Give up (Timers F, H; no ACK for a 2xx).
    GiveUp,
    /// Forget a finished transaction (Timers I, J, K, L).
    Linger,
    /// A call's session is due for our refresh (RFC 4028, half the
    /// interval).
    Refresh,
    /// A call's session is about to expire unrefreshed: hang up (RFC 4028
    /// §10).
    Expire,
    /// Our INVITE rang too long (the ring timeout given to
    /// [`crate::Engine::dial`]): CANCEL it.
    Ring,
}

impl Kind {
    const ALL: [Self; 6] = [
        Self::Retransmit,
        Self::GiveUp,
        Self::Linger,
        Self::Refresh,
        Self::Expire,
        Self::Ring,
    ];
}

type Key = (Owner, Kind);

#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    queue: BTreeSet<(Instant, Key)>,
    deadlines: HashMap<Key, Instant>,
}

impl TimerTable {
    pub fn set(&mut self, owner: Owner, kind: Kind, at: Instant) {
        let key = (owner, kind);
        if let Some(old) = self.deadlines.insert(key, at) {
            self.queue.remove(&(old, key));
        }
        self.queue.insert((at, key));
    }

    pub fn cancel(&mut self, owner: Owner, kind: Kind) {
        let key = (owner, kind);
        if let Some(old) = self.deadlines.remove(&key) {
            self.queue.remove(&(old, key));
        }
    }

    pub fn cancel_all(&mut self, owner: Owner) {
        for kind in Kind::ALL {
            self.cancel(owner, kind);
        }
    }

    pub fn is_set(&self, owner: Owner, kind: Kind) -> bool {
        self.deadlines.contains_key(&(owner, kind))
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _)| at)
    }

    /// The earliest timer due at `now`, removed from the table.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Owner, Kind)> {
        let &(at, key) = self.queue.first()?;
        if at > now {
            return None;
        }
        self.queue.remove(&(at, key));
        self.deadlines.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_moves_on_reset() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        let a = Owner::Server(TxId(1));
        let b = Owner::Client(TxId(2));
        table.set(a, Kind::Retransmit, t0 + Duration::from_secs(2));
        table.set(b, Kind::GiveUp, t0 + Duration::from_secs(1));
        table.set(a, Kind::Retransmit, t0 + Duration::from_secs(3));
        assert_eq!(table.len(), 2);
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(table.pop_expired(later), Some((b, Kind::GiveUp)));
        assert_eq!(table.pop_expired(later), Some((a, Kind::Retransmit)));
        assert_eq!(table.pop_expired(later), None);
        table.set(a, Kind::Linger, later);
        table.cancel_all(a);
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn backoff_doubles_to_t2() {
        let timers = Timers::default();
        let mut interval = timers.t1;
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(interval.as_millis());
            interval = timers.backoff(interval);
        }
        assert_eq!(seen, [500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(timers.give_up(), Duration::from_secs(32));
    }
}
