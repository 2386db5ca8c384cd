//! Command line definition (clap): `run`, `crd` and `reset`. Pure, no I/O.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

/// Resets Elasticsearch ML anomaly detection jobs declaratively.
#[derive(Debug, Parser)]
#[command(name = "jobreset-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (uses KUBECONFIG or the in-cluster config, like kubectl).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Close, reset and follow one job directly against a cluster, without Kubernetes.
    /// Prints progress on stderr (when it is a terminal) and a JSON result on stdout.
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Watch JobResets in this namespace only (default: all namespaces).
    #[arg(long, env = "JOBRESET_NAMESPACE")]
    pub namespace: Option<String>,
    /// How many JobResets are reconciled at the same time (following a running reset does
    /// not hold one of these: see --max-task-follows).
    #[arg(long, default_value_t = 8)]
    pub concurrency: u16,
    /// How many of the runs' requests to the API server are out at once (0: no limit);
    /// those of runs whose reset was sent go first.
    #[arg(long, default_value_t = 4)]
    pub kube_requests: usize,
    /// How many reset tasks are long-polled at the same time (one connection each).
    #[arg(long, default_value_t = 1024)]
    pub max_task_follows: usize,
    /// Of those, how many the JobResets of one namespace may hold at once (a tenant whose
    /// server never answers holds up nobody else's).
    #[arg(long, default_value_t = 256)]
    pub max_task_follows_per_namespace: usize,
    /// Server-side wait of each `GET _tasks/<id>?wait_for_completion=true` long-poll.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub task_poll_timeout: Duration,
    /// First retry delay after a transient fault (doubles on each retry).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub backoff_base: Duration,
    /// Longest retry delay after transient faults.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub backoff_cap: Duration,
    /// URL of an ECK-managed cluster; `{service}`, `{namespace}` and `{name}` are substituted.
    /// Change it only for tests or out-of-cluster runs.
    #[arg(long, default_value = crate::controller::DEFAULT_ECK_URL_TEMPLATE)]
    pub eck_url_template: String,
    /// Let JobResets in namespace FROM use `elasticsearchRef` into namespace TO (ECK's
    /// `elastic` user included) without a JobResetGrant there: `FROM=TO`, `*` for any
    /// namespace, repeatable or comma-separated. For cluster admins; by default every
    /// cross-namespace reference needs a JobResetGrant in the target namespace.
    #[arg(
        long,
        value_delimiter = ',',
        env = "JOBRESET_ALLOW_CROSS_NAMESPACE_REFS"
    )]
    pub allow_cross_namespace_ref: Vec<crate::controller::jobreset::access::AllowedRef>,
    /// Serve Prometheus `/metrics`, `/healthz` and `/readyz` on this address (e.g.
    /// `0.0.0.0:8080`) from process start, on every replica; off when not given.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Act only while holding a coordination.k8s.io Lease, so that several replicas can run
    /// and exactly one of them acts. Losing the Lease stops the process.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: POD_NAMESPACE, else the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, default_value = "jobreset-operator")]
    pub leader_election_id: String,
    /// How long an unrenewed Lease stays taken: a replica takes it over once it has seen it
    /// unchanged for this long.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps acting without a renewal landing, counted from the send of
    /// its last one that did; must be shorter than --lease-duration.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// How often the leader renews the Lease and the others look at it (jittered up to
    /// twice this).
    #[arg(long, alias = "lease-renew", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
    /// On SIGTERM, how long in-flight reconciles may take to finish before the process
    /// stops (a reset between its request and the write of its task id is always let
    /// through). Keep it within the Pod's terminationGracePeriodSeconds.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Base URL of the cluster, e.g. https://localhost:9200.
    #[arg(long)]
    pub url: String,
    /// The anomaly detection job to reset.
    #[arg(long = "job")]
    pub job: String,
    /// A file with credentials: either a line `apiKey: <encoded key>` or a line
    /// `<username>:<password>` (blank lines and lines starting with `#` are ignored).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// A PEM file with the CA certificate(s) to trust.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Skip TLS certificate verification (tests only).
    #[arg(long)]
    pub insecure: bool,
    /// Force-close the job.
    #[arg(long)]
    pub force: bool,
    /// Also delete user annotations (Elasticsearch 8.7+).
    #[arg(long)]
    pub delete_user_annotations: bool,
    /// Give up after this long (a reset already running on the cluster is left to finish).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Server-side wait of each task long-poll.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub task_poll_timeout: Duration,
}

/// Parses a duration in jiff's friendly format (`500ms`, `30s`, `5m`, `1h30m`), ISO 8601
/// (`PT30S`), or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(Duration::from_secs)
            .map_err(|e| format!("invalid duration {s:?}: {e}"));
    }
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("invalid duration {s:?} (expected e.g. 30s, 5m, 500ms): {e}"))?;
    Duration::try_from(d).map_err(|_| format!("invalid duration {s:?}: it is negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("PT1M"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("abc").is_err());
        assert!(
            parse_duration("3w").is_err(),
            "weeks are not a fixed length"
        );
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn run_defaults() {
        let cli = Cli::try_parse_from(["jobreset-operator", "run"]).ok();
        let Some(Cli {
            command: Command::Run(args),
        }) = cli
        else {
            panic!("run parses")
        };
        assert_eq!(args.concurrency, 8);
        assert_eq!(args.task_poll_timeout, Duration::from_secs(30));
        assert!(args.namespace.is_none());
    }
}
