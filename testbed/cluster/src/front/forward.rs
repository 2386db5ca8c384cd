//! Forwards a request to the apiserver and relays its answer: bodies of watches streamed chunk
//! by chunk, others passed through (or rewritten whole when the core translation asks). HTTP I/O.

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};

use super::{Body, BoxError, status};

/// Rewrites a (JSON) answer body.
pub type Rewrite = fn(&[u8]) -> Vec<u8>;

/// The apiserver as the front reaches it (admin identity).
pub struct Upstream {
    pub http: reqwest::Client,
    pub base: String,
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
];

/// Sends `method path_and_query` with the client's headers (minus hop-by-hop ones and
/// `Accept-Encoding`, so bodies arrive plain for rewriting).
pub async fn send(
    up: &Upstream,
    method: Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<reqwest::Response, Response<Body>> {
    let mut out = HeaderMap::new();
    for (k, v) in headers {
        let name = k.as_str();
        if HOP_BY_HOP.contains(&name) || name == "content-length" || name == "accept-encoding" {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    up.http
        .request(method, format!("{}{}", up.base, path_and_query))
        .headers(out)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!("the test bed's apiserver did not answer: {e}"),
            )
        })
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, keep_length: bool) {
    for (k, v) in from {
        let name = k.as_str();
        if HOP_BY_HOP.contains(&name) || (!keep_length && name == "content-length") {
            continue;
        }
        to.append(k.clone(), v.clone());
    }
}

/// Relays the apiserver's answer. With `rewrite`, JSON bodies go through it (watch streams
/// line by line, since each event is one line).
pub async fn relay(
    resp: reqwest::Response,
    rewrite: Option<Rewrite>,
    streaming: bool,
) -> Response<Body> {
    let code = resp.status();
    let mut builder = Response::builder().status(code);
    let upstream_headers = resp.headers().clone();
    if let Some(h) = builder.headers_mut() {
        copy_headers(&upstream_headers, h, rewrite.is_none());
    }
    let body: Body = match (rewrite, streaming) {
        (None, _) => {
            let stream = resp
                .bytes_stream()
                .map(|r| r.map(Frame::data).map_err(|e| Box::new(e) as BoxError));
            BodyExt::boxed(StreamBody::new(stream))
        }
        (Some(f), true) => lines(resp, f),
        (Some(f), false) => match resp.bytes().await {
            Ok(b) => full(Bytes::from(f(&b))),
            Err(e) => {
                return status(
                    StatusCode::BAD_GATEWAY,
                    "InternalError",
                    &format!("reading the apiserver's answer: {e}"),
                );
            }
        },
    };
    match builder.body(body) {
        Ok(r) => r,
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &format!("building the answer: {e}"),
        ),
    }
}

/// A streamed body rewritten line by line (each watch event is one line): `f` gets every
/// complete run of lines as it arrives.
pub fn lines(
    resp: reqwest::Response,
    mut f: impl FnMut(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> Body {
    let mut pending: Vec<u8> = Vec::new();
    let stream = resp.bytes_stream().filter_map(move |r| {
        let out = match r {
            Ok(chunk) => {
                pending.extend_from_slice(&chunk);
                match pending.iter().rposition(|b| *b == b'\n') {
                    Some(pos) => {
                        let rest = pending.split_off(pos + 1);
                        let lines = std::mem::replace(&mut pending, rest);
                        Some(Ok(Frame::data(Bytes::from(f(&lines)))))
                    }
                    None => None,
                }
            }
            Err(e) => Some(Err(Box::new(e) as BoxError)),
        };
        futures::future::ready(out)
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// Relays a streamed answer (a watch) through `lines`, headers as the apiserver sent them.
pub fn relay_lines(
    resp: reqwest::Response,
    f: impl FnMut(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> Response<Body> {
    let code = resp.status();
    let headers = resp.headers().clone();
    let mut r = Response::new(lines(resp, f));
    *r.status_mut() = code;
    copy_headers(&headers, r.headers_mut(), false);
    r
}

pub fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// A JSON answer built by the front itself.
pub fn json(code: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(value.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Forwards unchanged.
pub async fn pass(
    up: &Upstream,
    method: Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    match send(up, method, path_and_query, headers, body).await {
        Ok(resp) => relay(resp, None, true).await,
        Err(r) => r,
    }
}

/// The whole answer, for callers that act on it before passing it on.
pub async fn buffered(
    resp: reqwest::Response,
) -> Result<(StatusCode, HeaderMap, Bytes), Response<Body>> {
    let code = resp.status();
    let headers = resp.headers().clone();
    match resp.bytes().await {
        Ok(b) => Ok((code, headers, b)),
        Err(e) => Err(status(
            StatusCode::BAD_GATEWAY,
            "InternalError",
            &format!("reading the apiserver's answer: {e}"),
        )),
    }
}
