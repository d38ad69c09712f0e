//! Reads a browser's offer, for the live view (WHEP) or for push-to-talk, on one path: is it SDP,
//! does it carry what the connection needs (video we can send, or a microphone's Opus), in which
//! of its payload types (webrtcbin only answers a codec whose parameters match the offer
//! exactly), and can it connect at all.

use gst_sdp::{SDPMediaRef, SDPMessage, SDPMessageRef};

/// The largest offer taken; a browser's offer with candidates is 3-8 KiB.
pub const MAX_OFFER: usize = 32 * 1024;
/// The longest line taken; a browser's longest (a fingerprint, a candidate) is ~150 bytes.
/// GStreamer's parser cuts fields at 8 KiB, which can fall inside a UTF-8 character, and its
/// Rust binding panics on the cut text: no line long enough to be cut reaches it.
pub const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoChoice {
    pub payload: u8,
    /// As offered, e.g. `42e01f`; the payloader's caps must say the same.
    pub profile_level_id: String,
}

/// A browser's live-view offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub video: VideoChoice,
    /// The offered Opus payload type, if the browser wants sound.
    pub audio: Option<u8>,
    pub sdp: SDPMessage,
}

/// A browser's talk offer: the payload type of the Opus its microphone sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkOffer {
    pub payload: u8,
    pub sdp: SDPMessage,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OfferError {
    #[error("the offer is larger than {MAX_OFFER} bytes")]
    TooLarge,
    #[error("the offer is not SDP: {0}")]
    NotSdp(&'static str),
    #[error("the offer asks for no video")]
    NoVideo,
    #[error("the offer has no H.264 with packetization-mode=1 that this camera can send")]
    NoH264,
    #[error("the offer sends no Opus audio (a microphone track, sendonly or sendrecv)")]
    NoOpus,
    #[error("the offer cannot connect: {0}")]
    Unconnectable(&'static str),
}

/// Reads a live-view offer.
pub fn parse(body: &[u8]) -> Result<Offer, OfferError> {
    read(body, |sdp| {
        if sdp.medias_len() == 0 {
            return Err(OfferError::NotSdp("it has no media sections"));
        }
        let video = best_video(sdp)?;
        let audio = sections(sdp, "audio").find_map(opus);
        Ok((video, audio))
    })
    .map(|((video, audio), sdp)| Offer { video, audio, sdp })
}

/// Reads a talk offer.
pub fn parse_talk(body: &[u8]) -> Result<TalkOffer, OfferError> {
    read(body, |sdp| {
        sections(sdp, "audio")
            .filter(|m| sends(m))
            .find_map(opus)
            .ok_or(OfferError::NoOpus)
    })
    .map(|(payload, sdp)| TalkOffer { payload, sdp })
}

/// The path every offer takes: SDP text, then what `wanted` takes from it, then whether it can
/// connect.
fn read<T>(
    body: &[u8],
    wanted: impl FnOnce(&SDPMessageRef) -> Result<T, OfferError>,
) -> Result<(T, SDPMessage), OfferError> {
    let sdp = sdp_text(body)?;
    let found = wanted(&sdp)?;
    check_connectable(&sdp).map_err(OfferError::Unconnectable)?;
    Ok((found, sdp))
}

fn sdp_text(body: &[u8]) -> Result<SDPMessage, OfferError> {
    if body.len() > MAX_OFFER {
        return Err(OfferError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| OfferError::NotSdp("not UTF-8 text"))?;
    if !text.trim_start().starts_with("v=0") {
        return Err(OfferError::NotSdp("it does not start with v=0"));
    }
    if text.lines().any(|l| l.len() > MAX_LINE) {
        return Err(OfferError::NotSdp("a line is longer than 4096 bytes"));
    }
    SDPMessage::parse_buffer(text.as_bytes()).map_err(|_| OfferError::NotSdp("it does not parse"))
}

/// What every media section needs for webrtcbin to connect at all, at its own level or the
/// session's: ICE credentials (RFC 8839: a ufrag of 4-256 and a password of 22-256 characters
/// from `A-Za-z0-9+/`) and a DTLS fingerprint. Checked here so that an offer without them is
/// the client's error, said as such, rather than a failure deep in webrtcbin.
pub fn check_connectable(sdp: &SDPMessageRef) -> Result<(), &'static str> {
    // A section the offer rejects (port 0) needs nothing.
    for media in sdp.medias().filter(|m| m.port() != 0) {
        let value = |key: &str| {
            media
                .attribute_val(key)
                .or_else(|| sdp.attribute_val(key))
                .map(str::trim)
        };
        ice_credential(
            value("ice-ufrag"),
            4..=256,
            "a media section has no ICE user fragment (a=ice-ufrag)",
            "an ICE user fragment is not 4-256 ICE characters",
        )?;
        ice_credential(
            value("ice-pwd"),
            22..=256,
            "a media section has no ICE password (a=ice-pwd)",
            "an ICE password is not 22-256 ICE characters",
        )?;
        if value("fingerprint").is_none() {
            return Err("a media section has no DTLS fingerprint (a=fingerprint)");
        }
    }
    Ok(())
}

/// An ICE credential (a ufrag or password) of a length in `lengths`, in ICE characters.
fn ice_credential(
    value: Option<&str>,
    lengths: std::ops::RangeInclusive<usize>,
    missing: &'static str,
    malformed: &'static str,
) -> Result<(), &'static str> {
    let value = value.ok_or(missing)?;
    let ice_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if lengths.contains(&value.len()) && ice_chars {
        Ok(())
    } else {
        Err(malformed)
    }
}

/// The offer's media sections of one kind (`video`, `audio`).
fn sections<'a>(sdp: &'a SDPMessageRef, kind: &'a str) -> impl Iterator<Item = &'a SDPMediaRef> {
    sdp.medias().filter(move |m| m.media() == Some(kind))
}

/// Whether the browser sends on this section (a microphone that is not receive-only or off).
fn sends(media: &SDPMediaRef) -> bool {
    !media
        .attributes()
        .any(|a| matches!(a.key(), "recvonly" | "inactive"))
}

/// A section's `a=<key>:<payload type> <rest>` attributes, in order.
fn by_payload<'a>(media: &'a SDPMediaRef, key: &'a str) -> impl Iterator<Item = (u8, &'a str)> {
    media
        .attributes()
        .filter(move |a| a.key() == key)
        .filter_map(|a| {
            let (pt, rest) = a.value()?.split_once(' ')?;
            Some((pt.parse::<u8>().ok()?, rest))
        })
}

/// The section's first payload type of Opus at 48 kHz.
fn opus(media: &SDPMediaRef) -> Option<u8> {
    by_payload(media, "rtpmap")
        .find(|(_, codec)| codec.to_ascii_uppercase().starts_with("OPUS/48000"))
        .map(|(pt, _)| pt)
}

/// The H.264 this camera sends best among every video section's offers.
fn best_video(sdp: &SDPMessageRef) -> Result<VideoChoice, OfferError> {
    let mut videos = sections(sdp, "video").peekable();
    if videos.peek().is_none() {
        return Err(OfferError::NoVideo);
    }
    videos
        .flat_map(h264_choices)
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, choice)| choice)
        .ok_or(OfferError::NoH264)
}

/// A section's H.264 payload types that this camera can send, with their rank.
fn h264_choices(media: &SDPMediaRef) -> impl Iterator<Item = (u8, VideoChoice)> + '_ {
    by_payload(media, "rtpmap")
        .filter(|(_, codec)| codec.to_ascii_uppercase().starts_with("H264/90000"))
        .filter_map(|(pt, _)| {
            let plid = h264_profile(media, pt)?;
            let choice = VideoChoice {
                payload: pt,
                profile_level_id: plid.to_ascii_lowercase(),
            };
            Some((rank(&plid)?, choice))
        })
}

/// The profile-level-id of an H.264 payload type with packetization-mode=1, if it is three
/// bytes in hex (RFC 6184): it goes into the pipeline's description as written, and `rank`
/// slices it.
fn h264_profile(media: &SDPMediaRef, pt: u8) -> Option<String> {
    let params = by_payload(media, "fmtp")
        .find(|(p, _)| *p == pt)
        .map(|(_, rest)| fmtp_params(rest))
        .unwrap_or_default();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    if get("packetization-mode").map(String::as_str) != Some("1") {
        return None;
    }
    get("profile-level-id")
        .filter(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .cloned()
}

/// H.264 profiles by preference: the encoder makes Main, and a browser that offers Main gets it
/// as such; Constrained Baseline decoders in browsers decode Main too, so they come next.
fn rank(profile_level_id: &str) -> Option<u8> {
    let p = profile_level_id.get(0..4)?.to_ascii_lowercase();
    match (&p[0..2], &p[2..4]) {
        ("4d", _) => Some(0),
        ("64", _) => Some(1),
        ("42", "e0") => Some(2),
        ("42", _) => Some(3),
        _ => None,
    }
}

fn fmtp_params(value: &str) -> Vec<(String, String)> {
    value
        .split(';')
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a Chromium 120 WHEP offer (recvonly video and audio).
    pub(crate) const CHROMIUM: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 102 106 112\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
a=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\na=recvonly\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
a=rtpmap:106 H264/90000\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:112 H264/90000\r\na=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
a=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\na=recvonly\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn picks_main_profile_and_opus() {
        gst::init().expect("gstreamer");
        let o = parse(CHROMIUM.as_bytes()).expect("offer");
        assert_eq!(o.video.payload, 112);
        assert_eq!(o.video.profile_level_id, "4d001f");
        assert_eq!(o.audio, Some(111));
    }

    #[test]
    fn constrained_baseline_when_main_is_not_offered() {
        gst::init().expect("gstreamer");
        let offer = CHROMIUM.replace("profile-level-id=4d001f", "profile-level-id=f4001f");
        let o = parse(offer.as_bytes()).expect("offer");
        assert_eq!(o.video.profile_level_id, "42e01f");
        assert_eq!(o.video.payload, 106);
    }

    /// A six-byte profile-level-id with a non-ASCII character was sliced inside the character
    /// (a panic, answered 500); the `whep_offer` fuzz target (fuzz/) found one of other
    /// characters (`42e01#`) going as written into the viewer's pipeline description.
    #[test]
    fn a_profile_level_id_is_six_hex_digits() {
        gst::init().expect("gstreamer");
        for bad in ["4\u{e9}000", "42e01#", "4d!tee", "42e0 f"] {
            let offer = ["42001f", "42e01f", "4d001f"]
                .iter()
                .fold(CHROMIUM.to_string(), |o, good| o.replace(good, bad));
            assert_eq!(parse(offer.as_bytes()), Err(OfferError::NoH264), "{bad}");
        }
        let upper = CHROMIUM.replace("4d001f", "4D001F");
        assert_eq!(
            parse(upper.as_bytes())
                .expect("offer")
                .video
                .profile_level_id,
            "4d001f"
        );
    }

    /// GStreamer's SDP parser cuts long attribute keys at a fixed length (8 KiB), which can fall
    /// inside a UTF-8 character; the Rust binding's `key()` then panicked on the invalid text.
    #[test]
    fn attribute_keys_cut_inside_a_character_are_refused_not_a_panic() {
        gst::init().expect("gstreamer");
        let around = |p: usize| p.saturating_sub(4)..p + 2;
        let lengths = (0..40).chain(
            [64, 128, 256, 1024, 4096, 8192, 16384]
                .into_iter()
                .flat_map(around),
        );
        for n in lengths {
            let key = format!("{}\u{e9}\u{1F476}", "x".repeat(n));
            for (offer, name) in [(CHROMIUM, "whep"), (CHROMIUM_TALK, "talk")] {
                let bad = offer.replace("a=mid:0\r\n", &format!("a=mid:0\r\na={key}:1\r\n"));
                let result = std::panic::catch_unwind(|| {
                    if name == "whep" {
                        parse(bad.as_bytes()).err()
                    } else {
                        parse_talk(bad.as_bytes()).err()
                    }
                });
                let result = result
                    .unwrap_or_else(|_| panic!("{name}: a key of {n} + 2 characters panicked"));
                if n > MAX_LINE {
                    assert_eq!(
                        result,
                        Some(OfferError::NotSdp("a line is longer than 4096 bytes"))
                    );
                }
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        gst::init().expect("gstreamer");
        assert!(matches!(parse(b"hello"), Err(OfferError::NotSdp(_))));
        assert!(matches!(parse(&[0xff, 0xfe]), Err(OfferError::NotSdp(_))));
        let audio_only = CHROMIUM
            .split("m=audio")
            .nth(1)
            .map(|a| format!("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio{a}"))
            .expect("audio section");
        assert_eq!(parse(audio_only.as_bytes()), Err(OfferError::NoVideo));
        let vp8_only = CHROMIUM.replace("H264/90000", "VP9/90000");
        assert_eq!(parse(vp8_only.as_bytes()), Err(OfferError::NoH264));
        let big = format!("{CHROMIUM}{}", "a=x-padding\r\n".repeat(4000));
        assert_eq!(parse(big.as_bytes()), Err(OfferError::TooLarge));
    }

    #[test]
    fn an_offer_that_cannot_connect_is_refused_with_the_reason() {
        gst::init().expect("gstreamer");
        let no_ice = CHROMIUM.replace("a=ice-ufrag:Xa2f\r\n", "");
        assert!(
            matches!(parse(no_ice.as_bytes()), Err(OfferError::Unconnectable(m)) if m.contains("ice-ufrag"))
        );
        let short_pwd = CHROMIUM.replace("q7SJmS3Wvq9dvM0UxH5cY1Zb", "short");
        assert!(
            matches!(parse(short_pwd.as_bytes()), Err(OfferError::Unconnectable(m)) if m.contains("password"))
        );
        let odd_ufrag = CHROMIUM.replace("Xa2f", "Xa 2f;");
        assert!(matches!(
            parse(odd_ufrag.as_bytes()),
            Err(OfferError::Unconnectable(_))
        ));
        let no_fingerprint: String = CHROMIUM
            .lines()
            .filter(|l| !l.starts_with("a=fingerprint"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            matches!(parse(no_fingerprint.as_bytes()), Err(OfferError::Unconnectable(m)) if m.contains("fingerprint"))
        );
        // Credentials at the session level serve every section.
        let session_level = CHROMIUM
            .replace(
                "a=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\n",
                "",
            )
            .replace(
                "t=0 0\r\n",
                "t=0 0\r\na=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\n",
            );
        assert!(parse(session_level.as_bytes()).is_ok());
    }
    /// Trimmed from a Chromium talk offer (one sendonly microphone track).
    const CHROMIUM_TALK: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
a=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn finds_the_microphones_opus() {
        gst::init().expect("gstreamer");
        assert_eq!(
            parse_talk(CHROMIUM_TALK.as_bytes()).expect("offer").payload,
            111
        );
    }

    #[test]
    fn talk_refusals_say_why() {
        gst::init().expect("gstreamer");
        assert!(matches!(parse_talk(b"hello"), Err(OfferError::NotSdp(_))));
        let receive_only = CHROMIUM_TALK.replace("a=sendonly", "a=recvonly");
        assert_eq!(parse_talk(receive_only.as_bytes()), Err(OfferError::NoOpus));
        let pcmu_only = CHROMIUM_TALK.replace("opus/48000/2", "PCMA/8000");
        assert_eq!(parse_talk(pcmu_only.as_bytes()), Err(OfferError::NoOpus));
        let big = format!("{CHROMIUM_TALK}{}", "a=x-padding\r\n".repeat(4000));
        assert_eq!(parse_talk(big.as_bytes()), Err(OfferError::TooLarge));
        let no_fingerprint = CHROMIUM_TALK.replace("a=fingerprint", "a=x-fingerprint");
        assert!(matches!(
            parse_talk(no_fingerprint.as_bytes()),
            Err(OfferError::Unconnectable(_))
        ));
    }

    /// Each kind takes what it needs: a live-view offer (receive-only sound) sends no
    /// microphone, and a talk offer asks for no video.
    #[test]
    fn each_kind_refuses_the_others_offer() {
        gst::init().expect("gstreamer");
        assert_eq!(parse_talk(CHROMIUM.as_bytes()), Err(OfferError::NoOpus));
        assert_eq!(parse(CHROMIUM_TALK.as_bytes()), Err(OfferError::NoVideo));
    }
}
