//! As a user with kubectl: apply, wait for Ready, get; wait for Stalled on a failure.

use super::*;

/// Runs kubectl against the test bed; returns (success, stdout + stderr).
async fn kubectl(w: &World, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.args(args)
        .args(["-n", &w.ns])
        .env("KUBECONFIG", w.bed.kubeconfig_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let out = tokio::time::timeout(common::DEADLINE, child.wait_with_output())
        .await
        .expect("kubectl finished in time")
        .expect("kubectl output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_wait_and_get() {
    let w = World::new("happy-kubectl", SimConfig::default()).await;
    w.job_with_data("kubectl-job", "opened");
    let manifest = format!(
        "apiVersion: ml.jobreset.io/v1alpha1\nkind: JobReset\nmetadata:\n  name: via-kubectl\nspec:\n  jobId: kubectl-job\n  elasticsearch:\n    url: {}\n",
        w.sim.url()
    );
    let (ok, out) = kubectl(&w, &["apply", "-f", "-"], Some(&manifest)).await;
    assert!(ok, "kubectl apply: {out}");

    let (ok, out) = kubectl(
        &w,
        &[
            "wait",
            "--for=condition=Ready",
            "jobreset/via-kubectl",
            "--timeout=90s",
        ],
        None,
    )
    .await;
    assert!(ok, "kubectl wait: {out}");
    assert!(out.contains("condition met"), "{out}");

    let (ok, out) = kubectl(&w, &["get", "jr", "via-kubectl"], None).await;
    assert!(ok, "kubectl get: {out}");
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "JOB", "PHASE", "TASK", "REASON", "AGE"] {
        assert!(header.contains(column), "{out}");
    }
    assert!(
        out.contains("kubectl-job") && out.contains("Completed") && out.contains("ResetCompleted"),
        "{out}"
    );
    w.assert_job_reset("kubectl-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_for_stalled_on_failure() {
    let w = World::new("happy-kubectl-fail", SimConfig::default()).await;
    // No such job: the run fails and says so.
    w.create("missing", json!({"jobId": "no-such-job"})).await;
    let (ok, out) = kubectl(
        &w,
        &[
            "wait",
            "--for=condition=Stalled",
            "jobreset/missing",
            "--timeout=90s",
        ],
        None,
    )
    .await;
    assert!(ok, "kubectl wait: {out}");
    let s = w.failed("missing", "JobNotFound").await;
    assert!(s.message.unwrap_or_default().contains("no-such-job"));
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
}
