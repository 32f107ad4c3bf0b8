//! How a source that reads on its own thread tells the runner it has something to apply, so
//! changes are applied as they arrive rather than at the next poll.

use std::sync::Arc;

/// Wakes the runner when a source has something (so changes are applied as they arrive, not at
/// the next poll).
#[derive(Clone, Default)]
pub struct Wake(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Wake {
    pub fn notify(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    /// Waits until notified or `timeout` passes.
    pub fn wait(&self, timeout: std::time::Duration) {
        let (flag, cv) = &*self.0;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = cv
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }
}
