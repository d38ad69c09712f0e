//! An event clip on the SD card, read back after a crash or a power cut (or written by anyone
//! with the card): its fragments counted, never its pictures read.
#![no_main]

use babymonitor::fuzzing::fmp4_inspect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fmp4_inspect(&mut std::io::Cursor::new(data), data.len() as u64);
});
