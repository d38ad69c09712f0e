//! The GStreamer ends of talk-back: the ONVIF backchannel bin of each RTSP media, and a sink
//! for any raw audio (the web page's microphone). Both feed a [`Talk`] input of the one mixer.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use gst::prelude::*;

use super::output::{Output, Talk};

/// The appsink at the end of every backchannel bin.
pub const BACKCHANNEL_SINK: &str = "backchannel_sink";

fn raw_caps(rate: u32) -> String {
    format!("audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate={rate}")
}

/// One format the backchannel takes: its RTP payload type and caps, its depayloader, and the
/// decoders that will do (the first one installed is used).
struct Format {
    payload: u8,
    rtp: &'static str,
    depay: &'static str,
    decoders: &'static [&'static str],
}

impl Format {
    /// `depay ! decoder`, or None when this GStreamer lacks the elements (e.g. an image
    /// without gst-libav has `fdkaacdec` instead of `avdec_aac`).
    fn decode(&self) -> Option<String> {
        gst::ElementFactory::find(self.depay)?;
        let decoder = self
            .decoders
            .iter()
            .find(|d| gst::ElementFactory::find(d).is_some())?;
        Some(format!("{} ! {decoder}", self.depay))
    }
}

/// In the order the SDP offers them; PCMU first, it is what every ONVIF talk-back client sends.
const FORMATS: &[Format] = &[
    Format {
        payload: 0,
        rtp: "clock-rate=8000,encoding-name=PCMU",
        depay: "rtppcmudepay",
        decoders: &["mulawdec"],
    },
    Format {
        payload: 8,
        rtp: "clock-rate=8000,encoding-name=PCMA",
        depay: "rtppcmadepay",
        decoders: &["alawdec"],
    },
    // AAC-LC, 16 kHz mono, RFC 3640 high bit-rate mode: what rtpmp4gpay makes of such AAC.
    // The decoder takes its setup from this SDP (config), so the client must encode to it.
    Format {
        payload: 96,
        rtp: "clock-rate=16000,encoding-name=MPEG4-GENERIC,encoding-params=(string)1,\
              streamtype=(string)5,profile-level-id=(string)1,mode=(string)AAC-hbr,\
              config=(string)1408,sizelength=(string)13,indexlength=(string)3,\
              indexdeltalength=(string)3",
        depay: "rtpmp4gdepay",
        decoders: &["avdec_aac", "fdkaacdec"],
    },
];

/// What `RTSPOnvifMediaFactory::set_backchannel_launch` gets, decoded to the mixer's format,
/// or None when not even one format can be decoded here. gst-rtsp-server finds the element
/// named `depay_backchannel`, and only for clients that ask turns each structure of its caps
/// into an `a=sendonly` section (all with the one control URL; the client sets up the one it
/// likes). What arrives is told apart by payload type; a type never offered is dropped.
pub fn backchannel_launch(rate: u32) -> Option<String> {
    let usable: Vec<(&Format, String)> = FORMATS
        .iter()
        .filter_map(|f| f.decode().map(|d| (f, d)))
        .collect();
    if usable.is_empty() {
        return None;
    }
    let caps = usable
        .iter()
        .map(|(f, _)| {
            format!(
                "application/x-rtp,media=audio,payload={},{}",
                f.payload, f.rtp
            )
        })
        .collect::<Vec<_>>()
        .join(";");
    let branches: String = usable
        .iter()
        .map(|(f, decode)| {
            format!(
                "bc_demux.src_{} ! {decode} ! audioconvert ! audioresample ! {} ! bc_mix. ",
                f.payload,
                raw_caps(rate)
            )
        })
        .collect();
    Some(format!(
        "( capsfilter caps=\"{caps}\" name=depay_backchannel ! rtpptdemux name=bc_demux \
         {branches}funnel name=bc_mix ! appsink name={BACKCHANNEL_SINK} sync=false async=false \
         max-buffers=50 drop=true enable-last-sample=false )"
    ))
}

/// A talk input fed by an appsink; [`Attached::detach`] closes it before the element goes.
#[derive(Clone)]
pub struct Attached(Arc<Mutex<Option<Talk>>>);

impl Attached {
    /// Leaves the floor and stops listening (the session ended).
    pub fn detach(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

/// Sends what reaches `sink` (raw F32 mono at the mixer's rate) to a new talk input.
pub fn attach(output: &Output, sink: &gst_app::AppSink, who: &str) -> Attached {
    let talk = Attached(Arc::new(Mutex::new(Some(output.talk(who)))));
    let feed = talk.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                match feed
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    Some(talk) => push(talk, &sample),
                    None => return Err(gst::FlowError::Eos),
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    talk
}

fn push(talk: &Talk, sample: &gst::Sample) {
    let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) else {
        return;
    };
    let samples: Vec<f32> = map
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    talk.push(&samples);
}

/// A sink element for any raw audio (any rate, format or channels): link a source to it and
/// what it plays is talk-back, under the same one-talker-at-a-time rule as the backchannel.
/// The talk input lives as long as the element.
pub fn talk_sink(output: &Arc<Output>, who: &str) -> anyhow::Result<gst::Element> {
    let bin = gst::parse::bin_from_description(
        &format!(
            "audioconvert ! audioresample ! {} ! appsink name=talk_sink sync=false async=false \
             max-buffers=50 drop=true enable-last-sample=false",
            raw_caps(output.sample_rate())
        ),
        true,
    )
    .context("building a talk-back sink")?;
    let sink: gst_app::AppSink = crate::media::element(&bin, "talk_sink")?;
    // The talk input goes with the element (its callbacks own it).
    let _ = attach(output, &sink, who);
    Ok(bin.upcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backchannel_offers_pcmu_first_then_pcma_and_aac() {
        gst::init().expect("gst");
        let desc = backchannel_launch(48000).expect("this machine decodes them all");
        let bin = gst::parse::launch(desc.trim_start_matches("( ").trim_end_matches(" )"))
            .expect("backchannel parses")
            .downcast::<gst::Bin>()
            .expect("a bin");
        // What gst-rtsp-server asks to write the SDP: one structure per a=sendonly section.
        let caps = bin
            .by_name("depay_backchannel")
            .and_then(|e| e.static_pad("sink"))
            .expect("depay_backchannel sink")
            .query_caps(None);
        let offered: Vec<_> = caps
            .iter()
            .map(|s| {
                (
                    s.get::<i32>("payload").expect("payload"),
                    s.get::<String>("encoding-name").expect("encoding-name"),
                    s.get::<i32>("clock-rate").expect("clock-rate"),
                )
            })
            .collect();
        assert_eq!(
            offered,
            [
                (0, "PCMU".to_string(), 8000),
                (8, "PCMA".to_string(), 8000),
                (96, "MPEG4-GENERIC".to_string(), 16000)
            ]
        );
    }
}
