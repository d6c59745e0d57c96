#![no_main]
// The body is confab_fuzzing::sip_engine, shared with `cargo test`'s replay of fuzz/regressions/sip_engine.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::sip_engine(data));
