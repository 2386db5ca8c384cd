//! The release operator as a child process scoped to one namespace, and the sampler of its
//! memory and CPU. Spawns a process and reads /proc.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use jobreset_operator::api::JobReset;
use kube::Api;

use crate::scenario::{BoxError, Env};
/// The release operator, scoped to one namespace, with its probes on a free port.
pub struct Operator {
    pub child: tokio::process::Child,
    pub pid: u32,
    port: u16,
}

impl Operator {
    pub fn spawn(env: &Env, ns: &str, concurrency: u16) -> Result<Operator, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(&env.operator)
            .args(["run", "--namespace", ns, "--concurrency"])
            .arg(concurrency.to_string())
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{port}"))
            // For experiments with other settings; `make bench` measures the defaults.
            .args(
                std::env::var("BENCH_OPERATOR_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .env("KUBECONFIG", env.bed.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        Ok(Operator { child, pid, port })
    }

    /// Waits until the operator reports ready (its cache listed).
    pub async fn ready(&self) -> Result<(), BoxError> {
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("the operator did not become ready within 60 s".into())
    }
}

/// Times one GET of a JobReset at a time, every 50 ms, until stopped: the API server's
/// latency for a single request while the operator loads it.
pub struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<f64>>,
}

impl Sampler {
    pub fn start(api: Api<JobReset>, name: String) -> Sampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ms = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = &mut stopped => return ms,
                    _ = tick.tick() => {}
                }
                let t = Instant::now();
                if api.get_opt(&name).await.is_ok() {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        });
        Sampler { stop, task }
    }

    pub async fn stop(self) -> Vec<f64> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
