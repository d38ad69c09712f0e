//! Connection floods and slow clients on the HTTP port, without a login: afterwards (and while
//! they last, for other addresses) the camera still answers, and its descriptors come back.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use babymonitor_e2e::http::post_soap;
use babymonitor_e2e::onvif::{TRT, envelope, op};
use babymonitor_e2e::rtsp::RawRtsp;
use babymonitor_e2e::{ADMIN, Daemon, Setup};

/// A connection from `source` (any 127.x address is this machine) to the daemon's HTTP port.
fn connect_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into(),
        Duration::from_secs(2),
    )?;
    Ok(socket.into())
}

/// GET /healthz on a fresh connection, answered within two seconds.
fn healthy(port: u16) -> Result<(), String> {
    let mut s = connect_from(Ipv4Addr::LOCALHOST, port).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    if reply.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "/healthz answered {:?}",
            String::from_utf8_lossy(&reply)
        ))
    }
}

/// ONVIF and RTSP answer an authenticated request within two seconds each.
async fn serving(daemon: &Daemon) {
    healthy(daemon.http_port).expect("/healthz");
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(2),
        post_soap(
            &format!("{}/onvif/media_service", daemon.http_base()),
            &envelope("", &op(TRT, "GetProfiles", "")),
            Some(ADMIN),
        ),
    )
    .await
    .expect("GetProfiles within 2 s")
    .expect("GetProfiles");
    assert_eq!(status, 200, "{body}");
    let describe = tokio::time::timeout(Duration::from_secs(2), async {
        let mut rtsp = RawRtsp::connect(daemon.rtsp_port, ADMIN).await?;
        rtsp.request(
            "DESCRIBE",
            &daemon.plain_url("/stream"),
            &[("Accept", "application/sdp")],
        )
        .await
    })
    .await
    .expect("DESCRIBE within 2 s")
    .expect("DESCRIBE");
    assert_eq!(describe.status, 200);
}

/// Waits until the daemon's descriptors are back within `slack` of `start`.
fn descriptors_back(daemon: &Daemon, start: usize, slack: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = daemon.fd_count();
        if now <= start + slack || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn one_byte_connections_that_close_do_not_use_up_the_camera() {
    let daemon = Setup::new().small().fd_limit(1024).start();
    serving(&daemon).await;
    let start = daemon.fd_count();
    let port = daemon.http_port;
    // The start of a request line, then gone: 1,050 times, more than the descriptor limit.
    let sent = tokio::task::spawn_blocking(move || {
        let mut sent = 0;
        for _ in 0..1050 {
            if let Ok(mut s) = connect_from(Ipv4Addr::new(127, 0, 0, 2), port) {
                let _ = s.write_all(b"G");
                sent += 1;
            }
        }
        sent
    })
    .await
    .expect("flood");
    assert!(sent > 1000, "only {sent} connections were made");
    serving(&daemon).await;
    let now = descriptors_back(&daemon, start, 20);
    assert!(
        now <= start + 20,
        "{now} descriptors open after the flood, {start} before"
    );
}

#[tokio::test]
async fn a_crowd_of_silent_connections_from_one_address_leaves_room_for_others() {
    let daemon = Setup::new().small().fd_limit(1024).start();
    serving(&daemon).await;
    let start = daemon.fd_count();
    let port = daemon.http_port;
    // 600 connections that never finish their request, all held open at once.
    let crowd: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..600)
            .filter_map(|i| {
                let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 3), port).ok()?;
                let _ = s.write_all(if i % 2 == 0 { b"GET /" } else { b"XYZ" });
                Some(s)
            })
            .collect()
    })
    .await
    .expect("crowd");
    assert!(
        crowd.len() > 500,
        "only {} connections were made",
        crowd.len()
    );
    // Another address is served while the crowd holds its places, and the crowd holds no more
    // than its address's places (64) and the waiting line (256): the rest were closed.
    serving(&daemon).await;
    let held = daemon.fd_count().saturating_sub(start);
    assert!(held < 64 + 256 + 30, "the crowd holds {held} descriptors");
    drop(crowd);
    let now = descriptors_back(&daemon, start, 20);
    assert!(now <= start + 20, "{now} descriptors open, {start} before");
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
fn until_closed(mut s: TcpStream, limit: Duration) -> (String, Duration) {
    let began = Instant::now();
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    (
        String::from_utf8_lossy(&reply).into_owned(),
        began.elapsed(),
    )
}

#[tokio::test]
async fn slow_bodies_and_idle_connections_are_closed() {
    // The default body timeout (15 s) and head timeout (10 s).
    let daemon = Setup::new().small().start();
    let port = daemon.http_port;
    let partial = |head: &str| {
        let mut s = connect_from(Ipv4Addr::LOCALHOST, port).expect("connect");
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(b"{\"user\":").expect("write");
        s
    };
    let limit = Duration::from_secs(60);
    // The login needs no login: anyone can open it (over HTTPS, where it is served).
    let mut login = babymonitor_e2e::http::tls_connect(daemon.https_port)
        .await
        .expect("TLS");
    {
        use tokio::io::AsyncWriteExt as _;
        let head = "POST /api/login HTTP/1.1\r\nHost: cam\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user\":";
        login.write_all(head.as_bytes()).await.expect("write");
    }
    let login = tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        let began = Instant::now();
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(limit, login.read_to_end(&mut reply)).await;
        (
            String::from_utf8_lossy(&reply).into_owned(),
            began.elapsed(),
        )
    });
    let soap = partial(
        "POST /onvif/device_service HTTP/1.1\r\nHost: cam\r\nContent-Type: application/soap+xml\r\nContent-Length: 500\r\n\r\n",
    );
    let mut idle = connect_from(Ipv4Addr::LOCALHOST, port).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: cam\r\n\r\n")
        .expect("write");
    let (soap, idle) = tokio::task::spawn_blocking(move || {
        let soap = std::thread::spawn(move || until_closed(soap, limit));
        let idle = until_closed(idle, limit);
        (soap.join().expect("soap"), idle)
    })
    .await
    .expect("readers");
    let login = login.await.expect("login");
    for (what, (reply, took), within) in [
        ("login body", &login, Duration::from_secs(20)),
        ("SOAP body", &soap, Duration::from_secs(20)),
        // A kept-alive connection with nothing more to ask.
        ("idle keep-alive", &idle, Duration::from_secs(20)),
    ] {
        assert!(
            *took < within,
            "{what}: still open after {took:?} ({reply:?})"
        );
    }
    assert!(login.0.starts_with("HTTP/1.1 408"), "{}", login.0);
    assert!(soap.0.starts_with("HTTP/1.1 408"), "{}", soap.0);
    assert!(idle.0.starts_with("HTTP/1.1 200"), "{}", idle.0);
}

/// Raises this test process's own descriptor limit (the crowd below needs more than 1,024).
fn allow_descriptors(n: u64) {
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={n}:{n}"),
        ])
        .status()
        .expect("prlimit runs");
    assert!(status.success(), "prlimit: {status}");
}

#[tokio::test]
async fn two_thousand_idle_connections_leave_the_camera_to_its_viewers() {
    allow_descriptors(8192);
    let daemon = Setup::new().small().start();
    serving(&daemon).await;
    // 2,000 connections that never send a byte, from two addresses that are not the viewer's,
    // spread over every port the camera serves: HTTP, HTTPS (a handshake that never starts),
    // RTSP and RTSPS.
    let ports = [
        daemon.http_port,
        daemon.https_port,
        daemon.rtsp_port,
        daemon.rtsps_port,
    ];
    let crowd: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..2000)
            .filter_map(|i: usize| {
                let source = Ipv4Addr::new(127, 0, 0, 10 + (i % 2) as u8);
                connect_from(source, ports[i % ports.len()]).ok()
            })
            .collect()
    })
    .await
    .expect("crowd");
    assert!(
        crowd.len() > 1900,
        "only {} connections were made",
        crowd.len()
    );
    // The viewer's address is served at once, on every port, while the crowd stays.
    serving(&daemon).await;
    let tls = tokio::time::timeout(Duration::from_secs(5), async {
        let client = babymonitor_e2e::http::client();
        client
            .get(format!("{}/healthz", daemon.https_base()))
            .send()
            .await
            .map(|r| r.status())
    })
    .await
    .expect("HTTPS within 5 s")
    .expect("HTTPS");
    assert_eq!(tls, 200);
    let got = daemon
        .watch(
            "/sub",
            babymonitor_e2e::rtsp::Via::Tcp,
            Duration::from_secs(3),
        )
        .await
        .expect("the sub stream plays");
    assert!(got.video.len() > 10, "{} frames in 3 s", got.video.len());
    drop(crowd);
}
