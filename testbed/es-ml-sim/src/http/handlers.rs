//! The longer handlers: info, ML info, reset, job delete, task listing and cancelling. Calls
//! into the engine; no network I/O of its own.

use super::answers::ok;
use super::*;

impl Req<'_> {
    pub(super) fn info(&self) -> Value {
        let sh = self.shared;
        let st = sh.state();
        let v = sh.version;
        json!({
            "name": st.node_name,
            "cluster_name": "es-ml-sim",
            "cluster_uuid": sh.cluster_uuid,
            "version": {
                "number": v.to_string(),
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": "2024-08-05T10:05:34.233336849Z",
                "build_snapshot": false,
                "lucene_version": v.lucene(),
                "minimum_wire_compatibility_version": if v.major >= 9 { "8.18.0" } else if v.major == 8 { "7.17.0" } else { "6.8.0" },
                "minimum_index_compatibility_version": if v.major >= 9 { "8.0.0" } else if v.major == 8 { "7.0.0" } else { "6.0.0-beta1" },
            },
            "tagline": "You Know, for Search",
        })
    }

    /// `GET _ml/info`: the ML defaults, upgrade mode and the native code's version, which is
    /// the cluster's version (what a client with only ML privileges can read).
    pub(super) fn ml_info(&self) -> Value {
        let sh = self.shared;
        let st = sh.state();
        json!({
            "defaults": {
                "anomaly_detectors": {
                    "model_memory_limit": "1gb",
                    "categorization_examples_limit": 4,
                    "model_snapshot_retention_days": 10,
                    "daily_model_snapshot_retention_after_days": 1
                },
                "datafeeds": {"scroll_size": 1000}
            },
            "upgrade_mode": st.upgrade_mode,
            "native_code": {
                "version": sh.version.to_string(),
                "build_hash": "0000000000000"
            },
            "limits": {"effective_max_model_memory_limit": "8gb", "total_ml_memory": "8gb"}
        })
    }

    /// Reset takes one concrete id. Ids with wildcards, commas or invalid characters are looked
    /// up as given and so answer 404 "No known job" (unconfirmed: the reference leaves 400 or
    /// 404 open; the transport action loads the config by id, which makes 404 likelier).
    pub(super) async fn reset(&self, id: &str) -> Result<Reply, EsError> {
        let sh = self.shared;
        let p = &self.ctx.params;
        let wait = p.bool("wait_for_completion", true)?;
        let dua = if sh.version.has_delete_user_annotations() {
            p.bool("delete_user_annotations", false)?
        } else {
            false
        };
        let timeout = p
            .time("timeout")?
            .map(|t| t.0)
            .unwrap_or(Duration::from_secs(30));
        let master_timeout = p
            .time("master_timeout")?
            .map(|t| t.0)
            .unwrap_or(Duration::from_secs(30));
        let denied = self.authorize(Some(crate::state::RESET_ACTION)).err();
        let mut headers = BTreeMap::new();
        if let Some(o) = &self.ctx.opaque_id {
            headers.insert("X-Opaque-Id".to_string(), o.clone());
        }
        if wait {
            // Synchronous: a missing privilege fails the call itself.
            if let Some(e) = denied {
                return Err(e);
            }
            let opts = ResetOptions {
                job_id: id.to_string(),
                delete_user_annotations: dua,
                timeout,
                headers,
                denied: None,
                store_result: false,
                master_timeout,
            };
            let (_, handle) = sh.start_reset(opts);
            match handle.await {
                Ok(Some(Ok(v))) => ok(v),
                Ok(Some(Err(e))) => Err(e),
                _ => Ok(Reply::Drop),
            }
        } else {
            let opts = ResetOptions {
                job_id: id.to_string(),
                delete_user_annotations: dua,
                timeout,
                headers,
                denied,
                store_result: true,
                master_timeout,
            };
            let (task, _) = sh.start_reset(opts);
            ok(json!({"task": task}))
        }
    }

    pub(super) fn delete_job(&self, id: &str) -> Result<Reply, EsError> {
        let sh = self.shared;
        let p = &self.ctx.params;
        let force = p.bool("force", false)?;
        let wait = p.bool("wait_for_completion", true)?;
        if sh.version.has_delete_user_annotations() {
            p.bool("delete_user_annotations", false)?;
        }
        let now = sh.now();
        let task = {
            let mut st = sh.state();
            let Some(job) = st.jobs.get(id) else {
                return Err(EsError::missing_job(id));
            };
            let job_state = job.state;
            let blocked = job.blocked().cloned();
            let feed = st.datafeeds.for_job(id).map(|d| d.id.clone());
            if !force {
                if let Some(df) = &feed {
                    return Err(EsError::conflict(format!(
                        "Cannot delete job [{id}] because datafeed [{df}] refers to it"
                    )));
                }
                if job_state != JobState::Closed {
                    return Err(EsError::conflict(format!(
                        "Cannot delete job [{id}] because the job is {}",
                        job_state.as_str()
                    )));
                }
            }
            // Delete cancels a running reset task first (it ignores a missing one).
            if let Some(b) = blocked
                && b.reason == "reset"
                && let Some(n) = b.task_id.as_deref().and_then(|t| st.local_number(t))
                && st
                    .running
                    .get(&n)
                    .is_some_and(|t| t.info.job_id.as_deref() == Some(id))
            {
                st.cancel_task(n);
            }
            if let Some(df) = feed {
                st.datafeeds.remove(&df);
            }
            st.jobs.remove(id);
            if wait {
                None
            } else {
                let n = st.register_task(
                    crate::state::NewTask {
                        action: crate::state::DELETE_ACTION,
                        description: format!("delete-job-{id}"),
                        headers: BTreeMap::new(),
                        parent: None,
                        store_result: true,
                        job_id: Some(id.to_string()),
                    },
                    now,
                );
                st.finish_task(n, Some(&Ok(json!({"acknowledged": true}))), now);
                Some(st.task_id(n))
            }
        };
        sh.bump();
        match task {
            Some(t) => ok(json!({"task": t})),
            None => ok(json!({"acknowledged": true})),
        }
    }

    pub(super) fn node_entry(&self, tasks: Map<String, Value>) -> Value {
        let st = self.shared.state();
        json!({
            st.node_id.clone(): {
                "name": st.node_name,
                "transport_address": "127.0.0.1:9300",
                "host": "127.0.0.1",
                "ip": "127.0.0.1:9300",
                "roles": ["data", "ingest", "master", "ml", "remote_cluster_client", "transform"],
                "attributes": {},
                "tasks": tasks,
            }
        })
    }

    pub(super) fn cancel_task(&self, id: Option<&str>) -> Result<Reply, EsError> {
        let sh = self.shared;
        let now = sh.now();
        let Some(id) = id else {
            // Cancelling by filter only: the simulator supports `actions`.
            let pattern = self.ctx.params.get("actions").unwrap_or("*").to_string();
            let mut tasks = Map::new();
            {
                let mut st = sh.state();
                let nums: Vec<u64> = st
                    .running
                    .values()
                    .filter(|t| {
                        pattern
                            .split(',')
                            .any(|p| crate::state::simple_match(p, &t.info.action))
                    })
                    .map(|t| t.info.number)
                    .collect();
                for n in nums {
                    if let Some(info) = st.cancel_task(n) {
                        tasks.insert(st.task_id(n), st.task_info_json(&info, now, false));
                    }
                }
            }
            sh.bump();
            return ok(json!({"nodes": self.node_entry(tasks)}));
        };
        let (node, n) = parse_task_id(id)?;
        let info = {
            let mut st = sh.state();
            if node == st.node_id {
                st.cancel_task(n).map(|i| st.task_info_json(&i, now, false))
            } else {
                None
            }
        };
        sh.bump();
        match info {
            Some(i) => {
                let mut tasks = Map::new();
                tasks.insert(id.to_string(), i);
                ok(json!({"nodes": self.node_entry(tasks)}))
            }
            // Unconfirmed: a missing task is reported as a node failure in a 200 answer.
            None => ok(json!({
                "node_failures": [{
                    "type": "failed_node_exception",
                    "reason": format!("Failed node [{node}]"),
                    "node_id": node,
                    "caused_by": {"type": "resource_not_found_exception", "reason": format!("task [{id}] is missing")}
                }],
                "nodes": {}
            })),
        }
    }

    pub(super) fn list_tasks(&self) -> Result<Reply, EsError> {
        let p = &self.ctx.params;
        let detailed = p.bool("detailed", false)?;
        p.bool("wait_for_completion", false)?;
        p.time("timeout")?;
        let actions = p.get("actions").unwrap_or("*").to_string();
        let now = self.shared.now();
        let mut tasks = Map::new();
        {
            let st = self.shared.state();
            let mut running: Vec<_> = st.running.values().collect();
            running.sort_by_key(|t| t.info.number);
            for t in running {
                if !actions
                    .split(',')
                    .any(|a| crate::state::simple_match(a, &t.info.action))
                {
                    continue;
                }
                let mut v = st.task_info_json(&t.info, now, false);
                if !detailed && let Some(o) = v.as_object_mut() {
                    o.remove("description");
                }
                tasks.insert(st.task_id(t.info.number), v);
            }
        }
        ok(json!({"nodes": self.node_entry(tasks)}))
    }
}
