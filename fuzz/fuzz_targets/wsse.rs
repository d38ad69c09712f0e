//! WS-Security UsernameToken in a SOAP header: read, then checked against a password, so the
//! digest, nonce and Created paths run too (the seeds are real clients' tokens that verify).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use onvif::security::{Verifier, username_token};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = onvif::soap::parse_request(data) else {
        return;
    };
    let Some(Ok(token)) = username_token(request.header.as_ref()) else {
        return;
    };
    // The captures are old: a wide clock window lets them reach the digest comparison.
    let verifier = Verifier::new(Duration::from_secs(100 * 365 * 86_400));
    let now = time::OffsetDateTime::now_utc();
    let password = |user: &str| (user == "admin").then(|| "admin pass 1".to_string());
    if verifier.verify(&token, now, password).is_ok() {
        // Again, through the nonce cache (a PasswordText token without a Nonce has no replay
        // protection to check, so nothing is asserted).
        let _ = verifier.verify(&token, now, password);
    }
});
