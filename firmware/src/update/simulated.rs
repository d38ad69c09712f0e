//! --simulate: the real RAUC against stand-ins for the card. In `<data_dir>/update/`:
//! two slot image files (A and B), the boot environment (`boot-env`, see [`super::boot_env`]),
//! a `system.conf` naming them with `bootloader=custom` and our backend, and RAUC's status
//! file. The daemon starts a private D-Bus (its own config and socket there) and `rauc service`
//! on it, told which slot "booted" from the boot environment; both die with the daemon
//! (`setpriv --pdeathsig`), as they would with the power.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tracing::{info, warn};

use super::boot_env::{BootEnv, Slot};
use super::rauc::Rauc;

/// Each slot file's size: room for a test bundle's image, sparse on disk.
const SLOT_BYTES: u64 = 64 * 1024 * 1024;

/// The bus and the service, stopped on drop.
pub(super) struct Service {
    children: Vec<Child>,
}

impl Drop for Service {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(super) fn boot_env_path(dir: &Path) -> PathBuf {
    dir.join("boot-env")
}

/// A simulated power-on: the boot environment chooses the slot, as U-Boot does on the Pi.
pub(super) fn boot(dir: &Path) -> anyhow::Result<Slot> {
    let path = boot_env_path(dir);
    let mut env = BootEnv::load(&path)?;
    let slot = env.boot();
    env.save(&path)?;
    info!(
        slot = %slot,
        tries_left = env.tries_left(slot),
        "simulated boot from slot {slot}"
    );
    Ok(slot)
}

/// Writes the stand-ins and starts the bus and the service with `booted` as the booted slot.
pub(super) fn start(dir: &Path, keyring: &Path, booted: Slot) -> anyhow::Result<(Service, Rauc)> {
    for name in ["slot-a.img", "slot-b.img"] {
        let path = dir.join(name);
        if !path.exists() {
            let f = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            f.set_len(SLOT_BYTES)?;
        }
    }
    let exe = std::env::current_exe().context("finding the daemon's own program")?;
    let backend = dir.join("bootloader-backend");
    write(
        &backend,
        &format!(
            "#!/bin/sh\n# RAUC's custom bootloader backend: the boot environment file.\n\
             exec {} boot-env --file {} \"$@\"\n",
            shell_quote(&exe),
            shell_quote(&boot_env_path(dir))
        ),
    )?;
    set_executable(&backend)?;
    let conf = dir.join("system.conf");
    write(&conf, &system_conf(dir, keyring, &backend))?;
    let socket = dir.join("bus");
    let _ = std::fs::remove_file(&socket);
    let bus_conf = dir.join("bus.conf");
    write(&bus_conf, &bus_config(&socket))?;
    let mount = dir.join("mnt");
    std::fs::create_dir_all(&mount)?;
    // A daemon killed mid-install leaves the bundle mounted; RAUC mounts it there again.
    let _ = Command::new("umount")
        .arg("--lazy")
        .arg(mount.join("bundle"))
        .stderr(Stdio::null())
        .status();

    let address = format!("unix:path={}", socket.display());
    let env = vec![
        ("DBUS_SESSION_BUS_ADDRESS".to_string(), address),
        ("DBUS_STARTER_BUS_TYPE".to_string(), "session".to_string()),
    ];
    let mut service = Service {
        children: Vec::new(),
    };
    let bus = dying_with_us("dbus-daemon")
        .arg(format!("--config-file={}", bus_conf.display()))
        .arg("--nofork")
        .stdout(Stdio::null())
        .spawn()
        .context("starting dbus-daemon (install the dbus package)")?;
    service.children.push(bus);
    wait_for(|| socket.exists(), "the private D-Bus")?;
    let log = std::fs::File::create(dir.join("rauc-service.log"))?;
    let rauc_service = dying_with_us("rauc")
        .arg("--conf")
        .arg(&conf)
        .arg("--mount")
        .arg(&mount)
        .arg("service")
        .arg(format!("--override-boot-slot={booted}"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting rauc service (install the rauc package)")?;
    service.children.push(rauc_service);
    let rauc = Rauc { conf, env };
    let probe = rauc.clone();
    wait_for(
        || {
            let mut c = Command::new("rauc");
            c.arg("--conf").arg(&probe.conf).arg("status");
            c.envs(probe.env.iter().map(|(k, v)| (k, v)));
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c.status().is_ok_and(|s| s.success())
        },
        "rauc service",
    )?;
    info!(booted = %booted, "RAUC service running on the simulated card");
    Ok((service, rauc))
}

/// A command run under `setpriv --pdeathsig KILL`: it dies when the daemon does.
fn dying_with_us(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--pdeathsig", "KILL", "--", program]);
    c.stdin(Stdio::null());
    c
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not start within 10 s")
}

fn system_conf(dir: &Path, keyring: &Path, backend: &Path) -> String {
    format!(
        "# Written by babymonitor --simulate: the real RAUC against slot image files.\n\
         [system]\ncompatible={compatible}\nbootloader=custom\nstatusfile={status}\n\
         max-bundle-download-size={max}\n\n\
         [handlers]\nbootloader-custom-backend={backend}\n\n\
         [keyring]\npath={keyring}\n\n\
         [slot.rootfs.0]\ndevice={a}\ntype=raw\nbootname=A\n\n\
         [slot.rootfs.1]\ndevice={b}\ntype=raw\nbootname=B\n",
        compatible = super::COMPATIBLE,
        status = dir.join("status.raucs").display(),
        max = 4u64 << 30,
        backend = backend.display(),
        keyring = keyring.display(),
        a = dir.join("slot-a.img").display(),
        b = dir.join("slot-b.img").display(),
    )
}

/// A session bus only this daemon's RAUC is on; no other D-Bus is touched.
fn bus_config(socket: &Path) -> String {
    format!(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
         \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
         <busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n  \
         <auth>EXTERNAL</auth>\n  <policy context=\"default\">\n    \
         <allow send_destination=\"*\" eavesdrop=\"true\"/>\n    <allow eavesdrop=\"true\"/>\n    \
         <allow own=\"*\"/>\n  </policy>\n</busconfig>\n",
        socket.display()
    )
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', "'\\''"))
}

/// Logs what the service wrote when it failed to start, for the daemon's log.
pub(super) fn service_log(dir: &Path) -> String {
    match std::fs::read_to_string(dir.join("rauc-service.log")) {
        Ok(t) => t.lines().rev().take(3).collect::<Vec<_>>().join(" / "),
        Err(e) => {
            warn!("no RAUC service log: {e}");
            String::new()
        }
    }
}
