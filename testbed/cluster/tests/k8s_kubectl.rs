//! The installed `kubectl`, unmodified and with its validation on, driven against the test bed:
//! apply (client- and server-side), explain, get with printer columns, describe, wait, patch,
//! delete, create namespace/secret and get --watch.

mod common;

use std::process::{Output, Stdio};

use common::{DEADLINE, bed, fixtures};
use tokio::io::{AsyncBufReadExt, BufReader};

fn kubectl(args: &[&str]) -> Output {
    let cache = bed().state_dir().join("kubectl-cache");
    std::process::Command::new("kubectl")
        .args(args)
        .arg("--cache-dir")
        .arg(&cache)
        .env("KUBECONFIG", bed().kubeconfig_path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("running kubectl")
}

fn ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn widget_file() -> String {
    fixtures().join("widget.yaml").display().to_string()
}

#[tokio::test]
async fn apply_client_side_and_server_side_with_validation_on() {
    let ns = bed().namespace("apply").await.unwrap();
    let f = widget_file();
    let out = ok(&["apply", "-n", &ns, "-f", &f]);
    assert!(out.contains("widget.test.jobreset.io/w1 created"), "{out}");
    let out = ok(&["apply", "-n", &ns, "-f", &f]);
    assert!(out.contains("unchanged"), "{out}");
    let out = ok(&["apply", "-n", &ns, "--server-side", "-f", &f]);
    assert!(out.contains("serverside-applied"), "{out}");
    // Core kinds go through the same path.
    let secret = fixtures().join("secret.yaml").display().to_string();
    ok(&["apply", "-n", &ns, "-f", &secret]);
    let out = ok(&["apply", "-n", &ns, "-f", &secret]);
    assert!(out.contains("secret/applied"), "{out}");
    // Strict server-side field validation is in force: an unknown field is refused.
    let bad = bed().state_dir().join("bad-widget.yaml");
    std::fs::write(
        &bad,
        "apiVersion: test.jobreset.io/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {target: t, colour: red}\n",
    )
    .unwrap();
    let out = kubectl(&["apply", "-n", &ns, "-f", &bad.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("colour"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn explain_reads_the_crd_schema() {
    let out = ok(&["explain", "widgets.spec"]);
    assert!(
        out.contains("WidgetSpec is what the widget should be"),
        "{out}"
    );
    assert!(out.contains("target"), "{out}");
}

#[tokio::test]
async fn explain_jobresets_spec_from_the_workspace_crd() {
    let dir = testbed::workspace_crds_dir();
    assert!(
        dir.join("jobreset.yaml").exists(),
        "no jobreset.yaml in {}",
        dir.display()
    );
    bed().install_crds(&dir).await.unwrap();
    let out = ok(&["explain", "jobresets.spec"]);
    assert!(out.contains("ml.jobreset.io"), "{out}");
    assert!(out.contains("FIELDS:"), "{out}");
    let out = ok(&["get", "jobresets", "-A"]);
    assert!(out.is_empty() || out.contains("NAME"), "{out}");
}

#[tokio::test]
async fn get_describe_wait_patch_delete() {
    let ns = bed().namespace("lifecycle").await.unwrap();
    ok(&["apply", "-n", &ns, "-f", &widget_file()]);
    let out = ok(&["get", "-n", &ns, "widgets"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "TARGET", "SIZE", "READY", "AGE"], "{out}");
    assert!(out.contains("job-a"), "{out}");
    let out = ok(&["describe", "-n", &ns, "widget", "w1"]);
    assert!(out.contains("Target:") && out.contains("job-a"), "{out}");
    ok(&[
        "patch",
        "-n",
        &ns,
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    ]);
    let out = ok(&[
        "wait",
        "-n",
        &ns,
        "--for=condition=Ready",
        "widget/w1",
        "--timeout=20s",
    ]);
    assert!(out.contains("condition met"), "{out}");
    ok(&[
        "patch",
        "-n",
        &ns,
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":3}}"#,
    ]);
    let out = kubectl(&[
        "patch",
        "-n",
        &ns,
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"target":"other"}}"#,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("target is immutable"));
    let out = ok(&[
        "get",
        "-n",
        &ns,
        "widget",
        "w1",
        "-o",
        "jsonpath={.spec.size}",
    ]);
    assert_eq!(out, "3");
    let out = ok(&["delete", "-n", &ns, "widget", "w1"]);
    assert!(out.contains("deleted"), "{out}");
    let out = kubectl(&["get", "-n", &ns, "widget", "w1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));
}

#[tokio::test]
async fn create_namespace_and_secret() {
    let name = format!("kubectl-ns-{}", std::process::id());
    let out = ok(&["create", "namespace", &name]);
    assert!(out.contains(&format!("namespace/{name} created")), "{out}");
    let out = ok(&["get", "namespace", &name]);
    assert!(out.contains("Active"), "{out}");
    ok(&[
        "create",
        "secret",
        "generic",
        "db",
        "-n",
        &name,
        "--from-literal=user=admin",
    ]);
    let out = ok(&[
        "get",
        "secret",
        "db",
        "-n",
        &name,
        "-o",
        "jsonpath={.data.user}",
    ]);
    assert_eq!(out, "YWRtaW4=");
    let out = ok(&["describe", "secret", "db", "-n", &name]);
    assert!(out.contains("user:") && out.contains("5 bytes"), "{out}");
    // label/annotate send merge patches, `patch` a strategic one by default, and a JSON patch.
    ok(&["label", "secret", "db", "-n", &name, "tier=data"]);
    ok(&["annotate", "secret", "db", "-n", &name, "note=kept"]);
    ok(&[
        "patch",
        "secret",
        "db",
        "-n",
        &name,
        "-p",
        r#"{"stringData":{"extra":"x"}}"#,
    ]);
    ok(&[
        "patch",
        "secret",
        "db",
        "-n",
        &name,
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/more","value":"yes"}]"#,
    ]);
    let out = ok(&[
        "get",
        "secrets",
        "-n",
        &name,
        "-l",
        "tier=data,more=yes",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "secret/db");
    let out = ok(&[
        "get",
        "secret",
        "db",
        "-n",
        &name,
        "-o",
        "jsonpath={.data.extra}",
    ]);
    assert_eq!(out, "eA==");
    let out = ok(&["delete", "namespace", &name]);
    assert!(out.contains("deleted"), "{out}");
}

#[tokio::test]
async fn get_watch_streams_changes() {
    let ns = bed().namespace("watch").await.unwrap();
    let cache = bed().state_dir().join("kubectl-cache");
    let mut child = tokio::process::Command::new("kubectl")
        .args([
            "get",
            "widgets",
            "-n",
            &ns,
            "--watch",
            "-o",
            "name",
            "--cache-dir",
        ])
        .arg(&cache)
        .env("KUBECONFIG", bed().kubeconfig_path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning kubectl get --watch");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let widget = widget_file();
    let ns2 = ns.clone();
    // Whether the watch starts before or after the apply, it shows the object (listed first,
    // then streamed).
    let applier = tokio::task::spawn_blocking(move || {
        let out = kubectl(&["apply", "-n", &ns2, "-f", &widget]);
        out.status.success()
    });
    let seen = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("widget.test.jobreset.io/w1") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(applier.await.unwrap());
    assert!(seen, "kubectl get --watch never showed the widget");
    let _ = child.kill().await;
}
