//! The boot file (`babymonitor.toml` on the SD card's boot partition, written by anyone with
//! the card): parsed and checked, its errors placed in the text, its secrets blanked for logs.
#![no_main]

use std::path::Path;

use babymonitor::fuzzing::{BootFile, without_secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // No zone exists here, so a timezone is always refused: the check runs, no file is opened.
    let zoneinfo = Path::new("/nonexistent/zoneinfo");
    match BootFile::parse(text, Path::new("babymonitor.toml"), zoneinfo) {
        Ok(file) => {
            let _ = file.has_secrets();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = without_secrets(text);
});
