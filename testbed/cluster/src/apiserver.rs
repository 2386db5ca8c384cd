//! Starts etcd and the API server on free loopback ports with the bed's PKI and waits (polling
//! with a deadline) until the apiserver reports ready. Spawns processes and does HTTP.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::binaries::{Binaries, Flavor};
use crate::error::BedError;
use crate::pki::PkiFiles;
use crate::procs::{self, Proc};

const READY_DEADLINE: Duration = Duration::from_secs(60);

pub struct ControlPlane {
    pub etcd: Proc,
    pub apiserver: Proc,
    /// `https://127.0.0.1:PORT` of the apiserver itself.
    pub url: String,
}

impl ControlPlane {
    /// Stops the apiserver, then etcd.
    pub fn stop(&self) {
        self.apiserver.stop(Duration::from_secs(5));
        self.etcd.stop(Duration::from_secs(5));
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
        apiserver,
        url: url.clone(),
    };
    let deadline = Instant::now() + READY_DEADLINE;
    let mut last;
    loop {
        for p in [&plane.etcd, &plane.apiserver] {
            if let Some(status) = p.exited() {
                return Err(BedError::NotReady {
                    what: p.name.clone(),
                    detail: format!("exited with {status}; log tail:\n{}", p.log_tail(20)),
                });
            }
        }
        match http.get(format!("{url}{ready_path}")).send().await {
            Ok(r) if r.status().is_success() => return Ok(plane),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            let tail = plane.apiserver.log_tail(20);
            plane.stop();
            return Err(BedError::NotReady {
                what: "apiserver".into(),
                detail: format!("{last}; log tail:\n{tail}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
