//! Jobs: creating, updating, opening, closing, failing, resetting and feeding them. No I/O.

use serde_json::Value;

use super::bodies::{UPDATE_FIELDS, validate_groups};
use super::*;

impl State {
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
}

impl State {
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
}
