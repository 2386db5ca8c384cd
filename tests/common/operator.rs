//! The operator binary run as users run it, its lease, and HTTP probes of its endpoints. Spawns
//! processes, does Kubernetes and loopback HTTP I/O.

use super::*;

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
