//! The `JobReset` custom resource (group `ml.jobreset.io`, version `v1alpha1`): spec, status,
//! schema validation (patterns, CEL rules) and printer columns. Pure types, no I/O.
//!
//! Every field carries a doc comment because it becomes the schema description that
//! `kubectl explain` shows.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::fanout::JobSelector;
use super::ledger::LedgerMode;
use super::restore::RestoreSpec;
use super::status::JobResetStatus;

fn is_default_ledger(l: &LedgerMode) -> bool {
    *l == LedgerMode::default()
}

fn is_default_restore(r: &RestoreSpec) -> bool {
    *r == RestoreSpec::default()
}
use super::names::{
    DNS1035_LABEL_PATTERN, DNS1123_LABEL_PATTERN, ECK_NAME_PATTERN, JOB_ID_PATTERN,
};

/// Default for `spec.deadlineSeconds`.
pub const DEFAULT_DEADLINE_SECONDS: i64 = 3600;
/// Default for `spec.closeJob.timeout` (Elasticsearch's own default).
pub const DEFAULT_CLOSE_TIMEOUT: &str = "30m";
/// Default key of the CA certificate inside `tls.caSecret`.
pub const DEFAULT_CA_KEY: &str = "ca.crt";

/// Asks for one reset of one Elasticsearch ML anomaly detection job: the operator closes the
/// job, starts the reset, records the reset's task id and follows it until Elasticsearch reports
/// the outcome. The spec cannot be changed after creation; create a new JobReset to reset again.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ml.jobreset.io",
    version = "v1alpha1",
    kind = "JobReset",
    plural = "jobresets",
    namespaced,
    status = "JobResetStatus",
    shortname = "jr",
    category = "ml",
    doc = "Resets one Elasticsearch ML anomaly detection job (close, reset, follow the reset task).",
    printcolumn = r#"{"name":"Job","type":"string","description":"The job to reset","jsonPath":".spec.jobId"}"#,
    printcolumn = r#"{"name":"Jobs","type":"string","description":"The expression over many jobs","jsonPath":".spec.jobs.expression","priority":1}"#,
    printcolumn = r#"{"name":"Phase","type":"string","description":"Where the run is","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Task","type":"string","description":"The reset task id","jsonPath":".status.taskId"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","description":"Why the run is where it is","jsonPath":".status.reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    // On the root, not on JobResetSpec: a schedule's template embeds the spec and stays editable.
    validation = Rule::new("self.spec == oldSelf.spec").message(
        "spec is immutable: a JobReset asks for one reset; create a new JobReset to reset the job again"
    )
)]
#[x_kube(validation = Rule::new("has(self.jobId) != has(self.jobs)").message(
    "set exactly one of jobId (one job) and jobs (an expression over many)"
))]
#[serde(rename_all = "camelCase")]
pub struct JobResetSpec {
    /// The id of the anomaly detection job to reset. Follows Elasticsearch's job id rules:
    /// lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit, at
    /// most 64 characters. Wildcards and groups are not accepted here: use `jobs`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = JOB_ID_PATTERN)
    )]
    pub job_id: String,

    /// Many jobs instead of one: an expression resolved once into a frozen list, each job
    /// reset by a child JobReset (named `<name>-<hash>`, labelled
    /// `ml.jobreset.io/parent: <name>`, owned by this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<JobSelector>,

    /// Resolve and check, write what would be reset and why into status (`wouldReset`), and
    /// touch nothing in Elasticsearch; ends Completed with reason DryRun.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,

    /// An RFC 3339 time after which this JobReset does nothing: one the operator first sees
    /// later fails with reason Expired, touching nothing. Guards against an old manifest
    /// applied again (a restore from backup, a re-synced repository) resetting a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("timestamp(self) > timestamp('1970-01-01T00:00:00Z')").message(
        "notAfter is an RFC 3339 time, e.g. 2026-12-31T23:59:59Z"
    ))]
    pub not_after: Option<String>,

    /// Delete this JobReset this many seconds after it finished (Completed or Failed). Off
    /// when left out. A JobReset that carries Argo CD's or Flux's tracking label or
    /// annotation is kept, with a Warning Event: they would create it again, and its job
    /// would be reset again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31_536_000))]
    pub ttl_seconds_after_finished: Option<u32>,

    /// How to reach the Elasticsearch cluster that holds the job.
    pub elasticsearch: ElasticsearchSpec,

    /// How the job is closed before the reset (a reset needs a closed job).
    #[serde(default)]
    pub close_job: CloseJobSpec,

    /// Also delete annotations created by users (Elasticsearch 8.7 and later). Annotations
    /// generated by Elasticsearch are always deleted.
    #[serde(default)]
    pub delete_user_annotations: bool,

    /// The name of this reset in the job's ledger (`custom_settings.jobreset_k8s_io`):
    /// `<namespace>/<name>` when left out. A JobReset whose key the job records as
    /// `succeeded` ends Completed with reason AlreadyApplied and touches nothing; to reset
    /// the job again on purpose, use a new name or a new runKey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    )]
    pub run_key: Option<String>,

    /// How the job's ledger is used: `BestEffort` (default: a failed write is a Warning
    /// Event), `Required` (no reset unless the `started` entry was written) or `Disabled`.
    #[serde(default, skip_serializing_if = "is_default_ledger")]
    pub ledger: LedgerMode,

    /// What to put back after a successful reset: `state: Previous` reopens the job and
    /// restarts its datafeed if they ran before (`datafeedStart`: Earliest, Now or a time).
    #[serde(default, skip_serializing_if = "is_default_restore")]
    pub restore: RestoreSpec,

    /// Limit on the whole run, in seconds, counted from the first status write. Past it the
    /// JobReset fails with reason DeadlineExceeded; a reset already running on the cluster is
    /// left to finish. Defaults to 3600; at most 30 days.
    #[serde(default = "default_deadline")]
    #[schemars(range(min = 1, max = 2592000))]
    pub deadline_seconds: i64,
}

fn default_deadline() -> i64 {
    DEFAULT_DEADLINE_SECONDS
}

impl JobResetSpec {
    /// A reset of one job on this cluster, every other field at its default.
    pub fn for_job(job_id: impl Into<String>, elasticsearch: ElasticsearchSpec) -> JobResetSpec {
        JobResetSpec {
            job_id: job_id.into(),
            jobs: None,
            dry_run: false,
            ttl_seconds_after_finished: None,
            not_after: None,
            run_key: None,
            ledger: LedgerMode::default(),
            restore: RestoreSpec::default(),
            elasticsearch,
            close_job: CloseJobSpec::default(),
            delete_user_annotations: false,
            deadline_seconds: DEFAULT_DEADLINE_SECONDS,
        }
    }
}

/// ECK's `elastic` superuser only ever talks to the cluster ECK's own CA vouches for: with
/// `elasticsearchRef` and no `credentialsSecret`, `tls` may set neither a CA nor
/// `insecureSkipVerify` (either would let the JobReset's author choose what the superuser's
/// password is sent to).
const ECK_TLS_RULE: &str = "!has(self.elasticsearchRef) || has(self.credentialsSecret) || !has(self.tls) || (!has(self.tls.caSecret) && !(has(self.tls.insecureSkipVerify) && self.tls.insecureSkipVerify))";
const ECK_TLS_MESSAGE: &str = "with elasticsearchRef and no credentialsSecret the operator logs in as ECK's elastic superuser, which only trusts ECK's own CA: remove tls.caSecret and tls.insecureSkipVerify, or give a credentialsSecret of your own";

/// Connection settings. Exactly one of `url` and `elasticsearchRef` must be set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new("has(self.url) != has(self.elasticsearchRef)").message(
    "set exactly one of elasticsearch.url and elasticsearch.elasticsearchRef"
))]
#[x_kube(validation = Rule::new(ECK_TLS_RULE).message(ECK_TLS_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct ElasticsearchSpec {
    /// Base URL of the cluster, e.g. `https://es.example:9200`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/]+(/.*)?$"))]
    pub url: Option<String>,

    /// An Elasticsearch cluster managed by ECK (Elastic Cloud on Kubernetes). The operator
    /// connects to `https://<serviceName or <name>-es-http>.<namespace>.svc:9200` and, without
    /// `credentialsSecret`, logs in as ECK's `elastic` superuser (password from the
    /// `<name>-es-elastic-user` Secret), trusting only ECK's CA (`<name>-es-http-certs-public`).
    /// A cluster in another namespace needs a `JobResetGrant` in that namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elasticsearch_ref: Option<ElasticsearchRef>,

    /// A Secret in the JobReset's namespace holding either `username` and `password` (basic
    /// authentication) or `apiKey` (the encoded API key). If both are present, `apiKey` is used.
    /// The user needs the `manage_ml` cluster privilege plus `cluster:monitor/task/get` (or
    /// `monitor`) to follow the reset task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretName>,

    /// TLS settings for the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
}

/// A reference to an ECK-managed `Elasticsearch` resource. The operator connects to exactly
/// `https://<serviceName>.<namespace>.svc:9200`; every part is checked as a DNS label, so no
/// value can point it at another host.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ElasticsearchRef {
    /// Name of the `Elasticsearch` resource (a DNS-1035 label of at most 55 characters, so
    /// that ECK's `<name>-es-http` Service name is one too).
    #[schemars(length(min = 1, max = 55))]
    #[x_kube(validation = Rule::new(format!("self.matches('{ECK_NAME_PATTERN}')")).message(
        "elasticsearchRef.name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
    ))]
    pub name: String,

    /// Namespace of the `Elasticsearch` resource; defaults to the JobReset's namespace.
    /// Another namespace needs a `JobResetGrant` there that names this JobReset's namespace
    /// (or the operator's `--allow-cross-namespace-ref`); without one the JobReset waits with
    /// reason CrossNamespaceRefDenied and nothing in that namespace is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_LABEL_PATTERN}')")).message(
        "elasticsearchRef.namespace must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
    ))]
    pub namespace: Option<String>,

    /// Name of the HTTP Service to connect to, in the Elasticsearch resource's namespace
    /// (a DNS-1035 label); defaults to `<name>-es-http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1035_LABEL_PATTERN}')")).message(
        "elasticsearchRef.serviceName must be a DNS-1035 label (a Service name): lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
    ))]
    pub service_name: Option<String>,
}

/// The name of a Secret in the JobReset's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretName {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A key inside a Secret in the JobReset's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,

    /// Key inside the Secret; defaults to `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// TLS settings.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// A Secret holding the PEM CA certificate(s) to trust instead of the system roots.
    /// With `elasticsearchRef` and a `credentialsSecret` of your own it replaces ECK's
    /// `<name>-es-http-certs-public` Secret; with ECK's `elastic` user it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,

    /// Skip certificate verification. For tests only: the operator logs a warning on every
    /// run that uses it. Refused with `elasticsearchRef` and ECK's `elastic` user.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// How the job is closed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloseJobSpec {
    /// Force-close the job (no final model snapshot, no buffer flush). A job in state `failed`
    /// is always force-closed.
    #[serde(default)]
    pub force: bool,

    /// How long Elasticsearch waits for the job to close, in Elasticsearch time units
    /// (e.g. `30s`, `30m`). Defaults to `30m`.
    #[serde(default = "default_close_timeout")]
    #[schemars(regex(pattern = r"^[0-9]+(d|h|m|s|ms|micros|nanos)$"))]
    pub timeout: String,
}

fn default_close_timeout() -> String {
    DEFAULT_CLOSE_TIMEOUT.to_string()
}

impl Default for CloseJobSpec {
    fn default() -> Self {
        CloseJobSpec {
            force: false,
            timeout: default_close_timeout(),
        }
    }
}

#[cfg(test)]
#[path = "jobreset_tests.rs"]
mod tests;
