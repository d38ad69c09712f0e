//! A user's alert rules: which alerts reach their phones and how (sound, vibration, a
//! notification), and the sleep-training rule that holds back crying alerts. Stored per user
//! with the run-time settings; the camera applies the same rules to every channel.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// How one kind of alert reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Switches {
    /// Whether this kind alerts at all.
    pub enabled: bool,
    pub sound: bool,
    pub vibrate: bool,
    pub notify: bool,
}

impl Switches {
    const fn all(enabled: bool) -> Self {
        Self {
            enabled,
            sound: true,
            vibrate: true,
            notify: true,
        }
    }
}

impl Default for Switches {
    fn default() -> Self {
        Self::all(true)
    }
}

/// A time of day, local time, written `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime {
    /// Minutes since midnight, 0..1440.
    minutes: u16,
}

impl ClockTime {
    pub const fn new(hour: u16, minute: u16) -> Self {
        Self {
            minutes: (hour % 24) * 60 + minute % 60,
        }
    }

    pub fn minutes(self) -> u16 {
        self.minutes
    }
}

impl std::str::FromStr for ClockTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("must be a time of day as \"HH:MM\" (00:00 to 23:59), not {s:?}");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(Self::new(h, m))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Holds crying alerts back during the night, so that a baby learning to sleep gets a chance
/// to settle: an alert only once crying has lasted `delay_s`, then none for `cooldown_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SleepTraining {
    pub enabled: bool,
    pub delay_s: u32,
    pub cooldown_s: u32,
    /// The hours it applies, local time; `to` before `from` wraps midnight, and `from` equal
    /// to `to` is all day.
    pub from: ClockTime,
    pub to: ClockTime,
}

impl Default for SleepTraining {
    fn default() -> Self {
        Self {
            enabled: false,
            delay_s: 300,
            cooldown_s: 600,
            from: ClockTime::new(19, 0),
            to: ClockTime::new(7, 0),
        }
    }
}

impl SleepTraining {
    /// Whether the rule holds at `minute` (minutes since local midnight).
    pub fn applies_at(&self, minute: u16) -> bool {
        let (from, to) = (self.from.minutes, self.to.minutes);
        self.enabled
            && match from.cmp(&to) {
                std::cmp::Ordering::Equal => true,
                std::cmp::Ordering::Less => (from..to).contains(&minute),
                std::cmp::Ordering::Greater => minute >= from || minute < to,
            }
    }
}

/// Every rule of one user. Fields left out (of a request or of an older state file) take
/// their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub cry: Switches,
    pub motion: Switches,
    /// Too hot, too cold, too humid, too dry.
    pub climate: Switches,
    /// The microphone failed (the camera cannot hear the nursery).
    pub microphone: Switches,
    /// The link to the camera was lost: the page's own alarm (the camera cannot send it).
    pub link: Switches,
    /// Seconds without a sign of life from the camera before the page raises the link alarm.
    pub link_alarm_s: u32,
    pub sleep_training: SleepTraining,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            cry: Switches::all(true),
            motion: Switches {
                vibrate: false,
                ..Switches::all(false)
            },
            climate: Switches::all(true),
            microphone: Switches::all(true),
            link: Switches::all(true),
            link_alarm_s: 10,
            sleep_training: SleepTraining::default(),
        }
    }
}

pub const LINK_ALARM_S: (u32, u32) = (2, 120);
pub const DELAY_S: (u32, u32) = (0, 3600);
pub const COOLDOWN_S: (u32, u32) = (0, 86_400);

/// A rule that cannot be used: the field (dotted path) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        field: field.into(),
        message: message.into(),
    }
}

fn in_range(field: &str, value: u32, (min, max): (u32, u32)) -> Result<(), RuleError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(refuse(
            field,
            format!("must be between {min} and {max}, not {value}"),
        ))
    }
}

impl Rules {
    pub fn validate(&self) -> Result<(), RuleError> {
        in_range("link_alarm_s", self.link_alarm_s, LINK_ALARM_S)?;
        in_range(
            "sleep_training.delay_s",
            self.sleep_training.delay_s,
            DELAY_S,
        )?;
        in_range(
            "sleep_training.cooldown_s",
            self.sleep_training.cooldown_s,
            COOLDOWN_S,
        )
    }

    /// Rules from a request's JSON, checked field by field so that the refusal names the
    /// field (serde's own errors say what was wrong but not where). Unknown fields are
    /// refused: a misspelt switch must not be silently ignored.
    pub fn from_json(value: &Value) -> Result<Self, RuleError> {
        let mut rules = Self::default();
        for (key, v) in object(value, "")? {
            match key.as_str() {
                "cry" => rules.cry = switches(v, key)?,
                "motion" => rules.motion = switches(v, key)?,
                "climate" => rules.climate = switches(v, key)?,
                "microphone" => rules.microphone = switches(v, key)?,
                "link" => rules.link = switches(v, key)?,
                "link_alarm_s" => rules.link_alarm_s = whole(v, key)?,
                "sleep_training" => rules.sleep_training = sleep_training(v)?,
                other => return Err(refuse(other, "unknown field")),
            }
        }
        rules.validate()?;
        Ok(rules)
    }
}

fn object<'v>(
    value: &'v Value,
    field: &str,
) -> Result<&'v serde_json::Map<String, Value>, RuleError> {
    value.as_object().ok_or_else(|| {
        let field = if field.is_empty() { "body" } else { field };
        refuse(field, "must be a JSON object")
    })
}

fn boolean(value: &Value, field: &str) -> Result<bool, RuleError> {
    value
        .as_bool()
        .ok_or_else(|| refuse(field, "must be true or false"))
}

fn whole(value: &Value, field: &str) -> Result<u32, RuleError> {
    match value.as_u64() {
        Some(n) => u32::try_from(n).map_err(|_| refuse(field, "is too large")),
        // 30.0 is still thirty seconds.
        None => match value.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(f as u32),
            _ => Err(refuse(
                field,
                "must be a whole number of seconds (0 or more)",
            )),
        },
    }
}

fn switches(value: &Value, field: &str) -> Result<Switches, RuleError> {
    let mut s = Switches::default();
    for (key, v) in object(value, field)? {
        let path = format!("{field}.{key}");
        let slot = match key.as_str() {
            "enabled" => &mut s.enabled,
            "sound" => &mut s.sound,
            "vibrate" => &mut s.vibrate,
            "notify" => &mut s.notify,
            _ => return Err(refuse(path, "unknown field")),
        };
        *slot = boolean(v, &path)?;
    }
    Ok(s)
}

fn sleep_training(value: &Value) -> Result<SleepTraining, RuleError> {
    let mut st = SleepTraining::default();
    for (key, v) in object(value, "sleep_training")? {
        let path = format!("sleep_training.{key}");
        match key.as_str() {
            "enabled" => st.enabled = boolean(v, &path)?,
            "delay_s" => st.delay_s = whole(v, &path)?,
            "cooldown_s" => st.cooldown_s = whole(v, &path)?,
            "from" | "to" => {
                let time = v
                    .as_str()
                    .ok_or_else(|| refuse(&path, "must be a time of day as \"HH:MM\""))?
                    .parse()
                    .map_err(|m| refuse(&path, m))?;
                if key == "from" {
                    st.from = time;
                } else {
                    st.to = time;
                }
            }
            _ => return Err(refuse(path, "unknown field")),
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones_and_round_trip_as_json_and_toml() {
        let r = Rules::default();
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(
            v,
            json!({
                "cry":{"enabled":true,"sound":true,"vibrate":true,"notify":true},
                "motion":{"enabled":false,"sound":true,"vibrate":false,"notify":true},
                "climate":{"enabled":true,"sound":true,"vibrate":true,"notify":true},
                "microphone":{"enabled":true,"sound":true,"vibrate":true,"notify":true},
                "link":{"enabled":true,"sound":true,"vibrate":true,"notify":true},
                "link_alarm_s":10,
                "sleep_training":{"enabled":false,"delay_s":300,"cooldown_s":600,"from":"19:00","to":"07:00"}
            })
        );
        assert_eq!(Rules::from_json(&v), Ok(r.clone()));
        let text = toml::to_string(&r).expect("toml");
        assert_eq!(toml::from_str::<Rules>(&text).expect("toml back"), r);
        // An older file without the newer fields reads with their defaults.
        assert_eq!(
            toml::from_str::<Rules>("link_alarm_s = 20\n").expect("partial"),
            Rules {
                link_alarm_s: 20,
                ..Rules::default()
            }
        );
    }

    #[test]
    fn a_request_sets_what_it_names_and_leaves_the_rest_at_the_defaults() {
        let r = Rules::from_json(&json!({
            "cry": {"enabled": false},
            "link_alarm_s": 30.0,
            "sleep_training": {"enabled": true, "delay_s": 30, "from": "21:30", "to": "06:15"}
        }))
        .expect("valid");
        assert!(!r.cry.enabled && r.cry.sound);
        assert_eq!(r.link_alarm_s, 30);
        assert_eq!(r.sleep_training.delay_s, 30);
        assert_eq!(r.sleep_training.cooldown_s, 600);
        assert_eq!(r.sleep_training.from.to_string(), "21:30");
        assert_eq!(r.sleep_training.to.minutes(), 6 * 60 + 15);
    }

    #[test]
    fn refusals_name_the_field() {
        for (body, field, says) in [
            (
                json!({"link_alarm_s": 1}),
                "link_alarm_s",
                "between 2 and 120",
            ),
            (
                json!({"link_alarm_s": 121}),
                "link_alarm_s",
                "between 2 and 120",
            ),
            (json!({"link_alarm_s": -5}), "link_alarm_s", "whole number"),
            (
                json!({"link_alarm_s": "10"}),
                "link_alarm_s",
                "whole number",
            ),
            (
                json!({"link_alarm_s": 1e12}),
                "link_alarm_s",
                "whole number",
            ),
            (
                json!({"sleep_training": {"delay_s": 3601}}),
                "sleep_training.delay_s",
                "between 0 and 3600",
            ),
            (
                json!({"sleep_training": {"cooldown_s": 86401}}),
                "sleep_training.cooldown_s",
                "between 0 and 86400",
            ),
            (
                json!({"sleep_training": {"from": "24:00"}}),
                "sleep_training.from",
                "HH:MM",
            ),
            (
                json!({"sleep_training": {"to": "7:00"}}),
                "sleep_training.to",
                "HH:MM",
            ),
            (
                json!({"sleep_training": {"to": 700}}),
                "sleep_training.to",
                "HH:MM",
            ),
            (
                json!({"sleep_training": {"from": "07:6x"}}),
                "sleep_training.from",
                "HH:MM",
            ),
            (
                json!({"cry": {"sound": "yes"}}),
                "cry.sound",
                "true or false",
            ),
            (json!({"cry": {"loud": true}}), "cry.loud", "unknown field"),
            (json!({"cry": true}), "cry", "JSON object"),
            (json!({"crying": {}}), "crying", "unknown field"),
            (
                json!({"sleep_training": {"delay": 3}}),
                "sleep_training.delay",
                "unknown field",
            ),
            (json!([1, 2]), "body", "JSON object"),
        ] {
            let err = Rules::from_json(&body).expect_err(&body.to_string());
            assert_eq!(err.field, field, "{body}");
            assert!(err.message.contains(says), "{body}: {err}");
        }
    }

    #[test]
    fn sleep_training_hours_wrap_midnight() {
        let at = |h: u16, m: u16| h * 60 + m;
        let mut st = SleepTraining {
            enabled: true,
            ..SleepTraining::default()
        };
        // 19:00 to 07:00 wraps midnight.
        for (minute, applies) in [
            (at(18, 59), false),
            (at(19, 0), true),
            (at(23, 59), true),
            (at(0, 0), true),
            (at(6, 59), true),
            (at(7, 0), false),
            (at(12, 0), false),
        ] {
            assert_eq!(st.applies_at(minute), applies, "{minute}");
        }
        // 13:00 to 15:00 (a nap) does not.
        (st.from, st.to) = (ClockTime::new(13, 0), ClockTime::new(15, 0));
        assert!(st.applies_at(at(14, 0)) && !st.applies_at(at(15, 0)) && !st.applies_at(at(1, 0)));
        // The same time twice is all day.
        st.to = st.from;
        assert!((0..1440).all(|m| st.applies_at(m)));
        st.enabled = false;
        assert!(!(0..1440).any(|m| st.applies_at(m)));
    }
}
