//! Who this camera is: serial number, MAC address and a stable endpoint UUID.
//!
//! NVRs key cameras on these (Home Assistant uses the MAC), so they must survive reboots and
//! never be shared between two devices.

use std::net::IpAddr;

/// Namespace for the UUIDs derived below (a fixed random UUID of this project).
const UUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c0f_4b0e_8a57_4c2f_9a3e_1d2b_7e65_b3a1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The Pi's serial from /proc/cpuinfo, else the machine id.
    pub serial: String,
    /// MAC of the first network interface that has one, as `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    /// Name of that interface.
    pub interface: Option<String>,
    /// `urn:uuid:...`, derived from the serial so that it never changes.
    pub endpoint: String,
    pub model: String,
}

impl Identity {
    pub fn detect() -> Self {
        let serial = pi_serial()
            .or_else(machine_id)
            .unwrap_or_else(|| "unknown".into());
        let (interface, mac) = first_mac().unzip();
        let endpoint = format!(
            "urn:uuid:{}",
            uuid::Uuid::new_v5(&UUID_NAMESPACE, serial.as_bytes())
        );
        let model = pi_model().unwrap_or_else(|| "babymonitor (simulated)".into());
        Self {
            serial,
            mac,
            interface,
            endpoint,
            model,
        }
    }

    /// The hardware id ONVIF asks for: the MAC without separators, else the serial.
    pub fn hardware_id(&self) -> String {
        self.mac
            .as_deref()
            .map(|m| m.replace(':', ""))
            .unwrap_or_else(|| self.serial.clone())
    }
}

fn pi_serial() -> Option<String> {
    let from_cpuinfo = || {
        let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        info.lines()
            .find(|l| l.starts_with("Serial"))
            .and_then(|l| l.split(':').nth(1))
            .map(str::to_string)
    };
    // Kernels that leave the Serial line out of /proc/cpuinfo still have the firmware's copy.
    let from_device_tree = || std::fs::read_to_string("/proc/device-tree/serial-number").ok();
    from_cpuinfo()
        .or_else(from_device_tree)
        .map(|s| {
            s.trim_end_matches('\0')
                .trim()
                .trim_start_matches('0')
                .to_string()
        })
        .filter(|s| !s.is_empty())
}

fn pi_model() -> Option<String> {
    let model = std::fs::read_to_string("/proc/device-tree/model").ok()?;
    Some(model.trim_end_matches('\0').trim().to_string()).filter(|m| !m.is_empty())
}

fn machine_id() -> Option<String> {
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The first non-loopback interface (by name) with a real MAC address.
fn first_mac() -> Option<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "lo")
        .collect();
    // Wired and Wi-Fi first, whatever the kernel named them.
    names.sort_by_key(|n| {
        (
            !(n.starts_with("eth") || n.starts_with("en") || n.starts_with("wl")),
            n.clone(),
        )
    });
    names.into_iter().find_map(|name| {
        let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
        let mac = mac.trim().to_lowercase();
        (mac.len() == 17 && mac != "00:00:00:00:00:00").then_some((name, mac))
    })
}

/// IPv4 addresses of the interfaces that are up, loopback last.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(IpAddr::is_ipv4)
        .collect();
    addrs.sort_by_key(IpAddr::is_loopback);
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_well_formed() {
        let a = Identity::detect();
        assert_eq!(a, Identity::detect());
        assert!(
            a.endpoint.starts_with("urn:uuid:") && a.endpoint.len() == 45,
            "{}",
            a.endpoint
        );
        if let Some(mac) = &a.mac {
            assert_eq!(mac.split(':').count(), 6);
        }
    }
}
