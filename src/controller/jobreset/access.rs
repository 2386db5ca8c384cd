//! Who may refer to what: a JobReset's `elasticsearchRef` into another namespace is allowed
//! only by a `JobResetGrant` in that namespace (its owner's consent) or by the cluster admin's
//! `--allow-cross-namespace-ref` list; ECK's `elastic` superuser needs the grant's
//! `allowElasticUser` on top. Deny by default. Pure, no I/O: the controller passes in the
//! grants its cache holds.

use std::{str::FromStr, sync::Arc};

use crate::api::{JobResetGrant, names::is_dns1123_label};

/// Status, Event and metric reason of a refused cross-namespace reference.
pub const CROSS_NAMESPACE_REF_DENIED: &str = "CrossNamespaceRefDenied";

/// The ECK cluster a JobReset names, as far as access is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Namespace of the `Elasticsearch` resource.
    pub namespace: String,
    /// Name of the `Elasticsearch` resource.
    pub name: String,
    /// The JobReset would log in as ECK's `elastic` superuser (no `credentialsSecret`).
    pub elastic_user: bool,
    /// `serviceName`, when it names another Service than ECK's `<name>-es-http`.
    pub custom_service: Option<String>,
}

/// One entry of `--allow-cross-namespace-ref FROM=TO`: JobResets in `from` may refer to ECK
/// clusters in `to` (including their `elastic` user). `*` matches every namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedRef {
    pub from: String,
    pub to: String,
}

impl FromStr for AllowedRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (from, to) = s.split_once('=').ok_or_else(|| {
            format!(
                "{s:?}: expected FROM=TO (namespaces, or * for any), e.g. observability=elastic"
            )
        })?;
        let part = |p: &str| -> Result<String, String> {
            let p = p.trim();
            if p == "*" || is_dns1123_label(p) {
                Ok(p.to_owned())
            } else {
                Err(format!("{p:?} in {s:?} is neither a namespace name nor *"))
            }
        };
        Ok(AllowedRef {
            from: part(from)?,
            to: part(to)?,
        })
    }
}

impl AllowedRef {
    fn covers(&self, from: &str, to: &str) -> bool {
        (self.from == "*" || self.from == from) && (self.to == "*" || self.to == to)
    }
}

/// Why a reference is refused: a sentence naming what is missing and how to grant it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Decides whether JobResets in `from` may use `target`. Same-namespace references need no
/// grant. `grants` are the JobResetGrants the operator knows of; only those in the target's
/// namespace count, whatever the caller passes.
/// `watched` is the one namespace the operator is limited to (`--namespace`), if any: it
/// sees no grant elsewhere.
pub fn check(
    from: &str,
    target: &Target,
    grants: &[Arc<JobResetGrant>],
    allowed: &[AllowedRef],
    watched: Option<&str>,
) -> Result<(), Denied> {
    if target.namespace == from {
        return Ok(());
    }
    let (ns, name) = (&target.namespace, &target.name);
    if target.elastic_user
        && let Some(service) = &target.custom_service
    {
        // A grant names Elasticsearch resources, not Services: the superuser's password
        // goes only to the Service ECK made for the cluster.
        return Err(Denied(format!(
            "elasticsearchRef names Elasticsearch {ns}/{name} in another namespace with \
             serviceName {service} and no credentialsSecret: ECK's elastic superuser is only \
             ever sent to {name}-es-http; remove serviceName or give a credentialsSecret"
        )));
    }
    if allowed.iter().any(|a| a.covers(from, ns)) {
        return Ok(());
    }
    if let Some(watched) = watched.filter(|w| *w != ns.as_str()) {
        return Err(Denied(format!(
            "elasticsearchRef names Elasticsearch {ns}/{name} in another namespace; this \
             operator watches only namespace {watched} and sees no JobResetGrant in {ns}: a \
             cluster admin can allow it with --allow-cross-namespace-ref {from}={ns} (and a \
             Role in {ns} for its Secrets)"
        )));
    }
    let covering: Vec<&JobResetGrant> = grants
        .iter()
        .map(Arc::as_ref)
        .filter(|g| g.metadata.namespace.as_deref() == Some(target.namespace.as_str()))
        .filter(|g| g.metadata.deletion_timestamp.is_none())
        .filter(|g| g.spec.from.iter().any(|f| f.namespace == from))
        .filter(|g| g.spec.to.is_empty() || g.spec.to.iter().any(|t| t.name == target.name))
        .collect();
    if covering.is_empty() {
        return Err(Denied(format!(
            "elasticsearchRef names Elasticsearch {ns}/{name} in another namespace, and no \
             JobResetGrant in namespace {ns} lets namespace {from} refer to it: its owner can \
             create one (spec.from: [{{namespace: {from}}}]), or a cluster admin can start the \
             operator with --allow-cross-namespace-ref {from}={ns}"
        )));
    }
    if target.elastic_user && !covering.iter().any(|g| g.spec.allow_elastic_user) {
        return Err(Denied(format!(
            "elasticsearchRef names Elasticsearch {ns}/{name} without a credentialsSecret, so \
             the operator would log in as its elastic superuser, which no JobResetGrant in \
             namespace {ns} allows for namespace {from} (allowElasticUser: true): give a \
             credentialsSecret of your own, or ask the owner of {ns} to allow it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GrantFrom, GrantTo, JobResetGrantSpec};

    fn grant(ns: &str, from: &[&str], to: &[&str], elastic_user: bool) -> Arc<JobResetGrant> {
        let mut g = JobResetGrant::new(
            "g",
            JobResetGrantSpec {
                from: from
                    .iter()
                    .map(|n| GrantFrom {
                        namespace: (*n).into(),
                    })
                    .collect(),
                to: to.iter().map(|n| GrantTo { name: (*n).into() }).collect(),
                allow_elastic_user: elastic_user,
            },
        );
        g.metadata.namespace = Some(ns.into());
        Arc::new(g)
    }

    fn target(ns: &str, name: &str, elastic_user: bool) -> Target {
        Target {
            namespace: ns.into(),
            name: name.into(),
            elastic_user,
            custom_service: None,
        }
    }

    #[test]
    fn table() {
        let eck = target("elastic", "qs", true);
        let own_creds = target("elastic", "qs", false);
        let for_obs = grant("elastic", &["obs"], &[], false);
        let for_obs_su = grant("elastic", &["obs"], &["qs"], true);
        let admin = AllowedRef {
            from: "obs".into(),
            to: "elastic".into(),
        };
        let any = AllowedRef {
            from: "*".into(),
            to: "elastic".into(),
        };
        // (case, from, target, grants, allow-list, allowed?)
        let cases = [
            ("same namespace", "elastic", &eck, vec![], vec![], true),
            ("no grant", "obs", &eck, vec![], vec![], false),
            (
                "own creds, grant",
                "obs",
                &own_creds,
                vec![for_obs.clone()],
                vec![],
                true,
            ),
            (
                "superuser, no allowElasticUser",
                "obs",
                &eck,
                vec![for_obs],
                vec![],
                false,
            ),
            (
                "superuser granted",
                "obs",
                &eck,
                vec![for_obs_su.clone()],
                vec![],
                true,
            ),
            (
                "grant for another namespace",
                "team-b",
                &own_creds,
                vec![for_obs_su],
                vec![],
                false,
            ),
            (
                "grant for another cluster",
                "obs",
                &own_creds,
                vec![grant("elastic", &["obs"], &["other"], true)],
                vec![],
                false,
            ),
            (
                "grant in the wrong namespace",
                "obs",
                &own_creds,
                vec![grant("obs", &["obs"], &[], true)],
                vec![],
                false,
            ),
            (
                "admin allow-list",
                "obs",
                &eck,
                vec![],
                vec![admin.clone()],
                true,
            ),
            ("admin wildcard", "team-b", &eck, vec![], vec![any], true),
            (
                "admin list for another target",
                "obs",
                &target("prod", "qs", true),
                vec![],
                vec![admin],
                false,
            ),
        ];
        for (name, from, target, grants, allowed, want) in cases {
            assert_eq!(
                check(from, target, &grants, &allowed, None).is_ok(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn refusals_say_how_to_grant() {
        let none: [Arc<JobResetGrant>; 0] = [];
        let e = check("obs", &target("elastic", "qs", true), &none, &[], None).err();
        let msg = e.map(|d| d.0).unwrap_or_default();
        assert!(msg.contains("JobResetGrant in namespace elastic"), "{msg}");
        assert!(
            msg.contains("--allow-cross-namespace-ref obs=elastic"),
            "{msg}"
        );
        let g = [grant("elastic", &["obs"], &[], false)];
        let msg = check("obs", &target("elastic", "qs", true), &g, &[], None)
            .err()
            .map(|d| d.0)
            .unwrap_or_default();
        assert!(msg.contains("allowElasticUser: true"), "{msg}");
        let msg = check("obs", &target("elastic", "qs", false), &g, &[], Some("obs"))
            .err()
            .map(|d| d.0)
            .unwrap_or_default();
        assert!(msg.contains("watches only namespace obs"), "{msg}");
    }

    #[test]
    fn the_superuser_goes_only_to_ecks_own_service() {
        let g = [grant("elastic", &["obs"], &[], true)];
        let admin = [AllowedRef {
            from: "*".into(),
            to: "*".into(),
        }];
        let mut t = target("elastic", "qs", true);
        t.custom_service = Some("attacker-svc".into());
        assert!(check("obs", &t, &g, &[], None).is_err());
        assert!(
            check("obs", &t, &g, &admin, None).is_err(),
            "not even for the admin list"
        );
        t.elastic_user = false;
        assert!(
            check("obs", &t, &g, &[], None).is_ok(),
            "own credentials may go anywhere"
        );
    }

    #[test]
    fn allow_list_parses() {
        assert_eq!(
            "obs=elastic".parse::<AllowedRef>(),
            Ok(AllowedRef {
                from: "obs".into(),
                to: "elastic".into()
            })
        );
        assert!("*=elastic".parse::<AllowedRef>().is_ok());
        assert!("obs".parse::<AllowedRef>().is_err());
        assert!("obs=evil.example/#".parse::<AllowedRef>().is_err());
    }
}
