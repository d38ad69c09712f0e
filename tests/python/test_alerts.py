"""Alerts as a parent's phone gets them: each user's rules on the camera (`/api/alerts`), and
the alerts and heartbeats on the page's event stream (`/api/events`), from a real daemon
hearing a recorded cry or losing its microphone."""

import json
import math
import statistics
import threading
import time

import httpx

from conftest import ADMIN, VIEWER, Daemon
from test_events import quiet, write_wav

NANNY = ("nanny", "nanny-pass-3")

DEFAULTS = {
    "cry": {"enabled": True, "sound": True, "vibrate": True, "notify": True},
    "motion": {"enabled": False, "sound": True, "vibrate": False, "notify": True},
    "climate": {"enabled": True, "sound": True, "vibrate": True, "notify": True},
    "microphone": {"enabled": True, "sound": True, "vibrate": True, "notify": True},
    "link": {"enabled": True, "sound": True, "vibrate": True, "notify": True},
    "link_alarm_s": 10,
    "sleep_training": {"enabled": False, "delay_s": 300, "cooldown_s": 600, "from": "19:00", "to": "07:00"},
}


def cry(t):
    """Wails of 0.9 s at a wavering 420-520 Hz with harmonics, a breath of 0.4 s between, that
    keep their pitch however long they last (the phase is the integral of the wavering pitch;
    test_events' cry, whose pitch term is multiplied by t, glides out of a baby's range after
    some seconds, which the detector rightly stops calling crying)."""
    cycle = t % 1.3
    if cycle > 0.9:
        return 0.0
    phase = 2 * math.pi * (470 * t - 50 / 3 * math.cos(3 * t))
    envelope = math.sin(cycle / 0.9 * math.pi)
    return 0.3 * envelope * (math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase))


class ThreeUsers(Daemon):
    """The test daemon with a third account, a nanny's."""

    def config(self) -> str:
        return super().config() + f'[[users]]\nname = "{NANNY[0]}"\npassword = "{NANNY[1]}"\nrole = "user"\n'


def api(daemon, method, path, creds, **kw):
    return httpx.request(method, f"{daemon.https_base}{path}", auth=httpx.DigestAuth(*creds), timeout=10, **kw)


def rules(daemon, creds):
    r = api(daemon, "GET", "/api/alerts", creds)
    assert r.status_code == 200, r.text
    return r.json()


def put_rules(daemon, creds, body):
    r = api(daemon, "PUT", "/api/alerts", creds, json=body)
    assert r.status_code == 200, r.text
    return r.json()


class Stream:
    """One user's `/api/events`, read in a thread: every event with the time it came."""

    def __init__(self, daemon, creds):
        self.events = []
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(daemon, creds), daemon=True)
        self._thread.start()

    def _read(self, daemon, creds):
        try:
            with httpx.stream("GET", f"{daemon.https_base}/api/events", auth=httpx.DigestAuth(*creds),
                              timeout=httpx.Timeout(10.0)) as r:
                assert r.status_code == 200, r.status_code
                name = None
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        name = line.partition(":")[2].strip()
                    elif line.startswith("data:") and name:
                        self.events.append((time.monotonic(), name, json.loads(line.partition(":")[2])))
                        name = None
        except Exception as e:  # noqa: BLE001 (reported by the test that reads this stream)
            if not self._stop.is_set():
                self.error = e

    def of(self, name):
        return [(t, data) for t, n, data in list(self.events) if n == name]

    def alerts(self):
        return [(t, a) for t, a in self.of("alert")]

    def wait(self, check, what, timeout):
        deadline = time.monotonic() + timeout
        while not check():
            assert self.error is None, f"{what}: the stream failed: {self.error!r}"
            assert time.monotonic() < deadline, f"{what} after {timeout} s: {self.events[-5:]}"
            time.sleep(0.1)

    def close(self):
        self._stop.set()


def test_each_user_keeps_their_own_rules_validated_and_across_a_restart(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        assert rules(d, ADMIN) == DEFAULTS
        assert rules(d, VIEWER) == DEFAULTS
        mine = json.loads(json.dumps(DEFAULTS))
        mine["cry"]["vibrate"] = False
        mine["motion"]["enabled"] = True
        mine["link_alarm_s"] = 25
        mine["sleep_training"] = {"enabled": True, "delay_s": 120, "cooldown_s": 900, "from": "20:30", "to": "06:45"}
        assert put_rules(d, VIEWER, mine) == mine
        assert rules(d, VIEWER) == mine
        # The admin's are their own: unchanged by the viewer's, and changing them leaves the viewer's.
        assert rules(d, ADMIN) == DEFAULTS
        theirs = json.loads(json.dumps(DEFAULTS))
        theirs["climate"]["enabled"] = False
        put_rules(d, ADMIN, theirs)
        assert rules(d, VIEWER) == mine

        for body, field in [
            ({"link_alarm_s": 1}, "link_alarm_s"),
            ({"link_alarm_s": 121}, "link_alarm_s"),
            ({"link_alarm_s": "ten"}, "link_alarm_s"),
            ({"sleep_training": {"delay_s": 3601}}, "sleep_training.delay_s"),
            ({"sleep_training": {"delay_s": -1}}, "sleep_training.delay_s"),
            ({"sleep_training": {"cooldown_s": 86401}}, "sleep_training.cooldown_s"),
            ({"sleep_training": {"from": "25:00"}}, "sleep_training.from"),
            ({"sleep_training": {"to": "7pm"}}, "sleep_training.to"),
            ({"cry": {"enabled": "yes"}}, "cry.enabled"),
            ({"cry": {"flash": True}}, "cry.flash"),
            ({"crying": {"enabled": True}}, "crying"),
        ]:
            r = api(d, "PUT", "/api/alerts", VIEWER, json=body)
            assert r.status_code == 400, (body, r.text)
            assert r.headers["content-type"] == "application/json"
            assert r.json()["field"] == field, (body, r.text)
            assert field in r.json()["error"], r.text
        r = api(d, "PUT", "/api/alerts", VIEWER, content=b"{not json")
        assert r.status_code == 400 and "error" in r.json(), r.text
        # Refusals changed nothing.
        assert rules(d, VIEWER) == mine
        # Nobody without a login.
        assert httpx.get(f"{d.https_base}/api/alerts", timeout=10).status_code == 401
    finally:
        d.stop()
    d.start()
    try:
        assert rules(d, VIEWER) == mine
        assert rules(d, ADMIN) == theirs
    finally:
        d.stop()


def test_a_cry_alerts_the_users_whose_rules_say_so_and_sleep_training_holds_it(tmp_path):
    # Quiet, a 10 s cry, quiet, a 40 s cry, quiet, another 40 s cry (within the cooldown), quiet.
    wav = tmp_path / "night.wav"
    write_wav(wav, [(8, quiet), (10, cry), (8, quiet), (40, cry), (8, quiet), (40, cry), (60, quiet)])
    d = ThreeUsers(tmp_path, f"""
[audio]
source = "file"
path = "{wav}"
[sound]
enabled = true
min_duration_s = 2.0
hold_s = 3.0
""")
    d.start()
    try:
        # The admin: every crying alerts (the default). The viewer: sleep training, all day.
        # The nanny: no crying alerts.
        put_rules(d, VIEWER, {"sleep_training": {"enabled": True, "delay_s": 30, "cooldown_s": 600,
                                                 "from": "00:00", "to": "00:00"}})
        put_rules(d, NANNY, {"cry": {"enabled": False}})
    finally:
        d.stop()
    # Started again, the recording plays from its start with the stored rules.
    d.start()
    streams = {}
    try:
        streams = {name: Stream(d, creds) for name, creds in
                   [("admin", ADMIN), ("viewer", VIEWER), ("nanny", NANNY)]}
        for s in streams.values():
            s.wait(lambda s=s: s.of("heartbeat"), "a first heartbeat", 10)
        admin, viewer, nanny = streams["admin"], streams["viewer"], streams["nanny"]
        admin.wait(lambda: len(admin.alerts()) >= 3, "three crying alerts for the admin", 150)
        third = admin.alerts()[2][0]
        # The third cry lasts 40 s: had the cooldown not held it, the viewer's alert would
        # come 30 s into it.
        while time.monotonic() < third + 36:
            time.sleep(0.5)

        got = {name: s.alerts() for name, s in streams.items()}
        assert [a["kind"] for _, a in got["admin"]] == ["cry"] * 3, got["admin"]
        assert got["nanny"] == [], got["nanny"]
        assert [a["kind"] for _, a in got["viewer"]] == ["cry"], got["viewer"]
        starts = [t for t, _ in got["admin"]]
        held = got["viewer"][0][0]
        # The viewer's came 30 s into the second (40 s) cry: not for the 10 s one, not for the third.
        assert 25 < held - starts[1] < 38, (held - starts[1], starts)
        assert held < starts[2]

        first = got["admin"][0][1]
        assert first["title"] and "crying" in first["body"]
        assert first["sound"] and first["vibrate"] and first["notify"]
        assert first["time"].endswith("Z") and isinstance(first["id"], int)
        assert len({a["id"] for name in got for _, a in got[name]}) == 4

        # A heartbeat every 2 s, saying the microphone works and nobody listens.
        beats = admin.of("heartbeat")
        gaps = [b[0] - a[0] for a, b in zip(beats, beats[1:])]
        assert len(beats) > 40, len(beats)
        assert 1.8 < statistics.median(gaps) < 2.2, gaps
        assert max(gaps) < 4, gaps
        assert all(b["mic_ok"] is True and b["listeners"] == 0 and b["time"].endswith("Z") for _, b in beats)
        assert d.metric('babymonitor_alerts_total{kind="cry"}') == 4
    finally:
        for s in streams.values():
            s.close()
        d.stop()


def test_a_failed_microphone_alerts_once_and_the_heartbeat_says_so(tmp_path):
    # The "microphone" plays a recording until it ends; the file is gone by then, so every
    # restart fails too and the silence stand-in takes over for good.
    wav = tmp_path / "mic.wav"
    write_wav(wav, [(10, quiet)])
    d = Daemon(tmp_path, f"""
[audio]
source = "raw"
pipeline = "filesrc location={wav} ! decodebin ! clocksync"
[sound]
enabled = true
""")
    d.start()
    streams = []
    try:
        streams = [Stream(d, ADMIN), Stream(d, VIEWER)]
        for s in streams:
            s.wait(lambda s=s: s.of("heartbeat"), "a first heartbeat", 8)
            assert s.of("heartbeat")[0][1]["mic_ok"] is True, s.events
        assert api(d, "GET", "/api/status", VIEWER).json()["microphone"] == {"ok": True}
        wav.unlink()
        for s in streams:
            s.wait(lambda s=s: s.alerts(), "a microphone alert", 30)
            s.wait(lambda s=s: any(not b["mic_ok"] for _, b in s.of("heartbeat")), "mic_ok false", 5)
        assert api(d, "GET", "/api/status", VIEWER).json()["microphone"] == {"ok": False}
        # The capture keeps retrying (and failing): still one alert each.
        time.sleep(10)
        for s in streams:
            kinds = [a["kind"] for _, a in s.alerts()]
            assert kinds == ["microphone"], kinds
            assert not s.of("heartbeat")[-1][1]["mic_ok"]
        assert "cannot hear" in streams[0].alerts()[0][1]["body"]
        assert d.metric('babymonitor_alerts_total{kind="microphone"}') == 2
    finally:
        for s in streams:
            s.close()
        d.stop()
