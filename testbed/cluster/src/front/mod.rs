//! The front: an HTTPS server on loopback in front of the apiserver. It serves core/v1
//! (translated onto private CRDs), the `/api` and `/apis` discovery, OpenAPI v2/v3 built from
//! the CRDs, records every resource request, applies the fault rules, relays watches so they
//! can be dropped, answers `/testbed/` control requests, and forwards everything else.
//! Network I/O.

mod control;
pub mod core;
mod core_events;
mod discovery;
mod event_convert;
pub mod faultset;
pub mod forward;
pub mod inject;
pub mod namespaces;
mod openapi;
mod protobuf;
pub mod reqinfo;
pub mod rules;
pub mod watches;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use forward::Upstream;
use inject::{Conn, Injector};
use reqinfo::Recorder;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub struct Ctx {
    pub up: Upstream,
    pub recorder: Arc<Recorder>,
    /// false with a full kube-apiserver: then the front only records and forwards.
    pub translate: bool,
    pub addr: SocketAddr,
    pub injector: Arc<Injector>,
    pub namespaces: namespaces::Namespaces,
}

/// A Kubernetes `Status` answer.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    status_with_details(code, reason, message, json!({}))
}

/// A Kubernetes `Status` answer naming the object (`details`).
fn status_with_details(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Value,
) -> Response<Body> {
    forward::json(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code.as_u16(),
        }),
    )
}

pub fn not_found() -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// Accepts connections until the runtime is dropped.
pub async fn serve(listener: TcpListener, tls: rustls::ServerConfig, ctx: Arc<Ctx>) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    loop {
        let sock = match listener.accept().await {
            Ok((sock, _)) => sock,
            Err(e) => {
                tracing::warn!(error = %e, "front: accept failed");
                // Back off instead of spinning while e.g. file descriptors run out.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Without it every keep-alive request waits ~40 ms for delayed ACKs.
        let _ = sock.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(sock).await else {
                return;
            };
            let conn = Conn::default();
            let for_svc = conn.clone();
            let svc = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                let conn = for_svc.clone();
                async move { Ok::<_, Infallible>(handle(ctx, req, conn).await) }
            });
            // A fault closing the connection drops it (and the request in flight) unanswered.
            tokio::select! {
                _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc) => {}
                _ = conn.closed() => {}
            }
        });
    }
}

/// The apiserver's CRDs (JSON), for discovery and OpenAPI.
pub async fn list_crds(up: &Upstream) -> Result<Vec<Value>, Response<Body>> {
    let url = format!(
        "{}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        up.base
    );
    let fail = |e: String| {
        status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &format!("listing CRDs: {e}"),
        )
    };
    let resp = up
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let list: Value = resp.json().await.map_err(|e| fail(e.to_string()))?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>, conn: Conn) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let path_q = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let user_agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let control = path.strip_prefix("/testbed/").map(str::to_string);
    let info = match control {
        Some(_) => None,
        None => reqinfo::parse(req.method().as_str(), &path, &query, &user_agent),
    };
    if let Some(i) = &info {
        ctx.recorder.record(i);
    }
    let injector = &ctx.injector;
    if control.is_none() && injector.restarting() {
        return conn.close().await;
    }
    let fired = info.as_ref().and_then(|i| injector.rules.check(i));
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("reading the request body: {e}"),
            );
        }
    };
    if let Some(rest) = control {
        return control::handle(&ctx, &parts.method, &rest, body).await;
    }
    let watch = info.as_ref().filter(|i| i.verb == "watch").cloned();
    let fired_info = fired.as_ref().and(info.clone());
    let forward = async {
        let resp = route(&ctx, info, parts, &path, &path_q, &query, body).await;
        match watch {
            Some(request) => ctx.injector.watches.wrap(request, resp),
            None => resp,
        }
    };
    match (fired, fired_info) {
        (Some(fired), Some(info)) => inject::apply(injector, &conn, fired, &info, forward).await,
        _ => forward.await,
    }
}

/// The normal handling of a request: served by the front or forwarded.
async fn route(
    ctx: &Ctx,
    info: Option<reqinfo::RecordedRequest>,
    parts: hyper::http::request::Parts,
    path: &str,
    path_q: &str,
    query: &str,
    body: Bytes,
) -> Response<Body> {
    if !ctx.translate {
        return forward::pass(&ctx.up, parts.method, path_q, &parts.headers, body).await;
    }
    if let Some(i) = &info
        && let Some(refused) = namespaces::admit(ctx, i).await
    {
        return refused;
    }
    let _writing = info
        .as_ref()
        .filter(|i| namespaces::writes_namespaces(i))
        .map(|_| ctx.namespaces.writing());
    dispatch(ctx, info, parts, path, path_q, query, body).await
}

/// What the front serves itself, and what it forwards.
async fn dispatch(
    ctx: &Ctx,
    info: Option<reqinfo::RecordedRequest>,
    parts: hyper::http::request::Parts,
    path: &str,
    path_q: &str,
    query: &str,
    body: Bytes,
) -> Response<Body> {
    match path {
        "/api" | "/api/" => discovery::api(ctx),
        "/api/v1" | "/api/v1/" => discovery::core_v1(),
        "/apis" | "/apis/" => discovery::apis(ctx).await,
        "/openapi/v2" => openapi::v2(ctx, &parts.headers).await,
        "/openapi/v3" | "/openapi/v3/" => openapi::index(ctx).await,
        // Its informer-sync check never passes without kube-apiserver; the rest is meaningful.
        "/readyz" if !query.contains("exclude=") => {
            forward::pass(
                &ctx.up,
                parts.method,
                "/readyz?exclude=informer-sync",
                &parts.headers,
                body,
            )
            .await
        }
        p if p.starts_with("/openapi/v3/") => {
            openapi::document(ctx, p, parts.method, path_q, &parts.headers, body).await
        }
        p if p.starts_with("/api/v1/") => {
            core::handle(ctx, info, parts.method, query, &parts.headers, body).await
        }
        p if p.starts_with("/api/") => not_found(),
        _ => forward::pass(&ctx.up, parts.method, path_q, &parts.headers, body).await,
    }
}
