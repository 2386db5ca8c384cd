//! How the run's long calls are made: a reset task's long-poll (`GET _tasks/<id>?
//! wait_for_completion=true`) and the close (which Elasticsearch holds until the job is
//! closed, up to its timeout: 30 minutes by default).
//!
//! The standalone command waits inline (`Inline`). The controller hands each long call to a
//! background task (`controller::jobreset::followers`), so that a reconcile never sits in
//! one; `decide` sees exactly the observation an inline call would have given it. Does I/O
//! (the calls, through `es::Elasticsearch`).

use std::{future::Future, time::Duration};

use crate::es::{Elasticsearch, EsError, TaskPoll};

/// A long call.
#[derive(Clone, Debug)]
pub enum Call {
    /// Long-poll task `task_id` for up to `wait`.
    Follow { task_id: String, wait: Duration },
    /// Close the job; `timeout` in Elasticsearch time units.
    Close {
        job_id: String,
        force: bool,
        timeout: String,
    },
}

impl Call {
    /// Whether an answer to `self` answers `other` too (a follow's wait may shrink as the
    /// deadline nears; it is the same follow).
    pub fn same(&self, other: &Call) -> bool {
        match (self, other) {
            (Call::Follow { task_id: a, .. }, Call::Follow { task_id: b, .. }) => a == b,
            (
                Call::Close {
                    job_id: a,
                    force: fa,
                    ..
                },
                Call::Close {
                    job_id: b,
                    force: fb,
                    ..
                },
            ) => a == b && fa == fb,
            _ => false,
        }
    }

    pub async fn make<E: Elasticsearch>(&self, es: &E) -> Answer {
        match self {
            Call::Follow { task_id, wait } => Answer::Task(es.wait_task(task_id, *wait).await),
            Call::Close {
                job_id,
                force,
                timeout,
            } => Answer::Closed(es.close_job(job_id, *force, timeout).await),
        }
    }
}

/// What a long call returned.
#[derive(Debug)]
pub enum Answer {
    Task(Result<TaskPoll, EsError>),
    Closed(Result<(), EsError>),
}

/// Makes the long calls for `steps::drive`, with client `E`.
pub trait Follow<E> {
    /// The answer to `call`, or `None` when it is being awaited elsewhere and the caller
    /// should stop and wait to be woken.
    fn answer(&self, es: &E, call: Call) -> impl Future<Output = Option<Answer>> + Send;

    /// Starts the long-poll of task `task_id` ahead of need, where that saves time: its
    /// answer is kept for `answer`. (A long-poll only reads; a close is never started ahead.)
    fn prefetch_task(&self, _es: &E, _task_id: &str, _wait: Duration) {}
}

/// Waits for the answer in place (the standalone command has nothing else to do).
pub struct Inline;

impl<E: Elasticsearch> Follow<E> for Inline {
    async fn answer(&self, es: &E, call: Call) -> Option<Answer> {
        Some(call.make(es).await)
    }
}
