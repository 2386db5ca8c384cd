//! Starts etcd and the API server on free loopback ports with the bed's PKI and waits (polling
//! with a deadline) until the apiserver reports ready; restarts the apiserver alone with the
//! same flags, port and etcd. Spawns processes and does HTTP.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::binaries::{Binaries, Flavor};
use crate::error::BedError;
use crate::pki::PkiFiles;
use crate::procs::{self, Proc};

const READY_DEADLINE: Duration = Duration::from_secs(60);

const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct ControlPlane {
    pub etcd: Proc,
    /// Replaced by `restart_apiserver`.
    apiserver: Mutex<Proc>,
    /// The readiness check (path and query) for this flavour.
    ready_path: &'static str,
    /// `https://127.0.0.1:PORT` of the apiserver itself.
    pub url: String,
}

impl ControlPlane {
    fn apiserver(&self) -> MutexGuard<'_, Proc> {
        self.apiserver.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn apiserver_pid(&self) -> u32 {
        self.apiserver().pid
    }

    /// Stops the apiserver, then etcd.
    pub fn stop(&self) {
        self.apiserver().stop(STOP_GRACE);
        self.etcd.stop(STOP_GRACE);
    }

    /// Stops the apiserver (SIGTERM, SIGKILL after 5 s), starts it again with the same
    /// command line (port, certificates, etcd) and waits until it is ready; returns its pid.
    /// Call it from the thread that spawned the bed's processes (parent-death signal).
    pub async fn restart_apiserver(&self, http: &reqwest::Client) -> Result<u32, BedError> {
        let (pid, old) = {
            let mut current = self.apiserver();
            current.stop(STOP_GRACE);
            let next = current.respawn()?;
            (next.pid, std::mem::replace(&mut *current, next))
        };
        drop(old);
        self.wait_ready(http).await?;
        Ok(pid)
    }

    /// Polls the readiness check until it answers 200 (deadline 60 s); fails early when etcd
    /// or the apiserver exits.
    async fn wait_ready(&self, http: &reqwest::Client) -> Result<(), BedError> {
        let deadline = Instant::now() + READY_DEADLINE;
        let mut last;
        loop {
            for p in [&self.etcd, &*self.apiserver()] {
                if let Some(status) = p.exited() {
                    return Err(BedError::NotReady {
                        what: p.name.clone(),
                        detail: format!("exited with {status}; log tail:\n{}", p.log_tail(20)),
                    });
                }
            }
            match http
                .get(format!("{}{}", self.url, self.ready_path))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                return Err(BedError::NotReady {
                    what: "apiserver".into(),
                    detail: format!("{last}; log tail:\n{}", self.apiserver().log_tail(20)),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A free loopback port (bound then released: another process could take it in between,
/// which the readiness check would then report).
pub fn free_port() -> Result<u16, BedError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| BedError::io("binding a free port", "127.0.0.1:0", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BedError::io("reading a bound port", "127.0.0.1:0", e))
}

fn own_kubeconfig(url: &str, files: &PkiFiles) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: self\n  cluster:\n    server: \"{url}\"\n    certificate-authority: \"{}\"\nusers:\n- name: admin\n  user:\n    client-certificate: \"{}\"\n    client-key: \"{}\"\ncontexts:\n- name: self\n  context: {{cluster: self, user: admin}}\ncurrent-context: self\n",
        files.ca.display(),
        files.admin_cert.display(),
        files.admin_key.display()
    )
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// Starts etcd and the apiserver under `dir` and waits until `/readyz` answers 200.
pub async fn start(
    bins: &Binaries,
    dir: &Path,
    files: &PkiFiles,
    http: &reqwest::Client,
) -> Result<ControlPlane, BedError> {
    let etcd_client = free_port()?;
    let etcd_peer = free_port()?;
    let api_port = free_port()?;
    let url = format!("https://127.0.0.1:{api_port}");
    let kubeconfig = dir.join("apiserver.kubeconfig");
    std::fs::write(&kubeconfig, own_kubeconfig(&url, files))
        .map_err(|e| BedError::io("writing the apiserver kubeconfig", &kubeconfig, e))?;

    let etcd_url = format!("http://127.0.0.1:{etcd_client}");
    let peer_url = format!("http://127.0.0.1:{etcd_peer}");
    let etcd_args = vec![
        s("--data-dir"),
        dir.join("etcd").display().to_string(),
        s("--listen-client-urls"),
        etcd_url.clone(),
        s("--advertise-client-urls"),
        etcd_url.clone(),
        s("--listen-peer-urls"),
        peer_url.clone(),
        s("--initial-advertise-peer-urls"),
        peer_url.clone(),
        s("--initial-cluster"),
        format!("default={peer_url}"),
        s("--unsafe-no-fsync"),
    ];
    let etcd = procs::spawn("etcd", &bins.etcd, &etcd_args, &dir.join("etcd.log"))?;

    let mut args = vec![
        s("--etcd-servers"),
        etcd_url,
        s("--bind-address"),
        s("127.0.0.1"),
        s("--secure-port"),
        s(api_port),
        s("--tls-cert-file"),
        files.server_cert.display().to_string(),
        s("--tls-private-key-file"),
        files.server_key.display().to_string(),
        s("--client-ca-file"),
        files.ca.display().to_string(),
    ];
    let ready_path = match bins.flavor {
        Flavor::ApiExtensions => {
            let kc = kubeconfig.display().to_string();
            args.extend([
                s("--authentication-skip-lookup"),
                s("--authentication-kubeconfig"),
                kc.clone(),
                s("--authorization-kubeconfig"),
                kc.clone(),
                s("--kubeconfig"),
                kc,
                s("--disable-admission-plugins"),
                s("NamespaceLifecycle,MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook"),
            ]);
            // Its Service/flowcontrol informers never sync without kube-apiserver.
            "/readyz?exclude=informer-sync"
        }
        Flavor::Full => {
            // What envtest passes; the advertise address spares the host-IP lookup.
            args.extend([
                s("--advertise-address"),
                s("127.0.0.1"),
                s("--disable-admission-plugins"),
                s("ServiceAccount"),
                s("--cert-dir"),
                dir.join("certs").display().to_string(),
                s("--service-cluster-ip-range"),
                s("10.0.0.0/24"),
                s("--service-account-issuer"),
                url.clone(),
                s("--service-account-key-file"),
                files.sa_pub.display().to_string(),
                s("--service-account-signing-key-file"),
                files.sa_key.display().to_string(),
                s("--authorization-mode"),
                s("AlwaysAllow"),
                s("--allow-privileged"),
                s("true"),
            ]);
            "/readyz"
        }
    };
    let apiserver = procs::spawn(
        "apiserver",
        &bins.apiserver,
        &args,
        &dir.join("apiserver.log"),
    )?;
    let plane = ControlPlane {
        etcd,
        apiserver: Mutex::new(apiserver),
        ready_path,
        url,
    };
    if let Err(e) = plane.wait_ready(http).await {
        plane.stop();
        return Err(e);
    }
    Ok(plane)
}
