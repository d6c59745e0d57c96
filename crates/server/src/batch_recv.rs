//! Reading a non-blocking UDP socket a batch of datagrams per syscall.
//!
//! A room's tick reads each leg's socket once every 20 ms, and usually
//! finds one packet there. With `recv_from` that is two syscalls (the
//! packet, then the `EAGAIN` that says there is no other); one
//! `recvmmsg(MSG_DONTWAIT)` into a batch of buffers returns what there is
//! and says, by returning fewer than the batch, that there is no more. A
//! short batch ends the read: what arrives after it is the next tick's.
//!
//! The buffers are the reader's own, allocated once. The headers `recvmmsg`
//! fills (nix's [`MultiHeaders`]) hold pointers into themselves, so they are
//! not `Send` and cannot live in a room's task (spawned through a runtime
//! handle, which takes only `Send` futures; `unsafe` to claim otherwise is
//! forbidden here). Each thread keeps one set instead, made the first time
//! it reads; no read allocates after that.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};

use crate::sip_udp::socket_addr;

/// Datagrams one `recvmmsg` reads at most.
pub(crate) const BATCH: usize = 8;
/// One buffer's size: a longer datagram is cut to it (as `recv_from` did).
const BUF: usize = 2048;

thread_local! {
    /// The headers of this thread's batched reads (see the module's doc).
    static HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(BATCH, None));
}

/// A batch of receive buffers, and what the last read put in them.
pub(crate) struct BatchRecv {
    bufs: Box<[[u8; BUF]; BATCH]>,
    /// Each buffer's datagram of the last batch: its length and source.
    got: [(usize, Option<SocketAddr>); BATCH],
}

impl BatchRecv {
    pub(crate) fn new() -> Self {
        Self {
            bufs: Box::new([[0; BUF]; BATCH]),
            got: [(0, None); BATCH],
        }
    }

    /// Reads what has arrived on `socket`, up to `max` datagrams, without
    /// blocking, and hands each to `each` with its source, in arrival order.
    /// Returns how many it read: zero when nothing had arrived (that is not
    /// an error). An error other than "nothing there" ends the reading;
    /// datagrams read before it were handed over.
    pub(crate) fn read(
        &mut self,
        socket: &impl AsRawFd,
        max: usize,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let mut read = 0;
        while read < max {
            let want = BATCH.min(max - read);
            let got = match self.batch(socket, want) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            for (buf, &(len, from)) in self.bufs.iter().zip(&self.got).take(got) {
                // Every UDP datagram has a source; the kernel gives it.
                if let Some(from) = from {
                    each(from, buf.get(..len).unwrap_or_default());
                }
            }
            read += got;
            if got < want {
                break; // the socket is empty: no second call to hear so
            }
        }
        Ok(read)
    }

    /// One `recvmmsg` into the first `want` buffers; how many it filled.
    fn batch(&mut self, socket: &impl AsRawFd, want: usize) -> io::Result<usize> {
        let fd = socket.as_raw_fd();
        let (bufs, got) = (&mut self.bufs, &mut self.got);
        HEADERS.with_borrow_mut(|headers| {
            let mut iovs = bufs.each_mut().map(|buf| [IoSliceMut::new(buf)]);
            let results = recvmmsg(
                fd,
                headers,
                iovs.iter_mut().take(want),
                MsgFlags::MSG_DONTWAIT,
                None,
            )?;
            let mut n = 0;
            for (slot, message) in got.iter_mut().zip(results) {
                *slot = (message.bytes, message.address.and_then(|a| socket_addr(&a)));
                n += 1;
            }
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    /// A non-blocking loopback socket to read, and one to send to it from.
    fn pair() -> (UdpSocket, UdpSocket) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("non-blocking");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
        sender
            .connect(socket.local_addr().expect("address"))
            .expect("connect");
        (socket, sender)
    }

    /// Sends datagrams `from..to`, each its number (as four bytes) and a
    /// length that differs from its neighbours'.
    fn send(sender: &UdpSocket, numbers: std::ops::Range<u32>) {
        for n in numbers {
            let mut datagram = n.to_be_bytes().to_vec();
            datagram.resize(4 + (n as usize % 5) * 100, 0xa5);
            sender.send(&datagram).expect("send");
        }
    }

    /// Reads with `max`, returning each datagram's number and source, and
    /// checking its length and contents on the way.
    fn read(reader: &mut BatchRecv, socket: &UdpSocket, max: usize) -> Vec<(u32, SocketAddr)> {
        let mut seen = Vec::new();
        let count = reader
            .read(socket, max, |from, datagram| {
                let (number, rest) = datagram.split_at(4);
                let n = u32::from_be_bytes(number.try_into().expect("four bytes"));
                assert_eq!(rest.len(), (n as usize % 5) * 100);
                assert!(rest.iter().all(|&b| b == 0xa5));
                seen.push((n, from));
            })
            .expect("read");
        assert_eq!(count, seen.len());
        seen
    }

    #[test]
    fn an_empty_socket_gives_nothing_and_no_error() {
        let (socket, _sender) = pair();
        let mut reader = BatchRecv::new();
        assert_eq!(read(&mut reader, &socket, 64), []);
    }

    #[test]
    fn reads_every_datagram_in_order_with_its_source_across_batches() {
        let (socket, sender) = pair();
        let source = sender.local_addr().expect("address");
        let mut reader = BatchRecv::new();
        // Fewer than a batch, exactly a batch, and several and a bit.
        for (sent, count) in [(0, 3), (3, BATCH), (3 + BATCH, 3 * BATCH + 5)] {
            let range = sent as u32..(sent + count) as u32;
            send(&sender, range.clone());
            let expected: Vec<_> = range.map(|n| (n, source)).collect();
            assert_eq!(read(&mut reader, &socket, 64), expected);
            assert_eq!(read(&mut reader, &socket, 64), []);
        }
    }

    #[test]
    fn stops_at_the_cap_and_the_next_read_goes_on_from_there() {
        let (socket, sender) = pair();
        let source = sender.local_addr().expect("address");
        let mut reader = BatchRecv::new();
        // A cap that is not a whole number of batches, then one that is.
        // (Few enough datagrams for a loopback socket's default buffer.)
        let cap = 2 * BATCH + 3;
        send(&sender, 0..50);
        let mut numbers = Vec::new();
        for (max, expected) in [
            (cap, cap),
            (2 * BATCH, 2 * BATCH),
            (64, 50 - cap - 2 * BATCH),
        ] {
            let got = read(&mut reader, &socket, max);
            assert!(got.iter().all(|&(_, from)| from == source));
            assert_eq!(got.len(), expected);
            numbers.extend(got.into_iter().map(|(n, _)| n));
        }
        assert_eq!(numbers, (0..50).collect::<Vec<_>>());
        assert_eq!(read(&mut reader, &socket, 64), []);
    }

    #[test]
    fn a_datagram_longer_than_a_buffer_is_cut_to_it() {
        let (socket, sender) = pair();
        let mut reader = BatchRecv::new();
        sender.send(&[1; BUF + 100]).expect("send");
        sender.send(&[2; 10]).expect("send");
        let mut lengths = Vec::new();
        reader
            .read(&socket, 64, |_, datagram| lengths.push(datagram.len()))
            .expect("read");
        assert_eq!(lengths, [BUF, 10]);
    }
}
