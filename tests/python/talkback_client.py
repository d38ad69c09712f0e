#!/usr/bin/python3
"""An ONVIF talk-back client as NVRs are: GStreamer's rtspsrc with backchannel=onvif.

Run with Debian's /usr/bin/python3 (python3-gi). Plays the stream, and after `delay` seconds
sends a sine tone of `freq` Hz for `seconds` through the backchannel (0 = send nothing), then
keeps playing for `linger` seconds. CODEC is PCMU (the default), PCMA (both 8000 Hz) or
MPEG4-GENERIC (AAC-LC, 16000 Hz mono): the client sets up the backchannel section of that
encoding, as an NVR picks the codec it speaks. G722 (16000 Hz, payload type 9) is never offered
and goes to the first backchannel section: a client that sends what it was not offered. Prints one JSON line: the encodings offered, the caps of the section set up, how
many video buffers (and when, in seconds from the start) and tone packets went through.

usage: talkback_client.py URL FREQ SECONDS [DELAY] [LINGER] [CODEC]
"""

import json
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp  # noqa: E402, F401 (GstSdp: on-sdp's message)


def main():
    url, freq, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    linger = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    codec = sys.argv[6] if len(sys.argv) > 6 else "PCMU"
    encoding = codec
    # encoder (its payloader last), its default payload type, the rate it is fed
    encoders = {
        "PCMU": ("mulawenc ! rtppcmupay min-ptime=20000000 max-ptime=20000000", 0, 8000),
        "PCMA": ("alawenc ! rtppcmapay min-ptime=20000000 max-ptime=20000000", 8, 8000),
        "MPEG4-GENERIC": ("audioconvert ! avenc_aac ! rtpmp4gpay", 96, 16000),
        "G722": ("audioconvert ! avenc_g722 ! rtpg722pay", 9, 16000),
    }
    encoder, payload, rate = encoders[encoding]
    Gst.init(None)
    loop = GLib.MainLoop()
    state = {"backchannel": None, "caps": None, "offered": [], "video": 0, "video_at": [],
             "pushed": 0, "errors": []}
    started = time.monotonic()
    # push-backchannel-buffer takes the sample over without a reference of its own (1.22):
    # keep ours alive, or GStreamer drops it with refcount criticals.
    keep = []

    pipe = Gst.Pipeline.new("client")
    src = Gst.ElementFactory.make("rtspsrc")
    src.set_property("location", url)
    src.set_property("backchannel", "onvif")
    src.set_property("protocols", "tcp")
    src.set_property("latency", 100)
    pipe.add(src)

    def select_stream(_src, num, caps):
        s = caps.get_structure(0)
        if not s.has_field("a-sendonly"):
            return True
        if state["backchannel"] is not None:
            return False
        # on-sdp came first: a codec the camera did not offer goes to its first section.
        if s.get_string("encoding-name") == encoding or encoding not in state["offered"]:
            state["backchannel"] = num
            state["caps"] = caps.to_string()
            return True
        return False

    def pad_added(_src, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        media = caps.get_structure(0).get_value("media")
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))
        if media == "video":
            def count(_pad, _info):
                state["video"] += 1
                state["video_at"].append(round(time.monotonic() - started, 3))
                return Gst.PadProbeReturn.OK
            pad.add_probe(Gst.PadProbeType.BUFFER, count)

    def on_sdp(_src, sdp):
        for i in range(sdp.medias_len()):
            media = sdp.get_media(i)
            keys = [media.get_attribute(j).key for j in range(media.attributes_len())]
            rtpmap = media.get_attribute_val("rtpmap")
            if "sendonly" in keys and rtpmap:
                state["offered"].append(rtpmap.split(" ", 1)[1].split("/")[0])

    src.connect("on-sdp", on_sdp)
    src.connect("select-stream", select_stream)
    src.connect("pad-added", pad_added)

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, _ = msg.parse_error()
            state["errors"].append(str(err))
            loop.quit()

    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    tone = None

    def start_tone():
        nonlocal tone
        if state["backchannel"] is None or seconds <= 0:
            return False
        tone = Gst.parse_launch(
            f"audiotestsrc is-live=true wave=sine freq={freq} volume=0.5 "
            f"samplesperbuffer={rate // 50} num-buffers={int(seconds * 50)} "
            f"! audio/x-raw,rate={rate},channels=1,format=S16LE ! {encoder} pt={payload} "
            "! appsink name=out emit-signals=true sync=true"
        )
        out = tone.get_by_name("out")

        def new_sample(sink):
            sample = sink.emit("pull-sample")
            keep.append(sample)
            src.emit("push-backchannel-buffer", state["backchannel"], sample)
            state["pushed"] += 1
            return Gst.FlowReturn.OK

        out.connect("new-sample", new_sample)
        tone.set_state(Gst.State.PLAYING)
        return False

    pipe.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int(delay * 1000), start_tone)
    GLib.timeout_add(int((delay + seconds + linger) * 1000), loop.quit)
    GLib.timeout_add(60_000, loop.quit)
    loop.run()
    if tone is not None:
        tone.set_state(Gst.State.NULL)
    pipe.set_state(Gst.State.NULL)
    print(json.dumps(state), flush=True)
    # Python would now free the samples GStreamer already took over: leave without cleanup.
    os._exit(0)


if __name__ == "__main__":
    main()
