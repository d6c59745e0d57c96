//! The handles and addresses every layer of the engine shares: which
//! connection and transport a message came on, what to send, and our ids
//! for calls and transactions. Their own module so that the transaction,
//! dialog, timer and engine modules all depend on it and never on each
//! other in a circle.

use std::fmt;
use std::net::SocketAddr;

/// A stream connection, numbered by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// How a message came in, and how its answer goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp(ConnId),
}

impl Transport {
    /// TCP: no retransmissions, no lingering transactions.
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Tcp(_))
    }

    pub(crate) fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp(_) => "TCP",
        }
    }
}

/// Bytes for the shell to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Our handle for a call (not the SIP Call-ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub(crate) u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// Our handle for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TxId(pub u64);
