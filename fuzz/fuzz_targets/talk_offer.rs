//! Talk-back offers (POST /talk): the browser's microphone as Opus.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The daemon initialises GStreamer before it serves anything.
fuzz_target!(init: gst::init().expect("gstreamer"), |data: &[u8]| {
    let _ = babymonitor::fuzzing::talk_offer(data);
});
