//! The `JobResetGrant` custom resource: the owner of a namespace that holds ECK clusters lets
//! JobResets of other namespaces refer to them (the pattern of Gateway API's
//! `ReferenceGrant`). Without a grant (or the operator's `--allow-cross-namespace-ref`), an
//! `elasticsearchRef` into another namespace is refused before any Secret there is read.
//! Pure types, no I/O.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::names::{DNS1123_LABEL_PATTERN, ECK_NAME_PATTERN};

/// Lets JobResets in other namespaces use the ECK-managed Elasticsearch clusters of this
/// grant's namespace through `spec.elasticsearch.elasticsearchRef`. Only someone who may
/// create objects in this namespace can grant access to it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ml.jobreset.io",
    version = "v1alpha1",
    kind = "JobResetGrant",
    plural = "jobresetgrants",
    namespaced,
    shortname = "jrgrant",
    category = "ml",
    doc = "Lets JobResets of other namespaces refer to the Elasticsearch clusters of this namespace.",
    printcolumn = r#"{"name":"From","type":"string","description":"Namespaces allowed to refer here","jsonPath":".spec.from[*].namespace"}"#,
    printcolumn = r#"{"name":"To","type":"string","description":"Elasticsearch resources covered (empty: all)","jsonPath":".spec.to[*].name"}"#,
    printcolumn = r#"{"name":"Elastic-User","type":"boolean","description":"Whether ECK's elastic superuser may be used","jsonPath":".spec.allowElasticUser"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct JobResetGrantSpec {
    /// The namespaces whose JobResets may refer to Elasticsearch clusters in this namespace.
    #[schemars(length(min = 1, max = 64))]
    pub from: Vec<GrantFrom>,

    /// The `Elasticsearch` resources of this namespace the grant covers; empty or left out:
    /// every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub to: Vec<GrantTo>,

    /// Also let those JobResets log in as ECK's `elastic` superuser (the password in the
    /// `<name>-es-elastic-user` Secret of this namespace) when they give no
    /// `credentialsSecret`. Off by default: without it they must bring credentials of their
    /// own, and the only Secret of this namespace the operator reads for them is ECK's public
    /// CA certificate (`<name>-es-http-certs-public`).
    #[serde(default)]
    pub allow_elastic_user: bool,
}

/// A namespace allowed to refer to this grant's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantFrom {
    /// The namespace of the referring JobResets.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_LABEL_PATTERN}')")).message(
        "namespace must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
    ))]
    pub namespace: String,
}

/// An `Elasticsearch` resource covered by the grant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantTo {
    /// Name of the `Elasticsearch` resource in this namespace.
    #[schemars(length(min = 1, max = 55))]
    #[x_kube(validation = Rule::new(format!("self.matches('{ECK_NAME_PATTERN}')")).message(
        "name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter"
    ))]
    pub name: String,
}
