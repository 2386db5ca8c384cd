//! The architecture's import rules, checked on the source: `api/` holds CRD types only;
//! `run/` (one reset of one job) imports neither kube nor reqwest and names no concrete
//! client; `es/` never imports kube; `k8s/` never imports the Elasticsearch client or the
//! run; only `controller/` joins them, and `controller/schedule/` only creates JobResets
//! (no Elasticsearch, no run); `standalone.rs` joins the run and `es/` without Kubernetes. Also
//! that no Rust file of the workspace grows past `MAX_LINES`. Reads the files, no other I/O.

use std::path::{Path, PathBuf};

/// (folder or file under src/, forbidden fragments, why)
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "api",
        &[
            "crate::run",
            "crate::es",
            "crate::k8s",
            "crate::controller",
            "crate::standalone",
            "reqwest",
            "tokio",
            "kube::api",
            "kube::runtime",
            "kube::Client",
        ],
        "api/ holds the CRD types only (pure)",
    ),
    (
        "run",
        &[
            "kube::",
            "k8s_openapi",
            "reqwest",
            "EsClient",
            "crate::k8s",
            "crate::controller",
            "crate::standalone",
        ],
        "run/ reaches Elasticsearch through es::Elasticsearch and status through a Sink",
    ),
    (
        "es",
        &[
            "kube::",
            "k8s_openapi",
            "crate::k8s",
            "crate::controller",
            "crate::run",
            "crate::standalone",
        ],
        "es/ is the Elasticsearch client and never imports kube",
    ),
    (
        "k8s",
        &[
            "crate::es",
            "crate::run",
            "crate::controller",
            "crate::standalone",
            "reqwest",
        ],
        "k8s/ is the process runtime on the Kubernetes side and never calls Elasticsearch",
    ),
    (
        "controller/schedule",
        &[
            "crate::es",
            "EsClient",
            "reqwest",
            "crate::controller::jobreset",
            "run::steps",
            "run::decide",
        ],
        "a schedule only creates and deletes JobResets: it never calls Elasticsearch nor drives a run",
    ),
    (
        "standalone.rs",
        &["kube::", "k8s_openapi", "crate::k8s", "crate::controller"],
        "the standalone command runs without Kubernetes",
    ),
];

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_file() {
        out.push(p.to_owned());
        return;
    }
    for entry in std::fs::read_dir(p).expect("read src") {
        rust_files(&entry.expect("entry").path(), out);
    }
}

/// The file's code, comments left out (doc comments may name anything).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn import_rules_hold() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = vec![];
    for (place, forbidden, why) in RULES {
        let mut files = vec![];
        rust_files(&src.join(place), &mut files);
        assert!(!files.is_empty(), "nothing under src/{place}");
        for f in files {
            let text = code(&std::fs::read_to_string(&f).expect("read"));
            for bad in *forbidden {
                if text.contains(bad) {
                    broken.push(format!("{}: uses {bad} ({why})", f.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "import rules broken:\n{}",
        broken.join("\n")
    );
}

/// A file longer than this holds more than one concern: split it into a folder (the
/// standards say ~400 lines; the margin is for a file that is one concern and a little over).
const MAX_LINES: usize = 450;

/// Where the workspace's Rust code lives, relative to the manifest.
const CODE_ROOTS: &[&str] = &[
    "src",
    "tests",
    "examples",
    "testbed/cluster/src",
    "testbed/cluster/tests",
    "testbed/es-ml-sim/src",
    "testbed/es-ml-sim/tests",
];

#[test]
fn no_file_grows_past_the_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = vec![];
    for place in CODE_ROOTS {
        let mut files = vec![];
        rust_files(&root.join(place), &mut files);
        assert!(!files.is_empty(), "no Rust files under {place}");
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let lines = std::fs::read_to_string(f).expect("read").lines().count();
            if lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", f.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them into a folder, one concern per file):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_check_sees_a_broken_rule() {
    // The scanner itself: a forbidden path in code is seen, one in a comment is not.
    assert!(code("use crate::k8s::status;").contains("crate::k8s"));
    assert!(!code("//! see crate::k8s").contains("crate::k8s"));
}
