//! How the process that commits tells its own readers of each newest event log position, so a
//! live subscriber hears of a commit at once instead of at its next poll.

use std::sync::Arc;

use tokio::sync::watch;

/// Tells this process's subscribers that a position is committed (held by the runner).
#[derive(Clone)]
pub struct EventNotifier(Arc<watch::Sender<u64>>);

/// A notifier and the receiver its subscribers clone, starting at `newest`.
pub fn channel(newest: u64) -> (EventNotifier, watch::Receiver<u64>) {
    let (tx, rx) = watch::channel(newest);
    (EventNotifier(Arc::new(tx)), rx)
}

impl EventNotifier {
    pub fn committed(&self, newest: u64) {
        self.0.send_if_modified(|n| {
            let newer = newest > *n;
            if newer {
                *n = newest;
            }
            newer
        });
    }

    /// Every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Someone besides the feed's own receiver listens.
    pub fn has_subscribers(&self) -> bool {
        self.0.receiver_count() > 1
    }
}
