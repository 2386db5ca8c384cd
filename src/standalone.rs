//! The `reset` command: the same close/reset/follow run as the controller, against a cluster
//! without Kubernetes. The status lives in memory; `decide` and `steps` are reused unchanged.
//! Progress goes to stderr (only on a terminal), the JSON result to stdout. Does I/O (files,
//! Elasticsearch, the terminal).
//!
//! Credentials file format (`--credentials-file`): one credential line, either
//! `apiKey: <encoded API key>` or `<username>:<password>`; blank lines and lines starting
//! with `#` are ignored.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
};

use serde::Serialize;

use crate::{
    api::{CloseJobSpec, ElasticsearchSpec, JobResetSpec, JobResetStatus, names::is_job_id},
    cli::ResetArgs,
    es::{Auth, EsClient, EsConfig, EsError, REQUEST_TIMEOUT},
    run::decide::Observation,
    run::follow::Inline,
    run::steps::{self, Next, Sink, StepConfig},
};

/// Why the command could not run at all (as opposed to a run that failed: that is a result).
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error(
        "invalid job id {0:?}: lowercase letters, digits, '-' and '_', starting and ending with a letter or digit, at most 64 characters"
    )]
    InvalidJobId(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credentials file {path}: {detail}")]
    Credentials { path: PathBuf, detail: String },
    #[error(transparent)]
    Client(#[from] EsError),
}

/// The JSON printed at the end.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetResult {
    pub job_id: String,
    pub url: String,
    #[serde(flatten)]
    pub status: JobResetStatus,
}

/// Parses a credentials file's text. Errors name the line, never its content.
pub fn parse_credentials(text: &str) -> Result<Auth, String> {
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if found.is_some() {
            return Err(format!(
                "line {}: only one credential line is allowed",
                n + 1
            ));
        }
        let auth = if let Some(key) = line.strip_prefix("apiKey:") {
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("line {}: empty apiKey", n + 1));
            }
            Auth::ApiKey(key.to_string())
        } else if let Some((user, pass)) = line.split_once(':') {
            if user.is_empty() {
                return Err(format!("line {}: empty username", n + 1));
            }
            Auth::Basic {
                username: user.to_string(),
                password: pass.to_string(),
            }
        } else {
            return Err(format!(
                "line {}: expected `apiKey: <key>` or `<username>:<password>`",
                n + 1
            ));
        };
        found = Some(auth);
    }
    found.ok_or_else(|| "no credential line".to_string())
}

fn read(path: &Path) -> Result<Vec<u8>, StandaloneError> {
    std::fs::read(path).map_err(|source| StandaloneError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs the reset; returns the final (terminal) status.
pub async fn run(args: &ResetArgs) -> Result<ResetResult, StandaloneError> {
    if !is_job_id(&args.job) {
        return Err(StandaloneError::InvalidJobId(args.job.clone()));
    }
    let auth = match &args.credentials_file {
        Some(path) => {
            let bytes = read(path)?;
            let text = String::from_utf8(bytes).map_err(|_| StandaloneError::Credentials {
                path: path.clone(),
                detail: "not UTF-8 text".into(),
            })?;
            Some(
                parse_credentials(&text).map_err(|detail| StandaloneError::Credentials {
                    path: path.clone(),
                    detail,
                })?,
            )
        }
        None => None,
    };
    let ca_pem = args.ca_file.as_deref().map(read).transpose()?;
    let url = args.url.trim_end_matches('/').to_string();
    let es = EsClient::new(EsConfig {
        url: url.clone(),
        auth,
        ca_pem,
        insecure_skip_verify: args.insecure,
        opaque_id: Some(format!("jobreset/cli/{}", args.job)),
        request_timeout: REQUEST_TIMEOUT,
    })?;
    if args.insecure {
        tracing::warn!("TLS verification is disabled (--insecure)");
    }
    let target = ElasticsearchSpec {
        url: Some(url.clone()),
        ..Default::default()
    };
    let spec = JobResetSpec {
        close_job: CloseJobSpec {
            force: args.force,
            ..Default::default()
        },
        delete_user_annotations: args.delete_user_annotations,
        deadline_seconds: i64::try_from(args.deadline.as_secs())
            .unwrap_or(i64::MAX)
            .max(1),
        ..JobResetSpec::for_job(args.job.clone(), target)
    };
    let cfg = StepConfig {
        task_poll_timeout: args.task_poll_timeout,
        backoff_base: std::time::Duration::from_secs(1),
        backoff_cap: std::time::Duration::from_secs(60),
        gate: Default::default(),
        known_unsent: None,
    };
    let mut status = JobResetStatus::default();
    let mut sink = Progress {
        tty: std::io::stderr().is_terminal(),
    };
    loop {
        let next = steps::drive(
            Some(&es),
            &spec,
            None,
            &mut status,
            Observation::Start,
            &cfg,
            &mut sink,
            &Inline,
        )
        .await;
        // The terminal cannot refuse progress: `drive` never fails here.
        let Ok(next) = next;
        match next {
            Next::Done => break,
            // Retry delays (transient faults) and long-poll rounds; the task itself is followed
            // with server-side waits, not with these.
            Next::Requeue(d) => tokio::time::sleep(d).await,
        }
    }
    sink.finish();
    Ok(ResetResult {
        job_id: args.job.clone(),
        url,
        status,
    })
}

/// Prints a progress line on stderr when it is a terminal.
struct Progress {
    tty: bool,
}

impl Progress {
    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

impl Sink for Progress {
    /// Progress goes to the terminal, which cannot refuse it.
    type Error = std::convert::Infallible;

    async fn record(
        &mut self,
        _old: &JobResetStatus,
        new: &JobResetStatus,
    ) -> Result<(), Self::Error> {
        if self.tty {
            let line = format!(
                "{:<10} {:<18} {}",
                new.phase.as_str(),
                new.reason.as_deref().unwrap_or(""),
                new.message.as_deref().unwrap_or("")
            );
            let line: String = line.chars().take(160).collect();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_formats() {
        let basic = parse_credentials("# comment\n\nelastic:pa:ss\n");
        assert!(
            matches!(basic, Ok(Auth::Basic { username, password }) if username == "elastic" && password == "pa:ss")
        );
        let key = parse_credentials("apiKey: a2V5OnNlY3JldA==\n");
        assert!(matches!(key, Ok(Auth::ApiKey(k)) if k == "a2V5OnNlY3JldA=="));
    }

    #[test]
    fn credential_errors_do_not_echo_content() {
        for (text, expect) in [
            ("", "no credential line"),
            ("hunter2\n", "line 1"),
            ("u:p\nv:q\n", "only one"),
            (":hunter2\n", "empty username"),
            ("apiKey:   \n", "empty apiKey"),
        ] {
            let err = parse_credentials(text).err().unwrap_or_default();
            assert!(err.contains(expect), "{text:?} -> {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn result_json_shape() {
        let r = ResetResult {
            job_id: "j".into(),
            url: "http://x".into(),
            status: JobResetStatus {
                task_id: Some("n:1".into()),
                ..Default::default()
            },
        };
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v["jobId"], "j");
        assert_eq!(v["phase"], "Pending");
        assert_eq!(v["taskId"], "n:1");
    }
}
