#![no_main]
// The body is confab_fuzzing::api_params, shared with `cargo test`'s replay of fuzz/regressions/api_params.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzzing::api_params(data));
