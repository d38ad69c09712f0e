//! The yardstick for the streaming benchmark: a plain gst-rtsp-server program serving the same
//! picture and sound as the simulated camera (the test picture at the main stream's size, x264,
//! AAC), with nothing of ours in between.
//!
//! `plain_rtsp <port> <width> <height> <fps> <kbit/s> <x264 preset>` serves `/stream` on
//! 127.0.0.1 until killed. One shared media for every viewer, as gst-rtsp-server's own
//! `test-launch` example does.

use anyhow::{Context, bail};
use gst_rtsp_server::prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, width, height, fps, kbps, preset] = args.as_slice() else {
        bail!("usage: plain_rtsp <port> <width> <height> <fps> <kbit/s> <x264 preset>");
    };
    gst::init()?;
    let main_loop = glib::MainLoop::new(None, false);
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(port);
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( videotestsrc is-live=true pattern=smpte ! video/x-raw,width={width},height={height},framerate={fps}/1 \
         ! x264enc tune=zerolatency speed-preset={preset} bitrate={kbps} key-int-max={keyint} bframes=0 \
         ! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 \
         audiotestsrc is-live=true wave=ticks ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 \
         ! avenc_aac bitrate=64000 ! aacparse ! rtpmp4gpay name=pay1 pt=97 )",
        keyint = fps.parse::<u32>().context("fps")? * 2,
    ));
    factory.set_shared(true);
    server
        .mount_points()
        .context("mount points")?
        .add_factory("/stream", factory);
    let _source = server.attach(None)?;
    println!("rtsp://127.0.0.1:{port}/stream");
    main_loop.run();
    Ok(())
}
