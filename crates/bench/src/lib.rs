//! Helpers of `scripts/bench-api` and `scripts/bench-media`, the
//! benchmarks. Not part of confab.
//!
//! The binaries:
//! - `bench-hello`: a bare axum handler on the same runtime (and allocator)
//!   as confab, the ceiling any confab endpoint is compared against in the
//!   same run;
//! - `bench-seed`: fills a database with accounts, conferences and
//!   participants shaped like a year of real use, straight through the
//!   store (the API has no way to create history);
//! - `bench-media`: the media benchmark's load generator (testkit phones in
//!   rooms), its ceiling (a bare UDP echo and a flood), and a voice URL;
//! - `bench-load`: the API side of `scripts/load` and `scripts/crash-test`
//!   (a mute/unmute/kick driver, the stuck-room check, the crash test's
//!   snapshot and its check after the restart).
//!
//! This file holds what they share: the runtime, built exactly as
//! `confab`'s `main` builds it so the comparison is fair, and the flags that
//! name the confab under test.

use std::net::SocketAddr;

/// The confab process a load generator drives and watches
/// (`--sip`, `--http`, `--pid`).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// confab's SIP address (UDP).
    #[arg(long)]
    pub sip: SocketAddr,
    /// confab's HTTP address (`/metrics`, and the API).
    #[arg(long)]
    pub http: SocketAddr,
    /// The confab process, sampled in `/proc`.
    #[arg(long)]
    pub pid: u32,
}

/// A multi-thread tokio runtime with the defaults `confab` uses (one worker
/// per core, every driver enabled).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
