//! WebRTC offers (the live view's WHEP and push-to-talk) that cannot connect are the client's
//! error, said with the reason; a good offer's answer offers only the address the camera
//! listens on; each kind has its own places and addresses.

use babymonitor_e2e::http::{post, request};
use babymonitor_e2e::{ADMIN, Setup};

const FINGERPRINT: &str = "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n";
const ICE: &str = "a=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\n";

/// A browser's live-view offer, trimmed (recvonly H.264 and Opus), with `ice` in each section.
fn whep_offer(ice: &str) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n{FINGERPRINT}\
         m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n{ice}a=setup:actpass\r\n\
         a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n{ice}a=setup:actpass\r\n\
         a=rtpmap:111 opus/48000/2\r\n"
    )
}

/// A page's talk offer: it sends Opus from its microphone.
fn talk_offer(ice: &str) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n{FINGERPRINT}\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n{ice}a=setup:actpass\r\n\
         a=rtpmap:111 opus/48000/2\r\n"
    )
}

#[tokio::test]
async fn offers_without_ice_credentials_are_refused_as_the_clients_error() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    for (path, offer) in [
        ("/api/whep", whep_offer("")),
        ("/api/talk", talk_offer("")),
        (
            "/api/whep",
            whep_offer("a=ice-ufrag:Xa2f\r\na=ice-pwd:tooshort\r\n"),
        ),
        ("/api/talk", talk_offer(&ICE.replace("Xa2f", "X"))),
        ("/api/whep", whep_offer(ICE).replace(FINGERPRINT, "")),
    ] {
        let (status, body) = post(
            &format!("{base}{path}"),
            "application/sdp",
            &offer,
            Some(ADMIN),
        )
        .await
        .expect("answer");
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("cannot connect"), "{path}: {body}");
    }
    assert!(daemon.log().lines().all(|l| !l.contains("panicked")));
}

/// The two panics of issue 14 (finding 13), as a logged-in page could send them: a non-ASCII
/// profile-level-id (sliced inside its character) and an attribute key long enough for
/// GStreamer's parser to cut inside a character. Each is a 400 with the reason, and the camera
/// goes on answering.
#[tokio::test]
async fn offers_that_panicked_the_parser_are_refused_with_a_reason() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let long_key = format!("a={}\u{e9}:1\r\n", "x".repeat(8190));
    for (path, offer, reason) in [
        (
            "/api/whep",
            whep_offer(ICE).replace("42e01f", "4\u{e9}000"),
            "H.264",
        ),
        (
            "/api/whep",
            whep_offer(ICE).replace("a=mid:0\r\n", &format!("a=mid:0\r\n{long_key}")),
            "longer than",
        ),
        (
            "/api/talk",
            talk_offer(ICE).replace("a=mid:0\r\n", &format!("a=mid:0\r\n{long_key}")),
            "longer than",
        ),
    ] {
        let (status, body) = post(
            &format!("{base}{path}"),
            "application/sdp",
            &offer,
            Some(ADMIN),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: no answer ({e:#})\n{}", daemon.log()));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(reason), "{path}: {body}");
    }
    let (status, _) = post(
        &format!("{base}/api/whep"),
        "application/sdp",
        &whep_offer(ICE),
        Some(ADMIN),
    )
    .await
    .expect("the camera still answers");
    assert_eq!(status, 201);
    assert!(daemon.log().lines().all(|l| !l.contains("panicked")));
}

#[tokio::test]
async fn answers_offer_only_the_address_the_camera_listens_on() {
    // The harness's daemon listens on 127.0.0.1 (the default of --simulate).
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    for (path, offer) in [
        ("/api/whep", whep_offer(ICE)),
        ("/api/talk", talk_offer(ICE)),
    ] {
        let (status, answer) = post(
            &format!("{base}{path}"),
            "application/sdp",
            &offer,
            Some(ADMIN),
        )
        .await
        .expect("answer");
        assert_eq!(status, 201, "{path}: {answer}");
        let candidates: Vec<&str> = answer
            .lines()
            .filter(|l| l.starts_with("a=candidate"))
            .collect();
        assert!(!candidates.is_empty(), "{path}: no candidates in {answer}");
        for c in &candidates {
            // a=candidate:<foundation> <component> <transport> <priority> <address> <port> ...
            let address = c.split_whitespace().nth(4).unwrap_or_default();
            assert_eq!(address, "127.0.0.1", "{path}: {c}");
        }
    }
}

/// POSTs `offer` to `path` as the admin; returns the status and the connection's `Location`.
async fn open(base: &str, path: &str, offer: &str) -> (u16, String) {
    let r = request(
        reqwest::Method::POST,
        &format!("{base}{path}"),
        "application/sdp",
        offer,
        Some(ADMIN),
    )
    .await
    .expect("answer");
    let location = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), location)
}

async fn delete(base: &str, path: &str) -> u16 {
    request(
        reqwest::Method::DELETE,
        &format!("{base}{path}"),
        "text/plain",
        "",
        Some(ADMIN),
    )
    .await
    .expect("answer")
    .status()
    .as_u16()
}

/// Live views and talk connections live in one registry, but a talk connection takes no
/// viewer's place, and a connection is ended only at its own address.
#[tokio::test]
async fn views_and_talks_keep_their_own_places_and_addresses() {
    let daemon = Setup::new()
        .small()
        .set("web", "max_viewers = 1")
        .set("web", "connect_timeout_s = 60")
        .start();
    let base = daemon.https_base();
    let (status, talk) = open(&base, "/api/talk", &talk_offer(ICE)).await;
    assert_eq!(status, 201, "talk");
    let (status, view) = open(&base, "/api/whep", &whep_offer(ICE)).await;
    assert_eq!(status, 201, "the only viewer, next to a talker");
    let (status, _) = open(&base, "/api/whep", &whep_offer(ICE)).await;
    assert_eq!(status, 503, "a second viewer");
    let view_id = view
        .strip_prefix("/api/whep/")
        .expect("a viewer's location");
    let talk_id = talk
        .strip_prefix("/api/talk/")
        .expect("a talker's location");
    assert_eq!(delete(&base, &format!("/api/talk/{view_id}")).await, 404);
    assert_eq!(delete(&base, &format!("/api/whep/{talk_id}")).await, 404);
    assert_eq!(delete(&base, &view).await, 200);
    assert_eq!(delete(&base, &talk).await, 200);
    let (status, view) = open(&base, "/api/whep", &whep_offer(ICE)).await;
    assert_eq!(status, 201, "the freed place");
    assert_eq!(delete(&base, &view).await, 200);
}
