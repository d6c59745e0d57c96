#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every input kept under `fuzz/regressions/<target>/` through the
//! target's function: the corpus the fuzzer found interesting, and every
//! crash that was fixed, stay fixed without running the fuzzer.

use std::path::Path;

#[test]
fn every_kept_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut failed = Vec::new();
    for (name, target) in confab_fuzzing::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} holds no inputs", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "inputs that fail their target: {failed:#?}"
    );
}

#[test]
fn every_target_has_a_fuzz_binary_and_the_fuzzer_knows_them_all() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    let bins = manifest.matches("[[bin]]").count();
    assert_eq!(bins, confab_fuzzing::TARGETS.len(), "fuzz/Cargo.toml");
    for (name, _) in confab_fuzzing::TARGETS {
        let source = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source).unwrap();
        assert!(
            text.contains(&format!("confab_fuzzing::{name}(")),
            "{} does not call confab_fuzzing::{name}",
            source.display()
        );
    }
}
