//! The API's view of the event log: the log and its newest committed position, told by the
//! runner of this process ([`crate::notify`]) or polled from the store by an `api` process.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic::Status;

use crate::event_log::EventLog;
use crate::notify::{self, EventNotifier};
use crate::store::Store;

/// The API's access to the event log: the log and its newest committed position.
#[derive(Clone)]
pub struct EventFeed {
    pub log: EventLog,
    newest: watch::Receiver<u64>,
}

/// How often an `api` process (which does not run the pipeline) looks for new changes.
pub const POLL_EVERY: Duration = Duration::from_millis(10);

impl EventFeed {
    /// A feed told of commits by the runner of this process, starting at `newest`.
    pub fn notified(log: EventLog, newest: u64) -> (EventFeed, EventNotifier) {
        let (notifier, newest) = notify::channel(newest);
        (EventFeed { log, newest }, notifier)
    }

    /// A feed that polls the store for commits of another process; the polling task runs on the
    /// current tokio runtime while any subscriber may listen.
    pub fn polling(log: EventLog, store: Arc<Store>) -> EventFeed {
        let newest = read_newest(&log, &store).unwrap_or(0);
        let (feed, notifier) = EventFeed::notified(log, newest);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if notifier.is_closed() {
                    return;
                }
                if notifier.has_subscribers() {
                    let (log, store) = (log, store.clone());
                    if let Ok(Ok(n)) =
                        tokio::task::spawn_blocking(move || read_newest(&log, &store)).await
                    {
                        notifier.committed(n);
                    }
                }
            }
        });
        feed
    }

    /// Told of every newer committed position.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.newest.clone()
    }

    /// The newest committed position as of now.
    pub fn newest(&self) -> u64 {
        *self.newest.borrow()
    }
}

pub fn read_newest(log: &EventLog, store: &Store) -> Result<u64, Status> {
    let view = store.read().map_err(|e| Status::internal(e.to_string()))?;
    log.newest(&view)
        .map_err(|e| Status::internal(e.to_string()))
}
