#![no_main]
// The body is confab_fuzzing::authorization, shared with `cargo test`'s replay of fuzz/regressions/authorization.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::authorization(data));
