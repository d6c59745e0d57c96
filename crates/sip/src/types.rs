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
    /// An open stream connection.
    Tcp(ConnId),
    /// Outgoing only: a new TCP connection to the [`Transmit`]'s `to`,
    /// which the shell opens (with a bounded timeout), registers like an
    /// accepted one (so that the answers on it are read and handed in as
    /// [`Transport::Tcp`]) and then writes the bytes on. Used for an
    /// in-dialog request whose dialog's connection has closed. If the
    /// connection cannot be opened the shell drops the bytes: the
    /// request's client transaction times out (Timer F).
    TcpConnect,
}

impl Transport {
    /// TCP: no retransmissions, no lingering transactions.
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Tcp(_) | Self::TcpConnect)
    }

    pub(crate) fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp(_) | Self::TcpConnect => "TCP",
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
