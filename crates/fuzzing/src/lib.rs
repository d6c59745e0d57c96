//! The bodies of confab's fuzz targets, one function a target, each taking
//! the fuzzer's bytes.
//!
//! Both runners call these same functions: the cargo-fuzz binaries in
//! `fuzz/fuzz_targets/` (one line each) and `tests/replay.rs`, which feeds
//! every input kept under `fuzz/regressions/<target>/` through them on each
//! `cargo test`. A target checks more than "no panic": where the code under
//! test promises something cheap to check (a parse that reads back what the
//! writer wrote, output that does not depend on how input was split), the
//! target asserts it, so a broken promise is a crash the fuzzer keeps.
//!
//! This is test code: a panic is how a target reports a finding, so the
//! `unwrap`/`expect` lints are off here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod media;
mod sip;
mod twiml;

pub use api::{api_params, authorization};
pub use media::{rfc4733, rtp};
pub use sip::{sdp, sip_engine, sip_message};
pub use twiml::twiml;

/// A target's body: any bytes in, a panic if a promise broke.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/regressions/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("sip_message", sip_message),
    ("sip_engine", sip_engine),
    ("sdp", sdp),
    ("rtp", rtp),
    ("rfc4733", rfc4733),
    ("twiml", twiml),
    ("api_params", api_params),
    ("authorization", authorization),
];
