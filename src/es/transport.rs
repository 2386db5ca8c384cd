//! How a request to Elasticsearch goes out: the pooled reqwest client built once per
//! connection setting (auth header marked sensitive, TLS with the ring provider, timeouts,
//! no redirects), one request with its `X-Opaque-Id`, a bounded answer, and transport and
//! API failures turned into `EsError` with every secret scrubbed. Does network I/O.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::EsError;
use super::error::{chain, untrusted_certificate};
use super::memo::Memo;
use super::tls::tls_config;
use super::wire;

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
    pub(super) request_timeout: Duration,
    /// `X-Opaque-Id` of every request (empty: none).
    pub(super) opaque_id: String,
    /// Answers shared by every run on these connection settings.
    pub(super) memo: Arc<Memo>,
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
/// The largest answer body read by default (a task, a close, the cluster's version and
/// privileges): Elasticsearch's are a few KiB. A cap per answer bounds what a hostile server
/// can make the operator hold (up to `--max-task-follows` long-polls at once) and parse.
const ANSWER_LIMIT: usize = 64 << 10;
/// The same for one job's configuration, stats or `_update` answer: since 8.0 the
/// configuration embeds the datafeed's, whose query may list tens of thousands of terms.
const JOB_ANSWER_LIMIT: usize = 4 << 20;
/// The same for the listings of many jobs (a fan-out's expression): up to Elasticsearch's page
/// of 10,000 jobs, decoded into a few fields each.
const LIST_ANSWER_LIMIT: usize = 16 << 20;

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
}

impl EsClient {
    pub(super) fn call(&self, method: Method, segments: &[&str], query: &[(&str, &str)]) -> Call {
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
            limit: ANSWER_LIMIT,
        }
    }

    /// Sends and requires a 2xx answer.
    pub(super) async fn send_ok(
        &self,
        call: &Call,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, EsError> {
        let (status, body) = self.send(call, timeout).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(self.api_error(call, status, &body))
        }
    }

    pub(super) async fn send(
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
        // buffer without end. Of an error answer only its beginning is kept: its status
        // decides, and a larger body is described, not parsed.
        let error = !status.is_success();
        let limit = if error {
            wire::MAX_ERROR_BODY + 1
        } else {
            call.limit
        };
        let too_large = || call.decode(format!("the answer is larger than {}", size(limit)));
        if !error && resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(call, after, e))?
        {
            if body.len() + chunk.len() > limit {
                if !error {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    pub(super) fn api_error(&self, call: &Call, status: StatusCode, body: &[u8]) -> EsError {
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
        let untrusted = untrusted_certificate(&e);
        let detail = self.scrub(chain(&e.without_url()));
        if builder {
            return EsError::Config(format!("cannot build {}: {detail}", call.what));
        }
        if decode {
            return call.decode(detail);
        }
        if let Some(fix) = untrusted {
            return EsError::Untrusted {
                url: self.base.to_string(),
                detail,
                fix,
            };
        }
        // Connection refused, reset, another TLS failure or a body cut short: all "could not
        // talk to it".
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

pub(super) struct Call {
    method: Method,
    url: Url,
    pub(super) what: String,
    /// Replaces the client's `X-Opaque-Id` for this request.
    pub(super) opaque_id: Option<String>,
    /// A JSON body.
    pub(super) body: Option<Vec<u8>>,
    /// The largest answer body read.
    limit: usize,
}

impl Call {
    pub(super) fn decode(&self, detail: String) -> EsError {
        EsError::Decode {
            what: self.what.clone(),
            // It may quote the answer (an unknown state, say): status holds no more of it.
            detail: wire::truncate(detail),
        }
    }

    /// An answer about one job: up to `JOB_ANSWER_LIMIT`.
    pub(super) fn job_answer(mut self) -> Call {
        self.limit = JOB_ANSWER_LIMIT;
        self
    }

    /// A listing of many jobs: its answer may be up to `LIST_ANSWER_LIMIT`.
    pub(super) fn listing(mut self) -> Call {
        self.limit = LIST_ANSWER_LIMIT;
        self
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

/// `16 MiB`, `64 KiB`.
fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
