//! The start of every connection to the HTTP port, read to tell an RTSP-over-HTTP tunnel half
//! from an HTTP request, fed in the pieces a slow client might send.
#![no_main]

use babymonitor::fuzzing::classify_tunnel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte sets the size of the reads, as the socket loop sees them.
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut head = Vec::new();
    for chunk in data.chunks(step) {
        head.extend_from_slice(chunk);
        if classify_tunnel(&head).is_some() {
            return;
        }
    }
});
