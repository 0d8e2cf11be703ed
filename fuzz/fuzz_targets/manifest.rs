//! The app manifest parser on arbitrary text: a manifest or an error that names the file
//! and a line and column inside the text, never a panic. A manifest that parses is also
//! turned into a host builder (without starting it).

#![no_main]

use airssys_wasm::manifest::{Manifest, ManifestError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Manifest::parse(text, "fuzz.toml") {
        Err(ManifestError::Invalid { file, line, column, message }) => {
            assert_eq!(file, "fuzz.toml");
            assert!(!message.is_empty());
            let lines = text.split('\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            assert!(column >= 1, "column {column}");
        }
        Err(other) => panic!("parsing text cannot fail to read a file: {other}"),
        Ok(manifest) => {
            // The builder opens an audit log file if one is named: not from fuzzed paths.
            if manifest.audit.file.is_none() {
                let base = std::path::Path::new("/nonexistent-airssys-fuzz");
                let _ = manifest.builder(base);
            }
        }
    }
});
