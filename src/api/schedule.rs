//! The `JobResetSchedule` custom resource: creates JobResets on a cron schedule in a time
//! zone, as a CronJob creates Jobs, and keeps a bounded history of them. Pure types, no I/O.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::jobreset::JobResetSpec;
use super::status::Condition;

/// Default `successfulRunsHistoryLimit`.
pub const DEFAULT_SUCCESSFUL_HISTORY: u32 = 3;
/// Default `failedRunsHistoryLimit`.
pub const DEFAULT_FAILED_HISTORY: u32 = 1;

/// Five cron fields, or a macro; the message names the seconds-field trap.
const SCHEDULE_RULE: &str =
    r"self.matches('^\\s*(@(yearly|annually|monthly|weekly|daily|hourly)|\\S+(\\s+\\S+){4})\\s*$')";

/// Creates a JobReset at each time a cron schedule names, in a time zone; keeps the last
/// few. The controller never writes the spec.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ml.jobreset.io",
    version = "v1alpha1",
    kind = "JobResetSchedule",
    plural = "jobresetschedules",
    namespaced,
    status = "JobResetScheduleStatus",
    shortname = "jrs",
    category = "ml",
    doc = "Creates JobResets on a cron schedule (a CronJob for ML job resets).",
    printcolumn = r#"{"name":"Schedule","type":"string","description":"Cron schedule","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"TimeZone","type":"string","description":"IANA time zone of the schedule","jsonPath":".spec.timeZone"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","description":"No new runs while true","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Active","type":"integer","description":"Runs not finished","jsonPath":".status.activeCount"}"#,
    printcolumn = r#"{"name":"Last Schedule","type":"date","description":"When the last run was created for","jsonPath":".status.lastScheduleTime"}"#,
    printcolumn = r#"{"name":"Next","type":"string","description":"The next slot","jsonPath":".status.nextScheduleTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct JobResetScheduleSpec {
    /// When to run: five cron fields (minute hour day-of-month month day-of-week, e.g.
    /// `0 3 * * 0` for Sundays at 03:00) or `@hourly`, `@daily`, `@weekly`, `@monthly`,
    /// `@yearly`. A leading seconds field (six fields, as in CloudNativePG) is rejected.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new(SCHEDULE_RULE).message(
        "schedule takes five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly; a seconds field (six fields) is not supported"
    ))]
    pub schedule: String,

    /// The IANA time zone the schedule is read in (e.g. `Europe/Berlin`); UTC when left
    /// out. A local time the clock skips (spring forward) runs at the first instant after
    /// the gap; an hour the clock repeats (fall back) runs once. An unknown zone stalls the
    /// schedule with reason UnknownTimeZone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_+\-/]+$"))]
    pub time_zone: Option<String>,

    /// `Forbid` (the default): a slot that comes while a run of this schedule is still
    /// going is skipped, with an Event. `Allow`: runs may overlap (runs on the same job are
    /// still one at a time, in creation order).
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// How late a run may start, in seconds, after its slot (e.g. after the operator was
    /// down). Of the slots missed, only the latest runs, and only within this deadline; the
    /// others are recorded as missed (`status.lastMissedTime`, Event MissedSchedule). Left
    /// out: the latest missed slot always runs once, however late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub starting_deadline_seconds: Option<i64>,

    /// No new runs while true; runs already created go on. On resume, slots that fell in the
    /// suspension are treated as missed ones (only the latest, only within the deadline).
    #[serde(default)]
    pub suspend: bool,

    /// The JobReset each run creates.
    pub job_reset_template: JobResetTemplate,

    /// Completed runs kept; older ones are deleted. Defaults to 3.
    #[serde(default = "default_successful")]
    #[schemars(range(max = 100))]
    pub successful_runs_history_limit: u32,

    /// Failed runs kept; older ones are deleted. Defaults to 1.
    #[serde(default = "default_failed")]
    #[schemars(range(max = 100))]
    pub failed_runs_history_limit: u32,
}

fn default_successful() -> u32 {
    DEFAULT_SUCCESSFUL_HISTORY
}

fn default_failed() -> u32 {
    DEFAULT_FAILED_HISTORY
}

/// Whether runs of one schedule may overlap.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConcurrencyPolicy {
    /// Skip a slot while a run is going.
    #[default]
    Forbid,
    /// Start every slot.
    Allow,
}

/// The JobReset a run creates: its labels and annotations, and its spec.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
// A run the schedule has not yet recorded must still exist when the schedule looks for it.
#[x_kube(validation = Rule::new("!has(self.spec.ttlSecondsAfterFinished)").message(
    "runs of a schedule are kept and deleted by successfulRunsHistoryLimit and failedRunsHistoryLimit: remove spec.ttlSecondsAfterFinished from the template"
))]
pub struct JobResetTemplate {
    /// Labels and annotations for each run's JobReset. The schedule's own labels are never
    /// copied (GitOps tracking labels on runs would make Argo CD or Flux prune them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,

    /// The spec of each run's JobReset: one `jobId` or many `jobs`.
    pub spec: JobResetSpec,
}

/// Labels and annotations.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct TemplateMetadata {
    /// Labels for each run's JobReset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for each run's JobReset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What the schedule did and will do.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobResetScheduleStatus {
    /// The slot of the last run created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,

    /// When the last run that completed finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,

    /// The next slot (RFC 3339, in the schedule's time zone); absent while suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,

    /// The last slot skipped under `concurrencyPolicy: Forbid` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_skipped_time: Option<String>,

    /// The last slot that was missed and not run (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_missed_time: Option<String>,

    /// Slots missed and not run, in all.
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub missed_runs: u64,

    /// The runs not finished yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<RunRef>,

    /// How many runs are not finished (for the printer column).
    #[serde(default)]
    pub active_count: u32,

    /// kstatus conditions: Ready, Stalled (e.g. UnknownTimeZone, InvalidSchedule) and
    /// Suspended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A run (a JobReset this schedule created).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunRef {
    /// The JobReset's name.
    pub name: String,
    /// Its slot (RFC 3339).
    pub scheduled_time: String,
}
