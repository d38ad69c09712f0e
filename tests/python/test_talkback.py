"""ONVIF talk-back as NVRs do it: GStreamer's rtspsrc backchannel=onvif sends a tone, and the
simulated speaker plays it. Two clients at once: the first is heard, the second waits its
turn, and both keep getting the picture."""

import json
import subprocess
from pathlib import Path

import pytest

import speaker
from conftest import VIEWER, ffprobe, running
from test_talkback_hostile import REQUIRE, RawRtsp

CLIENT = Path(__file__).with_name("talkback_client.py")
OPERATOR = ("nanny", "nanny-pass-3")
GST_PYTHON = "/usr/bin/python3"


def talk(daemon, freq, seconds, delay=1.0, linger=1.0, codec="PCMU", path="/stream", creds=None):
    url = f"rtsp://127.0.0.1:{daemon.rtsp_port}{path}"
    url = daemon.rtsp_with_creds(url, creds) if creds else daemon.rtsp_with_creds(url)
    return subprocess.Popen(
        [GST_PYTHON, str(CLIENT), url, str(freq), str(seconds), str(delay), str(linger), codec],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def result(proc):
    out, _ = proc.communicate(timeout=90)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def camera(tmp_path):
    yield from running(tmp_path)


def wav(daemon) -> Path:
    return daemon.tmp / "data" / "speaker.wav"


def test_the_speaker_plays_what_the_nvr_says(camera):
    got = result(talk(camera, 440, 3))
    assert got["errors"] == [], got
    assert got["backchannel"] is not None, "no a=sendonly stream offered"
    assert "PCMU" in got["caps"], got["caps"]
    assert got["pushed"] >= 140, got
    assert got["video"] > 20, "the picture kept coming while talking"
    heard = [w for w in speaker.windows(wav(camera)) if speaker.near(w[1], 440)]
    # 3 s sent; allow for the jitter buffer and a busy machine.
    assert len(heard) >= 24, (len(heard), speaker.windows(wav(camera))[:40])


@pytest.fixture
def with_operator(tmp_path):
    yield from running(tmp_path, f"""[[users]]
name = "{OPERATOR[0]}"
password = "{OPERATOR[1]}"
role = "operator"
""")


def test_a_watch_only_account_is_not_heard_in_the_nursery(with_operator):
    """The speaker is in the nursery: as with the page's push-to-talk, only an operator or
    admin talks. A viewer's request for the backchannel is refused with 403; it still
    watches without it."""
    camera = with_operator
    url = f"rtsp://127.0.0.1:{camera.rtsp_port}/stream"
    viewer = RawRtsp(camera.rtsp_port, VIEWER)
    status, _, _ = viewer.request("DESCRIBE", url, [("Accept", "application/sdp"), REQUIRE])
    assert status == 403
    status, _, _ = viewer.request("SETUP", f"{url}/stream=2", [
        ("Transport", "RTP/AVP/TCP;unicast;interleaved=4-5"), REQUIRE])
    assert status == 403
    status, _, sdp = viewer.request("DESCRIBE", url, [("Accept", "application/sdp")])
    assert status == 200 and "a=sendonly" not in sdp, sdp
    assert "h264" in ffprobe(camera.rtsp_with_creds(url, VIEWER))
    # GStreamer's talk-back client as the viewer gets nowhere, and its tone is not heard.
    got = result(talk(camera, 660, 3, creds=VIEWER))
    assert got["pushed"] == 0 and got["errors"], got
    assert not [w for w in speaker.windows(wav(camera)) if speaker.near(w[1], 660)], \
        "the viewer's tone reached the speaker"
    # An operator, right after, is heard: the speaker itself works.
    assert result(talk(camera, 440, 3, creds=OPERATOR))["pushed"] >= 140
    assert len([w for w in speaker.windows(wav(camera)) if speaker.near(w[1], 440)]) >= 24


def test_one_talks_at_a_time_and_both_keep_watching(camera):
    first = talk(camera, 440, 3, delay=1.0, linger=6.0)
    second = talk(camera, 880, 8, delay=1.5, linger=1.0, path="/sub")
    a, b = result(first), result(second)
    for got in (a, b):
        assert got["errors"] == [] and got["backchannel"] is not None, got
        assert got["video"] > 20, got
    w = speaker.windows(wav(camera))
    at_440 = [i for i, x in enumerate(w) if speaker.near(x[1], 440)]
    at_880 = [i for i, x in enumerate(w) if speaker.near(x[1], 880)]
    assert len(at_440) >= 24, "the first talker was heard"
    assert at_880, "the second talker got the floor once the first stopped"
    assert max(at_440) < min(at_880), "never both at once: the second waited"


def test_the_speaker_plays_a_law_from_a_client_that_sends_pcma(camera):
    got = result(talk(camera, 440, 3, codec="PCMA"))
    assert got["errors"] == [], got
    assert got["offered"] == ["PCMU", "PCMA", "MPEG4-GENERIC"], got
    assert "PCMA" in got["caps"] and "payload=(int)8" in got["caps"], got["caps"]
    assert got["pushed"] >= 140, got
    assert got["video"] > 20, "the picture kept coming while talking"
    heard = [w for w in speaker.windows(wav(camera)) if speaker.near(w[1], 440)]
    assert len(heard) >= 24, (len(heard), speaker.windows(wav(camera))[:40])


def test_the_speaker_plays_aac_from_a_client_that_sends_aac(camera):
    got = result(talk(camera, 440, 3, codec="MPEG4-GENERIC"))
    assert got["errors"] == [], got
    assert "MPEG4-GENERIC" in got["caps"] and "payload=(int)96" in got["caps"], got["caps"]
    # 3 s of 1024-sample frames at 16 kHz
    assert got["pushed"] >= 40, got
    assert got["video"] > 20, "the picture kept coming while talking"
    heard = [w for w in speaker.windows(wav(camera)) if speaker.near(w[1], 440)]
    assert len(heard) >= 24, (len(heard), speaker.windows(wav(camera))[:40])


def test_an_unsupported_payload_is_not_played_and_breaks_nothing(camera):
    # G.722 (payload type 9) was never offered: the camera must not guess at it.
    got = result(talk(camera, 440, 2, codec="G722"))
    assert got["errors"] == [] and got["video"] > 20 and got["pushed"] > 50, got
    w = speaker.windows(wav(camera)) if wav(camera).stat().st_size > 44 else []
    assert not [x for x in w if speaker.near(x[1], 440)], "an unoffered payload type is not played"
    # The backchannel still works afterwards.
    got = result(talk(camera, 440, 2))
    assert [x for x in speaker.windows(wav(camera)) if speaker.near(x[1], 440)]


def level_at(path, freq, start, end):
    """Mean FFT magnitude at `freq` over the windows between start and end seconds."""
    import numpy as np
    rate, x = speaker.read(path)
    out = []
    n = rate // 10
    for i in range(int(start * rate), int(end * rate) - n, n):
        w = x[i:i + n] * np.hanning(n)
        spectrum = np.abs(np.fft.rfft(w, n=rate))
        out.append(spectrum[int(freq) - 3:int(freq) + 4].max())
    return float(np.mean(out)) if out else 0.0


def test_talking_ducks_the_music(camera):
    import httpx
    from conftest import ADMIN
    base = camera.https_base
    auth = httpx.DigestAuth(*ADMIN)
    r = httpx.post(f"{base}/api/clips?name=hum", content=speaker.tone_wav(660, 2.0), auth=auth, timeout=30)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert httpx.post(f"{base}/api/clips/{token}/play?loop=true", auth=auth).status_code == 200
    # Music alone for 2 s, then 3 s of talk, then music alone again.
    got = result(talk(camera, 440, 3, delay=2.0, linger=4.5))
    assert got["errors"] == [] and got["pushed"] > 100, got
    httpx.post(f"{base}/api/audio/stop", auth=auth)
    w = speaker.windows(wav(camera))
    talk_times = [t for t, f, _ in w if speaker.near(f, 440)]
    assert talk_times, "the talker was heard over the music"
    t0, t1 = talk_times[0], talk_times[-1]
    before = level_at(wav(camera), 660, 0.3, t0 - 0.3)
    during = level_at(wav(camera), 660, t0 + 0.5, t1 - 0.2)
    after = level_at(wav(camera), 660, t1 + 2.5, t1 + 3.8)
    # duck_percent = 20: the music drops to a fifth while someone talks, and comes back once
    # the talker has been quiet for the floor's 1.5 s.
    assert during < before * 0.35, (before, during)
    assert after > before * 0.7, (before, after)
