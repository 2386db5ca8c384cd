//! The jobs and datafeeds of the simulated cluster, with the indices that make a lookup by
//! job id, group, datafeed id or a datafeed's job cost the same however many jobs there are:
//! by group, the jobs a reset blocks, the datafeed of each job. The indexed fields (a job's
//! config and block, a datafeed's job) change only through these collections, which keep the
//! indices in step. Full scans are counted (`full_scans`) so tests can check that per-id calls
//! make none. No I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::state::{DataCounts, DatafeedState, JobState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// `delete`, `reset` or `revert` (`none` is never stored).
    pub reason: String,
    pub task_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// User-settable config fields as given (validated), without the computed ones.
    config: Map<String, Value>,
    pub create_time: i64,
    pub finished_time: Option<i64>,
    pub model_snapshot_id: Option<String>,
    blocked: Option<Blocked>,
    pub state: JobState,
    pub counts: DataCounts,
    pub model_bytes: u64,
    /// `model_size_stats.memory_status` (`ok` when unset); a reset sets it back.
    pub memory_status: Option<String>,
    pub user_annotations: usize,
    pub auto_annotations: usize,
    pub open_time_ms: Option<i64>,
    /// The job's audit messages (`.ml-notifications-*` in Elasticsearch), oldest first.
    pub messages: Vec<String>,
}

impl Job {
    /// A closed job as `PUT _ml/anomaly_detectors/<id>` creates it.
    pub fn new(id: &str, config: Map<String, Value>, create_time: i64) -> Self {
        Job {
            id: id.to_string(),
            config,
            create_time,
            finished_time: None,
            model_snapshot_id: None,
            blocked: None,
            state: JobState::Closed,
            counts: DataCounts::default(),
            model_bytes: 0,
            memory_status: None,
            user_annotations: 0,
            auto_annotations: 0,
            open_time_ms: None,
            messages: vec!["Job created".to_owned()],
        }
    }

    pub fn config(&self) -> &Map<String, Value> {
        &self.config
    }

    pub fn blocked(&self) -> Option<&Blocked> {
        self.blocked.as_ref()
    }

    pub fn groups(&self) -> Vec<String> {
        self.config
            .get("groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn resetting(&self) -> bool {
        self.blocked.as_ref().is_some_and(|b| b.reason == "reset")
    }
}

#[derive(Debug, Clone)]
pub struct Datafeed {
    pub id: String,
    job_id: String,
    pub config: Map<String, Value>,
    pub state: DatafeedState,
    /// Fault: stopping this datafeed fails (close then answers 409).
    pub unstoppable: bool,
    /// Bumped on every start so an old ticker knows it is stale.
    pub run: u64,
}

impl Datafeed {
    pub fn new(id: &str, job_id: &str, config: Map<String, Value>) -> Self {
        Datafeed {
            id: id.to_string(),
            job_id: job_id.to_string(),
            config,
            state: DatafeedState::Stopped,
            unstoppable: false,
            run: 0,
        }
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

/// Jobs by id, indexed by group and by reset block.
#[derive(Default)]
pub struct Jobs {
    map: BTreeMap<String, Job>,
    by_group: HashMap<String, BTreeSet<String>>,
    resetting: BTreeSet<String>,
    scans: AtomicU64,
}

impl Jobs {
    pub fn get(&self, id: &str) -> Option<&Job> {
        self.map.get(id)
    }

    /// The job, for the fields that no index covers.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Job> {
        self.map.get_mut(id)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every job id, in order (a full scan).
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.map.keys()
    }

    /// Every job, in id order (a full scan).
    pub fn values(&self) -> impl Iterator<Item = &Job> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.map.values()
    }

    /// The jobs naming `group` among their groups.
    pub fn in_group(&self, group: &str) -> impl Iterator<Item = &String> {
        self.by_group.get(group).into_iter().flatten()
    }

    pub fn group_exists(&self, group: &str) -> bool {
        self.by_group.contains_key(group)
    }

    /// The jobs blocked by a reset, in id order.
    pub fn resetting(&self) -> &BTreeSet<String> {
        &self.resetting
    }

    pub fn insert(&mut self, job: Job) {
        self.remove(&job.id.clone());
        self.index(&job);
        self.map.insert(job.id.clone(), job);
    }

    pub fn remove(&mut self, id: &str) -> Option<Job> {
        let job = self.map.remove(id)?;
        self.unindex(&job);
        Some(job)
    }

    /// Sets one config field (a job update), re-indexing the job's groups.
    pub fn set_config(&mut self, id: &str, key: &str, value: Value) {
        let Some(job) = self.map.remove(id) else {
            return;
        };
        self.unindex(&job);
        let mut job = job;
        job.config.insert(key.to_string(), value);
        self.index(&job);
        self.map.insert(id.to_string(), job);
    }

    /// Sets or clears the job's block; false if there is no such job.
    pub fn set_blocked(&mut self, id: &str, blocked: Option<Blocked>) -> bool {
        let Some(job) = self.map.get_mut(id) else {
            return false;
        };
        job.blocked = blocked;
        if job.resetting() {
            self.resetting.insert(id.to_string());
        } else {
            self.resetting.remove(id);
        }
        true
    }

    fn index(&mut self, job: &Job) {
        for g in job.groups() {
            self.by_group.entry(g).or_default().insert(job.id.clone());
        }
        if job.resetting() {
            self.resetting.insert(job.id.clone());
        }
    }

    fn unindex(&mut self, job: &Job) {
        for g in job.groups() {
            if let Some(members) = self.by_group.get_mut(&g) {
                members.remove(&job.id);
                if members.is_empty() {
                    self.by_group.remove(&g);
                }
            }
        }
        self.resetting.remove(&job.id);
    }

    fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }
}

/// Datafeeds by id, indexed by job (a job has at most one).
#[derive(Default)]
pub struct Datafeeds {
    map: BTreeMap<String, Datafeed>,
    by_job: HashMap<String, String>,
    scans: AtomicU64,
}

impl Datafeeds {
    pub fn get(&self, id: &str) -> Option<&Datafeed> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Datafeed> {
        self.map.get_mut(id)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    /// Every datafeed id, in order (a full scan).
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.map.keys()
    }

    /// Every datafeed, in id order (a full scan).
    pub fn values(&self) -> impl Iterator<Item = &Datafeed> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.map.values()
    }

    /// Every datafeed, in id order (a full scan).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Datafeed> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.map.values_mut()
    }

    /// The datafeed of `job`.
    pub fn for_job(&self, job: &str) -> Option<&Datafeed> {
        self.by_job.get(job).and_then(|id| self.map.get(id))
    }

    pub fn for_job_mut(&mut self, job: &str) -> Option<&mut Datafeed> {
        let id = self.by_job.get(job)?;
        self.map.get_mut(id)
    }

    /// Adds the datafeed; the caller has checked its job has none yet.
    pub fn insert(&mut self, df: Datafeed) {
        self.remove(&df.id.clone());
        self.by_job.insert(df.job_id.clone(), df.id.clone());
        self.map.insert(df.id.clone(), df);
    }

    pub fn remove(&mut self, id: &str) -> Option<Datafeed> {
        let df = self.map.remove(id)?;
        if self.by_job.get(&df.job_id) == Some(&df.id) {
            self.by_job.remove(&df.job_id);
        }
        Some(df)
    }

    fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }
}

/// Full scans of the jobs and datafeeds so far (wildcards, `_all`, listings, maintenance).
pub fn full_scans(jobs: &Jobs, datafeeds: &Datafeeds) -> u64 {
    jobs.scans() + datafeeds.scans()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(id: &str, groups: &[&str]) -> Job {
        let mut cfg = Map::new();
        cfg.insert("groups".into(), json!(groups));
        Job::new(id, cfg, 0)
    }

    #[test]
    fn group_and_reset_indices_follow_changes() {
        let mut jobs = Jobs::default();
        jobs.insert(job("a", &["g", "h"]));
        jobs.insert(job("b", &["g"]));
        assert_eq!(jobs.in_group("g").collect::<Vec<_>>(), ["a", "b"]);
        jobs.set_config("a", "groups", json!(["h"]));
        assert_eq!(jobs.in_group("g").collect::<Vec<_>>(), ["b"]);
        assert!(jobs.group_exists("h"));
        let reset = Blocked {
            reason: "reset".into(),
            task_id: None,
        };
        assert!(jobs.set_blocked("a", Some(reset.clone())));
        assert_eq!(jobs.resetting().len(), 1);
        jobs.set_config("a", "description", json!("d"));
        assert_eq!(jobs.resetting().len(), 1, "a config change keeps the block");
        jobs.remove("a");
        assert!(jobs.resetting().is_empty());
        assert!(!jobs.group_exists("h"));
        assert_eq!(jobs.keys().count(), 1);
        assert_eq!(jobs.scans(), 1);
    }

    #[test]
    fn a_jobs_datafeed_is_found_by_job() {
        let mut dfs = Datafeeds::default();
        dfs.insert(Datafeed::new("d1", "a", Map::new()));
        assert_eq!(dfs.for_job("a").map(|d| d.id.as_str()), Some("d1"));
        dfs.remove("d1");
        assert!(dfs.for_job("a").is_none());
        assert_eq!(dfs.scans(), 0);
    }
}
