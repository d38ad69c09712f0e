//! A named worker thread, joined once: when its owner stops it, or when the owner goes.

use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

pub struct Worker {
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<Self> {
        let handle = std::thread::Builder::new().name(name.into()).spawn(f)?;
        Ok(Self {
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Waits for the thread to end (the owner has told it to); later calls return at once.
    /// Called on the worker thread itself it does not wait, which would never end.
    pub fn join(&self) {
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn joins_once_and_not_itself() {
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let worker =
            Worker::spawn("test-worker", move || d.store(true, Ordering::SeqCst)).expect("spawn");
        worker.join();
        assert!(done.load(Ordering::SeqCst));
        worker.join();

        // A worker whose last owner is dropped on its own thread.
        let slot: Arc<Mutex<Option<Worker>>> = Arc::default();
        let s = Arc::clone(&slot);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        *slot.lock().expect("lock") = Some(
            Worker::spawn("self-dropping", move || {
                let _ = rx.recv();
                drop(s.lock().expect("lock").take());
            })
            .expect("spawn"),
        );
        tx.send(()).expect("send");
        while slot.lock().expect("lock").is_some() {
            std::thread::yield_now();
        }
    }
}
