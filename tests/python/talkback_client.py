#!/usr/bin/python3
"""An ONVIF talk-back client as NVRs are: GStreamer's rtspsrc with backchannel=onvif.

Run with Debian's /usr/bin/python3 (python3-gi). Plays the stream, and after `delay` seconds
sends a sine tone of `freq` Hz as PCMU/8000 for `seconds` through the backchannel (0 = send
nothing), then keeps playing for `linger` seconds. Prints one JSON line: whether the server
offered a backchannel, its caps, and how many video buffers and tone packets went through.

usage: talkback_client.py URL FREQ SECONDS [DELAY] [LINGER] [PAYLOAD]
"""

import json
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main():
    url, freq, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    linger = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    payload = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    Gst.init(None)
    loop = GLib.MainLoop()
    state = {"backchannel": None, "caps": None, "video": 0, "pushed": 0, "errors": []}
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
        if s.has_field("a-sendonly"):
            state["backchannel"] = num
            state["caps"] = caps.to_string()
        return True

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
                return Gst.PadProbeReturn.OK
            pad.add_probe(Gst.PadProbeType.BUFFER, count)

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
        encoder = "mulawenc ! rtppcmupay pt=0" if payload == 0 else "alawenc ! rtppcmapay pt=8"
        tone = Gst.parse_launch(
            f"audiotestsrc is-live=true wave=sine freq={freq} volume=0.5 samplesperbuffer=160 "
            f"num-buffers={int(seconds * 50)} ! audio/x-raw,rate=8000,channels=1,format=S16LE "
            f"! {encoder} min-ptime=20000000 max-ptime=20000000 "
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
