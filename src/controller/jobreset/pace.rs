//! How many of the runs' requests to the API server are out at once, and whose go first.
//! A request of a run whose reset was sent (its task id's write, its outcome, the finishing
//! lane's read) takes the next free place before any request of a run that is starting, so
//! a reset's end is not recorded behind new runs at a busy API server; and a busy API server
//! does more with a few requests at once than with many (measured in `make bench`). A
//! request out longer than `HOLD` gives its place up, so a hanging connection holds up no
//! other run for long. No I/O (an in-process queue).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::oneshot;

/// Far longer than any answer of a working API server (milliseconds).
const HOLD: Duration = Duration::from_secs(1);

tokio::task_local! {
    static FINISHING: ();
}

/// Runs `fut` as the finishing lane.
pub async fn finishing<F: Future>(fut: F) -> F::Output {
    FINISHING.scope((), fut).await
}

/// Whether the caller runs in the finishing lane.
pub fn is_finishing() -> bool {
    FINISHING.try_with(|_| ()).is_ok()
}

/// The places; `None`: no limit.
#[derive(Clone, Default)]
pub struct Pace(Option<Arc<Mutex<Places>>>);

#[derive(Default)]
struct Places {
    free: usize,
    first: VecDeque<oneshot::Sender<Place>>,
    later: VecDeque<oneshot::Sender<Place>>,
}

/// A place held for one request; handed on to the next waiter when dropped.
struct Place(Option<Arc<Mutex<Places>>>);

impl Pace {
    /// `limit` places; 0: no limit.
    pub fn new(limit: usize) -> Pace {
        if limit == 0 {
            return Pace(None);
        }
        Pace(Some(Arc::new(Mutex::new(Places {
            free: limit,
            ..Default::default()
        }))))
    }

    /// Sends `request` once a place is free (before the requests not `first` when `first`).
    pub async fn run<T>(&self, first: bool, request: impl Future<Output = T>) -> T {
        let place = self.place(first).await;
        let mut request = std::pin::pin!(request);
        tokio::select! {
            answer = &mut request => return answer,
            () = tokio::time::sleep(HOLD) => {}
        }
        drop(place);
        request.await
    }

    async fn place(&self, first: bool) -> Place {
        let Some(places) = &self.0 else {
            return Place(None);
        };
        let handed = {
            let mut p = lock(places);
            if p.free > 0 {
                p.free -= 1;
                return Place(Some(Arc::clone(places)));
            }
            let (tx, rx) = oneshot::channel();
            if first {
                p.first.push_back(tx);
            } else {
                p.later.push_back(tx);
            }
            rx
        };
        // Its sender is dropped only once it handed a place on.
        handed.await.unwrap_or(Place(None))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let Some(places) = self.0.take() else {
            return;
        };
        let mut p = lock(&places);
        while let Some(waiter) = p.first.pop_front().or_else(|| p.later.pop_front()) {
            match waiter.send(Place(Some(Arc::clone(&places)))) {
                Ok(()) => return,
                // It gave up waiting: the place is not handed on through it.
                Err(mut back) => back.0 = None,
            }
        }
        p.free += 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Notify;

    /// Returns once every place is taken.
    async fn taken(pace: &Pace) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while lock(pace.0.as_ref().unwrap_or_else(|| panic!())).free > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the place was never taken"));
    }

    #[tokio::test]
    async fn a_finishing_request_goes_before_the_starting_ones_waiting() {
        let pace = Pace::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(Notify::new());
        let holder = {
            let (pace, release) = (pace.clone(), Arc::clone(&release));
            tokio::spawn(async move { pace.run(false, release.notified()).await })
        };
        taken(&pace).await;
        let queued = |first: bool, name: &'static str| {
            let (pace, order) = (pace.clone(), Arc::clone(&order));
            tokio::spawn(async move {
                pace.run(first, async { lock(&order).push(name) }).await;
            })
        };
        let waits = |n: usize| {
            let p = lock(pace.0.as_ref().unwrap_or_else(|| panic!()));
            p.first.len() + p.later.len() == n
        };
        let starting = queued(false, "starting");
        while !waits(1) {
            tokio::task::yield_now().await;
        }
        let finishing = queued(true, "finishing");
        while !waits(2) {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        for t in [holder, starting, finishing] {
            t.await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(*lock(&order), ["finishing", "starting"]);
        assert_eq!(lock(pace.0.as_ref().unwrap_or_else(|| panic!())).free, 1);
    }

    #[tokio::test]
    async fn a_request_out_too_long_gives_its_place_up() {
        let pace = Pace::new(1);
        let hung = {
            let pace = pace.clone();
            tokio::spawn(async move { pace.run(false, std::future::pending::<()>()).await })
        };
        taken(&pace).await;
        // The hung request lets go after HOLD.
        let next = pace.run(true, async { "answered" });
        let answered = tokio::time::timeout(HOLD * 10, next).await;
        assert_eq!(answered, Ok("answered"));
        assert_eq!(
            lock(pace.0.as_ref().unwrap_or_else(|| panic!())).free,
            1,
            "the place is back, and counted once"
        );
        hung.abort();
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_is_passed_over() {
        let pace = Pace::new(1);
        let held = pace.place(false).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(1), pace.place(true)).await;
        assert!(gave_up.is_err(), "no place was free");
        drop(held);
        let again =
            tokio::time::timeout(Duration::from_secs(10), pace.run(false, async { 1 })).await;
        assert_eq!(again, Ok(1), "the place came back");
    }

    #[tokio::test]
    async fn no_limit_holds_nothing() {
        let pace = Pace::new(0);
        let _a = pace.place(false).await;
        assert_eq!(pace.run(false, async { 2 }).await, 2);
    }
}
