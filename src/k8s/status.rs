//! The status writer: server-side apply of a JobReset's status subresource under the
//! operator's one field manager, conditional on a resourceVersion. I/O: one PATCH.

use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::api::{JobReset, JobResetStatus};

/// Writes the whole status with server-side apply (field manager `field_manager`, forced, so
/// the operator always owns every status field it writes; fields it leaves out are removed),
/// on condition that the object is still at `resource_version` (409 otherwise).
pub async fn apply(
    api: &Api<JobReset>,
    name: &str,
    field_manager: &str,
    status: &JobResetStatus,
    resource_version: &str,
) -> Result<JobReset, kube::Error> {
    let body = json!({
        "apiVersion": JobReset::api_version(&()),
        "kind": JobReset::kind(&()),
        "metadata": {"resourceVersion": resource_version},
        "status": status,
    });
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(name, &params, &Patch::Apply(&body)).await
}
