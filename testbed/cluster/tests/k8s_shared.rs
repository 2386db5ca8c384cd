//! `TestBed::shared()`: the workspace's CRDs installed, the ES simulator reachable, and the bed
//! outliving the runtime of the test that started it.

use std::io::{Read, Write};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use testbed::TestBed;

async fn create_configmap(bed: &TestBed) -> String {
    let ns = bed.namespace("shared").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed.client().await.unwrap(), &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("c".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    ns
}

#[test]
fn shared_bed_outlives_the_runtime_that_started_it() {
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bed = TestBed::shared().unwrap();
    let ns1 = first.block_on(create_configmap(bed));
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ns2 = second.block_on(create_configmap(TestBed::shared().unwrap()));
    assert_ne!(ns1, ns2);
}

#[tokio::test]
async fn workspace_crds_are_installed() {
    let bed = TestBed::shared().unwrap();
    let client = bed.client().await.unwrap();
    let crds_dir = testbed::workspace_crds_dir();
    assert!(
        crds_dir.join("jobreset.yaml").exists(),
        "no jobreset.yaml in {}",
        crds_dir.display()
    );
    let group = kube::discovery::group(&client, "ml.jobreset.io")
        .await
        .unwrap();
    let (ar, _) = group.recommended_kind("JobReset").unwrap();
    let api: Api<kube::api::DynamicObject> = Api::all_with(client, &ar);
    api.list(&ListParams::default()).await.unwrap();
}

#[test]
fn es_simulator_answers() {
    let bed = TestBed::shared().unwrap();
    let url = bed.es_url().expect("the shared bed carries a simulator");
    let addr = url.trim_start_matches("http://");
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.write_all(b"GET / HTTP/1.0\r\nHost: es\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    sock.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1."), "{answer}");
}
