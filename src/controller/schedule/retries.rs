//! How soon a failed schedule reconcile is tried again: exponential backoff with jitter
//! per schedule (by uid), forgotten on the schedule's next success, or once it has not
//! failed for three times the cap (how a deleted schedule's entry goes: no reconcile follows
//! a delete). In memory, no I/O.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

pub struct Retries {
    backoff: ExponentialBuilder,
    cap: Duration,
    /// Each failing schedule's backoff and when it last failed, by uid.
    failures: Mutex<HashMap<String, (ExponentialBackoff, Instant)>>,
}

impl Retries {
    pub fn new(base: Duration, cap: Duration) -> Retries {
        Retries {
            backoff: ExponentialBuilder::new()
                .with_min_delay(base)
                .with_max_delay(cap)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times(),
            cap,
            failures: Mutex::default(),
        }
    }

    /// Counts a failure of the schedule `uid` at `now`; the wait before its next attempt:
    /// `base` doubled per failure in a row up to `cap`, plus up to as much again of jitter
    /// (schedules that failed together do not retry together).
    pub fn failed(&self, uid: &str, now: Instant) -> Duration {
        // Jitter stretches a wait to under twice the cap: past three, nobody is retrying.
        let stale = self.cap.saturating_mul(3);
        let mut failures = self.lock();
        failures.retain(|_, (_, at)| now.saturating_duration_since(*at) < stale);
        let (backoff, at) = failures
            .entry(uid.to_owned())
            .or_insert_with(|| (self.backoff.build(), now));
        *at = now;
        // Built without a limit of times, it never ends.
        backoff.next().unwrap_or(self.cap)
    }

    /// The schedule `uid` reconciled: its next failure waits the shortest again.
    pub fn succeeded(&self, uid: &str) {
        self.lock().remove(uid);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (ExponentialBackoff, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// The un-jittered wait a backoff gave (jitter adds less than as much again).
    fn step(r: &Retries, uid: &str, t: Instant) -> u64 {
        let wait = r.failed(uid, t);
        let base = (0..=4)
            .rev()
            .map(|e| 1u64 << e)
            .find(|b| wait.as_secs_f64() >= *b as f64);
        let base = base.unwrap_or(0);
        assert!(wait < Duration::from_secs(2 * base), "{wait:?}");
        base
    }

    #[test]
    fn doubles_up_to_the_cap_and_starts_over_after_a_success() {
        let r = Retries::new(S, 8 * S);
        let t = Instant::now();
        let waits: Vec<u64> = (0..6).map(|_| step(&r, "a", t)).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        assert_eq!(step(&r, "b", t), 1, "counted per schedule");
        r.succeeded("a");
        assert_eq!(step(&r, "a", t), 1);
    }

    #[test]
    fn an_entry_not_failing_for_three_times_the_cap_is_dropped() {
        let r = Retries::new(S, 8 * S);
        let t = Instant::now();
        step(&r, "gone", t);
        step(&r, "gone", t);
        assert_eq!(step(&r, "live", t + 20 * S), 1);
        assert_eq!(r.len(), 2, "20 s is within three times the cap");
        assert_eq!(step(&r, "live", t + 24 * S), 2);
        assert_eq!(r.len(), 1, "the deleted schedule's entry went");
        assert_eq!(step(&r, "gone", t + 24 * S), 1, "and counts from one again");
    }
}
