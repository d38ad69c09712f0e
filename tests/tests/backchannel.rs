//! ONVIF talk-back at the RTSP level: the `a=sendonly` section only for clients that ask for
//! it, and a backchannel that survives what a broken or hostile client sends.

use std::time::Duration;

use babymonitor_e2e::rtsp::{RawRtsp, Via, watch};
use babymonitor_e2e::{ADMIN, Setup};

const REQUIRE: (&str, &str) = ("Require", "www.onvif.org/ver20/backchannel");

fn sections(sdp: &str) -> Vec<String> {
    sdp.split("\nm=")
        .skip(1)
        .map(|s| format!("m={}", s.trim()))
        .collect()
}

#[tokio::test]
async fn the_backchannel_is_offered_only_to_who_asks() {
    let daemon = Setup::new().small().start();
    for path in ["/stream", "/sub"] {
        let url = daemon.plain_url(path);
        // Each on its own connection, as clients do (gst-rtsp-server decides per connection),
        // the talk-back client first so that nothing of its request lingers for the next.
        let describe = |headers: Vec<(&'static str, &'static str)>| {
            let url = url.clone();
            let port = daemon.rtsp_port;
            async move {
                let mut raw = RawRtsp::connect(port, ADMIN).await.expect("connect");
                let r = raw
                    .request("DESCRIBE", &url, &headers)
                    .await
                    .expect("describe");
                assert_eq!(r.status, 200, "{r:?}");
                r
            }
        };
        let with = describe(vec![("Accept", "application/sdp"), REQUIRE]).await;
        let plain = describe(vec![("Accept", "application/sdp")]).await;

        let (plain, with) = (sections(&plain.body), sections(&with.body));
        assert!(
            !plain.iter().any(|m| m.contains("a=sendonly")),
            "{path}: no talk-back without the header: {plain:?}"
        );
        assert_eq!(plain.len(), 2, "{path}: video and sound: {plain:?}");
        // One a=sendonly section per format, PCMU first, all for the one backchannel stream:
        // the client sets up the one it speaks.
        assert_eq!(with.len(), 5, "{path}: plus the backchannel: {with:?}");
        for (back, (pt, rtpmap)) in with[2..].iter().zip([
            (0, "PCMU/8000"),
            (8, "PCMA/8000"),
            (96, "MPEG4-GENERIC/16000/1"),
        ]) {
            assert!(
                back.starts_with(&format!("m=audio 0 RTP/AVP {pt}")),
                "{back}"
            );
            assert!(back.contains("a=sendonly"), "{back}");
            assert!(back.contains(&format!("a=rtpmap:{pt} {rtpmap}")), "{back}");
        }
        let control = |m: &String| {
            m.lines()
                .find(|l| l.starts_with("a=control:"))
                .map(str::to_string)
        };
        assert_eq!(control(&with[2]), control(&with[3]), "{with:?}");
        assert_eq!(control(&with[2]), control(&with[4]), "{with:?}");
        assert!(
            with[4].contains("config=1408"),
            "AAC-LC 16 kHz mono: {}",
            with[4]
        );
        assert!(control(&with[2]).is_some(), "{with:?}");
        // The rest of the description is what the plain client got.
        assert_eq!(
            with[..2]
                .iter()
                .map(|m| m.lines().next().unwrap_or_default().to_string())
                .collect::<Vec<_>>(),
            plain
                .iter()
                .map(|m| m.lines().next().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_camera_without_a_speaker_offers_no_backchannel() {
    let daemon = Setup::new()
        .small()
        .set("speaker", "enabled = false")
        .start();
    let mut raw = RawRtsp::connect(daemon.rtsp_port, ADMIN)
        .await
        .expect("connect");
    let r = raw
        .request("DESCRIBE", &daemon.plain_url("/stream"), &[REQUIRE])
        .await
        .expect("describe");
    assert!(
        !r.body.contains("a=sendonly"),
        "no speaker, no talk-back: {r:?}"
    );
}

/// The streams to set up, once each: the backchannel's formats share one control URL.
fn control_urls(sdp: &str, base: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for url in sections(sdp).iter().filter_map(|m| {
        m.lines()
            .find_map(|l| l.trim().strip_prefix("a=control:"))
            .map(|c| {
                if c.starts_with("rtsp://") {
                    c.to_string()
                } else {
                    format!("{base}/{c}")
                }
            })
    }) {
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// One interleaved RTP packet on `channel`.
fn interleaved(channel: u8, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![b'$', channel];
    out.extend_from_slice(&(packet.len() as u16).to_be_bytes());
    out.extend_from_slice(packet);
    out
}

fn rtp(payload_type: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, payload_type, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[tokio::test]
async fn malformed_talk_back_breaks_nothing() {
    let daemon = Setup::new().small().start();
    let viewer_url = daemon.url("/stream");
    let viewer = tokio::spawn(async move {
        watch(&viewer_url, Via::Tcp, Duration::from_secs(10), usize::MAX).await
    });
    let url = daemon.plain_url("/stream");
    let mut raw = RawRtsp::connect(daemon.rtsp_port, ADMIN)
        .await
        .expect("connect");
    let describe = raw
        .request("DESCRIBE", &url, &[("Accept", "application/sdp"), REQUIRE])
        .await
        .expect("describe");
    let controls = control_urls(&describe.body, &url);
    assert_eq!(controls.len(), 3, "{}", describe.body);
    let mut session = String::new();
    for (i, control) in controls.iter().enumerate() {
        let transport = format!("RTP/AVP/TCP;unicast;interleaved={}-{}", 2 * i, 2 * i + 1);
        let mut headers = vec![("Transport", transport.as_str()), REQUIRE];
        if !session.is_empty() {
            headers.push(("Session", session.as_str()));
        }
        let r = raw
            .request("SETUP", control, &headers)
            .await
            .expect("setup");
        assert_eq!(r.status, 200, "SETUP {control}: {r:?}");
        session = r
            .header("Session")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
    }
    let r = raw
        .request("PLAY", &url, &[("Session", session.as_str()), REQUIRE])
        .await
        .expect("play");
    assert_eq!(r.status, 200, "{r:?}");
    // Garbage, truncated headers, a payload type nobody offered, huge and empty packets.
    let mut junk = Vec::new();
    junk.extend(interleaved(4, &[0xde, 0xad]));
    junk.extend(interleaved(4, &[0u8; 11]));
    for seq in 0..50u16 {
        junk.extend(interleaved(4, &rtp(8, seq, &[0xd5; 160])));
        junk.extend(interleaved(4, &rtp(0, seq.wrapping_mul(7919), &[])));
    }
    junk.extend(interleaved(4, &vec![0xffu8; 60_000]));
    junk.extend(interleaved(5, b"not RTCP at all"));
    junk.extend(interleaved(9, b"no such channel"));
    raw.write_raw(&junk).await.expect("write junk");
    // An answer on the same connection: the daemon has read past all of it.
    raw.request("GET_PARAMETER", &url, &[("Session", session.as_str())])
        .await
        .expect("an answer after the junk");

    let got = viewer
        .await
        .expect("task")
        .unwrap_or_else(|e| panic!("viewer broke: {e:#}\n{}", daemon.log()));
    assert!(
        got.video.len() >= 80,
        "viewer got {} frames",
        got.video.len()
    );
    // The daemon still answers, and a new talk-back client is still offered the section.
    let mut again = RawRtsp::connect(daemon.rtsp_port, ADMIN)
        .await
        .expect("connect");
    let r = again
        .request("DESCRIBE", &url, &[REQUIRE])
        .await
        .expect("describe");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("a=sendonly"));
}
