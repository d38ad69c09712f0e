//! `[mqtt]`: the camera as a device on an MQTT broker, announced to Home Assistant by its MQTT
//! discovery, with its sensors, controls and alerts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Problems, Role};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    pub enabled: bool,
    /// `host`, `host:port`, `mqtt://host[:port]` or `mqtts://host[:port]` (TLS).
    pub broker: String,
    pub user: String,
    pub password: String,
    pub protocol: MqttProtocol,
    /// Empty: `babymonitor-<device id>`.
    pub client_id: String,
    /// Where the camera's own topics live; empty: `babymonitor/<device id>`.
    pub topic: String,
    pub discovery_prefix: String,
    /// The role commands from the broker act as: `user` takes none (read only), `operator` takes the
    /// page's controls. Anyone who may publish on the broker has this role.
    pub commands: Role,
    /// A fresh snapshot is published this often (and with every alert); 0: only with alerts.
    pub snapshot_interval_s: u64,
    /// Alerts held while the broker is slow or away; beyond it the oldest go (counted). States
    /// wait as their newest value each and are not counted.
    pub queue: usize,
    /// PEM file of the CA that signed the broker's certificate, for `mqtts://`; empty: the
    /// built-in public roots.
    pub ca_file: PathBuf,
    /// Whose alert rules the alert events follow; empty: the first admin.
    pub alerts_for: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MqttProtocol {
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            broker: String::new(),
            user: String::new(),
            password: String::new(),
            protocol: MqttProtocol::V311,
            client_id: String::new(),
            topic: String::new(),
            discovery_prefix: "homeassistant".into(),
            commands: Role::Operator,
            snapshot_interval_s: 300,
            queue: 200,
            ca_file: PathBuf::new(),
            alerts_for: String::new(),
        }
    }
}

/// What the web page sets (`PUT /api/mqtt`, admin), stored with the run-time settings over the
/// file's `[mqtt]`: the broker and its login, enough for a parent to add the camera to Home
/// Assistant without editing files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttLink {
    pub enabled: bool,
    pub broker: String,
    pub user: String,
    pub password: String,
    pub protocol: MqttProtocol,
    pub commands: Role,
}

impl MqttLink {
    pub fn of(c: &MqttConfig) -> Self {
        Self {
            enabled: c.enabled,
            broker: c.broker.clone(),
            user: c.user.clone(),
            password: c.password.clone(),
            protocol: c.protocol,
            commands: c.commands,
        }
    }

    pub fn apply(&self, c: &mut MqttConfig) {
        c.enabled = self.enabled;
        c.broker.clone_from(&self.broker);
        c.user.clone_from(&self.user);
        c.password.clone_from(&self.password);
        c.protocol = self.protocol;
        c.commands = self.commands;
    }
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl MqttConfig {
    /// The broker's host, port and whether it speaks TLS.
    pub fn address(&self) -> Result<BrokerAddress, String> {
        let text = self.broker.trim();
        let (tls, rest) = if let Some(rest) = text.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("mqtt://") {
            (false, rest)
        } else if text.contains("://") {
            return Err("must start with mqtt:// or mqtts:// (or be a plain host)".into());
        } else {
            (false, text)
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 address in brackets, with or without a port.
            _ if rest.starts_with('[') => match rest.split_once(']') {
                Some((h, "")) => (h[1..].to_string(), default_port),
                Some((h, p)) => match p.strip_prefix(':').map(str::parse::<u16>) {
                    Some(Ok(port)) => (h[1..].to_string(), port),
                    _ => return Err(format!("bad port in {rest}")),
                },
                None => return Err(format!("unclosed [ in {rest}")),
            },
            Some((h, p)) => match p.parse::<u16>() {
                Ok(port) => (h.to_string(), port),
                Err(_) => return Err(format!("bad port {p:?}")),
            },
            None => (rest.to_string(), default_port),
        };
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(format!("{text:?} is not a host"));
        }
        if port == 0 {
            return Err("the port must not be 0".into());
        }
        Ok(BrokerAddress { host, port, tls })
    }

    pub(super) fn check(&self, p: &mut Problems) {
        if self.enabled {
            if self.broker.trim().is_empty() {
                p.add("mqtt.broker", "must be set when mqtt is enabled");
            } else if let Err(e) = self.address() {
                p.add("mqtt.broker", e);
            }
        }
        for (field, value) in [
            ("mqtt.topic", &self.topic),
            ("mqtt.discovery_prefix", &self.discovery_prefix),
        ] {
            if value.contains(['+', '#', '\0']) || value.starts_with('/') || value.ends_with('/') {
                p.add(
                    field,
                    "must be a topic without wildcards (+ #) or a leading or trailing /",
                );
            }
        }
        if self.discovery_prefix.is_empty() {
            p.add("mqtt.discovery_prefix", "must not be empty");
        }
        if self.client_id.len() > 64 {
            p.add("mqtt.client_id", "must be at most 64 characters");
        }
        if self.commands == Role::Admin {
            p.add(
                "mqtt.commands",
                "must be user or operator: the broker never gets an admin's rights",
            );
        }
        p.range(
            "mqtt.snapshot_interval_s",
            self.snapshot_interval_s,
            0,
            86_400,
        );
        p.range("mqtt.queue", self.queue, 10, 10_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_broker(broker: &str) -> MqttConfig {
        MqttConfig {
            broker: broker.into(),
            ..MqttConfig::default()
        }
    }

    #[test]
    fn broker_addresses_in_every_form() {
        let a = |b: &str| with_broker(b).address();
        let at = |host: &str, port, tls| {
            Ok(BrokerAddress {
                host: host.into(),
                port,
                tls,
            })
        };
        assert_eq!(a("ha.lan"), at("ha.lan", 1883, false));
        assert_eq!(a("10.0.0.2:1884"), at("10.0.0.2", 1884, false));
        assert_eq!(a("mqtt://ha.lan"), at("ha.lan", 1883, false));
        assert_eq!(a("mqtts://ha.lan"), at("ha.lan", 8883, true));
        assert_eq!(a("mqtts://ha.lan:9000/"), at("ha.lan", 9000, true));
        assert_eq!(a("[fd00::2]:1885"), at("fd00::2", 1885, false));
        assert_eq!(a("mqtt://[fd00::2]"), at("fd00::2", 1883, false));
        assert!(a("http://ha.lan").is_err());
        assert!(a("ha.lan:x").is_err());
        assert!(a("ha.lan:0").is_err());
        assert!(a("user@ha.lan").is_err());
        assert!(a("").is_err());
    }

    #[test]
    fn a_bad_value_in_the_file_names_its_line_and_field() {
        let parse = |text: &str| {
            crate::config::Config::parse(text, std::path::Path::new("t.toml"))
                .map(|c| c.mqtt)
                .map_err(|e| e.to_string())
        };
        let err = parse("[mqtt]\nenabled = true\n").unwrap_err();
        assert!(err.contains("mqtt.broker"), "{err}");
        let err = parse("[mqtt]\nenabled = true\nbroker = \"ws://x\"\n").unwrap_err();
        assert!(err.starts_with("t.toml:3:"), "{err}");
        let err = parse("[mqtt]\ntopic = \"home/#\"\n").unwrap_err();
        assert!(err.contains("mqtt.topic"), "{err}");
        let err = parse("[mqtt]\ncommands = \"admin\"\n").unwrap_err();
        assert!(err.contains("mqtt.commands"), "{err}");
        let err = parse("[mqtt]\nprotocol = \"4\"\n").unwrap_err();
        assert!(err.contains("protocol"), "{err}");
        let ok = parse(
            "[mqtt]\nenabled = true\nbroker = \"mqtts://ha.lan\"\nprotocol = \"5\"\ncommands = \"user\"\n",
        )
        .expect("valid");
        assert_eq!(ok.protocol, MqttProtocol::V5);
        assert_eq!(ok.commands, Role::User);
    }
}
