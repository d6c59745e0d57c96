//! What the shell gives the engine: where it runs, its timers, and a
//! source of randomness.

use std::net::IpAddr;

use crate::timer::Timers;

/// A source of random numbers for tags, branches and SDP session ids
/// (the shell's RNG; tests pass a counter).
pub trait Random {
    fn next_u64(&mut self) -> u64;
}

impl<F: FnMut() -> u64> Random for F {
    fn next_u64(&mut self) -> u64 {
        self()
    }
}

/// What the engine needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The address written into Contact, Via and SDP when the address a
    /// request arrived on is not known ([`crate::Engine::handle_message`],
    /// or a wildcard arrival address), and always when `fixed` is set.
    /// Never a wildcard (`--public-addr`, or the bind address).
    pub public_addr: IpAddr,
    /// Whether `public_addr` is written whatever address a request arrived
    /// on (`--public-addr`: the host is behind NAT, or callers reach it
    /// through an address it does not have). Otherwise each call
    /// advertises the local address its INVITE arrived on.
    pub fixed: bool,
    /// The SIP port written into Contact and Via.
    pub sip_port: u16,
    pub timers: Timers,
    /// The Server and User-Agent header value.
    pub user_agent: String,
    /// Server transactions kept at most; over it, new requests get 503
    /// (those of live calls still pass). A call's INVITE and BYE each
    /// linger 64×T1 (32 s) after their answer over UDP, so a steady R new
    /// calls a second keep about 64·R: the default admits about 1,500
    /// calls/s, above what one node sets up (docs/benchmarks.md).
    pub max_transactions: usize,
}

impl EngineConfig {
    pub fn new(public_addr: IpAddr, sip_port: u16) -> Self {
        Self {
            public_addr,
            fixed: false,
            sip_port,
            timers: Timers::default(),
            user_agent: "confab".to_owned(),
            max_transactions: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the public address {0} is a wildcard; callers need a real address")]
    WildcardPublicAddr(IpAddr),
}
