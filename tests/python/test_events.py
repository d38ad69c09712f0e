"""Alerts as Home Assistant receives them: ONVIF pull points and webhooks (onvif-zeep-async),
parsed with Home Assistant's own event parsers (onvif-parsers)."""

import asyncio
import datetime
import math
import struct
import wave

import httpx
import onvif_parsers
import onvif_parsers.errors
import pytest
from aiohttp import web
from onvif import ONVIFCamera

from conftest import ADMIN, VIEWER, Daemon, running

RATE = 16000
SOAP = "application/soap+xml; charset=utf-8"


def write_wav(path, seconds_and_signals):
    """A mono 16 kHz WAV from (seconds, f(t)) parts, with faint room noise."""
    frames = bytearray()
    t0 = 0.0
    seed = 1
    for seconds, f in seconds_and_signals:
        for i in range(int(seconds * RATE)):
            t = t0 + i / RATE
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            noise = (seed / 0x7FFFFFFF * 2 - 1) * 0.002
            frames += struct.pack("<h", int(max(-1.0, min(1.0, f(t) + noise)) * 32000))
        t0 += seconds
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))


def cry(t):
    """Wails of 0.9 s at a wavering ~470 Hz with harmonics, a breath of 0.4 s between."""
    cycle = t % 1.3
    if cycle > 0.9:
        return 0.0
    f0 = 470 + 50 * math.sin(3 * t)
    phase = 2 * math.pi * f0 * t
    envelope = math.sin(cycle / 0.9 * math.pi)
    return 0.3 * envelope * (math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase))


def quiet(t):
    return 0.0


async def camera(daemon, creds=ADMIN) -> ONVIFCamera:
    cam = ONVIFCamera("127.0.0.1", daemon.http_port, creds[0], creds[1])
    await cam.update_xaddrs()
    return cam


async def parse(cam, messages):
    """(topic, entity value) for each message, the way Home Assistant turns them into sensors."""
    out = []
    for msg in messages:
        topic = msg.Topic._value_1
        try:
            entities = await onvif_parsers.parse(topic, "cam", msg)
        except onvif_parsers.errors.UnknownTopicError:
            continue  # Home Assistant logs these and goes on

        for e in entities or []:
            out.append((topic, e.value))
    return out


async def pull_until(service, want, timeout=40):
    """Pulls (as Home Assistant's pull point loop does) until want(seen) is true."""
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await service.PullMessages({"MessageLimit": 100, "Timeout": datetime.timedelta(seconds=2)})
        seen += await parse(None, r.NotificationMessage or [])
        if want(seen):
            return seen
    raise AssertionError(f"not seen in {timeout} s: {seen}")


def after(seen, topic, value, then=None):
    """Whether `topic` went to `value` (and later to `then`)."""
    values = [v for t, v in seen if t == topic]
    if value not in values:
        return False
    return then is None or then in values[values.index(value) + 1:]


@pytest.fixture
def crying(tmp_path):
    path = tmp_path / "cry.wav"
    write_wav(path, [(3, quiet), (8, cry), (30, quiet)])
    yield from running(tmp_path, f"""
[audio]
source = "file"
path = "{path}"
[sound]
enabled = true
hold_s = 3.0
[motion]
enabled = true
hold_s = 2.0
[video]
source = "raw"
pipeline = "videotestsrc is-live=true pattern=ball motion=wavy"
""")


async def test_crying_and_motion_reach_a_pull_point_as_home_assistant_reads_them(crying):
    cam = await camera(crying)
    try:
        events = await cam.create_events_service()
        caps = await events.GetServiceCapabilities()
        assert caps.WSPullPointSupport is True
        props = await events.GetEventProperties()
        assert props.FixedTopicSet is True
        manager = await cam.create_pullpoint_manager(datetime.timedelta(seconds=60), lambda: None)
        await manager.set_synchronization_point()
        service = manager.get_service()
        seen = await pull_until(
            service,
            lambda s: after(s, "tns1:AudioAnalytics/Audio/DetectedSound", True, False)
            and after(s, "tns1:VideoSource/MotionAlarm", True),
            timeout=50,
        )
        # The first state of each property is false (Initialized), then the alarms.
        sound = [v for t, v in seen if t == "tns1:AudioAnalytics/Audio/DetectedSound"]
        assert sound[0] is False and True in sound
        cells = [v for t, v in seen if t == "tns1:RuleEngine/CellMotionDetector/Motion"]
        assert True in cells

        # SetSynchronizationPoint sends the present state of every property again.
        await service.SetSynchronizationPoint()
        r = await service.PullMessages({"MessageLimit": 100, "Timeout": datetime.timedelta(seconds=2)})
        again = {m.Topic._value_1 for m in r.NotificationMessage}
        assert {"tns1:AudioAnalytics/Audio/DetectedSound", "tns1:VideoSource/MotionAlarm",
                "tns1:Monitoring/EnvironmentalConditions/Temperature"} <= again
        await manager.shutdown()
    finally:
        await cam.close()


@pytest.fixture
def steady(tmp_path):
    # A steady tone and fan-like noise at once, loud: neither is crying.
    yield from running(tmp_path, """
[audio]
source = "raw"
pipeline = "audiotestsrc is-live=true wave=sine freq=440 volume=0.25 ! mix. audiotestsrc is-live=true wave=pink-noise volume=0.25 ! audiomixer name=mix"
[sound]
enabled = true
hold_s = 2.0
[motion]
enabled = true
""")


async def test_a_tone_and_fan_noise_raise_no_sound_alarm_and_a_still_picture_no_motion(steady):
    cam = await camera(steady)
    try:
        manager = await cam.create_pullpoint_manager(datetime.timedelta(seconds=60), lambda: None)
        service = manager.get_service()
        seen = []
        for _ in range(8):
            r = await service.PullMessages({"MessageLimit": 100, "Timeout": datetime.timedelta(seconds=2)})
            seen += await parse(cam, r.NotificationMessage or [])
        sound = [v for t, v in seen if t == "tns1:AudioAnalytics/Audio/DetectedSound"]
        assert sound == [False], seen
        # The test picture (with its clock and its patch of noise) stands still.
        motion = [v for t, v in seen if t == "tns1:VideoSource/MotionAlarm"]
        assert motion == [False], seen
        # The microphone was heard all along (its level is in the status), so the silence
        # of the detector is a decision, not deafness.
        status = httpx.get(f"https://127.0.0.1:{steady.https_port}/api/status", auth=httpx.DigestAuth(*ADMIN)).json()
        assert status["sound"]["level_db"] > -40, status
        await manager.shutdown()
    finally:
        await cam.close()


def simulate(daemon, **room):
    r = httpx.put(f"https://127.0.0.1:{daemon.https_port}/api/simulate/climate", json=room, auth=httpx.DigestAuth(*ADMIN))
    assert r.status_code == 200, r.text


def status(daemon):
    r = httpx.get(f"https://127.0.0.1:{daemon.https_port}/api/status", auth=httpx.DigestAuth(*VIEWER))
    assert r.status_code == 200, r.text
    return r.json()


def metrics(daemon):
    return httpx.get(f"http://127.0.0.1:{daemon.http_port}/metrics", auth=httpx.DigestAuth(*ADMIN)).text


class Puller:
    """Pulls like Home Assistant's loop and remembers everything, so that a message that came
    in the same batch as another is not lost to the next wait."""

    def __init__(self, service):
        self.service = service
        self.seen = []

    async def wait(self, topic, item, want, timeout=30):
        deadline = asyncio.get_running_loop().time() + timeout
        start = 0
        while True:
            for t, items in self.seen[start:]:
                if t == topic and items.get(item) == want:
                    self.seen = [x for x in self.seen if x[0] != topic]
                    return
            start = len(self.seen)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{topic} never became {want}: {[x for x in self.seen if x[0] == topic]}")
            r = await self.service.PullMessages({"MessageLimit": 100, "Timeout": datetime.timedelta(seconds=2)})
            for m in r.NotificationMessage or []:
                items = {i.Name: i.Value for i in m.Message._value_1.Data.SimpleItem}
                self.seen.append((m.Topic._value_1, items))


@pytest.fixture
def nursery(tmp_path):
    yield from running(tmp_path, "[sensor]\ninterval_s = 1\n")


async def test_too_hot_and_too_cold_alerts_and_readings(nursery):
    cam = await camera(nursery)
    try:
        manager = await cam.create_pullpoint_manager(datetime.timedelta(seconds=60), lambda: None)
        puller = Puller(manager.get_service())
        simulate(nursery, temperature_c=25.0, humidity_pct=50.0)
        await puller.wait("tns1:Device/Sensor/Temperature/High", "State", "true")
        s = status(nursery)
        assert s["climate"]["temperature_c"] == 25.0 and s["climate"]["too_hot"] is True
        assert "babymonitor_temperature_celsius 25" in metrics(nursery)
        assert "babymonitor_alert_too_hot 1" in metrics(nursery)

        simulate(nursery, temperature_c=14.0, humidity_pct=70.0)
        await puller.wait("tns1:Device/Sensor/Temperature/Low", "State", "true")
        await puller.wait("tns1:Device/Sensor/RelativeHumidity/High", "State", "true")
        s = status(nursery)
        assert s["climate"]["too_hot"] is False and s["climate"]["too_cold"] is True
        assert s["climate"]["humidity_pct"] == 70.0

        # The reading itself, as Status (a float).
        simulate(nursery, temperature_c=19.5, humidity_pct=50.0)
        await puller.wait("tns1:Monitoring/EnvironmentalConditions/Temperature", "Status", "19.5")
        await puller.wait("tns1:Device/Sensor/Temperature/Low", "State", "false")
        await manager.shutdown()
    finally:
        await cam.close()


async def test_a_failing_sensor_is_reported_and_recovers(nursery):
    cam = await camera(nursery)
    try:
        manager = await cam.create_pullpoint_manager(datetime.timedelta(seconds=60), lambda: None)
        puller = Puller(manager.get_service())
        simulate(nursery, failing=True)
        await puller.wait("tns1:Device/HardwareFailure/SensorFailure", "State", "true")
        assert status(nursery)["climate"]["sensor_ok"] is False
        assert "babymonitor_sensor_ok 0" in metrics(nursery)
        assert nursery.proc.poll() is None
        simulate(nursery, failing=False)
        await puller.wait("tns1:Device/HardwareFailure/SensorFailure", "State", "false")
        assert status(nursery)["climate"]["sensor_ok"] is True
        await manager.shutdown()
    finally:
        await cam.close()


async def test_a_webhook_consumer_gets_notify_posts(nursery):
    received = asyncio.Queue()

    async def hook(request):
        await received.put(await request.read())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/webhook/babymonitor", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    cam = await camera(nursery)
    try:
        manager = await cam.create_notification_manager(
            f"http://127.0.0.1:{port}/api/webhook/babymonitor", datetime.timedelta(seconds=60), lambda: None)
        await manager.start()
        await manager.set_synchronization_point()
        simulate(nursery, temperature_c=30.0, humidity_pct=50.0)
        topics = set()
        deadline = asyncio.get_running_loop().time() + 20
        while "tns1:Device/Sensor/Temperature/High" not in topics:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, topics
            body = await asyncio.wait_for(received.get(), left)
            result = manager.process(body)
            for m in result.NotificationMessage:
                topic = m.Topic._value_1
                items = {i.Name: i.Value for i in m.Message._value_1.Data.SimpleItem}
                if topic != "tns1:Device/Sensor/Temperature/High" or items["State"] == "true":
                    topics.add(topic)
        assert "tns1:Monitoring/EnvironmentalConditions/Temperature" in topics
        await manager.shutdown()
    finally:
        await cam.close()
        await runner.cleanup()


def soap(daemon, path, body, creds=ADMIN):
    envelope = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
        f'xmlns:wsa="http://www.w3.org/2005/08/addressing"><s:Body>{body}</s:Body></s:Envelope>'
    )
    return httpx.post(f"http://127.0.0.1:{daemon.http_port}{path}", content=envelope,
                      headers={"Content-Type": SOAP}, auth=httpx.DigestAuth(*creds))


def test_push_notifications_go_only_to_the_homes_own_networks(few):
    # A viewer's subscription must not make the camera send requests to the internet. The
    # address is refused as it is given: nothing is ever sent to it.
    for consumer in ("http://93.184.216.34/hook", "http://[2001:db8::1]:8080/hook"):
        r = soap(few, "/onvif/events_service",
                 "<wsnt:Subscribe><wsnt:ConsumerReference><wsa:Address>"
                 f"{consumer}</wsa:Address></wsnt:ConsumerReference>"
                 "<wsnt:InitialTerminationTime>PT60S</wsnt:InitialTerminationTime></wsnt:Subscribe>",
                 creds=VIEWER)
        assert r.status_code >= 400, r.text
        assert "InvalidConsumerReference" in r.text and "local network" in r.text, r.text


def create_pull_point(daemon, termination="PT60S"):
    return create_pull_point_as(daemon, ADMIN, termination)


def create_pull_point_as(daemon, creds, termination="PT60S"):
    r = soap(daemon, "/onvif/events_service",
             f"<tev:CreatePullPointSubscription><tev:InitialTerminationTime>{termination}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
             creds=creds)
    assert r.status_code == 200, r.text
    address = r.text.split("<wsa:Address>")[1].split("</wsa:Address>")[0]
    return "/" + address.split("/", 3)[3]


def pull(daemon, path, timeout="PT1S", limit="10", creds=ADMIN):
    return soap(daemon, path, f"<tev:PullMessages><tev:Timeout>{timeout}</tev:Timeout><tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>", creds=creds)


@pytest.fixture
def few(tmp_path):
    yield from running(tmp_path, "[events]\nmax_subscriptions = 5\n")


def test_an_abandoned_pull_point_ends_at_its_termination_time(few):
    path = create_pull_point(few, "PT2S")
    assert pull(few, path).status_code == 200
    # Polling keeps it alive; left alone it ends (the camera counts it as expired).
    few.wait_for(lambda: few.metric("babymonitor_event_subscriptions_expired_total") >= 1, "not expired")
    r = pull(few, path)
    assert r.status_code == 400 and "ResourceUnknown" in r.text, r.text
    r = soap(few, path, "<wsnt:Renew><wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>")
    assert r.status_code == 400 and "ResourceUnknown" in r.text


def test_a_thousand_subscriptions_are_bounded(few):
    paths = [create_pull_point(few) for _ in range(5)]
    envelope = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tev="http://www.onvif.org/ver10/events/wsdl"><s:Body><tev:CreatePullPointSubscription/></s:Body></s:Envelope>'
    )
    # One user past its share: each new one ends that user's least used, the count stays put.
    with httpx.Client(auth=httpx.DigestAuth(*ADMIN), headers={"Content-Type": SOAP}) as client:
        for _ in range(995):
            r = client.post(f"http://127.0.0.1:{few.http_port}/onvif/events_service", content=envelope)
            assert r.status_code == 200, r.text
    assert "babymonitor_event_subscriptions_displaced_total 995" in metrics(few)
    assert "babymonitor_event_subscriptions 5" in metrics(few)
    assert "ResourceUnknown" in pull(few, paths[0]).text
    assert few.proc.poll() is None


def test_one_user_cannot_hold_every_subscription(tmp_path):
    # The defaults: 32 in all, 8 for one user.
    d = Daemon(tmp_path).start()
    try:
        abandoned = [create_pull_point_as(d, VIEWER) for _ in range(40)]
        assert "babymonitor_event_subscriptions 8" in metrics(d)
        # The parent's NVR still gets its pull point, and it is its own.
        mine = create_pull_point_as(d, ADMIN)
        assert pull(d, mine).status_code == 200
        r = soap(d, mine, "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>", creds=VIEWER)
        assert r.status_code == 400 and "ResourceUnknown" in r.text, r.text
        # The oldest abandoned ones are gone, the newest still answer their maker.
        assert "ResourceUnknown" in pull(d, abandoned[0], creds=VIEWER).text
        assert pull(d, abandoned[-1], creds=VIEWER).status_code == 200
        assert d.proc.poll() is None
    finally:
        d.stop()


def test_absurd_pulls_are_answered_with_faults_or_limits(few):
    path = create_pull_point(few)
    for timeout, limit in [("PT1S", "0"), ("PT-1S", "10"), ("P99999Y", "10"), ("soon", "10"), ("PT1S", "-3"), ("PT1S", "many")]:
        r = pull(few, path, timeout, limit)
        assert r.status_code == 400 and "env:Sender" in r.text, (timeout, limit, r.text)
    # A huge limit or timeout is shortened, not refused: the queued states come back at once.
    r = pull(few, path, "PT999999S", "4294967295")
    assert r.status_code == 200 and "NotificationMessage" in r.text
    # Unknown subscriptions, and manager calls sent to the service instead of a subscription.
    assert "ResourceUnknown" in pull(few, "/onvif/subscription/12345").text
    assert soap(few, "/onvif/events_service", "<wsnt:Renew/>").status_code == 400
    # A viewer may read events but not another's subscription address is still unknown to guessing.
    r = soap(few, "/onvif/events_service", "<tev:CreatePullPointSubscription/>", creds=VIEWER)
    assert r.status_code == 200
    assert few.proc.poll() is None


def topic_set(daemon):
    """Topic paths GetEventProperties declares, e.g. `VideoSource/MotionAlarm`."""
    from lxml import etree

    r = soap(daemon, "/onvif/events_service", "<tev:GetEventProperties/>")
    assert r.status_code == 200, r.text
    root = etree.fromstring(r.content)
    top = root.find(".//{http://docs.oasis-open.org/wsn/t-1}TopicSet")
    paths = set()

    def walk(el, prefix):
        for child in el:
            path = prefix + [etree.QName(child).localname]
            if child.get("{http://docs.oasis-open.org/wsn/t-1}topic") == "true":
                paths.add("/".join(path))
            walk(child, path)

    walk(top, [])
    return paths


def test_event_properties_list_exactly_what_is_sent(nursery):
    path = create_pull_point(nursery)
    time_limit = 10
    import time
    deadline = time.time() + time_limit
    sent = set()
    while time.time() < deadline and len(sent) < 8:
        r = pull(nursery, path, "PT1S", "100")
        sent |= {t.removeprefix("tns1:") for t in r.text.split('ConcreteSet">')[1:] for t in [t.split("<")[0]]}
    declared = topic_set(nursery)
    assert sent and sent <= declared, (sent, declared)
    # The simulated camera has night vision (the relay) and a climate sensor (its topics).
    assert "Device/Sensor/Temperature/High" in declared and "Device/Trigger/Relay" in declared


def test_api_events_streams_the_state_and_then_changes(nursery):
    lines = []
    with httpx.stream("GET", f"https://127.0.0.1:{nursery.https_port}/api/events",
                      auth=httpx.DigestAuth(*VIEWER), timeout=20) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        changed = False
        for line in r.iter_lines():
            lines.append(line)
            if not changed and len([l for l in lines if l.startswith("data:")]) >= 3:
                simulate(nursery, temperature_c=27.0, humidity_pct=45.0)
                changed = True
            if changed and '"tns1:Device/Sensor/Temperature/High"' in line and '"State":"true"' in line:
                break
    data = [l for l in lines if l.startswith("data:")]
    assert any('"operation":"Initialized"' in l for l in data)
    assert any('"operation":"Changed"' in l for l in data)
