//! glibc's allocator, set up for a daemon that starts and stops pipelines all night.
//!
//! GStreamer allocates from each of its ~40 streaming threads. By default glibc gives each
//! thread an arena of its own (up to eight per core) and, after a large block is freed, raises
//! its mmap threshold so that the next video frame comes from an arena and stays there when
//! freed. Every camera start then leaves megabytes behind: on the development machine the
//! resident size climbed from 79 to 137 MB over twelve starts and held there. With two arenas
//! and a fixed threshold it stays near 72 MB (docs/BENCHMARKS.md). The SD-card image used to
//! set the same through `MALLOC_*` variables in its init script; doing it here makes every
//! start of the daemon behave the same, wherever it runs.

/// Arenas for all threads: contention stays low because the hot paths hand buffers over
/// rather than allocate.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: libc::c_int = 2;

/// Blocks from this size up (a 640x360 frame and anything larger) are mapped and unmapped on
/// their own; setting it also stops glibc from moving it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Called first thing in `main`, before any thread exists: arenas are made as threads first
/// allocate.
#[allow(unsafe_code)]
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, takes no pointers and is safe to call at
    // any time; a refused value (0 returned) leaves glibc's default, which is only slower to
    // give memory back.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    };
}

/// Gives the free pages of every arena back to the system. Called when a pipeline has just
/// stopped, a quiet moment: glibc locks each arena in turn while it walks it.
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and has no preconditions; it only returns free
    // pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    };
}
