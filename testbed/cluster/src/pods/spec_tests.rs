//! Unit tests of `spec`: Deployment validation and per-pod plans. No I/O beyond reading the
//! metadata of a mapped binary.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::error::PodError;
use super::manifest::parse_manifests;
use super::pod_plan::{HostEnv, PodPlan};
use super::probe::ProbeKind;
use super::rollout::Strategy;
use super::spec::{DeploymentPlan, RESTARTED_AT, random_suffix, template_hash};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: op, namespace: sys}
spec:
  replicas: 2
  selector: {matchLabels: {app: op}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: op}}
    spec:
      serviceAccountName: op-sa
      terminationGracePeriodSeconds: 5
      securityContext: {runAsNonRoot: true}
      containers:
        - name: main
          image: op:1
          args: [run, --metrics-addr=0.0.0.0:8080, --peer=http://localhost:8080/x]
          ports: [{name: metrics, containerPort: 8080}]
          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 20}
          readinessProbe: {httpGet: {path: /readyz, port: 8080}}
          env:
            - {name: RUST_LOG, value: info}
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
          resources: {limits: {memory: 256Mi}}
"#;

fn images() -> HashMap<String, PathBuf> {
    // Any file will do: it is only checked to exist.
    HashMap::from([("op:1".to_string(), PathBuf::from("/bin/sh"))])
}

fn plan(yaml: &str) -> Result<DeploymentPlan, PodError> {
    let m = parse_manifests(yaml).unwrap();
    DeploymentPlan::new(&m.deployments[0], &images())
}

#[test]
fn accepts_the_shipped_shape() {
    let p = plan(DEPLOYMENT).unwrap();
    assert_eq!(
        (p.namespace.as_str(), p.name.as_str(), p.replicas),
        ("sys", "op", 2)
    );
    assert_eq!(
        p.strategy,
        Strategy::RollingUpdate {
            max_surge: 1,
            max_unavailable: 0
        }
    );
    assert_eq!(p.grace.as_secs(), 5);
    assert_eq!(p.service_account, "op-sa");
    let c = &p.containers[0];
    assert_eq!(c.program, Path::new("/bin/sh"));
    assert_eq!(c.ports, [8080]);
    let kinds: Vec<ProbeKind> = c.probes.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [ProbeKind::Liveness, ProbeKind::Readiness]);
}

#[test]
fn pod_plan_rewrites_ports_and_resolves_env() {
    let p = plan(DEPLOYMENT).unwrap();
    let extra = vec![("RUST_LOG".to_string(), "debug".to_string())];
    let host = HostEnv {
        kubeconfig: Path::new("/tmp/kc"),
        extra: &extra,
        log_dir: Path::new("/tmp/logs"),
    };
    let pod = PodPlan::new(
        &p,
        "op-abc-xyz12".into(),
        BTreeMap::from([(8080, 41000)]),
        &host,
    );
    let c = &pod.containers[0];
    assert_eq!(
        c.args,
        [
            "run",
            "--metrics-addr=0.0.0.0:41000",
            "--peer=http://localhost:41000/x"
        ]
    );
    let env: HashMap<&str, &str> = c
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env["POD_NAME"], "op-abc-xyz12");
    assert_eq!(env["KUBECONFIG"], "/tmp/kc");
    assert_eq!(env["HOSTNAME"], "op-abc-xyz12");
    // The caller's variables come last, so they win.
    let rust_log: Vec<&str> = c
        .env
        .iter()
        .filter(|(k, _)| k == "RUST_LOG")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(rust_log, ["info", "debug"]);
    assert_eq!(c.log, Path::new("/tmp/logs/op-abc-xyz12_main.log"));
    assert_eq!(pod.uid.len(), 36);
}

#[test]
fn hash_changes_on_restart_only() {
    let p = plan(DEPLOYMENT).unwrap();
    assert_eq!(p.hash, template_hash(&p.template));
    assert_eq!(p.hash, plan(DEPLOYMENT).unwrap().hash);
    assert!(p.hash.len() >= 5 && p.hash.bytes().all(|b| b.is_ascii_alphanumeric()));
    let r = p.restarted("2025-01-01T00:00:00Z");
    assert_ne!(r.hash, p.hash);
    let annotations = r
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap();
    assert_eq!(annotations[RESTARTED_AT], "2025-01-01T00:00:00Z");
    let s = random_suffix(5);
    assert_eq!(s.len(), 5);
}

#[test]
fn refuses_what_it_cannot_run() {
    let e = plan(&DEPLOYMENT.replace("image: op:1", "image: other:2")).unwrap_err();
    assert!(
        matches!(&e, PodError::UnknownImage { image, .. } if image == "other:2"),
        "{e}"
    );
    assert!(
        e.to_string().contains("op:1"),
        "lists the mapped images: {e}"
    );
    let e = DeploymentPlan::new(
        &parse_manifests(DEPLOYMENT).unwrap().deployments[0],
        &HashMap::from([("op:1".to_string(), PathBuf::from("/nonexistent/op"))]),
    )
    .unwrap_err();
    assert!(matches!(e, PodError::Binary { .. }), "{e}");
    let e = plan(&DEPLOYMENT.replace("port: metrics", "port: nope")).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e =
        plan(&DEPLOYMENT.replace("matchLabels: {app: op}", "matchLabels: {app: x}")).unwrap_err();
    assert!(e.to_string().contains("selector"), "{e}");
    let e = plan(&DEPLOYMENT.replace("maxSurge: 1", "maxSurge: 0")).unwrap_err();
    assert!(e.to_string().contains("both be 0"), "{e}");
    let e = plan(&DEPLOYMENT.replace(
        "fieldRef: {fieldPath: metadata.name}",
        "secretKeyRef: {name: s, key: k}",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("POD_NAME"), "{e}");
    let e = plan(&DEPLOYMENT.replace(
        "      containers:",
        "      initContainers: [{name: i, image: op:1}]\n      containers:",
    ))
    .unwrap_err();
    assert!(matches!(e, PodError::Unsupported { .. }), "{e}");
    let e = plan(&DEPLOYMENT.replace(
        "readinessProbe: {httpGet: {path: /readyz, port: 8080}}",
        "readinessProbe: {exec: {command: [\"true\"]}}",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("exec"), "{e}");
}

#[test]
fn command_replaces_the_entrypoint() {
    let p = plan(&DEPLOYMENT.replace(
        "args: [run,",
        "command: [/usr/bin/env, -i]\n          args: [run,",
    ))
    .unwrap();
    assert_eq!(p.containers[0].program, Path::new("/usr/bin/env"));
    assert_eq!(
        p.containers[0].args[..3],
        ["-i", "run", "--metrics-addr=0.0.0.0:8080"]
    );
}
