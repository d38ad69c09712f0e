"""The checker of Home Assistant's discovery rules (ha_discovery.py) on configs written by hand:
it passes a correct set and names what is wrong in each broken one, so that test_mqtt's "no
problems" means something."""

import copy

import pytest

from ha_discovery import check_all, expand, problems

P = "homeassistant"
DEV = {"identifiers": ["bm_0242ac110002"], "name": "Nursery", "manufacturer": "babymonitor",
       "model": "Raspberry Pi camera", "sw_version": "0.1.0", "configuration_url": "https://10.0.0.5/"}
BASE = "babymonitor/bm_0242ac110002"


def entity(obj, **kw):
    return {"unique_id": f"bm_0242ac110002_{obj}", "object_id": f"nursery_{obj}", "name": obj.title(),
            "device": DEV, "availability_topic": f"{BASE}/availability", **kw}


GOOD = {
    f"{P}/binary_sensor/bm_0242ac110002/cry/config": entity("cry", state_topic=f"{BASE}/cry", device_class="sound"),
    f"{P}/binary_sensor/bm_0242ac110002/sensor_failure/config": entity(
        "sensor_failure", state_topic=f"{BASE}/sensor_failure", device_class="problem", entity_category="diagnostic"),
    f"{P}/sensor/bm_0242ac110002/temperature/config": entity(
        "temperature", state_topic=f"{BASE}/temperature", device_class="temperature",
        unit_of_measurement="°C", state_class="measurement"),
    f"{P}/sensor/bm_0242ac110002/pressure/config": entity(
        "pressure", state_topic=f"{BASE}/pressure", device_class="atmospheric_pressure",
        unit_of_measurement="hPa", state_class="measurement"),
    f"{P}/sensor/bm_0242ac110002/sound_level/config": entity(
        "sound_level", state_topic=f"{BASE}/sound_level", device_class="sound_pressure",
        unit_of_measurement="dB", state_class="measurement"),
    f"{P}/select/bm_0242ac110002/night_mode/config": entity(
        "night_mode", state_topic=f"{BASE}/night_mode", command_topic=f"{BASE}/night_mode/set",
        options=["day", "night", "auto"], entity_category="config"),
    f"{P}/button/bm_0242ac110002/stop/config": entity("stop", command_topic=f"{BASE}/stop/set", payload_press="PRESS"),
    f"{P}/number/bm_0242ac110002/volume/config": entity(
        "volume", state_topic=f"{BASE}/volume", command_topic=f"{BASE}/volume/set", min=0, max=100, step=1,
        unit_of_measurement="%", mode="slider"),
    f"{P}/camera/bm_0242ac110002/snapshot/config": entity("snapshot", topic=f"{BASE}/snapshot"),
    f"{P}/event/bm_0242ac110002/alert/config": entity(
        "alert", state_topic=f"{BASE}/alert", event_types=["cry", "motion", "too_hot"]),
}


def test_a_correct_set_passes():
    assert check_all(GOOD) == []


def test_abbreviations_and_the_base_topic_are_read_as_home_assistant_does():
    short = {"~": BASE, "uniq_id": "x_temp", "stat_t": "~/temperature", "avty_t": "~/availability",
             "dev_cla": "temperature", "unit_of_meas": "°C", "stat_cla": "measurement",
             "dev": {"ids": ["x"], "name": "N", "mf": "m", "mdl": "p", "sw": "1", "cu": "https://h/"}}
    assert problems(f"{P}/sensor/x/temperature/config", short) == []
    e = expand(short)
    assert e["state_topic"] == f"{BASE}/temperature" and e["device"]["identifiers"] == ["x"]


def broken(topic_part, change):
    topic = next(t for t in GOOD if f"/{topic_part}/config" in t)
    config = copy.deepcopy(GOOD[topic])
    change(config)
    return topic, config


def drop(key):
    return lambda c: c.pop(key)


def put(key, value):
    return lambda c: c.__setitem__(key, value)


@pytest.mark.parametrize("obj, change, says", [
    ("cry", drop("state_topic"), "needs state_topic"),
    ("cry", put("device_class", "crying"), "not a binary_sensor device class"),
    ("cry", put("unit_of_measurement", "dB"), "has no unit_of_measurement"),
    ("cry", drop("unique_id"), "no unique_id"),
    ("cry", drop("availability_topic"), "no availability_topic"),
    ("cry", put("entity_category", "config"), "cannot be a config entity"),
    ("cry", put("entity_category", "system"), "not config or diagnostic"),
    ("temperature", put("unit_of_measurement", "C"), "not a unit of a temperature sensor"),
    ("temperature", drop("state_class"), "state_class must be 'measurement'"),
    ("temperature", put("state_class", "average"), "state_class 'average'"),
    ("pressure", put("unit_of_measurement", "atm"), "not a unit of a atmospheric_pressure"),
    ("sound_level", put("device_class", "sound_level"), "not a sensor device class"),
    ("sound_level", put("unit_of_measurement", "dBFS"), "not a unit of a sound_pressure"),
    ("night_mode", drop("options"), "needs options"),
    ("night_mode", drop("command_topic"), "needs command_topic"),
    ("night_mode", put("options", ["day", "day"]), "not unique"),
    ("night_mode", put("options", []), "non-empty list"),
    ("night_mode", put("command_topic", "babymonitor/+/night_mode/set"), "wildcards"),
    ("stop", drop("command_topic"), "needs command_topic"),
    ("stop", put("state_topic", "x/stop"), "has no state"),
    ("volume", drop("command_topic"), "needs command_topic"),
    ("volume", put("min", 100), "must be below max"),
    ("volume", put("mode", "knob"), "not auto, box or slider"),
    ("snapshot", drop("topic"), "needs topic"),
    ("snapshot", put("image_encoding", "jpeg"), "image_encoding"),
    ("alert", drop("event_types"), "needs event_types"),
    ("alert", put("event_types", "cry"), "non-empty list"),
    ("alert", drop("state_topic"), "needs state_topic"),
])
def test_each_broken_config_is_named(obj, change, says):
    topic, config = broken(obj, change)
    got = problems(topic, config)
    assert any(says in p for p in got), got


def test_device_and_topic_rules():
    topic, config = broken("cry", put("device", {"name": "Nursery"}))
    assert any("identifiers" in p for p in problems(topic, config))
    topic, config = broken("cry", put("device", {**DEV, "configuration_url": "10.0.0.5"}))
    assert any("configuration_url" in p for p in problems(topic, config))
    assert "not homeassistant/<component>" in problems(f"{P}/sensor/bad id/temperature/config", {})[0]
    assert "not a component" in problems(f"{P}/light/x/y/config", {})[0]
    assert "JSON object" in problems(f"{P}/sensor/x/y/config", ["not", "an", "object"])[0]


def test_across_configs_a_unique_id_twice_a_device_described_twice_and_another_prefix_are_named():
    two = dict(GOOD)
    t, c = broken("pressure", put("unique_id", GOOD[next(iter(GOOD))]["unique_id"]))
    two[t] = c
    assert any("is also" in p for p in check_all(two)), check_all(two)
    t, c = broken("pressure", put("device", {**DEV, "name": "Other"}))
    three = {**GOOD, t: c}
    assert any("described differently" in p for p in check_all(three))
    four = {**GOOD, "ha2/sensor/x/t/config": GOOD[f"{P}/sensor/bm_0242ac110002/temperature/config"]}
    assert any("ha2/sensor/x/t/config: not homeassistant/" in p for p in check_all(four)), check_all(four)
