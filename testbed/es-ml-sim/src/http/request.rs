//! One routed request: authorization, its body, and the run of its route. Calls into the
//! engine; no network I/O of its own.

use super::answers::{add_human_running_time, json_bool, ok};
use super::*;
pub(super) struct Req<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) ctx: &'a Ctx,
    pub(super) principal: Option<&'a Principal>,
    pub(super) body: Option<Value>,
    pub(super) raw: String,
}

impl Req<'_> {
    /// The 403 when security is on and the principal lacks the action.
    pub(super) fn authorize(&self, action: Option<&str>) -> Result<(), EsError> {
        match (self.principal, &self.shared.security, action) {
            (Some(p), Some(sec), Some(a)) if !security::allowed(sec, p, a) => {
                Err(security::denied(p, a))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn body_obj(
        &self,
        parser: &str,
        allowed: &[&str],
    ) -> Result<Option<Map<String, Value>>, EsError> {
        let Some(b) = &self.body else { return Ok(None) };
        crate::state::object_body(b, allowed, parser, &self.raw).map(|o| Some(o.clone()))
    }

    pub(super) async fn run(&self, r: &Route) -> Result<Reply, EsError> {
        let sh = self.shared;
        let p = &self.ctx.params;
        if !matches!(r, Route::JobReset(_)) {
            self.authorize(r.action())?;
        }
        let allow_no_match = || -> Result<bool, EsError> {
            match p.get("allow_no_match") {
                Some(_) => p.bool("allow_no_match", true),
                None => p.bool("allow_no_jobs", true),
            }
        };
        match r {
            Route::Info => ok(self.info()),
            Route::MlInfo => ok(self.ml_info()),
            Route::Control => ok(Value::Null),
            Route::JobPut(id) => {
                let now = sh.now();
                let body = self.body.clone().unwrap_or(Value::Null);
                let v = sh.state().put_job(id, &body, &self.raw, now)?;
                sh.bump();
                ok(v)
            }
            Route::JobGet(expr) => {
                let exclude = p.bool("exclude_generated", false)?;
                let anm = allow_no_match()?;
                let st = sh.state();
                let ids = st.expand_jobs(expr.as_deref().unwrap_or("_all"), anm)?;
                let jobs: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| st.job_json(id, exclude))
                    .collect();
                ok(json!({"count": jobs.len(), "jobs": jobs}))
            }
            Route::JobStats(expr) => {
                let anm = allow_no_match()?;
                let now = sh.now();
                let st = sh.state();
                let ids = st.expand_jobs(expr.as_deref().unwrap_or("_all"), anm)?;
                let jobs: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| st.job_stats_json(id, now))
                    .collect();
                ok(json!({"count": jobs.len(), "jobs": jobs}))
            }
            Route::JobDelete(id) => self.delete_job(id),
            Route::JobUpdate(id) => {
                let body = self.body.clone().unwrap_or(Value::Null);
                let v = sh.state().update_job(id, &body, &self.raw)?;
                sh.bump();
                ok(v)
            }
            Route::JobOpen(id) => {
                if let Some(b) = self.body_obj("job_params", &["job_id", "timeout"])?
                    && let Some(t) = b.get("timeout").and_then(Value::as_str)
                {
                    crate::params::parse_time("timeout", t)?;
                } else {
                    p.time("timeout")?;
                }
                sh.open_job(id).await?;
                ok(json!({"opened": true, "node": sh.state().node_id.clone()}))
            }
            Route::JobClose(id) => {
                let (force, timeout, anm) = match self.body_obj(
                    "close_job_request",
                    &["job_id", "allow_no_match", "force", "timeout"],
                )? {
                    Some(b) => {
                        let force = json_bool(&b, "force", false)?;
                        let anm = json_bool(&b, "allow_no_match", true)?;
                        let t = match b.get("timeout").and_then(Value::as_str) {
                            Some(t) => {
                                Some((crate::params::parse_time("timeout", t)?, t.to_string()))
                            }
                            None => None,
                        };
                        (force, t, anm)
                    }
                    None => (
                        p.bool("force", false)?,
                        p.time("timeout")?,
                        allow_no_match()?,
                    ),
                };
                let (t, text) =
                    timeout.unwrap_or((Duration::from_secs(30 * 60), "30m".to_string()));
                let v = sh.close_jobs(id, force, t, &text, anm).await?;
                ok(v)
            }
            Route::JobReset(id) => self.reset(id).await,
            Route::DfPut(id) => {
                let body = self.body.clone().unwrap_or(Value::Null);
                let v = sh.state().put_datafeed(id, &body, &self.raw)?;
                sh.bump();
                ok(v)
            }
            Route::DfGet(expr) => {
                let anm = p.bool("allow_no_match", true)?;
                let st = sh.state();
                let ids = st.expand_datafeeds(expr.as_deref().unwrap_or("_all"), anm)?;
                let dfs: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| st.datafeeds.get(id))
                    .map(|d| st.datafeed_json(d))
                    .collect();
                ok(json!({"count": dfs.len(), "datafeeds": dfs}))
            }
            Route::DfStats(expr) => {
                let anm = p.bool("allow_no_match", true)?;
                let st = sh.state();
                let ids = st.expand_datafeeds(expr.as_deref().unwrap_or("_all"), anm)?;
                let dfs: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| st.datafeeds.get(id))
                    .map(|d| {
                        let buckets = st.jobs.get(d.job_id()).map(|j| j.counts.bucket_count).unwrap_or(0);
                        let mut v = json!({
                            "datafeed_id": d.id,
                            "state": d.state.as_str(),
                            "timing_stats": {"job_id": d.job_id(), "search_count": buckets, "bucket_count": buckets, "total_search_time_ms": 0.0},
                        });
                        if d.state == DatafeedState::Started
                            && let Some(o) = v.as_object_mut()
                        {
                            o.insert("node".into(), st.node_json(false));
                            o.insert("assignment_explanation".into(), json!(""));
                            o.insert("running_state".into(), json!({"real_time_configured": true, "real_time_running": true}));
                        }
                        v
                    })
                    .collect();
                ok(json!({"count": dfs.len(), "datafeeds": dfs}))
            }
            Route::DfDelete(id) => {
                let force = p.bool("force", false)?;
                sh.state().delete_datafeed(id, force)?;
                sh.bump();
                ok(json!({"acknowledged": true}))
            }
            Route::DfStart(id) => {
                let end = match self.body_obj(
                    "datafeed_params",
                    &[
                        "datafeed_id",
                        "start",
                        "end",
                        "timeout",
                        "job_id",
                        "indices",
                    ],
                )? {
                    Some(b) => b.get("end").filter(|v| !v.is_null()).is_some(),
                    None => {
                        p.time("timeout")?;
                        p.get("end").is_some()
                    }
                };
                sh.start_datafeed_waiting(id, end).await?;
                ok(json!({"started": true, "node": sh.state().node_id.clone()}))
            }
            Route::DfStop(expr) => {
                let (force, anm) = match self.body_obj(
                    "stop_datafeed_request",
                    &[
                        "datafeed_id",
                        "allow_no_match",
                        "force",
                        "timeout",
                        "close_job",
                    ],
                )? {
                    Some(b) => (
                        json_bool(&b, "force", false)?,
                        json_bool(&b, "allow_no_match", true)?,
                    ),
                    None => {
                        p.time("timeout")?;
                        (p.bool("force", false)?, p.bool("allow_no_match", true)?)
                    }
                };
                {
                    let mut st = sh.state();
                    let ids = st.expand_datafeeds(expr, anm)?;
                    for id in &ids {
                        if let Some(d) = st.datafeeds.get(id)
                            && d.unstoppable
                            && !force
                            && d.state == DatafeedState::Started
                        {
                            return Err(EsError::conflict(format!("Cannot stop datafeed [{id}]")));
                        }
                    }
                    for id in ids {
                        if let Some(d) = st.datafeeds.get_mut(&id) {
                            d.state = DatafeedState::Stopped;
                        }
                    }
                }
                sh.bump();
                ok(json!({"stopped": true}))
            }
            Route::TaskGet(id) => {
                let wait = p.bool("wait_for_completion", false)?;
                let timeout = p.time("timeout")?.map(|t| t.0);
                match sh.get_task(id, wait, timeout).await {
                    TaskWait::Body(mut v) => {
                        if p.bool("human", false)? {
                            add_human_running_time(&mut v);
                        }
                        ok(v)
                    }
                    TaskWait::Error(e) => Err(e),
                    TaskWait::Drop => Ok(Reply::Drop),
                }
            }
            Route::TaskCancel(id) => self.cancel_task(id.as_deref()),
            Route::TaskList => self.list_tasks(),
            Route::Authenticate => match (self.principal, &sh.security) {
                (Some(pr), Some(_)) => ok(security::authenticate_body(pr)),
                _ => Err(EsError::security_disabled()),
            },
            Route::HasPrivileges => match (self.principal, &sh.security) {
                (Some(pr), Some(sec)) => ok(security::has_privileges(
                    sec,
                    pr,
                    self.body.as_ref().unwrap_or(&Value::Null),
                )?),
                _ => Err(EsError::security_disabled()),
            },
            Route::XPackInfo => ok(json!({
                "features": {
                    "security": {"available": true, "enabled": sh.security.is_some()},
                    "ml": {"available": true, "enabled": true},
                }
            })),
            Route::SetUpgradeMode => {
                let on = p.bool("enabled", false)?;
                p.time("timeout")?;
                sh.state().upgrade_mode = on;
                sh.bump();
                ok(json!({"acknowledged": true}))
            }
        }
    }
}
