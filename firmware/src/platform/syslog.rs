//! Log lines to the local syslog daemon (BusyBox `syslogd` on the SD-card image), one
//! datagram per event on `/dev/log`, in the classic `<PRI>tag[pid]: message` form that
//! syslogd stamps with the time. Used with `--syslog`; stderr stays the default.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The standard socket.
pub const DEV_LOG: &str = "/dev/log";

/// syslog facility "daemon".
const FACILITY_DAEMON: u8 = 3;

/// Hands tracing's formatted events to syslog.
#[derive(Clone)]
pub struct Syslog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    tag: String,
    socket: Mutex<Option<UnixDatagram>>,
}

impl Syslog {
    /// Connects to the socket at `path`; fails when no syslog daemon listens there.
    pub fn connect(path: &Path, tag: &str) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.into(),
                tag: tag.into(),
                socket: Mutex::new(Some(socket)),
            }),
        })
    }
}

impl Inner {
    fn send(&self, severity: u8, message: &[u8]) {
        let message = String::from_utf8_lossy(message);
        let line = format!(
            "<{}>{}[{}]: {}",
            FACILITY_DAEMON * 8 + severity,
            self.tag,
            std::process::id(),
            message.trim_end()
        );
        let mut socket = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        // syslogd may have been restarted since: connect again once before giving up.
        for _ in 0..2 {
            if socket.is_none() {
                *socket = UnixDatagram::unbound()
                    .and_then(|s| s.connect(&self.path).map(|()| s))
                    .ok();
            }
            match socket.as_ref().map(|s| s.send(line.as_bytes())) {
                Some(Ok(_)) => return,
                _ => *socket = None,
            }
        }
        // Nowhere else to say it: stderr still reaches the console.
        eprintln!("{line}");
    }
}

/// Buffers one event and sends it when tracing is done writing it.
pub struct Event {
    inner: Arc<Inner>,
    severity: u8,
    buffer: Vec<u8>,
}

impl io::Write for Event {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.inner.send(self.severity, &self.buffer);
        }
    }
}

fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Event;

    fn make_writer(&'a self) -> Event {
        Event {
            inner: Arc::clone(&self.inner),
            severity: 6,
            buffer: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Event {
        Event {
            inner: Arc::clone(&self.inner),
            severity: severity(meta.level()),
            buffer: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_arrive_as_syslog_datagrams_with_their_severity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).expect("bind");
        let syslog = Syslog::connect(&path, "babymonitor").expect("connect");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(syslog)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(port = 554, "cannot listen");
            tracing::info!("started");
        });
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).expect("first datagram");
        let first = String::from_utf8_lossy(&buf[..n]).to_string();
        let pid = std::process::id();
        assert!(
            first.starts_with(&format!("<28>babymonitor[{pid}]: ")),
            "{first}"
        );
        assert!(first.contains("cannot listen") && first.contains("port=554"));
        assert!(!first.ends_with('\n'));
        let n = server.recv(&mut buf).expect("second datagram");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<30>babymonitor["));
    }

    #[test]
    fn no_syslog_daemon_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(Syslog::connect(&dir.path().join("nothing"), "babymonitor").is_err());
    }
}
