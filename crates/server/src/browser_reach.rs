//! Where a browser leg listens, and the one ICE candidate it advertises.
//!
//! confab is ICE-lite with a single host candidate, so that candidate must
//! be an address the browser will pair with its own and can reach:
//!
//! - `--public-addr` is advertised when it is set (behind NAT the browser
//!   reaches the public address; the socket listens on a local one).
//! - With RTP on a concrete address that is not loopback, the leg listens
//!   and is advertised there, as a SIP call's media is.
//! - With RTP on a wildcard or on loopback, the leg listens on the local
//!   address that routes to the browser's own host candidates (the
//!   addresses in its offer): the interface facing the browser, found by
//!   asking the routing table, no packet sent. A wildcard cannot be a
//!   candidate, and Firefox never pairs its own (non-loopback) candidates
//!   with a loopback one, so without this a server on a wildcard took no
//!   browser at all, and one on loopback took Chromium but not Firefox.
//!   A browser on the same machine names that machine's interface
//!   addresses, which route to themselves. When the offer names no
//!   address (only mDNS names), the pool's own address is used (loopback
//!   for a wildcard), which a browser on this machine reaches.
//!
//! Anything that reaches the port still needs the ICE credentials of this
//! leg's answer: the port takes no media from anyone else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where a leg's socket is bound, and what it advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reach {
    /// The address the leg's socket binds.
    pub bind: IpAddr,
    /// The address of its ICE candidate (the port is the socket's).
    pub advertise: Option<IpAddr>,
}

/// Decides [`Reach`] for an offer, with the RTP pool on `pool` and the
/// operator's `--public-addr`. `route` finds the local address that routes
/// to a destination ([`local_address_toward`] outside tests).
pub(crate) fn reach(
    pool: IpAddr,
    public_addr: Option<IpAddr>,
    offer_sdp: &str,
    route: impl Fn(IpAddr) -> Option<IpAddr>,
) -> Reach {
    let bind = if pool.is_unspecified() || pool.is_loopback() {
        candidate_addresses(offer_sdp)
            .filter(|ip| same_family(*ip, pool) || pool.is_unspecified())
            .find_map(|ip| route(ip).filter(|local| !local.is_unspecified()))
            .unwrap_or_else(|| loopback_for(pool))
    } else {
        pool
    };
    Reach {
        bind,
        advertise: public_addr.filter(|ip| !ip.is_unspecified()),
    }
}

/// The candidate's address: `--public-addr`, else the bound address.
pub(crate) fn candidate(reach: Reach, bound: SocketAddr) -> SocketAddr {
    SocketAddr::new(reach.advertise.unwrap_or(bound.ip()), bound.port())
}

/// The local address the routing table picks to send to `to` (a UDP
/// socket's connect sends nothing).
pub(crate) fn local_address_toward(to: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = match to {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = std::net::UdpSocket::bind((any, 0)).ok()?;
    socket.connect((to, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// The addresses of the offer's UDP host and server-reflexive candidates,
/// IPv4 first, in the offer's order otherwise; mDNS names, loopback,
/// link-local and unspecified addresses are skipped. The offer is
/// untrusted text: what does not parse is skipped.
fn candidate_addresses(sdp: &str) -> impl Iterator<Item = IpAddr> + '_ {
    let all = || {
        sdp.lines().filter_map(|line| {
            // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
            let fields: Vec<&str> = line
                .trim()
                .strip_prefix("a=candidate:")?
                .split(' ')
                .collect();
            let (transport, address, kind) = (fields.get(2)?, fields.get(4)?, fields.get(7)?);
            if !transport.eq_ignore_ascii_case("udp") || !matches!(*kind, "host" | "srflx") {
                return None;
            }
            let ip: IpAddr = address.parse().ok()?;
            let usable = !ip.is_loopback() && !ip.is_unspecified() && !is_link_local(ip);
            usable.then_some(ip)
        })
    };
    all()
        .filter(IpAddr::is_ipv4)
        .chain(all().filter(IpAddr::is_ipv6))
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_unicast_link_local(),
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// The loopback address of `ip`'s family (itself if it is one).
fn loopback_for(ip: IpAddr) -> IpAddr {
    match ip {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Firefox's offer, as it was sent from this machine (trimmed).
    const FIREFOX: &str = "v=0\r\n\
        m=audio 42062 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\n\
        c=IN IP4 192.0.2.2\r\n\
        a=candidate:0 1 UDP 2122187007 192.0.2.2 42062 typ host\r\n\
        a=candidate:1 1 UDP 2122252543 fd00::2 46919 typ host\r\n\
        a=candidate:2 1 TCP 2105458943 192.0.2.2 9 typ host tcptype active\r\n\
        a=end-of-candidates\r\n";

    /// Chromium's, with its host candidate hidden behind an mDNS name.
    const MDNS_ONLY: &str = "v=0\r\n\
        a=candidate:1 1 udp 2113937151 4d1f6c0e-0f4e-4c1b-9b1e-2f4e1a2b3c4d.local 51234 typ host\r\n";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A routing table: 10.x and this machine's own addresses go out (or
    /// stay) on 192.0.2.2, IPv6 on fd00::2.
    fn route(to: IpAddr) -> Option<IpAddr> {
        match to {
            IpAddr::V4(_) => Some(ip("192.0.2.2")),
            IpAddr::V6(_) => Some(ip("fd00::2")),
        }
    }

    #[test]
    fn on_loopback_the_leg_listens_where_the_browsers_candidates_route() {
        let r = reach(ip("127.0.0.1"), None, FIREFOX, route);
        assert_eq!(
            r,
            Reach {
                bind: ip("192.0.2.2"),
                advertise: None
            }
        );
        let bound = SocketAddr::new(r.bind, 10_000);
        assert_eq!(candidate(r, bound), bound);
        // An IPv6 pool routes toward the browser's IPv6 candidate.
        let r = reach(ip("::1"), None, FIREFOX, route);
        assert_eq!(r.bind, ip("fd00::2"));
    }

    #[test]
    fn on_a_wildcard_ipv4_candidates_come_first() {
        for pool in ["0.0.0.0", "::"] {
            assert_eq!(reach(ip(pool), None, FIREFOX, route).bind, ip("192.0.2.2"));
        }
    }

    #[test]
    fn a_concrete_address_is_kept_and_public_addr_is_advertised() {
        let r = reach(ip("192.0.2.9"), Some(ip("198.51.100.7")), FIREFOX, route);
        assert_eq!(r.bind, ip("192.0.2.9"));
        let bound = SocketAddr::new(r.bind, 10_002);
        assert_eq!(candidate(r, bound), "198.51.100.7:10002".parse().unwrap());
        // A wildcard --public-addr says nothing.
        let r = reach(ip("192.0.2.9"), Some(ip("0.0.0.0")), FIREFOX, route);
        assert_eq!(r.advertise, None);
    }

    #[test]
    fn no_usable_candidate_falls_back_to_loopback() {
        let routeless = |_| None;
        for (pool, expected) in [
            ("0.0.0.0", "127.0.0.1"),
            ("::", "::1"),
            ("127.0.0.1", "127.0.0.1"),
        ] {
            assert_eq!(reach(ip(pool), None, MDNS_ONLY, route).bind, ip(expected));
            assert_eq!(reach(ip(pool), None, FIREFOX, routeless).bind, ip(expected));
            assert_eq!(
                reach(ip(pool), None, "garbage\r\na=candidate:\r\n", route).bind,
                ip(expected)
            );
        }
    }

    #[test]
    fn only_udp_host_and_srflx_addresses_count() {
        let sdp = "a=candidate:0 1 TCP 1 198.51.100.1 9 typ host tcptype active\r\n\
                   a=candidate:1 1 udp 1 198.51.100.2 5000 typ relay raddr 0.0.0.0 rport 0\r\n\
                   a=candidate:2 1 udp 1 127.0.0.1 5000 typ host\r\n\
                   a=candidate:3 1 udp 1 169.254.1.1 5000 typ host\r\n\
                   a=candidate:4 1 udp 1 203.0.113.4 5000 typ srflx raddr 10.0.0.2 rport 5000\r\n";
        assert_eq!(
            candidate_addresses(sdp).collect::<Vec<_>>(),
            [ip("203.0.113.4")]
        );
    }

    #[test]
    fn loopback_routes_to_itself() {
        // The routing table answers; loopback is the one address every
        // machine routes to itself.
        assert_eq!(local_address_toward(ip("127.0.0.1")), Some(ip("127.0.0.1")));
    }
}
