//! For tests that run a real SIP peer (SIPp, baresip) beside the phone or
//! the server: whether the peer is installed, and free ports to give it.
//! Blocking and std-only: these run before anything is started.

use std::net::{TcpListener, UdpSocket};

/// Whether `program` is installed. Without it the test says so and
/// skips, unless `CONFAB_REQUIRE_PEERS=1` (CI, `scripts/test`): then it
/// fails, naming the package to install.
///
/// # Panics
///
/// When `program` is missing and `CONFAB_REQUIRE_PEERS=1`.
#[must_use]
pub fn peer_available(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()));
    if found {
        return true;
    }
    assert!(
        std::env::var("CONFAB_REQUIRE_PEERS").as_deref() != Ok("1"),
        "CONFAB_REQUIRE_PEERS=1 but `{program}` is not on PATH: install {package} \
         (apt-get install {package})"
    );
    eprintln!("skipping: {program} not installed (package {package})");
    false
}

/// An even port whose `count` consecutive neighbours (itself included) are
/// free on 127.0.0.1 now, for UDP and TCP. Peers bind them a moment later;
/// the kernel's ephemeral range makes a clash with another test unlikely.
///
/// # Panics
///
/// When no such run of ports is found in 100 tries, or 127.0.0.1 cannot
/// be bound at all.
#[must_use]
pub fn free_ports(count: u16) -> u16 {
    for _ in 0..100 {
        let Some(base) = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .ok()
            .map(|a| a.port())
        else {
            continue;
        };
        if base % 2 == 1 || base > u16::MAX - count {
            continue;
        }
        let free = (base..base + count).all(|p| {
            let addr = ("127.0.0.1", p);
            UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
        });
        if free {
            return base;
        }
    }
    panic!("no {count} free consecutive ports on 127.0.0.1");
}
