//! Shared helpers of the `k8s_*` integration tests: the shared Kubernetes test bed, one
//! namespace + one ES ML simulator + one controller per test, JobReset/Secret creation, and
//! waiting on conditions with deadlines (watches, never sleeps). Does I/O: Kubernetes API
//! calls, loopback HTTP, and (for the restart tests) spawning the operator binary.
#![allow(dead_code)]

mod objects;
mod operator;
mod pki;
pub mod proxy;

// Each test binary uses its own subset of these.
#[allow(unused_imports)]
pub use {objects::*, operator::*, pki::*};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use es_ml_sim::{Endpoint, Sim, SimConfig};
use jobreset_operator::api::{JobReset, JobResetStatus, Phase};
use jobreset_operator::controller::{self, Options};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use serde_json::{Value, json};
use testbed::TestBed;

/// Upper bound for any single wait; generous because two cores are shared by every test.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The job config the simulator needs (one `count` detector).
pub fn job_body() -> Value {
    json!({
        "analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]},
        "data_description": {"time_field": "timestamp"}
    })
}

/// The shared bed of this test binary. Panics (failing the test) when the API server cannot
/// be provisioned: the Makefile skips the `k8s_*` group as a whole in that case.
pub async fn bed() -> &'static TestBed {
    match tokio::task::spawn_blocking(TestBed::shared).await {
        Ok(Ok(bed)) => bed,
        Ok(Err(e)) => panic!("test bed: {e}"),
        Err(e) => panic!("test bed thread: {e}"),
    }
}

/// One test's world: its namespace, its simulator, its controller (aborted on drop).
pub struct World {
    pub bed: &'static TestBed,
    pub client: Client,
    pub ns: String,
    pub sim: Sim,
    pub api: Api<JobReset>,
    controller: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(h) = self.controller.take() {
            h.abort();
        }
    }
}

/// Controller options for tests: scoped to the namespace, short polls and backoffs so faults
/// are retried quickly.
pub fn options(ns: &str) -> Options {
    Options {
        namespace: Some(ns.to_owned()),
        task_poll_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(1),
        ..Options::default()
    }
}

impl World {
    /// A namespace and a simulator, no controller yet.
    pub async fn bare(prefix: &str, sim: SimConfig) -> World {
        World::on(bed().await, prefix, sim).await
    }

    /// A namespace of `bed` and a simulator.
    async fn on(bed: &'static TestBed, prefix: &str, sim: SimConfig) -> World {
        let client = bed.client().await.expect("kube client");
        let ns = bed.namespace(prefix).await.expect("namespace");
        let sim = es_ml_sim::start(sim).await.expect("simulator");
        let api = Api::namespaced(client.clone(), &ns);
        World {
            bed,
            client,
            ns,
            sim,
            api,
            controller: None,
        }
    }

    /// As `bare`, on a test bed of its own: for operators that watch every namespace, which
    /// on the shared bed would act on other tests' JobResets.
    pub async fn private(prefix: &str, sim: SimConfig) -> World {
        let bed = testbed::TestBed::start(testbed::Options {
            crds_dir: testbed::workspace_crds_dir(),
            state_dir: None,
            with_es: None,
        })
        .await
        .expect("a test bed of its own");
        // Lives as long as the test process (its children die with it).
        World::on(Box::leak(Box::new(bed)), prefix, sim).await
    }

    /// A namespace, a simulator and an in-process controller with `options(ns)`.
    pub async fn new(prefix: &str, sim: SimConfig) -> World {
        let mut w = World::bare(prefix, sim).await;
        let opts = options(&w.ns);
        w.start_controller(opts);
        w
    }

    /// Stops the in-process controller (as an outage would).
    pub fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
    }

    pub fn start_controller(&mut self, opts: Options) {
        let client = self.client.clone();
        self.controller = Some(tokio::spawn(async move {
            if let Err(e) = controller::run(client, opts).await {
                eprintln!("controller stopped: {e}");
            }
        }));
    }

    pub fn ctl(&self) -> es_ml_sim::Control {
        self.sim.control()
    }

    /// A job with data a reset clears (a model snapshot and processed records), in `state`
    /// (`closed`, `opened` or `failed`).
    pub fn job_with_data(&self, id: &str, state: &str) {
        self.ctl()
            .apply_seed(&seed(id, state, false))
            .expect("seed job");
    }

    /// An opened job whose datafeed is started and ingesting; returns once records arrived.
    pub async fn job_with_running_datafeed(&self, id: &str) {
        let ctl = self.ctl();
        ctl.apply_seed(&seed(id, "opened", true)).expect("seed job");
        let before = ctl
            .job(id)
            .map(|j| j.processed_record_count)
            .unwrap_or_default();
        let job = id.to_owned();
        let grew = ctl
            .wait_for(
                move |c| {
                    c.job(&job)
                        .is_some_and(|j| j.processed_record_count > before)
                },
                DEADLINE,
            )
            .await;
        assert!(grew, "the datafeed of {id} never ingested");
    }

    /// A JobReset from `spec` (JSON, as a user writes it). `url` defaults to the simulator.
    pub async fn create(&self, name: &str, mut spec: Value) -> JobReset {
        let es = spec
            .as_object_mut()
            .expect("spec object")
            .entry("elasticsearch")
            .or_insert_with(|| json!({}));
        if es.get("url").is_none() && es.get("elasticsearchRef").is_none() {
            es["url"] = json!(self.sim.url());
        }
        let jr = jobreset(name, spec);
        // Bounded: a request the API server never answers fails here, named, instead of
        // hanging the test until the harness kills it without a word.
        match tokio::time::timeout(DEADLINE, self.api.create(&PostParams::default(), &jr)).await {
            Ok(created) => created.expect("create JobReset"),
            Err(_) => panic!("creating JobReset {name}: no answer within {DEADLINE:?}"),
        }
    }

    /// Creates a Secret with the given keys.
    pub async fn secret(&self, name: &str, data: &[(&str, &[u8])]) {
        self.secret_in(&self.ns, name, data).await;
    }

    /// Creates a Secret with the given keys in namespace `ns`.
    pub async fn secret_in(&self, ns: &str, name: &str, data: &[(&str, &[u8])]) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let data: BTreeMap<String, ByteString> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
            .collect();
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        api.create(&PostParams::default(), &secret)
            .await
            .expect("create Secret");
    }

    /// Waits until the JobReset's status satisfies `cond`; on timeout, fails with the last
    /// status and the simulator's request log.
    pub async fn wait(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&JobResetStatus) -> bool,
    ) -> JobResetStatus {
        self.wait_for(name, what, DEADLINE, cond).await
    }

    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        deadline: Duration,
        cond: impl Fn(&JobResetStatus) -> bool,
    ) -> JobResetStatus {
        let matches =
            move |obj: Option<&JobReset>| obj.and_then(|o| o.status.as_ref()).is_some_and(&cond);
        match tokio::time::timeout(deadline, await_condition(self.api.clone(), name, matches)).await
        {
            Ok(Ok(Some(obj))) => obj.status.unwrap_or_default(),
            Ok(Ok(None)) => panic!("JobReset {name} vanished while waiting for {what}"),
            Ok(Err(e)) => panic!("watching JobReset {name}: {e}"),
            Err(_) => {
                let read = tokio::time::timeout(Duration::from_secs(10), self.api.get_opt(name));
                let now = read
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()
                    .and_then(|o| o.status);
                let log: Vec<String> = self
                    .ctl()
                    .requests()
                    .iter()
                    .rev()
                    .take(30)
                    .map(|r| format!("{} {}?{} -> {}", r.method, r.path, r.query, r.status))
                    .collect();
                panic!(
                    "JobReset {name}: no {what} within {deadline:?}; status now: {now:#?}\nlast ES requests (newest first):\n{}",
                    log.join("\n")
                )
            }
        }
    }

    /// Waits for Completed or Failed.
    pub async fn terminal(&self, name: &str) -> JobResetStatus {
        self.wait(name, "terminal phase", |s| s.phase.is_terminal())
            .await
    }

    /// Waits for Completed and checks the Ready condition says so.
    pub async fn completed(&self, name: &str) -> JobResetStatus {
        let s = self.terminal(name).await;
        assert_eq!(s.phase, Phase::Completed, "{name}: {s:#?}");
        assert_eq!(s.reason.as_deref(), Some("ResetCompleted"), "{s:#?}");
        let ready = s.condition("Ready").expect("Ready condition");
        assert_eq!(ready.status, "True", "{s:#?}");
        assert_eq!(s.observed_generation, Some(1), "{s:#?}");
        assert!(
            s.start_time.is_some() && s.completion_time.is_some(),
            "{s:#?}"
        );
        s
    }

    /// Waits for Failed with `reason`.
    pub async fn failed(&self, name: &str, reason: &str) -> JobResetStatus {
        let s = self.terminal(name).await;
        assert_eq!(s.phase, Phase::Failed, "{name}: {s:#?}");
        assert_eq!(s.reason.as_deref(), Some(reason), "{s:#?}");
        let stalled = s.condition("Stalled").expect("Stalled condition");
        assert_eq!(stalled.status, "True", "{s:#?}");
        s
    }

    /// Waits until an `events.k8s.io/v1` Event with `reason` regards the JobReset `name`;
    /// returns every Event regarding it at that point.
    pub async fn wait_event(&self, name: &str, reason: &str) -> Vec<Event> {
        use futures::StreamExt;
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        let regards =
            |e: &Event| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name);
        let found = async {
            let mut stream = std::pin::pin!(applied(api.clone()));
            while let Some(e) = stream.next().await {
                if regards(&e) && e.reason.as_deref() == Some(reason) {
                    return true;
                }
            }
            false
        };
        let ok = tokio::time::timeout(DEADLINE, found).await.unwrap_or(false);
        let all: Vec<Event> = api
            .list(&Default::default())
            .await
            .expect("list Events")
            .items
            .into_iter()
            .filter(|e| regards(e))
            .collect();
        assert!(
            ok,
            "no Event {reason} for {name} within {DEADLINE:?}; Events: {:?}",
            all.iter()
                .map(|e| (e.reason.clone(), e.note.clone()))
                .collect::<Vec<_>>()
        );
        all
    }

    /// Reset requests Elasticsearch accepted (HTTP 200) for `job`.
    pub fn accepted_resets(&self, job: &str) -> usize {
        let path = format!("/_ml/anomaly_detectors/{job}/_reset");
        self.ctl()
            .requests()
            .iter()
            .filter(|r| r.endpoint == Endpoint::JobReset && r.status == 200 && r.path == path)
            .count()
    }

    /// Asserts the job's data is gone (what a reset clears) and nothing blocks it.
    pub fn assert_job_reset(&self, job: &str) {
        let view = self.ctl().job(job).expect("job exists");
        assert_eq!(view.blocked_reason, None, "{view:?}");
        assert_eq!(view.model_snapshot_id, None, "{view:?}");
        assert_eq!(view.processed_record_count, 0, "{view:?}");
        assert_eq!(view.latest_record_timestamp, None, "{view:?}");
        assert_eq!(view.state, "closed", "{view:?}");
    }
}
