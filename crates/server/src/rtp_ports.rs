//! The `--rtp-ports` pool: each call's media leg gets its own UDP socket on
//! an even port of the range (RTP's convention), and the odd one above it
//! for RTCP when the peer does not multiplex (RFC 3550 §11).
//!
//! The pool keeps no table of what is taken: the operating system does. A
//! round-robin cursor walks the even ports, and a port whose bind fails
//! (taken by another call, another process, or a socket still closing) is
//! skipped. A socket's port goes back to the pool when the socket is
//! dropped, and the cursor makes sure it is the last to be used again.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::UdpSocket;

/// Even UDP ports of an inclusive range, bound on one address.
#[derive(Debug)]
pub struct RtpPorts {
    ip: IpAddr,
    /// The first even port of the range.
    first: u16,
    /// How many even ports the range has.
    count: u32,
    cursor: AtomicU32,
}

impl RtpPorts {
    /// The even ports of `low..=high`, bound on `ip`. A range with no even
    /// port (e.g. `5-5`) uses `low` alone.
    pub fn new(ip: IpAddr, low: u16, high: u16) -> Self {
        let (low, high) = (low.min(high), low.max(high));
        let first = if low % 2 == 0 || low == high {
            low
        } else {
            low + 1
        };
        let count = if first > high {
            1
        } else {
            u32::from(high - first) / 2 + 1
        };
        Self {
            ip,
            first: first.min(high),
            count,
            cursor: AtomicU32::new(0),
        }
    }

    /// How many ports the pool can hand out at most.
    pub fn capacity(&self) -> u32 {
        self.count
    }

    /// The address the pool binds (a wildcard when SIP is on one).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Binds the next free even port on `ip`, whatever the pool's address
    /// (a browser leg's: [`crate::browser_reach`] chose `ip`).
    pub fn bind_one_on(&self, ip: IpAddr) -> io::Result<UdpSocket> {
        self.bind_on(ip)
    }

    /// Binds the next free even port and, if it is free, the odd port
    /// above it (non-blocking: read on ticks, never awaited). `AddrInUse`
    /// once every even port was tried. With the pool on a wildcard, `on`
    /// (the address a call's INVITE arrived on) is bound instead, so the
    /// call's RTP leaves from the address the caller reached.
    pub fn bind_pair(
        &self,
        on: Option<IpAddr>,
    ) -> io::Result<(UdpSocket, Option<Arc<std::net::UdpSocket>>)> {
        let ip = match on {
            Some(ip) if self.ip.is_unspecified() && !ip.is_unspecified() => ip,
            _ => self.ip,
        };
        let rtp = self.bind_on(ip)?;
        let rtcp = rtp
            .local_addr()
            .ok()
            .and_then(|a| Some(SocketAddr::new(a.ip(), a.port().checked_add(1)?)))
            .and_then(|a| std::net::UdpSocket::bind(a).ok())
            .filter(|s| s.set_nonblocking(true).is_ok())
            .map(Arc::new);
        Ok((rtp, rtcp))
    }

    /// Binds the next free even port on the pool's address.
    #[cfg(test)]
    fn bind(&self) -> io::Result<UdpSocket> {
        self.bind_on(self.ip)
    }

    /// Binds the next free even port on `ip`. `AddrInUse` once every port
    /// was tried.
    fn bind_on(&self, ip: IpAddr) -> io::Result<UdpSocket> {
        for _ in 0..self.count {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.count;
            let Ok(offset) = u16::try_from(i * 2) else {
                continue;
            };
            let Some(port) = self.first.checked_add(offset) else {
                continue;
            };
            match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    return UdpSocket::from_std(socket);
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every port of the RTP range is in use",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localhost() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[test]
    fn the_range_is_its_even_ports() {
        let p = RtpPorts::new(localhost(), 30001, 30010);
        assert_eq!((p.first, p.capacity()), (30002, 5));
        let p = RtpPorts::new(localhost(), 30000, 30000);
        assert_eq!((p.first, p.capacity()), (30000, 1));
        let p = RtpPorts::new(localhost(), 30001, 30001);
        assert_eq!((p.first, p.capacity()), (30001, 1));
    }

    #[tokio::test]
    async fn ports_in_use_are_skipped_and_a_full_pool_says_so() {
        let p = RtpPorts::new(localhost(), 31500, 31505);
        let a = p.bind().unwrap();
        let b = p.bind().unwrap();
        let c = p.bind().unwrap();
        let ports: Vec<u16> = [&a, &b, &c]
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports, [31500, 31502, 31504]);
        assert_eq!(p.bind().unwrap_err().kind(), io::ErrorKind::AddrInUse);
        drop(b);
        assert_eq!(p.bind().unwrap().local_addr().unwrap().port(), 31502);
    }

    #[tokio::test]
    async fn a_pair_is_an_even_port_and_the_odd_one_above() {
        let p = RtpPorts::new(localhost(), 31600, 31603);
        let (rtp, rtcp) = p.bind_pair(None).unwrap();
        assert_eq!(rtp.local_addr().unwrap().port(), 31600);
        assert_eq!(rtcp.unwrap().local_addr().unwrap().port(), 31601);
        // The odd port taken: the RTP port is still handed out, without RTCP.
        let _taken = std::net::UdpSocket::bind((localhost(), 31603)).unwrap();
        let (rtp, rtcp) = p.bind_pair(None).unwrap();
        assert_eq!(rtp.local_addr().unwrap().port(), 31602);
        assert!(rtcp.is_none());
    }

    #[tokio::test]
    async fn a_wildcard_pool_binds_where_the_call_arrived_and_a_fixed_one_stays() {
        let arrived: IpAddr = "127.0.0.2".parse().unwrap();
        let wildcard = RtpPorts::new("0.0.0.0".parse().unwrap(), 31700, 31703);
        let (rtp, rtcp) = wildcard.bind_pair(Some(arrived)).unwrap();
        assert_eq!(rtp.local_addr().unwrap(), SocketAddr::new(arrived, 31700));
        assert_eq!(
            rtcp.unwrap().local_addr().unwrap(),
            SocketAddr::new(arrived, 31701)
        );
        let (rtp, _) = wildcard.bind_pair(None).unwrap();
        assert!(rtp.local_addr().unwrap().ip().is_unspecified());
        let fixed = RtpPorts::new(localhost(), 31710, 31711);
        let (rtp, _) = fixed.bind_pair(Some(arrived)).unwrap();
        assert_eq!(rtp.local_addr().unwrap().ip(), localhost());
    }
}
