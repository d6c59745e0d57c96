#![no_main]
// The body is confab_fuzzing::twiml, shared with `cargo test`'s replay of fuzz/regressions/twiml.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::twiml(data));
