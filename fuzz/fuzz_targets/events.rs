//! Events and subscription-manager requests: read as typed requests, their times resolved and
//! their topic filters applied, as the firmware does with them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvif::events::{self, EventsRequest};

const TOPICS: [&str; 3] = [
    "RuleEngine/CellMotionDetector/Motion",
    "AudioAnalytics/Audio/DetectedSound",
    "Device/HardwareFailure/StorageFailure",
];

fuzz_target!(|data: &[u8]| {
    let Ok(request) = onvif::soap::parse_request(data) else {
        return;
    };
    if !events::is_events_operation(&request.operation) {
        return;
    }
    let Ok(parsed) = events::parse(&request) else {
        return;
    };
    let _ = parsed.needs_subscription();
    let now = time::OffsetDateTime::now_utc();
    match parsed {
        EventsRequest::CreatePullPointSubscription { expiry, filter }
        | EventsRequest::Subscribe { expiry, filter, .. } => {
            let _ = expiry.map(|e| e.resolve(now));
            for topic in TOPICS {
                let _ = filter.matches(topic);
            }
        }
        EventsRequest::Renew { expiry } => {
            let _ = expiry.map(|e| e.resolve(now));
        }
        EventsRequest::PullMessages { timeout, .. } => {
            let _ = onvif::duration::format(timeout);
        }
        _ => {}
    }
});
