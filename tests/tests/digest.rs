//! HTTP Digest cannot be replayed: a sniffed `Authorization` header is good for the one request
//! it was made for, from the address it was made on; real clients still log in.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use babymonitor_e2e::onvif::{TDS, envelope, op};
use babymonitor_e2e::{ADMIN, Daemon, Setup, run};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends `request` over a new connection from the loopback address `from` and returns the reply.
async fn send_from(from: Ipv4Addr, port: u16, request: &str) -> String {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((from, 0))).expect("bind");
    let mut stream = socket
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut reply))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&reply).into_owned()
}

fn status(reply: &str) -> Option<u16> {
    reply.split(' ').nth(1)?.parse().ok()
}

/// The status and first `WWW-Authenticate` of an empty POST to the device service.
async fn empty_post(daemon: &Daemon) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/onvif/device_service", daemon.http_base()))
        .send()
        .await
        .expect("post");
    let challenge = r
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), challenge)
}

/// An admin's SOAP call with the answer to a challenge the camera gave 127.0.0.1, as it
/// crosses the network (and as someone listening would keep it).
async fn captured_soap_call(daemon: &Daemon) -> String {
    let path = "/onvif/device_service";
    // Like curl: an empty POST to be given the challenge.
    let (code, challenge) = empty_post(daemon).await;
    assert_eq!(code, 401);
    let mut prompt = digest_auth::parse(&challenge).expect("challenge parses");
    let mut ctx = digest_auth::AuthContext::new(ADMIN.0, ADMIN.1, path);
    ctx.method = digest_auth::HttpMethod::POST;
    let answer = prompt.respond(&ctx).expect("answer").to_header_string();
    let body = envelope("", &op(TDS, "GetUsers", ""));
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: {answer}\r\n\
         Content-Type: application/soap+xml; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        daemon.http_port,
        body.len()
    )
}

#[tokio::test]
async fn a_captured_digest_header_is_refused_when_replayed_or_sent_from_elsewhere() {
    // One failed login is enough to be made to wait: each refusal below must count as one.
    let daemon = Setup::new()
        .small()
        .set("http", "failed_logins_per_minute = 1")
        .start();
    let port = daemon.http_port;
    let elsewhere = Ipv4Addr::new(127, 0, 0, 2);

    let call = captured_soap_call(&daemon).await;
    let reply = send_from(elsewhere, port, &call).await;
    assert_eq!(status(&reply), Some(401), "from 127.0.0.2:\n{reply}");
    assert!(!reply.contains("stale=true"), "{reply}");

    let reply = send_from(Ipv4Addr::LOCALHOST, port, &call).await;
    assert_eq!(status(&reply), Some(200), "the owner's call:\n{reply}");
    assert!(reply.contains("GetUsersResponse"), "{reply}");

    let replayed = send_from(Ipv4Addr::LOCALHOST, port, &call).await;
    assert_eq!(status(&replayed), Some(401), "replayed:\n{replayed}");

    // Both were failed logins, so both addresses now wait.
    for from in [Ipv4Addr::LOCALHOST, elsewhere] {
        let reply = send_from(from, port, &call).await;
        assert_eq!(status(&reply), Some(429), "{from}: {reply}");
    }
}

#[tokio::test]
async fn curl_digest_logs_in_for_each_request_on_one_kept_alive_connection() {
    let daemon = Setup::new().small().start();
    let url = format!("{}/metrics", daemon.http_base());
    let user = format!("{}:{}", ADMIN.0, ADMIN.1);
    let (ok, out, err) = run(Command::new("curl").args([
        "-sS",
        "--digest",
        "-u",
        &user,
        "-w",
        "%{http_code} %{num_connects}\n",
        "-o",
        "/dev/null",
        &url,
        "-o",
        "/dev/null",
        &url,
        "-o",
        "/dev/null",
        &url,
    ]));
    assert!(ok, "{err}");
    // Three 200s, the later ones without a new connection.
    assert_eq!(out, "200 1\n200 0\n200 0\n", "{err}\n{}", daemon.log());
}
