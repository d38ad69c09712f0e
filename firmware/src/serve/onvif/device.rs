//! Device service backend: identity, network, users, discovery mode, reboot.

use onvif::model::{DeviceInformation, NetworkInterface, NewUser, UserEntry, UserLevel};
use onvif::service::DeviceBackend;
use onvif::soap::{Fault, FaultCode};
use tracing::{info, warn};

use super::Camera;
use crate::config::Role;
use crate::platform::network;
use crate::settings::{Refused, UserChange};

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

fn changes(users: Vec<NewUser>) -> Vec<UserChange> {
    users
        .into_iter()
        .map(|n| UserChange {
            name: n.name,
            password: n.password,
            role: role(n.level),
        })
        .collect()
}

impl DeviceBackend for Camera {
    fn information(&self) -> DeviceInformation {
        DeviceInformation {
            manufacturer: "babymonitor".into(),
            model: self.identity.model.clone(),
            firmware_version: self.update.running_version().into(),
            serial_number: self.identity.serial.clone(),
            hardware_id: self.identity.hardware_id(),
        }
    }

    fn network_interfaces(&self) -> Vec<NetworkInterface> {
        network::interfaces(self.identity.interface.as_deref())
            .into_iter()
            .map(|n| NetworkInterface {
                token: n.name.clone(),
                name: n.name,
                mac: n.mac,
                ipv4: n.ipv4,
                mtu: n.mtu,
            })
            .collect()
    }

    fn hostname(&self) -> String {
        network::hostname()
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
            .create_users(&changes(new))
            .map_err(refused("UsernameClash"))
    }

    fn set_users(&self, changed: Vec<NewUser>) -> Result<(), Fault> {
        self.settings
            .change_users(&changes(changed))
            .map_err(refused("UsernameMissing"))
    }

    fn delete_users(&self, names: Vec<String>) -> Result<(), Fault> {
        self.settings
            .delete_users(&names)
            .map_err(refused("UsernameMissing"))
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

    fn firmware_upload(&self) -> Result<onvif::model::FirmwareUpload, Fault> {
        let state = self.update.progress().state;
        if matches!(
            state,
            crate::update::State::Receiving | crate::update::State::Installing
        ) {
            return Err(Fault::new(
                FaultCode::Receiver,
                &["Action"],
                "another update is being received or installed",
            ));
        }
        Ok(onvif::model::FirmwareUpload {
            path: format!("/api/update/upload/{}", self.update.upload_token()),
            upload_delay: std::time::Duration::ZERO,
            expected_down_time: self.update.expected_down(),
        })
    }

    fn factory_default(&self, _hard: bool) -> Result<(), Fault> {
        self.settings
            .reset()
            .map_err(|e| Fault::new(FaultCode::Receiver, &["Action"], format!("{e:#}")))?;
        warn!("run-time settings reset to the configuration file");
        Ok(())
    }

    fn dns_servers(&self) -> Vec<String> {
        network::dns_servers()
    }

    fn gateways(&self) -> Vec<String> {
        network::gateways()
    }

    fn ntp_servers(&self) -> Vec<String> {
        network::ntp_servers()
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
