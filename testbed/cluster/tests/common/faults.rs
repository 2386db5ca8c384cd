//! Helpers of the fault-API tests: clients with a chosen User-Agent, ConfigMaps, condition
//! waits with a deadline, a watcher's delivered names, and a `testbed up` bed of one's own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};
use serde_json::json;
use testbed::TestBed;
use tokio::sync::mpsc;

use super::DEADLINE;

/// A client of `bed` naming itself `ua` (if given), with or without kube's retries of
/// 429/503/504.
pub async fn client(bed: &TestBed, ua: Option<&'static str>, retry: bool) -> Client {
    let kc = Kubeconfig::read_from(bed.kubeconfig_path()).unwrap();
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    if let Some(ua) = ua {
        cfg.headers.push((
            hyper::header::USER_AGENT,
            hyper::header::HeaderValue::from_static(ua),
        ));
    }
    cfg.default_retry = retry;
    Client::try_from(cfg).unwrap()
}

pub fn configmap(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..Default::default()
    }
}

pub async fn value_of(api: &Api<ConfigMap>, name: &str) -> String {
    let cm = api.get(name).await.unwrap();
    cm.data
        .unwrap_or_default()
        .get("k")
        .cloned()
        .unwrap_or_default()
}

pub fn set_value(value: &str) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"data": {"k": value}}))
}

/// Polls `cond` until it holds; panics with `what` at the deadline.
pub async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Names of the objects a watcher stream delivers, "error" for its errors.
pub fn watch_names(api: Api<ConfigMap>) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = events.next().await {
            let name = match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    o.metadata.name.unwrap_or_default()
                }
                Ok(_) => continue,
                Err(_) => "error".to_string(),
            };
            if tx.send(name).is_err() {
                return;
            }
        }
    });
    rx
}

pub async fn wait_for_name(rx: &mut mpsc::UnboundedReceiver<String>, want: &str) {
    let seen = tokio::time::timeout(DEADLINE, async {
        while let Some(name) = rx.recv().await {
            if name == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "the watcher never delivered {want}");
}

pub fn watch_requests(bed: &TestBed, ns: &str) -> usize {
    bed.requests()
        .iter()
        .filter(|r| r.verb == "watch" && r.namespace.as_deref() == Some(ns))
        .count()
}

/// A `testbed up` bed in a state directory of its own, brought down on drop.
pub struct UpBed {
    pub dir: std::path::PathBuf,
}

impl UpBed {
    pub fn up() -> UpBed {
        let dir = std::env::temp_dir().join(format!("testbed-faults-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let up = std::process::Command::new(env!("CARGO_BIN_EXE_testbed"))
            .args(["up", "--no-es", "--state-dir"])
            .arg(&dir)
            .arg("--crds")
            .arg(super::fixtures().join("crds"))
            .output()
            .unwrap();
        let bed = UpBed { dir };
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        bed
    }

    pub fn apiserver_pid(&self) -> String {
        std::fs::read_to_string(self.dir.join("apiserver.pid")).unwrap()
    }
}

impl Drop for UpBed {
    fn drop(&mut self) {
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_testbed"))
            .args(["down", "--state-dir"])
            .arg(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
