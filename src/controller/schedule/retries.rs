//! How soon a failed schedule reconcile is tried again: capped exponential backoff per
//! schedule (by uid), forgotten on the schedule's next success, or once it has not failed
//! for twice the cap (how a deleted schedule's entry goes: no reconcile follows a delete).
//! In memory, no I/O.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::run::decide::backoff_delay;

pub struct Retries {
    base: Duration,
    cap: Duration,
    /// Failures in a row and when the last one was, by schedule uid.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Retries {
    pub fn new(base: Duration, cap: Duration) -> Retries {
        Retries {
            base,
            cap,
            failures: Mutex::default(),
        }
    }

    /// Counts a failure of the schedule `uid` at `now`; the wait before its next attempt.
    pub fn failed(&self, uid: &str, now: Instant) -> Duration {
        let stale = self.cap.saturating_mul(2);
        let mut failures = self.lock();
        failures.retain(|_, (_, at)| now.saturating_duration_since(*at) < stale);
        let n = failures.entry(uid.to_owned()).or_insert((0, now));
        *n = (n.0.saturating_add(1), now);
        backoff_delay(self.base, self.cap, n.0)
    }

    /// The schedule `uid` reconciled: its next failure waits the shortest again.
    pub fn succeeded(&self, uid: &str) {
        self.lock().remove(uid);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_up_to_the_cap_and_starts_over_after_a_success() {
        let r = Retries::new(S, 8 * S);
        let t = Instant::now();
        let waits: Vec<u64> = (0..6).map(|_| r.failed("a", t).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        assert_eq!(r.failed("b", t), S, "counted per schedule");
        r.succeeded("a");
        assert_eq!(r.failed("a", t), S);
    }

    #[test]
    fn an_entry_not_failing_for_twice_the_cap_is_dropped() {
        let r = Retries::new(S, 8 * S);
        let t = Instant::now();
        r.failed("gone", t);
        r.failed("gone", t);
        assert_eq!(r.failed("live", t + 15 * S), S);
        assert_eq!(r.len(), 2, "15 s is within twice the cap");
        assert_eq!(r.failed("live", t + 16 * S), 2 * S);
        assert_eq!(r.len(), 1, "the deleted schedule's entry went");
        assert_eq!(r.failed("gone", t + 16 * S), S, "and counts from one again");
    }
}
