//! glibc's allocator, set for a daemon that starts and stops pipelines all night.
//!
//! By default glibc gives threads their own malloc arenas (up to 8 per core) and, after the
//! first large free, raises its mmap threshold so that large blocks come from those arenas
//! too. The frames and encoder state of every on-demand camera start then stay in the
//! process after the camera stops: on the simulated camera RSS climbed from 79 to 137 MB
//! over 12 starts, where with two arenas and a fixed 128 KiB threshold (large blocks are
//! mapped and given back on free) it stays at about 72 MB. A Pi 3B has 1 GB for everything.
//!
//! glibc reads these settings from the environment when the process starts, and the
//! workspace forbids the `unsafe` a `mallopt` call would need, so the daemon sets them and
//! runs itself again (same process, same arguments) once, before anything else happened.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// Arenas for all threads; more only spread the same memory over more free lists.
const ARENA_MAX: &str = "2";
/// Blocks from this size on are mapped on their own and returned to the system when freed
/// (a 720p frame is 1.4 MB); fixed, so that glibc does not raise it after a large free.
const MMAP_THRESHOLD: &str = "131072";

/// What to add to the environment, or nothing when it says how to allocate already (the
/// image's init script, a user's own `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES`).
fn missing(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<(&'static str, &'static str)> {
    if get("MALLOC_ARENA_MAX").is_some() || get("GLIBC_TUNABLES").is_some() {
        return Vec::new();
    }
    let mut add = vec![("MALLOC_ARENA_MAX", ARENA_MAX)];
    if get("MALLOC_MMAP_THRESHOLD_").is_none() {
        add.push(("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD));
    }
    add
}

/// Call first in `main`, before any thread starts: returns only if the allocator is set up
/// already or the process cannot run itself again (then glibc's defaults stay).
pub fn tune_allocator() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let add = missing(|name| std::env::var_os(name));
    if add.is_empty() {
        return;
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    // `/proc/self/exe` is this binary even if the file has been replaced meanwhile.
    let err = Command::new("/proc/self/exe")
        .arg0(&arg0)
        .args(args)
        .envs(add.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
        .exec();
    // Only reached when exec failed (no /proc): go on with the defaults.
    eprintln!("babymonitor: cannot set the allocator up ({err}); using glibc's defaults");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn a_bare_environment_gets_both_settings() {
        assert_eq!(
            missing(env(&[])),
            [
                ("MALLOC_ARENA_MAX", "2"),
                ("MALLOC_MMAP_THRESHOLD_", "131072")
            ]
        );
    }

    #[test]
    fn what_the_environment_says_wins_and_nothing_runs_twice() {
        // The second run sees its own settings and goes on.
        assert!(missing(env(&[("MALLOC_ARENA_MAX", "2")])).is_empty());
        assert!(missing(env(&[("MALLOC_ARENA_MAX", "8")])).is_empty());
        assert!(missing(env(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")])).is_empty());
        assert_eq!(
            missing(env(&[("MALLOC_MMAP_THRESHOLD_", "65536")])),
            [("MALLOC_ARENA_MAX", "2")]
        );
    }
}
