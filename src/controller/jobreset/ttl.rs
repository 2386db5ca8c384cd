//! `spec.ttlSecondsAfterFinished`: a finished JobReset is deleted once its time is up. When
//! it is due is pure (`remaining`, `gitops_manager`); `expire` deletes (I/O: an Event and a
//! delete with a uid precondition, so a JobReset created again under the same name is never
//! the one deleted). One that Argo CD or Flux manages is kept, with a Warning: they would
//! create it again, and its job would be reset again, round after round.

use std::time::Duration;

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Preconditions},
};
use tracing::info;

use super::{
    events::{self, EventReason},
    reconcile::Context,
};
use crate::{api::JobReset, controller::error::Error, run::steps::Next};

/// How long until a finished JobReset is deleted (zero: now); `None` when it has no TTL or
/// is not finished.
pub fn remaining(obj: &JobReset, now: Timestamp) -> Option<Duration> {
    let ttl = obj.spec.ttl_seconds_after_finished?;
    let status = obj.status.as_ref().filter(|s| s.phase.is_terminal())?;
    // A terminal status without a completion time (written by an older operator) counts
    // from creation: never deleted before it could have finished.
    let finished = status
        .completion_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .or_else(|| obj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now);
    let due = finished.as_second().saturating_add(i64::from(ttl));
    let left = due.saturating_sub(now.as_second());
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

/// The GitOps tool that manages the object, by its tracking label or annotation.
pub fn gitops_manager(obj: &JobReset) -> Option<&'static str> {
    let labels = obj.labels();
    let annotations = obj.annotations();
    // Argo CD tracks by annotation (its default since 3.0) or by this label.
    if annotations.contains_key("argocd.argoproj.io/tracking-id")
        || labels.contains_key("app.kubernetes.io/instance")
    {
        return Some("Argo CD");
    }
    if labels.contains_key("kustomize.toolkit.fluxcd.io/name")
        || labels.contains_key("helm.toolkit.fluxcd.io/name")
    {
        return Some("Flux");
    }
    None
}

/// Deletes the finished JobReset once its TTL passed, else wakes when it will.
pub async fn expire(ctx: &Context, obj: &JobReset, wait: Duration) -> Result<Next, Error> {
    if !wait.is_zero() {
        return Ok(Next::Requeue(wait));
    }
    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    let ttl = obj.spec.ttl_seconds_after_finished.unwrap_or_default();
    if let Some(tool) = gitops_manager(obj) {
        let note = format!(
            "kept although ttlSecondsAfterFinished ({ttl}s) passed: {tool} manages it and would create it again, which resets the job again; remove it from {tool}'s source, or leave ttlSecondsAfterFinished out of objects {tool} syncs"
        );
        events::publish(&ctx.recorder, obj, EventReason::ExpiredButManaged, note).await;
        return Ok(Next::Done);
    }
    let note = format!("deleted {ttl}s after it finished (ttlSecondsAfterFinished)");
    events::publish(&ctx.recorder, obj, EventReason::Expired, note).await;
    let api: Api<JobReset> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: obj.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {
            info!(namespace = %namespace, name = %name, "deleted a finished JobReset (ttlSecondsAfterFinished)");
            Ok(Next::Done)
        }
        // Gone already, or the name now belongs to a new object: nothing of ours to delete.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(Next::Done),
        Err(source) => Err(Error::DeleteObject {
            kind: "JobReset",
            namespace,
            name,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{JobResetStatus, Phase};

    fn finished(ttl: Option<u32>, phase: Phase, at: Option<&str>) -> JobReset {
        let mut obj = JobReset::new(
            "r",
            serde_json::from_value(
                serde_json::json!({"jobId": "j", "elasticsearch": {"url": "http://es:9200"}}),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        obj.spec.ttl_seconds_after_finished = ttl;
        obj.status = Some(JobResetStatus {
            phase,
            completion_time: at.map(str::to_owned),
            ..Default::default()
        });
        obj
    }

    fn now() -> Timestamp {
        "2026-05-01T10:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn counts_from_the_completion_time() {
        let cases = [
            (
                Some(60),
                Phase::Completed,
                Some("2026-05-01T09:59:30Z"),
                Some(30),
            ),
            (
                Some(60),
                Phase::Failed,
                Some("2026-05-01T09:58:00Z"),
                Some(0),
            ),
            (
                Some(0),
                Phase::Completed,
                Some("2026-05-01T10:00:00Z"),
                Some(0),
            ),
            (Some(60), Phase::Resetting, None, None),
            (None, Phase::Completed, Some("2026-05-01T09:00:00Z"), None),
            // No completion time: counted from creation (none here: from now).
            (Some(60), Phase::Completed, None, Some(60)),
        ];
        for (ttl, phase, at, want) in cases {
            let got = remaining(&finished(ttl, phase, at), now()).map(|d| d.as_secs());
            assert_eq!(got, want, "{ttl:?} {phase:?} {at:?}");
        }
    }

    #[test]
    fn knows_argo_cd_and_flux() {
        let mut obj = finished(Some(0), Phase::Completed, None);
        assert_eq!(gitops_manager(&obj), None);
        obj.annotations_mut().insert(
            "argocd.argoproj.io/tracking-id".into(),
            "app:ml.jobreset.io/JobReset:ns/r".into(),
        );
        assert_eq!(gitops_manager(&obj), Some("Argo CD"));
        let mut flux = finished(Some(0), Phase::Completed, None);
        flux.labels_mut()
            .insert("kustomize.toolkit.fluxcd.io/name".into(), "apps".into());
        assert_eq!(gitops_manager(&flux), Some("Flux"));
    }
}
