"""RTSPS: the streams in TLS with the camera's certificate, beside plain RTSP, played by ffmpeg and
GStreamer as a parent's or an NVR's software would."""

import socket
import subprocess

from conftest import ADMIN, VIEWER, Daemon, ffprobe


def rtsps(daemon, path: str, creds) -> str:
    user, password = creds
    from urllib.parse import quote

    return f"rtsps://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{daemon.rtsps_port}{path}"


def ffprobe_tls(url: str, *tls: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-rw_timeout", "15000000", "-rtsp_transport", "tcp", *tls,
         "-show_entries", "stream=codec_name,width", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=60,
    )


def test_ffmpeg_plays_both_streams_over_rtsps_trusting_the_camera_certificate(daemon):
    ca = str(daemon.tmp / "data" / "tls" / "device.crt")
    for path, creds, width in [("/stream", ADMIN, "640"), ("/sub", VIEWER, "320")]:
        out = ffprobe_tls(rtsps(daemon, path, creds), "-tls_verify", "1", "-ca_file", ca)
        assert out.returncode == 0, out.stderr
        assert f"h264,{width}" in out.stdout, out.stdout
    # Plain RTSP is still there for NVRs.
    assert "h264,640" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream"))


def test_gstreamer_plays_both_streams_over_rtsps(daemon):
    for path, creds in [("/sub", ADMIN), ("/stream", VIEWER)]:
        out = subprocess.run(
            ["gst-launch-1.0", "-q", "rtspsrc", f"location=rtsps://127.0.0.1:{daemon.rtsps_port}{path}",
             f"user-id={creds[0]}", f"user-pw={creds[1]}", "tls-validation-flags=0", "!",
             "application/x-rtp,media=video", "!", "rtph264depay", "!", "h264parse", "!",
             "fakesink", "num-buffers=10"],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_rtsps_asks_for_the_password_like_rtsp(daemon):
    out = ffprobe_tls(rtsps(daemon, "/stream", (ADMIN[0], "not the password")))
    assert out.returncode != 0
    assert "401" in out.stderr, out.stderr


def test_tls_port_0_serves_no_rtsps(tmp_path):
    d = Daemon(tmp_path)
    unused = d.rtsps_port
    d.rtsps_port = 0
    d.start()
    try:
        assert "h264,640" in ffprobe(d.rtsp_with_creds(f"rtsp://127.0.0.1:{d.rtsp_port}/stream"))
        try:
            socket.create_connection(("127.0.0.1", unused), timeout=2).close()
            assert False, "something listens on the port RTSPS would have had"
        except ConnectionRefusedError:
            pass
        assert "RTSPS server listening" not in d.read_log()
    finally:
        d.stop()
