//! The pod runner: a 2-replica Deployment of `testbed-fake-pod` (tests/fixtures/pods, rendered
//! by `kubectl kustomize`) run as local processes against the bed: readiness, port remapping,
//! the downward API, liveness and readiness failures, container restarts, pod deletion, a
//! rolling restart within maxSurge/maxUnavailable, and `stop` leaving no process behind.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use testbed::pods::{
    ContainerExit, PodEvent, PodRunner, PodView, ProbeKind, RunnerOptions, render_kustomize,
};

const DEADLINE: Duration = Duration::from_secs(30);
const FAKE_IMAGE: &str = "fake-pod:test";

fn fake_pod() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_testbed-fake-pod"))
}

fn manifests() -> String {
    render_kustomize(&common::fixtures().join("pods")).expect("kubectl kustomize")
}

/// The fixture Deployment, in a fresh namespace of the bed.
async fn runner(manifests: String) -> (PodRunner, String) {
    let bed = common::bed();
    let ns = bed.namespace("pods").await.unwrap();
    let r = PodRunner::start(
        bed,
        RunnerOptions {
            manifests,
            images: HashMap::from([(FAKE_IMAGE.to_string(), fake_pod())]),
            extra_env: vec![("FAKE_EXTRA".into(), "from-the-test".into())],
            // A temporary directory, removed when the runner is dropped (unless panicking).
            log_dir: PathBuf::new(),
            namespace: Some(ns.clone()),
            restart_backoff: Duration::from_millis(200),
        },
    )
    .await
    .unwrap();
    (r, ns)
}

/// `GET path` on a loopback port: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn port(p: &PodView) -> u16 {
    p.ports[&8080]
}

fn find(pods: &[PodView], name: &str) -> Option<PodView> {
    pods.iter().find(|p| p.name == name).cloned()
}

#[tokio::test]
async fn two_replicas_become_ready_on_ports_of_their_own_with_the_downward_api() {
    let (r, ns) = runner(manifests()).await;
    let ready = r.wait_ready("fake", 2, DEADLINE).await.unwrap();
    assert_eq!(ready.len(), 2);
    let hash = r.template_hash("fake").unwrap();
    let ports: HashSet<u16> = ready.iter().map(port).collect();
    assert_eq!(ports.len(), 2, "two pods, two ports: {ready:?}");
    assert!(!ports.contains(&8080));
    for p in &ready {
        let suffix = p.name.strip_prefix(&format!("fake-{hash}-")).unwrap();
        assert_eq!(suffix.len(), 5, "{}", p.name);
        assert_eq!(p.namespace, ns);
        assert!(p.running && p.restarts == 0 && p.pid.is_some(), "{p:?}");
        let (code, body) = http_get(port(p), "/env");
        assert_eq!(code, 200);
        let env: HashMap<String, String> = serde_json::from_str(&body).unwrap();
        assert_eq!(env["POD_NAME"], p.name);
        assert_eq!(env["POD_NAMESPACE"], ns);
        assert_eq!(env["NODE_NAME"], "testbed-node");
        assert_eq!(env["POD_IP"], "127.0.0.1");
        assert_eq!(env["SERVICE_ACCOUNT"], "fake");
        assert_eq!(env["GREETING"], "hello");
        assert_eq!(env["FAKE_EXTRA"], "from-the-test");
        assert_eq!(
            PathBuf::from(&env["KUBECONFIG"]),
            common::bed().kubeconfig_path()
        );
        let (_, args) = http_get(port(p), "/args");
        let args: Vec<String> = serde_json::from_str(&args).unwrap();
        let hp = port(p);
        assert_eq!(
            args,
            [
                format!("--listen=0.0.0.0:{hp}"),
                format!("--peer=http://localhost:{hp}/x")
            ]
        );
        let log = r.log(&p.name).unwrap();
        assert!(log.contains(&format!("listening on 0.0.0.0:{hp}")), "{log}");
    }
    // The other kinds are parsed (and not applied).
    let kinds: Vec<String> = r
        .manifests()
        .others
        .iter()
        .map(|o| o.types.as_ref().unwrap().kind.clone())
        .collect();
    assert_eq!(kinds, ["ServiceAccount", "ClusterRole"]);
    r.stop();
}

#[tokio::test]
async fn liveness_failure_restarts_the_container_and_readiness_failure_only_flips_ready() {
    let (r, _) = runner(manifests()).await;
    let ready = r.wait_ready("fake", 2, DEADLINE).await.unwrap();
    let (a, b) = (&ready[0], &ready[1]);

    assert_eq!(http_get(port(a), "/control/fail-readiness").0, 200);
    let not_ready = r
        .wait_for("pod a not Ready", DEADLINE, |pods| {
            find(pods, &a.name).filter(|p| !p.ready)
        })
        .await
        .unwrap();
    assert!(not_ready.running, "{not_ready:?}");
    assert_eq!((not_ready.restarts, not_ready.pid), (0, a.pid));
    assert_eq!(http_get(port(a), "/control/heal").0, 200);
    r.wait_for("pod a Ready again", DEADLINE, |pods| {
        find(pods, &a.name).filter(|p| p.ready)
    })
    .await
    .unwrap();

    assert_eq!(http_get(port(b), "/control/fail-liveness").0, 200);
    let restarted = r
        .wait_for("pod b restarted and Ready", DEADLINE, |pods| {
            find(pods, &b.name).filter(|p| p.restarts == 1 && p.ready)
        })
        .await
        .unwrap();
    assert_ne!(restarted.pid, b.pid);
    assert_eq!(restarted.ports, b.ports, "same pod, same ports");
    let events: Vec<PodEvent> = r.timeline().into_iter().map(|e| e.event).collect();
    assert!(events.contains(&PodEvent::ProbeKill {
        pod: b.name.clone(),
        container: "main".into(),
        probe: ProbeKind::Liveness,
    }));
    assert!(events.contains(&PodEvent::Restarted {
        pod: b.name.clone(),
        container: "main".into(),
        restart_count: 1,
    }));
    // Killed with SIGTERM: the fake pod exits 0.
    assert!(events.iter().any(|e| matches!(e,
        PodEvent::ContainerExited { pod, exit, .. }
            if *pod == b.name && exit.code == Some(0))));
    assert!(!events.iter().any(|e| matches!(e,
        PodEvent::ProbeKill { pod, .. } | PodEvent::Restarted { pod, .. } if *pod == a.name)));
    // The previous run's log is kept.
    let log = r.log(&b.name).unwrap();
    assert!(log.contains("liveness will fail"), "{log}");
    assert_eq!(log.matches("fake-pod: pid").count(), 2, "{log}");
    r.stop();
}

#[tokio::test]
async fn a_killed_or_exiting_container_is_restarted_in_the_same_pod() {
    let (r, _) = runner(manifests()).await;
    let ready = r.wait_ready("fake", 2, DEADLINE).await.unwrap();
    let a = &ready[0];
    let pid = r.kill_container(&a.name, libc::SIGKILL).unwrap();
    assert_eq!(Some(pid), a.pid);
    let again = r
        .wait_for("pod a restarted", DEADLINE, |pods| {
            find(pods, &a.name).filter(|p| p.restarts == 1 && p.ready)
        })
        .await
        .unwrap();
    assert_ne!(again.pid, a.pid);
    let sigkill = ContainerExit {
        code: None,
        signal: Some(libc::SIGKILL),
    };
    assert!(r.timeline().iter().any(|e| e.event
        == PodEvent::ContainerExited {
            pod: a.name.clone(),
            container: "main".into(),
            pid,
            exit: sigkill,
        }));

    assert_eq!(http_get(port(&again), "/control/exit/3").0, 200);
    let third = r
        .wait_for("pod a restarted twice", DEADLINE, |pods| {
            find(pods, &a.name).filter(|p| p.restarts == 2 && p.ready)
        })
        .await
        .unwrap();
    assert_eq!(third.containers[0].last_exit.and_then(|e| e.code), Some(3));
    assert_eq!(r.pods().len(), 2, "no pod replaced: {:?}", r.pods());
    r.stop();
}

#[tokio::test]
async fn a_deleted_pod_is_replaced_by_a_new_one() {
    let (r, _) = runner(manifests()).await;
    let ready = r.wait_ready("fake", 2, DEADLINE).await.unwrap();
    let gone = ready[0].name.clone();
    r.delete_pod(&gone).await.unwrap();
    assert!(find(&r.pods(), &gone).is_none());
    let now = r
        .wait_for("a replacement Ready", DEADLINE, |pods| {
            let ready: Vec<_> = pods.iter().filter(|p| p.ready).cloned().collect();
            (ready.len() == 2).then_some(ready)
        })
        .await
        .unwrap();
    assert!(now.iter().all(|p| p.name != gone));
    let events: Vec<PodEvent> = r.timeline().into_iter().map(|e| e.event).collect();
    assert!(events.contains(&PodEvent::Terminating { pod: gone.clone() }));
    assert!(events.contains(&PodEvent::PodDeleted { pod: gone.clone() }));
    assert!(r.log(&gone).unwrap().contains("SIGTERM, exiting"));
    r.stop();
}

#[tokio::test]
async fn rollout_restart_with_max_surge_1_never_has_fewer_than_2_ready_pods() {
    let (r, _) = runner(manifests()).await;
    let before: HashSet<String> = r
        .wait_ready("fake", 2, DEADLINE)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    let old_hash = r.template_hash("fake").unwrap();
    let hash = r
        .rollout_restart("fake", Duration::from_secs(90))
        .await
        .unwrap();
    assert_ne!(hash, old_hash);
    let pods = r.pods();
    assert_eq!(pods.len(), 2, "{pods:?}");
    for p in &pods {
        assert_eq!(p.template_hash, hash);
        assert!(p.ready && !before.contains(&p.name), "{p:?}");
    }
    // Replay the timeline from the restart to its completion.
    let (mut ready, mut live) = (before.clone(), before.clone());
    let (mut min_ready, mut max_live, mut started) = (usize::MAX, 0, false);
    for e in r.timeline() {
        match e.event {
            PodEvent::RolloutStarted { .. } => started = true,
            PodEvent::RolloutComplete { template_hash, .. } if template_hash == hash => break,
            PodEvent::PodCreated { pod, .. } if started => {
                live.insert(pod);
            }
            PodEvent::Ready { pod } if started => {
                ready.insert(pod);
            }
            PodEvent::NotReady { pod } | PodEvent::PodDeleted { pod } if started => {
                ready.remove(&pod);
            }
            PodEvent::Terminating { pod } if started => {
                ready.remove(&pod);
                live.remove(&pod);
            }
            _ => {}
        }
        if started {
            min_ready = min_ready.min(ready.len());
            max_live = max_live.max(live.len());
        }
    }
    assert!(started);
    assert_eq!(min_ready, 2, "maxUnavailable 0");
    assert_eq!(max_live, 3, "maxSurge 1");
    r.stop();
}

#[tokio::test]
async fn stop_terminates_every_process_sigkill_after_the_grace_period() {
    // A second Deployment whose container ignores SIGTERM and has a 1 s grace period.
    let stubborn = std::fs::read_to_string(common::fixtures().join("pods/deployment.yaml"))
        .unwrap()
        .replace("name: fake\n  namespace", "name: stubborn\n  namespace")
        .replace("replicas: 2", "replicas: 1")
        .replace(
            "terminationGracePeriodSeconds: 5",
            "terminationGracePeriodSeconds: 1",
        )
        .replace(
            "- --listen=0.0.0.0:8080",
            "- --listen=0.0.0.0:8080\n            - --ignore-sigterm",
        );
    let (r, _) = runner(format!("{}\n---\n{stubborn}", manifests())).await;
    r.wait_ready("fake", 2, DEADLINE).await.unwrap();
    let stubborn = r.wait_ready("stubborn", 1, DEADLINE).await.unwrap();
    r.stop();
    assert!(r.pods().is_empty(), "{:?}", r.pods());
    let timeline = r.timeline();
    let started: Vec<u32> = timeline
        .iter()
        .filter_map(|e| match e.event {
            PodEvent::ContainerStarted { pid, .. } => Some(pid),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 3);
    for pid in started {
        // Reaped by the runner: no such process any more (or a new one with a reused pid).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("testbed-fake-pod"),
            "pid {pid} is still running"
        );
    }
    let exit = timeline.iter().find_map(|e| match &e.event {
        PodEvent::ContainerExited { pod, exit, .. } if *pod == stubborn[0].name => Some(*exit),
        _ => None,
    });
    assert_eq!(exit.and_then(|e| e.signal), Some(libc::SIGKILL));
}

#[tokio::test]
async fn the_startup_probe_holds_liveness_and_readiness_back() {
    // Every endpoint fails for the first 3 s: liveness alone (2 failures, 1 s apart) would
    // kill the container; behind the startup probe it is never even probed failing.
    let slow = manifests()
        .replace("replicas: 2", "replicas: 1")
        .replace(
            "- --listen=0.0.0.0:8080",
            "- --listen=0.0.0.0:8080\n        - --start-after-ms=3000",
        )
        .replace(
            "        livenessProbe:",
            "        startupProbe:\n          httpGet: {path: /startupz, port: http}\n          \
             periodSeconds: 1\n          failureThreshold: 60\n        livenessProbe:",
        );
    assert!(
        slow.contains("startupProbe") && slow.contains("--start-after-ms"),
        "{slow}"
    );
    let (r, _) = runner(slow).await;
    let pod = r.wait_ready("fake", 1, DEADLINE).await.unwrap().remove(0);
    assert_eq!(pod.restarts, 0);
    assert!(pod.containers[0].started);
    let failed: Vec<ProbeKind> = r
        .timeline()
        .into_iter()
        .filter_map(|e| match e.event {
            PodEvent::ProbeFailed { probe, .. } => Some(probe),
            _ => None,
        })
        .collect();
    assert!(failed.contains(&ProbeKind::Startup), "{failed:?}");
    assert!(
        failed.iter().all(|k| *k == ProbeKind::Startup),
        "{failed:?}"
    );
    r.stop();
}

#[tokio::test]
async fn bad_input_is_an_error_naming_it() {
    let bed = common::bed();
    let opts = |manifests: String| RunnerOptions {
        manifests,
        images: HashMap::from([(FAKE_IMAGE.to_string(), fake_pod())]),
        ..Default::default()
    };
    let unknown = manifests().replace(FAKE_IMAGE, "nope:1");
    let e = PodRunner::start(bed, opts(unknown)).await.err().unwrap();
    assert!(e.to_string().contains("nope:1"), "{e}");
    let e = PodRunner::start(bed, opts("kind: [".into()))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("document 1"), "{e}");
    let missing_ns = manifests().replace(
        "kind: Namespace\nmetadata:\n  name: fake-system\n",
        "kind: Namespace\nmetadata:\n  name: other\n",
    );
    let e = PodRunner::start(bed, opts(missing_ns)).await.err().unwrap();
    assert!(
        e.to_string().contains("namespace fake-system not found"),
        "{e}"
    );
    let e = render_kustomize(&common::fixtures().join("no-such-dir")).unwrap_err();
    assert!(e.to_string().contains("no-such-dir"), "{e}");
}
