//! The time the schedule controller decides on: the system clock, or a clock a test sets
//! (every change wakes every schedule, so tests never wait for real slots). No I/O.

use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use jiff::Timestamp;
use tokio::sync::watch;

/// Where the schedule controller gets the time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;

    /// A stream that yields whenever the time jumps (a set clock); `None` for a clock that
    /// only runs forward on its own.
    fn jumps(&self) -> Option<BoxStream<'static, ()>> {
        None
    }

    /// Whether waits follow this clock's time in real time (the system clock): only then is
    /// a requeue at the next slot meaningful.
    fn is_real(&self) -> bool {
        false
    }

    /// When an object the API server stamped `stamped` (real time) came to be on this clock.
    fn created_at(&self, stamped: Timestamp) -> Timestamp {
        stamped
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn is_real(&self) -> bool {
        true
    }
}

/// A clock that stands still until set; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Timestamp,
    now: Arc<Mutex<Timestamp>>,
    tx: Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        let (tx, _) = watch::channel(start);
        ManualClock {
            start,
            now: Arc::new(Mutex::new(start)),
            tx: Arc::new(tx),
        }
    }

    /// Moves the clock to `t` and wakes every schedule.
    pub fn set(&self, t: Timestamp) {
        if let Ok(mut now) = self.now.lock() {
            *now = t;
        }
        self.tx.send_replace(t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }

    /// Objects made in real time before the clock's start count as made at its start, so a
    /// clock set in the future does not see months of missed slots.
    fn created_at(&self, stamped: Timestamp) -> Timestamp {
        stamped.max(self.start)
    }

    fn jumps(&self) -> Option<BoxStream<'static, ()>> {
        let rx = self.tx.subscribe();
        Some(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        })))
    }
}
