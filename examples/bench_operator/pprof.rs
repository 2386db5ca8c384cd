//! The API server's own CPU profile over a window of a scenario or a probe, fetched from its
//! `/debug/pprof/profile` (Go's profiler, on by default in the generic API server) and
//! saved as `target/bench/<name>.pprof.gz`; `scripts/pprof-summary.py` sorts its samples
//! into what the server spends them on. Does I/O (one long GET, one file).

use std::path::PathBuf;

use futures::AsyncReadExt;
use kube::Client;
use tokio::task::JoinHandle;

/// Where the profiles go.
pub fn dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("bench")
}

/// Starts profiling the API server for `seconds`; the handle ends with the file written (or
/// nothing, if the server would not profile: the figures do not depend on it).
pub fn start(client: &Client, name: &str, seconds: u32) -> JoinHandle<Option<PathBuf>> {
    let (client, path) = (client.clone(), dir().join(format!("{name}.pprof.gz")));
    tokio::spawn(async move {
        let req = http::Request::get(format!("/debug/pprof/profile?seconds={seconds}"))
            .body(Vec::new())
            .ok()?;
        let mut body = Box::pin(client.request_stream(req).await.ok()?);
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes).await.ok()?;
        std::fs::create_dir_all(dir()).ok()?;
        std::fs::write(&path, &bytes).ok()?;
        Some(path)
    })
}
