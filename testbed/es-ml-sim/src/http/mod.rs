//! The HTTP side: accept loop (plain or TLS), routing, parameter checks, security, faults,
//! request log, and the Elasticsearch-shaped responses. Network I/O lives here.
//!
//! `routes` maps a method and path to a route and its parameters, `request` authorizes
//! and runs it, `handlers` holds the longer handlers, `answers` builds the responses.

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

mod answers;
mod handlers;
mod request;
mod routes;

use answers::{Ctx, Reply};
use request::Req;
use routes::{BodyRule, Route, Routing, body_rule, consumed, route};

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
