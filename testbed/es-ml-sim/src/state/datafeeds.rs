//! Datafeeds: creating, expanding, starting and deleting them. No I/O.

use serde_json::Value;

use super::bodies::DATAFEED_FIELDS;
use super::*;

impl State {
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
}

impl State {
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
}
