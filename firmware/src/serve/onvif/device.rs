//! Device service backend: identity, network, users, discovery mode, reboot.

use onvif::model::{DeviceInformation, NetworkInterface, NewUser, UserEntry, UserLevel};
use onvif::service::DeviceBackend;
use onvif::soap::{Fault, FaultCode};
use tracing::{info, warn};

use super::Camera;
use crate::config::{Role, User};
use crate::settings::Refused;

pub fn level(role: Role) -> UserLevel {
    match role {
        Role::Admin => UserLevel::Administrator,
        Role::Operator => UserLevel::Operator,
        Role::User => UserLevel::User,
    }
}

fn role(level: UserLevel) -> Role {
    match level {
        UserLevel::Administrator => Role::Admin,
        UserLevel::Operator => Role::Operator,
        UserLevel::User => Role::User,
    }
}

fn refused(sub: &'static str) -> impl Fn(Refused) -> Fault {
    // A password the camera's check refused has a subcode of its own in the Device spec.
    move |r| {
        let sub = if r.field.ends_with(".password") {
            "PasswordTooWeak"
        } else {
            sub
        };
        Fault::invalid_arg(sub, r.to_string())
    }
}

fn prefix_len(mask: std::net::Ipv4Addr) -> u8 {
    u32::from(mask).count_ones() as u8
}

impl DeviceBackend for Camera {
    fn information(&self) -> DeviceInformation {
        DeviceInformation {
            manufacturer: "babymonitor".into(),
            model: self.identity.model.clone(),
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            serial_number: self.identity.serial.clone(),
            hardware_id: self.identity.hardware_id(),
        }
    }

    fn network_interfaces(&self) -> Vec<NetworkInterface> {
        let mut nics: Vec<NetworkInterface> = Vec::new();
        for iface in if_addrs::get_if_addrs().unwrap_or_default() {
            if iface.is_loopback() {
                continue;
            }
            let if_addrs::IfAddr::V4(v4) = &iface.addr else {
                continue;
            };
            let entry = (v4.ip.to_string(), prefix_len(v4.netmask));
            if let Some(nic) = nics.iter_mut().find(|n| n.name == iface.name) {
                nic.ipv4.push(entry);
                continue;
            }
            let sys = |f: &str| {
                std::fs::read_to_string(format!("/sys/class/net/{}/{f}", iface.name))
                    .unwrap_or_default()
            };
            nics.push(NetworkInterface {
                token: iface.name.clone(),
                name: iface.name.clone(),
                mac: sys("address").trim().to_string(),
                ipv4: vec![entry],
                mtu: sys("mtu").trim().parse().unwrap_or(1500),
            });
        }
        // The interface the identity's MAC came from first: Home Assistant keys on the first.
        if let Some(primary) = &self.identity.interface {
            nics.sort_by_key(|n| &n.name != primary);
        }
        nics
    }

    fn hostname(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "babymonitor".into())
    }

    fn endpoint(&self) -> String {
        self.identity.endpoint.clone()
    }

    fn scopes(&self) -> Vec<String> {
        super::scopes(&self.config(), &self.identity)
    }

    fn users(&self) -> Vec<UserEntry> {
        self.config()
            .users
            .iter()
            .map(|u| UserEntry {
                name: u.name.clone(),
                level: level(u.role),
            })
            .collect()
    }

    fn create_users(&self, new: Vec<NewUser>) -> Result<(), Fault> {
        self.settings
            .change(|state, current| {
                let mut users = current.users.clone();
                for n in &new {
                    if users.iter().any(|u| u.name == n.name) {
                        return Err(Refused {
                            field: "Username".into(),
                            message: format!("user \"{}\" exists", n.name),
                        });
                    }
                    users.push(User {
                        name: n.name.clone(),
                        password: n.password.clone().unwrap_or_default(),
                        role: role(n.level),
                    });
                }
                state.users = Some(users);
                Ok(())
            })
            .map_err(refused("UsernameClash"))?;
        info!(users = ?new.iter().map(|u| &u.name).collect::<Vec<_>>(), "users created");
        Ok(())
    }

    fn set_users(&self, changed: Vec<NewUser>) -> Result<(), Fault> {
        self.settings
            .change(|state, current| {
                let mut users = current.users.clone();
                for n in &changed {
                    let Some(u) = users.iter_mut().find(|u| u.name == n.name) else {
                        return Err(Refused {
                            field: "Username".into(),
                            message: format!("no user \"{}\"", n.name),
                        });
                    };
                    if let Some(p) = &n.password {
                        u.password = p.clone();
                    }
                    u.role = role(n.level);
                }
                keep_an_admin(&users)?;
                state.users = Some(users);
                Ok(())
            })
            .map_err(refused("UsernameMissing"))?;
        info!(users = ?changed.iter().map(|u| &u.name).collect::<Vec<_>>(), "users changed");
        Ok(())
    }

    fn delete_users(&self, names: Vec<String>) -> Result<(), Fault> {
        self.settings
            .change(|state, current| {
                let mut users = current.users.clone();
                for name in &names {
                    let before = users.len();
                    users.retain(|u| &u.name != name);
                    if users.len() == before {
                        return Err(Refused {
                            field: "Username".into(),
                            message: format!("no user \"{name}\""),
                        });
                    }
                }
                keep_an_admin(&users)?;
                state.users = Some(users);
                Ok(())
            })
            .map_err(refused("UsernameMissing"))?;
        info!(users = ?names, "users deleted");
        Ok(())
    }

    fn reboot(&self) -> String {
        if self.simulate {
            info!("reboot asked for: simulated hardware, nothing to do");
            return "Simulated camera: nothing to reboot".into();
        }
        warn!("rebooting at a client's request");
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(1));
            if let Err(e) = std::process::Command::new("reboot").status() {
                warn!("reboot failed: {e}");
            }
        });
        "Rebooting in 1 second".into()
    }

    fn factory_default(&self, _hard: bool) -> Result<(), Fault> {
        self.settings
            .reset()
            .map_err(|e| Fault::new(FaultCode::Receiver, &["Action"], format!("{e:#}")))?;
        warn!("run-time settings reset to the configuration file");
        Ok(())
    }

    fn dns_servers(&self) -> Vec<String> {
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        conf.lines()
            .filter_map(|l| l.strip_prefix("nameserver"))
            .map(|s| s.trim().to_string())
            .filter(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
            .collect()
    }

    fn gateways(&self) -> Vec<String> {
        // /proc/net/route: destination 0 is the default route; addresses are little-endian hex.
        let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 2 && f[1] == "00000000")
                    .then(|| u32::from_str_radix(f[2], 16).ok())
                    .flatten()
            })
            .filter(|g| *g != 0)
            .map(|g| std::net::Ipv4Addr::from(g.swap_bytes()).to_string())
            .collect()
    }

    fn ntp_servers(&self) -> Vec<String> {
        // chrony on the image; nothing to report when the host keeps time some other way.
        let conf = std::fs::read_to_string("/etc/chrony/chrony.conf")
            .or_else(|_| std::fs::read_to_string("/etc/chrony.conf"))
            .unwrap_or_default();
        conf.lines()
            .filter_map(|l| {
                l.strip_prefix("pool ")
                    .or_else(|| l.strip_prefix("server "))
            })
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }

    fn discoverable(&self) -> bool {
        self.config().onvif.discovery
    }

    fn set_discoverable(&self, on: bool) -> Result<(), Fault> {
        self.settings
            .change(|state, _| {
                state.discoverable = Some(on);
                Ok(())
            })
            .map_err(refused("ConfigModify"))
    }
}

fn keep_an_admin(users: &[User]) -> Result<(), Refused> {
    if users.iter().any(|u| u.role == Role::Admin) {
        Ok(())
    } else {
        Err(Refused {
            field: "UserLevel".into(),
            message: "at least one Administrator must remain".into(),
        })
    }
}
