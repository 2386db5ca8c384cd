//! From a Deployment to what the runner runs, no I/O except looking the mapped binaries up:
//! the validated `DeploymentPlan` (strategy, template hash, containers with their binaries,
//! env, ports and probes), plus generated names and the template hash. `pod_plan` turns it
//! into one pod.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};

use super::env::{self, EnvSource};
use super::error::PodError;
use super::manifest::describe_deployment;
use super::probe::{ProbeKind, ProbeSpec};
use super::rollout::{self, Strategy};

/// `spec.nodeName` of every pod.
pub(crate) const NODE_NAME: &str = "testbed-node";
/// The annotation `kubectl rollout restart` sets on the pod template.
pub(crate) const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random number (from the standard library's randomly keyed hasher).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// `n` characters of the alphabet Kubernetes uses for generated names.
pub(crate) fn random_suffix(n: usize) -> String {
    (0..n)
        .map(|_| SAFE[(random_u64() % SAFE.len() as u64) as usize] as char)
        .collect()
}

/// `pod-template-hash`: FNV-1a (32 bits) of the template's JSON, its decimal digits mapped
/// to the safe alphabet, as kube-controller-manager does (the input differs: it hashes Go's
/// dump of the struct, so the values are not the same as a real cluster's).
pub(crate) fn template_hash(t: &PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(t).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|d| SAFE[usize::from(d) % SAFE.len()] as char)
        .collect()
}

/// One container of the template, validated.
#[derive(Clone, Debug)]
pub(crate) struct ContainerPlan {
    pub name: String,
    pub image: String,
    /// `command[0]`, or the binary the image is mapped to.
    pub program: PathBuf,
    /// `command[1..]` then `args`, before port rewriting.
    pub args: Vec<String>,
    pub env: Vec<(String, EnvSource)>,
    /// containerPorts, in order.
    pub ports: Vec<u16>,
    pub named_ports: BTreeMap<String, u16>,
    pub probes: Vec<(ProbeKind, ProbeSpec)>,
}

/// A Deployment, validated.
#[derive(Clone, Debug)]
pub(crate) struct DeploymentPlan {
    pub namespace: String,
    pub name: String,
    pub replicas: u32,
    pub min_ready: Duration,
    pub strategy: Strategy,
    pub template: PodTemplateSpec,
    pub hash: String,
    pub service_account: String,
    pub grace: Duration,
    pub containers: Vec<ContainerPlan>,
}

fn refuse(object: &str, feature: &str) -> PodError {
    PodError::Unsupported {
        object: object.to_string(),
        feature: feature.to_string(),
    }
}

fn check_binary(image: &str, path: &Path) -> Result<(), PodError> {
    let bad = |detail: String| PodError::Binary {
        image: image.to_string(),
        path: path.to_path_buf(),
        detail,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(bad("is not a file".into())),
        Err(e) => Err(bad(format!("cannot be read: {e}"))),
    }
}

fn container_plan(
    object: &str,
    c: &Container,
    images: &HashMap<String, PathBuf>,
) -> Result<ContainerPlan, PodError> {
    let cobj = format!("{object}: container {}", c.name);
    let invalid = |detail: String| PodError::Invalid {
        object: cobj.clone(),
        detail,
    };
    if c.lifecycle.is_some() {
        return Err(refuse(&cobj, "lifecycle (postStart/preStop hooks)"));
    }
    if c.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(refuse(&cobj, "envFrom"));
    }
    let image = c.image.clone().unwrap_or_default();
    let mapped = images.get(&image).ok_or_else(|| {
        let mut known: Vec<&str> = images.keys().map(String::as_str).collect();
        known.sort_unstable();
        PodError::UnknownImage {
            object: object.to_string(),
            container: c.name.clone(),
            image: image.clone(),
            known: known.join(", "),
        }
    })?;
    check_binary(&image, mapped)?;
    let command = c.command.clone().unwrap_or_default();
    let (program, mut args) = match command.split_first() {
        Some((first, rest)) => (PathBuf::from(first), rest.to_vec()),
        None => (mapped.clone(), Vec::new()),
    };
    args.extend(c.args.iter().flatten().cloned());
    if args.iter().any(|a| a.contains('\0')) {
        return Err(invalid("an argument contains a NUL byte".into()));
    }
    let env = env::parse_env(c.env.as_deref().unwrap_or_default()).map_err(invalid)?;
    let mut ports = Vec::new();
    let mut named_ports = BTreeMap::new();
    for p in c.ports.iter().flatten() {
        let n = u16::try_from(p.container_port)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                invalid(format!(
                    "containerPort {} is out of range",
                    p.container_port
                ))
            })?;
        if p.protocol.as_deref().is_some_and(|p| p != "TCP") {
            return Err(refuse(&cobj, "a port protocol other than TCP"));
        }
        ports.push(n);
        if let Some(name) = &p.name
            && named_ports.insert(name.clone(), n).is_some()
        {
            return Err(invalid(format!("port name {name:?} is used twice")));
        }
    }
    let mut probes = Vec::new();
    for (kind, p) in [
        (ProbeKind::Startup, &c.startup_probe),
        (ProbeKind::Liveness, &c.liveness_probe),
        (ProbeKind::Readiness, &c.readiness_probe),
    ] {
        if let Some(p) = p {
            let spec =
                ProbeSpec::parse(kind, p).map_err(|e| invalid(format!("{kind}Probe: {e}")))?;
            if let super::probe::PortRef::Name(n) = spec.port()
                && !named_ports.contains_key(n)
            {
                return Err(invalid(format!(
                    "{kind}Probe: port {n:?} names no port of the container"
                )));
            }
            probes.push((kind, spec));
        }
    }
    Ok(ContainerPlan {
        name: c.name.clone(),
        image,
        program,
        args,
        env,
        ports,
        named_ports,
        probes,
    })
}

impl DeploymentPlan {
    /// Validates `d` (what the runner needs and supports) and maps its images to binaries.
    pub fn new(
        d: &Deployment,
        images: &HashMap<String, PathBuf>,
    ) -> Result<DeploymentPlan, PodError> {
        let object = describe_deployment(d);
        let invalid = |detail: String| PodError::Invalid {
            object: object.clone(),
            detail,
        };
        let spec = d.spec.as_ref().ok_or_else(|| invalid("no spec".into()))?;
        if spec.paused == Some(true) {
            return Err(refuse(&object, "spec.paused"));
        }
        let replicas = spec.replicas.unwrap_or(1);
        let replicas = u32::try_from(replicas)
            .map_err(|_| invalid(format!("replicas {replicas} is negative")))?;
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let min_ready = u64::try_from(min_ready)
            .map(Duration::from_secs)
            .map_err(|_| invalid(format!("minReadySeconds {min_ready} is negative")))?;
        let strategy = rollout::strategy(spec.strategy.as_ref(), replicas).map_err(invalid)?;
        if spec
            .selector
            .match_expressions
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            return Err(refuse(&object, "selector.matchExpressions"));
        }
        let selector = spec.selector.match_labels.clone().unwrap_or_default();
        if selector.is_empty() {
            return Err(invalid("spec.selector.matchLabels is empty".into()));
        }
        let labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        if let Some((k, v)) = selector.iter().find(|(k, v)| labels.get(*k) != Some(v)) {
            return Err(invalid(format!(
                "selector {k}={v} does not match the template's labels"
            )));
        }
        let pod = spec
            .template
            .spec
            .as_ref()
            .ok_or_else(|| invalid("no spec.template.spec".into()))?;
        if pod.init_containers.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(refuse(&object, "initContainers"));
        }
        if pod.restart_policy.as_deref().is_some_and(|p| p != "Always") {
            return Err(invalid(
                "a Deployment's restartPolicy must be Always".into(),
            ));
        }
        if pod.containers.is_empty() {
            return Err(invalid("no containers".into()));
        }
        let mut containers: Vec<ContainerPlan> = Vec::new();
        for c in &pod.containers {
            if containers.iter().any(|p| p.name == c.name) {
                return Err(invalid(format!(
                    "container name {:?} is used twice",
                    c.name
                )));
            }
            containers.push(container_plan(&object, c, images)?);
        }
        let grace = pod.termination_grace_period_seconds.unwrap_or(30);
        let grace = u64::try_from(grace)
            .map(Duration::from_secs)
            .map_err(|_| invalid(format!("terminationGracePeriodSeconds {grace} is negative")))?;
        Ok(DeploymentPlan {
            namespace: d
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: d.metadata.name.clone().unwrap_or_default(),
            replicas,
            min_ready,
            strategy,
            hash: template_hash(&spec.template),
            template: spec.template.clone(),
            service_account: pod
                .service_account_name
                .clone()
                .or_else(|| pod.service_account.clone())
                .unwrap_or_else(|| "default".into()),
            grace,
            containers,
        })
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The plan after `kubectl rollout restart` (the template annotated with the time).
    pub fn restarted(&self, at: &str) -> DeploymentPlan {
        let mut next = self.clone();
        next.template
            .metadata
            .get_or_insert_with(Default::default)
            .annotations
            .get_or_insert_with(Default::default)
            .insert(RESTARTED_AT.into(), at.into());
        next.hash = template_hash(&next.template);
        next
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        l.insert("pod-template-hash".into(), self.hash.clone());
        l
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default()
    }
}
