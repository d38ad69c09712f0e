//! WS-Discovery (2005/04, as ONVIF uses it): reading Probe and Resolve, writing ProbeMatches,
//! ResolveMatches, Hello and Bye. Pure functions: the firmware owns the sockets.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::xml::{self, Element, Limits, escape};

pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
pub const WSD: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
pub const DN: &str = "http://www.onvif.org/ver10/network/wsdl";
pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
/// The multicast group and port.
pub const GROUP: [u8; 4] = [239, 255, 255, 250];
pub const PORT: u16 = 3702;

const RFC3986: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986";
const STRCMP0: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0";
const TO_DISCOVERY: &str = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";
const TO_ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// What we are, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `urn:uuid:...`
    pub address: String,
    pub scopes: Vec<String>,
    pub xaddrs: Vec<String>,
    pub metadata_version: u32,
}

/// Our types: an ONVIF network video transmitter and device.
const TYPES: [(&str, &str); 2] = [(DN, "NetworkVideoTransmitter"), (TDS, "Device")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Probe {
        message_id: String,
        /// (namespace URI, local name); a prefix that resolves to nothing gives an empty URI.
        types: Vec<(String, String)>,
        scopes: Vec<String>,
        match_by: Option<String>,
    },
    Resolve {
        message_id: String,
        address: String,
    },
    /// Anything else (Hello and Bye of other devices, matches to other probes).
    Other,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error("datagram is not UTF-8")]
    NotText,
    #[error(transparent)]
    Xml(#[from] xml::XmlError),
    #[error("not a SOAP 1.2 envelope with a body")]
    NotSoap,
}

/// Namespace declarations in scope along a path from the root, innermost winning.
fn scope_along(path: &[&Element]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for e in path {
        for (prefix, uri) in &e.declarations {
            map.insert(prefix.clone(), uri.clone());
        }
    }
    map
}

fn qname(text: &str, scope: &HashMap<String, String>) -> (String, String) {
    match text.split_once(':') {
        Some((prefix, local)) => (
            scope.get(prefix).cloned().unwrap_or_default(),
            local.to_string(),
        ),
        None => (scope.get("").cloned().unwrap_or_default(), text.to_string()),
    }
}

/// Reads a datagram.
pub fn parse(datagram: &[u8]) -> Result<Message, DiscoveryError> {
    let text = std::str::from_utf8(datagram).map_err(|_| DiscoveryError::NotText)?;
    let root = xml::parse(
        text,
        Limits {
            max_depth: 16,
            max_elements: 500,
        },
    )?;
    if !root.is(SOAP, "Envelope") {
        return Err(DiscoveryError::NotSoap);
    }
    let body = root
        .children
        .iter()
        .find(|c| c.is(SOAP, "Body"))
        .ok_or(DiscoveryError::NotSoap)?;
    let header = root.children.iter().find(|c| c.is(SOAP, "Header"));
    let message_id = header
        .and_then(|h| h.children.iter().find(|c| c.is(WSA, "MessageID")))
        .map(|m| m.text.clone())
        .unwrap_or_default();
    let Some(op) = body.children.first() else {
        return Ok(Message::Other);
    };
    if op.is(WSD, "Probe") {
        let mut types = Vec::new();
        if let Some(t) = op.children.iter().find(|c| c.is(WSD, "Types")) {
            let scope = scope_along(&[&root, body, op, t]);
            types = t
                .text
                .split_whitespace()
                .map(|q| qname(q, &scope))
                .collect();
        }
        let scopes_el = op.children.iter().find(|c| c.is(WSD, "Scopes"));
        let scopes = scopes_el
            .map(|s| s.text.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let match_by = scopes_el
            .and_then(|s| s.attr("MatchBy"))
            .map(str::to_string);
        return Ok(Message::Probe {
            message_id,
            types,
            scopes,
            match_by,
        });
    }
    if op.is(WSD, "Resolve") {
        let address = op
            .path(&["EndpointReference", "Address"])
            .map(|a| a.text.clone())
            .unwrap_or_default();
        return Ok(Message::Resolve {
            message_id,
            address,
        });
    }
    Ok(Message::Other)
}

/// RFC 3986 scope matching as WS-Discovery defines it: same scheme and authority (any case),
/// and the probe's path segments a prefix of ours.
fn scope_matches_rfc3986(ours: &str, wanted: &str) -> bool {
    let split = |s: &str| -> Option<(String, String, Vec<String>)> {
        let (scheme, rest) = s.split_once("://")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let segments = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .map(str::to_string)
            .collect();
        Some((
            scheme.to_ascii_lowercase(),
            authority.to_ascii_lowercase(),
            segments,
        ))
    };
    match (split(ours), split(wanted)) {
        (Some((s1, a1, p1)), Some((s2, a2, p2))) => {
            s1 == s2 && a1 == a2 && p2.len() <= p1.len() && p1[..p2.len()] == p2[..]
        }
        _ => ours == wanted,
    }
}

/// Whether a probe is for us.
pub fn matches(
    ep: &Endpoint,
    types: &[(String, String)],
    scopes: &[String],
    match_by: Option<&str>,
) -> bool {
    let types_ok = types
        .iter()
        .all(|(ns, local)| TYPES.iter().any(|(n, l)| n == ns && l == local));
    let rule = match_by.map(str::trim).unwrap_or(RFC3986);
    let scopes_ok = scopes.iter().all(|wanted| {
        ep.scopes.iter().any(|ours| match rule {
            RFC3986 => scope_matches_rfc3986(ours, wanted),
            STRCMP0 => ours == wanted,
            _ => false,
        })
    });
    types_ok && scopes_ok
}

fn header(
    out: &mut String,
    action: &str,
    message_id: &str,
    to: &str,
    relates_to: Option<&str>,
    instance_id: u32,
    message_number: u32,
) {
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope xmlns:s=\"{SOAP}\" xmlns:a=\"{WSA}\" xmlns:d=\"{WSD}\" \
         xmlns:dn=\"{DN}\" xmlns:tds=\"{TDS}\"><s:Header><a:Action>{WSD}/{action}</a:Action><a:MessageID>{}</a:MessageID>",
        escape(message_id)
    );
    if let Some(r) = relates_to {
        let _ = write!(out, "<a:RelatesTo>{}</a:RelatesTo>", escape(r));
    }
    let _ = write!(
        out,
        "<a:To>{to}</a:To><d:AppSequence InstanceId=\"{instance_id}\" MessageNumber=\"{message_number}\"/></s:Header><s:Body>"
    );
}

fn endpoint_body(out: &mut String, ep: &Endpoint, with_xaddrs: bool) {
    let _ = write!(
        out,
        "<a:EndpointReference><a:Address>{}</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>{}</d:Scopes>",
        escape(&ep.address),
        escape(&ep.scopes.join(" "))
    );
    if with_xaddrs {
        let _ = write!(out, "<d:XAddrs>{}</d:XAddrs>", escape(&ep.xaddrs.join(" ")));
    }
    let _ = write!(
        out,
        "<d:MetadataVersion>{}</d:MetadataVersion>",
        ep.metadata_version
    );
}

/// A reply to a probe or a resolve (`kind`: `Probe` or `Resolve`).
fn matches_reply(
    kind: &str,
    ep: &Endpoint,
    relates_to: &str,
    message_id: &str,
    instance_id: u32,
    message_number: u32,
) -> String {
    let mut out = String::with_capacity(1500);
    header(
        &mut out,
        &format!("{kind}Matches"),
        message_id,
        TO_ANONYMOUS,
        Some(relates_to),
        instance_id,
        message_number,
    );
    let _ = write!(out, "<d:{kind}Matches><d:{kind}Match>");
    endpoint_body(&mut out, ep, true);
    let _ = write!(
        out,
        "</d:{kind}Match></d:{kind}Matches></s:Body></s:Envelope>"
    );
    out
}

pub fn probe_matches(
    ep: &Endpoint,
    relates_to: &str,
    message_id: &str,
    instance_id: u32,
    message_number: u32,
) -> String {
    matches_reply(
        "Probe",
        ep,
        relates_to,
        message_id,
        instance_id,
        message_number,
    )
}

pub fn resolve_matches(
    ep: &Endpoint,
    relates_to: &str,
    message_id: &str,
    instance_id: u32,
    message_number: u32,
) -> String {
    matches_reply(
        "Resolve",
        ep,
        relates_to,
        message_id,
        instance_id,
        message_number,
    )
}

pub fn hello(ep: &Endpoint, message_id: &str, instance_id: u32, message_number: u32) -> String {
    let mut out = String::with_capacity(1500);
    header(
        &mut out,
        "Hello",
        message_id,
        TO_DISCOVERY,
        None,
        instance_id,
        message_number,
    );
    out.push_str("<d:Hello>");
    endpoint_body(&mut out, ep, true);
    out.push_str("</d:Hello></s:Body></s:Envelope>");
    out
}

pub fn bye(ep: &Endpoint, message_id: &str, instance_id: u32, message_number: u32) -> String {
    let mut out = String::with_capacity(1000);
    header(
        &mut out,
        "Bye",
        message_id,
        TO_DISCOVERY,
        None,
        instance_id,
        message_number,
    );
    let _ = write!(
        out,
        "<d:Bye><a:EndpointReference><a:Address>{}</a:Address></a:EndpointReference></d:Bye></s:Body></s:Envelope>",
        escape(&ep.address)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            address: "urn:uuid:6c0f4b0e-8a57-4c2f-9a3e-1d2b7e65b3a1".into(),
            scopes: vec![
                "onvif://www.onvif.org/Profile/Streaming".into(),
                "onvif://www.onvif.org/name/Baby%27s%20room".into(),
                "onvif://www.onvif.org/MacAddress/aa-bb-cc-dd-ee-ff".into(),
            ],
            xaddrs: vec!["http://10.0.0.2:8080/onvif/device_service".into()],
            metadata_version: 1,
        }
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/discovery/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    #[test]
    fn reads_probes_from_real_clients() {
        for (file, want_types) in [
            (
                "probe-onvif-device-manager.xml",
                vec![(DN.to_string(), "NetworkVideoTransmitter".to_string())],
            ),
            (
                "probe-python-wsdiscovery.xml",
                vec![(DN.to_string(), "NetworkVideoTransmitter".to_string())],
            ),
            (
                "probe-npm-onvif.xml",
                vec![(DN.to_string(), "NetworkVideoTransmitter".to_string())],
            ),
            ("probe-any.xml", vec![]),
        ] {
            let Message::Probe {
                message_id,
                types,
                scopes,
                match_by,
            } = parse(fixture(file).as_bytes()).expect(file)
            else {
                panic!("{file}: not a probe");
            };
            assert!(
                message_id.starts_with("uuid:") || message_id.starts_with("urn:uuid:"),
                "{file}: {message_id}"
            );
            assert_eq!(types, want_types, "{file}");
            assert!(
                matches(&endpoint(), &types, &scopes, match_by.as_deref()),
                "{file}"
            );
        }
    }

    #[test]
    fn type_and_scope_rules() {
        let ep = endpoint();
        let t = |ns: &str, l: &str| vec![(ns.to_string(), l.to_string())];
        assert!(matches(&ep, &t(TDS, "Device"), &[], None));
        assert!(!matches(
            &ep,
            &t("urn:other", "NetworkVideoTransmitter"),
            &[],
            None
        ));
        assert!(
            !matches(&ep, &t("", "NetworkVideoTransmitter"), &[], None),
            "an unbound prefix matches nothing"
        );
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(matches(
            &ep,
            &[],
            &s(&["onvif://www.onvif.org/Profile"]),
            None
        ));
        assert!(matches(
            &ep,
            &[],
            &s(&["ONVIF://WWW.ONVIF.ORG/name/Baby%27s%20room"]),
            None
        ));
        assert!(
            !matches(&ep, &[], &s(&["onvif://www.onvif.org/Prof"]), None),
            "segments, not characters"
        );
        assert!(!matches(
            &ep,
            &[],
            &s(&[
                "onvif://www.onvif.org/Profile/Streaming",
                "onvif://www.onvif.org/name/Other"
            ]),
            None
        ));
        assert!(matches(
            &ep,
            &[],
            &s(&["onvif://www.onvif.org/Profile/Streaming"]),
            Some(STRCMP0)
        ));
        assert!(!matches(
            &ep,
            &[],
            &s(&["onvif://www.onvif.org/Profile"]),
            Some(STRCMP0)
        ));
        assert!(!matches(
            &ep,
            &[],
            &s(&["onvif://www.onvif.org/Profile"]),
            Some("urn:unknown-rule")
        ));
    }

    #[test]
    fn answers_are_well_formed_and_name_the_probe() {
        let ep = endpoint();
        let reply = probe_matches(&ep, "uuid:probe-1", "urn:uuid:reply-1", 7, 3);
        let root = xml::parse(&reply, Limits::default()).expect("well-formed");
        let header = root.child("Header").expect("header");
        assert_eq!(header.text_of("RelatesTo"), Some("uuid:probe-1"));
        assert_eq!(
            header.text_of("Action"),
            Some("http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches")
        );
        let m = root
            .path(&["Body", "ProbeMatches", "ProbeMatch"])
            .expect("match");
        assert_eq!(
            m.text_of("XAddrs"),
            Some("http://10.0.0.2:8080/onvif/device_service")
        );
        assert!(
            m.text_of("Scopes")
                .is_some_and(|s| s.contains("Baby%27s%20room"))
        );
        for msg in [
            hello(&ep, "urn:uuid:h", 7, 1),
            bye(&ep, "urn:uuid:b", 7, 2),
            resolve_matches(&ep, "uuid:r", "urn:uuid:x", 7, 4),
        ] {
            xml::parse(&msg, Limits::default()).expect("well-formed");
            assert!(msg.contains(&ep.address));
        }
        let resolve = format!(
            "<s:Envelope xmlns:s=\"{SOAP}\" xmlns:a=\"{WSA}\" xmlns:d=\"{WSD}\"><s:Header><a:MessageID>uuid:r</a:MessageID></s:Header>\
             <s:Body><d:Resolve><a:EndpointReference><a:Address>{}</a:Address></a:EndpointReference></d:Resolve></s:Body></s:Envelope>",
            ep.address
        );
        assert_eq!(
            parse(resolve.as_bytes()),
            Ok(Message::Resolve {
                message_id: "uuid:r".into(),
                address: ep.address
            })
        );
    }

    #[test]
    fn hostile_datagrams_are_errors() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        let many = format!(
            "<s:Envelope xmlns:s=\"{SOAP}\"><s:Body>{}</s:Body></s:Envelope>",
            "<x/>".repeat(1000)
        );
        for bad in [
            &b""[..],
            b"\xff\xfe\x00",
            b"not xml",
            deep.as_bytes(),
            many.as_bytes(),
            b"<a/>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let other =
            format!("<s:Envelope xmlns:s=\"{SOAP}\"><s:Body><Hello/></s:Body></s:Envelope>");
        assert_eq!(parse(other.as_bytes()), Ok(Message::Other));
    }

    /// Anyone on the network can send these, unauthenticated: cut and garbled probes from real
    /// clients are errors or messages, never a panic.
    #[test]
    fn cut_and_garbled_probes_never_panic() {
        use rand::{Rng, SeedableRng};
        const JUNK: &[u8] = b"<>:&;\"'/=x\xff";
        let mut rng = rand::rngs::StdRng::seed_from_u64(3702);
        let ep = endpoint();
        let check = |bytes: &[u8]| {
            if let Ok(Message::Probe {
                types,
                scopes,
                match_by,
                ..
            }) = parse(bytes)
            {
                let _ = matches(&ep, &types, &scopes, match_by.as_deref());
            }
        };
        for file in [
            "probe-onvif-device-manager.xml",
            "probe-python-wsdiscovery.xml",
            "probe-npm-onvif.xml",
            "probe-any.xml",
        ] {
            let good = fixture(file).into_bytes();
            for cut in 0..good.len() {
                check(&good[..cut]);
                check(&good[cut..]);
            }
            for _ in 0..500 {
                let mut bad = good.clone();
                for _ in 0..rng.random_range(1..8) {
                    let at = rng.random_range(0..bad.len());
                    match rng.random_range(0..3) {
                        0 => bad[at] = rng.random(),
                        1 => bad.insert(at, JUNK[rng.random_range(0..JUNK.len())]),
                        _ => {
                            bad.remove(at);
                        }
                    }
                }
                check(&bad);
            }
        }
    }
}
