//! The running simulator's shared core: state behind a lock, change notifications, timers for
//! reset work, closing and datafeeds, task waiting, the request log. No network I/O (that is
//! `http`); it spawns tokio tasks and uses tokio timers.
//!
//! `reset` runs reset work and its timers, `tasks` waits on tasks and restarts the node,
//! `jobs` closes jobs and runs datafeeds.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Security;
use crate::endpoint::Endpoint;
use crate::errors::EsError;
use crate::faults::Faults;
use crate::state::{DatafeedState, JobState, NewTask, Now, Outcome, ResetCheck, Signal, State};
use crate::versions::Version;

mod jobs;
mod reset;
mod tasks;

/// Interval between datafeed ingest batches.
pub const DATAFEED_TICK: Duration = Duration::from_millis(100);
/// Request log entries kept (counters stay exact beyond it).
pub const LOG_CAPACITY: usize = 100_000;

/// One request as seen by the simulator.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub endpoint: Endpoint,
    pub opaque_id: Option<String>,
    pub time: SystemTime,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    pub entries: VecDeque<LoggedRequest>,
    pub counts: HashMap<Endpoint, u64>,
}

#[derive(Debug, Clone)]
pub struct Durations {
    pub reset: Duration,
    pub reset_per_job: HashMap<String, Duration>,
    /// How long a graceful close takes (0: at once).
    pub close: Duration,
    /// How long a job stays `opening` after `_open` (0: opened at once).
    pub open: Duration,
    /// How long a datafeed stays `starting` after `_start` (0: started at once).
    pub start: Duration,
}

pub struct Shared {
    pub state: Mutex<State>,
    pub changes: watch::Sender<u64>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<RequestLog>,
    pub durations: Mutex<Durations>,
    pub rt: tokio::runtime::Handle,
    pub base: Instant,
    pub version: Version,
    pub security: Option<Security>,
    pub enable_control: bool,
    pub cluster_uuid: String,
}

/// A poisoned lock means a panic elsewhere; the data is still usable for a simulator.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Result of waiting for a task.
pub enum TaskWait {
    Body(Value),
    Error(EsError),
    /// The node went away under the request: close the connection.
    Drop,
}

/// Options of one reset request.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub job_id: String,
    pub delete_user_annotations: bool,
    pub timeout: Duration,
    pub headers: BTreeMap<String, String>,
    /// A missing privilege: the task fails with it (async reset, reference 4.2).
    pub denied: Option<EsError>,
    pub store_result: bool,
    /// How long to wait for an elected master.
    pub master_timeout: Duration,
}

impl Shared {
    pub fn now(&self) -> Now {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Now {
            wall_ms,
            mono_ns: self.base.elapsed().as_nanos() as u64,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Wake everything waiting for a change (`Control::wait_for`, close waits).
    pub fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Count a request when it arrives (so tests can wait for in-flight ones).
    pub fn arrived(&self, ep: Endpoint) {
        *lock(&self.log).counts.entry(ep).or_insert(0) += 1;
        self.bump();
    }

    /// Log a request when it is answered (status 0: dropped or hung).
    pub fn record(&self, r: LoggedRequest) {
        {
            let mut log = lock(&self.log);
            if log.entries.len() >= LOG_CAPACITY {
                log.entries.pop_front();
            }
            log.entries.push_back(r);
        }
        self.bump();
    }

    pub fn reset_duration(&self, job: &str) -> Duration {
        let d = lock(&self.durations);
        d.reset_per_job.get(job).copied().unwrap_or(d.reset)
    }
}

enum Waited {
    Completed,
    NotFound,
    TimedOut,
    Cancelled,
    Killed,
}

/// `TaskId(String)`: `<node>:<number>`, else 400 "malformed task id <x>".
pub fn parse_task_id(id: &str) -> Result<(String, u64), EsError> {
    let malformed = || EsError::illegal_argument(format!("malformed task id {id}"));
    let parts: Vec<&str> = id.split(':').collect();
    if parts.len() != 2 || parts[0].is_empty() {
        return Err(malformed());
    }
    match parts[1].parse::<i64>() {
        Ok(n) if n >= 0 => Ok((parts[0].to_string(), n as u64)),
        Ok(_) => Err(malformed()),
        Err(_) => Err(malformed().with_cause(EsError::new(
            400,
            "number_format_exception",
            format!("For input string: \"{}\"", parts[1]),
        ))),
    }
}

/// A stable random-looking 22-character node id (16 random bytes, base64url).
pub fn random_node_id() -> String {
    use base64::Engine;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = Vec::with_capacity(16);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        bytes.extend_from_slice(&h.finish().to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_parse() {
        assert_eq!(parse_task_id("abc:12").unwrap(), ("abc".to_string(), 12));
        let e = parse_task_id("abc").unwrap_err();
        assert_eq!(
            (e.status, e.reason.as_str()),
            (400, "malformed task id abc")
        );
        let e = parse_task_id("abc:x").unwrap_err();
        assert_eq!(e.caused_by.unwrap().kind, "number_format_exception");
        assert!(parse_task_id("a:1:2").is_err());
    }

    #[test]
    fn node_ids_are_22_chars() {
        let a = random_node_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_node_id());
    }
}
