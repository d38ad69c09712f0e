"""The camera on an MQTT broker as Home Assistant sees it: a real mosquitto (password file, a
free loopback port), a paho-mqtt client in Home Assistant's place, the real daemon with its
simulated room. Discovery configs are checked against Home Assistant's rules (ha_discovery.py);
every topic is read from them, never written here. States follow the room, the microphone and
night mode; commands take effect (seen through /api/night, /api/audio and ONVIF); the broker
away at start, restarted mid-run, stalled; the daemon killed; bad input."""

import json
import re
import statistics
import subprocess
import threading
import time

import httpx
import pytest

from conftest import ADMIN, Daemon, free_port, onvif_call
from ha_discovery import availability_topics, check_all, expand, parse_topic
from mqtt_broker import CAMERA, HA, Broker, SlowSubscriber, StallingBroker, Watcher, brokers
from mqtt_broker import broker  # noqa: F401 (the fixture)

PREFIX = "homeassistant"
# Every entity the camera announces: object id -> component (the contract's names; the device
# id in between is read from the topics).
ENTITIES = {
    "cry": "binary_sensor", "motion": "binary_sensor", "too_hot": "binary_sensor",
    "too_cold": "binary_sensor", "too_dry": "binary_sensor", "too_humid": "binary_sensor",
    "sensor_failure": "binary_sensor", "night": "binary_sensor",
    "temperature": "sensor", "humidity": "sensor", "pressure": "sensor", "sound_level": "sensor",
    "night_mode": "select", "sound": "select", "stop": "button", "volume": "number",
    "snapshot": "camera", "alert": "event",
}
ALERT_KINDS = {"cry", "motion", "too_hot", "too_cold", "too_humid", "too_dry", "microphone"}
DECIMAL = re.compile(r"^-?\d+\.\d$")


def mqtt_toml(address: str, **over) -> str:
    keys = {"enabled": True, "broker": address, "user": CAMERA[0], "password": CAMERA[1],
            "snapshot_interval_s": 0, **over}
    return "[mqtt]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())


ROOM = """
[sensor]
interval_s = 1
[sound]
enabled = true
hold_s = 3.0
[motion]
enabled = true
[media]
restart_backoff_max_s = 2
"""


# --- the camera's HTTP side ---

def api(d, method, path, **kw):
    r = httpx.request(method, f"{d.https_base}{path}", auth=httpx.DigestAuth(*ADMIN), timeout=10, **kw)
    assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def status(d):
    return api(d, "GET", "/api/status")


def audio(d):
    return api(d, "GET", "/api/audio")


def mqtt_status(d):
    """/api/status "mqtt" with the contract's keys (the daemon adds last_error)."""
    got = status(d)["mqtt"]
    assert CAMERA[1] not in json.dumps(got), "never the password"
    return {k: got[k] for k in ("enabled", "connected", "broker")}


def night(d):
    return api(d, "GET", "/api/night")


def ir_cut(d) -> str:
    r = onvif_call(d, "imaging_service", "http://www.onvif.org/ver20/imaging/wsdl", "GetImagingSettings",
                   "<VideoSourceToken>vs</VideoSourceToken>")
    assert r.status_code == 200, r.text
    return re.search(r"<tt:IrCutFilter>(\w+)</tt:IrCutFilter>", r.text)[1]


def onvif_volume(d) -> int:
    r = onvif_call(d, "media_service", "http://www.onvif.org/ver10/media/wsdl", "GetAudioOutputConfiguration",
                   "<ConfigurationToken>speaker_config</ConfigurationToken>")
    assert r.status_code == 200, r.text
    return int(re.search(r"<tt:OutputLevel>(\d+)</tt:OutputLevel>", r.text)[1])


def tidy(d, undo):
    """Puts back what a test changed; a daemon that died is the failure being reported, not
    this (so its error does not hide that one)."""
    if d.proc.poll() is not None:
        return
    try:
        undo()
    except httpx.HTTPError:
        pass


def climate(d, **room):
    api(d, "PUT", "/api/simulate/climate", json=room)


def metrics(d) -> str:
    return httpx.get(f"http://127.0.0.1:{d.http_port}/metrics", auth=httpx.DigestAuth(*ADMIN), timeout=10).text


def metric(d, name: str, default=None) -> float:
    for line in metrics(d).splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    if default is not None:
        return default
    raise KeyError(f"{name} not in /metrics")


def snapshot_ok(d) -> bool:
    r = httpx.get(f"http://127.0.0.1:{d.http_port}/snapshot.jpg", auth=httpx.DigestAuth(*ADMIN), timeout=10)
    return r.status_code == 200 and r.content[:2] == b"\xff\xd8"


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i + 9 < len(data):
        assert data[i] == 0xFF, f"bad marker at {i}"
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no start of frame")


class Frames:
    """The main stream read by ffmpeg all along (packets copied, not decoded): the wall-clock
    time of each video frame, to show the stream never stopped."""

    def __init__(self, d):
        url = d.rtsp_with_creds(f"rtsp://127.0.0.1:{d.rtsp_port}/stream")
        self.times: list[float] = []
        self.proc = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "10000000", "-i", url,
             "-map", "0:v", "-c", "copy", "-f", "framemd5", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if not line.startswith("#"):
                self.times.append(time.monotonic())

    def wait_started(self, timeout=20):
        deadline = time.monotonic() + timeout
        while len(self.times) < 5:
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "the RTSP stream did not start"
            time.sleep(0.1)

    def longest_gap(self, since: float) -> float:
        t = [x for x in self.times if x >= since] + [time.monotonic()]
        return max((b - a for a, b in zip(t, t[1:])), default=float("inf"))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


# --- Home Assistant's side ---

class Camera:
    """What discovery says about the camera: each entity's config by object id."""

    def __init__(self, configs: dict[str, dict], prefix: str = PREFIX):
        self.topics = configs  # discovery topic -> config
        self.by_object = {}
        for topic, config in configs.items():
            m = parse_topic(topic, prefix)
            self.by_object[m["object"]] = (m["component"], expand(config), m["node"])

    def config(self, obj: str) -> dict:
        return self.by_object[obj][1]

    def state(self, obj: str) -> str:
        return self.config(obj)["state_topic"]

    def command(self, obj: str) -> str:
        return self.config(obj)["command_topic"]

    @property
    def availability(self) -> str:
        return availability_topics(self.config("cry"))[0]

    @property
    def base(self) -> str:
        """The camera's own topics share this prefix (what the availability topic is under)."""
        return self.availability.rsplit("/", 1)[0]

    def on(self, obj: str) -> str:
        return self.config(obj).get("payload_on", "ON")

    def off(self, obj: str) -> str:
        return self.config(obj).get("payload_off", "OFF")

    @property
    def online(self) -> str:
        return self.config("cry").get("payload_available", "online")

    @property
    def offline(self) -> str:
        return self.config("cry").get("payload_not_available", "offline")


def discovery(watcher: Watcher, timeout: float = 20, since: int = 0, retained: bool | None = None,
              prefix: str = PREFIX) -> Camera:
    """Waits until a config for every entity came (after `since`; with `retained`, only those
    with that retain flag), and returns them, the last of each."""
    def configs():
        got = {}
        with watcher._lock:
            msgs = watcher.messages[since:]
        for m in msgs:
            if m.topic.startswith(prefix + "/") and m.topic.endswith("/config") and m.payload:
                if retained is None or m.retain == retained:
                    got[m.topic] = m
        return got

    def objects():
        return {parse_topic(t, prefix)["object"] for t in configs() if parse_topic(t, prefix)}

    deadline = time.monotonic() + timeout
    while not set(ENTITIES) <= objects():
        assert time.monotonic() < deadline, (
            f"discovery incomplete after {timeout} s: missing {sorted(set(ENTITIES) - objects())}, "
            f"got {sorted(objects())}")
        time.sleep(0.1)
    parsed = {}
    for topic, m in configs().items():
        try:
            parsed[topic] = json.loads(m.payload)
        except ValueError as e:
            raise AssertionError(f"{topic} is not JSON: {m.payload[:200]!r}") from e
    return Camera(parsed, prefix)


STATEFUL = [o for o, c in ENTITIES.items() if c not in ("button", "camera", "event")]


def republished(broker: Broker, timeout: float = 45) -> tuple[Watcher, Camera]:
    """After the camera (re)connected to `broker`: waits until discovery, availability and every
    state came, then returns a fresh subscriber, which has only what the broker retained, and
    what it says. (A subscriber that was there first gets them live, not retained.)"""
    live = Watcher(broker)
    try:
        cam = discovery(live, timeout)
        live.wait_for(cam.availability, lambda m: m.text == cam.online, timeout=10)
        for obj in STATEFUL:
            live.wait_for(cam.state(obj), timeout=10)
    finally:
        live.close()
    time.sleep(0.5)
    fresh = Watcher(broker)
    try:
        cam = discovery(fresh, timeout=10, retained=True)
        assert check_all(cam.topics, PREFIX) == []
        fresh.wait_for(cam.availability, lambda m: m.retain and m.text == cam.online, timeout=10)
        for obj in STATEFUL:
            retained_state(cam, fresh, obj)
    except BaseException:
        fresh.close()
        raise
    return fresh, cam


def retained_state(cam: Camera, watcher: Watcher, obj: str, timeout: float = 10) -> str:
    return watcher.wait_for(cam.state(obj), lambda m: m.retain, timeout).text


def newest(watcher: Watcher, topic: str, want, timeout: float = 20, since: int = 0):
    """Waits until the newest message on `topic` is `want` (a string or a predicate)."""
    check = want if callable(want) else (lambda text: text == want)
    deadline = time.monotonic() + timeout
    while True:
        got = watcher.of(topic, since)
        if got and check(got[-1].text):
            return got[-1]
        assert time.monotonic() < deadline, (
            f"{topic} never became {want if not callable(want) else 'as wanted'} within {timeout} s: "
            f"{[m.text[:60] for m in got[-8:]]}")
        time.sleep(0.05)


# --- the camera on a broker, shared by the tests that do not break anything ---

@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mqtt")
    broker_gen = brokers(tmp)
    broker = next(broker_gen)
    slow = d = watcher = None
    try:
        # A subscriber that never acknowledges QoS 1 is on the broker all along.
        slow = SlowSubscriber(broker)
        d = Daemon(tmp, ROOM + mqtt_toml(broker.address)).start()
        watcher = Watcher(broker)
        cam = discovery(watcher)
        # Every state known (the sound level comes once the microphone was heard a moment).
        for obj in STATEFUL:
            watcher.wait_for(cam.state(obj), timeout=15)
        yield broker, d, watcher, cam, slow
    finally:
        for closing in (watcher, slow):
            if closing:
                closing.close()
        if d:
            d.stop()
        broker_gen.close()


def test_the_broker_harness_refuses_anonymous_clients_and_keeps_retained_messages(broker):
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "#", "-C", "1", "-W", "3"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "not authorised" in r.stderr.lower(), (r.returncode, r.stderr)
    w = Watcher(broker)
    try:
        w.publish("harness/x", "1", retain=True)
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", HA[0], "-P", HA[1],
                            "-t", "harness/x", "-C", "1", "-W", "3"], capture_output=True, text=True, timeout=10)
        assert r.stdout.strip() == "1", r.stderr
        broker.restart()
        w2 = Watcher(broker)
        time.sleep(0.3)
        assert w2.of("harness/x") == [], "persistence is off: a restart forgets retained messages"
        w2.close()
    finally:
        w.close()
    assert broker.port != 1883


def test_discovery_announces_every_entity_as_home_assistant_wants_it(rig):
    broker, d, _, _, _ = rig
    # A fresh subscriber: Home Assistant starting after the camera gets it all retained.
    w = Watcher(broker)
    try:
        cam = discovery(w, retained=True)
        problems = check_all(cam.topics, PREFIX)
        assert problems == [], "\n".join(problems)

        s = status(d)
        device_ids = set()
        for obj, component in ENTITIES.items():
            got, c, node = cam.by_object[obj]
            assert got == component, f"{obj} is announced as a {got}, not a {component}"
            dev = c["device"]
            device_ids.add(dev["identifiers"][0])
            assert node == dev["identifiers"][0], f"{obj}: the topic's node id is the device id"
            assert c["unique_id"] == f"{node}_{obj}", c["unique_id"]
            assert dev["name"] == s["device"]["name"] and dev["sw_version"] == s["device"]["version"], dev
            assert dev.get("manufacturer") and dev.get("model"), dev
            assert dev["configuration_url"].startswith("https://"), dev
            assert availability_topics(c) == [cam.availability], f"{obj}: one availability topic for all"
        assert len(device_ids) == 1 and next(iter(device_ids)).startswith("bm_"), device_ids
        assert all(t.startswith(cam.base + "/") for o in ENTITIES for k, t in cam.config(o).items()
                   if k.endswith("_topic") or k == "topic"), "every topic under the camera's own"

        for obj, unit, classes in [("temperature", "°C", {"temperature"}), ("humidity", "%", {"humidity"}),
                                   ("pressure", "hPa", {"atmospheric_pressure", "pressure"}),
                                   ("sound_level", "dB", {"sound_pressure"})]:
            c = cam.config(obj)
            assert c.get("unit_of_measurement") == unit and c.get("device_class") in classes, (obj, c)
            assert c.get("state_class") == "measurement", (obj, c)
        failure = cam.config("sensor_failure")
        assert failure.get("device_class") == "problem" and failure.get("entity_category") == "diagnostic", failure
        assert set(cam.config("night_mode")["options"]) == {"day", "night", "auto"}
        sounds = [c["name"] for c in api(d, "GET", "/api/clips") if c["playable"]]
        options = cam.config("sound")["options"]
        assert options[0] == "None" and sorted(options[1:]) == sorted(sounds), (options, sounds)
        volume = cam.config("volume")
        assert (volume.get("min"), volume.get("max")) == (0, 100), volume
        assert ALERT_KINDS <= set(cam.config("alert")["event_types"]), cam.config("alert")
        assert cam.config("snapshot")["topic"]

        # The state of everything with a state is there, retained, and makes sense.
        assert w.wait_for(cam.availability, lambda m: m.retain).text == cam.online
        for obj, component in ENTITIES.items():
            if component in ("button", "camera", "event"):
                continue
            value = retained_state(cam, w, obj)
            if component == "binary_sensor":
                assert value in (cam.on(obj), cam.off(obj)), (obj, value)
            elif component == "sensor":
                assert DECIMAL.match(value), f"{obj}: {value!r} is not a decimal with one place"
            elif component == "select":
                assert value in cam.config(obj)["options"], (obj, value)
            elif component == "number":
                assert 0 <= float(value) <= 100, value
        assert retained_state(cam, w, "night_mode") == night(d)["mode"]
        assert retained_state(cam, w, "night") == (cam.on("night") if night(d)["night"] else cam.off("night"))
        assert float(retained_state(cam, w, "volume")) == audio(d)["volume"]
        assert float(retained_state(cam, w, "temperature")) == pytest.approx(s["climate"]["temperature_c"], abs=0.5)
        # Pictures and alerts are news, not state: nothing retained.
        time.sleep(0.5)
        for obj in ("snapshot", "alert"):
            assert not [m for m in w.of(cam.config(obj).get("state_topic") or cam.config(obj)["topic"]) if m.retain], obj
        assert metric(d, "babymonitor_mqtt_connected") == 1
        assert mqtt_status(d) == {"enabled": True, "connected": True, "broker": broker.address}
    finally:
        w.close()


def test_states_follow_the_simulated_room(rig):
    _, d, w, cam, _ = rig
    try:
        climate(d, temperature_c=25.0, humidity_pct=50.0)
        newest(w, cam.state("temperature"), "25.0")
        newest(w, cam.state("humidity"), "50.0")
        newest(w, cam.state("too_hot"), cam.on("too_hot"), timeout=30)
        assert DECIMAL.match(w.latest(cam.state("pressure")).text)

        climate(d, temperature_c=14.0, humidity_pct=70.0)
        newest(w, cam.state("temperature"), "14.0")
        newest(w, cam.state("too_hot"), cam.off("too_hot"), timeout=30)
        newest(w, cam.state("too_cold"), cam.on("too_cold"), timeout=30)
        newest(w, cam.state("too_humid"), cam.on("too_humid"), timeout=30)

        climate(d, temperature_c=19.5, humidity_pct=30.0)
        newest(w, cam.state("temperature"), "19.5")
        newest(w, cam.state("humidity"), "30.0")
        newest(w, cam.state("too_cold"), cam.off("too_cold"), timeout=30)
        newest(w, cam.state("too_humid"), cam.off("too_humid"), timeout=30)
        newest(w, cam.state("too_dry"), cam.on("too_dry"), timeout=30)
        s = status(d)["climate"]
        assert (s["temperature_c"], s["humidity_pct"], s["too_dry"]) == (19.5, 30.0, True), s

        climate(d, failing=True)
        newest(w, cam.state("sensor_failure"), cam.on("sensor_failure"), timeout=30)
        climate(d, failing=False, temperature_c=20.0, humidity_pct=50.0)
        newest(w, cam.state("sensor_failure"), cam.off("sensor_failure"), timeout=30)
        newest(w, cam.state("too_dry"), cam.off("too_dry"), timeout=30)
        # Every reading is a plain decimal with one place.
        for obj in ("temperature", "humidity", "pressure", "sound_level"):
            bad = [m.text for m in w.of(cam.state(obj)) if not DECIMAL.match(m.text)]
            assert bad == [], (obj, bad[:5])
    finally:
        tidy(d, lambda: climate(d, failing=False, drift=True))


def test_a_cry_into_the_microphone_turns_crying_on_alerts_and_sends_a_snapshot(rig):
    _, d, w, cam, _ = rig
    newest(w, cam.state("cry"), cam.off("cry"), timeout=20)
    before = [float(m.text) for m in w.of(cam.state("sound_level"))]
    mark = w.mark()
    api(d, "PUT", "/api/simulate/sound", json={"cry_s": 10})
    on = w.wait_for(cam.state("cry"), lambda m: m.text == cam.on("cry"), timeout=20, since=mark)
    assert status(d)["sound"]["detected"] is True

    event = w.wait_for(cam.config("alert")["state_topic"], lambda m: b'"cry"' in m.payload, timeout=20, since=mark)
    body = json.loads(event.payload)
    assert body["event_type"] == "cry" and body["event_type"] in cam.config("alert")["event_types"], body
    assert body["title"] and body["body"] and body["time"] and "id" in body, body
    assert not event.retain and event.qos == 1

    shot = w.wait_for(cam.config("snapshot")["topic"], timeout=20, since=mark)
    assert not shot.retain
    width, height = jpeg_size(shot.payload)
    assert width == 640 and height > 0, (width, height)

    # The level of what is heard rose with the cry.
    during = [float(m.text) for m in w.of(cam.state("sound_level"), mark)]
    assert during and before, (before, during)
    assert max(during) > statistics.median(before) + 5, (before[-5:], during)

    off = w.wait_for(cam.state("cry"), lambda m: m.text == cam.off("cry"), timeout=30, since=mark)
    assert 8 < off.time - on.time < 20, off.time - on.time


def test_night_mode_changes_on_the_camera_reach_home_assistant(rig):
    _, d, w, cam, _ = rig
    try:
        api(d, "POST", "/api/night", json={"mode": "night"})
        newest(w, cam.state("night_mode"), "night")
        newest(w, cam.state("night"), cam.on("night"))
        api(d, "POST", "/api/night", json={"mode": "day"})
        newest(w, cam.state("night_mode"), "day")
        newest(w, cam.state("night"), cam.off("night"))
    finally:
        tidy(d, lambda: api(d, "POST", "/api/night", json={"mode": "day"}))


def test_commands_from_home_assistant_take_effect(rig):
    _, d, w, cam, _ = rig
    done = metric(d, 'babymonitor_mqtt_commands_total{result="done"}', 0)
    try:
        w.publish(cam.command("night_mode"), "night")
        d.wait_for(lambda: night(d)["mode"] == "night", "night mode from MQTT", 10)
        assert ir_cut(d) == "OFF", "ONVIF sees the IR-cut filter out at night"
        newest(w, cam.state("night_mode"), "night")
        newest(w, cam.state("night"), cam.on("night"))
        w.publish(cam.command("night_mode"), "auto")
        d.wait_for(lambda: night(d)["mode"] == "auto", "auto mode from MQTT", 10)
        assert ir_cut(d) == "AUTO"
        newest(w, cam.state("night_mode"), "auto")
        w.publish(cam.command("night_mode"), "day")
        d.wait_for(lambda: night(d)["mode"] == "day", "day mode from MQTT", 10)
        assert ir_cut(d) == "ON"

        lullaby = next(c["name"] for c in api(d, "GET", "/api/clips") if c["token"] == "lullaby-brahms")
        assert lullaby in cam.config("sound")["options"]
        w.publish(cam.command("sound"), lullaby)
        d.wait_for(lambda: (audio(d)["playing"] or {}).get("name") == lullaby, f"{lullaby} playing", 10)
        newest(w, cam.state("sound"), lullaby)
        press = cam.config("stop").get("payload_press", "PRESS")
        w.publish(cam.command("stop"), press)
        d.wait_for(lambda: audio(d)["playing"] is None, "the stop button stops it", 10)
        newest(w, cam.state("sound"), "None")

        w.publish(cam.command("sound"), lullaby)
        d.wait_for(lambda: audio(d)["playing"] is not None, "playing again", 10)
        w.publish(cam.command("sound"), "None")
        d.wait_for(lambda: audio(d)["playing"] is None, "None stops it", 10)
        newest(w, cam.state("sound"), "None")

        w.publish(cam.command("volume"), "40")
        d.wait_for(lambda: audio(d)["volume"] == 40, "volume 40", 10)
        assert onvif_volume(d) == 40, "ONVIF shares the volume"
        newest(w, cam.state("volume"), lambda v: float(v) == 40)
        assert metric(d, 'babymonitor_mqtt_commands_total{result="done"}') >= done + 8
    finally:
        tidy(d, lambda: (api(d, "POST", "/api/audio/stop"), api(d, "POST", "/api/audio/volume?master=80"),
                         api(d, "POST", "/api/night", json={"mode": "day"})))


def test_home_assistant_coming_online_gets_discovery_and_state_again(rig):
    _, d, w, cam, _ = rig
    mark = w.mark()
    w.publish(f"{PREFIX}/status", "online")
    again = discovery(w, timeout=15, since=mark)
    assert set(again.by_object) >= set(ENTITIES)
    for obj in ("night_mode", "volume", "temperature", "cry"):
        w.wait_for(cam.state(obj), timeout=10, since=mark)
    w.wait_for(cam.availability, lambda m: m.text == cam.online, timeout=10, since=mark)


def lullaby_name(d) -> bytes:
    return next(c["name"] for c in api(d, "GET", "/api/clips") if c["token"] == "lullaby-brahms").encode()


def test_bad_commands_huge_payloads_and_unknown_topics_change_nothing(rig):
    _, d, w, cam, _ = rig
    before = (night(d)["mode"], audio(d)["volume"], audio(d)["playing"])
    reconnects = metric(d, "babymonitor_mqtt_reconnects_total", 0)
    ignored = metric(d, 'babymonitor_mqtt_commands_total{result="ignored"}', 0)
    log_at = len(d.read_log())
    mark = w.mark()
    bad = [
        (cam.command("night_mode"), b"dusk"),
        (cam.command("night_mode"), b""),
        (cam.command("night_mode"), b"\xff\xfe\x00night"),
        (cam.command("night_mode"), b"night" + b" " * (70 * 1024)),
        (cam.command("volume"), b"loud"),
        (cam.command("volume"), b"150"),
        (cam.command("volume"), b"-5"),
        (cam.command("volume"), b"nan"),
        (cam.command("volume"), b"1e309"),
        (cam.command("volume"), b"4" * (1024 * 1024)),
        (cam.command("sound"), "No such lullaby".encode()),
        (cam.command("sound"), b"\x00" * 100),
        (cam.command("stop"), b"x" * (100 * 1024)),
    ]
    unknown = [
        (cam.base + "/no_such_thing/set", b"ON"),
        (cam.base + "/night_mode/set/deeper", b"night"),
        (cam.base + "/volume/set2", b"10"),
    ]
    for topic, payload in bad + unknown:
        w.publish(topic, payload)
    # The camera's own state topics, published by someone else: no commands either.
    spoofed = {cam.state("volume"): b"0", cam.state("night_mode"): b"night", cam.state("sound"): lullaby_name(d)}
    for topic, payload in spoofed.items():
        w.publish(topic, payload)
    # A good command after them all: when it has taken effect, the bad ones were handled.
    w.publish(cam.command("volume"), str(int(before[1]) - 1))
    d.wait_for(lambda: audio(d)["volume"] == before[1] - 1, "the good command after the bad ones", 15)
    try:
        assert (night(d)["mode"], audio(d)["playing"]) == (before[0], before[2])
        assert metric(d, "babymonitor_mqtt_connected") == 1
        assert metric(d, "babymonitor_mqtt_reconnects_total", 0) == reconnects, "a bad message cost the connection"
        counted = len(bad) + len(unknown)
        assert metric(d, 'babymonitor_mqtt_commands_total{result="ignored"}') >= ignored + counted, \
            "every bad command and unknown topic counted as ignored"
        # What the camera published since: only the volume the good command set.
        newest(w, cam.state("volume"), str(int(before[1]) - 1), timeout=5)
        published = [(m.topic, m.text[:40]) for m in w.since(mark)
                     if m.topic in (cam.state("night_mode"), cam.state("sound"), cam.state("volume"))
                     and m.payload != spoofed[m.topic]]
        assert published == [(cam.state("volume"), str(int(before[1]) - 1))], published
        log = d.read_log()[log_at:]
        assert "panicked" not in log, log[-3000:]
        warns = [l for l in log.splitlines() if "WARN" in l and "mqtt" in l.lower()]
        assert len(warns) >= counted, "\n".join(warns) or log[-3000:]
        assert CAMERA[1] not in d.read_log(), "the broker password is never logged"
    finally:
        tidy(d, lambda: api(d, "POST", f"/api/audio/volume?master={int(before[1])}"))


def test_a_retained_message_too_big_for_the_camera_does_not_make_it_flap(rig):
    """Someone leaves a 5 MiB message retained under the camera's topic (over what it takes
    from the broker): it may cost one reconnect, not one every second."""
    _, d, w, cam, _ = rig
    topic = cam.base + "/junk"
    reconnects = metric(d, "babymonitor_mqtt_reconnects_total", 0)
    mark = w.mark()
    try:
        w.publish(topic, b"\0" * (5 * 1024 * 1024), retain=True)
        time.sleep(10)
        flaps = metric(d, "babymonitor_mqtt_reconnects_total", 0) - reconnects
        offline = [m for m in w.of(cam.availability, mark) if m.text == cam.offline]
        assert flaps <= 1 and len(offline) <= 1, (
            f"{flaps:.0f} reconnects and {len(offline)} times offline in 10 s for one retained 5 MiB message "
            f"on {topic}\n" + "\n".join(l for l in d.read_log().splitlines()[-400:] if "MQTT" in l)[-3000:])
        assert metric(d, "babymonitor_mqtt_connected") == 1
    finally:
        w.publish(topic, b"", retain=True)
        d.wait_for(lambda: metric(d, "babymonitor_mqtt_connected") == 1, "connected again", 70)
        d.wait_for(lambda: w.of(cam.availability) and w.of(cam.availability)[-1].text == cam.online,
                   "online again", 10)


def test_the_camera_keeps_working_beside_a_subscriber_that_never_acks(rig):
    broker, d, _, _, slow = rig
    # It was subscribed, QoS 1, since before the camera came, and never acknowledged.
    assert slow.received > 0
    assert snapshot_ok(d)
    assert metric(d, "babymonitor_mqtt_connected") == 1
    assert "h264" in subprocess.run(
        ["ffprobe", "-v", "error", "-rw_timeout", "15000000", "-rtsp_transport", "tcp", "-show_entries",
         "stream=codec_name", "-of", "csv=p=0", d.rtsp_with_creds(f"rtsp://127.0.0.1:{d.rtsp_port}/stream")],
        capture_output=True, text=True, timeout=60).stdout


def test_mqtt_5_its_own_topics_and_a_read_only_broker(tmp_path):
    """protocol 5, `topic` and `discovery_prefix` of one's own, `commands = "user"`: announced
    there, valid, and the broker's commands refused (counted), changing nothing."""
    gen = brokers(tmp_path)
    broker = next(gen)
    d = Daemon(tmp_path, ROOM + mqtt_toml(broker.address, protocol="5", commands="user",
                                          topic="nursery/camera", discovery_prefix="ha")).start()
    try:
        with Watcher(broker) as w:
            cam = discovery(w, prefix="ha")
            assert check_all(cam.topics, "ha") == []
            assert cam.base == "nursery/camera", cam.base
            assert not [t for t in w.topics_seen() if t.startswith(PREFIX + "/")]
            w.wait_for(cam.availability, lambda m: m.text == cam.online)
            refused = metric(d, 'babymonitor_mqtt_commands_total{result="refused"}', 0)
            mode = night(d)["mode"]
            other = "night" if mode != "night" else "day"
            w.publish(cam.command("night_mode"), other)
            w.publish(cam.command("volume"), "7")
            d.wait_for(lambda: metric(d, 'babymonitor_mqtt_commands_total{result="refused"}') >= refused + 2,
                       "two commands refused", 10)
            assert night(d)["mode"] == mode and audio(d)["volume"] != 7
            assert metric(d, 'babymonitor_mqtt_commands_total{result="done"}', 0) == 0
            # Home Assistant's status under that prefix.
            mark = w.mark()
            w.publish("ha/status", "online")
            discovery(w, timeout=15, since=mark, prefix="ha")
    finally:
        d.stop()
        gen.close()


# --- faults, each with a camera and broker of its own ---

def camera_on_broker(broker: Broker, d) -> str:
    """What the broker's log and the daemon's say of the camera's connection, for a failure."""
    log = broker.read_log()
    said = {kind: len(re.findall(rf"Received {kind} from babymonitor", log))
            for kind in ("CONNECT", "SUBSCRIBE", "PUBLISH", "PINGREQ")}
    connects = len(re.findall(r"New client connected .* as babymonitor", log))
    mqtt_log = "\n".join(l for l in d.read_log().splitlines() if "mqtt" in l.lower())[-2500:]
    return f"the broker saw the camera connect {connects} times and send {said}\ndaemon:\n{mqtt_log}"


def test_broker_away_at_start_then_restarted_mid_run_and_the_last_will_on_kill_9(tmp_path):
    broker = Broker(tmp_path)
    d = Daemon(tmp_path, ROOM + mqtt_toml(broker.address)).start()
    frames = watcher = None
    try:
        # No broker: the camera runs all the same.
        frames = Frames(d)
        frames.wait_started()
        d.wait_for(lambda: status(d)["mqtt"]["connected"] is False, "mqtt not connected", 5)
        assert mqtt_status(d) == {"enabled": True, "connected": False, "broker": broker.address}
        assert metric(d, "babymonitor_mqtt_connected") == 0
        assert snapshot_ok(d)
        assert CAMERA[1] not in json.dumps(status(d))

        broker.start()
        watcher, cam = republished(broker)
        d.wait_for(lambda: metric(d, "babymonitor_mqtt_connected") == 1, "connected", 10)
        reconnects = metric(d, "babymonitor_mqtt_reconnects_total", 0)
        watcher.close()
        watcher = None

        # The broker goes away mid-run; the night mode changes meanwhile.
        t0 = time.monotonic()
        broker.stop()
        d.wait_for(lambda: metric(d, "babymonitor_mqtt_connected") == 0, "disconnected noticed", 15)
        api(d, "POST", "/api/night", json={"mode": "night"})
        assert snapshot_ok(d)
        time.sleep(2)
        broker.start()
        # Retained messages died with the broker: the camera publishes them again, and its
        # state as it is now.
        watcher, cam = republished(broker)
        assert retained_state(cam, watcher, "night_mode") == "night"
        assert retained_state(cam, watcher, "night") == cam.on("night")
        d.wait_for(lambda: metric(d, "babymonitor_mqtt_connected") == 1, "connected again", 10)
        assert metric(d, "babymonitor_mqtt_reconnects_total") > reconnects
        # The stream never stopped through it all.
        assert frames.longest_gap(t0) < 2.0, frames.longest_gap(t0)
        assert frames.proc.poll() is None

        # A command works on the new connection.
        watcher.publish(cam.command("night_mode"), "day")
        d.wait_for(lambda: night(d)["mode"] == "day", "a command after the reconnect", 10)

        # kill -9: no goodbye, the broker publishes the last will.
        mark = watcher.mark()
        d.proc.kill()
        d.proc.wait(5)
        watcher.wait_for(cam.availability, lambda m: m.text == cam.offline, timeout=10, since=mark)
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", HA[0], "-P", HA[1],
                            "-t", cam.availability, "-C", "1", "-W", "5", "-v"],
                           capture_output=True, text=True, timeout=10)
        assert r.stdout.strip() == f"{cam.availability} {cam.offline}", (r.stdout, r.stderr)

        # A command someone published retained would come again at every connection: the
        # camera, started again, does not take it (a live one is delivered without the flag).
        with Watcher(broker) as w:
            w.publish(cam.command("night_mode"), "night", retain=True)
        log_at = len(d.read_log())
        d.start()
        watcher.wait_for(cam.availability, lambda m: m.text == cam.online, timeout=20, since=mark)
        d.wait_for(lambda: "retained command" in d.read_log()[log_at:], "the retained command ignored", 10)
        assert night(d)["mode"] != "night", "a retained command was carried out at connection"
        assert metric(d, 'babymonitor_mqtt_commands_total{result="ignored"}') >= 1
        with Watcher(broker) as w:
            w.publish(cam.command("night_mode"), b"", retain=True)
    finally:
        if frames:
            frames.close()
        if watcher:
            watcher.close()
        d.stop()
        broker.kill()
    assert "panicked" not in d.read_log()


def test_a_broker_that_never_acks_stalls_nothing_and_the_camera_recovers_on_a_real_one(tmp_path):
    stall = StallingBroker()
    d = Daemon(tmp_path, ROOM + mqtt_toml(stall.address, queue=10)).start()
    frames = watcher = broker = None
    try:
        frames = Frames(d)
        frames.wait_started()
        deadline = time.monotonic() + 20
        while stall.count() < 10:
            assert time.monotonic() < deadline, f"the camera did not publish to the stalling broker ({stall.count()})"
            time.sleep(0.1)
        assert all(p.qos == 1 for p in stall.publishes), "states, discovery and alerts go with QoS 1"
        # Changes, each a message, none acknowledged, until the camera's in-flight window is
        # full (nothing more reaches the broker): the camera answers as fast as ever.
        t0 = time.monotonic()
        mode, i, last, still_since = "day", 0, -1, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() - still_since < 2:
            assert time.monotonic() < deadline, f"the camera never stopped sending to a broker that never acks ({stall.count()})"
            mode = ("night", "day")[i % 2]
            started = time.monotonic()
            api(d, "POST", "/api/night", json={"mode": mode})
            assert time.monotonic() - started < 2, f"/api/night took {time.monotonic() - started:.1f} s"
            # (within the comfortable range: no alerts)
            climate(d, temperature_c=18 + (i % 40) / 10, humidity_pct=50.0)
            i += 1
            if stall.count() != last:
                last, still_since = stall.count(), time.monotonic()
        # Home Assistant "comes back": everything is announced again, more than the queue of 10
        # holds. States and discovery wait as their newest value each, none dropped: the real
        # broker below must get every entity.
        dropped = metric(d, "babymonitor_mqtt_messages_dropped_total", 0)
        stall.inject(f"{PREFIX}/status", b"online")
        d.wait_for(lambda: "Home Assistant is back" in d.read_log(), "the camera saw Home Assistant return", 15)
        assert metric(d, "babymonitor_mqtt_messages_dropped_total", 0) == dropped, "no state is dropped"
        assert snapshot_ok(d)
        assert status(d)["mqtt"]["broker"] == stall.address
        assert frames.longest_gap(t0) < 2.0, frames.longest_gap(t0)
        held = stall.count()
        time.sleep(1)
        assert stall.count() == held, "without acks, the camera's window stays full"

        # The overloaded broker goes; a real one takes its port: the camera connects to it and
        # publishes discovery and its state as it is now.
        stall.close()
        broker = Broker(tmp_path, port=stall.port).start()
        try:
            watcher, cam = republished(broker)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{camera_on_broker(broker, d)}") from None
        # Its state as it is now, not an old one from the backlog, and still so a little later.
        assert retained_state(cam, watcher, "night_mode") == mode == night(d)["mode"]
        time.sleep(2)
        later = Watcher(broker)
        try:
            assert retained_state(cam, later, "night_mode") == mode
        finally:
            later.close()
        assert frames.longest_gap(t0) < 2.0, frames.longest_gap(t0)
    finally:
        if frames:
            frames.close()
        if watcher:
            watcher.close()
        d.stop()
        stall.close()
        if broker:
            broker.kill()
    assert "panicked" not in d.read_log()


# --- TLS ---

def make_ca(tmp, name: str):
    """A CA of the test's own and a certificate from it for 127.0.0.1 (openssl, as a home
    user would make one for their broker)."""
    d = tmp / f"pki-{name}"
    d.mkdir()
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=30, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN={name} test CA", "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=broker", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext", "-out", "server.pem")
    (d / "server.key").chmod(0o644)
    return d


def test_mqtts_with_the_brokers_own_ca_and_refused_with_another(tmp_path):
    """`mqtts://` to a mosquitto TLS listener: with `ca_file` naming the CA that signed the
    broker's certificate the camera connects and announces itself; with another CA it refuses
    the broker, says why in /api/status and sends nothing there (not even its password)."""
    pki, other = make_ca(tmp_path, "home"), make_ca(tmp_path, "stranger")
    tls_port = free_port()
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    gen = brokers(tmp_path, extra=f"listener {tls_port} 127.0.0.1\ncertfile {pki / 'server.pem'}\n"
                                  f"keyfile {pki / 'server.key'}\n")
    broker = next(gen)
    good = Daemon(tmp_path / "good", ROOM + mqtt_toml(f"mqtts://127.0.0.1:{tls_port}",
                                                      ca_file=str(pki / "ca.pem"))).start()
    bad = None
    try:
        with Watcher(broker) as w:
            cam = discovery(w)
            assert check_all(cam.topics) == []
            w.wait_for(cam.availability, lambda m: m.text == cam.online)
            assert mqtt_status(good)["connected"] is True
        # The whole log (read_log keeps only its end).
        connects = lambda: len(re.findall(r"New client connected .* as babymonitor", broker.log_path.read_text()))
        assert connects() >= 1
        good.stop()
        before = connects()
        bad = Daemon(tmp_path / "bad", ROOM + mqtt_toml(f"mqtts://127.0.0.1:{tls_port}",
                                                        ca_file=str(other / "ca.pem"))).start()
        bad.wait_for(lambda: status(bad)["mqtt"].get("last_error"), "the camera says why it is not connected", 20)
        error = status(bad)["mqtt"]["last_error"].lower()
        assert "certificate" in error or "unknownissuer" in error.replace(" ", ""), error
        assert status(bad)["mqtt"]["connected"] is False
        time.sleep(2)
        assert connects() == before, "no session through a broker it does not trust"
        assert "panicked" not in bad.read_log()
    finally:
        good.stop()
        if bad:
            bad.stop()
        gen.close()
