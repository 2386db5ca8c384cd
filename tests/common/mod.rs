//! Shared helpers of the `k8s_*` integration tests: the shared Kubernetes test bed, one
//! namespace + one ES ML simulator + one controller per test, JobReset/Secret creation, and
//! waiting on conditions with deadlines (watches, never sleeps). Does I/O: Kubernetes API
//! calls, loopback HTTP, and (for the restart tests) spawning the operator binary.
#![allow(dead_code)]

pub mod proxy;

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
        self.api
            .create(&PostParams::default(), &jr)
            .await
            .expect("create JobReset")
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
                let now = self
                    .api
                    .get_opt(name)
                    .await
                    .ok()
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
        use kube::runtime::{WatchStreamExt, watcher};
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        let regards =
            |e: &Event| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name);
        let found = async {
            let mut stream =
                std::pin::pin!(watcher(api.clone(), watcher::Config::default()).applied_objects());
            while let Some(item) = stream.next().await {
                if let Ok(e) = item
                    && regards(&e)
                    && e.reason.as_deref() == Some(reason)
                {
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

/// A seed with one job (snapshot + 1234 records) and optionally its started datafeed.
pub fn seed(id: &str, state: &str, datafeed: bool) -> es_ml_sim::Seed {
    use es_ml_sim::config::{SeedDatafeed, SeedJob};
    es_ml_sim::Seed {
        jobs: vec![SeedJob {
            job_id: id.to_owned(),
            config: Some(job_body()),
            state: Some(state.to_owned()),
            model_snapshot_id: Some("1700000000".to_owned()),
            processed_record_count: Some(1234),
            user_annotations: 0,
            auto_annotations: 0,
        }],
        datafeeds: if datafeed {
            vec![SeedDatafeed {
                datafeed_id: format!("datafeed-{id}"),
                job_id: id.to_owned(),
                started: true,
            }]
        } else {
            vec![]
        },
    }
}

/// A typed JobReset from a JSON spec.
pub fn jobreset(name: &str, spec: Value) -> JobReset {
    serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobReset",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("JobReset from JSON")
}

/// Watches the namespace's JobResets and records the largest number seen in `phase` at the
/// same time (every update is an event, so no overlap can slip between two looks).
pub fn track_max_in_phase(
    api: Api<JobReset>,
    phase: Phase,
) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let max = Arc::new(AtomicUsize::new(0));
    let seen = max.clone();
    let handle = tokio::spawn(async move {
        let mut phases: BTreeMap<String, Phase> = BTreeMap::new();
        let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
        while let Some(item) = stream.next().await {
            let Ok(obj) = item else { continue };
            let name = obj.metadata.name.clone().unwrap_or_default();
            phases.insert(name, obj.status.map(|s| s.phase).unwrap_or_default());
            let n = phases.values().filter(|p| **p == phase).count();
            seen.fetch_max(n, Ordering::SeqCst);
        }
    });
    (max, handle)
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub server: es_ml_sim::TlsPem,
}

pub fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa,
        KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "jobreset test CA");
    ca_params.distinguished_name = dn;
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    Pki {
        ca_pem: ca.pem(),
        server: es_ml_sim::TlsPem {
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        },
    }
}

/// Simulator security. Users: `resetter` (manage_ml + monitor), `minimal` (exactly what the
/// CRD documents: manage_ml + cluster:monitor/task/get), `elastic` (superuser), `closer` (may
/// read and close but not reset). An API key `k-id` with the `resetter` role.
pub fn security() -> es_ml_sim::Security {
    let mut s = es_ml_sim::Security::default();
    let user = |u: &str, p: &str, r: &str| es_ml_sim::User {
        username: u.into(),
        password: p.into(),
        roles: vec![r.into()],
    };
    s.users.push(user("resetter", "resetter-pw-1", "resetter"));
    s.users.push(user("minimal", "minimal-pw-1", "minimal"));
    s.users.push(user("elastic", "elastic-pw-1", "superuser"));
    s.users.push(user("closer", "closer-pw-1", "closer"));
    s.users
        .push(user("mladmin", "mladmin-pw-1", "machine_learning_admin"));
    s.api_keys.push(es_ml_sim::ApiKey {
        id: "k-id".into(),
        key: "k-secret-1".into(),
        roles: vec!["resetter".into()],
    });
    s.roles.insert(
        "resetter".into(),
        vec!["manage_ml".into(), "monitor".into()],
    );
    s.roles.insert(
        "minimal".into(),
        vec!["manage_ml".into(), "cluster:monitor/task/get".into()],
    );
    s.roles.insert(
        "closer".into(),
        vec![
            "monitor".into(),
            "cluster:admin/xpack/ml/job/close".into(),
            "cluster:admin/xpack/ml/datafeed/stop".into(),
        ],
    );
    s
}

/// The operator binary, run as users run it (`jobreset-operator run`), with its output kept
/// in a file for failure messages.
pub struct Operator {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl Operator {
    pub async fn spawn(bed: &TestBed, ns: &str, crash_at: Option<&str>, tag: &str) -> Operator {
        Operator::start(bed, ns, crash_at, tag, &[], &[]).await
    }

    /// The operator with extra `run` flags; `tag` names its log file.
    pub async fn spawn_with(bed: &TestBed, ns: &str, tag: &str, extra: &[&str]) -> Operator {
        Operator::start(bed, ns, None, tag, extra, &[]).await
    }

    /// The operator with extra environment variables.
    pub async fn spawn_env(bed: &TestBed, ns: &str, tag: &str, env: &[(&str, &str)]) -> Operator {
        Operator::start(bed, ns, None, tag, &[], env).await
    }

    /// The operator watching every namespace (only on a bed of the test's own: see
    /// `World::private`); `ns` only names the log file and the Lease identity.
    pub async fn spawn_cluster_wide(
        bed: &TestBed,
        ns: &str,
        tag: &str,
        extra: &[&str],
    ) -> Operator {
        Operator::start(bed, "", None, &format!("{ns}-{tag}"), extra, &[]).await
    }

    async fn start(
        bed: &TestBed,
        ns: &str,
        crash_at: Option<&str>,
        tag: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let log = bed.state_dir().join(format!("operator-{ns}-{tag}.log"));
        let scope: &[&str] = if ns.is_empty() {
            &[]
        } else {
            &["--namespace", ns]
        };
        let out = std::fs::File::create(&log).expect("operator log file");
        let err = out.try_clone().expect("operator log file");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobreset-operator"));
        // Test defaults: short polls and backoffs, unless the test gives its own.
        let mut defaults = vec![];
        for (flag, value) in [
            ("--task-poll-timeout", "2s"),
            ("--backoff-base", "100ms"),
            ("--backoff-cap", "1s"),
        ] {
            if !extra.contains(&flag) {
                defaults.extend([flag, value]);
            }
        }
        cmd.arg("run")
            .args(scope)
            .args(&defaults)
            .args(extra)
            .env("KUBECONFIG", bed.kubeconfig_path())
            .env("RUST_LOG", "info")
            .env_remove(jobreset_operator::run::crash::ENV)
            .envs(env.iter().copied())
            // The Lease identity, when --leader-elect is given.
            .env("POD_NAME", format!("{ns}-{tag}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        if let Some(point) = crash_at {
            cmd.env(jobreset_operator::run::crash::ENV, point);
        }
        let child = cmd.spawn().expect("spawn jobreset-operator");
        Operator { child, log }
    }

    /// Waits for the process to end on its own (a crash point); returns its exit status.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("waiting for the operator: {e}"),
            Err(_) => panic!(
                "the operator did not stop within {DEADLINE:?}; log:\n{}",
                self.log_text()
            ),
        }
    }

    /// SIGKILL, then reap.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the operator");
    }

    /// SIGTERM, as a rolling update or `kubectl delete pod` sends it; then waits for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the operator is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        self.exited().await
    }

    /// Waits (with the usual deadline) until the log contains `needle`.
    pub async fn wait_log(&self, needle: &str) {
        let found = tokio::time::timeout(DEADLINE, async {
            // A log file has no change notification worth the dependency: look often.
            while !self.log_text().contains(needle) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "the operator did not log {needle:?} within {DEADLINE:?}; log:\n{}",
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The holder of a Lease in the test's namespace, once it exists.
pub async fn lease_holder(w: &World, name: &str) -> Option<String> {
    use k8s_openapi::api::coordination::v1::Lease;
    let api: Api<Lease> = Api::namespaced(w.client.clone(), &w.ns);
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// Waits (watching the Lease, with the usual deadline) until `cond` holds for it.
pub async fn wait_lease(
    w: &World,
    name: &str,
    what: &str,
    cond: impl Fn(&k8s_openapi::api::coordination::v1::Lease) -> bool,
) -> k8s_openapi::api::coordination::v1::Lease {
    use k8s_openapi::api::coordination::v1::Lease;
    let api: Api<Lease> = Api::namespaced(w.client.clone(), &w.ns);
    let found = tokio::time::timeout(
        DEADLINE,
        await_condition(api, name, move |l: Option<&Lease>| l.is_some_and(&cond)),
    )
    .await;
    match found {
        Ok(Ok(Some(lease))) => lease,
        other => panic!("Lease {name}: not {what} within {DEADLINE:?}: {other:?}"),
    }
}

/// Waits until the Lease has been renewed at least once by its holder.
pub async fn wait_lease_renewed(w: &World, name: &str) {
    wait_lease(w, name, "renewed", |l| {
        let spec = l.spec.as_ref();
        let acquired = spec.and_then(|s| s.acquire_time.as_ref()).map(|t| t.0);
        let renewed = spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
        matches!((acquired, renewed), (Some(a), Some(r)) if r > a)
    })
    .await;
}

/// `GET <path>` over a plain TCP connection; returns the status line and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    try_http_get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

/// `http_get` that reports a refused or broken connection instead of failing the test.
pub async fn try_http_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> std::io::Result<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    ))
}

/// Waits (with the usual deadline) until `GET path` answers 200; returns the body. A
/// process's socket has no change notification: look often.
pub async fn wait_http_ok(addr: std::net::SocketAddr, path: &str) -> String {
    let found = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok((status, body)) = try_http_get(addr, path).await
                && status.contains(" 200 ")
            {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("GET {path} on {addr} did not answer 200 within {DEADLINE:?}"))
}

/// A free loopback port for a `--metrics-addr`.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}
