//! The SIP UDP socket, knowing each datagram's local address.
//!
//! Bound to one address, every datagram arrives on it and every answer
//! leaves from it. Bound to a wildcard (`0.0.0.0` or `[::]`), a multi-homed
//! host receives on all of its addresses: the socket then asks the kernel
//! for each datagram's destination (`IP_PKTINFO`, `IPV6_PKTINFO` through
//! `recvmsg`), which the engine advertises to that caller, and sends from
//! a chosen local address (the same control message through `sendmsg`), so
//! a caller hears from the address it reached. One wildcard socket with
//! these control messages, rather than one socket per interface
//! (`getifaddrs`), because it follows addresses that come and go after
//! start-up (DHCP, a VPN) and keeps one socket and one port to watch.
//!
//! A dual-stack `[::]` socket sees an IPv4 datagram's addresses as
//! IPv4-mapped IPv6 (`::ffff:192.0.2.1`), and sends from one the same way.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// A UDP socket that reports where each datagram arrived.
#[derive(Debug)]
pub(crate) struct SipUdp {
    socket: UdpSocket,
    /// The bound address; with a wildcard IP, each datagram's own is asked for.
    bound: SocketAddr,
}

/// One datagram received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    pub len: usize,
    pub from: SocketAddr,
    /// Our address it was sent to (the bound address when that is not a
    /// wildcard; a wildcard when the kernel did not say).
    pub local: SocketAddr,
}

impl SipUdp {
    /// Wraps a bound socket; on a wildcard address, turns on the control
    /// message that carries each datagram's destination.
    pub(crate) fn new(socket: UdpSocket) -> io::Result<Self> {
        let bound = socket.local_addr()?;
        match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
            }
            _ => {}
        }
        Ok(Self { socket, bound })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    pub(crate) fn is_wildcard(&self) -> bool {
        self.bound.ip().is_unspecified()
    }

    /// The next datagram, into `buf`.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        if !self.is_wildcard() {
            let (len, from) = self.socket.recv_from(buf).await?;
            return Ok(Received {
                len,
                from,
                local: self.bound,
            });
        }
        let port = self.bound.port();
        let fd = self.socket.as_raw_fd();
        self.socket
            .async_io(Interest::READABLE, || {
                // Room for either kind of packet info.
                let mut control = nix::cmsg_space!(nix::libc::in6_pktinfo);
                let mut iov = [IoSliceMut::new(buf)];
                let message = recvmsg::<SockaddrStorage>(
                    fd,
                    &mut iov,
                    Some(&mut control),
                    MsgFlags::empty(),
                )?;
                let from = message
                    .address
                    .and_then(|a| socket_addr(&a))
                    .ok_or_else(|| io::Error::other("a datagram without a source address"))?;
                let local = message
                    .cmsgs()
                    .ok()
                    .into_iter()
                    .flatten()
                    .find_map(|c| destination(&c))
                    .unwrap_or(self.bound.ip());
                Ok(Received {
                    len: message.bytes,
                    from,
                    local: SocketAddr::new(local, port),
                })
            })
            .await
    }

    /// Sends `bytes` to `to`, from our address `from` when the socket is a
    /// wildcard and it is known (else the kernel picks by its routes).
    pub(crate) async fn send(
        &self,
        bytes: &[u8],
        to: SocketAddr,
        from: Option<IpAddr>,
    ) -> io::Result<()> {
        let from = from.filter(|ip| self.is_wildcard() && !ip.is_unspecified());
        let Some(from) = from else {
            self.socket.send_to(bytes, to).await?;
            return Ok(());
        };
        let fd = self.socket.as_raw_fd();
        let dest = SockaddrStorage::from(to);
        let v4;
        let v6;
        let control = match (self.bound.ip(), from) {
            (IpAddr::V4(_), IpAddr::V4(ip)) => {
                v4 = nix::libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: nix::libc::in_addr {
                        s_addr: u32::from(ip).to_be(),
                    },
                    ipi_addr: nix::libc::in_addr { s_addr: 0 },
                };
                ControlMessage::Ipv4PacketInfo(&v4)
            }
            (IpAddr::V6(_), from) => {
                let ip = match from {
                    IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                    IpAddr::V6(ip) => ip,
                };
                v6 = nix::libc::in6_pktinfo {
                    ipi6_addr: nix::libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                ControlMessage::Ipv6PacketInfo(&v6)
            }
            // An IPv6 source for an IPv4 socket cannot be: let the kernel pick.
            (IpAddr::V4(_), IpAddr::V6(_)) => {
                self.socket.send_to(bytes, to).await?;
                return Ok(());
            }
        };
        self.socket
            .async_io(Interest::WRITABLE, || {
                let iov = [IoSlice::new(bytes)];
                sendmsg(fd, &iov, &[control], MsgFlags::empty(), Some(&dest))?;
                Ok(())
            })
            .await
    }
}

/// A received datagram's source address.
pub(crate) fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// The local address a packet-info control message names.
fn destination(message: &ControlMessageOwned) -> Option<IpAddr> {
    match message {
        ControlMessageOwned::Ipv4PacketInfo(info) => Some(IpAddr::V4(Ipv4Addr::from(
            u32::from_be(info.ipi_spec_dst.s_addr),
        ))),
        ControlMessageOwned::Ipv6PacketInfo(info) => {
            Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)))
        }
        _ => None,
    }
}
