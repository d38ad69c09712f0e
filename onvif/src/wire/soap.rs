//! SOAP 1.2 envelopes: reading requests, writing responses and faults.

use std::fmt::Write as _;

use crate::ns;
use crate::xml::{self, Element, Limits};

/// A parsed request: its header (if any) and the operation element inside Body.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: Option<Element>,
    pub operation: Element,
}

impl Request {
    /// Operation name, e.g. `GetProfiles`.
    pub fn name(&self) -> &str {
        &self.operation.name
    }
}

/// The SOAP fault code (who is to blame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    Sender,
    Receiver,
    VersionMismatch,
}

/// A SOAP fault with ONVIF subcodes (`ter:...`), and the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    /// ONVIF subcode chain without prefix, outermost first, e.g. `["InvalidArgVal", "NoProfile"]`.
    pub subcodes: Vec<&'static str>,
    pub reason: String,
}

impl Fault {
    pub fn new(code: FaultCode, subcodes: &[&'static str], reason: impl Into<String>) -> Self {
        Self {
            code,
            subcodes: subcodes.to_vec(),
            reason: reason.into(),
        }
    }

    pub fn not_authorized() -> Self {
        Self::new(
            FaultCode::Sender,
            &["NotAuthorized"],
            "Sender not authorized",
        )
    }

    pub fn action_not_supported(action: &str) -> Self {
        Self::new(
            FaultCode::Receiver,
            &["ActionNotSupported"],
            format!("{action} is not supported"),
        )
    }

    pub fn invalid_arg(sub: &'static str, reason: impl Into<String>) -> Self {
        Self::new(FaultCode::Sender, &["InvalidArgVal", sub], reason)
    }

    pub fn missing_arg(what: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            &["InvalidArgs"],
            format!("missing or invalid argument: {what}"),
        )
    }

    pub fn not_well_formed(reason: impl Into<String>) -> Self {
        Self::new(FaultCode::Sender, &["WellFormed"], reason)
    }

    pub fn http_status(&self) -> u16 {
        match self.code {
            FaultCode::Receiver => 500,
            FaultCode::Sender | FaultCode::VersionMismatch => 400,
        }
    }

    /// The complete fault envelope.
    pub fn to_envelope(&self) -> String {
        let code = match self.code {
            FaultCode::Sender => "env:Sender",
            FaultCode::Receiver => "env:Receiver",
            FaultCode::VersionMismatch => "env:VersionMismatch",
        };
        let mut body = format!("<env:Fault><env:Code><env:Value>{code}</env:Value>");
        for sub in &self.subcodes {
            let _ = write!(body, "<env:Subcode><env:Value>ter:{sub}</env:Value>");
        }
        for _ in &self.subcodes {
            body.push_str("</env:Subcode>");
        }
        let _ = write!(
            body,
            "</env:Code><env:Reason><env:Text xml:lang=\"en\">{}</env:Text></env:Reason></env:Fault>",
            xml::escape(&self.reason)
        );
        envelope(&body)
    }
}

/// Wraps a body in an envelope that declares every prefix responses use.
pub fn envelope(body: &str) -> String {
    envelope_with_header("", body)
}

/// The same, with SOAP header blocks (WS-Addressing for notifications); none if empty.
pub fn envelope_with_header(header: &str, body: &str) -> String {
    let mut out = String::with_capacity(header.len() + body.len() + 768);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<env:Envelope");
    for (prefix, uri) in ns::DECLARATIONS {
        let _ = write!(out, " xmlns:{prefix}=\"{uri}\"");
    }
    out.push('>');
    if !header.is_empty() {
        let _ = write!(out, "<env:Header>{header}</env:Header>");
    }
    out.push_str("<env:Body>");
    out.push_str(body);
    out.push_str("</env:Body></env:Envelope>");
    out
}

/// Parses a request envelope. SOAP 1.1 envelopes are answered with a VersionMismatch.
pub fn parse_request(bytes: &[u8]) -> Result<Request, Fault> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Fault::not_well_formed("the request is not UTF-8"))?;
    let root =
        xml::parse(text, Limits::default()).map_err(|e| Fault::not_well_formed(e.to_string()))?;
    if root.is(ns::SOAP11_ENV, "Envelope") {
        return Err(Fault::new(
            FaultCode::VersionMismatch,
            &[],
            "only SOAP 1.2 is supported",
        ));
    }
    if !root.is(ns::SOAP_ENV, "Envelope") {
        return Err(Fault::new(
            FaultCode::VersionMismatch,
            &[],
            "the root element is not a SOAP 1.2 Envelope",
        ));
    }
    let mut header = None;
    let mut body = None;
    for child in root.children {
        match (child.ns == ns::SOAP_ENV, child.name.as_str()) {
            (true, "Header") => header = Some(child),
            (true, "Body") => body = Some(child),
            _ => {}
        }
    }
    let body = body.ok_or_else(|| Fault::not_well_formed("the envelope has no Body"))?;
    let operation = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| Fault::not_well_formed("the Body holds no operation"))?;
    Ok(Request { header, operation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_prefix_and_finds_the_operation() {
        let req = parse_request(
            br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>
               <GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/></s:Body></s:Envelope>"#,
        )
        .expect("parses");
        assert!(req.operation.is(ns::TRT, "GetProfiles"));
        assert!(req.header.is_some());
    }

    #[test]
    fn faults_for_bad_envelopes() {
        let v11 = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>"#;
        assert_eq!(
            parse_request(v11).unwrap_err().code,
            FaultCode::VersionMismatch
        );
        let empty = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>"#;
        assert_eq!(
            parse_request(empty).unwrap_err().subcodes,
            vec!["WellFormed"]
        );
        assert_eq!(
            parse_request(b"\xff\xfe").unwrap_err().subcodes,
            vec!["WellFormed"]
        );
        assert_eq!(
            parse_request(b"<a/>").unwrap_err().code,
            FaultCode::VersionMismatch
        );
    }

    #[test]
    fn fault_envelope_nests_subcodes() {
        let xml = Fault::invalid_arg("NoProfile", "no such profile <x>").to_envelope();
        assert!(xml.contains(
            "<env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:InvalidArgVal</env:Value><env:Subcode><env:Value>ter:NoProfile</env:Value></env:Subcode></env:Subcode>"
        ));
        assert!(xml.contains("no such profile &lt;x&gt;"));
        let back = parse_request(xml.as_bytes()).expect("a fault is a well-formed envelope");
        assert_eq!(back.name(), "Fault");
    }
}

/// Requests exactly as real clients sent them (see testdata/README.md).
#[cfg(test)]
mod real_clients {
    use std::path::Path;
    use std::time::Duration;

    use super::parse_request;
    use crate::security::{Verifier, username_token};
    use crate::service::{Access, access};

    #[test]
    fn every_captured_request_parses_and_its_token_verifies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/requests");
        let mut seen = 0;
        for client in std::fs::read_dir(&dir).expect("fixtures") {
            let client = client.expect("entry").path();
            for file in std::fs::read_dir(&client).expect("client dir") {
                let path = file.expect("entry").path();
                let bytes = std::fs::read(&path).expect("read");
                let req =
                    parse_request(&bytes).unwrap_or_else(|f| panic!("{}: {f:?}", path.display()));
                let expected = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.split_once('-'))
                    .map(|(_, op)| op.to_string());
                assert_eq!(Some(req.name().to_string()), expected, "{}", path.display());
                if access(&req.operation) != Some(Access::PreAuth) {
                    // The clients' own digests must check out with the password they were given
                    // (the captures are old, so the clock window is opened wide).
                    let token = username_token(req.header.as_ref())
                        .unwrap_or_else(|| panic!("{}: no UsernameToken", path.display()))
                        .expect("token parses");
                    let verifier = Verifier::new(Duration::from_secs(100 * 365 * 86_400));
                    let now = time::OffsetDateTime::now_utc();
                    assert_eq!(
                        verifier.verify(&token, now, |u| (u == "admin")
                            .then(|| "admin pass 1".to_string())),
                        Ok("admin".to_string()),
                        "{}",
                        path.display()
                    );
                }
                seen += 1;
            }
        }
        assert!(seen >= 10, "only {seen} fixtures");
    }
}
