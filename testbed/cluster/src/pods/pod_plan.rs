//! One pod of a Deployment, no I/O: its name, port map, and each container's final argv
//! (ports rewritten) and environment (downward API resolved, `KUBECONFIG` and the caller's
//! variables added).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::env::{self, PodFacts};
use super::ports::rewrite_arg;
use super::probe::{ProbeKind, ProbeSpec};
use super::spec::{DeploymentPlan, NODE_NAME, random_u64};

/// What the kubelet needs to run one container of one pod.
#[derive(Clone, Debug)]
pub(crate) struct ContainerRun {
    pub name: String,
    pub image: String,
    pub program: PathBuf,
    /// After port rewriting.
    pub args: Vec<String>,
    /// The whole environment of the process, in order (a later entry wins).
    pub env: Vec<(String, String)>,
    pub named_ports: BTreeMap<String, u16>,
    pub probes: Vec<(ProbeKind, ProbeSpec)>,
    pub log: PathBuf,
}

/// One pod of a Deployment, ready to run.
#[derive(Clone, Debug)]
pub(crate) struct PodPlan {
    pub name: String,
    pub namespace: String,
    pub deployment: String,
    pub hash: String,
    pub uid: String,
    /// containerPort -> loopback port, for every container.
    pub ports: BTreeMap<u16, u16>,
    pub grace: Duration,
    pub containers: Vec<ContainerRun>,
}

/// What the runner adds to every container's environment.
pub(crate) struct HostEnv<'a> {
    /// `KUBECONFIG`: stands in for the service-account token mount.
    pub kubeconfig: &'a Path,
    /// The caller's extra variables (they win over the manifest's).
    pub extra: &'a [(String, String)],
    pub log_dir: &'a Path,
}

fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

impl PodPlan {
    pub fn new(
        dep: &DeploymentPlan,
        name: String,
        ports: BTreeMap<u16, u16>,
        host: &HostEnv<'_>,
    ) -> PodPlan {
        let uid = uid();
        let labels = dep.labels();
        let annotations = dep.annotations();
        let facts = PodFacts {
            name: &name,
            namespace: &dep.namespace,
            uid: &uid,
            node_name: NODE_NAME,
            service_account: &dep.service_account,
            labels: &labels,
            annotations: &annotations,
        };
        let containers = dep
            .containers
            .iter()
            .map(|c| {
                let mut env = vec![
                    (
                        "PATH".to_string(),
                        std::env::var("PATH")
                            .unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
                    ),
                    ("HOSTNAME".to_string(), name.clone()),
                    (
                        "KUBECONFIG".to_string(),
                        host.kubeconfig.display().to_string(),
                    ),
                ];
                env.extend(
                    c.env
                        .iter()
                        .map(|(k, s)| (k.clone(), env::resolve(s, &facts))),
                );
                env.extend(host.extra.iter().cloned());
                ContainerRun {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    program: c.program.clone(),
                    args: c.args.iter().map(|a| rewrite_arg(a, &ports)).collect(),
                    env,
                    named_ports: c.named_ports.clone(),
                    probes: c.probes.clone(),
                    log: host.log_dir.join(format!("{name}_{}.log", c.name)),
                }
            })
            .collect();
        PodPlan {
            namespace: dep.namespace.clone(),
            deployment: dep.name.clone(),
            hash: dep.hash.clone(),
            uid,
            ports,
            grace: dep.grace,
            containers,
            name,
        }
    }
}
