//! Tests of `memory` (pure: the client they build is never called).

use super::*;

#[test]
fn keyed_by_uid_not_by_name() {
    let key = |uid: &str| RunKey {
        uid: uid.into(),
        obj: ObjectRef::new("same-name").within("ns"),
    };
    assert_ne!(
        key("uid-1"),
        key("uid-2"),
        "a re-created object is another run"
    );
    assert_eq!(key("uid-1"), key("uid-1"));
}

fn at(version: &str, phase: Phase) -> Arc<JobReset> {
    let mut o: JobReset = serde_json::from_value(serde_json::json!({
        "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
        "metadata": {"name": "r", "namespace": "ns", "uid": "uid-1", "resourceVersion": version},
        "spec": {"jobId": "j", "elasticsearch": {"url": "https://es:9200"}},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    o.status = Some(JobResetStatus {
        phase,
        task_id: (phase == Phase::Resetting).then(|| "n:1".into()),
        ..Default::default()
    });
    Arc::new(o)
}

#[test]
fn the_cache_stands_for_the_last_write_only_at_its_version_or_the_one_before() {
    let last = Known {
        base: "10".into(),
        version: "11".into(),
        status: JobResetStatus {
            phase: Phase::Resetting,
            task_id: Some("n:1".into()),
            ..Default::default()
        },
    };
    let seen = |cached: &Arc<JobReset>| {
        after_answer(cached, &last).map(|o| {
            let s = o.status.clone().unwrap_or_default();
            (o.metadata.resource_version.clone(), s.phase, s.task_id)
        })
    };
    let written = Some((Some("11".into()), Phase::Resetting, Some("n:1".into())));
    // The cache holds the write itself; or the version before it, to which the write's
    // answer is added.
    assert_eq!(seen(&at("11", Phase::Resetting)), written);
    assert_eq!(seen(&at("10", Phase::Pending)), written);
    // Someone else wrote (before or after), or a version never seen: read it.
    assert_eq!(seen(&at("12", Phase::Resetting)), None);
    assert_eq!(seen(&at("9", Phase::Pending)), None);
    assert_eq!(seen(&at("", Phase::Pending)), None);
}

#[tokio::test]
async fn only_a_write_past_pending_is_kept_and_a_failed_write_drops_it() {
    let memory = memory();
    let key = RunKey::of(&at("1", Phase::Pending));
    memory.wrote(&key, "1", &at("2", Phase::Pending));
    assert!(
        memory.as_last_known(&at("2", Phase::Pending)).is_none(),
        "Pending"
    );
    memory.wrote(&key, "2", &at("3", Phase::Resetting));
    assert!(memory.as_last_known(&at("3", Phase::Resetting)).is_some());
    let mut other = JobReset::clone(&at("3", Phase::Resetting));
    other.metadata.uid = Some("uid-2".into());
    let other = Arc::new(other);
    assert!(
        memory.as_last_known(&other).is_none(),
        "re-created: another uid"
    );
    assert!(memory.as_last_known(&at("2", Phase::Pending)).is_some());
    memory.write_unknown(&key);
    assert!(
        memory.as_last_known(&at("3", Phase::Resetting)).is_none(),
        "failed"
    );
    memory.wrote(&key, "3", &at("4", Phase::Resetting));
    memory.wrote(&key, "4", &at("5", Phase::Completed));
    assert!(
        memory.as_last_known(&at("5", Phase::Completed)).is_none(),
        "ended"
    );
    memory.wrote(&key, "5", &at("6", Phase::Resetting));
    memory.forget(&key);
    assert!(
        memory.as_last_known(&at("6", Phase::Resetting)).is_none(),
        "forgotten"
    );
}

#[tokio::test]
async fn a_read_stands_for_the_object_at_its_own_version_only() {
    let memory = memory();
    let key = RunKey::of(&at("1", Phase::Pending));
    memory.wrote(&key, "6", &at("7", Phase::Resetting));
    // Someone else changed it (version 8); the read after the conflict is what is known.
    memory.read(&key, &at("8", Phase::Resetting));
    assert!(memory.as_last_known(&at("8", Phase::Resetting)).is_some());
    // A cache still at the old write (or before it) is behind the read: read again.
    assert!(memory.as_last_known(&at("7", Phase::Resetting)).is_none());
    assert!(memory.as_last_known(&at("6", Phase::Pending)).is_none());
    memory.read(&key, &at("9", Phase::Pending));
    assert!(
        memory.as_last_known(&at("9", Phase::Pending)).is_none(),
        "Pending"
    );
}

fn memory() -> Memory {
    let (wake, _) = futures::channel::mpsc::unbounded();
    // Never called: building a client does no I/O.
    let url = "http://127.0.0.1:9"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| panic!("{e}"));
    let reporter = crate::k8s::events::Reporter {
        controller: "test".into(),
        instance: None,
    };
    Memory::new(
        Followers::new(1, 1, wake, Default::default()),
        Arc::new(Recorder::new(client, reporter)),
    )
}

#[tokio::test]
async fn an_echo_is_a_status_this_process_wrote_for_the_same_object() {
    let memory = memory();
    let obj = |uid: &str, reason: &str| {
        let mut o: JobReset = serde_json::from_value(serde_json::json!({
            "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
            "metadata": {"name": "r", "namespace": "ns", "uid": uid},
            "spec": {"jobId": "j", "elasticsearch": {"url": "https://es:9200"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        o.status = Some(JobResetStatus {
            reason: Some(reason.into()),
            ..Default::default()
        });
        o
    };
    let mine = obj("uid-1", "ResetRequested");
    let key = RunKey::of(&mine);
    assert!(!memory.is_echo(&mine), "nothing written yet");
    memory.writing(&key, mine.status.as_ref().unwrap_or_else(|| panic!()));
    assert!(memory.is_echo(&mine));
    // Another status (someone else's write, or one this process did not make), another
    // object of the same name: not echoes.
    assert!(!memory.is_echo(&obj("uid-1", "ResetStarted")));
    assert!(!memory.is_echo(&obj("uid-2", "ResetRequested")));
    memory.forget(&key);
    assert!(!memory.is_echo(&mine), "forgotten with the run");
}

/// A run this process moved past Pending is known as such until it ends, written or
/// only tried (a lost answer), whatever the cache shows meanwhile.
#[tokio::test]
async fn a_run_moved_past_pending_is_known_until_it_ends() {
    let memory = memory();
    let pending = at("1", Phase::Pending);
    let key = RunKey::of(&pending);
    let status = |phase| JobResetStatus {
        phase,
        ..Default::default()
    };
    memory.writing(&key, &status(Phase::Pending));
    assert!(
        !memory.moved_past_pending(&pending),
        "only a Pending status so far"
    );
    memory.writing(&key, &status(Phase::Resetting));
    memory.write_unknown(&key);
    assert!(
        memory.moved_past_pending(&pending),
        "the cache still shows it Pending"
    );
    memory.forget(&key);
    assert!(
        !memory.moved_past_pending(&pending),
        "forgotten with the run"
    );
}
