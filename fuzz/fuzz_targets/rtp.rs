#![no_main]
// The body is confab_fuzzing::rtp, shared with `cargo test`'s replay of fuzz/regressions/rtp.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::rtp(data));
