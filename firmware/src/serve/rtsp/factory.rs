//! One media factory per stream; every media it builds is a viewer fed from the hub.

use std::sync::Arc;

use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use tracing::{debug, warn};

use crate::audio::Output;
use crate::media::{Feed, Hub, Track};

pub(super) fn make(
    track: Track,
    hub: Arc<Hub>,
    with_audio: bool,
    speaker: Option<Arc<Output>>,
    peers: Arc<super::peers::Peers>,
) -> gst_rtsp_server::RTSPOnvifMediaFactory {
    let factory = gst_rtsp_server::RTSPOnvifMediaFactory::new();
    // Without an ONVIF media type an ONVIF factory builds no media at all; ours guards the
    // backchannel.
    factory.set_media_gtype(super::backchannel::Media::static_type());
    factory.set_launch(&crate::media::rtsp_media_description(with_audio));
    // Each viewer has its own media (a backchannel media is never shared); they are cheap
    // because they only payload what the hub already encoded.
    factory.set_shared(false);
    factory.set_protocols(gst_rtsp::RTSPLowerTrans::UDP | gst_rtsp::RTSPLowerTrans::TCP);
    if let Some(speaker) = &speaker {
        // Only clients that send `Require: www.onvif.org/ver20/backchannel` get it.
        match crate::audio::backchannel_launch(speaker.sample_rate()) {
            Some(launch) => factory.set_backchannel_launch(Some(&launch)),
            None => warn!(
                "no talk-back decoder installed (mulawdec, alawdec, avdec_aac): no ONVIF backchannel"
            ),
        }
    }
    factory.connect_media_configure(move |_, media| {
        configure(media, track, &hub);
        if peers.current().is_some_and(|p| p.tls) {
            // Over RTSPS the media stays inside the TLS connection: RTP over UDP would be
            // in clear, and SRTP is not offered.
            media.set_protocols(gst_rtsp::RTSPLowerTrans::TCP);
        }
        if let Some(speaker) = &speaker {
            if may_talk(current_role().as_deref()) {
                attach_backchannel(media, speaker);
            } else if has_backchannel(media) {
                // Such a DESCRIBE or SETUP is answered 403 first (`auth`); kept so that no
                // path to the speaker depends on that alone.
                warn!("RTSP backchannel of a watch-only account: not connected to the speaker");
            }
        }
    });
    factory
}

/// Whether an account of `role` may talk into the nursery: an operator or admin, as for the
/// page's push-to-talk and played clips.
pub(super) fn may_talk(role: Option<&str>) -> bool {
    use crate::config::Role;
    matches!(role, Some(r) if r == Role::Admin.as_str() || r == Role::Operator.as_str())
}

/// The role of the account whose request builds this media. Media are configured while
/// DESCRIBE is handled, after gst-rtsp-server has authenticated it, so the request's token
/// carries it.
fn current_role() -> Option<String> {
    gst_rtsp_server::RTSPContext::with_current_context(|ctx| {
        ctx.token().and_then(|t| {
            t.string(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE)
                .map(|r| r.to_string())
        })
    })
    .flatten()
}

fn has_backchannel(media: &gst_rtsp_server::RTSPMedia) -> bool {
    media
        .element()
        .downcast::<gst::Bin>()
        .ok()
        .and_then(|bin| bin.by_name(crate::audio::BACKCHANNEL_SINK))
        .is_some()
}

/// Feeds a backchannel media's talk-back into the speaker's mixer.
fn attach_backchannel(media: &gst_rtsp_server::RTSPMedia, speaker: &Output) {
    let Some(sink) = media
        .element()
        .downcast::<gst::Bin>()
        .ok()
        .and_then(|bin| bin.by_name(crate::audio::BACKCHANNEL_SINK))
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
    else {
        return;
    };
    debug!("viewer media with a backchannel");
    let talk = crate::audio::attach(speaker, &sink, "RTSP backchannel");
    // The session is over: its turn to talk ends now, not when GLib frees the media.
    media.connect_unprepared(move |_| talk.detach());
}

/// How far a new media's running time starts ahead of zero: the sound sent with a viewer's
/// first picture was captured just before it (`feed::AUDIO_LEAD_NS`), and a timestamp cannot
/// go below zero.
const RUNNING_TIME_HEADROOM: gst::ClockTime = gst::ClockTime::from_seconds(1);

fn configure(media: &gst_rtsp_server::RTSPMedia, track: Track, hub: &Arc<Hub>) {
    media.set_clock(Some(&gst::SystemClock::obtain()));
    match media
        .element()
        .parent()
        .and_then(|p| p.downcast::<gst::Pipeline>().ok())
    {
        Some(pipeline) => {
            // The media's clock runs from here, not from when it starts playing; the feed maps
            // capture times onto it, so only the origin moves.
            pipeline.set_start_time(gst::ClockTime::NONE);
            pipeline.set_base_time(
                gst::ClockTime::from_nseconds(crate::media::clock_now())
                    .saturating_sub(RUNNING_TIME_HEADROOM),
            );
        }
        None => warn!("RTSP media without its pipeline"),
    }
    let Ok(bin) = media.element().downcast::<gst::Bin>() else {
        warn!("RTSP media is not a bin");
        return;
    };
    let appsrc = |name: &str| {
        bin.by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
    };
    let Some(video) = appsrc("video") else {
        warn!("RTSP media without its video appsrc");
        return;
    };
    let feed = Arc::new(Feed::new(track, video, appsrc("audio"), hub.demand()));
    let id = feed.id();
    debug!(feed = id, stream = track.name(), "new viewer media");
    hub.add_feed(Arc::clone(&feed));
    // The key frame asked for at DESCRIBE usually comes before PLAY: the feed keeps it and
    // sends it the moment the media plays, or asks again if it has none fresh.
    let hub_on_play = Arc::downgrade(hub);
    let feed_on_play = Arc::downgrade(&feed);
    drop(feed);
    media.connect_new_state(move |_, state| {
        if state != gst::State::Playing as i32 {
            return;
        }
        let (Some(hub), Some(feed)) = (hub_on_play.upgrade(), feed_on_play.upgrade()) else {
            return;
        };
        if !feed.start(&hub, crate::media::clock_now()) {
            hub.request_keyframe(track);
        }
    });
    let hub_on_unprepare = Arc::clone(hub);
    media.connect_unprepared(move |_| hub_on_unprepare.remove_feed(id));
    // A media dropped without ever being prepared never says "unprepared".
    let hub_on_drop = Arc::downgrade(hub);
    media.add_weak_ref_notify(move || {
        if let Some(hub) = hub_on_drop.upgrade() {
            hub.remove_feed(id);
        }
    });
}
