//! The act/record half of a run, shared by the controller and the standalone `reset`
//! command: call `decide`, record the status it returns whenever it changed (through a
//! `Sink`), perform the action against Elasticsearch (`act`), feed the answer back. Does I/O (the
//! Elasticsearch calls and whatever the sink does).
//!
//! Ordering guarantees live here: the reset intent is recorded before the reset POST (decide
//! returns it together with `PostReset`), and the task id is recorded by the very next sink
//! call after the POST returns. Task long-polls go through a `Follow`: inline for the
//! standalone command, in the background for the controller (`follow.rs`), where the
//! long-poll starts as the POST returns and its answer is taken only once the id is recorded.

use std::{future::Future, sync::Arc, time::Duration};

use jiff::Timestamp;

use crate::{
    api::{JobResetSpec, JobResetStatus, Phase},
    es::Elasticsearch,
    run::act::act,
    run::conditions,
    run::crash::{self, CrashPoint},
    run::decide::{Action, Input, Observation, decide, reason, success_written_unannounced},
    run::follow::Follow,
    run::gate::{Inside, ResetGate},
};

/// How long to wait for a background long-poll's wake-up before looking again (the wake-up
/// normally comes first: this only covers a lost trigger).
const FOLLOW_RECHECK_SLACK: Duration = Duration::from_secs(30);

/// Upper bound of decide/act rounds in one reconcile; a run that needs more comes back.
const MAX_STEPS: usize = 32;

/// Timing settings of a run, and the gate a graceful stop closes.
#[derive(Clone)]
pub struct StepConfig {
    /// Server-side wait of each task long-poll.
    pub task_poll_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub gate: Arc<ResetGate>,
    /// The reset request of this number was recorded as intended by this process and never
    /// sent (its status write failed, or the stop came first).
    pub known_unsent: Option<u32>,
}

/// Where status changes go (the API server, or the terminal for the standalone command).
pub trait Sink {
    /// What a failed write is.
    type Error;

    fn record(
        &mut self,
        old: &JobResetStatus,
        new: &JobResetStatus,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Reset request number `attempt` is about to be recorded as intended.
    fn request_intended(&mut self, _attempt: u32) {}

    /// Reset request number `attempt` is about to go out.
    fn request_sent(&mut self, _attempt: u32) {}
}

/// How a run left off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Come back after this delay.
    Requeue(Duration),
    /// Nothing more to do.
    Done,
}

/// Runs decide/act rounds from `first` until the run must wait or is over. `status` is
/// updated to what was last recorded. `es` is `None` when no connection could be built; the
/// observation then explains why and `decide` only asks to wait. Status reaches the sink
/// before every action that changes the job (close, reset, open, start), before the write
/// of a failed outcome (a success's own entry is its record), and before every return.
#[allow(clippy::too_many_arguments)]
pub async fn drive<E: Elasticsearch, S: Sink + Send, F: Follow<E> + Sync>(
    es: Option<&E>,
    spec: &JobResetSpec,
    generation: Option<i64>,
    status: &mut JobResetStatus,
    first: Observation,
    cfg: &StepConfig,
    sink: &mut S,
    follow: &F,
) -> Result<Next, S::Error> {
    let mut obs = first;
    // What the sink last wrote; `status` runs ahead of it only while the run looks.
    let mut recorded = status.clone();
    // Held from the intent write until the reset's answer is recorded.
    let mut _inside: Option<Inside> = None;
    // The last round only records what the round before saw (a reset's answer is never
    // dropped with the step budget), and acts no more.
    for step in 0..=MAX_STEPS {
        let last = step == MAX_STEPS;
        let now = Timestamp::now();
        let input = Input {
            spec,
            generation,
            now,
            backoff_base: cfg.backoff_base,
            backoff_cap: cfg.backoff_cap,
            opaque_id: es.map(Elasticsearch::opaque_id).unwrap_or_default(),
            known_unsent: cfg.known_unsent.is_some_and(|n| n == status.reset_requests),
        };
        let (action, new) = decide(&input, status, obs);
        if action == Action::PostReset {
            if last {
                *status = recorded;
                return Ok(Next::Requeue(Duration::ZERO));
            }
            match cfg.gate.enter() {
                Some(entered) => _inside = Some(entered),
                // Stopping: neither the intent nor the request; whoever leads next starts it.
                None => {
                    *status = recorded;
                    return Ok(Next::Requeue(Duration::ZERO));
                }
            }
            sink.request_intended(new.reset_requests);
        }
        // While the run only looks and books (Pending: nothing done to the job yet), what it
        // learns goes out with the next status write: a crash before it costs the reads and
        // the `started` entry again (the next run finds its own entry on the job), nothing
        // more.
        let looking = matches!(
            action,
            Action::ReadInfo
                | Action::CheckPrivileges
                | Action::ReadJob(_)
                | Action::ReadDatafeed { .. }
                | Action::WriteLedger { .. }
        ) && new.phase == Phase::Pending
            && recorded.phase == Phase::Pending
            // A warning (a ledger write given up on) is written at once: it is an Event.
            && new.reason.as_deref() == Some(reason::ACCEPTED)
            && !last
            && es.is_some();
        let unannounced = !last
            && es.is_some()
            && (success_written_unannounced(&recorded, &new, &action)
                || started_booked_after_close(&recorded, &new, &action));
        *status = new;
        if *status != recorded && !looking && !unannounced {
            if status.phase == Phase::Completed {
                crash::at(CrashPoint::AfterCompletionBeforeStatus);
            }
            let task_recorded =
                recorded.task_id.is_none() && status.task_id.is_some() && !status.adopted;
            if let Err(e) = sink.record(&recorded, status).await {
                *status = recorded;
                return Err(e);
            }
            recorded = status.clone();
            if task_recorded {
                crash::at(CrashPoint::AfterTaskIdWritten);
            }
        }
        if action != Action::PostReset {
            _inside = None;
        }
        let es = match (&action, es) {
            (Action::Done, _) => return Ok(Next::Done),
            (Action::Requeue(d), _) => return Ok(Next::Requeue(*d)),
            _ if last => return Ok(Next::Requeue(Duration::ZERO)),
            (_, Some(es)) => es,
            (_, None) => return Ok(Next::Requeue(cfg.backoff_cap)),
        };
        if action == Action::PostReset {
            sink.request_sent(status.reset_requests);
        }
        obs = match act(es, spec, status, action, cfg, now, follow).await {
            Some(obs) => obs,
            // A background call (long-poll or close) is under way; its answer wakes this
            // JobReset.
            None => return Ok(Next::Requeue(cfg.task_poll_timeout + FOLLOW_RECHECK_SLACK)),
        };
    }
    Ok(Next::Requeue(Duration::ZERO))
}

/// The `started` entry an opened job's run books after its close: like a Pending run's, it
/// goes out with the intent's write. Only the ledger's own fields may differ from what was
/// recorded; a crash before the intent costs the close's look again (the next run finds
/// its own entry on the job), never a second reset.
fn started_booked_after_close(
    recorded: &JobResetStatus,
    new: &JobResetStatus,
    action: &Action,
) -> bool {
    if !matches!(action, Action::WriteLedger { .. })
        || recorded.phase != Phase::Closing
        || new.phase != Phase::Closing
    {
        return false;
    }
    let ledger_only = |s: &JobResetStatus| {
        let mut s = s.clone();
        s.ledger_state = None;
        s.job_fingerprint = None;
        s.conditions.retain(|c| c.type_ != conditions::RECORDED);
        s
    };
    ledger_only(recorded) == ledger_only(new)
}
