//! Malformed and hostile ONVIF requests: each gets the right HTTP status and SOAP fault, and the
//! camera keeps serving.

use babymonitor_e2e::http::post_soap;
use babymonitor_e2e::onvif::{TDS, TR2, TRT, envelope, fault_code, op, subcodes, wsse, wsse_raw};
use babymonitor_e2e::{ADMIN, Setup, VIEWER};

/// What a case must get back.
#[derive(Debug)]
enum Expect {
    /// HTTP status, SOAP fault code and the subcodes in order (empty: any).
    Fault(u16, &'static str, &'static [&'static str]),
    /// A plain HTTP status (no SOAP).
    Status(u16),
}

struct Case {
    name: &'static str,
    path: &'static str,
    body: String,
    creds: Option<(&'static str, &'static str)>,
    expect: Expect,
}

fn case(
    name: &'static str,
    path: &'static str,
    body: String,
    creds: Option<(&'static str, &'static str)>,
    expect: Expect,
) -> Case {
    Case {
        name,
        path,
        body,
        creds,
        expect,
    }
}

const DEVICE: &str = "/onvif/device_service";
const MEDIA: &str = "/onvif/media_service";
const MEDIA2: &str = "/onvif/media2_service";
const PTZ: &str = "/onvif/ptz_service";
const TPTZ: &str = "http://www.onvif.org/ver20/ptz/wsdl";

fn pan_tilt(element: &str, x: &str, y: &str, extra: &str) -> String {
    format!(
        "<ProfileToken>main</ProfileToken><{element}><tt:PanTilt x=\"{x}\" y=\"{y}\"{extra}/></{element}>"
    )
}

fn encoder(token: &str, width: &str, height: &str, bitrate: &str, encoding: &str) -> String {
    op(
        TRT,
        "SetVideoEncoderConfiguration",
        &format!(
            "<Configuration token=\"{token}\"><tt:Name>x</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>{encoding}</tt:Encoding>\
             <tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>\
             <tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{bitrate}</tt:BitrateLimit></tt:RateControl>\
             </Configuration><ForcePersistence>true</ForcePersistence>"
        ),
    )
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let sender = "env:Sender";
    let receiver = "env:Receiver";
    let e = |body: &str| envelope("", body);
    let authed = Some(ADMIN);
    let profiles = op(TRT, "GetProfiles", "");
    let nonce = rand::random::<[u8; 16]>();
    vec![
        case("not XML", DEVICE, "hello camera".into(), None, Fault(400, sender, &["WellFormed"])),
        // Digest clients send an empty request first to get a challenge.
        case("empty body", DEVICE, String::new(), None, Status(401)),
        case("empty body with credentials", DEVICE, String::new(), authed, Fault(400, sender, &["WellFormed"])),
        case("binary", DEVICE, String::from_utf8_lossy(&[0u8, 159, 146, 150, 1, 2]).into_owned(), None, Fault(400, sender, &["WellFormed"])),
        case("truncated", DEVICE, e(&op(TDS, "GetDeviceInformation", ""))[..60].to_string(), None, Fault(400, sender, &["WellFormed"])),
        case("unbalanced", DEVICE, "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body></s:Envelope>".into(), None, Fault(400, sender, &["WellFormed"])),
        case("SOAP 1.1", DEVICE, "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><GetSystemDateAndTime xmlns=\"http://www.onvif.org/ver10/device/wsdl\"/></s:Body></s:Envelope>".into(), None, Fault(400, "env:VersionMismatch", &[])),
        case("wrong envelope namespace", DEVICE, "<s:Envelope xmlns:s=\"urn:nope\"><s:Body/></s:Envelope>".into(), None, Fault(400, "env:VersionMismatch", &[])),
        case("no namespace at all", DEVICE, "<Envelope><Body><GetUsers/></Body></Envelope>".into(), None, Fault(400, "env:VersionMismatch", &[])),
        case("no Body", DEVICE, "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header/></s:Envelope>".into(), None, Fault(400, sender, &["WellFormed"])),
        case("empty Body", DEVICE, e(""), None, Fault(400, sender, &["WellFormed"])),
        case("entity expansion", DEVICE, format!("<!DOCTYPE lol [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>{}", e(&op(TDS, "GetHostname", "&lol2;"))), None, Fault(400, sender, &["WellFormed"])),
        case("undefined entity", DEVICE, e(&op(TDS, "GetHostname", "&nope;")), None, Fault(400, sender, &["WellFormed"])),
        case("deep nesting", DEVICE, e(&format!("{}{}", "<a>".repeat(2000), "</a>".repeat(2000))), None, Fault(400, sender, &["WellFormed"])),
        case("too many elements", DEVICE, e(&op(TDS, "GetHostname", &"<x/>".repeat(10_000))), None, Fault(400, sender, &["WellFormed"])),
        case("huge body", DEVICE, e(&op(TDS, "GetHostname", &"a".repeat(2 * 1024 * 1024))), None, Fault(413, sender, &["WellFormed"])),
        case("unknown operation", DEVICE, e(&op(TDS, "MakeCoffee", "")), authed, Fault(500, receiver, &["ActionNotSupported"])),
        case("unknown namespace", DEVICE, e(&op("urn:example:coffee", "Brew", "")), None, Fault(500, receiver, &["ActionNotSupported"])),
        case("unknown service", "/onvif/coffee_service", e(&op(TDS, "GetHostname", "")), None, Status(404)),
        case("protected call without credentials", MEDIA, e(&profiles), None, Status(401)),
        case("wrong digest password", MEDIA, e(&profiles), Some((ADMIN.0, "wrong")), Status(401)),
        case("WS-Security wrong password", MEDIA, envelope(&wsse(ADMIN.0, "wrong", &rand::random::<[u8; 16]>(), 0), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security unknown user", MEDIA, envelope(&wsse("mallory", ADMIN.1, &rand::random::<[u8; 16]>(), 0), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security nonce first use", MEDIA, envelope(&wsse(ADMIN.0, ADMIN.1, &nonce, 0), &profiles), None, Status(200)),
        case("WS-Security replayed nonce", MEDIA, envelope(&wsse(ADMIN.0, ADMIN.1, &nonce, 0), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security Created 10 minutes old", MEDIA, envelope(&wsse(ADMIN.0, ADMIN.1, &rand::random::<[u8; 16]>(), -600), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security Created 10 minutes ahead", MEDIA, envelope(&wsse(ADMIN.0, ADMIN.1, &rand::random::<[u8; 16]>(), 600), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security digest without nonce", MEDIA, envelope(&wsse_raw(ADMIN.0, "AAAA", "PasswordDigest", None, Some("2026-01-01T00:00:00Z")), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security nonce not base64", MEDIA, envelope(&wsse_raw(ADMIN.0, "AAAA", "PasswordDigest", Some("!!!"), Some("2026-01-01T00:00:00Z")), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security Created not a date", MEDIA, envelope(&wsse_raw(ADMIN.0, "AAAA", "PasswordDigest", Some("QUFB"), Some("yesterday")), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security unknown password type", MEDIA, envelope(&wsse_raw(ADMIN.0, ADMIN.1, "PasswordRot13", None, None), &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("WS-Security token without username", MEDIA, envelope("<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken><wsse:Password>x</wsse:Password></wsse:UsernameToken></wsse:Security>", &profiles), None, Fault(400, sender, &["NotAuthorized"])),
        case("watch-only user changes the encoder", MEDIA, e(&encoder("venc_main", "640", "360", "1000", "H264")), Some(VIEWER), Fault(400, sender, &["NotAuthorized"])),
        case("watch-only user lists users", DEVICE, e(&op(TDS, "GetUsers", "")), Some(VIEWER), Fault(400, sender, &["NotAuthorized"])),
        case("watch-only user reboots", DEVICE, e(&op(TDS, "SystemReboot", "")), Some(VIEWER), Fault(400, sender, &["NotAuthorized"])),
        case("unknown profile", MEDIA, e(&op(TRT, "GetProfile", "<ProfileToken>nope</ProfileToken>")), authed, Fault(400, sender, &["InvalidArgVal", "NoProfile"])),
        case("profile token missing", MEDIA, e(&op(TRT, "GetProfile", "")), authed, Fault(400, sender, &["InvalidArgs"])),
        case("stream URI of an unknown profile", MEDIA, e(&op(TRT, "GetStreamUri", "<StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></StreamSetup><ProfileToken>x</ProfileToken>")), authed, Fault(400, sender, &["InvalidArgVal", "NoProfile"])),
        case("multicast stream URI", MEDIA, e(&op(TRT, "GetStreamUri", "<StreamSetup><tt:Stream>RTP-Multicast</tt:Stream><tt:Transport><tt:Protocol>UDP</tt:Protocol></tt:Transport></StreamSetup><ProfileToken>main</ProfileToken>")), authed, Fault(400, sender, &["InvalidArgVal", "InvalidStreamSetup"])),
        case("unknown transport", MEDIA, e(&op(TRT, "GetStreamUri", "<StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>Pigeon</tt:Protocol></tt:Transport></StreamSetup><ProfileToken>main</ProfileToken>")), authed, Fault(400, sender, &["InvalidArgVal", "InvalidStreamSetup"])),
        case("Media2 unknown protocol", MEDIA2, e(&op(TR2, "GetStreamUri", "<Protocol>Carrier</Protocol><ProfileToken>main</ProfileToken>")), authed, Fault(400, sender, &["InvalidArgVal", "InvalidStreamSetup"])),
        case("width is not a number", MEDIA, e(&encoder("venc_main", "wide", "360", "1000", "H264")), authed, Fault(400, sender, &["InvalidArgVal", "ConfigModify"])),
        case("negative bitrate", MEDIA, e(&encoder("venc_main", "640", "360", "-5", "H264")), authed, Fault(400, sender, &["InvalidArgVal", "ConfigModify"])),
        case("bitrate too high", MEDIA, e(&encoder("venc_main", "640", "360", "900000", "H264")), authed, Fault(400, sender, &["InvalidArgVal", "ConfigModify"])),
        case("resolution not offered", MEDIA, e(&encoder("venc_main", "1281", "721", "1000", "H264")), authed, Fault(400, sender, &["InvalidArgVal", "ConfigModify"])),
        case("JPEG encoding", MEDIA, e(&encoder("venc_main", "640", "360", "1000", "JPEG")), authed, Fault(400, sender, &["InvalidArgVal", "ConfigModify"])),
        case("unknown encoder configuration", MEDIA, e(&encoder("venc_nope", "640", "360", "1000", "H264")), authed, Fault(400, sender, &["InvalidArgVal", "NoConfig"])),
        case("get unknown encoder configuration", MEDIA, e(&op(TRT, "GetVideoEncoderConfiguration", "<ConfigurationToken>zzz</ConfigurationToken>")), authed, Fault(400, sender, &["InvalidArgVal", "NoConfig"])),
        case("bogus discovery mode", DEVICE, e(&op(TDS, "SetDiscoveryMode", "<DiscoveryMode>Loud</DiscoveryMode>")), authed, Fault(400, sender, &["InvalidArgs"])),
        case("new user without password", DEVICE, e(&op(TDS, "CreateUsers", "<User><tt:Username>bob</tt:Username><tt:UserLevel>User</tt:UserLevel></User>")), authed, Fault(400, sender, &["InvalidArgVal", "PasswordTooWeak"])),
        case("new user with a bad level", DEVICE, e(&op(TDS, "CreateUsers", "<User><tt:Username>bob</tt:Username><tt:Password>secret-1</tt:Password><tt:UserLevel>God</tt:UserLevel></User>")), authed, Fault(400, sender, &["InvalidArgVal", "AnonymousNotAllowed"])),
        case("new user name with a colon", DEVICE, e(&op(TDS, "CreateUsers", "<User><tt:Username>a:b</tt:Username><tt:Password>secret-1</tt:Password><tt:UserLevel>User</tt:UserLevel></User>")), authed, Fault(400, sender, &["InvalidArgVal", "UsernameClash"])),
        case("create an existing user", DEVICE, e(&op(TDS, "CreateUsers", "<User><tt:Username>admin</tt:Username><tt:Password>secret-1</tt:Password><tt:UserLevel>User</tt:UserLevel></User>")), authed, Fault(400, sender, &["InvalidArgVal", "UsernameClash"])),
        case("delete an unknown user", DEVICE, e(&op(TDS, "DeleteUsers", "<Username>ghost</Username>")), authed, Fault(400, sender, &["InvalidArgVal", "UsernameMissing"])),
        case("delete the last administrator", DEVICE, e(&op(TDS, "DeleteUsers", "<Username>admin</Username>")), authed, Fault(400, sender, &["InvalidArgVal", "UsernameMissing"])),
        case("set the clock by hand without a time", DEVICE, e(&op(TDS, "SetSystemDateAndTime", "<DateTimeType>Manual</DateTimeType><DaylightSavings>false</DaylightSavings>")), authed, Fault(400, sender, &["InvalidArgVal", "InvalidDateTime"])),
        case("capabilities of a missing service", DEVICE, e(&op(TDS, "GetCapabilities", "<Category>Analytics</Category>")), None, Fault(500, receiver, &["ActionNotSupported", "NoSuchService"])),
        case("Media2 profile creation", MEDIA2, e(&op(TR2, "CreateProfile", "<Name>x</Name>")), authed, Fault(500, receiver, &["Action", "MaxNVTProfiles"])),
        case("Media2 unknown profile", MEDIA2, e(&op(TR2, "GetProfiles", "<Token>nope</Token>")), authed, Fault(400, sender, &["InvalidArgVal", "NoProfile"])),
        case("PTZ position NaN", PTZ, e(&op(TPTZ, "AbsoluteMove", &pan_tilt("Position", "NaN", "0", ""))), authed, Fault(400, sender, &["InvalidArgVal", "InvalidPosition"])),
        case("PTZ position infinite", PTZ, e(&op(TPTZ, "AbsoluteMove", &pan_tilt("Position", "inf", "0", ""))), authed, Fault(400, sender, &["InvalidArgVal", "InvalidPosition"])),
        case("PTZ position not a number", PTZ, e(&op(TPTZ, "AbsoluteMove", &pan_tilt("Position", "left", "0", ""))), authed, Fault(400, sender, &["InvalidArgVal", "InvalidPosition"])),
        case("PTZ velocity out of range", PTZ, e(&op(TPTZ, "ContinuousMove", &pan_tilt("Velocity", "7", "0", ""))), authed, Fault(400, sender, &["InvalidArgVal", "InvalidPosition"])),
        case("PTZ speed out of range", PTZ, e(&op(TPTZ, "AbsoluteMove", &format!("{}<Speed><tt:PanTilt x=\"9\" y=\"9\"/></Speed>", pan_tilt("Position", "0", "0", "")))), authed, Fault(400, sender, &["InvalidArgVal", "InvalidPosition"])),
        case("PTZ unknown space", PTZ, e(&op(TPTZ, "RelativeMove", &pan_tilt("Translation", "0.1", "0", " space=\"urn:degrees\""))), authed, Fault(400, sender, &["InvalidArgVal", "SpaceNotSupported"])),
        case("PTZ bad timeout", PTZ, e(&op(TPTZ, "ContinuousMove", &format!("{}<Timeout>soon</Timeout>", pan_tilt("Velocity", "0.1", "0", "")))), authed, Fault(400, sender, &["InvalidArgVal", "TimeoutNotSupported"])),
        case("PTZ unknown profile", PTZ, e(&op(TPTZ, "GetStatus", "<ProfileToken>nope</ProfileToken>")), authed, Fault(400, sender, &["InvalidArgVal", "NoProfile"])),
        case("PTZ unknown preset", PTZ, e(&op(TPTZ, "GotoPreset", "<ProfileToken>main</ProfileToken><PresetToken>nope</PresetToken>")), authed, Fault(400, sender, &["InvalidArgVal", "NoToken"])),
        case("PTZ unknown node", PTZ, e(&op(TPTZ, "GetNode", "<NodeToken>nope</NodeToken>")), authed, Fault(400, sender, &["InvalidArgVal", "NoEntity"])),
        case("PTZ move by a watch-only user", PTZ, e(&op(TPTZ, "AbsoluteMove", &pan_tilt("Position", "0", "0", ""))), Some(VIEWER), Fault(400, sender, &["NotAuthorized"])),
        case("PTZ move during a move", PTZ, e(&op(TPTZ, "AbsoluteMove", &pan_tilt("Position", "-0.5", "0", ""))), authed, Status(200)),
        case("PTZ second move replaces the first", PTZ, e(&op(TPTZ, "AbsoluteMove", &pan_tilt("Position", "0.5", "0", ""))), authed, Status(200)),
    ]
}

#[tokio::test]
async fn every_malformed_request_gets_the_right_fault_and_the_camera_keeps_serving() {
    // Many of the cases are failed logins: let them all be answered rather than throttled
    // (throttling has its own test).
    let daemon = Setup::new()
        .small()
        .set("http", "failed_logins_per_minute = 1000")
        .start();
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let base = daemon.https_base();
    let mut failures = Vec::new();
    for c in &cases {
        let (status, body) = post_soap(&format!("{base}{}", c.path), &c.body, c.creds)
            .await
            .expect("a reply");
        let ok = match &c.expect {
            Expect::Status(s) => status == *s,
            Expect::Fault(s, code, subs) => {
                status == *s
                    && fault_code(&body).as_deref() == Some(*code)
                    && (subs.is_empty()
                        || subcodes(&body)
                            == subs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            }
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {status}: {}",
                c.name,
                c.expect,
                &body[..body.len().min(400)]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Still serving, and nothing was changed by the refused requests.
    let (status, body) = post_soap(
        &format!("{base}{MEDIA}"),
        &envelope("", &op(TRT, "GetProfiles", "")),
        Some(ADMIN),
    )
    .await
    .expect("reply");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<tt:Width>320</tt:Width>"), "{body}");
    let (_, users) = post_soap(
        &format!("{base}{DEVICE}"),
        &envelope("", &op(TDS, "GetUsers", "")),
        Some(ADMIN),
    )
    .await
    .expect("reply");
    assert!(
        users.contains(">admin<") && users.contains(">viewer<") && !users.contains(">bob<"),
        "{users}"
    );
    assert!(
        daemon
            .log()
            .lines()
            .all(|l| !l.contains(ADMIN.1) && !l.contains(VIEWER.1)),
        "a password reached the log"
    );
}
