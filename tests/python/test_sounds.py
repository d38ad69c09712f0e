"""Lullabies, noises and uploaded clips over the HTTP API, heard on the simulated speaker."""

import socket
import ssl
import time

import httpx
import pytest

import speaker
from conftest import ADMIN, VIEWER, Daemon, running

C4, D4, E4, F4, G4, A4 = 261.63, 293.66, 329.63, 349.23, 392.0, 440.0


@pytest.fixture
def camera(tmp_path):
    yield from running(tmp_path, "[speaker]\nfade_s = 2\nmax_clip_mb = 2\n")


def api(camera, method, path, creds=ADMIN, **kw):
    return httpx.request(method, f"{camera.https_base}{path}",
                         auth=httpx.DigestAuth(*creds), timeout=30, **kw)


def wait_idle(camera, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = api(camera, "GET", "/api/audio").json()
        if status["playing"] is None and not status["audible"]:
            return status
        time.sleep(0.2)
    raise AssertionError("still playing")


def melody(path):
    """The pitches heard, in order, repeats merged."""
    notes = []
    for _, f, _ in speaker.windows(path, 0.1):
        for name, target in (("C4", C4), ("D4", D4), ("E4", E4), ("F4", F4), ("G4", G4), ("A4", A4)):
            if speaker.near(f, target, 40):
                if not notes or notes[-1] != name:
                    notes.append(name)
    return notes


def test_a_lullaby_plays_its_notes_in_order_and_the_sleep_timer_fades_it(camera):
    r = api(camera, "POST", "/api/clips/lullaby-twinkle/play?timer=8")
    assert r.status_code == 200, r.text
    assert r.json()["playing"]["token"] == "lullaby-twinkle"
    camera.wait_for(lambda: api(camera, "GET", "/api/audio").json()["playing"]["timer_left_s"] <= 7, "the timer stands")
    assert api(camera, "GET", "/api/audio").json()["playing"]["timer_left_s"] <= 7
    wait_idle(camera)
    wav = camera.tmp / "data" / "speaker.wav"
    # Twinkle, twinkle, little star, how I won-(der): C C G G A A G F F E ...
    assert melody(wav)[:5] == ["C4", "G4", "A4", "G4", "F4"], melody(wav)
    w = speaker.windows(wav, 0.1)
    loud = [x for x in w if x[2] > 0.005]
    end = loud[-1][0]
    assert 7.0 <= end <= 9.0, f"the timer ended it after {end} s"
    before_fade = max(x[2] for x in w if end - 3.5 < x[0] < end - 2.2)
    in_fade = max(x[2] for x in w if end - 0.6 < x[0] <= end)
    assert in_fade < before_fade / 2, (before_fade, in_fade)


def test_noise_plays_until_stopped(camera):
    assert api(camera, "POST", "/api/clips/pink-noise/play?loop=true&volume=50").status_code == 200
    camera.wait_for(lambda: api(camera, "GET", "/api/audio").json()["audible"], "not audible")
    status = api(camera, "GET", "/api/audio").json()
    assert status["playing"]["token"] == "pink-noise" and status["audible"], status
    metrics = api(camera, "GET", "/metrics").text
    assert 'babymonitor_speaker_playing{token="pink-noise"} 1' in metrics
    assert "babymonitor_speaker_audible 1" in metrics
    assert api(camera, "POST", "/api/audio/stop").json()["stopped"]["token"] == "pink-noise"
    wait_idle(camera, 5)


def test_clips_upload_play_and_a_bad_upload_changes_nothing(camera):
    r = api(camera, "POST", "/api/clips?name=Mum%20sings", content=speaker.tone_wav(660, 1.0))
    assert r.status_code == 201, r.text
    clip = r.json()
    assert clip["name"] == "Mum sings" and abs(clip["duration_s"] - 1.0) < 0.05
    token = clip["token"]
    for bad, why in [(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10, "damaged"),
                     (speaker.tone_wav(660, 10.0)[:16000], "truncated"),
                     (b"<html>not audio</html>", "not audio")]:
        r = api(camera, "PUT", f"/api/clips/{token}", content=bad)
        assert r.status_code == 422, (why, r.status_code, r.text)
        assert r.json()["error"], why
    r = api(camera, "POST", "/api/clips?name=junk", content=b"ID3 but not really")
    assert r.status_code == 422
    names = [c["name"] for c in api(camera, "GET", "/api/clips").json()]
    assert "junk" not in names and "Mum sings" in names
    # The good clip still plays, twice.
    assert api(camera, "POST", f"/api/clips/{token}/play?repeat=2").status_code == 200
    wait_idle(camera)
    heard = [x for x in speaker.windows(camera.tmp / "data" / "speaker.wav") if speaker.near(x[1], 660)]
    assert len(heard) >= 17, len(heard)
    # A viewer may listen to the list but not change it.
    assert api(camera, "GET", "/api/clips", creds=VIEWER).status_code == 200
    assert api(camera, "DELETE", f"/api/clips/{token}", creds=VIEWER).status_code == 403
    assert api(camera, "DELETE", f"/api/clips/{token}").status_code == 200
    assert api(camera, "POST", f"/api/clips/{token}/play").status_code == 404
    assert api(camera, "DELETE", "/api/clips/white-noise").status_code == 403


def test_clips_and_volumes_survive_a_restart(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        r = api(d, "POST", "/api/clips?name=Kept", content=speaker.tone_wav(500, 0.5))
        assert r.status_code == 201
        assert api(d, "POST", "/api/audio/volume?master=33&music=44").json()["volume"] == 33
        assert api(d, "POST", "/api/audio/volume?master=101").status_code == 400
    finally:
        d.stop()
    d = Daemon(tmp_path).start()
    try:
        clips = [c for c in api(d, "GET", "/api/clips").json() if not c["builtin"]]
        assert [(c["name"], c["playable"]) for c in clips] == [("Kept", True)]
        status = api(d, "GET", "/api/audio").json()
        assert (status["volume"], status["music_volume"], status["talk_volume"]) == (33, 44, 100)
    finally:
        d.stop()


def raw_post(camera, path, headers, body_chunks):
    """A POST written by hand, with a Digest answer to the camera's challenge. The reply is
    read while the body is still going out, as a browser would."""
    import threading
    r = httpx.get(f"https://127.0.0.1:{camera.https_port}/api/clips")
    challenge = r.headers.get_list("www-authenticate")[0]
    auth = speaker.digest("POST", path, challenge, *ADMIN)
    s = ssl.create_default_context().wrap_socket(
        socket.create_connection(("127.0.0.1", camera.https_port), timeout=20), server_hostname="127.0.0.1")
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(head.encode())
    reply = bytearray()

    def read():
        try:
            while b"\r\n\r\n" not in reply:
                data = s.recv(4096)
                if not data:
                    return
                reply.extend(data)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    sent = 0
    try:
        for chunk in body_chunks:
            if reply:
                break
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    reader.join(20)
    s.close()
    return bytes(reply).decode(errors="replace"), sent


def test_a_huge_upload_is_refused_early_and_fills_no_disk(camera):
    # Declared 2 GB: refused before the body is read.
    reply, _ = raw_post(camera, "/api/clips?name=huge", {"Content-Length": str(2 << 30)}, [])
    assert reply.startswith("HTTP/1.1 413"), reply
    # Chunked with no length: cut off once past the limit (2 MB here), not at 2 GB.
    chunk = b"RIFF" + b"\0" * (64 * 1024 - 4)
    framed = (b"%x\r\n" % len(chunk)) + chunk + b"\r\n"
    reply, sent = raw_post(camera, "/api/clips?name=huge", {"Transfer-Encoding": "chunked"},
                           (framed for _ in range((2 << 30) // len(chunk))))
    assert "413" in reply.split("\r\n")[0], reply
    assert sent < 64 << 20, f"the camera read {sent} bytes before refusing"
    used = sum(f.stat().st_size for f in (camera.tmp / "data" / "clips").iterdir())
    assert used < 1 << 20, used
    assert [c for c in api(camera, "GET", "/api/clips").json() if not c["builtin"]] == []


def test_concurrent_plays_leave_one_playing(camera):
    import concurrent.futures
    tokens = ["white-noise", "pink-noise", "brown-noise", "lullaby-brahms"] * 3
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda t: api(camera, "POST", f"/api/clips/{t}/play").status_code, tokens))
    assert codes == [200] * len(tokens)
    status = api(camera, "GET", "/api/audio").json()
    assert status["playing"]["token"] in tokens
    api(camera, "POST", "/api/audio/stop")
    wait_idle(camera, 5)
