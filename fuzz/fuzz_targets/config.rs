//! The configuration file: parsed and checked, its errors placed in the text.
#![no_main]

use std::path::Path;

use babymonitor::fuzzing::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("babymonitor.toml")) {
        Ok(config) => assert!(config.validate().is_ok()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
