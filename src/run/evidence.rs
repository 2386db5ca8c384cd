//! What a job's data says about a reset whose answer was lost: a reset clears the model
//! snapshot, the processed records and the latest record time, so evidence that one ran
//! points one way only. New data points the other way; a job that shows both cannot tell.
//! Pure, no I/O.

use crate::api::JobFingerprint;

/// How the job changed between the fingerprint recorded before the reset and now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Exactly as recorded.
    Unchanged,
    /// Only what a reset does: snapshot gone, fewer records, latest record earlier or gone.
    Cleared,
    /// Only new data: more records, a later record, a new snapshot.
    Gained,
    /// Both: it may have been reset and fed again, or never reset.
    Mixed,
}

pub fn compare(before: &JobFingerprint, now: &JobFingerprint) -> Evidence {
    let cleared = (before.model_snapshot_id.is_some() && now.model_snapshot_id.is_none())
        || now.processed_record_count < before.processed_record_count
        || match (before.latest_record_time_ms, now.latest_record_time_ms) {
            (Some(_), None) => true,
            (Some(b), Some(n)) => n < b,
            _ => false,
        };
    let gained = now.processed_record_count > before.processed_record_count
        || match (before.latest_record_time_ms, now.latest_record_time_ms) {
            (None, Some(_)) => true,
            (Some(b), Some(n)) => n > b,
            _ => false,
        }
        || (now.model_snapshot_id.is_some() && now.model_snapshot_id != before.model_snapshot_id);
    match (cleared, gained) {
        (false, false) => Evidence::Unchanged,
        (true, false) => Evidence::Cleared,
        (false, true) => Evidence::Gained,
        (true, true) => Evidence::Mixed,
    }
}

/// What changed, for a message: `records 1234 -> 0, snapshot 1700000000 -> none`.
pub fn describe(before: &JobFingerprint, now: &JobFingerprint) -> String {
    let snap = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
    let time = |t: Option<i64>| t.map_or_else(|| "none".into(), |t| t.to_string());
    let mut parts = vec![];
    if before.processed_record_count != now.processed_record_count {
        parts.push(format!(
            "records {} -> {}",
            before.processed_record_count, now.processed_record_count
        ));
    }
    if before.model_snapshot_id != now.model_snapshot_id {
        parts.push(format!(
            "snapshot {} -> {}",
            snap(&before.model_snapshot_id),
            snap(&now.model_snapshot_id)
        ));
    }
    if before.latest_record_time_ms != now.latest_record_time_ms {
        parts.push(format!(
            "latest record {} -> {}",
            time(before.latest_record_time_ms),
            time(now.latest_record_time_ms)
        ));
    }
    if parts.is_empty() {
        "unchanged".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(snap: Option<&str>, records: u64, latest: Option<i64>) -> JobFingerprint {
        JobFingerprint {
            model_snapshot_id: snap.map(String::from),
            processed_record_count: records,
            latest_record_time_ms: latest,
        }
    }

    #[test]
    fn table() {
        let data = fp(Some("s1"), 1234, Some(1000));
        let empty = fp(None, 0, None);
        let cases = [
            (
                "nothing changed",
                &data,
                fp(Some("s1"), 1234, Some(1000)),
                Evidence::Unchanged,
            ),
            ("reset", &data, empty.clone(), Evidence::Cleared),
            (
                "snapshot gone only",
                &data,
                fp(None, 1234, Some(1000)),
                Evidence::Cleared,
            ),
            (
                "more records (a datafeed ran)",
                &data,
                fp(Some("s1"), 2000, Some(2000)),
                Evidence::Gained,
            ),
            (
                "a new snapshot only",
                &data,
                fp(Some("s2"), 1234, Some(1000)),
                Evidence::Gained,
            ),
            (
                "reset, then fed again",
                &data,
                fp(Some("s2"), 10, Some(500)),
                Evidence::Mixed,
            ),
            (
                "reset, then fed past the old data",
                &data,
                fp(None, 3000, Some(900)),
                Evidence::Mixed,
            ),
            (
                "empty stays empty",
                &empty,
                empty.clone(),
                Evidence::Unchanged,
            ),
            (
                "empty, then fed",
                &empty,
                fp(None, 5, Some(10)),
                Evidence::Gained,
            ),
        ];
        for (name, before, now, want) in cases {
            assert_eq!(compare(before, &now), want, "{name}");
        }
        assert_eq!(
            describe(&data, &empty),
            "records 1234 -> 0, snapshot s1 -> none, latest record 1000 -> none"
        );
    }
}
