//! Applies what the fault rules decided to the request in hand: a `Status` answer (with
//! `Retry-After` for a 429), a forwarded request whose answer is thrown away, a delay, a hang,
//! a closed connection; and holds the switches the rest of the bed flips (the rules, the open
//! watches, the apiserver-restart window). Network I/O: forwards, sleeps, closes connections.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};

use super::faultset::{FaultSet, Fired};
use super::reqinfo::RecordedRequest;
use super::rules::FaultAction;
use super::watches::Watches;
use super::{Body, status_with_details};
use crate::error::BedError;

/// A hung request is answered (by closing its connection) after this at the latest.
const HANG_MAX: Duration = Duration::from_secs(600);

/// Where the answer to an apiserver restart goes: the new apiserver's pid once it is ready.
pub type RestartReply = oneshot::Sender<Result<u32, BedError>>;

/// The bed's fault switches, shared by the front and the `TestBed` handle.
pub struct Injector {
    pub rules: FaultSet,
    pub watches: Arc<Watches>,
    restarting: AtomicBool,
    /// Wakes hung requests when rules are removed.
    release: Notify,
    restarter: mpsc::Sender<RestartReply>,
}

impl Injector {
    /// `restarter` reaches the thread that owns the apiserver process.
    pub fn new(restarter: mpsc::Sender<RestartReply>) -> Self {
        Injector {
            rules: FaultSet::default(),
            watches: Arc::default(),
            restarting: AtomicBool::new(false),
            release: Notify::new(),
            restarter,
        }
    }

    /// While set, every API request's connection is closed unanswered (the apiserver is down).
    pub fn restarting(&self) -> bool {
        self.restarting.load(Ordering::Acquire)
    }

    pub fn set_restarting(&self, on: bool) {
        self.restarting.store(on, Ordering::Release);
    }

    pub fn remove(&self, id: u64) -> bool {
        let removed = self.rules.remove(id);
        self.release.notify_waiters();
        removed
    }

    /// Removes every rule (hung requests are released by closing their connection).
    pub fn clear(&self) -> usize {
        let n = self.rules.clear();
        self.release.notify_waiters();
        n
    }

    /// Resolves once rule `id` is removed (or cleared).
    async fn removed(&self, id: u64) {
        loop {
            let released = self.release.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.rules.get(id).is_none() {
                return;
            }
            released.await;
        }
    }

    /// Stops the apiserver, starts it again with the same flags and data, waits until it is
    /// ready; returns its new pid.
    pub async fn restart_apiserver(&self) -> Result<u32, BedError> {
        let gone = || BedError::Runtime("the test bed is stopping".into());
        let (tx, rx) = oneshot::channel();
        self.restarter.send(tx).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// The client connection of the request being handled, which the front can close.
#[derive(Clone, Default)]
pub struct Conn(Arc<Notify>);

impl Conn {
    /// Resolves when `close` is called: the connection's task then drops the connection.
    pub async fn closed(&self) {
        self.0.notified().await;
    }

    /// Closes the connection without answering; never returns.
    pub async fn close(&self) -> Response<Body> {
        self.0.notify_one();
        std::future::pending().await
    }
}

/// What the apiserver says for `code` (reason, message).
fn reason_and_message(code: u16, info: &RecordedRequest) -> (&'static str, String) {
    let object = match (info.group.as_str(), &info.name) {
        ("", Some(n)) => format!("{} \"{n}\"", info.resource),
        (g, Some(n)) => format!("{}.{g} \"{n}\"", info.resource),
        (_, None) => info.resource.clone(),
    };
    match code {
        400 => ("BadRequest", "the test bed refused this request".into()),
        401 => ("Unauthorized", "Unauthorized".into()),
        403 => (
            "Forbidden",
            format!("{object} is forbidden: injected by the test bed"),
        ),
        404 => ("NotFound", format!("{object} not found")),
        409 => (
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {object}: the object has been modified; please apply your changes to the latest version and try again"
            ),
        ),
        410 => ("Expired", "too old resource version".into()),
        422 => ("Invalid", format!("{object} is invalid")),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.".into(),
        ),
        500 => (
            "InternalError",
            "Internal error occurred: injected by the test bed".into(),
        ),
        503 => (
            "ServiceUnavailable",
            "The server is currently unable to handle the request".into(),
        ),
        504 => (
            "Timeout",
            "The server was unable to return a response in the time allotted, but may still be processing the request".into(),
        ),
        _ => ("Unknown", format!("HTTP {code} injected by the test bed")),
    }
}

/// A Kubernetes `Status` answer for `info`, as the apiserver words it unless told otherwise.
pub fn fault_status(
    code: u16,
    reason: Option<&str>,
    message: Option<&str>,
    retry_after_secs: Option<u32>,
    info: &RecordedRequest,
) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (default_reason, default_message) = reason_and_message(status.as_u16(), info);
    let mut details = json!({"group": info.group, "kind": info.resource});
    if let Some(name) = &info.name {
        details["name"] = json!(name);
    }
    if let Some(secs) = retry_after_secs {
        details["retryAfterSeconds"] = json!(secs);
    }
    let mut resp = status_with_details(
        status,
        reason.unwrap_or(default_reason),
        message.unwrap_or(&default_message),
        details,
    );
    if let Some(secs) = retry_after_secs {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Handles a request a rule fired on. `forward` is the normal handling (not started unless
/// the action forwards).
pub async fn apply(
    inj: &Injector,
    conn: &Conn,
    fired: Fired,
    info: &RecordedRequest,
    forward: impl Future<Output = Response<Body>>,
) -> Response<Body> {
    tracing::debug!(rule = fired.rule, action = ?fired.action, verb = %info.verb, resource = %info.resource, "front: fault");
    match fired.action {
        FaultAction::Respond {
            status,
            reason,
            message,
            retry_after_secs,
        } => fault_status(
            status,
            reason.as_deref(),
            message.as_deref(),
            retry_after_secs,
            info,
        ),
        FaultAction::Delay { millis } => {
            let _ =
                tokio::time::timeout(Duration::from_millis(millis), inj.removed(fired.rule)).await;
            forward.await
        }
        FaultAction::LostAnswer { then_status } => {
            let resp = forward.await;
            // A watch answer never ends: its headers are enough.
            if info.verb != "watch" {
                let _ = resp.into_body().collect().await;
            }
            match then_status {
                Some(code) => fault_status(code, None, None, None, info),
                None => conn.close().await,
            }
        }
        FaultAction::DropConnection => conn.close().await,
        FaultAction::Hang => {
            let _ = tokio::time::timeout(HANG_MAX, inj.removed(fired.rule)).await;
            conn.close().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statuses_read_like_the_apiservers() {
        let info = crate::front::reqinfo::parse(
            "PUT",
            "/apis/ml.jobreset.io/v1alpha1/namespaces/a/jobresets/x/status",
            "",
            "",
        )
        .unwrap();
        let resp = fault_status(409, None, None, None, &info);
        assert_eq!(resp.status(), 409);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Conflict");
        assert_eq!(v["details"]["name"], "x");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("Operation cannot be fulfilled on jobresets.ml.jobreset.io \"x\"")
        );
        let resp = fault_status(429, None, Some("slow down"), Some(3), &info);
        assert_eq!(resp.headers()[RETRY_AFTER], "3");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (v["reason"].as_str(), v["message"].as_str()),
            (Some("TooManyRequests"), Some("slow down"))
        );
        assert_eq!(v["details"]["retryAfterSeconds"], 3);
        assert_eq!(v["code"], 429);
    }
}
