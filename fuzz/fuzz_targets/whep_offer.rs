//! WHEP offers (POST /whep, any viewer): SDP read by GStreamer, then the firmware's own checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The daemon initialises GStreamer before it serves anything.
fuzz_target!(init: gst::init().expect("gstreamer"), |data: &[u8]| {
    if let Ok(offer) = babymonitor::fuzzing::whep_offer(data) {
        // The payloader's caps are built from it: it must be what an encoder can say.
        let plid = &offer.video.profile_level_id;
        assert!(
            plid.len() == 6 && plid.bytes().all(|b| b.is_ascii_hexdigit()),
            "{plid:?}"
        );
    }
});
