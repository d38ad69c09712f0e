//! The simulated camera's boot environment: the variables the Pi's U-Boot script keeps
//! (`BOOT_ORDER`, `BOOT_A_LEFT`, `BOOT_B_LEFT`), in a file in the data directory, and the two
//! programs that use them: RAUC's custom bootloader backend (`babymonitor boot-env ...`, which
//! RAUC runs to make a slot primary or mark it good or bad) and the boot itself ([`BootEnv::boot`],
//! run when the simulated daemon starts, as U-Boot runs at power-on).
//!
//! The rules are the U-Boot script's (`buildroot/board/rpi3/boot.cmd`): boot the first slot in
//! the order that has tries left, taking one; a slot marked good gets its tries back, one marked
//! bad gets none. A new slot made primary has [`TRIES`] tries: if it is never marked good (a
//! failed health check marks it bad, a hang is rebooted by the watchdog) the camera goes back
//! to the other slot by itself.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Boots a slot gets before it must have been marked good.
pub const TRIES: u8 = 3;

/// The file's format; written as `version=` so that a later format can tell.
const VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "A" => Some(Slot::A),
            "B" => Some(Slot::B),
            _ => None,
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootEnv {
    /// The order slots are tried in.
    pub order: [Slot; 2],
    /// Tries left, by slot.
    pub left: [u8; 2],
    /// The slot the last boot chose (the kernel command line's `rauc.slot=` on the Pi).
    pub booted: Slot,
}

impl Default for BootEnv {
    fn default() -> Self {
        Self {
            order: [Slot::A, Slot::B],
            left: [TRIES, TRIES],
            booted: Slot::A,
        }
    }
}

impl BootEnv {
    /// The file at `path`; a missing one is a fresh card (slot A). A damaged one is moved aside
    /// (`.damaged`) and the card starts fresh, as U-Boot does with a bad environment.
    pub fn load(path: &Path) -> anyhow::Result<BootEnv> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BootEnv::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        match Self::parse(&text) {
            Ok(env) => Ok(env),
            Err(e) => {
                let aside = damaged(path);
                tracing::warn!(
                    file = %path.display(),
                    "the boot environment is damaged ({e}); moved to {} and starting from slot A",
                    aside.display()
                );
                let _ = std::fs::rename(path, &aside);
                Ok(BootEnv::default())
            }
        }
    }

    fn parse(text: &str) -> anyhow::Result<BootEnv> {
        let mut env = BootEnv::default();
        let mut version = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("line {line:?} is not NAME=VALUE");
            };
            let tries = |v: &str| -> anyhow::Result<u8> {
                v.parse::<u8>()
                    .ok()
                    .filter(|n| *n <= TRIES)
                    .with_context(|| format!("{key}={v} is not 0 to {TRIES}"))
            };
            match key {
                "version" => version = Some(value.parse::<u32>().context("version")?),
                "BOOT_ORDER" => {
                    let slots: Vec<Slot> = value.split(' ').filter_map(Slot::parse).collect();
                    match slots[..] {
                        [a, b] if a != b => env.order = [a, b],
                        _ => bail!("BOOT_ORDER={value} is not \"A B\" or \"B A\""),
                    }
                }
                "BOOT_A_LEFT" => env.left[0] = tries(value)?,
                "BOOT_B_LEFT" => env.left[1] = tries(value)?,
                "booted" => {
                    env.booted = Slot::parse(value).context("booted is not A or B")?;
                }
                // A later release's variables are kept by its own writes; this one has none.
                _ => {}
            }
        }
        match version {
            Some(v) if v > VERSION => bail!("version {v} is newer than this release's {VERSION}"),
            Some(_) => Ok(env),
            None => bail!("no version"),
        }
    }

    fn render(&self) -> String {
        format!(
            "# The simulated camera's boot environment (the Pi keeps the same in U-Boot's).\n\
             version={VERSION}\nBOOT_ORDER={} {}\nBOOT_A_LEFT={}\nBOOT_B_LEFT={}\nbooted={}\n",
            self.order[0], self.order[1], self.left[0], self.left[1], self.booted
        )
    }

    /// Writes it atomically: a power cut leaves the old file or the new one.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(self.render().as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    pub fn tries_left(&self, slot: Slot) -> u8 {
        self.left[slot.index()]
    }

    /// The slot the next boot will choose, if any has tries left.
    pub fn primary(&self) -> Option<Slot> {
        self.order.into_iter().find(|s| self.tries_left(*s) > 0)
    }

    /// A power-on: the first slot in the order with tries left is booted and loses one. With
    /// none left anywhere (both failed), both get their tries back and the first is booted, as
    /// the U-Boot script does: a camera always boots something.
    pub fn boot(&mut self) -> Slot {
        let slot = match self.primary() {
            Some(s) => s,
            None => {
                self.left = [TRIES, TRIES];
                self.order[0]
            }
        };
        self.left[slot.index()] -= 1;
        self.booted = slot;
        slot
    }

    /// RAUC's custom backend: `get-primary`, `set-primary SLOT`, `get-state SLOT`,
    /// `set-state SLOT good|bad`. Returns what to print; changes `self` for the setters.
    pub fn backend(&mut self, args: &[String]) -> anyhow::Result<Option<String>> {
        let slot = |i: usize| -> anyhow::Result<Slot> {
            let name = args.get(i).map(String::as_str).unwrap_or("");
            Slot::parse(name).with_context(|| format!("no slot {name:?}: the slots are A and B"))
        };
        match args.first().map(String::as_str) {
            Some("get-primary") => match self.primary() {
                Some(s) => Ok(Some(s.to_string())),
                None => bail!("no slot has boot tries left"),
            },
            Some("set-primary") => {
                let s = slot(1)?;
                self.order = [s, s.other()];
                self.left[s.index()] = TRIES;
                Ok(None)
            }
            Some("get-state") => {
                let good = self.tries_left(slot(1)?) > 0;
                Ok(Some(if good { "good" } else { "bad" }.to_string()))
            }
            Some("set-state") => {
                let s = slot(1)?;
                self.left[s.index()] = match args.get(2).map(String::as_str) {
                    Some("good") => TRIES,
                    Some("bad") => 0,
                    other => bail!("set-state takes good or bad, not {other:?}"),
                };
                Ok(None)
            }
            other => bail!("unknown backend command {other:?}"),
        }
    }
}

fn damaged(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".damaged");
    PathBuf::from(name)
}

/// `babymonitor boot-env --file F ARGS...`: RAUC's custom backend over the file, or `boot`
/// (a simulated power-on, for tests and the demo) and `show`.
pub fn command(file: &Path, args: &[String]) -> anyhow::Result<Option<String>> {
    let mut env = BootEnv::load(file)?;
    let out = match args.first().map(String::as_str) {
        Some("show") => return Ok(Some(env.render())),
        Some("boot") => Some(env.boot().to_string()),
        _ => env.backend(args)?,
    };
    env.save(file)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(env: &mut BootEnv, args: &[&str]) -> Option<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        env.backend(&args).expect("backend")
    }

    #[test]
    fn a_new_slot_that_is_never_marked_good_falls_back_after_its_tries() {
        let mut env = BootEnv::default();
        assert_eq!(env.boot(), Slot::A);
        run(&mut env, &["set-state", "A", "good"]);
        // RAUC installs into B: marks it bad while writing, then primary.
        run(&mut env, &["set-state", "B", "bad"]);
        run(&mut env, &["set-primary", "B"]);
        assert_eq!(run(&mut env, &["get-primary"]).as_deref(), Some("B"));
        for _ in 0..TRIES {
            assert_eq!(env.boot(), Slot::B, "B is tried while it has tries");
        }
        assert_eq!(env.boot(), Slot::A, "then the camera goes back to A");
        assert_eq!(run(&mut env, &["get-state", "B"]).as_deref(), Some("bad"));
    }

    #[test]
    fn marking_good_keeps_the_new_slot_and_bad_falls_back_at_once() {
        let mut env = BootEnv::default();
        run(&mut env, &["set-primary", "B"]);
        assert_eq!(env.boot(), Slot::B);
        run(&mut env, &["set-state", "B", "good"]);
        assert_eq!(env.tries_left(Slot::B), TRIES);
        assert_eq!(env.boot(), Slot::B);
        run(&mut env, &["set-state", "B", "bad"]);
        assert_eq!(env.boot(), Slot::A);
    }

    #[test]
    fn the_file_round_trips_and_a_damaged_one_is_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("boot-env");
        let mut env = BootEnv::default();
        run(&mut env, &["set-primary", "B"]);
        env.boot();
        env.save(&path).expect("save");
        assert_eq!(BootEnv::load(&path).expect("load"), env);
        std::fs::write(&path, "BOOT_ORDER=C\n").expect("write");
        assert_eq!(BootEnv::load(&path).expect("load"), BootEnv::default());
        assert!(damaged(&path).exists());
    }

    #[test]
    fn bad_backend_arguments_are_errors() {
        let mut env = BootEnv::default();
        for args in [
            &["set-primary", "C"][..],
            &["set-state", "A", "meh"],
            &["frob"],
        ] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert!(env.backend(&args).is_err(), "{args:?}");
        }
        assert_eq!(env, BootEnv::default(), "nothing changed");
    }
}
