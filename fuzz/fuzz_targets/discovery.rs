//! WS-Discovery datagrams (unauthenticated, multicast): read, matched against our endpoint, and
//! answered; an answer must itself parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onvif::discovery::{self, Endpoint, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(message) = discovery::parse(data) else {
        return;
    };
    let ep = Endpoint {
        address: "urn:uuid:00000000-0000-0000-0000-000000000001".into(),
        scopes: vec![
            "onvif://www.onvif.org/type/video_encoder".into(),
            "onvif://www.onvif.org/name/Baby%20Monitor".into(),
            "onvif://www.onvif.org/location/nursery".into(),
        ],
        xaddrs: vec!["http://127.0.0.1:8080/onvif/device_service".into()],
        metadata_version: 1,
    };
    match message {
        Message::Probe {
            message_id,
            types,
            scopes,
            match_by,
        } => {
            if discovery::matches(&ep, &types, &scopes, match_by.as_deref()) {
                let answer = discovery::probe_matches(&ep, &message_id, "urn:uuid:x", 1, 1);
                assert!(discovery::parse(answer.as_bytes()).is_ok(), "{answer}");
            }
        }
        Message::Resolve {
            message_id,
            address,
        } => {
            if address == ep.address {
                let answer = discovery::resolve_matches(&ep, &message_id, "urn:uuid:x", 1, 1);
                assert!(discovery::parse(answer.as_bytes()).is_ok(), "{answer}");
            }
        }
        Message::Other => {}
    }
});
