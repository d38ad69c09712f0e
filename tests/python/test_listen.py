"""The listen stream a phone plays with its screen off (GET /api/listen.aac): real clients
(ffprobe, ffmpeg, a raw TLS socket) against the real daemon and its simulated microphone."""

import json
import math
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from array import array
from urllib.parse import quote

import httpx
import pytest

from conftest import ADMIN, TEST_TLS, VIEWER, Daemon, binary, running

RATE = 16000


def login(d, creds=ADMIN) -> str:
    """The page's session cookie for `creds`."""
    r = httpx.post(f"{d.https_base}/api/login", json={"user": creds[0], "password": creds[1]}, timeout=10)
    assert r.status_code == 200, r.text
    return r.cookies["bm_session"]


def url(d, creds=None) -> str:
    if creds is None:
        return f"{d.https_base}/api/listen.aac"
    user, password = (quote(c, safe="") for c in creds)
    return f"https://{user}:{password}@127.0.0.1:{d.https_port}/api/listen.aac"


def simulate(d, **sound):
    r = httpx.put(f"{d.https_base}/api/simulate/sound", json=sound, auth=httpx.DigestAuth(*ADMIN), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def put_listen(d, body, creds=ADMIN):
    return httpx.put(f"{d.https_base}/api/listen", json=body, auth=httpx.DigestAuth(*creds), timeout=10)


def status(d):
    return httpx.get(f"{d.https_base}/api/status", auth=httpx.DigestAuth(*ADMIN), timeout=10).json()


def listen_pcm(d, cookie: str, seconds: float) -> array:
    """`seconds` of the listen stream as a listener hears it: decoded by ffmpeg to 16 kHz PCM."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-headers", f"Cookie: bm_session={cookie}\r\n", "-rw_timeout", "10000000",
         "-i", url(d), "-t", str(seconds), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
        capture_output=True, timeout=seconds + 30,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    pcm = array("h")
    pcm.frombytes(out.stdout)
    assert len(pcm) >= RATE * seconds * 0.9, f"{len(pcm) / RATE:.1f} s decoded of {seconds}"
    return pcm


def db(samples) -> float:
    """RMS level in dBFS (a full-scale sine is 0), as the camera's detector measures it."""
    if not samples:
        return -200.0
    ms = sum(s * s for s in samples) / len(samples) / 32768.0**2
    return 10 * math.log10(max(ms, 1e-20)) + 3


def slices(pcm, ms=100):
    n = RATE * ms // 1000
    return [db(pcm[i:i + n]) for i in range(0, len(pcm) - n + 1, n)]


@pytest.fixture
def room(tmp_path):
    yield from running(tmp_path, "[media]\nrestart_backoff_max_s = 2\n[sound]\nenabled = true\nhold_s = 3.0\n")


def test_ffprobe_reads_the_listen_stream_with_a_login_or_the_page_cookie(room):
    for args in (
        [url(room, ADMIN)],
        ["-headers", f"Cookie: bm_session={login(room, VIEWER)}\r\n", url(room)],
    ):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-rw_timeout", "10000000", "-show_entries",
             "stream=codec_name,sample_rate,channels", "-of", "json", *args],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        stream = json.loads(out.stdout)["streams"][0]
        assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("aac", "16000", 1)
    with httpx.stream("GET", url(room), headers={"Cookie": f"bm_session={login(room)}"}, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "audio/aac"
        assert r.headers["cache-control"] == "no-store"


def test_no_or_a_wrong_login_gets_401(room):
    assert httpx.get(url(room), timeout=10).status_code == 401
    with httpx.stream("GET", url(room), auth=httpx.DigestAuth(ADMIN[0], "wrong password"), timeout=10) as r:
        assert r.status_code == 401
    r = httpx.get(url(room), headers={"Cookie": "bm_session=forged"}, timeout=10)
    assert r.status_code == 401
    out = subprocess.run(["ffprobe", "-v", "error", "-rw_timeout", "10000000", url(room, (ADMIN[0], "nope"))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "401" in out.stderr, out.stderr


def test_a_listener_hears_the_rooms_tick_and_a_cry(room):
    cookie = login(room)
    pcm = listen_pcm(room, cookie, 4)
    loud = [i for i, level in enumerate(slices(pcm)) if level > -35]
    quiet = [level for level in slices(pcm) if level < -60]
    # A tick a second: loud slices in runs about ten slices (1 s) apart, silence between.
    starts = [i for i in loud if i - 1 not in loud]
    assert len(starts) >= 3, slices(pcm)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(9 <= g <= 11 for g in gaps), (gaps, slices(pcm))
    assert len(quiet) > len(loud), slices(pcm)
    assert status(room)["sound"]["detected"] is False
    simulate(room, cry_s=10)
    pcm = listen_pcm(room, cookie, 3)
    assert db(pcm) > -30, slices(pcm)
    # The camera's own detector takes it for crying, as it would a baby's.
    room.wait_for(lambda: status(room)["sound"]["detected"], "the cry detected", timeout=15)


def test_the_simulated_microphone_fails_and_listeners_hear_the_stand_in(room):
    cookie = login(room)
    simulate(room, failing=True)
    room.wait_for(lambda: room.metric('babymonitor_capture_stand_in{source="audio"}') == 1, "the stand-in")
    pcm = listen_pcm(room, cookie, 2)
    assert db(pcm) < -80, "silence stands in"
    simulate(room, failing=False)
    room.wait_for(lambda: room.metric('babymonitor_capture_stand_in{source="audio"}') == 0, "the microphone back")
    assert max(slices(listen_pcm(room, cookie, 2))) > -35, "the tick is back"


def test_bad_settings_and_simulations_are_refused_naming_the_field(room):
    for body, field in [
        ({"gate": {"threshold_db": 0.1}}, "gate.threshold_db"),
        ({"gate": {"threshold_db": "loud"}}, "gate.threshold_db"),
        ({"gate": {"hold_s": 1000}}, "gate.hold_s"),
        ({"gate": {"enabled": "yes"}}, "gate.enabled"),
        ({"gate": {"level": 3}}, "gate.level"),
        ({"volume": 3}, "volume"),
    ]:
        r = put_listen(room, body)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (body, r.text)
    assert put_listen(room, {"gate": {"enabled": False}}, creds=VIEWER).status_code == 403
    for body, field in [({"noise_db": 10}, "noise_db"), ({"cry_s": -1}, "cry_s"), ({"failing": 1}, "failing"),
                        ({"sing": True}, "sing")]:
        r = httpx.put(f"{room.https_base}/api/simulate/sound", json=body, auth=httpx.DigestAuth(*ADMIN), timeout=10)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (body, r.text)
    r = httpx.put(f"{room.https_base}/api/simulate/sound", json={"cry_s": 1}, auth=httpx.DigestAuth(*VIEWER), timeout=10)
    assert r.status_code == 403


def test_gate_settings_are_partial_and_kept_across_a_restart(room):
    r = put_listen(room, {"gate": {"threshold_db": 15}})
    assert r.status_code == 200, r.text
    assert r.json()["gate"] == {"enabled": True, "threshold_db": 15.0, "hold_s": 2.0}
    assert put_listen(room, {"gate": {"enabled": False}}).json()["gate"]["threshold_db"] == 15.0
    room.stop()
    room.start()
    got = httpx.get(f"{room.https_base}/api/listen", auth=httpx.DigestAuth(*VIEWER), timeout=10).json()
    assert got["gate"] == {"enabled": False, "threshold_db": 15.0, "hold_s": 2.0}
    assert (got["max_listeners"], got["bitrate_kbps"], got["sample_rate"]) == (20, 32, 16000)


def test_the_noise_gate_keeps_steady_room_noise_out_and_lets_a_cry_through(tmp_path):
    # Sound alerts are off here: the gate still has the detector's measure of the room, taken
    # from the moment the first listener starts the microphone (steady pink noise at a room's
    # level, no tick).
    for d in running(tmp_path, "[media]\nrestart_backoff_max_s = 2\n"):
        simulate(d, tick=False, noise_db=-40)
        cookie = login(d)
        pcm = listen_pcm(d, cookie, 3)
        assert db(pcm) < -70, ("the fan is not heard", slices(pcm))
        floor = status(d)["sound"]["noise_floor_db"]
        assert -44 < floor < -38, floor
        assert room_metric(d, "babymonitor_listen_gate_open") == 0
        simulate(d, cry_s=10)
        time.sleep(0.5)
        pcm = listen_pcm(d, cookie, 3)
        assert db(pcm) > -30, ("the cry is", slices(pcm))
        # With the gate off the room's noise passes, at its level.
        simulate(d, cry_s=0)
        assert put_listen(d, {"gate": {"enabled": False}}).status_code == 200
        pcm = listen_pcm(d, cookie, 3)
        assert -46 < db(pcm) < -34, slices(pcm)


def room_metric(d, name):
    return d.metric(name)


def read_some(chunks, n=200):
    """At least `n` bytes from an iterator over a response's body (left open: breaking out of
    httpx's own loop would close the response)."""
    got = b""
    while len(got) < n:
        got += next(chunks)
    return got


def test_twenty_listeners_are_served_and_the_twenty_first_refused(room):
    cookie = {"Cookie": f"bm_session={login(room)}"}
    client = httpx.Client(limits=httpx.Limits(max_connections=40), timeout=20)
    streams = []
    try:
        for _ in range(20):
            s = client.stream("GET", url(room), headers=cookie)
            streams.append((s, s.__enter__()))
            assert streams[-1][1].status_code == 200
        readers = [r.iter_bytes() for _, r in streams]
        for chunks in readers:
            # Every one of them gets sound (ADTS frames start with the 0xFFF sync word).
            data = read_some(chunks)
            assert data[:2] in (b"\xff\xf1", b"\xff\xf9"), data[:8]
        assert status(room)["listen"]["listeners"] == 20
        assert room.metric("babymonitor_listeners") == 20
        r = client.get(url(room), headers=cookie)
        assert r.status_code == 503
        assert "20 phones are listening already" in r.json()["error"]
        assert int(r.headers["retry-after"]) > 0
        assert room.metric("babymonitor_listeners_refused_total") == 1
    finally:
        for s, _ in streams:
            s.__exit__(None, None, None)
        client.close()
    room.wait_for(lambda: status(room)["listen"]["listeners"] == 0, "the places given back")
    assert room.metric("babymonitor_listeners_total") == 20
    # Nobody listens: the listen encoder's valve is closed and it encodes nothing.
    time.sleep(0.5)
    frames = room.metric("babymonitor_listen_frames_total")
    time.sleep(1.5)
    assert room.metric("babymonitor_listen_frames_total") == frames


def rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise KeyError("VmRSS")


STALL_S = 3


def test_a_listener_that_stops_reading_is_dropped_and_memory_does_not_grow(tmp_path):
    extra = f"[media]\nrestart_backoff_max_s = 2\n[listen]\nstall_s = {STALL_S}\n[listen.gate]\nenabled = false\n"
    for d in running(tmp_path, extra):
        # Loud room noise: the encoder makes its full 32 kbit/s (silence costs almost nothing).
        simulate(d, noise_db=-20, tick=False)
        cookie = login(d)
        sock = socket.socket()
        # A phone's receive buffer is its own; this test keeps its own small so that what is
        # measured is how soon the camera sees that nobody reads.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", d.https_port))
        tls = ssl.create_default_context(cafile=str(TEST_TLS / "device.crt")).wrap_socket(sock, server_hostname="localhost")
        tls.sendall(f"GET /api/listen.aac HTTP/1.1\r\nHost: localhost\r\nCookie: bm_session={cookie}\r\n\r\n".encode())
        head = tls.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
        # A healthy listener alongside, which must keep its sound.
        with httpx.stream("GET", url(d), headers={"Cookie": f"bm_session={cookie}"}, timeout=20) as healthy:
            assert healthy.status_code == 200
            chunks = healthy.iter_bytes()
            next(chunks)
            rss_before = rss_kb(d.proc.pid)
            stopped = time.time()
            # ... and now the first one reads nothing more.
            while d.metric("babymonitor_listeners_dropped_total") < 1:
                assert time.time() - stopped < STALL_S + 12, "the stalled listener is still there"
                time.sleep(0.2)
                next(chunks)
            took = time.time() - stopped
            assert d.metric("babymonitor_listeners") == 1, "the healthy one stays"
            assert status(d)["listen"]["listeners"] == 1
            got = 0
            for chunk in chunks:
                got += len(chunk)
                if got > 4000:
                    break
            assert got > 4000, "the healthy listener still hears the room"
            growth = rss_kb(d.proc.pid) - rss_before
        # Its connection is closed: what was buffered drains, then the end.
        tls.settimeout(10)
        drained = 0
        while True:
            try:
                data = tls.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not data:
                break
            drained += len(data)
        tls.close()
        print(f"dropped {took:.1f} s after it stopped reading (stall_s {STALL_S}); {drained} bytes were buffered; RSS {growth:+} KiB")
        assert growth < 4096, f"RSS grew by {growth} KiB"


VANISH = """
import socket, ssl, subprocess, sys, time
port, cookie, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
t = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
t.sendall(f"GET /api/listen.aac HTTP/1.1\\r\\nHost: localhost\\r\\nCookie: bm_session={cookie}\\r\\n\\r\\n".encode())
assert t.recv(4096).startswith(b"HTTP/1.1 200")
mine = t.getsockname()[1]
# The phone leaves the Wi-Fi: nothing reaches it and nothing comes back (in this namespace only).
for rule in ("add table inet vanish", "add chain inet vanish out { type filter hook output priority 0 ; }",
             f"add rule inet vanish out tcp dport {mine} drop", f"add rule inet vanish out tcp sport {mine} drop"):
    subprocess.run(["nft", rule], check=True)
print(time.time(), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not (shutil.which("ip") and shutil.which("nft") and os.geteuid() == 0),
                    reason="needs root, ip and nft for a network namespace")
def test_a_phone_that_vanishes_from_the_network_is_dropped_within_stall_s(tmp_path):
    """The camera and the phone in a network namespace of their own, where the phone's packets
    are then dropped: no acknowledgement comes back, and the socket gives up after stall_s."""
    ns = f"bm-listen-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    d = Daemon(tmp_path, f"[listen]\nstall_s = {STALL_S}\n")
    proc = client = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        tls = tmp_path / "data" / "tls"
        tls.mkdir(parents=True)
        for name in ("device.crt", "device.key"):
            (tls / name).write_bytes((TEST_TLS / name).read_bytes())
        (tmp_path / "config.toml").write_text(d.config())
        proc = subprocess.Popen(["ip", "netns", "exec", ns, binary(), "--simulate", "--config", str(tmp_path / "config.toml")],
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / "daemon.log", "ab"))
        inside = ["ip", "netns", "exec", ns, sys.executable, "-c"]
        call = """
import httpx, json, sys
base, what = sys.argv[1], sys.argv[2]
auth = httpx.DigestAuth("%s", "%s")
if what == "login":
    print(httpx.post(base + "/api/login", json={"user": "%s", "password": "%s"}).cookies["bm_session"])
elif what == "noise":
    httpx.put(base + "/api/simulate/sound", json={"noise_db": -20, "tick": False}, auth=auth).raise_for_status()
else:
    print(json.dumps([l for l in httpx.get(base + "/metrics", auth=auth).text.splitlines() if l.startswith("babymonitor_listeners")]))
""" % (ADMIN[0], ADMIN[1], ADMIN[0], ADMIN[1])
        env = {**os.environ, "SSL_CERT_FILE": str(TEST_TLS / "device.crt")}

        def ask(what):
            out = subprocess.run(inside + [call, d.https_base, what], capture_output=True, text=True, timeout=20, env=env)
            assert out.returncode == 0, out.stderr + (tmp_path / "daemon.log").read_text()
            return out.stdout.strip()

        deadline = time.time() + 20
        while subprocess.run(inside + ["import socket; socket.create_connection(('127.0.0.1', %d), timeout=0.5)" % d.https_port],
                             capture_output=True).returncode != 0:
            assert time.time() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
        ask("noise")
        cookie = ask("login")
        client = subprocess.Popen(inside + [VANISH, str(d.https_port), cookie, str(TEST_TLS / "device.crt")],
                                  stdout=subprocess.PIPE, text=True)
        gone = float(client.stdout.readline())
        while "babymonitor_listeners_dropped_total 1" not in ask("metrics"):
            assert time.time() - gone < STALL_S + 5, ask("metrics")
            time.sleep(0.2)
        took = time.time() - gone
        assert "babymonitor_listeners 0" in ask("metrics")
        print(f"the vanished phone was dropped {took:.1f} s after it left (stall_s {STALL_S})")
        assert took >= STALL_S - 0.5, "not before stall_s"
    finally:
        for p in (client, proc):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", ns])
