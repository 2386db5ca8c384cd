//! The HTTP side: accept loop (plain or TLS), routing, parameter checks, security, faults,
//! request log, and the Elasticsearch-shaped responses. Network I/O lives here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::endpoint::Endpoint;
use crate::engine::{LoggedRequest, ResetOptions, Shared, TaskWait, lock, parse_task_id};
use crate::errors::{EsError, string_error};
use crate::faults::Fault;
use crate::params::{Params, percent_decode};
use crate::security::{self, Principal};
use crate::state::{DatafeedState, JobState};

pub type Resp = Response<Full<Bytes>>;

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the simulator")]
pub struct Dropped;

const MAX_BODY: usize = 100 * 1024 * 1024;

/// Accept connections until `stop` turns true; then close every open connection too.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        // Without TCP_NODELAY every keep-alive request waits ~40 ms for delayed ACKs.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let conn = async {
                let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acc) => {
                        if let Ok(s) = acc.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(s), service).await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            };
            tokio::select! {
                _ = conn => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}

/// Per-request facts the response builder needs.
struct Ctx {
    method: Method,
    path: String,
    uri: String,
    params: Params,
    opaque_id: Option<String>,
    compat: Option<String>,
    pretty: bool,
    error_trace: bool,
    /// `X-elastic-product` exists from 7.14 on.
    product_header: bool,
}

impl Ctx {
    fn json(&self, status: u16, body: &Value) -> Resp {
        let text = if self.pretty {
            serde_json::to_string_pretty(body).unwrap_or_default()
        } else {
            serde_json::to_string(body).unwrap_or_default()
        };
        let body = if self.method == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(text)
        };
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let ct = match &self.compat {
            Some(v) => format!("application/vnd.elasticsearch+json;compatible-with={v}"),
            None => "application/json".to_string(),
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ct) {
            h.insert(hyper::header::CONTENT_TYPE, v);
        }
        if self.product_header {
            h.insert(
                HeaderName::from_static("x-elastic-product"),
                HeaderValue::from_static("Elasticsearch"),
            );
        }
        if let Some(id) = &self.opaque_id
            && let Ok(v) = HeaderValue::from_str(id)
        {
            h.insert(HeaderName::from_static("x-opaque-id"), v);
        }
        r
    }

    fn error(&self, e: &EsError) -> Resp {
        let mut body = e.body();
        if self.error_trace
            && let Some(o) = body.get_mut("error").and_then(Value::as_object_mut)
        {
            o.insert(
                "stack_trace".into(),
                json!(format!(
                    "org.elasticsearch.{}: {}\n\tat es-ml-sim (simulated)",
                    e.kind, e.reason
                )),
            );
        }
        let mut r = self.json(e.status, &body);
        if let Some(Value::Array(ch)) = e
            .extra
            .get("header")
            .and_then(|h| h.get("WWW-Authenticate"))
        {
            for c in ch.iter().filter_map(Value::as_str) {
                if let Ok(v) = HeaderValue::from_str(c) {
                    r.headers_mut().append(hyper::header::WWW_AUTHENTICATE, v);
                }
            }
        }
        r
    }
}

/// Routed request; path parameters are decoded.
#[derive(Debug, Clone)]
enum Route {
    Info,
    JobPut(String),
    JobGet(Option<String>),
    JobDelete(String),
    JobStats(Option<String>),
    JobOpen(String),
    JobClose(String),
    JobUpdate(String),
    JobReset(String),
    DfPut(String),
    DfGet(Option<String>),
    DfDelete(String),
    DfStart(String),
    DfStop(String),
    DfStats(Option<String>),
    TaskGet(String),
    TaskCancel(Option<String>),
    TaskList,
    Authenticate,
    HasPrivileges,
    SetUpgradeMode,
    MlInfo,
    XPackInfo,
    Control,
}

impl Route {
    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Info => Endpoint::Info,
            Route::JobPut(_) => Endpoint::JobPut,
            Route::JobGet(_) => Endpoint::JobGet,
            Route::JobDelete(_) => Endpoint::JobDelete,
            Route::JobStats(_) => Endpoint::JobStats,
            Route::JobOpen(_) => Endpoint::JobOpen,
            Route::JobClose(_) => Endpoint::JobClose,
            Route::JobUpdate(_) => Endpoint::JobUpdate,
            Route::JobReset(_) => Endpoint::JobReset,
            Route::DfPut(_) => Endpoint::DatafeedPut,
            Route::DfGet(_) => Endpoint::DatafeedGet,
            Route::DfDelete(_) => Endpoint::DatafeedDelete,
            Route::DfStart(_) => Endpoint::DatafeedStart,
            Route::DfStop(_) => Endpoint::DatafeedStop,
            Route::DfStats(_) => Endpoint::DatafeedStats,
            Route::TaskGet(_) => Endpoint::TaskGet,
            Route::TaskCancel(_) => Endpoint::TaskCancel,
            Route::Authenticate => Endpoint::Authenticate,
            Route::HasPrivileges => Endpoint::HasPrivileges,
            Route::Control => Endpoint::Control,
            Route::MlInfo => Endpoint::MlInfo,
            Route::TaskList | Route::SetUpgradeMode | Route::XPackInfo => Endpoint::Other,
        }
    }

    fn action(&self) -> Option<&'static str> {
        match self {
            Route::TaskList => Some("cluster:monitor/tasks/lists"),
            Route::SetUpgradeMode => Some("cluster:admin/xpack/ml/upgrade_mode"),
            r => r.endpoint().action(),
        }
    }
}

enum Routing {
    Found(Route),
    /// Known path, other methods.
    Method(Vec<&'static str>),
    NoHandler,
}

fn route(shared: &Shared, m: &Method, segs: &[String]) -> Routing {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let id = |i: usize| segs[i].clone();
    let pick = |opts: Vec<(&'static str, Route)>| -> Routing {
        for (meth, r) in &opts {
            if m.as_str() == *meth {
                return Routing::Found(r.clone());
            }
        }
        Routing::Method(opts.iter().map(|(m, _)| *m).collect())
    };
    let v = shared.version;
    match s.as_slice() {
        [] => pick(vec![("GET", Route::Info), ("HEAD", Route::Info)]),
        ["_sim", ..] => Routing::Found(Route::Control),
        ["_ml", "anomaly_detectors"] => pick(vec![("GET", Route::JobGet(None))]),
        ["_ml", "anomaly_detectors", "_stats"] => pick(vec![("GET", Route::JobStats(None))]),
        ["_ml", "anomaly_detectors", _] => pick(vec![
            ("PUT", Route::JobPut(id(2))),
            ("GET", Route::JobGet(Some(id(2)))),
            ("DELETE", Route::JobDelete(id(2))),
        ]),
        ["_ml", "anomaly_detectors", _, "_stats"] => {
            pick(vec![("GET", Route::JobStats(Some(id(2))))])
        }
        ["_ml", "anomaly_detectors", _, "_open"] => pick(vec![("POST", Route::JobOpen(id(2)))]),
        ["_ml", "anomaly_detectors", _, "_close"] => pick(vec![("POST", Route::JobClose(id(2)))]),
        ["_ml", "anomaly_detectors", _, "_update"] => pick(vec![("POST", Route::JobUpdate(id(2)))]),
        ["_ml", "anomaly_detectors", _, "_reset"] if v.has_reset() => {
            pick(vec![("POST", Route::JobReset(id(2)))])
        }
        ["_ml", "datafeeds"] => pick(vec![("GET", Route::DfGet(None))]),
        ["_ml", "datafeeds", "_stats"] => pick(vec![("GET", Route::DfStats(None))]),
        ["_ml", "datafeeds", _] => pick(vec![
            ("PUT", Route::DfPut(id(2))),
            ("GET", Route::DfGet(Some(id(2)))),
            ("DELETE", Route::DfDelete(id(2))),
        ]),
        ["_ml", "datafeeds", _, "_stats"] => pick(vec![("GET", Route::DfStats(Some(id(2))))]),
        ["_ml", "datafeeds", _, "_start"] => pick(vec![("POST", Route::DfStart(id(2)))]),
        ["_ml", "datafeeds", _, "_stop"] => pick(vec![("POST", Route::DfStop(id(2)))]),
        ["_ml", "set_upgrade_mode"] => pick(vec![("POST", Route::SetUpgradeMode)]),
        ["_ml", "info"] => pick(vec![("GET", Route::MlInfo)]),
        ["_xpack"] => pick(vec![("GET", Route::XPackInfo)]),
        ["_tasks"] => pick(vec![("GET", Route::TaskList)]),
        ["_tasks", "_cancel"] => pick(vec![("POST", Route::TaskCancel(None))]),
        ["_tasks", _] => pick(vec![("GET", Route::TaskGet(id(1)))]),
        ["_tasks", _, "_cancel"] => pick(vec![("POST", Route::TaskCancel(Some(id(1))))]),
        ["_security", "_authenticate"] => pick(vec![("GET", Route::Authenticate)]),
        ["_security", "user", "_has_privileges"] | ["_security", "user", _, "_has_privileges"] => {
            pick(vec![
                ("GET", Route::HasPrivileges),
                ("POST", Route::HasPrivileges),
            ])
        }
        _ => Routing::NoHandler,
    }
}

/// Query parameters each route consumes (besides the global ones). `has_body`: handlers that
/// read either the body or the query consume no query parameters when a body is sent.
fn consumed(shared: &Shared, r: &Route, has_body: bool) -> Vec<&'static str> {
    let v = shared.version;
    let mut p: Vec<&'static str> = match r {
        Route::XPackInfo => vec!["categories"],
        Route::Info
        | Route::MlInfo
        | Route::Authenticate
        | Route::HasPrivileges
        | Route::Control => {
            vec![]
        }
        Route::JobPut(_) | Route::DfPut(_) => vec![
            "allow_no_indices",
            "expand_wildcards",
            "ignore_throttled",
            "ignore_unavailable",
        ],
        Route::JobGet(_) | Route::DfGet(_) => vec!["allow_no_match", "exclude_generated"],
        Route::JobStats(_) | Route::DfStats(_) => vec!["allow_no_match"],
        Route::JobDelete(_) => vec!["force", "wait_for_completion"],
        Route::JobOpen(_) if has_body => vec![],
        Route::JobOpen(_) => vec!["timeout"],
        Route::JobClose(_) if has_body => vec![],
        Route::JobClose(_) => vec!["allow_no_match", "force", "timeout"],
        Route::JobUpdate(_) => vec![],
        Route::JobReset(_) => vec!["wait_for_completion", "timeout", "master_timeout"],
        Route::DfDelete(_) => vec!["force"],
        Route::DfStart(_) if has_body => vec![],
        Route::DfStart(_) => vec!["start", "end", "timeout"],
        Route::DfStop(_) if has_body => vec![],
        Route::DfStop(_) => vec!["allow_no_match", "force", "timeout"],
        Route::TaskGet(_) => vec!["wait_for_completion", "timeout"],
        Route::TaskCancel(_) => vec!["actions", "nodes", "parent_task_id", "wait_for_completion"],
        Route::TaskList => vec![
            "actions",
            "detailed",
            "group_by",
            "nodes",
            "parent_task_id",
            "wait_for_completion",
            "timeout",
        ],
        Route::SetUpgradeMode => vec!["enabled", "timeout"],
    };
    if v.has_delete_user_annotations() && matches!(r, Route::JobReset(_) | Route::JobDelete(_)) {
        p.push("delete_user_annotations");
    }
    if v.major < 8
        && matches!(
            r,
            Route::JobGet(_) | Route::JobStats(_) | Route::JobClose(_)
        )
        && !has_body
    {
        p.push("allow_no_jobs");
    }
    p
}

enum BodyRule {
    None,
    Optional,
    Required,
}

fn body_rule(r: &Route) -> BodyRule {
    match r {
        Route::JobPut(_) | Route::JobUpdate(_) | Route::DfPut(_) => BodyRule::Required,
        Route::JobOpen(_)
        | Route::JobClose(_)
        | Route::DfStart(_)
        | Route::DfStop(_)
        | Route::HasPrivileges
        | Route::Control => BodyRule::Optional,
        _ => BodyRule::None,
    }
}

pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    let method = req.method().clone();
    let raw_path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let uri = if query.is_empty() {
        raw_path.clone()
    } else {
        format!("{raw_path}?{query}")
    };
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let opaque_id = header("x-opaque-id");
    let auth = header("authorization");
    let content_type = header("content-type");
    let compat = header("accept")
        .into_iter()
        .chain(content_type.clone())
        .find_map(|h| {
            h.split("compatible-with=").nth(1).map(|v| {
                v.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
            })
        })
        .filter(|v| !v.is_empty());
    let params = Params::parse(&query);
    let ctx = Ctx {
        method: method.clone(),
        path: raw_path.clone(),
        uri: uri.clone(),
        pretty: params.get("pretty").is_some_and(|v| v != "false"),
        error_trace: params.get("error_trace").is_some_and(|v| v != "false"),
        params,
        opaque_id: opaque_id.clone(),
        compat,
        product_header: shared.version.has_reset(),
    };
    let segs: Vec<String> = raw_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let routing = route(&shared, &method, &segs);
    let endpoint = match &routing {
        Routing::Found(r) => r.endpoint(),
        _ => Endpoint::Other,
    };

    let log = |status: u16| {
        tracing::debug!(method = %method, path = %raw_path, query = %query, status, endpoint = %endpoint, "request");
        shared.record(LoggedRequest {
            method: method.to_string(),
            path: raw_path.clone(),
            query: query.clone(),
            status,
            endpoint,
            opaque_id: opaque_id.clone(),
            time: SystemTime::now(),
        });
    };

    shared.arrived(endpoint);
    let mut drop_after = false;
    if endpoint != Endpoint::Control {
        let (latency, fault) = {
            let mut f = lock(&shared.faults);
            (f.latency(endpoint), f.take(endpoint))
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Some(Fault::Drop) => {
                log(0);
                return Err(Dropped);
            }
            Some(Fault::Hang) => {
                log(0);
                std::future::pending::<()>().await;
                return Err(Dropped);
            }
            Some(Fault::Fail { status, body }) => {
                log(status);
                return Ok(ctx.json(status, &body));
            }
            Some(Fault::DropAfter) => drop_after = true,
            None => {}
        }
    }

    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let e = EsError::new(
                413,
                "content_too_long_exception",
                "request body is too large",
            );
            log(413);
            return Ok(ctx.error(&e));
        }
    };

    let resp = dispatch(
        &shared,
        &ctx,
        routing,
        &segs,
        content_type.as_deref(),
        auth.as_deref(),
        body,
    )
    .await;
    match resp {
        Ok(r) if drop_after => {
            // Logged with the status it would have had: the action took effect.
            log(r.status().as_u16());
            Err(Dropped)
        }
        Ok(r) => {
            log(r.status().as_u16());
            Ok(r)
        }
        Err(Dropped) => {
            log(0);
            Err(Dropped)
        }
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    ctx: &Ctx,
    routing: Routing,
    segs: &[String],
    content_type: Option<&str>,
    auth: Option<&str>,
    body: Bytes,
) -> Result<Resp, Dropped> {
    let r = match routing {
        Routing::Found(r) => r,
        Routing::Method(allowed) => {
            let msg = format!(
                "Incorrect HTTP method for uri [{}] and method [{}], allowed: [{}]",
                ctx.uri,
                ctx.method,
                allowed.join(", ")
            );
            let mut resp = ctx.json(405, &string_error(405, &msg));
            if let Ok(v) = HeaderValue::from_str(&allowed.join(",")) {
                resp.headers_mut().insert(hyper::header::ALLOW, v);
            }
            return Ok(resp);
        }
        Routing::NoHandler => {
            let msg = format!(
                "no handler found for uri [{}] and method [{}]",
                ctx.uri, ctx.method
            );
            return Ok(ctx.json(400, &string_error(400, &msg)));
        }
    };
    if let Route::Control = r {
        if !shared.enable_control {
            let msg = "the control API is disabled (start with --enable-control)";
            return Ok(ctx.json(404, &string_error(404, msg)));
        }
        let (status, v) = crate::control::handle_http(shared, &ctx.method, &segs[1..], &body);
        return Ok(ctx.json(status, &v));
    }

    // Authentication (REST filter) comes before parameter parsing.
    let principal = match &shared.security {
        None => None,
        Some(sec) => match security::authenticate(sec, auth, &ctx.uri) {
            Ok(p) => Some(p),
            Err(e) => return Ok(ctx.error(&e)),
        },
    };

    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    if has_body && let Some(ct) = content_type {
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            base.as_str(),
            "application/json"
                | "application/vnd.elasticsearch+json"
                | "application/x-ndjson"
                | "application/yaml"
        ) {
            let msg = format!("Content-Type header [{ct}] is not supported");
            return Ok(ctx.json(406, &string_error(406, &msg)));
        }
    }
    match body_rule(&r) {
        BodyRule::None if has_body => {
            return Ok(ctx.error(&EsError::illegal_argument(format!(
                "request [{} {}] does not support having a body",
                ctx.method, ctx.path
            ))));
        }
        BodyRule::Required if !has_body => {
            return Ok(ctx.error(&EsError::new(
                400,
                "parse_exception",
                "request body is required",
            )));
        }
        _ => {}
    }
    if let Some(e) = ctx
        .params
        .unrecognized(&ctx.path, &consumed(shared, &r, has_body))
    {
        return Ok(ctx.error(&e));
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    let json_body = if has_body {
        match serde_json::from_str::<Value>(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                return Ok(ctx.error(&EsError::parse(format!(
                    "[{}:{}] {}",
                    e.line(),
                    e.column(),
                    strip_serde_position(&e.to_string())
                ))));
            }
        }
    } else {
        None
    };

    let req = Req {
        shared,
        ctx,
        principal: principal.as_ref(),
        body: json_body,
        raw,
    };
    match req.run(&r).await {
        Ok(Reply::Json(status, v)) => Ok(ctx.json(status, &v)),
        Ok(Reply::Drop) => Err(Dropped),
        Err(e) => Ok(ctx.error(&e)),
    }
}

fn strip_serde_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

enum Reply {
    Json(u16, Value),
    Drop,
}

fn ok(v: Value) -> Result<Reply, EsError> {
    Ok(Reply::Json(200, v))
}

struct Req<'a> {
    shared: &'a Arc<Shared>,
    ctx: &'a Ctx,
    principal: Option<&'a Principal>,
    body: Option<Value>,
    raw: String,
}

impl Req<'_> {
    /// The 403 when security is on and the principal lacks the action.
    fn authorize(&self, action: Option<&str>) -> Result<(), EsError> {
        match (self.principal, &self.shared.security, action) {
            (Some(p), Some(sec), Some(a)) if !security::allowed(sec, p, a) => {
                Err(security::denied(p, a))
            }
            _ => Ok(()),
        }
    }

    fn body_obj(
        &self,
        parser: &str,
        allowed: &[&str],
    ) -> Result<Option<Map<String, Value>>, EsError> {
        let Some(b) = &self.body else { return Ok(None) };
        crate::state::object_body(b, allowed, parser, &self.raw).map(|o| Some(o.clone()))
    }

    async fn run(&self, r: &Route) -> Result<Reply, EsError> {
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

    fn info(&self) -> Value {
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
    fn ml_info(&self) -> Value {
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
    async fn reset(&self, id: &str) -> Result<Reply, EsError> {
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

    fn delete_job(&self, id: &str) -> Result<Reply, EsError> {
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

    fn node_entry(&self, tasks: Map<String, Value>) -> Value {
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

    fn cancel_task(&self, id: Option<&str>) -> Result<Reply, EsError> {
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

    fn list_tasks(&self) -> Result<Reply, EsError> {
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

/// `?human`: a readable `running_time` next to `running_time_in_nanos`.
fn add_human_running_time(v: &mut Value) {
    let Some(task) = v.get_mut("task").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(ns) = task.get("running_time_in_nanos").and_then(Value::as_u64) else {
        return;
    };
    let text = if ns >= 1_000_000_000 {
        format!("{:.1}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}micros", ns as f64 / 1e3)
    };
    task.insert("running_time".into(), json!(text));
}

fn json_bool(b: &Map<String, Value>, key: &str, default: bool) -> Result<bool, EsError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(v)) => Ok(*v),
        Some(Value::String(s)) => crate::params::parse_bool(s),
        Some(_) => Err(EsError::parse(format!(
            "[1:2] Failed to parse object: expecting token of type [VALUE_BOOLEAN] for field [{key}]"
        ))),
    }
}
