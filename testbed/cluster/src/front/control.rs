//! The front's `/testbed/` endpoints, for attached beds and for debugging with curl or
//! `kubectl get|create|delete --raw`: the request record, fault rules, open watches and
//! dropping them, restarting the apiserver. JSON (or YAML) in, JSON out. HTTP handling.

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::rules::{FaultRule, RequestMatch};
use super::watches::WatchEnd;
use super::{Body, Ctx, forward, not_found, status};

/// Body of `POST /testbed/watches/drop`; an empty body drops every watch cleanly.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DropWatches {
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<RequestMatch>,
    pub end: WatchEnd,
}

fn ok(value: impl serde::Serialize) -> Response<Body> {
    ok_with(StatusCode::OK, value)
}

fn ok_with(code: StatusCode, value: impl serde::Serialize) -> Response<Body> {
    match serde_json::to_value(value) {
        Ok(v) => forward::json(code, &v),
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &format!("encoding the answer: {e}"),
        ),
    }
}

fn bad_request(message: String) -> Response<Body> {
    status(StatusCode::BAD_REQUEST, "BadRequest", &message)
}

/// JSON or YAML; an empty body is the type's default when it has one.
fn parse<T: DeserializeOwned>(body: &Bytes, empty: Option<T>) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(v) = empty
    {
        return Ok(v);
    }
    serde_yaml_ng::from_slice(body).map_err(|e| format!("reading the body: {e}"))
}

fn rule_id(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("{s:?} is not a rule id"))
}

/// Answers `method /testbed/<rest>`.
pub async fn handle(ctx: &Ctx, method: &Method, rest: &str, body: Bytes) -> Response<Body> {
    match route(ctx, method, rest, body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn route(
    ctx: &Ctx,
    method: &Method,
    rest: &str,
    body: Bytes,
) -> Result<Response<Body>, Response<Body>> {
    let inj = &ctx.injector;
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let not_allowed = || {
        status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("{method} is not allowed on /testbed/{rest}"),
        )
    };
    Ok(match (parts.as_slice(), method) {
        (["requests"], &Method::GET) => ok(ctx.recorder.snapshot()),
        (["faults"], &Method::GET) => ok(inj.rules.list()),
        (["faults"], &Method::POST) => {
            let rule: FaultRule = parse(&body, None).map_err(bad_request)?;
            ok_with(StatusCode::CREATED, inj.rules.add(rule))
        }
        (["faults"], &Method::DELETE) => ok(json!({"removed": inj.clear()})),
        (["faults", id], &Method::GET) => match inj.rules.get(rule_id(id).map_err(bad_request)?) {
            Some(state) => ok(state),
            None => not_found(),
        },
        (["faults", id], &Method::DELETE) => {
            if inj.remove(rule_id(id).map_err(bad_request)?) {
                ok(json!({"removed": 1}))
            } else {
                not_found()
            }
        }
        (["watches"], &Method::GET) => ok(inj.watches.list()),
        (["watches", "drop"], &Method::POST) => {
            let req: DropWatches =
                parse(&body, Some(DropWatches::default())).map_err(bad_request)?;
            let n = inj.watches.drop_matching(req.matching.as_ref(), req.end);
            ok(json!({"dropped": n}))
        }
        (["apiserver", "restart"], &Method::POST) => match inj.restart_apiserver().await {
            Ok(pid) => ok(json!({"pid": pid})),
            Err(e) => status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("restarting the apiserver: {e}"),
            ),
        },
        (
            ["requests"]
            | ["faults"]
            | ["faults", _]
            | ["watches"]
            | ["watches", "drop"]
            | ["apiserver", "restart"],
            _,
        ) => not_allowed(),
        _ => not_found(),
    })
}
