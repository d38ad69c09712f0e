"""Home Assistant's rules for an MQTT discovery config, as its documentation states them
(https://www.home-assistant.io/integrations/mqtt/ and the page of each MQTT platform; device
classes and their units from the sensor, binary sensor, number, button and event pages), for
the components the camera announces: what Home Assistant would refuse or misread is a problem.

`problems(topic, config)` lists what is wrong with one config; `check_all({topic: config})`
adds what is wrong across them (a unique_id used twice). Abbreviated keys and the `~` base
topic are expanded first, as Home Assistant does, so either spelling passes."""

import re

COMPONENTS = {"binary_sensor", "sensor", "select", "button", "number", "camera", "event"}

PREFIX = "homeassistant"


def parse_topic(topic: str, prefix: str = PREFIX):
    """<prefix>/<component>/[<node_id>/]<object_id>/config (ids of [a-zA-Z0-9_-] only) as a
    match with component, node and object, or None."""
    if not topic.startswith(prefix + "/"):
        return None
    return re.fullmatch(r"(?P<component>[a-z_]+)/(?:(?P<node>[A-Za-z0-9_-]+)/)?(?P<object>[A-Za-z0-9_-]+)/config",
                        topic[len(prefix) + 1:])

# The abbreviations the documentation lists, for the keys these components use.
ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "cmd_t": "command_topic", "cmd_tpl": "command_template",
    "dev": "device", "dev_cla": "device_class", "ent_cat": "entity_category", "en": "enabled_by_default",
    "enc": "encoding", "evt_typ": "event_types", "exp_aft": "expire_after", "frc_upd": "force_update",
    "ic": "icon", "img_e": "image_encoding", "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template", "max": "max", "min": "min", "mode": "mode",
    "obj_id": "object_id", "off_dly": "off_delay", "ops": "options", "o": "origin",
    "pl_avail": "payload_available", "pl_not_avail": "payload_not_available", "pl_off": "payload_off",
    "pl_on": "payload_on", "pl_prs": "payload_press", "pl_rst": "payload_reset", "ret": "retain",
    "stat_cla": "state_class", "stat_t": "state_topic", "stat_tpl": "state_template", "step": "step",
    "sug_dsp_prc": "suggested_display_precision", "t": "topic", "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template", "def_ent_id": "default_entity_id",
}
DEVICE_ABBREVIATIONS = {
    "cns": "connections", "cu": "configuration_url", "hw": "hw_version", "ids": "identifiers",
    "mf": "manufacturer", "mdl": "model", "mdl_id": "model_id", "sa": "suggested_area",
    "sn": "serial_number", "sw": "sw_version", "via_device": "via_device",
}
ORIGIN_ABBREVIATIONS = {"sw": "sw_version", "url": "support_url"}

# Keys each component cannot do without.
REQUIRED = {
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "select": {"command_topic", "options"},
    "button": {"command_topic"},
    "number": {"command_topic"},
    "camera": {"topic"},
    "event": {"state_topic", "event_types"},
}

BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door",
    "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
    "power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update",
    "vibration", "window",
}
BUTTON_CLASSES = {"identify", "restart", "update"}
EVENT_CLASSES = {"button", "doorbell", "motion"}

PRESSURE_UNITS = {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"}
# Sensor device classes with the units Home Assistant accepts for each (None: no unit). The
# classes of a numeric measurement this camera could use, plus the common ones.
SENSOR_UNITS = {
    "apparent_power": {"VA", "kVA", "mVA"},
    "aqi": {None},
    "atmospheric_pressure": PRESSURE_UNITS,
    "battery": {"%"},
    "carbon_dioxide": {"ppm"},
    "carbon_monoxide": {"ppm", "mg/m³", "µg/m³"},
    "current": {"A", "mA"},
    "data_rate": {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"},
    "data_size": {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "humidity": {"%"},
    "illuminance": {"lx"},
    "moisture": {"%"},
    "pm1": {"µg/m³"},
    "pm10": {"µg/m³"},
    "pm25": {"µg/m³"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "pressure": PRESSURE_UNITS,
    "signal_strength": {"dB", "dBm"},
    "sound_pressure": {"dB", "dBA"},
    "temperature": {"°C", "°F", "K"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "volatile_organic_compounds": {"µg/m³", "mg/m³"},
}
# Sensor classes whose state is not a measurement: no unit, no state class.
SENSOR_NON_NUMERIC = {"date", "enum", "timestamp"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# A number shares the sensor's measurement classes (not the non-numeric ones).
NUMBER_CLASSES = set(SENSOR_UNITS)
ENTITY_CATEGORIES = {"config", "diagnostic"}
# What only reports (nothing to configure) cannot be a "config" entity.
READ_ONLY = {"binary_sensor", "sensor", "camera", "event"}
NUMBER_MODES = {"auto", "box", "slider"}


def expand(config: dict) -> dict:
    """The config with its keys unabbreviated and `~` replaced, as Home Assistant reads it."""
    out = {ABBREVIATIONS.get(k, k): v for k, v in config.items()}
    for key, table in (("device", DEVICE_ABBREVIATIONS), ("origin", ORIGIN_ABBREVIATIONS)):
        if isinstance(out.get(key), dict):
            out[key] = {table.get(k, k): v for k, v in out[key].items()}
    base = out.get("~")
    if isinstance(base, str):
        for k, v in list(out.items()):
            if k.endswith("_topic") and isinstance(v, str):
                if v.startswith("~"):
                    out[k] = base + v[1:]
                elif v.endswith("~"):
                    out[k] = v[:-1] + base
    if isinstance(out.get("availability"), list):
        out["availability"] = [
            {ABBREVIATIONS.get(k, k): v for k, v in a.items()} if isinstance(a, dict) else a
            for a in out["availability"]
        ]
    return out


def _topic_problems(name: str, value, publish: bool) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{name} must be a non-empty string, is {value!r}"]
    out = []
    if "\0" in value or len(value.encode()) > 65535:
        out.append(f"{name} is not a valid MQTT topic")
    if publish and ("+" in value or "#" in value):
        out.append(f"{name} {value!r} has wildcards: one cannot publish there")
    return out


def availability_topics(config: dict) -> list[str]:
    c = expand(config)
    topics = [c["availability_topic"]] if "availability_topic" in c else []
    for a in c.get("availability") or []:
        if isinstance(a, dict) and "topic" in a:
            topics.append(a["topic"])
    return topics


def problems(topic: str, config, prefix: str = PREFIX) -> list[str]:
    """What is wrong with the discovery `config` published on `topic`."""
    m = parse_topic(topic, prefix)
    if not m:
        return [f"{topic}: not {prefix}/<component>/[<node_id>/]<object_id>/config"]
    component = m["component"]
    if component not in COMPONENTS:
        return [f"{topic}: {component} is not a component the camera should announce"]
    if not isinstance(config, dict):
        return [f"{topic}: the config must be a JSON object"]
    c = expand(config)
    out = []

    def bad(msg):
        out.append(f"{topic}: {msg}")

    for key in sorted(REQUIRED[component] - c.keys()):
        bad(f"{component} needs {key}")

    # Topics.
    for key in ("command_topic",):
        if key in c:
            out += [f"{topic}: {p}" for p in _topic_problems(key, c[key], publish=True)]
    for key in ("state_topic", "topic", "availability_topic", "json_attributes_topic"):
        if key in c:
            out += [f"{topic}: {p}" for p in _topic_problems(key, c[key], publish=False)]
    if "availability" in c:
        if not isinstance(c["availability"], list) or not c["availability"]:
            bad("availability must be a non-empty list")
        else:
            for a in c["availability"]:
                if not isinstance(a, dict) or "topic" not in a:
                    bad(f"an availability entry needs a topic: {a!r}")
    if not availability_topics(config):
        bad("no availability_topic: Home Assistant would never show it unavailable")
    if "availability_topic" in c and "availability" in c:
        bad("availability_topic and availability together")
    if c.get("availability_mode", "latest") not in {"all", "any", "latest"}:
        bad(f"availability_mode {c['availability_mode']!r}")
    if c.get("qos", 0) not in (0, 1, 2):
        bad(f"qos {c['qos']!r}")
    if "retain" in c and not isinstance(c["retain"], bool):
        bad("retain must be true or false")

    # Identity.
    uid = c.get("unique_id")
    if not isinstance(uid, str) or not uid.strip():
        bad("no unique_id: Home Assistant could not keep or edit the entity")
    if "object_id" in c and not (isinstance(c["object_id"], str) and re.fullmatch(r"[a-z0-9_]+", c["object_id"])):
        bad(f"object_id {c['object_id']!r} is not a lower-case slug")
    if "name" in c and c["name"] is not None and (not isinstance(c["name"], str) or not c["name"].strip()):
        bad(f"name {c['name']!r} must be a non-empty string or null")
    if "icon" in c and not (isinstance(c["icon"], str) and re.fullmatch(r"[a-z]+:[a-z0-9-]+", c["icon"])):
        bad(f"icon {c['icon']!r} is not prefix:name")
    if "enabled_by_default" in c and not isinstance(c["enabled_by_default"], bool):
        bad("enabled_by_default must be true or false")

    device = c.get("device")
    if not isinstance(device, dict):
        bad("no device: the entity would belong to no device")
    else:
        ids = device.get("identifiers")
        if isinstance(ids, str):
            ids = [ids]
        if not ids or not all(isinstance(i, str) and i for i in ids):
            bad(f"device.identifiers must be a non-empty list of strings, is {device.get('identifiers')!r}")
        for key in ("name", "manufacturer", "model", "sw_version", "hw_version"):
            if key in device and not isinstance(device[key], str):
                bad(f"device.{key} must be a string")
        url = device.get("configuration_url")
        if url is not None and not (isinstance(url, str) and re.match(r"^(https?://[^/\s]+|homeassistant://)", url)):
            bad(f"device.configuration_url {url!r} is not a http(s) URL")
    if "origin" in c and not (isinstance(c["origin"], dict) and isinstance(c["origin"].get("name"), str)):
        bad("origin needs a name")

    # Category.
    cat = c.get("entity_category")
    if cat is not None:
        if cat not in ENTITY_CATEGORIES:
            bad(f"entity_category {cat!r} is not config or diagnostic")
        elif cat == "config" and component in READ_ONLY:
            bad(f"a {component} cannot be a config entity (it configures nothing)")

    # Device class, units, state class.
    dc = c.get("device_class")
    unit = c.get("unit_of_measurement")
    if component == "binary_sensor":
        if dc is not None and dc not in BINARY_SENSOR_CLASSES:
            bad(f"{dc!r} is not a binary_sensor device class")
        for key in ("unit_of_measurement", "state_class"):
            if key in c:
                bad(f"a binary_sensor has no {key}")
        if "off_delay" in c and not (isinstance(c["off_delay"], int) and c["off_delay"] > 0):
            bad("off_delay must be a positive whole number of seconds")
        if c.get("payload_on", "ON") == c.get("payload_off", "OFF"):
            bad("payload_on and payload_off are the same")
    elif component == "sensor":
        sc = c.get("state_class")
        if sc is not None and sc not in STATE_CLASSES:
            bad(f"state_class {sc!r}")
        if dc is not None:
            if dc in SENSOR_NON_NUMERIC:
                if unit is not None or sc is not None:
                    bad(f"a {dc} sensor has no unit or state class")
            elif dc not in SENSOR_UNITS:
                bad(f"{dc!r} is not a sensor device class")
            else:
                if unit not in SENSOR_UNITS[dc]:
                    bad(f"{unit!r} is not a unit of a {dc} sensor (one of {sorted(SENSOR_UNITS[dc], key=str)})")
                if sc != "measurement":
                    bad(f"a {dc} sensor is a measurement: state_class must be 'measurement', is {sc!r}")
        if "expire_after" in c and not (isinstance(c["expire_after"], int) and c["expire_after"] > 0):
            bad("expire_after must be a positive whole number of seconds")
        if "suggested_display_precision" in c and not (
                isinstance(c["suggested_display_precision"], int) and c["suggested_display_precision"] >= 0):
            bad("suggested_display_precision must be a whole number >= 0")
    elif component == "number":
        if dc is not None:
            if dc not in NUMBER_CLASSES:
                bad(f"{dc!r} is not a number device class")
            elif unit not in SENSOR_UNITS[dc]:
                bad(f"{unit!r} is not a unit of a {dc} number")
        # Without them, Home Assistant takes 1 and 100.
        lo, hi, step = c.get("min", 1), c.get("max", 100), c.get("step", 1)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi, step)):
            bad(f"min, max and step must be numbers: {lo!r} {hi!r} {step!r}")
        else:
            if not lo < hi:
                bad(f"min {lo} must be below max {hi}")
            if not step > 0:
                bad(f"step {step} must be positive")
        if c.get("mode", "auto") not in NUMBER_MODES:
            bad(f"mode {c['mode']!r} is not auto, box or slider")
        if "state_class" in c:
            bad("a number has no state_class")
    elif component == "select":
        ops = c.get("options")
        if "options" in c:
            if not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o for o in ops):
                bad(f"options must be a non-empty list of strings, is {ops!r}")
            elif len(set(ops)) != len(ops):
                bad(f"options are not unique: {ops}")
        for key in ("device_class", "unit_of_measurement", "state_class"):
            if key in c:
                bad(f"a select has no {key}")
    elif component == "button":
        if dc is not None and dc not in BUTTON_CLASSES:
            bad(f"{dc!r} is not a button device class")
        if "state_topic" in c:
            bad("a button has no state (state_topic)")
        if not isinstance(c.get("payload_press", "PRESS"), str):
            bad("payload_press must be a string")
    elif component == "camera":
        for key in ("device_class", "unit_of_measurement", "state_class", "command_topic"):
            if key in c:
                bad(f"a camera has no {key}")
        if c.get("image_encoding", "b64") not in ("b64",):
            bad(f"image_encoding {c['image_encoding']!r}: only b64 (or none, raw bytes)")
    elif component == "event":
        types = c.get("event_types")
        if "event_types" in c:
            if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
                bad(f"event_types must be a non-empty list of strings, is {types!r}")
            elif len(set(types)) != len(types):
                bad(f"event_types are not unique: {types}")
        if dc is not None and dc not in EVENT_CLASSES:
            bad(f"{dc!r} is not an event device class")
        for key in ("unit_of_measurement", "state_class", "command_topic"):
            if key in c:
                bad(f"an event has no {key}")
    return out


def check_all(configs: dict, prefix: str = PREFIX) -> list[str]:
    """problems() of each config, then what is wrong across them: unique_ids used twice, two
    devices under one identifier."""
    out = []
    for topic, config in configs.items():
        out += problems(topic, config, prefix)
    seen = {}
    for topic, config in configs.items():
        if not isinstance(config, dict):
            continue
        uid = expand(config).get("unique_id")
        if isinstance(uid, str):
            if uid in seen:
                out.append(f"unique_id {uid!r} of {topic} is also {seen[uid]}'s")
            seen[uid] = topic
    devices = {}
    for topic, config in configs.items():
        d = expand(config).get("device") if isinstance(config, dict) else None
        if isinstance(d, dict) and isinstance(d.get("identifiers"), list):
            for i in d["identifiers"]:
                summary = (d.get("name"), d.get("manufacturer"), d.get("model"), d.get("sw_version"))
                if devices.setdefault(i, summary) != summary:
                    out.append(f"{topic}: device {i!r} is described differently elsewhere: {summary} vs {devices[i]}")
    return out
