//! HTTP client for Elasticsearch: one reqwest client (connection pool, TLS sessions) per
//! connection setting, shared by every run that uses it (`for_run` gives each run its own
//! `X-Opaque-Id`), auth, TLS (ring provider). Does network I/O.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::memo::Memo;
use super::tls::tls_config;
use super::wire::{self, JobDecode};
use super::{
    ClusterInfo, EsError, Job, JobConfigView, JobSummary, Privileges, RESET_ACTION, TaskInfo,
    TaskPoll, UpdatedJob,
};

/// Credentials; `Debug` never prints the secret parts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Auth {
    Basic {
        username: String,
        password: String,
    },
    /// The encoded API key (base64 of `id:key`), sent as `Authorization: ApiKey <value>`.
    ApiKey(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EsConfig {
    /// Base URL, e.g. `https://es.example:9200`.
    pub url: String,
    pub auth: Option<Auth>,
    /// PEM bundle of CAs to trust instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
    /// Sent as `X-Opaque-Id` on every request (e.g. `jobreset/<ns>/<name>/<uid>`).
    pub opaque_id: Option<String>,
    /// Per-request timeout for ordinary calls (long-polls add their own wait on top).
    pub request_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct EsClient {
    http: reqwest::Client,
    /// The base URL without any userinfo, safe to show.
    base: Url,
    /// Prebuilt, sensitive-marked `Authorization` value.
    auth: Option<HeaderValue>,
    /// Secret strings scrubbed from any error text as a last line of defence.
    secrets: Secrets,
    request_timeout: Duration,
    /// `X-Opaque-Id` of every request (empty: none).
    opaque_id: String,
    /// Answers shared by every run on these connection settings.
    memo: Arc<Memo>,
}

/// Secret values, kept only to scrub them from error text; `Debug` prints nothing of them.
#[derive(Clone, Default)]
struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

const USER_AGENT: &str = concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"));
const OPAQUE_ID: HeaderName = HeaderName::from_static("x-opaque-id");
/// The largest answer body read (the job config, stats and task answers are a few KiB).
const MAX_BODY: usize = 16 << 20;
/// The close call can wait this long when its timeout is `-1` (no limit in Elasticsearch).
const UNBOUNDED_WAIT: Duration = Duration::from_secs(24 * 3600);

impl EsClient {
    pub fn new(cfg: EsConfig) -> Result<EsClient, EsError> {
        let base = base_url(&cfg.url).map_err(EsError::Config)?;
        if cfg.request_timeout.is_zero() {
            return Err(EsError::Config(
                "request timeout must be greater than zero".to_owned(),
            ));
        }

        let mut secrets = Secrets::default();
        let auth = match &cfg.auth {
            None => None,
            Some(Auth::Basic { username, password }) => {
                if username.contains(':') {
                    return Err(EsError::Config(
                        "the username must not contain ':'".to_owned(),
                    ));
                }
                secrets.0.push(password.clone());
                let token = STANDARD.encode(format!("{username}:{password}"));
                secrets.0.push(token.clone());
                Some(sensitive(
                    &format!("Basic {token}"),
                    "the username or password",
                )?)
            }
            Some(Auth::ApiKey(key)) => {
                let key = key.trim();
                if key.is_empty() {
                    return Err(EsError::Config("the API key is empty".to_owned()));
                }
                secrets.0.push(key.to_owned());
                Some(sensitive(&format!("ApiKey {key}"), "the API key")?)
            }
        };
        secrets.0.retain(|s| s.len() >= 4);

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let opaque_id = checked_opaque_id(cfg.opaque_id.clone())?;

        let tls = tls_config(&cfg)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout)
            .tcp_nodelay(true)
            // A redirect could carry the Authorization header elsewhere; Elasticsearch never
            // redirects, so one is an error.
            .redirect(reqwest::redirect::Policy::none())
            // HTTP(S)_PROXY / NO_PROXY from the environment are honoured, as kubectl and curl do.
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| {
                EsError::Config(format!(
                    "cannot build the HTTP client: {}",
                    chain(&e.without_url())
                ))
            })?;

        Ok(EsClient {
            http,
            base,
            auth,
            secrets,
            request_timeout: cfg.request_timeout,
            opaque_id,
            memo: Arc::default(),
        })
    }

    /// The same connection (pool, credentials, kept answers) for one run: every request
    /// carries `opaque_id`.
    pub fn for_run(&self, opaque_id: Option<String>) -> Result<EsClient, EsError> {
        Ok(EsClient {
            opaque_id: checked_opaque_id(opaque_id)?,
            ..self.clone()
        })
    }

    /// `GET _ml/info`, or its answer from the last minute on these connection settings.
    pub async fn version(&self) -> Result<ClusterInfo, EsError> {
        if let Some(info) = self.memo.version(Instant::now()) {
            return Ok(info);
        }
        let info = self.info().await?;
        self.memo.keep_version(Instant::now(), &info);
        Ok(info)
    }

    /// `GET _ml/info`: the cluster's version, readable with `manage_ml` alone.
    pub async fn info(&self) -> Result<ClusterInfo, EsError> {
        let call = self.call(Method::GET, &["_ml", "info"], &[]);
        let body = self.send_ok(&call, None).await?;
        wire::cluster_info(&body).map_err(|detail| call.decode(detail))
    }

    /// `POST _security/user/_has_privileges` for these cluster privileges. Security turned
    /// off answers it with a 500 `exception` (or, without the security plugin, 400 "no
    /// handler"), which a server fault can look like too: then `GET _xpack` decides, on its
    /// structured `features.security.enabled`.
    /// A granted answer (or security off) is reused for a minute on these connection
    /// settings; a missing privilege is asked about again every time.
    pub async fn privileges(&self, cluster: &[&str]) -> Result<Privileges, EsError> {
        if let Some(p) = self.memo.privileges(Instant::now(), cluster) {
            return Ok(p);
        }
        let p = self.ask_privileges(cluster).await?;
        self.memo.keep_privileges(Instant::now(), cluster, &p);
        Ok(p)
    }

    async fn ask_privileges(&self, cluster: &[&str]) -> Result<Privileges, EsError> {
        let mut call = self.call(Method::POST, &["_security", "user", "_has_privileges"], &[]);
        let body = serde_json::json!({ "cluster": cluster });
        call.body = serde_json::to_vec(&body).ok();
        let (status, answer) = self.send(&call, None).await?;
        if status.is_success() {
            return wire::privileges(cluster, &answer).map_err(|detail| call.decode(detail));
        }
        let refused = self.api_error(&call, status, &answer);
        let maybe_off = matches!(&refused, EsError::Api { status: 500, kind, .. } if kind == "exception")
            || matches!(&refused, EsError::Api { status: 400, .. });
        if !maybe_off {
            return Err(refused);
        }
        let xpack = self.call(Method::GET, &["_xpack"], &[("categories", "features")]);
        match self.send_ok(&xpack, None).await {
            Ok(body) => match wire::security_enabled(&body) {
                Ok(Some(false)) => Ok(Privileges::SecurityOff),
                _ => Err(refused),
            },
            Err(_) => Err(refused),
        }
    }

    /// `GET _ml/anomaly_detectors/<id>` + `GET .../_stats`, merged.
    pub async fn job(&self, job_id: &str) -> Result<Job, EsError> {
        let config = self.call(Method::GET, &["_ml", "anomaly_detectors", job_id], &[]);
        let stats = self.call(
            Method::GET,
            &["_ml", "anomaly_detectors", job_id, "_stats"],
            &[],
        );
        let (config_body, stats_body) =
            tokio::try_join!(self.send_ok(&config, None), self.send_ok(&stats, None))?;
        match wire::job(job_id, &config_body, &stats_body)
            .map_err(|detail| config.decode(detail))?
        {
            JobDecode::Found(job) => Ok(job),
            JobDecode::Missing => Err(EsError::Api {
                what: config.what.clone(),
                status: 404,
                kind: "resource_not_found_exception".to_owned(),
                reason: format!("No known job with id '{job_id}' (the answer listed no such job)"),
            }),
        }
    }

    /// `GET _ml/anomaly_detectors/<id>` alone.
    pub async fn job_config(&self, job_id: &str) -> Result<JobConfigView, EsError> {
        let call = self.call(Method::GET, &["_ml", "anomaly_detectors", job_id], &[]);
        let body = self.send_ok(&call, None).await?;
        match wire::job_config(job_id, &body).map_err(|detail| call.decode(detail))? {
            Some(view) => Ok(view),
            None => Err(EsError::Api {
                what: call.what.clone(),
                status: 404,
                kind: "resource_not_found_exception".to_owned(),
                reason: format!("No known job with id '{job_id}' (the answer listed no such job)"),
            }),
        }
    }

    /// `GET _ml/anomaly_detectors/<expression>` and its `_stats` (`allow_no_match=true`): a
    /// summary of every job the expression names (ids, groups, wildcards, comma lists).
    pub async fn jobs(&self, expression: &str) -> Result<Vec<JobSummary>, EsError> {
        let q = [("allow_no_match", "true")];
        let config = self.call(Method::GET, &["_ml", "anomaly_detectors", expression], &q);
        let stats = self.call(
            Method::GET,
            &["_ml", "anomaly_detectors", expression, "_stats"],
            &q,
        );
        let (config_body, stats_body) =
            tokio::try_join!(self.send_ok(&config, None), self.send_ok(&stats, None))?;
        super::jobs::summaries(&config_body, &stats_body).map_err(|detail| config.decode(detail))
    }

    /// `GET _ml/datafeeds/<ids>/_stats` (`allow_no_match=true`): each datafeed's state.
    pub async fn datafeed_states(&self, ids: &[String]) -> Result<Vec<(String, String)>, EsError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let q = [("allow_no_match", "true")];
        let joined = ids.join(",");
        let req = self.call(Method::GET, &["_ml", "datafeeds", &joined, "_stats"], &q);
        let body = self.send_ok(&req, None).await?;
        super::jobs::datafeed_states(&body).map_err(|detail| req.decode(detail))
    }

    /// `POST .../_close?force=&timeout=` (no body). An already closed job is Ok.
    pub async fn close_job(&self, job_id: &str, force: bool, timeout: &str) -> Result<(), EsError> {
        let wait = match wire::parse_es_time(timeout) {
            Some(Some(d)) => d,
            Some(None) => UNBOUNDED_WAIT,
            None => {
                return Err(EsError::Config(format!(
                    "invalid close timeout {timeout:?} (use e.g. 30s, 30m)"
                )));
            }
        };
        let force = if force { "true" } else { "false" };
        let call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_close"],
            &[("force", force), ("timeout", timeout.trim())],
        );
        // Elasticsearch holds the answer until the job is closed, up to `timeout`.
        let body = self
            .send_ok(&call, Some(wait.saturating_add(self.request_timeout)))
            .await?;
        wire::closed(&body).map_err(|detail| call.decode(detail))
    }

    /// `POST _ml/anomaly_detectors/<id>/_update` with the whole `custom_settings` object
    /// (Elasticsearch replaces it, it does not merge). Returns what the answer (the job's
    /// configuration after the update) shows, when it is that shape.
    pub async fn update_custom_settings(
        &self,
        job_id: &str,
        settings: &serde_json::Value,
    ) -> Result<Option<UpdatedJob>, EsError> {
        let mut call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_update"],
            &[],
        );
        call.body = serde_json::to_vec(&serde_json::json!({ "custom_settings": settings })).ok();
        let body = self.send_ok(&call, None).await?;
        Ok(wire::updated_job(job_id, &body))
    }

    /// `POST _ml/anomaly_detectors/<id>/_open`.
    pub async fn open_job(&self, job_id: &str) -> Result<(), EsError> {
        let call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_open"],
            &[],
        );
        let body = self.send_ok(&call, None).await?;
        wire::acknowledged(&body, "opened").map_err(|detail| call.decode(detail))
    }

    /// `POST _ml/datafeeds/<id>/_start?start=&end=` (no body: a body would override them).
    pub async fn start_datafeed(
        &self,
        datafeed_id: &str,
        start: &str,
        end: Option<&str>,
    ) -> Result<(), EsError> {
        let mut q = vec![("start", start)];
        if let Some(end) = end {
            q.push(("end", end));
        }
        let call = self.call(
            Method::POST,
            &["_ml", "datafeeds", datafeed_id, "_start"],
            &q,
        );
        let body = self.send_ok(&call, None).await?;
        wire::acknowledged(&body, "started").map_err(|detail| call.decode(detail))
    }

    /// The datafeed's state (`started`, `stopped`, ...), `None` when it does not exist.
    pub async fn datafeed_state(&self, datafeed_id: &str) -> Result<Option<String>, EsError> {
        let states = self.datafeed_states(&[datafeed_id.to_owned()]).await?;
        Ok(states
            .into_iter()
            .find(|(id, _)| id == datafeed_id)
            .map(|(_, state)| state))
    }

    /// The `X-Opaque-Id` every request carries (empty when none).
    pub fn opaque_id(&self) -> &str {
        &self.opaque_id
    }

    /// `POST .../_reset?wait_for_completion=false[&delete_user_annotations=true]`; returns the
    /// task id. Request number `attempt` of the run carries `X-Opaque-Id: <run id>/<attempt>`,
    /// which its task keeps: the operator can tell its own task from any other.
    pub async fn reset_job(
        &self,
        job_id: &str,
        delete_user_annotations: bool,
        attempt: u32,
    ) -> Result<String, EsError> {
        let mut query = vec![("wait_for_completion", "false")];
        // Only sent when asked: versions before 8.7 reject the unknown parameter.
        if delete_user_annotations {
            query.push(("delete_user_annotations", "true"));
        }
        let mut call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_reset"],
            &query,
        );
        if !self.opaque_id.is_empty() {
            call.opaque_id = Some(attempt_opaque_id(&self.opaque_id, attempt));
        }
        let body = self.send_ok(&call, None).await?;
        wire::reset_task(&body).map_err(|detail| call.decode(detail))
    }

    /// `GET _tasks/<id>?wait_for_completion=true&timeout=<wait>`; a timeout answer is `StillRunning`,
    /// a 404 is `NotFound`.
    pub async fn wait_task(&self, task_id: &str, wait: Duration) -> Result<TaskPoll, EsError> {
        let timeout = wire::es_time(wait);
        let call = self.call(
            Method::GET,
            &["_tasks", task_id],
            &[
                ("wait_for_completion", "true"),
                ("timeout", timeout.as_str()),
            ],
        );
        let (status, body) = self
            .send(&call, Some(wait.saturating_add(self.request_timeout)))
            .await?;
        if status.is_success() {
            return wire::task(&body).map_err(|detail| call.decode(detail));
        }
        if wire::is_poll_timeout(status.as_u16(), &body) {
            return Ok(TaskPoll::StillRunning);
        }
        if status == StatusCode::NOT_FOUND && wire::is_es_error_body(&body) {
            return Ok(TaskPoll::NotFound);
        }
        Err(self.api_error(&call, status, &body))
    }

    /// `GET _tasks?actions=<reset>&detailed=true`: the reset tasks running now, each with
    /// the `X-Opaque-Id` its request carried.
    pub async fn reset_tasks(&self) -> Result<Vec<TaskInfo>, EsError> {
        let call = self.call(
            Method::GET,
            &["_tasks"],
            &[("actions", RESET_ACTION), ("detailed", "true")],
        );
        let body = self.send_ok(&call, None).await?;
        wire::task_list(&body).map_err(|detail| call.decode(detail))
    }

    /// `GET _tasks/<id>` without waiting: `Running(info)` while it runs (so the caller can
    /// check `action`/`description` before long-polling), `Completed` or `NotFound` otherwise.
    pub async fn task(&self, task_id: &str) -> Result<TaskPoll, EsError> {
        let call = self.call(Method::GET, &["_tasks", task_id], &[]);
        let (status, body) = self.send(&call, None).await?;
        if status.is_success() {
            return wire::task(&body).map_err(|detail| call.decode(detail));
        }
        if status == StatusCode::NOT_FOUND && wire::is_es_error_body(&body) {
            return Ok(TaskPoll::NotFound);
        }
        Err(self.api_error(&call, status, &body))
    }

    fn call(&self, method: Method, segments: &[&str], query: &[(&str, &str)]) -> Call {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Path segments are percent-encoded here, so a job id can never change the route.
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let what = format!("{method} /{}", segments.join("/"));
        Call {
            method,
            url,
            what,
            opaque_id: (!self.opaque_id.is_empty()).then(|| self.opaque_id.clone()),
            body: None,
        }
    }

    /// Sends and requires a 2xx answer.
    async fn send_ok(&self, call: &Call, timeout: Option<Duration>) -> Result<Vec<u8>, EsError> {
        let (status, body) = self.send(call, timeout).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(self.api_error(call, status, &body))
        }
    }

    async fn send(
        &self,
        call: &Call,
        timeout: Option<Duration>,
    ) -> Result<(StatusCode, Vec<u8>), EsError> {
        let mut req = self.http.request(call.method.clone(), call.url.clone());
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if let Some(id) = call
            .opaque_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            req = req.header(OPAQUE_ID, id);
        }
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        let after = timeout.unwrap_or(self.request_timeout);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(call, after, e))?;
        let status = resp.status();
        // Every answer the operator reads is small; a server that sends more is not one to
        // buffer without end.
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(call, after, e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(
                    call.decode(format!("the answer is larger than {} MiB", MAX_BODY >> 20))
                );
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    fn api_error(&self, call: &Call, status: StatusCode, body: &[u8]) -> EsError {
        let (kind, reason) = wire::error_body(status.as_u16(), body);
        EsError::Api {
            what: call.what.clone(),
            status: status.as_u16(),
            kind,
            reason: self.scrub(reason),
        }
    }

    fn transport_error(&self, call: &Call, after: Duration, e: reqwest::Error) -> EsError {
        if e.is_timeout() {
            return EsError::Timeout {
                what: call.what.clone(),
                after,
            };
        }
        let (builder, decode) = (e.is_builder(), e.is_decode());
        let detail = self.scrub(chain(&e.without_url()));
        if builder {
            return EsError::Config(format!("cannot build {}: {detail}", call.what));
        }
        if decode {
            return call.decode(detail);
        }
        // Connection refused, reset, TLS failure or a body cut short: all "could not talk to it".
        EsError::Connect {
            url: self.base.to_string(),
            detail,
        }
    }

    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets.0 {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "<redacted>");
            }
        }
        text
    }
}

struct Call {
    method: Method,
    url: Url,
    what: String,
    /// Replaces the client's `X-Opaque-Id` for this request.
    opaque_id: Option<String>,
    /// A JSON body.
    body: Option<Vec<u8>>,
}

impl Call {
    fn decode(&self, detail: String) -> EsError {
        EsError::Decode {
            what: self.what.clone(),
            detail,
        }
    }
}

/// The `X-Opaque-Id` of reset request number `attempt` of the run whose requests carry
/// `base`.
/// An `X-Opaque-Id` that is a valid header value (empty: none).
fn checked_opaque_id(id: Option<String>) -> Result<String, EsError> {
    let id = id.unwrap_or_default();
    if HeaderValue::from_str(&id).is_err() {
        return Err(EsError::Config(
            "the X-Opaque-Id value is not a valid header value".to_owned(),
        ));
    }
    Ok(id)
}

pub fn attempt_opaque_id(base: &str, attempt: u32) -> String {
    format!("{base}/{attempt}")
}

/// The Elasticsearch base URL, checked: http(s), a host, no credentials. The error says what
/// is wrong without echoing the URL (it may hold credentials).
pub(crate) fn base_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("invalid Elasticsearch URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported URL scheme {:?} (use http or https)",
            url.scheme()
        ));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err("the Elasticsearch URL has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the Elasticsearch URL must not contain credentials; use a credentials Secret"
                .to_owned(),
        );
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, EsError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        EsError::Config(format!(
            "{what} contains characters not allowed in an HTTP header"
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The error and its sources, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
