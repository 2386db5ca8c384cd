//! The shared test helpers' own faults: a watch whose client fails at once (as it does while
//! a runtime shuts down and its connection tasks are gone). No API server needed: the client
//! points nowhere and never gets to send.

use super::*;
use kube::{Client, Config};

/// A client every call of which fails without waiting: its request queue ran on a runtime
/// that is gone.
fn client_failing_at_once() -> Client {
    let gone = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = "http://127.0.0.1:9".parse().expect("a URL");
    gone.block_on(async { Client::try_from(Config::new(url)).expect("a client") })
}

/// A monitor waits between its watch's errors. It once looped on them without yielding, so
/// neither an abort nor the end of the test's runtime could stop it, and a test that had
/// passed hung until the harness killed it.
#[test]
fn a_phase_monitor_whose_client_fails_at_once_can_be_stopped() {
    let client = client_failing_at_once();
    let (ended, has_ended) = std::sync::mpsc::channel();
    // On a thread of its own: a monitor that never yields holds this thread for good.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let api = Api::namespaced(client, "nowhere");
            let (_, monitor) = track_max_in_phase(api, Phase::Resetting);
            // The one thread runs the monitor now, and comes back only when it waits.
            tokio::task::yield_now().await;
            monitor.abort();
            let _ = monitor.await;
        });
        let _ = ended.send(());
    });
    assert!(
        has_ended.recv_timeout(Duration::from_secs(30)).is_ok(),
        "the monitor never gave its thread back: it spins on its watch's errors"
    );
}
