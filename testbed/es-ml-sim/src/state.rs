//! The simulated cluster state: jobs, datafeeds, running tasks and stored task results, and the
//! rules that change them. No I/O and no clocks: callers pass the time in (`Now`). Timers,
//! waiting and notifications live in `engine`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Map, Value, json};
use tokio::sync::watch;

pub use crate::catalog::{Blocked, Datafeed, Datafeeds, Job, Jobs};
use crate::errors::EsError;
use crate::versions::Version;

pub const RESET_ACTION: &str = "cluster:admin/xpack/ml/job/reset";
pub const DELETE_ACTION: &str = "cluster:admin/xpack/ml/job/delete";
/// Records one datafeed tick ingests.
pub const RECORDS_PER_TICK: u64 = 100;
const ID_LENGTH_LIMIT: usize = 64;
/// Stored task results kept; the oldest go first beyond this (memory bound for long benches).
pub const STORED_CAPACITY: usize = 200_000;

/// Wall-clock milliseconds and a monotonic nanosecond reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Now {
    pub wall_ms: i64,
    pub mono_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Closing,
    Closed,
    Opened,
    Failed,
    Opening,
}

impl JobState {
    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Closing => "closing",
            JobState::Closed => "closed",
            JobState::Opened => "opened",
            JobState::Failed => "failed",
            JobState::Opening => "opening",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "closing" => JobState::Closing,
            "closed" => JobState::Closed,
            "opened" => JobState::Opened,
            "failed" => JobState::Failed,
            "opening" => JobState::Opening,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct DataCounts {
    pub processed_record_count: u64,
    pub bucket_count: u64,
    pub earliest_record_timestamp: Option<i64>,
    pub latest_record_timestamp: Option<i64>,
    pub last_data_time: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatafeedState {
    /// Between `_start` and the first search (the start's own wait).
    Starting,
    Started,
    Stopped,
}

impl DatafeedState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DatafeedState::Starting => "starting",
            DatafeedState::Started => "started",
            DatafeedState::Stopped => "stopped",
        }
    }

    /// Started or on its way: a close stops it, a second start is refused.
    pub fn is_running(&self) -> bool {
        matches!(self, DatafeedState::Starting | DatafeedState::Started)
    }
}

/// What a waiter or runner is told about a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    None,
    /// `_cancel` or a job delete.
    Cancel,
    /// The node restarted: the task vanished.
    Kill,
    /// The control API ends a running reset's work now, as if its duration had passed.
    Finish,
}

#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub number: u64,
    pub action: String,
    pub description: String,
    pub start_ms: i64,
    pub start_mono_ns: u64,
    pub cancellable: bool,
    pub cancelled: bool,
    pub headers: BTreeMap<String, String>,
    pub parent: Option<String>,
    /// Store the result in `.tasks` when it ends (only async REST tasks do).
    pub store_result: bool,
    pub job_id: Option<String>,
}

pub struct RunningTask {
    pub info: TaskInfo,
    /// Turns true when the task unregisters.
    pub done: watch::Sender<bool>,
    pub signal: watch::Sender<Signal>,
}

/// What to register as a running task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub action: &'static str,
    pub description: String,
    pub headers: BTreeMap<String, String>,
    pub parent: Option<String>,
    /// Store the outcome in `.tasks` (async REST tasks only).
    pub store_result: bool,
    pub job_id: Option<String>,
}

impl NewTask {
    pub fn reset(job_id: &str, parent: Option<String>, store_result: bool) -> Self {
        NewTask {
            action: RESET_ACTION,
            description: format!("job-{job_id}"),
            headers: BTreeMap::new(),
            parent,
            store_result,
            job_id: Some(job_id.to_string()),
        }
    }
}

/// How a finished task ended, as stored.
pub type Outcome = Result<Value, EsError>;

pub struct State {
    pub version: Version,
    pub node_id: String,
    pub node_name: String,
    next_task: u64,
    pub jobs: Jobs,
    pub datafeeds: Datafeeds,
    pub running: HashMap<u64, RunningTask>,
    /// `.tasks`: full task id -> stored GET-task body.
    pub stored: HashMap<String, Value>,
    /// Insertion order of `stored`, to bound memory (real `.tasks` keeps everything).
    stored_order: VecDeque<String>,
    pub upgrade_mode: bool,
    pub resets_started: HashMap<String, u64>,
    /// Resets whose work ran to the end, by job.
    pub resets_completed: HashMap<String, u64>,
    /// When each job's last reset finished (the task ends in the same step), for lag figures.
    pub last_reset_done: HashMap<String, std::time::Instant>,
    /// The most jobs ever blocked by a reset at the same time.
    pub resets_running_peak: usize,
    /// Bumped on every node restart; work begun in an older epoch must not touch tasks.
    pub epoch: u64,
    /// False: no elected master (close and reset fail with 503).
    pub master_available: bool,
}

pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    let ok_end = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && ok_end(b[0])
        && ok_end(b[b.len() - 1])
        && b.iter()
            .all(|&c| ok_end(c) || c == b'-' || c == b'_' || c == b'.')
}

pub fn validate_id(field: &str, id: &str) -> Result<(), EsError> {
    if !valid_id(id) {
        return Err(EsError::illegal_argument(format!(
            "Invalid {field}; '{id}' can contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric"
        )));
    }
    if id.len() > ID_LENGTH_LIMIT {
        return Err(EsError::illegal_argument(format!(
            "The {field} cannot contain more than {ID_LENGTH_LIMIT} characters."
        )));
    }
    Ok(())
}

/// Simple `*` wildcard match (Elasticsearch `Regex.simpleMatch`).
pub fn simple_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some(&c) => s.first() == Some(&c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

const JOB_FIELDS: &[&str] = &[
    "job_id",
    "description",
    "groups",
    "analysis_config",
    "data_description",
    "analysis_limits",
    "custom_settings",
    "model_plot_config",
    "results_index_name",
    "allow_lazy_open",
    "background_persist_interval",
    "renormalization_window_days",
    "model_snapshot_retention_days",
    "daily_model_snapshot_retention_after_days",
    "results_retention_days",
    "datafeed_config",
    "job_type",
];

const UPDATE_FIELDS: &[&str] = &[
    "description",
    "groups",
    "custom_settings",
    "analysis_limits",
    "model_plot_config",
    "background_persist_interval",
    "renormalization_window_days",
    "model_snapshot_retention_days",
    "daily_model_snapshot_retention_after_days",
    "results_retention_days",
    "allow_lazy_open",
    "detectors",
    "per_partition_categorization",
];

const DATAFEED_FIELDS: &[&str] = &[
    "datafeed_id",
    "job_id",
    "indices",
    "indexes",
    "query",
    "aggregations",
    "aggs",
    "frequency",
    "query_delay",
    "scroll_size",
    "chunking_config",
    "delayed_data_check_config",
    "runtime_mappings",
    "script_fields",
    "max_empty_searches",
    "indices_options",
];

/// `[line:col]` of the first occurrence of `"key"` in the raw body, for parser-style messages.
pub fn location_of(raw: &str, key: &str) -> String {
    let needle = format!("\"{key}\"");
    let pos = raw.find(&needle).unwrap_or(0);
    let before = &raw[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    format!("[{line}:{col}]")
}

/// The request body as an object with only `allowed` fields, or the parse error
/// ObjectParser gives (`parser` names it, `raw` locates the offending field).
pub fn object_body<'a>(
    body: &'a Value,
    allowed: &[&str],
    parser: &str,
    raw: &str,
) -> Result<&'a Map<String, Value>, EsError> {
    let Some(obj) = body.as_object() else {
        return Err(EsError::parse(format!(
            "[1:1] [{parser}] Expected START_OBJECT but was not an object"
        )));
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(EsError::parse(format!(
            "{} [{parser}] unknown field [{k}]",
            location_of(raw, k)
        )));
    }
    Ok(obj)
}

/// Validate `groups` and return it as an array: like ObjectParser's string arrays, a single
/// string counts as a one-element array.
fn validate_groups(v: &Value, raw: &str) -> Result<Value, EsError> {
    let arr = match v {
        Value::String(s) => vec![Value::String(s.clone())],
        Value::Array(a) => a.clone(),
        _ => {
            return Err(EsError::parse(format!(
                "{} [job_details] groups doesn't support values of type: VALUE_OTHER",
                location_of(raw, "groups")
            )));
        }
    };
    for g in &arr {
        let s = g.as_str().unwrap_or("");
        if !valid_id(s) || s.len() > ID_LENGTH_LIMIT {
            return Err(EsError::illegal_argument(format!(
                "Invalid group id '{s}'; must be non-empty string and may contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric"
            )));
        }
    }
    Ok(Value::Array(arr))
}

/// Validate a `PUT _ml/anomaly_detectors/<id>` body and return the stored config fields.
pub fn parse_job_body(id: &str, body: &Value, raw: &str) -> Result<Map<String, Value>, EsError> {
    let obj = object_body(body, JOB_FIELDS, "job_details", raw)?;
    if let Some(body_id) = obj.get("job_id").and_then(Value::as_str)
        && body_id != id
    {
        return Err(EsError::illegal_argument(format!(
            "Inconsistent job_id; '{body_id}' specified in the body differs from '{id}' specified as a URL argument"
        )));
    }
    let Some(ac) = obj.get("analysis_config") else {
        return Err(EsError::illegal_argument("An analysis_config must be set"));
    };
    let detectors = ac.get("detectors").and_then(Value::as_array);
    if detectors.is_none_or(|d| d.is_empty()) {
        return Err(EsError::illegal_argument("No detectors configured"));
    }
    if obj.get("data_description").is_none() {
        return Err(EsError::illegal_argument("A data_description must be set"));
    }
    validate_id("job_id", id)?;
    let groups = match obj.get("groups") {
        Some(g) => Some(validate_groups(g, raw)?),
        None => None,
    };
    if let Some(cs) = obj.get("custom_settings")
        && !cs.is_object()
    {
        return Err(EsError::parse(format!(
            "{} [job_details] failed to parse field [custom_settings]",
            location_of(raw, "custom_settings")
        )));
    }
    let mut cfg = obj.clone();
    if let Some(g) = groups {
        cfg.insert("groups".into(), g);
    }
    cfg.remove("job_id");
    cfg.remove("job_type");
    cfg.remove("datafeed_config");
    Ok(cfg)
}

/// A minimal valid job body (one `count` detector) for seeds and tests.
pub fn default_job_body() -> Value {
    json!({
        "analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]},
        "data_description": {"time_field": "timestamp"}
    })
}

impl State {
    pub fn new(version: Version, node_id: String) -> Self {
        State {
            version,
            node_name: format!("es-ml-sim-{}", &node_id[..6.min(node_id.len())]),
            node_id,
            next_task: 1,
            jobs: Jobs::default(),
            datafeeds: Datafeeds::default(),
            running: HashMap::new(),
            stored: HashMap::new(),
            stored_order: VecDeque::new(),
            upgrade_mode: false,
            resets_started: HashMap::new(),
            resets_completed: HashMap::new(),
            last_reset_done: HashMap::new(),
            resets_running_peak: 0,
            epoch: 0,
            master_available: true,
        }
    }

    /// Full scans of the jobs or datafeeds so far: per-id calls make none.
    pub fn full_scans(&self) -> u64 {
        crate::catalog::full_scans(&self.jobs, &self.datafeeds)
    }

    pub fn task_id(&self, n: u64) -> String {
        format!("{}:{}", self.node_id, n)
    }

    // ---------------------------------------------------------------- jobs

    pub fn put_job(
        &mut self,
        id: &str,
        body: &Value,
        raw: &str,
        now: Now,
    ) -> Result<Value, EsError> {
        let cfg = parse_job_body(id, body, raw)?;
        if self.jobs.contains_key(id) {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("The job cannot be created with the Id '{id}'. The Id is already used."),
            ));
        }
        if self.jobs.group_exists(id) {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!(
                    "job and group names must be unique but job [{id}] and group [{id}] have the same name"
                ),
            ));
        }
        self.jobs.insert(Job::new(id, cfg, now.wall_ms));
        Ok(self.job_json(id, false).unwrap_or(Value::Null))
    }

    /// Expand an id expression (ids, comma lists, wildcards, groups, `_all`, `*`, empty).
    pub fn expand_jobs(&self, expr: &str, allow_no_match: bool) -> Result<Vec<String>, EsError> {
        let mut out: Vec<String> = Vec::new();
        let parts: Vec<&str> = expr
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() || parts.contains(&"_all") {
            let all: Vec<String> = self.jobs.keys().cloned().collect();
            return Ok(all);
        }
        for p in &parts {
            let matched: Vec<String> = if p.contains('*') {
                self.jobs
                    .values()
                    .filter(|j| {
                        simple_match(p, &j.id) || j.groups().iter().any(|g| simple_match(p, g))
                    })
                    .map(|j| j.id.clone())
                    .collect()
            } else {
                // The job of that id and the jobs of that group, by index.
                let own = self.jobs.get(p).map(|j| j.id.clone());
                own.into_iter()
                    .chain(self.jobs.in_group(p).cloned())
                    .collect()
            };
            if matched.is_empty() && (!p.contains('*') || !allow_no_match) {
                return Err(EsError::missing_job(p));
            }
            out.extend(matched);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub fn job_json(&self, id: &str, exclude_generated: bool) -> Option<Value> {
        let j = self.jobs.get(id)?;
        let mut m = Map::new();
        m.insert("job_id".into(), json!(j.id));
        m.insert("job_type".into(), json!("anomaly_detector"));
        if !exclude_generated {
            m.insert("job_version".into(), json!(self.version.to_string()));
            m.insert("create_time".into(), json!(j.create_time));
            if let Some(t) = j.finished_time {
                m.insert("finished_time".into(), json!(t));
            }
            if let Some(s) = &j.model_snapshot_id {
                m.insert("model_snapshot_id".into(), json!(s));
            }
        }
        for (k, v) in j.config() {
            m.insert(k.clone(), v.clone());
        }
        m.entry("groups").or_insert(json!([]));
        if let Some(ac) = m.get_mut("analysis_config").and_then(Value::as_object_mut) {
            ac.entry("bucket_span").or_insert(json!("5m"));
            ac.entry("influencers").or_insert(json!([]));
            if let Some(ds) = ac.get_mut("detectors").and_then(Value::as_array_mut) {
                for (i, d) in ds.iter_mut().enumerate() {
                    if let Some(d) = d.as_object_mut() {
                        let desc = d
                            .get("function")
                            .and_then(Value::as_str)
                            .unwrap_or("count")
                            .to_string();
                        d.entry("detector_description").or_insert(json!(desc));
                        d.entry("detector_index").or_insert(json!(i));
                    }
                }
            }
        }
        m.entry("analysis_limits")
            .or_insert(json!({"model_memory_limit": "1024mb", "categorization_examples_limit": 4}));
        if let Some(dd) = m.get_mut("data_description").and_then(Value::as_object_mut) {
            dd.entry("time_field").or_insert(json!("time"));
            dd.entry("time_format").or_insert(json!("epoch_ms"));
        }
        m.entry("model_snapshot_retention_days")
            .or_insert(json!(10));
        m.entry("daily_model_snapshot_retention_after_days")
            .or_insert(json!(1));
        m.entry("results_index_name").or_insert(json!("shared"));
        m.entry("allow_lazy_open").or_insert(json!(false));
        if self.version.has_reset()
            && let Some(b) = j.blocked()
        {
            let mut bm = Map::new();
            bm.insert("reason".into(), json!(b.reason));
            if let Some(t) = &b.task_id {
                bm.insert("task_id".into(), json!(t));
            }
            m.insert("blocked".into(), Value::Object(bm));
            if b.reason == "delete" {
                m.insert("deleting".into(), json!(true));
            }
        }
        if self.version.job_embeds_datafeed()
            && let Some(df) = self.datafeeds.for_job(&j.id)
        {
            m.insert("datafeed_config".into(), self.datafeed_json(df));
        }
        Some(Value::Object(m))
    }

    pub fn job_stats_json(&self, id: &str, now: Now) -> Option<Value> {
        let j = self.jobs.get(id)?;
        let c = &j.counts;
        let mut dc = json!({
            "job_id": j.id,
            "processed_record_count": c.processed_record_count,
            "processed_field_count": c.processed_record_count,
            "input_bytes": c.processed_record_count * 64,
            "input_field_count": c.processed_record_count,
            "invalid_date_count": 0,
            "missing_field_count": 0,
            "out_of_order_timestamp_count": 0,
            "empty_bucket_count": 0,
            "sparse_bucket_count": 0,
            "bucket_count": c.bucket_count,
            "input_record_count": c.processed_record_count,
        });
        if let Some(o) = dc.as_object_mut() {
            if let Some(t) = c.earliest_record_timestamp {
                o.insert("earliest_record_timestamp".into(), json!(t));
            }
            if let Some(t) = c.latest_record_timestamp {
                o.insert("latest_record_timestamp".into(), json!(t));
                o.insert("log_time".into(), json!(t));
            }
            if let Some(t) = c.last_data_time {
                o.insert("last_data_time".into(), json!(t));
            }
        }
        let mut ms = json!({
            "job_id": j.id,
            "result_type": "model_size_stats",
            "model_bytes": j.model_bytes,
            "peak_model_bytes": j.model_bytes,
            "total_by_field_count": if j.model_bytes > 0 { 3 } else { 0 },
            "total_over_field_count": 0,
            "total_partition_field_count": if j.model_bytes > 0 { 2 } else { 0 },
            "bucket_allocation_failures_count": 0,
            "memory_status": j.memory_status.as_deref().unwrap_or("ok"),
            "categorized_doc_count": 0,
            "total_category_count": 0,
            "frequent_category_count": 0,
            "rare_category_count": 0,
            "dead_category_count": 0,
            "failed_category_count": 0,
            "categorization_status": "ok",
            "log_time": now.wall_ms,
        });
        if let (Some(o), Some(t)) = (ms.as_object_mut(), c.latest_record_timestamp) {
            o.insert("timestamp".into(), json!(t));
        }
        let mut s = json!({
            "job_id": j.id,
            "data_counts": dc,
            "model_size_stats": ms,
            "forecasts_stats": {"total": 0, "forecasted_jobs": 0},
            "state": j.state.as_str(),
            "timing_stats": {"job_id": j.id, "bucket_count": c.bucket_count, "total_bucket_processing_time_ms": 0.0},
        });
        if matches!(
            j.state,
            JobState::Opened | JobState::Opening | JobState::Closing | JobState::Failed
        ) && let Some(o) = s.as_object_mut()
        {
            o.insert("node".into(), self.node_json(false));
            o.insert("assignment_explanation".into(), json!(""));
            if let Some(t) = j.open_time_ms {
                o.insert(
                    "open_time".into(),
                    json!(format!("{}s", (now.wall_ms - t).max(0) / 1000)),
                );
            }
        }
        Some(s)
    }

    pub fn node_json(&self, with_roles: bool) -> Value {
        let mut v = json!({
            "id": self.node_id,
            "name": self.node_name,
            "ephemeral_id": format!("{}-e", &self.node_id[..self.node_id.len().min(20)]),
            "transport_address": "127.0.0.1:9300",
            "attributes": {"ml.machine_memory": "25769803776", "ml.max_jvm_size": "1073741824"},
        });
        if with_roles && let Some(o) = v.as_object_mut() {
            o.insert(
                "roles".into(),
                json!([
                    "data",
                    "ingest",
                    "master",
                    "ml",
                    "remote_cluster_client",
                    "transform"
                ]),
            );
        }
        v
    }

    pub fn update_job(&mut self, id: &str, body: &Value, raw: &str) -> Result<Value, EsError> {
        if self.upgrade_mode {
            return Err(EsError::upgrade_mode("cluster:admin/xpack/ml/job/update"));
        }
        let obj = object_body(body, UPDATE_FIELDS, "job_update", raw)?;
        let mut obj = obj.clone();
        let groups = obj
            .get("groups")
            .map(|g| validate_groups(g, raw))
            .transpose()?;
        let names = groups.iter().filter_map(Value::as_array).flatten();
        if let Some(gname) = names
            .filter_map(Value::as_str)
            .find(|g| self.jobs.contains_key(g))
        {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!(
                    "job and group names must be unique but job [{gname}] and group [{gname}] have the same name"
                ),
            ));
        }
        if let Some(g) = groups {
            obj.insert("groups".into(), g);
        }
        if let Some(cs) = obj.get("custom_settings")
            && !cs.is_object()
        {
            return Err(EsError::parse(format!(
                "{} [job_update] failed to parse field [custom_settings]",
                location_of(raw, "custom_settings")
            )));
        }
        let Some(job) = self.jobs.get_mut(id) else {
            return Err(EsError::missing_job(id));
        };
        let fields: Vec<&str> = obj.keys().map(String::as_str).collect();
        // Elasticsearch audits every update with the fields it names (Kibana's job messages).
        job.messages
            .push(format!("Job updated: [{}]", fields.join(", ")));
        for (k, v) in obj {
            if k == "detectors" || k == "per_partition_categorization" {
                continue;
            }
            self.jobs.set_config(id, &k, v);
        }
        Ok(self.job_json(id, false).unwrap_or(Value::Null))
    }

    /// Opens the job: `opening` until `finish_open` when `wait`, else `opened` at once.
    pub fn open_job(&mut self, id: &str, now: Now, wait: bool) -> Result<(), EsError> {
        if self.upgrade_mode {
            return Err(EsError::upgrade_mode("cluster:admin/xpack/ml/job/open"));
        }
        let Some(job) = self.jobs.get_mut(id) else {
            return Err(EsError::missing_job(id));
        };
        if let Some(b) = job.blocked() {
            return Err(EsError::conflict(format!(
                "Cannot open job [{id}] because it is executing [{}]",
                b.reason
            )));
        }
        if job.state != JobState::Closed {
            return Err(EsError::conflict(format!(
                "Cannot open job [{id}] because it has already been opened"
            )));
        }
        job.state = if wait {
            JobState::Opening
        } else {
            JobState::Opened
        };
        job.open_time_ms = Some(now.wall_ms);
        Ok(())
    }

    /// The job's process is up: `opening` becomes `opened` (a close in between wins).
    pub fn finish_open(&mut self, id: &str) {
        if let Some(job) = self.jobs.get_mut(id)
            && job.state == JobState::Opening
        {
            job.state = JobState::Opened;
        }
    }

    /// Finish closing: persist a model snapshot if data was seen, stamp `finished_time`.
    pub fn finish_close(&mut self, id: &str, now: Now) {
        if let Some(job) = self.jobs.get_mut(id) {
            if job.state == JobState::Closed {
                return;
            }
            let was_running = matches!(
                job.state,
                JobState::Opened | JobState::Closing | JobState::Opening
            );
            job.state = JobState::Closed;
            job.open_time_ms = None;
            if was_running {
                job.finished_time = Some(now.wall_ms);
                if job.counts.processed_record_count > 0 {
                    job.model_snapshot_id = Some((now.wall_ms / 1000).to_string());
                }
            }
        }
        if let Some(df) = self.datafeeds.for_job_mut(id) {
            df.state = DatafeedState::Stopped;
        }
    }

    pub fn fail_job(&mut self, id: &str) {
        if let Some(job) = self.jobs.get_mut(id) {
            job.state = JobState::Failed;
        }
    }

    /// Reset step 9: clear results, snapshot id, finished time, block; drop annotations.
    pub fn apply_reset(&mut self, id: &str, delete_user_annotations: bool) {
        if self.jobs.set_blocked(id, None)
            && let Some(job) = self.jobs.get_mut(id)
        {
            *self.resets_completed.entry(id.to_string()).or_insert(0) += 1;
            self.last_reset_done
                .insert(id.to_string(), std::time::Instant::now());
            job.model_snapshot_id = None;
            job.finished_time = None;
            job.counts = DataCounts::default();
            job.model_bytes = 0;
            job.memory_status = None;
            job.auto_annotations = 0;
            if delete_user_annotations {
                job.user_annotations = 0;
            }
        }
    }

    /// Ingest one batch for every started datafeed whose job is open.
    pub fn ingest(&mut self, datafeed: &str, now: Now) -> bool {
        let Some(df) = self.datafeeds.get(datafeed) else {
            return false;
        };
        if df.state != DatafeedState::Started {
            return false;
        }
        let job_id = df.job_id().to_string();
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return false;
        };
        if job.state != JobState::Opened {
            return false;
        }
        let c = &mut job.counts;
        c.processed_record_count += RECORDS_PER_TICK;
        c.bucket_count += 1;
        c.earliest_record_timestamp.get_or_insert(now.wall_ms);
        c.latest_record_timestamp = Some(now.wall_ms);
        c.last_data_time = Some(now.wall_ms);
        job.model_bytes = 50_000 + c.bucket_count * 1_000;
        true
    }

    // ----------------------------------------------------------- datafeeds

    pub fn put_datafeed(&mut self, id: &str, body: &Value, raw: &str) -> Result<Value, EsError> {
        let obj = object_body(body, DATAFEED_FIELDS, "datafeed_config", raw)?;
        if let Some(body_id) = obj.get("datafeed_id").and_then(Value::as_str)
            && body_id != id
        {
            return Err(EsError::illegal_argument(format!(
                "Inconsistent datafeed_id; '{body_id}' specified in the body differs from '{id}' specified as a URL argument"
            )));
        }
        validate_id("datafeed_id", id)?;
        let Some(job_id) = obj.get("job_id").and_then(Value::as_str) else {
            return Err(EsError::illegal_argument("[job_id] must not be null."));
        };
        let indices = obj.get("indices").or_else(|| obj.get("indexes"));
        if indices
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
        {
            return Err(EsError::illegal_argument("[indices] must not be empty"));
        }
        if self.datafeeds.contains_key(id) {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("A datafeed with id [{id}] already exists"),
            ));
        }
        if !self.jobs.contains_key(job_id) {
            return Err(EsError::missing_job(job_id));
        }
        if let Some(other) = self.datafeeds.for_job(job_id) {
            return Err(EsError::conflict(format!(
                "A datafeed [{}] already exists for job [{job_id}]",
                other.id
            )));
        }
        let mut cfg = obj.clone();
        cfg.remove("datafeed_id");
        cfg.remove("job_id");
        if let Some(ix) = cfg.remove("indexes") {
            cfg.insert("indices".into(), ix);
        }
        self.datafeeds.insert(Datafeed::new(id, job_id, cfg));
        let df = self.datafeeds.get(id).map(|df| self.datafeed_json(df));
        Ok(df.unwrap_or(Value::Null))
    }

    pub fn datafeed_json(&self, df: &Datafeed) -> Value {
        let mut m = Map::new();
        m.insert("datafeed_id".into(), json!(df.id));
        m.insert("job_id".into(), json!(df.job_id()));
        m.insert("query_delay".into(), json!("90000ms"));
        m.insert("query".into(), json!({"match_all": {}}));
        m.insert("scroll_size".into(), json!(1000));
        m.insert("chunking_config".into(), json!({"mode": "auto"}));
        m.insert("delayed_data_check_config".into(), json!({"enabled": true}));
        m.insert("indices_options".into(), json!({"expand_wildcards": ["open"], "ignore_unavailable": false, "allow_no_indices": true, "ignore_throttled": true}));
        for (k, v) in &df.config {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    pub fn expand_datafeeds(
        &self,
        expr: &str,
        allow_no_match: bool,
    ) -> Result<Vec<String>, EsError> {
        let parts: Vec<&str> = expr
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() || parts.contains(&"_all") {
            return Ok(self.datafeeds.keys().cloned().collect());
        }
        let mut out = Vec::new();
        for p in parts {
            let matched: Vec<String> = if p.contains('*') {
                self.datafeeds
                    .keys()
                    .filter(|id| simple_match(p, id))
                    .cloned()
                    .collect()
            } else {
                self.datafeeds
                    .get(p)
                    .map(|d| d.id.clone())
                    .into_iter()
                    .collect()
            };
            if matched.is_empty() && (!p.contains('*') || !allow_no_match) {
                return Err(EsError::missing_datafeed(p));
            }
            out.extend(matched);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Starts the datafeed: `starting` when `wait` (then `start_datafeed` again finishes it),
    /// else `started` at once. Returns the run number (0 while starting).
    pub fn start_datafeed(&mut self, id: &str, wait: bool) -> Result<u64, EsError> {
        let Some(df) = self.datafeeds.get(id) else {
            return Err(EsError::missing_datafeed(id));
        };
        let job_state = self.jobs.get(df.job_id()).map(|j| j.state);
        match job_state {
            None => return Err(EsError::missing_job(df.job_id())),
            // Elasticsearch lets a datafeed start while its job is still opening.
            Some(JobState::Opened | JobState::Opening) => {}
            Some(s) => {
                return Err(EsError::conflict(format!(
                    "cannot start datafeed [{id}] because job [{}] is {}",
                    df.job_id(),
                    s.as_str()
                )));
            }
        }
        // A start that waited out its `starting` time finishes here (`wait` false).
        if df.state == DatafeedState::Started || (wait && df.state == DatafeedState::Starting) {
            return Err(EsError::conflict(format!(
                "cannot start datafeed [{id}] because it has already been started"
            )));
        }
        let Some(df) = self.datafeeds.get_mut(id) else {
            return Err(EsError::missing_datafeed(id));
        };
        if wait {
            df.state = DatafeedState::Starting;
            return Ok(0);
        }
        df.state = DatafeedState::Started;
        df.run += 1;
        Ok(df.run)
    }

    pub fn delete_datafeed(&mut self, id: &str, force: bool) -> Result<(), EsError> {
        let Some(df) = self.datafeeds.get(id) else {
            return Err(EsError::missing_datafeed(id));
        };
        if df.state.is_running() && !force {
            return Err(EsError::conflict(format!(
                "Cannot delete datafeed [{id}] while its status is started"
            )));
        }
        self.datafeeds.remove(id);
        Ok(())
    }

    // --------------------------------------------------------------- tasks

    /// Register a running task; returns its number.
    pub fn register_task(&mut self, t: NewTask, now: Now) -> u64 {
        let NewTask {
            action,
            description,
            headers,
            parent,
            store_result,
            job_id,
        } = t;
        let n = self.next_task;
        self.next_task += 1;
        let (done, _) = watch::channel(false);
        let (signal, _) = watch::channel(Signal::None);
        self.running.insert(
            n,
            RunningTask {
                info: TaskInfo {
                    number: n,
                    action: action.to_string(),
                    description,
                    start_ms: now.wall_ms,
                    start_mono_ns: now.mono_ns,
                    cancellable: true,
                    cancelled: false,
                    headers,
                    parent,
                    store_result,
                    job_id,
                },
                done,
                signal,
            },
        );
        n
    }

    pub fn task_info_json(&self, info: &TaskInfo, now: Now, stored: bool) -> Value {
        let mut m = Map::new();
        m.insert("node".into(), json!(self.node_id));
        m.insert("id".into(), json!(info.number));
        m.insert("type".into(), json!("transport"));
        m.insert("action".into(), json!(info.action));
        m.insert("description".into(), json!(info.description));
        m.insert("start_time_in_millis".into(), json!(info.start_ms));
        m.insert(
            "running_time_in_nanos".into(),
            json!(now.mono_ns.saturating_sub(info.start_mono_ns)),
        );
        m.insert("cancellable".into(), json!(info.cancellable));
        if !stored {
            m.insert("cancelled".into(), json!(info.cancelled));
        }
        if let Some(p) = &info.parent {
            m.insert("parent_task_id".into(), json!(p));
        }
        m.insert("headers".into(), json!(info.headers));
        Value::Object(m)
    }

    /// Unregister a task; store its outcome when it asked to be stored and `store` allows.
    pub fn finish_task(&mut self, n: u64, outcome: Option<&Outcome>, now: Now) {
        let Some(rt) = self.running.remove(&n) else {
            return;
        };
        if rt.info.store_result
            && let Some(outcome) = outcome
        {
            let mut doc =
                json!({"completed": true, "task": self.task_info_json(&rt.info, now, true)});
            if let Some(o) = doc.as_object_mut() {
                match outcome {
                    Ok(v) => o.insert("response".into(), v.clone()),
                    Err(e) => o.insert("error".into(), e.inner()),
                };
            }
            let id = self.task_id(n);
            if self.stored.insert(id.clone(), doc).is_none() {
                self.stored_order.push_back(id);
            }
            while self.stored_order.len() > STORED_CAPACITY {
                if let Some(old) = self.stored_order.pop_front() {
                    self.stored.remove(&old);
                }
            }
        }
        let _ = rt.done.send(true);
    }

    /// Signal a task and its children to cancel. Returns the task's info (with `cancelled`).
    pub fn cancel_task(&mut self, n: u64) -> Option<TaskInfo> {
        let full = self.task_id(n);
        let rt = self.running.get_mut(&n)?;
        rt.info.cancelled = true;
        let _ = rt.signal.send(Signal::Cancel);
        let info = rt.info.clone();
        for child in self.running.values_mut() {
            if child.info.parent.as_deref() == Some(full.as_str()) {
                child.info.cancelled = true;
                let _ = child.signal.send(Signal::Cancel);
            }
        }
        Some(info)
    }

    /// Node restart: every running task vanishes, the counter starts again at 1.
    pub fn restart(&mut self) {
        for (_, rt) in self.running.drain() {
            let _ = rt.signal.send(Signal::Kill);
            let _ = rt.done.send(true);
        }
        self.next_task = 1;
        self.epoch += 1;
    }

    // --------------------------------------------------------------- reset

    /// Reset steps 1-5: what to do before the work begins.
    pub fn reset_check(&self, job_id: &str) -> Result<ResetCheck, EsError> {
        if self.upgrade_mode {
            return Err(EsError::conflict(
                "cannot reset job while indices are being upgraded",
            ));
        }
        let Some(job) = self.jobs.get(job_id) else {
            return Err(EsError::missing_job(job_id));
        };
        // The raw persistent-task state: anything but closed (failed included) is refused.
        if job.state != JobState::Closed {
            return Err(EsError::conflict("Can only reset a job when it is closed."));
        }
        match job.blocked() {
            None => Ok(ResetCheck::Proceed),
            Some(b) if b.reason == "reset" => Ok(ResetCheck::WaitFor(b.task_id.clone())),
            Some(b) => Err(EsError::conflict(format!(
                "cannot reset job while it is blocked with [{}]",
                b.reason
            ))),
        }
    }

    /// Reset step 6: start the work under a master-side child task.
    pub fn begin_reset(
        &mut self,
        job_id: &str,
        parent: Option<String>,
        now: Now,
    ) -> Result<u64, EsError> {
        let m = self.register_task(NewTask::reset(job_id, parent, false), now);
        let task_id = self.task_id(m);
        let block = Blocked {
            reason: "reset".into(),
            task_id: Some(task_id),
        };
        if !self.jobs.set_blocked(job_id, Some(block)) {
            self.finish_task(m, None, now);
            return Err(EsError::missing_job(job_id));
        }
        *self.resets_started.entry(job_id.to_string()).or_insert(0) += 1;
        let running = self.jobs.resetting().len();
        self.resets_running_peak = self.resets_running_peak.max(running);
        Ok(m)
    }

    /// Look up a task id of this node; `None` when it is malformed or of another node.
    pub fn local_number(&self, task_id: &str) -> Option<u64> {
        let (node, n) = task_id.split_once(':')?;
        if node != self.node_id {
            return None;
        }
        n.parse().ok()
    }
}

/// What reset does after its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetCheck {
    Proceed,
    /// Another reset holds the block: wait for that (master-side) task.
    WaitFor(Option<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st() -> State {
        let mut s = State::new(Version::new(8, 15, 0), "abcdefghijklmnopqrstuv".into());
        for id in ["a", "b", "web-1"] {
            let mut body = default_job_body();
            if id == "web-1" {
                body["groups"] = json!(["web"]);
            }
            s.put_job(id, &body, "", Now::default()).unwrap();
        }
        s
    }

    #[test]
    fn ids_validate() {
        assert!(valid_id("a-b_c.1"));
        assert!(!valid_id("A"));
        assert!(!valid_id("-a"));
        assert!(!valid_id("a*"));
        assert!(validate_id("job_id", &"a".repeat(65)).is_err());
    }

    #[test]
    fn expansion_rules() {
        let s = st();
        assert_eq!(s.expand_jobs("_all", true).unwrap().len(), 3);
        assert_eq!(s.expand_jobs("", true).unwrap().len(), 3);
        assert_eq!(s.expand_jobs("web", true).unwrap(), vec!["web-1"]);
        assert_eq!(s.expand_jobs("a,b", true).unwrap(), vec!["a", "b"]);
        assert_eq!(s.expand_jobs("w*", true).unwrap(), vec!["web-1"]);
        assert!(s.expand_jobs("z*", true).unwrap().is_empty());
        assert_eq!(s.expand_jobs("z*", false).unwrap_err().status, 404);
        assert_eq!(
            s.expand_jobs("a,zz", true).unwrap_err().reason,
            "No known job with id 'zz'"
        );
    }

    #[test]
    fn put_job_errors() {
        let mut s = st();
        let e = s
            .put_job("a", &default_job_body(), "", Now::default())
            .unwrap_err();
        assert_eq!(e.kind, "resource_already_exists_exception");
        let e = s
            .put_job("Bad", &default_job_body(), "", Now::default())
            .unwrap_err();
        assert_eq!(e.kind, "illegal_argument_exception");
        let e = s
            .put_job("c", &json!({"data_description": {}}), "", Now::default())
            .unwrap_err();
        assert_eq!(e.reason, "An analysis_config must be set");
        let raw = r#"{"foo": 1}"#;
        let e = s
            .put_job("c", &json!({"foo": 1}), raw, Now::default())
            .unwrap_err();
        assert_eq!(e.reason, "[1:2] [job_details] unknown field [foo]");
    }

    #[test]
    fn single_group_string_is_an_array() {
        let mut s = st();
        let mut body = default_job_body();
        body["groups"] = json!("solo");
        let v = s.put_job("c", &body, "", Now::default()).unwrap();
        assert_eq!(v["groups"], json!(["solo"]));
        let v = s.update_job("c", &json!({"groups": "other"}), "").unwrap();
        assert_eq!(v["groups"], json!(["other"]));
        assert!(s.expand_jobs("solo", true).is_err());
        assert_eq!(s.expand_jobs("other", true).unwrap(), vec!["c"]);
    }

    #[test]
    fn reset_checks_follow_table() {
        let mut s = st();
        assert_eq!(s.reset_check("a").unwrap(), ResetCheck::Proceed);
        assert_eq!(s.reset_check("zz").unwrap_err().status, 404);
        s.open_job("a", Now::default(), false).unwrap();
        assert_eq!(
            s.reset_check("a").unwrap_err().reason,
            "Can only reset a job when it is closed."
        );
        s.fail_job("b");
        assert_eq!(s.reset_check("b").unwrap_err().status, 409);
        s.jobs.set_blocked(
            "web-1",
            Some(Blocked {
                reason: "revert".into(),
                task_id: None,
            }),
        );
        assert_eq!(
            s.reset_check("web-1").unwrap_err().reason,
            "cannot reset job while it is blocked with [revert]"
        );
        s.upgrade_mode = true;
        assert_eq!(
            s.reset_check("zz").unwrap_err().reason,
            "cannot reset job while indices are being upgraded"
        );
    }

    #[test]
    fn begin_reset_blocks_with_master_task_and_apply_clears() {
        let mut s = st();
        let parent = s.register_task(
            crate::state::NewTask {
                action: RESET_ACTION,
                description: "job-a".into(),
                headers: BTreeMap::new(),
                parent: None,
                store_result: true,
                job_id: Some("a".into()),
            },
            Now::default(),
        );
        let m = s
            .begin_reset("a", Some(s.task_id(parent)), Now::default())
            .unwrap();
        assert_ne!(m, parent);
        let b = s.jobs.get("a").unwrap().blocked().cloned().unwrap();
        assert_eq!(b.task_id.unwrap(), s.task_id(m));
        assert_eq!(
            s.reset_check("a").unwrap(),
            ResetCheck::WaitFor(Some(s.task_id(m)))
        );
        assert!(
            s.open_job("a", Now::default(), false)
                .unwrap_err()
                .reason
                .contains("executing [reset]")
        );
        s.jobs.get_mut("a").unwrap().model_snapshot_id = Some("1".into());
        s.apply_reset("a", false);
        assert!(
            s.jobs.get("a").unwrap().blocked().is_none()
                && s.jobs.get("a").unwrap().model_snapshot_id.is_none()
        );
        assert_eq!(s.resets_started["a"], 1);
    }

    #[test]
    fn stored_results_omit_cancelled_and_restart_reuses_numbers() {
        let mut s = st();
        let n = s.register_task(
            crate::state::NewTask {
                action: RESET_ACTION,
                description: "job-a".into(),
                headers: BTreeMap::new(),
                parent: None,
                store_result: true,
                job_id: None,
            },
            Now::default(),
        );
        s.finish_task(n, Some(&Ok(json!({"acknowledged": true}))), Now::default());
        let doc = &s.stored[&s.task_id(n)];
        assert!(doc["task"].get("cancelled").is_none());
        assert_eq!(doc["response"]["acknowledged"], true);
        let n2 = s.register_task(
            crate::state::NewTask {
                action: RESET_ACTION,
                description: "job-b".into(),
                headers: BTreeMap::new(),
                parent: None,
                store_result: true,
                job_id: None,
            },
            Now::default(),
        );
        s.restart();
        assert!(s.running.is_empty());
        let n3 = s.register_task(
            crate::state::NewTask {
                action: RESET_ACTION,
                description: "job-b".into(),
                headers: BTreeMap::new(),
                parent: None,
                store_result: true,
                job_id: None,
            },
            Now::default(),
        );
        assert_eq!(n3, 1);
        assert_eq!(n2, 2);
    }

    #[test]
    fn ingest_needs_open_job_and_started_feed() {
        let mut s = st();
        s.put_datafeed("df", &json!({"job_id": "a", "indices": ["x"]}), "")
            .unwrap();
        assert!(s.start_datafeed("df", false).is_err());
        s.open_job("a", Now::default(), false).unwrap();
        s.start_datafeed("df", false).unwrap();
        assert!(s.ingest(
            "df",
            Now {
                wall_ms: 5,
                mono_ns: 0
            }
        ));
        assert_eq!(
            s.jobs.get("a").unwrap().counts.processed_record_count,
            RECORDS_PER_TICK
        );
        s.finish_close(
            "a",
            Now {
                wall_ms: 5000,
                mono_ns: 0,
            },
        );
        assert_eq!(
            s.jobs.get("a").unwrap().model_snapshot_id.as_deref(),
            Some("5")
        );
        assert_eq!(s.datafeeds.get("df").unwrap().state, DatafeedState::Stopped);
    }
}
