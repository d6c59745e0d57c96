//! Slowing down one client that keeps presenting bad credentials.
//!
//! [`FailureLimiter`] is sans-IO: it is told about each failed
//! authentication with the client's address and `now`, and answers whether
//! the request gets the usual 401 or a 429. `auth` asks it; `handlers`
//! hands in the peer address the server's listener saw.
//!
//! What confab settled (the "Prove it" issue; decisions.md style):
//!
//! | question | decision |
//! |---|---|
//! | What counts | A request whose `Authorization` header does not verify: unparseable, unknown account, wrong token. Not counted: no header at all (a browser's first request; it needs the 401 challenge before it sends any), and right credentials on another account's URL (they verified: nothing was guessed) |
//! | Limit | [`FailureLimits::default`]: 10 failures per client in a 60 s window that opens at its first failure. From the 11th until the window closes, bad credentials get 429, code 20429, `Retry-After` = the whole seconds left (at least 1). Then the count starts over |
//! | The owner | Never locked out: credentials are always checked, and right ones are served whatever the count. A success does not reset the count either: a tenant at the same address could otherwise reset it between guesses at another account |
//! | Client | The TCP peer's IP address, IPv6 by its /64 (one host gets a whole /64); `X-Forwarded-For` is not trusted (anyone can write it). Behind a reverse proxy all clients share the proxy's count, which still never refuses right credentials. Without a peer address (the router driven with `oneshot`) nothing is counted |
//! | Memory | At most [`FailureLimits::max_clients`] (10,000) clients, in two generations ([`model::PerClient`], which the SIP side's per-source limit uses too): when the newer one is half full the older is dropped whole, so the cost is O(1) per request and a client untouched for a whole generation starts over |
//!
//! What the 429 buys is a clear "back off" to a misconfigured or hostile
//! client and a bounded log: it cannot hide whether a guess was right,
//! since right credentials are served (that is what keeps the owner in).
//! Guessing is defeated by the token itself: 128 bits from a CSPRNG.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use model::PerClient;

/// How many bad credentials a client may present, how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimits {
    /// Failures answered 401 within one window; later ones get 429.
    pub max_failures: u32,
    /// How long a window lasts from its first failure.
    pub window: Duration,
    /// The most clients remembered at once.
    pub max_clients: usize,
}

impl Default for FailureLimits {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(60),
            max_clients: 10_000,
        }
    }
}

/// What to answer a request whose credentials failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The usual 401.
    Unauthorized,
    /// 429: too many failures; the window closes in `retry_after`.
    /// `first` is true for the first 429 of the window (log it once).
    SlowDown { retry_after: Duration, first: bool },
}

/// Failed authentications per client, in windows.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: FailureLimits,
    clients: PerClient<Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    failures: u32,
}

impl FailureLimiter {
    pub fn new(limits: FailureLimits) -> Self {
        Self {
            limits,
            clients: PerClient::new(limits.max_clients),
        }
    }

    /// `ip` presented credentials that did not verify, at `now`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let limits = self.limits;
        let fresh = Window {
            opened: now,
            failures: 0,
        };
        let window = self.clients.get_or_insert(ip, fresh);
        if now.saturating_duration_since(window.opened) >= limits.window {
            *window = fresh;
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures <= limits.max_failures {
            return Verdict::Unauthorized;
        }
        let closes = window.opened.checked_add(limits.window).unwrap_or(now);
        Verdict::SlowDown {
            retry_after: closes.saturating_duration_since(now),
            first: window.failures == limits.max_failures.saturating_add(1),
        }
    }

    /// How many clients are remembered.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.clients.len()
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv6Addr;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn limiter() -> FailureLimiter {
        FailureLimiter::new(FailureLimits::default())
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn ten_failures_are_401_then_429_until_the_window_closes() {
        let mut l = limiter();
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(l.failed(A, t0 + secs(i)), Verdict::Unauthorized, "{i}");
        }
        assert_eq!(
            l.failed(A, t0 + secs(10)),
            Verdict::SlowDown {
                retry_after: secs(50),
                first: true
            }
        );
        assert_eq!(
            l.failed(A, t0 + Duration::from_millis(59_500)),
            Verdict::SlowDown {
                retry_after: Duration::from_millis(500),
                first: false
            }
        );
        // Another client is not affected.
        assert_eq!(l.failed(B, t0 + secs(30)), Verdict::Unauthorized);
        // The window closed: a new one opens with this failure.
        assert_eq!(l.failed(A, t0 + secs(60)), Verdict::Unauthorized);
        for i in 1..10 {
            assert_eq!(l.failed(A, t0 + secs(60 + i)), Verdict::Unauthorized);
        }
        assert!(matches!(
            l.failed(A, t0 + secs(70)),
            Verdict::SlowDown { first: true, .. }
        ));
    }

    #[test]
    fn failures_spread_over_windows_are_never_slowed() {
        let mut l = limiter();
        let t0 = Instant::now();
        for i in 0..1000 {
            // Nine failures a minute.
            let now = t0 + secs(i / 9 * 60) + Duration::from_millis(i % 9);
            assert_eq!(l.failed(A, now), Verdict::Unauthorized, "{i}");
        }
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let mut l = limiter();
        let t0 = Instant::now();
        for i in 0..10u16 {
            let ip: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i).into();
            assert_eq!(l.failed(ip, t0), Verdict::Unauthorized);
        }
        let same_64: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 0, 0, 9).into();
        assert!(matches!(l.failed(same_64, t0), Verdict::SlowDown { .. }));
        let other_64: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1).into();
        assert_eq!(l.failed(other_64, t0), Verdict::Unauthorized);

        for _ in 0..10 {
            assert_eq!(l.failed(A, t0), Verdict::Unauthorized);
        }
        let IpAddr::V4(a) = A else { unreachable!() };
        let mapped = IpAddr::V6(a.to_ipv6_mapped());
        assert!(matches!(l.failed(mapped, t0), Verdict::SlowDown { .. }));
    }

    #[test]
    fn memory_is_bounded_and_recent_clients_are_kept() {
        let mut l = FailureLimiter::new(FailureLimits {
            max_clients: 100,
            ..FailureLimits::default()
        });
        let t0 = Instant::now();
        for _ in 0..11 {
            l.failed(A, t0);
        }
        for i in 0..100_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.failed(ip, t0);
            assert!(l.clients() <= 100, "{}", l.clients());
            // A client that keeps failing stays remembered.
            if i % 10 == 0 {
                assert!(matches!(l.failed(A, t0), Verdict::SlowDown { .. }), "{i}");
            }
        }
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_unlock() {
        let mut l = limiter();
        let t0 = Instant::now() + secs(1000);
        for _ in 0..11 {
            l.failed(A, t0);
        }
        let earlier = t0 - secs(5);
        assert_eq!(
            l.failed(A, earlier),
            Verdict::SlowDown {
                retry_after: secs(65),
                first: false
            }
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(secs(60)), 60);
    }
}
