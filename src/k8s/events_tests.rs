use super::*;

fn sent(what: u64, name: &str, count: i32, last: Instant) -> Sent {
    Sent {
        what,
        namespace: "team".into(),
        name: name.into(),
        count,
        last,
    }
}

#[test]
fn a_repeat_within_the_window_counts_into_the_first_event() {
    let t0 = Instant::now();
    let mut seen = Seen::default();
    seen.record("uid-1".into(), sent(7, "run.1", 1, t0));
    let later = t0 + Duration::from_secs(60);
    assert_eq!(
        seen.repeat("uid-1", 7, later),
        Some(("team".into(), "run.1".into(), 2))
    );
    // Another reason or note, or another object, is a new Event.
    assert_eq!(seen.repeat("uid-1", 8, later), None);
    assert_eq!(seen.repeat("uid-2", 7, later), None);
    // After the window, a new Event too.
    assert_eq!(seen.repeat("uid-1", 7, t0 + SERIES_WINDOW), None);
}

#[test]
fn recording_a_repeat_replaces_the_entry() {
    let t0 = Instant::now();
    let mut seen = Seen::default();
    seen.record("uid-1".into(), sent(7, "run.1", 1, t0));
    seen.record("uid-1".into(), sent(7, "run.1", 2, t0));
    assert_eq!(seen.by_object["uid-1"].len(), 1);
    assert_eq!(
        seen.repeat("uid-1", 7, t0),
        Some(("team".into(), "run.1".into(), 3))
    );
}

#[test]
fn old_entries_are_pruned_as_objects_come_and_go() {
    let t0 = Instant::now();
    let mut seen = Seen::default();
    let objects = PRUNE_FLOOR * 10;
    for i in 0..objects {
        // One object every two seconds: only the last window's worth stays.
        let at = t0 + Duration::from_secs(2 * i as u64);
        seen.record(format!("uid-{i}"), sent(1, "e", 1, at));
    }
    let window = (SERIES_WINDOW.as_secs() / 2) as usize;
    assert!(
        seen.by_object.len() <= 2 * window.max(PRUNE_FLOOR),
        "{} held",
        seen.by_object.len()
    );
    assert!(seen.by_object.contains_key(&format!("uid-{}", objects - 1)));
}

#[test]
fn objects_without_uid_are_told_apart_by_kind_and_name() {
    let r = |kind: &str, name: &str| ObjectReference {
        kind: Some(kind.into()),
        name: Some(name.into()),
        namespace: Some("team".into()),
        ..Default::default()
    };
    assert_ne!(
        object_key(&r("JobReset", "a")),
        object_key(&r("JobResetSchedule", "a"))
    );
    let with_uid = ObjectReference {
        uid: Some("u".into()),
        ..r("JobReset", "a")
    };
    assert_eq!(object_key(&with_uid), "u");
}
