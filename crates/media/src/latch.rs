//! Symmetric RTP: learn where a leg's media really comes from, then hold on.
//!
//! Behind NAT the address in the SDP is often not where packets come from,
//! so the source of the first valid packets becomes the leg's remote address
//! (and where we send). Once latched, packets from any other address are
//! dropped ("no RTP bleed": a stray or malicious sender on the leg's port
//! is never mixed into the room, nor sent the room's audio).
//!
//! Latching needs two packets in a row from one address and SSRC with
//! consecutive sequence numbers, or a single packet from the address the SDP
//! announced. Until then nothing from the leg is mixed, and we send only to
//! the announced address, never to an unconfirmed one.

use std::net::SocketAddr;

use crate::rtp::{SeqNo, Ssrc};

/// What to do with a packet, by its source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// From the latched address: use it.
    Accept,
    /// This packet latched the leg to `SocketAddr`; use it.
    Latched(SocketAddr),
    /// Still learning; the packet is not used.
    Learning,
    /// From somewhere other than the latched address: drop and count.
    Foreign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Learning {
        candidate: Option<(SocketAddr, Ssrc, SeqNo)>,
    },
    Latched(SocketAddr),
}

/// One leg's address latch.
#[derive(Debug, Clone)]
pub(crate) struct Latch {
    signalled: Option<SocketAddr>,
    state: State,
}

impl Latch {
    /// A latch that has seen nothing; `signalled` is the SDP's address, if known.
    pub(crate) fn new(signalled: Option<SocketAddr>) -> Self {
        Self {
            signalled,
            state: State::Learning { candidate: None },
        }
    }

    /// Where to send: the latched address, else the signalled one, else nowhere.
    pub(crate) fn remote(&self) -> Option<SocketAddr> {
        match self.state {
            State::Latched(addr) => Some(addr),
            State::Learning { .. } => self.signalled,
        }
    }

    /// Judges a valid RTP packet from `from`.
    pub(crate) fn on_packet(&mut self, from: SocketAddr, ssrc: Ssrc, seq: SeqNo) -> Verdict {
        match &mut self.state {
            State::Latched(addr) if *addr == from => Verdict::Accept,
            State::Latched(_) => Verdict::Foreign,
            State::Learning { candidate } => {
                let confirmed = Some(from) == self.signalled
                    || candidate.is_some_and(|(addr, s, last)| {
                        addr == from && s == ssrc && seq.distance(last) == 1
                    });
                if confirmed {
                    self.state = State::Latched(from);
                    Verdict::Latched(from)
                } else {
                    *candidate = Some((from, ssrc, seq));
                    Verdict::Learning
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn latches_on_two_consecutive_packets_then_drops_others() {
        let mut latch = Latch::new(None);
        assert_eq!(latch.remote(), None);
        assert_eq!(
            latch.on_packet(addr(1), Ssrc(7), SeqNo(65535)),
            Verdict::Learning
        );
        assert_eq!(latch.remote(), None); // never send to an unconfirmed source
        assert_eq!(
            latch.on_packet(addr(1), Ssrc(7), SeqNo(0)),
            Verdict::Latched(addr(1))
        );
        assert_eq!(latch.remote(), Some(addr(1)));
        assert_eq!(latch.on_packet(addr(1), Ssrc(7), SeqNo(1)), Verdict::Accept);
        assert_eq!(
            latch.on_packet(addr(2), Ssrc(7), SeqNo(2)),
            Verdict::Foreign
        );
        // A new SSRC from the latched address (a phone restarting its stream) is fine.
        assert_eq!(latch.on_packet(addr(1), Ssrc(8), SeqNo(9)), Verdict::Accept);
    }

    #[test]
    fn interleaved_sources_do_not_latch_until_one_is_consistent() {
        let mut latch = Latch::new(None);
        assert_eq!(
            latch.on_packet(addr(1), Ssrc(1), SeqNo(10)),
            Verdict::Learning
        );
        assert_eq!(
            latch.on_packet(addr(2), Ssrc(2), SeqNo(11)),
            Verdict::Learning
        );
        assert_eq!(
            latch.on_packet(addr(1), Ssrc(1), SeqNo(11)),
            Verdict::Learning
        );
        assert_eq!(
            latch.on_packet(addr(1), Ssrc(1), SeqNo(12)),
            Verdict::Latched(addr(1))
        );
    }

    #[test]
    fn the_signalled_address_latches_at_once_and_is_sent_to_before() {
        let mut latch = Latch::new(Some(addr(5)));
        assert_eq!(latch.remote(), Some(addr(5)));
        assert_eq!(
            latch.on_packet(addr(5), Ssrc(1), SeqNo(1)),
            Verdict::Latched(addr(5))
        );
        // NAT: the signalled address is not where packets come from.
        let mut latch = Latch::new(Some(addr(5)));
        assert_eq!(
            latch.on_packet(addr(6), Ssrc(1), SeqNo(1)),
            Verdict::Learning
        );
        assert_eq!(
            latch.on_packet(addr(6), Ssrc(1), SeqNo(2)),
            Verdict::Latched(addr(6))
        );
        assert_eq!(latch.remote(), Some(addr(6)));
    }
}
