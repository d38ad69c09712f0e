//! HTTP Digest `Authorization` headers, through the firmware's authenticator. `NONCE` in the
//! input becomes a nonce this server issued, so the checks after the nonce's run too.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use babymonitor::fuzzing::{Authenticator, Role, User};
use hyper::Request;
use hyper::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use libfuzzer_sys::fuzz_target;

/// Every input comes from the address the nonce was issued to, so the MAC checks out.
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);

struct Server {
    auth: Authenticator,
    nonce: String,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let user = User {
            name: "admin".into(),
            password: "admin pass 1".into(),
            role: Role::Admin,
        };
        // No throttling: every input must reach the parser.
        let sessions = std::sync::Arc::new(babymonitor::serve::webrtc::Sessions::new());
        let auth = Authenticator::new(vec![user], u32::MAX, sessions);
        let challenge = auth.challenge(PEER.ip(), false);
        let header = challenge.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap_or_default();
        let nonce = header
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_string();
        assert!(!nonce.is_empty(), "no nonce in {header}");
        Server { auth, nonce }
    })
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    // First line: method and request target; the rest: the header value.
    let text = String::from_utf8_lossy(data).replace("NONCE", &server.nonce);
    let (line, header) = text.split_once('\n').unwrap_or(("GET /", &text));
    let (method, uri) = line.split_once(' ').unwrap_or(("GET", line));
    let Ok(mut request) = Request::builder().method(method).uri(uri).body(()) else {
        return;
    };
    let Ok(value) = HeaderValue::from_bytes(header.as_bytes()) else {
        return;
    };
    request.headers_mut().insert(AUTHORIZATION, value);
    let _ = server.auth.check(&request, PEER);
});
