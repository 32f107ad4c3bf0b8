//! What a replication source's I/O thread (PostgreSQL's, MySQL's) shares: its own single-threaded
//! tokio runtime, the bounded channel it hands deliveries to the runner through (waking it, and
//! waiting while the runner is behind), and the backoff between reconnects that ends as soon as
//! the app stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::chunk::SourceError;
use super::wake::Wake;

/// The longest wait between two reconnects.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The app stopped (or the runner went away): the thread ends.
pub struct Stopped;

/// The thread's end of the channel to the runner.
pub struct Feed<'a, D> {
    pub tx: &'a SyncSender<Result<D, SourceError>>,
    pub stop: &'a AtomicBool,
    pub wake: &'a Wake,
}

impl<D> Feed<'_, D> {
    /// Hands a delivery to the runner (waiting while its queue is full) and wakes it.
    pub async fn deliver(&self, d: D) -> Result<(), Stopped> {
        let mut d = Ok(d);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Stopped);
            }
            match self.tx.try_send(d) {
                Ok(()) => {
                    self.wake.notify();
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    d = back;
                    self.wake.notify();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(Stopped),
            }
        }
    }

    /// Hands the runner the error that ends the thread, and wakes it.
    pub fn fail(&self, message: String) {
        let _ = self.tx.send(Err(SourceError {
            file: None,
            line: None,
            message,
        }));
        self.wake.notify();
    }

    /// The delay before reconnect attempt `attempt` (1, 2, …): doubling from half a second up
    /// to [`BACKOFF_MAX`].
    pub fn backoff(attempt: u32) -> Duration {
        Duration::from_millis(250 << attempt.min(7)).min(BACKOFF_MAX)
    }

    /// Waits `delay`, or less when the app stops meanwhile (`Err`).
    pub async fn pause(&self, delay: Duration) -> Result<(), Stopped> {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Stopped);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// The thread's own single-threaded runtime, or why it cannot start (the thread's error).
pub fn own_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))
}
