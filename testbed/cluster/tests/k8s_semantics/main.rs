//! The Kubernetes semantics the operator relies on, probed against the test bed through the
//! front with kube-rs (needs the provisioned apiserver: hence the `k8s_` name). `objects`: what the
//! API server does to objects; `front`: the core/v1 front, watches, Leases and Events.

#[path = "../common/mod.rs"]
mod common;
mod front;
mod objects;

use std::collections::BTreeMap;

use common::{DEADLINE, api_code, bed, create_widget, widgets};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::wait::{await_condition, conditions};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};
use serde_json::json;
