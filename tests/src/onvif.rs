//! Hand-made ONVIF requests: envelopes and WS-Security UsernameTokens, for cases real clients
//! never produce.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};
use time::format_description::well_known::Rfc3339;

pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
pub const TRT: &str = "http://www.onvif.org/ver10/media/wsdl";
pub const TR2: &str = "http://www.onvif.org/ver20/media/wsdl";

/// A SOAP 1.2 envelope around `body`, with an optional header.
pub fn envelope(header: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:tt=\"http://www.onvif.org/ver10/schema\"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// `<Op xmlns="ns">inner</Op>`
pub fn op(ns: &str, name: &str, inner: &str) -> String {
    format!("<{name} xmlns=\"{ns}\">{inner}</{name}>")
}

/// A WS-Security header with a PasswordDigest token; `created_offset_s` moves Created.
pub fn wsse(user: &str, password: &str, nonce: &[u8], created_offset_s: i64) -> String {
    let created = (time::OffsetDateTime::now_utc() + time::Duration::seconds(created_offset_s))
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&Rfc3339)
        .unwrap_or_default();
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    let digest = BASE64.encode(h.finalize());
    wsse_raw(
        user,
        &digest,
        "PasswordDigest",
        Some(&BASE64.encode(nonce)),
        Some(&created),
    )
}

/// A WS-Security header exactly as given.
pub fn wsse_raw(
    user: &str,
    password: &str,
    kind: &str,
    nonce: Option<&str>,
    created: Option<&str>,
) -> String {
    let nonce = nonce.map(|n| format!("<wsse:Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary\">{n}</wsse:Nonce>")).unwrap_or_default();
    let created = created
        .map(|c| format!("<wsu:Created>{c}</wsu:Created>"))
        .unwrap_or_default();
    format!(
        "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\" \
         xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\"><wsse:UsernameToken>\
         <wsse:Username>{user}</wsse:Username><wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#{kind}\">{password}</wsse:Password>\
         {nonce}{created}</wsse:UsernameToken></wsse:Security>"
    )
}

/// The ONVIF subcodes of a fault response, outermost first (`ter:` prefix removed).
pub fn subcodes(response: &str) -> Vec<String> {
    response
        .split("<env:Subcode><env:Value>")
        .skip(1)
        .filter_map(|s| s.split("</env:Value>").next())
        .map(|v| v.trim_start_matches("ter:").to_string())
        .collect()
}

/// The fault code (`env:Sender`, ...) of a fault response.
pub fn fault_code(response: &str) -> Option<String> {
    let start = response.find("<env:Code><env:Value>")? + "<env:Code><env:Value>".len();
    let end = response[start..].find("</env:Value>")? + start;
    Some(response[start..end].to_string())
}
