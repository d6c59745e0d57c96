#![no_main]
// The body is confab_fuzzing::sdp, shared with `cargo test`'s replay of fuzz/regressions/sdp.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::sdp(data));
