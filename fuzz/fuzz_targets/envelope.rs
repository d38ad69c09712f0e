//! Whatever arrives on the network goes through these before anything else: none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = onvif::soap::parse_request(data) else {
        return;
    };
    let _ = onvif::security::username_token(request.header.as_ref());
    let _ = onvif::service::access(&request.operation);
    // Faults built from whatever the parser said must still be well-formed envelopes.
    let fault = onvif::soap::Fault::not_well_formed(String::from_utf8_lossy(data).into_owned());
    assert!(onvif::soap::parse_request(fault.to_envelope().as_bytes()).is_ok());
});
