//! The reset gate: on a graceful stop no new reset request starts, and the stop waits for
//! every reset between its request and the write of its task id, so a rolling update never
//! cuts there. Synchronisation only, no I/O.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use tokio::sync::Notify;

#[derive(Default)]
pub struct ResetGate {
    closed: AtomicBool,
    inside: AtomicUsize,
    left: Notify,
}

/// Held from the write of the reset intent until the task id (or the failure) is recorded.
pub struct Inside(Arc<ResetGate>);

impl Drop for Inside {
    fn drop(&mut self) {
        if self.0.inside.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.left.notify_waiters();
        }
    }
}

impl ResetGate {
    /// Enters the critical section, unless the process is stopping.
    pub fn enter(self: &Arc<Self>) -> Option<Inside> {
        // Counted before the check, so `wait_idle` after `close` cannot miss it.
        self.inside.fetch_add(1, Ordering::SeqCst);
        let inside = Inside(Arc::clone(self));
        (!self.closed.load(Ordering::SeqCst)).then_some(inside)
    }

    /// No new reset request from now on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Returns once no reset is between its request and the write of its task id.
    pub async fn wait_idle(&self) {
        loop {
            let left = self.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            if self.inside.load(Ordering::SeqCst) == 0 {
                return;
            }
            left.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_closed_gate_lets_nothing_in_and_waits_for_who_is_inside() {
        let gate = Arc::new(ResetGate::default());
        let inside = gate.enter();
        assert!(inside.is_some());
        gate.close();
        assert!(gate.enter().is_none(), "no new reset once stopping");
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.wait_idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a reset is still inside");
        drop(inside);
        let done = tokio::time::timeout(Duration::from_secs(10), waiting).await;
        assert!(matches!(done, Ok(Ok(()))));
    }
}
