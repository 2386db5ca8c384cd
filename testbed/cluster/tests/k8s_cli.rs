//! `testbed up` / `down` from the command line, and a library handle attached to that bed.

mod common;

use std::path::Path;
use std::process::Command;

use testbed::TestBed;

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn pid_in(dir: &Path, file: &str) -> u32 {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn up_attach_down() {
    let dir = std::env::temp_dir().join(format!("testbed-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = env!("CARGO_BIN_EXE_testbed");
    let crds = common::fixtures().join("crds");
    let up = Command::new(exe)
        .args(["up", "--no-es", "--state-dir"])
        .arg(&dir)
        .arg("--crds")
        .arg(&crds)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let env = std::fs::read_to_string(dir.join("env")).unwrap();
    let kubeconfig = dir.canonicalize().unwrap().join("kubeconfig");
    assert!(
        env.contains(&format!("KUBECONFIG={}", kubeconfig.display())),
        "{env}"
    );
    assert_eq!(String::from_utf8_lossy(&up.stdout), env);
    let serve = pid_in(&dir, "testbed.pid");
    let etcd = pid_in(&dir, "etcd.pid");
    let apiserver = pid_in(&dir, "apiserver.pid");
    assert!(alive(serve) && alive(etcd) && alive(apiserver));

    let bed = TestBed::attach(&dir).unwrap();
    assert!(bed.child_pids().is_none());
    let ns = bed.namespace("attached").await.unwrap();
    let recorded = tokio::task::spawn_blocking(move || bed.requests())
        .await
        .unwrap();
    assert!(
        recorded
            .iter()
            .any(|r| r.verb == "create" && r.resource == "namespaces"),
        "{recorded:?}"
    );
    let _ = ns;

    let down = Command::new(exe)
        .args(["down", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(!alive(serve), "serve still runs");
    // serve stops and reaps them before it exits.
    assert!(!alive(etcd) && !alive(apiserver), "children outlived serve");
    let _ = std::fs::remove_dir_all(&dir);
}
