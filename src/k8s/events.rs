//! Publishing one `events.k8s.io/v1` Event about an object, whatever its kind. Does I/O
//! (the API server, through kube's `Recorder`); a failure is logged, never fatal, since the
//! object's status is the record.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

/// Event notes are limited to 1 kB.
const NOTE_LIMIT: usize = 1000;

pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    reason: &str,
    type_: EventType,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.chars().take(NOTE_LIMIT).collect()),
        action: reason.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&ev, regarding).await {
        warn!(reason, error = %e, "could not publish Event");
    }
}
