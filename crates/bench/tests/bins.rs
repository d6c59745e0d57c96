//! Every bench binary starts and describes itself. Besides checking that
//! their command lines are well formed, this makes `cargo test` build the
//! binaries themselves, which `scripts/test` then hands to the reliability
//! scripts (`CONFAB_SKIP_BUILD=1`) instead of building them a second time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn every_bench_binary_prints_its_usage() {
    for (name, path) in [
        ("bench-faults", env!("CARGO_BIN_EXE_bench-faults")),
        ("bench-hello", env!("CARGO_BIN_EXE_bench-hello")),
        ("bench-load", env!("CARGO_BIN_EXE_bench-load")),
        ("bench-media", env!("CARGO_BIN_EXE_bench-media")),
        ("bench-seed", env!("CARGO_BIN_EXE_bench-seed")),
    ] {
        let out = Command::new(path).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --help failed: {out:?}");
        assert!(text.contains("Usage:"), "{name} --help printed {text:?}");
    }
}
