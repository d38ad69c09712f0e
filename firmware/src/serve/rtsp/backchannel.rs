//! The media every RTSP viewer gets: an ONVIF media whose talk-back RTP is checked before any
//! GStreamer RTP element sees it.
//!
//! gst-rtsp-server pushes what a client sends on the backchannel straight into rtpbin, and two
//! things there do not survive a hostile client. It asks for an `rtpulpfecdec` after each
//! payload-type demuxer, which `g_assert`s (aborting the daemon) when a lost-packet event
//! reaches it before caps with an SSRC: PT 0 from SSRC A, A, B, then PT 96 from A is enough. And
//! it links only the first (SSRC, payload type) pad rtpbin exposes, so another source or a
//! switch of format is never heard and may stall the one that is. Hence no FEC decoder at all,
//! and a guard on rtpbin's input that passes only well-formed RTP of an offered payload type
//! from the first source and format the session sent.

use std::sync::{Arc, Mutex, PoisonError};

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;
use tracing::{debug, info};

glib::wrapper! {
    pub struct Media(ObjectSubclass<imp::Media>)
        @extends gst_rtsp_server::RTSPOnvifMedia, gst_rtsp_server::RTSPMedia;
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct Media;

    #[glib::object_subclass]
    impl ObjectSubclass for Media {
        const NAME: &'static str = "BabymonitorRTSPMedia";
        type Type = super::Media;
        type ParentType = gst_rtsp_server::RTSPOnvifMedia;
    }

    impl ObjectImpl for Media {}

    impl RTSPMediaImpl for Media {
        fn setup_rtpbin(&self, rtpbin: &gst::Element) -> Result<(), gst::LoggableError> {
            self.parent_setup_rtpbin(rtpbin)?;
            // Runs before the media connects its own FEC handler (in its start_prepare), so
            // this one is asked first.
            guard(rtpbin, offered(self.obj().upcast_ref()));
            Ok(())
        }
    }

    impl RTSPOnvifMediaImpl for Media {}
}

/// The payload types the SDP offers for talk-back: those of the backchannel's caps.
fn offered(media: &gst_rtsp_server::RTSPMedia) -> Vec<u8> {
    let Some(caps) = media
        .element()
        .downcast::<gst::Bin>()
        .ok()
        .and_then(|bin| bin.by_name("depay_backchannel"))
        .map(|filter| filter.property::<gst::Caps>("caps"))
    else {
        return Vec::new();
    };
    caps.iter()
        .filter_map(|s| s.get::<i32>("payload").ok())
        .filter_map(|pt| u8::try_from(pt).ok())
        .collect()
}

fn guard(rtpbin: &gst::Element, offered: Vec<u8>) {
    rtpbin.connect("request-fec-decoder", false, |values| {
        // The first handler with an element wins; none at all means no FEC decoder.
        if let Some(Ok(rtpbin)) = values.first().map(|v| v.get::<gst::Element>()) {
            rtpbin.stop_signal_emission_by_name("request-fec-decoder");
        }
        Some(None::<gst::Element>.to_value())
    });
    // rtpbin only takes RTP in on sessions that receive: the backchannel's, over TCP or UDP.
    rtpbin.connect_pad_added(move |_, pad| {
        if pad.name().starts_with("recv_rtp_sink_") {
            watch(pad, Filter::new(offered.clone()));
        }
    });
}

fn watch(pad: &gst::Pad, filter: Filter) {
    let filter = Arc::new(Mutex::new(filter));
    // A dropped packet is answered `Handled`, not `Drop`: the bindings have already taken the
    // buffer out of the probe info, and GStreamer 1.22 then unrefs NULL on `Drop` (one
    // GStreamer-CRITICAL line per packet).
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let mut filter = filter.lock().unwrap_or_else(PoisonError::into_inner);
            let keep = match &mut info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => filter.buffer(buffer),
                Some(gst::PadProbeData::BufferList(list)) => {
                    list.make_mut().foreach_mut(|buffer, _| {
                        let keep = filter.buffer(&buffer);
                        std::ops::ControlFlow::Continue(keep.then_some(buffer))
                    });
                    !list.is_empty()
                }
                _ => true,
            };
            if keep {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Handled
            }
        },
    );
}

/// Why a talk-back packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    /// Not RTP version 2, or lengths (CSRCs, extension, padding) beyond the packet.
    Malformed,
    /// Nothing to play.
    Empty,
    /// A payload type the SDP did not offer.
    NotOffered,
    /// Another SSRC than the session's first.
    OtherSource,
    /// Another offered format than the one the session started with.
    OtherFormat,
}

const REJECTS: [Reject; 5] = [
    Reject::Malformed,
    Reject::Empty,
    Reject::NotOffered,
    Reject::OtherSource,
    Reject::OtherFormat,
];

/// One session's talk-back filter: locks onto the SSRC and payload type of the first valid
/// packet, and counts what it drops.
#[derive(Debug)]
struct Filter {
    offered: Vec<u8>,
    locked: Option<(u32, u8)>,
    dropped: [u64; REJECTS.len()],
}

impl Filter {
    fn new(offered: Vec<u8>) -> Self {
        Self {
            offered,
            locked: None,
            dropped: [0; REJECTS.len()],
        }
    }

    fn buffer(&mut self, buffer: &gst::BufferRef) -> bool {
        let verdict = match buffer.map_readable() {
            Ok(map) => self.check(&map),
            Err(_) => Err(Reject::Malformed),
        };
        match verdict {
            Ok(()) => true,
            Err(reject) => {
                let i = REJECTS.iter().position(|r| *r == reject).unwrap_or(0);
                self.dropped[i] += 1;
                // Once per reason and session: a flood must not flood the log.
                if self.dropped[i] == 1 {
                    debug!(?reject, "dropped a talk-back packet (further ones counted)");
                }
                false
            }
        }
    }

    fn check(&mut self, packet: &[u8]) -> Result<(), Reject> {
        let rtp = rtp_types::RtpPacket::parse(packet).map_err(|_| Reject::Malformed)?;
        if rtp.payload().is_empty() {
            return Err(Reject::Empty);
        }
        let (ssrc, pt) = (rtp.ssrc(), rtp.payload_type());
        if !self.offered.contains(&pt) {
            return Err(Reject::NotOffered);
        }
        match self.locked {
            None => {
                debug!(ssrc, pt, "talk-back from this source and format");
                self.locked = Some((ssrc, pt));
                Ok(())
            }
            Some((locked, _)) if locked != ssrc => Err(Reject::OtherSource),
            Some((_, locked)) if locked != pt => Err(Reject::OtherFormat),
            Some(_) => Ok(()),
        }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        let total: u64 = self.dropped.iter().sum();
        if total > 0 {
            let [malformed, empty, not_offered, other_source, other_format] = self.dropped;
            info!(
                total,
                malformed,
                empty,
                not_offered,
                other_source,
                other_format,
                "talk-back packets dropped in a session that ended"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(first: u8, pt: u8, ssrc: u32, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![first, pt, 0, 1, 0, 0, 0, 160];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(rest);
        p
    }

    fn filter() -> Filter {
        Filter::new(vec![0, 8, 96])
    }

    #[test]
    fn lengths_that_lie_are_malformed() {
        let mut f = filter();
        for packet in [
            vec![],
            vec![0x80; 11],
            rtp(0x40, 0, 1, &[0xff; 160]),              // version 1
            rtp(0x8f, 0, 1, &[0xff; 20]),               // 15 CSRCs in 20 bytes
            rtp(0x90, 0, 1, &[0xbe, 0xde, 0xff, 0xff]), // extension beyond the end
            rtp(0x90, 0, 1, &[0xbe, 0xde]),             // extension header cut off
            rtp(0xa0, 0, 1, &[1, 2, 3, 200]),           // padding beyond the packet
            rtp(0xa0, 0, 1, &[1, 2, 3, 0]),             // zero padding
        ] {
            assert_eq!(f.check(&packet), Err(Reject::Malformed), "{packet:02x?}");
        }
        assert_eq!(f.locked, None, "nothing malformed locks the session");
    }

    #[test]
    fn the_first_valid_source_and_format_lock_the_session() {
        let mut f = filter();
        assert_eq!(
            f.check(&rtp(0x80, 9, 7, &[1; 160])),
            Err(Reject::NotOffered)
        );
        assert_eq!(f.check(&rtp(0x80, 0, 7, &[])), Err(Reject::Empty));
        // Padding that leaves nothing is empty too.
        assert_eq!(f.check(&rtp(0xa0, 0, 7, &[0, 0, 3])), Err(Reject::Empty));
        assert_eq!(f.check(&rtp(0x80, 0, 7, &[0xff; 160])), Ok(()));
        assert_eq!(
            f.check(&rtp(0x80, 0x80, 7, &[0xff; 160])),
            Ok(()),
            "marker bit"
        );
        assert_eq!(
            f.check(&rtp(0x80, 0, 8, &[0xff; 160])),
            Err(Reject::OtherSource)
        );
        assert_eq!(
            f.check(&rtp(0x80, 96, 7, &[0xff; 160])),
            Err(Reject::OtherFormat)
        );
        assert_eq!(
            f.check(&rtp(0x81, 0, 7, &[0, 0, 0, 9, 0xff])),
            Ok(()),
            "a CSRC"
        );
    }

    #[test]
    fn drops_are_counted_by_reason() {
        gst::init().expect("gst");
        let mut f = filter();
        let buffer = |p: Vec<u8>| gst::Buffer::from_slice(p);
        assert!(f.buffer(&buffer(rtp(0x80, 0, 7, &[0xff; 160]))));
        assert!(!f.buffer(&buffer(rtp(0x80, 0, 8, &[0xff; 160]))));
        assert!(!f.buffer(&buffer(rtp(0x80, 0, 8, &[0xff; 160]))));
        assert!(!f.buffer(&buffer(vec![0xde, 0xad])));
        assert_eq!(f.dropped, [1, 0, 0, 2, 0]);
    }
}
