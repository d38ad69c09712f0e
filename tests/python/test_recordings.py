"""Event clips as a parent gets them: a cry heard by the simulated microphone becomes an MP4 on
the data partition, listed and served by `/api/recordings` behind the login, kept within its budget,
and surviving a crash mid-clip."""

import json
import signal
import subprocess

from conftest import ADMIN, VIEWER, Daemon, ffprobe
from test_alerts import api, cry
from test_events import quiet, write_wav

PRE, POST = 3, 3


def recording_daemon(tmp_path, parts, extra=""):
    wav = tmp_path / "night.wav"
    write_wav(wav, parts)
    return Daemon(tmp_path, f"""
[audio]
source = "file"
path = "{wav}"
[sound]
enabled = true
min_duration_s = 1.0
hold_s = 1.0
[recordings]
enabled = true
pre_s = {PRE}
post_s = {POST}
merge_s = 2
max_s = 60
reserve_mb = 0
{extra}
""")


def clips(d, creds=ADMIN, query=""):
    r = api(d, "GET", f"/api/recordings{query}", creds)
    assert r.status_code == 200, r.text
    return r.json()["clips"]


def finished(d):
    return [c for c in clips(d) if c["end"] is not None]


def probe(path):
    """Streams and packets of an MP4 file, as ffprobe reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_type,codec_name:format=duration:packet=codec_type,dts_time,flags",
         "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_playable(path):
    info = probe(path)
    codecs = sorted(s["codec_name"] for s in info["streams"])
    assert codecs == ["aac", "h264"], codecs
    video = [p for p in info["packets"] if p["codec_type"] == "video"]
    assert video and video[0]["flags"].startswith("K"), video[:2]
    dts = [float(p["dts_time"]) for p in video]
    assert all(b > a for a, b in zip(dts, dts[1:])), "video DTS not increasing"
    assert abs(dts[0]) < 0.2, dts[0]
    return info, dts


def download(d, path, creds=ADMIN, headers=None):
    return api(d, "GET", path, creds, headers=headers or {})


def test_one_cry_makes_one_playable_clip_with_a_thumbnail_and_ranges(tmp_path):
    cry_s = 6
    d = recording_daemon(tmp_path, [(6, quiet), (cry_s, cry), (120, quiet)])
    d.start()
    try:
        d.wait_for(lambda: finished(d), "a finished clip", 60)
        got = clips(d)
        assert len(got) == 1, got
        clip = got[0]
        assert clip["kind"] == "cry" and clip["thumbnail"], clip
        path = tmp_path / "data" / "recordings" / f"{clip['id']}.mp4"
        info, dts = check_playable(path)
        # Pre-roll of whole groups of pictures (a key frame a second or so) + the cry as the
        # detector heard it + post-roll.
        duration = float(info["format"]["duration"])
        assert PRE + POST + cry_s - 3 <= duration <= PRE + POST + cry_s + 4, duration
        assert abs(clip["duration"] - dts[-1]) < 1.0, (clip, dts[-1])

        # The thumbnail; the viewer may see and download.
        jpg = download(d, f"/api/recordings/{clip['id']}.jpg", VIEWER)
        assert jpg.status_code == 200 and jpg.content[:2] == b"\xff\xd8", jpg.status_code
        assert clips(d, VIEWER, "?kind=cry") == got
        assert clips(d, VIEWER, "?kind=motion") == []
        assert clips(d, VIEWER, "?from=2100-01-01T00:00:00Z") == []

        # Range requests (RFC 9110).
        whole = download(d, f"/api/recordings/{clip['id']}.mp4", VIEWER)
        assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
        body = whole.content
        n = len(body)
        assert n == path.stat().st_size and body[4:8] == b"ftyp"
        cases = [("bytes=0-99", 0, 99), (f"bytes=100-{n // 2}", 100, n // 2),
                 ("bytes=-50", n - 50, n - 1), (f"bytes={n - 10}-", n - 10, n - 1)]
        for header, first, last in cases:
            r = download(d, f"/api/recordings/{clip['id']}.mp4", VIEWER, {"Range": header})
            assert r.status_code == 206, (header, r.status_code)
            assert r.headers["content-range"] == f"bytes {first}-{last}/{n}", header
            assert r.content == body[first:last + 1], header
        r = download(d, f"/api/recordings/{clip['id']}.mp4", VIEWER, {"Range": f"bytes={n}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{n}"

        # A viewer may not delete or keep; bad ids and path tricks are not found.
        assert api(d, "DELETE", f"/api/recordings/{clip['id']}", VIEWER).status_code == 403
        assert api(d, "PUT", f"/api/recordings/{clip['id']}/keep", VIEWER, json={"keep": True}).status_code == 403
        for bad in ["../clips.json", "..%2Fclips.json", "%2e%2e%2fconfig.toml", "clips.json",
                    f"{clip['id']}.mp4.tmp", "20250101T000000Z-cry.mp4", f"{clip['id']}/../x.mp4",
                    f"{clip['id']}.txt", "nothing"]:
            r = download(d, f"/api/recordings/{bad}")
            assert r.status_code == 404, (bad, r.status_code)
        assert api(d, "DELETE", "/api/recordings/..%2Fclips.json", ADMIN).status_code == 404

        # The operator (admin) keeps and deletes.
        r = api(d, "PUT", f"/api/recordings/{clip['id']}/keep", ADMIN, json={"keep": True})
        assert r.status_code == 200 and r.json()["keep"] is True, r.text
        status = api(d, "GET", "/api/status", VIEWER).json()["recordings"]
        assert status["enabled"] and status["clips"] == 1 and status["bytes"] >= n, status
        assert d.metric("babymonitor_recordings_clips") == 1
        assert api(d, "DELETE", f"/api/recordings/{clip['id']}", ADMIN).status_code == 200
        assert clips(d) == [] and not path.exists()
    finally:
        d.stop()


def recording(d):
    return api(d, "GET", "/api/status", ADMIN).json()["recordings"]


def test_a_clip_cut_by_a_crash_is_listed_and_plays_after_the_restart(tmp_path):
    d = recording_daemon(tmp_path, [(6, quiet), (30, cry), (60, quiet)])
    d.start()
    try:
        d.wait_for(lambda: recording(d)["recording_now"], "recording", 40)
        (clip,) = clips(d)
        path = tmp_path / "data" / "recordings" / f"{clip['id']}.mp4"
        # A few fragments (one a second) on the card.
        d.wait_for(lambda: path.stat().st_size > 300_000, "a few fragments", 20)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        assert clip["end"] is None
    finally:
        d.stop()
    d.start()
    try:
        # Before the recording's cry starts again: the cut clip, read back from its file.
        (back,) = [c for c in clips(d) if c["id"] == clip["id"]]
        assert back["end"] is not None and back["duration"] > 2, back
        _, dts = check_playable(path)
        assert dts[-1] > 2, dts[-1]
    finally:
        d.stop()
    # A damaged index is moved aside and made again from the files.
    index = tmp_path / "data" / "recordings" / "clips.json"
    index.write_text('{"version": 1, "clips": [')
    d.start()
    try:
        assert clip["id"] in [c["id"] for c in clips(d)]
        assert (index.parent / "clips.json.damaged").exists()
        assert json.loads(index.read_text())["version"] == 1
    finally:
        d.stop()


def test_the_oldest_clips_go_within_the_budget_and_kept_ones_stay(tmp_path):
    parts = [(4, quiet)]
    for _ in range(5):
        parts += [(2, cry), (8, quiet)]
    d = recording_daemon(tmp_path, parts + [(60, quiet)], "budget_mb = 2\n")
    d.start()
    try:
        d.wait_for(lambda: finished(d), "a first clip", 40)
        first = finished(d)[0]
        r = api(d, "PUT", f"/api/recordings/{first['id']}/keep", ADMIN, json={"keep": True})
        assert r.status_code == 200, r.text
        d.wait_for(lambda: d.read_log().count("clip saved") >= 5, "five clips", 90)
        d.wait_for(lambda: not recording(d)["recording_now"], "the last clip saved", 20)
        got = clips(d)
        assert first["id"] in [c["id"] for c in got], got
        assert len(got) < 5, got
        files = list((tmp_path / "data" / "recordings").glob("*.mp4"))
        assert sorted(f.stem for f in files) == sorted(c["id"] for c in got)
        assert sum(f.stat().st_size for f in files) <= 2 * 1024 * 1024
        assert "clip removed to keep within the budget" in d.read_log()
    finally:
        d.stop()


def test_a_full_data_partition_stops_recording_while_streaming_goes_on(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(data)], check=True)
    d = recording_daemon(tmp_path, [(6, quiet), (40, cry), (60, quiet)])
    # 7 of the 8 MB kept free: the clip stops after about a megabyte.
    d.extra = d.extra.replace("reserve_mb = 0", "reserve_mb = 7")
    try:
        d.start()
        d.wait_for(lambda: recording(d)["last_failure"] is not None, "recording stopped for space", 60)
        status = recording(d)
        assert not status["recording_now"] and status["paused_for_space"], status
        assert "nearly full" in status["last_failure"]["reason"]
        assert "the data partition is nearly full" in d.read_log()
        assert d.metric("babymonitor_recordings_failures_total") >= 1
        # The stopped clip is kept as far as it went; the stream plays on.
        assert finished(d), clips(d)
        out = ffprobe(d.rtsp_with_creds(f"rtsp://127.0.0.1:{d.rtsp_port}/stream"))
        assert "h264" in out
    finally:
        d.stop()
        subprocess.run(["umount", str(data)], check=False)
