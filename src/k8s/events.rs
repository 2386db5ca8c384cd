//! Publishing `events.k8s.io/v1` Events about objects, whatever their kind. Does I/O (the API
//! server); a failure is logged, never fatal, since the object's status is the record.
//!
//! Our own recorder rather than kube's: kube's keeps every Event it published for six
//! minutes, whole, and walks that cache on each publish, so at hundreds of resets a second it
//! held tens of megabytes and cost a share of the CPU that grew with the rate. This one keeps
//! per object only what a repeat needs (the Event's name and count), drops an object's entries
//! when the controller forgets the object, and prunes the rest in amortised constant time. The
//! behaviour kube users know stays: the same Event about the same object within six minutes
//! updates one Event's `series` instead of creating another.

use std::{
    collections::{HashMap, hash_map::DefaultHasher},
    hash::{Hash, Hasher},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        core::v1::ObjectReference,
        events::v1::{Event, EventSeries},
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use tracing::warn;

/// Event notes are limited to 1 kB.
const NOTE_LIMIT: usize = 1000;
/// How long a repeat counts into the earlier Event (client-go's and kube's figure).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Below this many objects, pruning is not worth a pass.
const PRUNE_FLOOR: usize = 256;

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Who reports: the controller's name and, in a pod, the pod's.
#[derive(Clone, Debug)]
pub struct Reporter {
    pub controller: String,
    pub instance: Option<String>,
}

/// One Event sent about an object, as far as a repeat needs it.
struct Sent {
    /// Hash of (reason, type, note): a repeat is the same on all three.
    what: u64,
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

#[derive(Default)]
struct Seen {
    /// Per object (by uid, or namespace/kind/name when it has none).
    by_object: HashMap<String, Vec<Sent>>,
    /// Objects held after the last prune; the next waits until that doubles.
    after_prune: usize,
}

pub struct Recorder {
    client: Client,
    reporter: Reporter,
    seen: Mutex<Seen>,
}

/// What `publish` sends for one Event.
enum Send {
    Create(Box<Event>),
    Repeat {
        namespace: String,
        name: String,
        count: i32,
    },
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Recorder {
        Recorder {
            client,
            reporter,
            seen: Mutex::default(),
        }
    }

    /// Publishes one Event about `regarding`; a failure is logged.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        type_: EventType,
        note: String,
    ) {
        let note: String = note.chars().take(NOTE_LIMIT).collect();
        let object = object_key(regarding);
        let what = what_hash(reason, type_, &note);
        let now = Instant::now();
        let repeat = self.lock().repeat(&object, what, now);
        let send = match repeat {
            Some((namespace, name, count)) => Send::Repeat {
                namespace,
                name,
                count,
            },
            None => Send::Create(Box::new(self.event(regarding, reason, type_, note))),
        };
        let sent = match send {
            Send::Create(event) => {
                let namespace = event.metadata.namespace.clone().unwrap_or_default();
                let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
                api.create(&PostParams::default(), &event)
                    .await
                    .map(|e| (namespace, e.metadata.name.unwrap_or_default(), 1))
            }
            Send::Repeat {
                namespace,
                name,
                count,
            } => {
                let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
                let series = serde_json::json!({"series": EventSeries {
                    count,
                    last_observed_time: MicroTime(jiff::Timestamp::now()),
                }});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                    .await
                    .map(|_| (namespace, name, count))
            }
        };
        match sent {
            Ok((namespace, name, count)) => {
                let sent = Sent {
                    what,
                    namespace,
                    name,
                    count,
                    last: Instant::now(),
                };
                self.lock().record(object, sent);
            }
            Err(e) => warn!(reason, error = %e, "could not publish Event"),
        }
    }

    /// Forgets what was sent about one object (it ended or is gone): its next Event, if any,
    /// is a new one.
    pub fn forget(&self, uid: &str) {
        self.lock().by_object.remove(uid);
    }

    fn event(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        type_: EventType,
        note: String,
    ) -> Event {
        let now = jiff::Timestamp::now();
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let base = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        Event {
            metadata: ObjectMeta {
                // Client-go's naming: the object's name and the time in hex nanoseconds.
                name: Some(format!("{base}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(reason.to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(note),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(type_.as_str().to_owned()),
            ..Default::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Seen> {
        // Each change is one insert or remove: a poisoned lock still holds consistent maps.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Seen {
    /// The Event a repeat of `what` about `object` updates, with its next count.
    fn repeat(&self, object: &str, what: u64, now: Instant) -> Option<(String, String, i32)> {
        self.by_object
            .get(object)?
            .iter()
            .find(|s| s.what == what && now.duration_since(s.last) < SERIES_WINDOW)
            .map(|s| {
                (
                    s.namespace.clone(),
                    s.name.clone(),
                    s.count.saturating_add(1),
                )
            })
    }

    fn record(&mut self, object: String, sent: Sent) {
        let now = sent.last;
        if self.by_object.len() >= (2 * self.after_prune).max(PRUNE_FLOOR) {
            self.by_object.retain(|_, sent| {
                sent.retain(|s| now.duration_since(s.last) < SERIES_WINDOW);
                !sent.is_empty()
            });
            self.after_prune = self.by_object.len();
        }
        let held = self.by_object.entry(object).or_default();
        held.retain(|s| s.what != sent.what);
        held.push(sent);
    }
}

fn object_key(r: &ObjectReference) -> String {
    match &r.uid {
        Some(uid) => uid.clone(),
        None => format!(
            "{}/{}/{}",
            r.namespace.as_deref().unwrap_or_default(),
            r.kind.as_deref().unwrap_or_default(),
            r.name.as_deref().unwrap_or_default()
        ),
    }
}

fn what_hash(reason: &str, type_: EventType, note: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (reason, type_, note).hash(&mut h);
    h.finish()
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
