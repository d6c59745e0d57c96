#![no_main]
// The body is confab_fuzzing::rfc4733, shared with `cargo test`'s replay of fuzz/regressions/rfc4733.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::rfc4733(data));
