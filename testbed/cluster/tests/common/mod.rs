//! Shared helpers of the test-bed test binaries: one bed per binary (fixture CRDs, no ES) and
//! a typed handle on the fixture `Widget` kind.
#![allow(dead_code)]

pub mod faults;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::json;
use testbed::{Options, TestBed};

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// The bed of this test binary; a bed that cannot start fails the test with its cause.
/// With `TESTBED_STATE_DIR` set, the running `testbed up` bed, with the fixture CRDs added.
pub fn bed() -> &'static TestBed {
    static BED: OnceLock<Result<TestBed, String>> = OnceLock::new();
    let started = BED.get_or_init(|| {
        if let Some(dir) = std::env::var_os(testbed::ATTACH_ENV) {
            let bed = TestBed::attach(std::path::Path::new(&dir)).map_err(|e| e.to_string())?;
            // On a thread of its own: this may run inside a test's runtime.
            let installed = std::thread::scope(|s| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(bed.install_crds(&fixtures().join("crds")))
                        .map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("installing the fixture CRDs panicked".into()))
            });
            return installed.map(|()| bed);
        }
        TestBed::start_blocking(Options {
            crds_dir: fixtures().join("crds"),
            state_dir: None,
            with_es: None,
        })
        .map_err(|e| e.to_string())
    });
    match started {
        Ok(bed) => bed,
        Err(e) => panic!("{e}"),
    }
}

pub fn widget_resource() -> ApiResource {
    ApiResource {
        group: "test.jobreset.io".into(),
        version: "v1".into(),
        api_version: "test.jobreset.io/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    }
}

pub async fn widgets(ns: &str) -> Api<DynamicObject> {
    let client = bed().client().await.expect("client from the kubeconfig");
    Api::namespaced_with(client, ns, &widget_resource())
}

pub async fn create_widget(api: &Api<DynamicObject>, name: &str, target: &str) -> DynamicObject {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.jobreset.io/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"target": target, "size": 1},
        "status": {"phase": "set-on-create"},
    }))
    .expect("widget literal");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("creating a widget")
}

/// The HTTP status of a failed API call.
pub fn api_code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}
