//! Who may call, and how fast: what the SIP task checks before the engine
//! sees a message, and before a new call reaches a call task.
//!
//! Both parts are sans-IO: [`SourceLimiter`] takes `now`, [`SipAllow`] is
//! a list of networks; `sip_task` applies them.
//!
//! What confab settled (the "Prove it" issue; decisions.md style):
//!
//! | question | decision |
//! |---|---|
//! | `--sip-allow CIDR,…` | When given, a new INVITE from a source outside every listed network gets `403 Forbidden` (after the engine's usual `100 Trying`, through the engine, so a retransmission gets the same 403 and the ACK is absorbed). Default: everyone may call |
//! | OPTIONS from outside the list | Answered as for anyone (and rate-limited like anyone): it tells nothing the INVITE's 403 does not, and lets monitoring probe from anywhere |
//! | In-dialog requests | Never refused or limited: a dialog only exists because an allowed source's INVITE created it |
//! | What is rate-limited | New INVITEs and OPTIONS: no To tag (a request the engine would treat as out of dialog). ACK, BYE, CANCEL, re-INVITEs, in-dialog OPTIONS and responses never are, so a caller under a flood can still hang up |
//! | Trusted sources | `--sip-trusted CIDR,…` (a carrier's SBC, a PBX): never limited. A trunk brings every call from one address, and a burst over the limit would wait on retransmissions for seconds |
//! | Limit | `--sip-rate-limit N` ([`SourceLimits::per_second`]; default [`SourceLimits::default`]): a token bucket per source of 50 a second, bursts of twice that (100), so a trunk can bring a hundred callers at the top of the hour and 3,000 a minute after that, far more than the mixer on two cores could take; a scanner sending thousands a second is cut to 50 |
//! | Over the limit | Dropped without an answer, UDP and TCP alike, logged at debug and counted (`confab_sip_requests_limited`). A 503 would cost a datagram per flood packet and, with a forged UDP source, aim them at someone else; a real phone or trunk retransmits a dropped INVITE over UDP (T1 = 500 ms) and gets in once the flood's bucket refills |
//! | Source | The IP address (not the port: a flood from many ports of one host is one source), IPv6 by its /64, IPv4-mapped IPv6 as IPv4 |
//! | Memory | At most [`SourceLimits::max_sources`] (10,000) buckets, in two generations: when the newer one is half full the older is dropped whole (O(1) per message). A source forgotten starts again with a full bucket. A flood with forged sources from many addresses is beyond what any per-source limit can stop; the cap keeps it from growing the map |

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use model::PerClient;

/// A list of networks (`--sip-allow`, `--sip-trusted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Whether `ip` (an IPv4-mapped one as IPv4) is in one of the networks;
    /// never for an empty list.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

/// The networks allowed to place calls (`--sip-allow`); empty: everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipAllow(Networks);

impl SipAllow {
    /// Only `networks` may call; an empty list lets everyone call.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(Networks::new(networks))
    }

    /// Everyone may call.
    pub fn everyone() -> Self {
        Self::default()
    }

    /// Whether `ip` may place a call.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.networks().is_empty() || self.0.contains(ip)
    }

    pub fn networks(&self) -> &[IpNet] {
        self.0.networks()
    }
}

/// How many new INVITEs and OPTIONS one source may send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceLimits {
    /// Tokens a second a source's bucket refills with.
    pub per_second: f64,
    /// The bucket's size: requests a quiet source may send at once.
    pub burst: f64,
    /// The most sources remembered at once.
    pub max_sources: usize,
}

impl SourceLimits {
    /// `rate` new requests a second (`--sip-rate-limit`), bursts of twice
    /// that, 10,000 sources remembered.
    pub fn per_second(rate: u32) -> Self {
        let rate = f64::from(rate);
        Self {
            per_second: rate,
            burst: 2.0 * rate,
            max_sources: 10_000,
        }
    }
}

impl Default for SourceLimits {
    /// 50 a second, bursts of 100.
    fn default() -> Self {
        Self::per_second(50)
    }
}

/// A token bucket per source address, kept in a bounded [`PerClient`] map
/// (the same per-client memory as the API's bad-credentials limit); trusted
/// sources have none.
#[derive(Debug)]
pub struct SourceLimiter {
    limits: SourceLimits,
    trusted: Networks,
    buckets: PerClient<Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl SourceLimiter {
    /// `limits` for every source outside `trusted`.
    pub fn new(limits: SourceLimits, trusted: Networks) -> Self {
        Self {
            limits,
            trusted,
            buckets: PerClient::new(limits.max_sources),
        }
    }

    /// Takes a token from `ip`'s bucket at `now`: false when it is empty
    /// (drop the request). Always true for a trusted source.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.trusted.contains(ip) {
            return true;
        }
        let SourceLimits {
            per_second, burst, ..
        } = self.limits;
        // A source not remembered starts full.
        let full = Bucket {
            tokens: burst,
            at: now,
        };
        let bucket = self.buckets.get_or_insert(ip, full);
        // Time that went backwards adds nothing.
        let elapsed = now.saturating_duration_since(bucket.at);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * per_second).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many sources are remembered.
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.buckets.len()
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4
/// peer) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether a message (a datagram, or one framed out of a TCP stream,
/// parsed once by [`sip::Inbound::parse`]) is what the limit counts: an
/// INVITE or OPTIONS without a To tag, or one too broken to tell (the
/// engine would answer it 400 all the same).
pub fn is_new_request(inbound: &sip::Inbound) -> bool {
    let new_method = matches!(
        inbound.method(),
        Some(sip::Method::Invite | sip::Method::Options)
    );
    match inbound.message() {
        Some(sip::Message::Request(request)) => new_method && request.headers.to.tag().is_none(),
        Some(sip::Message::Response(_)) => false,
        None => new_method,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_then_the_rate_then_a_full_bucket_after_a_pause() {
        let mut l = SourceLimiter::new(SourceLimits::default(), Networks::default());
        let t0 = Instant::now();
        let allowed = (0..1000).filter(|_| l.allow(A, t0)).count();
        assert_eq!(allowed, 100);
        // Another source has its own bucket.
        assert!(l.allow(B, t0));
        // 50 a second: one token every 20 ms.
        assert!(!l.allow(A, t0 + ms(19)));
        assert!(l.allow(A, t0 + ms(21)));
        assert!(!l.allow(A, t0 + ms(21)));
        // Over one second of a steady flood: 50 get through (give or take
        // the rounding of a token's fractions).
        let mut passed = 0;
        for i in 1..=10_000u64 {
            if l.allow(A, t0 + ms(21) + Duration::from_micros(i * 100)) {
                passed += 1;
            }
        }
        assert!((49..=51).contains(&passed), "{passed}");
        // Quiet for two seconds: full again, and no fuller.
        let later = t0 + ms(3_100);
        assert_eq!((0..1000).filter(|_| l.allow(A, later)).count(), 100);
    }

    #[test]
    fn time_going_backwards_adds_no_tokens() {
        let mut l = SourceLimiter::new(SourceLimits::default(), Networks::default());
        let t0 = Instant::now() + Duration::from_secs(100);
        while l.allow(A, t0) {}
        assert!(!l.allow(A, t0 - Duration::from_secs(50)));
        assert!(!l.allow(A, t0 + ms(10)));
        assert!(l.allow(A, t0 + ms(25)));
    }

    #[test]
    fn sources_are_addresses_ipv6_by_64() {
        let mut l = SourceLimiter::new(
            SourceLimits {
                burst: 1.0,
                ..SourceLimits::default()
            },
            Networks::default(),
        );
        let t0 = Instant::now();
        assert!(l.allow(A, t0));
        assert!(!l.allow(A, t0));
        let IpAddr::V4(a) = A else { unreachable!() };
        assert!(!l.allow(IpAddr::V6(a.to_ipv6_mapped()), t0));
        let v6 = |last: u16, fourth: u16| {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, fourth, 0, 0, 0, last))
        };
        assert!(l.allow(v6(1, 0), t0));
        assert!(!l.allow(v6(2, 0), t0));
        assert!(l.allow(v6(1, 1), t0));
    }

    #[test]
    fn memory_is_bounded_and_a_busy_source_is_remembered() {
        let mut l = SourceLimiter::new(
            SourceLimits {
                max_sources: 64,
                ..SourceLimits::default()
            },
            Networks::default(),
        );
        let t0 = Instant::now();
        while l.allow(A, t0) {}
        for i in 0..50_000u32 {
            l.allow(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), t0);
            assert!(l.sources() <= 64);
            if i % 8 == 0 {
                assert!(!l.allow(A, t0), "{i}");
            }
        }
    }

    #[test]
    fn a_trusted_source_over_the_limit_is_admitted_and_others_are_not() {
        let trunk: IpNet = "192.0.2.0/31".parse().unwrap();
        let mut l = SourceLimiter::new(SourceLimits::per_second(5), Networks::new(vec![trunk]));
        let t0 = Instant::now();
        // The trunk (A, and A as a dual-stack socket sees it): every one of a
        // burst far over the limit.
        let IpAddr::V4(a) = A else { unreachable!() };
        let mapped = IpAddr::V6(a.to_ipv6_mapped());
        assert_eq!((0..1000).filter(|_| l.allow(A, t0)).count(), 1000);
        assert_eq!((0..1000).filter(|_| l.allow(mapped, t0)).count(), 1000);
        // An untrusted source: its burst (twice the rate), then refused.
        let c = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3));
        assert_eq!((0..1000).filter(|_| l.allow(c, t0)).count(), 10);
        assert!(!l.allow(c, t0 + ms(100)));
        assert!(l.allow(c, t0 + ms(201)));
        // The trusted keep no bucket.
        assert_eq!(l.sources(), 1);
    }

    #[test]
    fn the_rate_limit_sets_the_rate_and_a_burst_of_twice_it() {
        assert_eq!(SourceLimits::per_second(50), SourceLimits::default());
        let limits = SourceLimits::per_second(7);
        assert_eq!((limits.per_second, limits.burst), (7.0, 14.0));
    }

    #[test]
    fn the_allow_list() {
        let nets = |list: &[&str]| SipAllow::new(list.iter().map(|n| n.parse().unwrap()).collect());
        let everyone = SipAllow::everyone();
        assert!(everyone.allows(A) && everyone.allows("::1".parse().unwrap()));
        let trunk = nets(&["192.0.2.0/31", "2001:db8::/32", "127.0.0.1/32"]);
        assert!(trunk.allows(A));
        assert!(!trunk.allows(B));
        assert!(trunk.allows("127.0.0.1".parse().unwrap()));
        assert!(!trunk.allows("127.0.0.2".parse().unwrap()));
        assert!(trunk.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(trunk.allows("2001:db8:5::1".parse().unwrap()));
        assert!(!trunk.allows("2001:db9::1".parse().unwrap()));
        assert!(!trunk.allows("::1".parse().unwrap()));
    }

    fn is_new_request(bytes: &[u8]) -> bool {
        super::is_new_request(&sip::Inbound::parse(bytes))
    }

    #[test]
    fn what_counts_as_a_new_request() {
        let request = |method: &str, to: &str| {
            format!(
                "{method} sip:room@192.0.2.10 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n\
                 From: <sip:+15551234@192.0.2.7>;tag=a\r\n\
                 To: {to}\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .into_bytes()
        };
        let no_tag = "<sip:room@192.0.2.10>";
        let tagged = "<sip:room@192.0.2.10>;tag=b";
        assert!(is_new_request(&request("INVITE", no_tag)));
        assert!(is_new_request(&request("OPTIONS", no_tag)));
        let mut prefixed = b"\r\n\r\n".to_vec();
        prefixed.extend(request("INVITE", no_tag));
        assert!(is_new_request(&prefixed));
        assert!(!is_new_request(&request("INVITE", tagged)));
        assert!(!is_new_request(&request("OPTIONS", tagged)));
        for method in ["ACK", "BYE", "CANCEL", "REGISTER", "invite"] {
            assert!(!is_new_request(&request(method, no_tag)), "{method}");
        }
        assert!(!is_new_request(b"SIP/2.0 200 OK\r\n\r\n"));
        assert!(!is_new_request(b""));
        assert!(!is_new_request(b"\r\n\r\n"));
        assert!(is_new_request(b"INVITE garbage"));
        assert!(is_new_request(b"\r\nOPTIONS garbage"));
        assert!(!is_new_request(b"REGISTER garbage"));
        assert!(!is_new_request(b"INVITE\r\ngarbage"));
        // Over the size limit: not parsed, counted all the same.
        let mut huge = b"INVITE sip:room@192.0.2.10 SIP/2.0\r\n".to_vec();
        huge.resize(70_000, b'x');
        assert!(is_new_request(&huge));
    }
}
