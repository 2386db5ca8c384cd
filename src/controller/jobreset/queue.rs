//! The per-job queue: JobResets of the same job on the same cluster run one at a time. A run
//! never starts while another on its target is past Pending; among waiting runs the one
//! created first goes first (creation time, then namespace and name: a total, stable order),
//! except that a run which cannot connect yet (a missing Secret, a refused cross-namespace
//! reference, a certificate it does not trust, ...) holds nobody up, so no tenant can block
//! another's resets by parking a run that never starts. `goes_first` is pure and
//! table-tested; `same_target` looks in the cache;
//! `blocker` reads the candidates fresh from the API server (I/O). Two runs checking at the
//! same moment cannot both pass: each check is made under its target's turn (`starts`).

use std::sync::Arc;

use kube::{Api, Client, ResourceExt, runtime::reflector::Store};

use super::{connect::UNAVAILABLE_REASONS, starts};
use crate::{
    api::{JobReset, Phase},
    controller::error::Error,
    controller::index::JobIndex,
    es::UNTRUSTED,
};

/// Who a waiting run waits for, as its status may say it: another namespace's JobResets are
/// not named (their names are not this tenant's business).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// A JobReset of the same namespace.
    Named(String),
    /// A JobReset of another namespace.
    Elsewhere,
}

/// The order of waiting runs.
fn order_key(o: &JobReset) -> (Option<jiff::Timestamp>, String, String) {
    (
        o.metadata.creation_timestamp.as_ref().map(|t| t.0),
        o.namespace().unwrap_or_default(),
        o.name_any(),
    )
}

/// Whether `other` (a run on the same target) must finish before `me` may start.
pub fn goes_first(me: &JobReset, other: &JobReset) -> bool {
    let status = other.status.as_ref();
    match status.map(|s| s.phase).unwrap_or_default() {
        Phase::Completed | Phase::Failed => false,
        // Under way: nobody overtakes it, whatever the order.
        Phase::Closing | Phase::Resetting | Phase::Restoring => true,
        Phase::Pending => {
            let reason = status.and_then(|s| s.reason.as_deref());
            // Nor does one that cannot trust the cluster's certificate with other settings
            // than `me`'s: anyone can make one (a `url` without the CA), and it would park
            // ahead of every tenant's resets. With the same settings they share its fate, and
            // the order stands: both may be mended at once.
            let untrusted = reason == Some(UNTRUSTED)
                && (other.namespace() != me.namespace()
                    || other.spec.elasticsearch != me.spec.elasticsearch);
            let stuck = untrusted || reason.is_some_and(|r| UNAVAILABLE_REASONS.contains(&r));
            !stuck && order_key(other) < order_key(me)
        }
    }
}

/// Other JobResets (per the cache) for the same job and cluster that are not over.
pub fn same_target(
    store: &Store<JobReset>,
    jobs: &JobIndex,
    me: &JobReset,
    template: &str,
) -> Vec<Arc<JobReset>> {
    // Fan-out parents and dry runs touch no job: they neither wait nor hold anyone up.
    let Some(mine) = starts::target_of(me, &me.namespace().unwrap_or_default(), template) else {
        return vec![];
    };
    let my_uid = me.metadata.uid.as_deref();
    // The index names the runs of this job only; the store says what each is now.
    jobs.of_job(&me.spec.job_id)
        .iter()
        .filter_map(|r| store.get(r))
        .filter(|o| o.metadata.uid.as_deref() != my_uid)
        .filter(|o| !o.status.as_ref().is_some_and(|s| s.phase.is_terminal()))
        .filter(|o| {
            let ns = o.namespace().unwrap_or_default();
            starts::target_of(o, &ns, template).as_ref() == Some(&mine)
        })
        .collect()
}

/// The run `me` must wait for, if any. The candidates are those the cache shows going
/// first, and those this process moved past Pending (`moved`: its own write may not be in
/// the cache yet, which may still show the run stuck, or waiting behind `me`); each is read
/// fresh (the cache may not show yet that it finished) and judged as read.
pub async fn blocker(
    client: &Client,
    store: &Store<JobReset>,
    jobs: &JobIndex,
    me: &JobReset,
    template: &str,
    moved: &(dyn Fn(&JobReset) -> bool + Sync),
) -> Result<Option<Blocker>, Error> {
    let mut ahead: Vec<_> = same_target(store, jobs, me, template)
        .into_iter()
        .filter(|o| goes_first(me, o) || moved(o))
        .collect();
    // Runs under way first: they are the likeliest to still hold the job.
    ahead.sort_by_key(|o| {
        (
            o.status.as_ref().is_none_or(|s| s.phase == Phase::Pending),
            order_key(o),
        )
    });
    let my_ns = me.namespace().unwrap_or_default();
    let mine = starts::target_of(me, &my_ns, template);
    for other in ahead {
        let ns = other.namespace().unwrap_or_default();
        let name = other.name_any();
        let api: Api<JobReset> = Api::namespaced(client.clone(), &ns);
        let fresh = api
            .get_opt(&name)
            .await
            .map_err(|source| Error::ReadObject {
                namespace: ns.clone(),
                name: name.clone(),
                source,
            })?;
        // A JobReset re-created under that name may be of another job.
        let blocks = fresh
            .is_some_and(|f| starts::target_of(&f, &ns, template) == mine && goes_first(me, &f));
        if blocks {
            return Ok(Some(if ns == my_ns {
                Blocker::Named(name)
            } else {
                Blocker::Elsewhere
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::JobResetStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn run(name: &str, ns: &str, created: i64, phase: Phase, reason: Option<&str>) -> JobReset {
        let mut o: JobReset = serde_json::from_value(serde_json::json!({
            "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")},
            "spec": {"jobId": "j", "elasticsearch": {"url": "https://es:9200"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        o.metadata.creation_timestamp = jiff::Timestamp::from_second(1_700_000_000 + created)
            .ok()
            .map(Time);
        o.status = Some(JobResetStatus {
            phase,
            reason: reason.map(String::from),
            ..Default::default()
        });
        o
    }

    #[test]
    fn table() {
        let me = run("m", "team", 10, Phase::Pending, None);
        let cases = [
            (
                "earlier, waiting",
                run("a", "team", 5, Phase::Pending, None),
                true,
            ),
            (
                "later, waiting",
                run("z", "team", 20, Phase::Pending, None),
                false,
            ),
            // The inversion the outside campaign found: same second, name sorts first.
            (
                "same second, under way",
                run("z", "team", 10, Phase::Resetting, None),
                true,
            ),
            (
                "later but closing",
                run("z", "team", 20, Phase::Closing, None),
                true,
            ),
            (
                "same second, another namespace first",
                run("m", "alpha", 10, Phase::Pending, None),
                true,
            ),
            (
                "same second, namespace after",
                run("m", "zulu", 10, Phase::Pending, None),
                false,
            ),
            (
                "earlier, waiting for its Secret",
                run("a", "team", 5, Phase::Pending, Some("SecretNotFound")),
                false,
            ),
            (
                "earlier, refused reference",
                run(
                    "a",
                    "evil",
                    1,
                    Phase::Pending,
                    Some("CrossNamespaceRefDenied"),
                ),
                false,
            ),
            (
                "earlier, another namespace's, its certificate not trusted",
                run(
                    "a",
                    "evil",
                    1,
                    Phase::Pending,
                    Some("ElasticsearchCertificateNotTrusted"),
                ),
                false,
            ),
            (
                "earlier, its certificate not trusted with the same settings",
                run(
                    "a",
                    "team",
                    5,
                    Phase::Pending,
                    Some("ElasticsearchCertificateNotTrusted"),
                ),
                true,
            ),
            (
                "earlier, done",
                run("a", "team", 5, Phase::Completed, None),
                false,
            ),
            (
                "earlier, failed",
                run("a", "team", 5, Phase::Failed, None),
                false,
            ),
        ];
        for (name, other, want) in cases {
            assert_eq!(goes_first(&me, &other), want, "{name}");
        }
        let mut other_ca = run(
            "a",
            "team",
            5,
            Phase::Pending,
            Some("ElasticsearchCertificateNotTrusted"),
        );
        other_ca.spec.elasticsearch.tls =
            serde_json::from_value(serde_json::json!({"caSecret": {"name": "old-ca"}})).ok();
        assert!(other_ca.spec.elasticsearch.tls.is_some());
        assert!(
            !goes_first(&me, &other_ca),
            "untrusted with other TLS settings: it holds nobody up"
        );
        // A total order: of two waiting runs exactly one goes first.
        let (a, b) = (
            run("a", "x", 3, Phase::Pending, None),
            run("b", "x", 3, Phase::Pending, None),
        );
        assert!(goes_first(&b, &a) != goes_first(&a, &b));
    }
}
