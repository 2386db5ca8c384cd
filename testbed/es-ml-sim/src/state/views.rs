//! What GET answers: a job's config and stats, the node, a datafeed, a task. No I/O.

use serde_json::{Map, Value, json};

use super::*;

impl State {
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
}

impl State {
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
}

impl State {
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
}
