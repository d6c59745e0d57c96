//! State kept per network client, with bounded memory. The API's
//! bad-credentials limit (`api::throttle`) keeps its windows here, and the
//! SIP side's per-source rate limit (`server::sip_guard`) its token buckets.
//!
//! A client is an IP address: IPv4 as is, an IPv4-mapped IPv6 address (a
//! dual-stack socket's view of an IPv4 peer) as the IPv4 address it is, and
//! any other IPv6 address by its /64 (one host gets a whole /64, so counting
//! single addresses would count nothing). At most `max_clients` are
//! remembered, in two generations: when the newer one is half full the older
//! is dropped whole, so the cost is O(1) per lookup and a client untouched
//! for a whole generation starts over with fresh state.

use std::collections::HashMap;
use std::net::IpAddr;

/// Who a per-client limit counts: an IPv4 address, or the /64 of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        let v6 = match ip {
            IpAddr::V4(v4) => return Self::V4(v4.octets()),
            IpAddr::V6(v6) => v6,
        };
        if let Some(v4) = v6.to_ipv4_mapped() {
            return Self::V4(v4.octets());
        }
        let [a, b, c, d, e, f, g, h, ..] = v6.octets();
        Self::V6([a, b, c, d, e, f, g, h])
    }
}

/// A `V` per client, at most `max_clients` of them; see the module docs.
#[derive(Debug)]
pub struct PerClient<V> {
    max_clients: usize,
    current: HashMap<ClientKey, V>,
    previous: HashMap<ClientKey, V>,
}

impl<V> PerClient<V> {
    pub fn new(max_clients: usize) -> Self {
        Self {
            max_clients,
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    /// The state of `ip`'s client, brought into the current generation;
    /// `fresh` if it is not remembered.
    pub fn get_or_insert(&mut self, ip: IpAddr, fresh: V) -> &mut V {
        let client = ClientKey::of(ip);
        if !self.current.contains_key(&client) {
            let carried = self.previous.remove(&client);
            let generation = (self.max_clients / 2).max(1);
            if self.current.len() >= generation {
                self.previous = std::mem::take(&mut self.current);
            }
            return self
                .current
                .entry(client)
                .or_insert(carried.unwrap_or(fresh));
        }
        self.current.entry(client).or_insert(fresh)
    }

    /// The state of `ip`'s client, if it is remembered (a look that
    /// neither adds nor refreshes it).
    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        let client = ClientKey::of(ip);
        self.current
            .get(&client)
            .or_else(|| self.previous.get(&client))
    }

    /// How many clients are remembered.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn ipv6_by_its_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6).into();
        let same_64: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 0, 0, 9).into();
        let other_64: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1).into();
        assert_eq!(ClientKey::of(one), ClientKey::of(same_64));
        assert_ne!(ClientKey::of(one), ClientKey::of(other_64));
        let IpAddr::V4(a) = A else { unreachable!() };
        assert_eq!(
            ClientKey::of(IpAddr::V6(a.to_ipv6_mapped())),
            ClientKey::of(A)
        );
        assert_eq!(ClientKey::of(A), ClientKey::V4([192, 0, 2, 1]));
    }

    #[test]
    fn state_is_kept_per_client() {
        let mut clients = PerClient::new(100);
        assert!(clients.is_empty());
        *clients.get_or_insert(A, 0) += 5;
        assert_eq!(*clients.get_or_insert(A, 0), 5);
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(*clients.get_or_insert(b, 7), 7);
        assert_eq!(clients.len(), 2);
        // A look adds nothing.
        assert_eq!(clients.get(A), Some(&5));
        assert_eq!(clients.get(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3))), None);
        assert_eq!(clients.len(), 2);
    }

    #[test]
    fn memory_is_bounded_and_recent_clients_are_kept() {
        let mut clients = PerClient::new(100);
        *clients.get_or_insert(A, 0u32) = 11;
        for i in 0..100_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            clients.get_or_insert(ip, 0);
            assert!(clients.len() <= 100, "{}", clients.len());
            // A client seen within each generation is carried over.
            if i % 10 == 0 {
                assert_eq!(*clients.get_or_insert(A, 0), 11, "{i}");
            }
        }
    }

    #[test]
    fn a_client_untouched_for_a_generation_starts_over() {
        let mut clients = PerClient::new(4);
        *clients.get_or_insert(A, 0u32) = 9;
        for i in 0..4u32 {
            clients.get_or_insert(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 0);
        }
        assert_eq!(*clients.get_or_insert(A, 0), 0);
    }
}
