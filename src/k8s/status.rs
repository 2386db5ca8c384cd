//! The status writer: server-side apply of a resource's status subresource (JobReset,
//! JobResetSchedule) under the operator's one field manager, conditional on a
//! resourceVersion. I/O: one PATCH.

use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde_json::json;

use serde::{Serialize, de::DeserializeOwned};

/// Writes the whole status with server-side apply (field manager `field_manager`, forced, so
/// the operator always owns every status field it writes; fields it leaves out are removed),
/// on condition that the object is still at `resource_version` (409 otherwise).
pub async fn apply<K, S>(
    api: &Api<K>,
    name: &str,
    field_manager: &str,
    status: &S,
    resource_version: &str,
) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"resourceVersion": resource_version},
        "status": status,
    });
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(name, &params, &Patch::Apply(&body)).await
}
