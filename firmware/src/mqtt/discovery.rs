//! Home Assistant's MQTT discovery: one retained config per entity under
//! `<prefix>/<component>/<device id>/<object>/config`, so that the camera appears as a device
//! with its sensors and controls without any YAML. An entity the camera does not have (no
//! sensor, no speaker) is announced with an empty config, which removes it from Home Assistant.

use serde_json::{Map, Value, json};

use crate::alerts::Kind;

/// What the camera is and has, for the announcements.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// `bm_<hardware id>`: unique per camera, stable across restarts and updates.
    pub id: String,
    pub name: String,
    pub model: String,
    pub version: String,
    /// The page, for the "visit" link in Home Assistant.
    pub page: String,
    pub has_climate: bool,
    pub has_speaker: bool,
    pub has_night: bool,
    pub has_microphone: bool,
    /// The select's options: `None`, then every sound's (unique) name.
    pub sounds: Vec<String>,
}

/// One entity: its component, object id (the last part of its own topics) and config.
pub struct Entity {
    pub component: &'static str,
    pub object: &'static str,
    /// `None`: the camera does not have it (its config is removed).
    pub config: Option<Value>,
}

/// The option of the sound select that means "nothing plays".
pub const NOTHING: &str = "None";

/// Every entity the camera may have, in the order Home Assistant lists them.
pub fn entities(d: &Device, base: &str) -> Vec<Entity> {
    let state = |object: &str| format!("{base}/{object}");
    let command = |object: &str| format!("{base}/{object}/set");
    // `default_entity_id` (Home Assistant 2025.10 on) makes `sensor.nursery_temperature`;
    // older releases drop keys they do not know from discovery.
    let common = |component: &str, object: &str, name: &str| {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        m.insert("unique_id".into(), json!(format!("{}_{object}", d.id)));
        m.insert(
            "default_entity_id".into(),
            json!(format!("{component}.{}_{object}", slug(&d.name))),
        );
        m.insert("availability_topic".into(), json!(state("availability")));
        m.insert("device".into(), device(d));
        m.insert(
            "origin".into(),
            json!({
                "name": "babymonitor",
                "sw_version": d.version,
                "support_url": "https://github.com/babymonitor/babymonitor",
            }),
        );
        m
    };
    let with = |mut m: Map<String, Value>, extra: Value| {
        if let Value::Object(extra) = extra {
            m.extend(extra);
        }
        Value::Object(m)
    };
    let binary =
        |object: &'static str, name: &str, class: Option<&str>, diagnostic: bool, present: bool| {
            let mut extra = json!({
                "state_topic": state(object),
                "payload_on": "ON",
                "payload_off": "OFF",
            });
            if let Some(class) = class {
                extra["device_class"] = json!(class);
            }
            if diagnostic {
                extra["entity_category"] = json!("diagnostic");
            }
            Entity {
                component: "binary_sensor",
                object,
                config: present.then(|| with(common("binary_sensor", object, name), extra)),
            }
        };
    let sensor =
        |object: &'static str, name: &str, class: &str, unit: &str, present: bool| Entity {
            component: "sensor",
            object,
            config: present.then(|| {
                with(
                    common("sensor", object, name),
                    json!({
                        "state_topic": state(object),
                        "device_class": class,
                        "unit_of_measurement": unit,
                        "state_class": "measurement",
                        "suggested_display_precision": 1,
                    }),
                )
            }),
        };
    let mut alert_kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    alert_kinds.sort_unstable();
    vec![
        binary("cry", "Crying", Some("sound"), false, d.has_microphone),
        binary("motion", "Motion", Some("motion"), false, true),
        binary("too_hot", "Too hot", Some("heat"), false, d.has_climate),
        binary("too_cold", "Too cold", Some("cold"), false, d.has_climate),
        binary("too_dry", "Too dry", None, false, d.has_climate),
        binary(
            "too_humid",
            "Too humid",
            Some("moisture"),
            false,
            d.has_climate,
        ),
        binary(
            "sensor_failure",
            "Sensor failure",
            Some("problem"),
            true,
            d.has_climate,
        ),
        binary(
            "microphone_failure",
            "Microphone failure",
            Some("problem"),
            true,
            d.has_microphone,
        ),
        binary("night", "Night vision", None, false, d.has_night),
        sensor(
            "temperature",
            "Temperature",
            "temperature",
            "°C",
            d.has_climate,
        ),
        sensor("humidity", "Humidity", "humidity", "%", d.has_climate),
        sensor(
            "pressure",
            "Pressure",
            "atmospheric_pressure",
            "hPa",
            d.has_climate,
        ),
        sensor(
            "sound_level",
            "Sound level",
            "sound_pressure",
            "dB",
            d.has_microphone,
        ),
        Entity {
            component: "select",
            object: "night_mode",
            config: d.has_night.then(|| {
                with(
                    common("select", "night_mode", "Night mode"),
                    json!({
                        "state_topic": state("night_mode"),
                        "command_topic": command("night_mode"),
                        "options": ["auto", "day", "night"],
                        "icon": "mdi:weather-night",
                    }),
                )
            }),
        },
        Entity {
            component: "select",
            object: "sound",
            config: d.has_speaker.then(|| {
                with(
                    common("select", "sound", "Sound"),
                    json!({
                        "state_topic": state("sound"),
                        "command_topic": command("sound"),
                        "options": d.sounds,
                        "icon": "mdi:music-note",
                    }),
                )
            }),
        },
        Entity {
            component: "button",
            object: "stop",
            config: d.has_speaker.then(|| {
                with(
                    common("button", "stop", "Stop sound"),
                    json!({
                        "command_topic": command("stop"),
                        "payload_press": "PRESS",
                        "icon": "mdi:stop",
                    }),
                )
            }),
        },
        Entity {
            component: "number",
            object: "volume",
            config: d.has_speaker.then(|| {
                with(
                    common("number", "volume", "Volume"),
                    json!({
                        "state_topic": state("volume"),
                        "command_topic": command("volume"),
                        "min": 0,
                        "max": 100,
                        "step": 1,
                        "mode": "slider",
                        "unit_of_measurement": "%",
                        "icon": "mdi:volume-high",
                    }),
                )
            }),
        },
        Entity {
            component: "camera",
            object: "snapshot",
            config: Some(with(
                common("camera", "snapshot", "Snapshot"),
                json!({ "topic": state("snapshot") }),
            )),
        },
        Entity {
            component: "event",
            object: "alert",
            config: Some(with(
                common("event", "alert", "Alert"),
                json!({
                    "state_topic": state("alert"),
                    "event_types": alert_kinds,
                    "icon": "mdi:bell-ring",
                }),
            )),
        },
    ]
}

fn device(d: &Device) -> Value {
    json!({
        "identifiers": [d.id],
        "name": d.name,
        "manufacturer": "babymonitor",
        "model": d.model,
        "sw_version": d.version,
        "configuration_url": d.page,
    })
}

/// Where an entity's config goes.
pub fn config_topic(prefix: &str, device: &str, e: &Entity) -> String {
    format!("{prefix}/{}/{device}/{}/config", e.component, e.object)
}

/// A name as Home Assistant's entity ids spell it: lower case, `_` between words.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        "babymonitor".into()
    } else {
        out
    }
}

/// The select's options from the sounds' names: `None` first, each name once (a second clip
/// of the same name is told apart by a number), none that would read as `None`.
pub fn sound_options<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut options = vec![NOTHING.to_string()];
    for name in names {
        let name = name.trim();
        let base = if name.is_empty() || name.eq_ignore_ascii_case(NOTHING) {
            format!("{name} (sound)").trim().to_string()
        } else {
            name.to_string()
        };
        let mut option = base.clone();
        let mut n = 2;
        while options.contains(&option) {
            option = format!("{base} ({n})");
            n += 1;
        }
        options.push(option);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device {
            id: "bm_b827eb123456".into(),
            name: "Nursery".into(),
            model: "Raspberry Pi 3 Model B".into(),
            version: "0.2.0".into(),
            page: "https://10.0.0.5:8443/".into(),
            has_climate: true,
            has_speaker: true,
            has_night: true,
            has_microphone: true,
            sounds: sound_options(["White noise", "Brahms"]),
        }
    }

    #[test]
    fn every_entity_is_announced_once_with_its_topics() {
        let d = device();
        let all = entities(&d, "babymonitor/bm_b827eb123456");
        let mut ids: Vec<String> = Vec::new();
        for e in &all {
            let c = e.config.as_ref().expect("a full camera has every entity");
            let id = c["unique_id"].as_str().expect("unique_id").to_string();
            assert!(!ids.contains(&id), "{id} twice");
            ids.push(id);
            assert_eq!(c["device"]["identifiers"][0], "bm_b827eb123456");
            assert_eq!(
                c["availability_topic"],
                "babymonitor/bm_b827eb123456/availability"
            );
            if let Some(cmd) = c.get("command_topic") {
                let cmd = cmd.as_str().expect("text");
                assert_eq!(cmd, format!("babymonitor/bm_b827eb123456/{}/set", e.object));
            }
        }
        assert_eq!(ids.len(), 19);
        let topic = config_topic("homeassistant", &d.id, &all[0]);
        assert_eq!(
            topic,
            "homeassistant/binary_sensor/bm_b827eb123456/cry/config"
        );
        let temp = all.iter().find(|e| e.object == "temperature").expect("t");
        let c = temp.config.as_ref().expect("c");
        assert_eq!(c["unit_of_measurement"], "°C");
        assert_eq!(c["device_class"], "temperature");
        let sound = all.iter().find(|e| e.object == "sound").expect("s");
        assert_eq!(
            sound.config.as_ref().expect("c")["options"],
            json!(["None", "White noise", "Brahms"])
        );
    }

    #[test]
    fn what_the_camera_lacks_is_removed() {
        let d = Device {
            has_climate: false,
            has_speaker: false,
            ..device()
        };
        let all = entities(&d, "b");
        let gone: Vec<&str> = all
            .iter()
            .filter(|e| e.config.is_none())
            .map(|e| e.object)
            .collect();
        assert_eq!(
            gone,
            [
                "too_hot",
                "too_cold",
                "too_dry",
                "too_humid",
                "sensor_failure",
                "temperature",
                "humidity",
                "pressure",
                "sound",
                "stop",
                "volume"
            ]
        );
    }

    #[test]
    fn sound_options_are_unique_and_none_is_reserved() {
        assert_eq!(
            sound_options(["Rain", "Rain", "none", "", "Rain"]),
            [
                "None",
                "Rain",
                "Rain (2)",
                "none (sound)",
                "(sound)",
                "Rain (3)"
            ]
        );
        assert_eq!(slug("Baby's room 2"), "baby_s_room_2");
        assert_eq!(slug("çà"), "babymonitor");
    }
}
