//! What the API server itself refuses, with the messages users see (the installed CRD's schema
//! and CEL rules, no controller running): an invalid `jobId`, a spec change after creation,
//! both or neither of `elasticsearch.url` / `elasticsearch.elasticsearchRef`, hostile
//! `elasticsearchRef` parts, ECK's `elastic` user with the author's TLS settings, schedule
//! syntax, and the shipped examples. Does I/O (Kubernetes API calls against the shared test
//! bed).

mod common;

use common::{bed, jobreset};
use jobreset_operator::api::{JobReset, JobResetSchedule};
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

async fn api(prefix: &str) -> Api<JobReset> {
    let bed = bed().await;
    let client: Client = bed.client().await.expect("client");
    let ns = bed.namespace(prefix).await.expect("namespace");
    Api::namespaced(client, &ns)
}

/// Creates a JobReset and returns the API server's refusal (status code, message).
async fn refused(api: &Api<JobReset>, name: &str, spec: Value) -> (u16, String) {
    match api
        .create(&PostParams::default(), &jobreset(name, spec))
        .await
    {
        Ok(_) => panic!("JobReset {name} was accepted"),
        Err(kube::Error::Api(status)) => (status.code, status.message.clone()),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

const URL: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn invalid_job_ids_are_refused() {
    let api = api("valid-jobid").await;
    for bad in [
        "Uppercase",
        "wild*card",
        "-leading-dash",
        "trailing_",
        "a,b",
        &"x".repeat(65),
    ] {
        let (code, msg) = refused(
            &api,
            "bad-id",
            json!({"jobId": bad, "elasticsearch": {"url": URL}}),
        )
        .await;
        assert_eq!(code, 422, "{bad}: {msg}");
        assert!(msg.contains("spec.jobId"), "{bad}: {msg}");
    }
    // Sent as written (the typed client leaves an empty jobId out), as `kubectl apply` would.
    let ns = api.namespace().unwrap_or_default().to_string();
    let raw: Api<DynamicObject> = Api::namespaced_with(
        api.clone().into_client(),
        &ns,
        &ApiResource::erase::<JobReset>(&()),
    );
    let empty: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobReset",
        "metadata": {"name": "empty-id"},
        "spec": {"jobId": "", "elasticsearch": {"url": URL}},
    }))
    .expect("object");
    match raw.create(&PostParams::default(), &empty).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{}", status.message);
            assert!(status.message.contains("spec.jobId"), "{}", status.message);
        }
        other => panic!("an empty jobId was not refused: {other:?}"),
    }
    // And a good one goes through.
    api.create(
        &PostParams::default(),
        &jobreset(
            "good-id",
            json!({"jobId": "total-requests_2", "elasticsearch": {"url": URL}}),
        ),
    )
    .await
    .expect("valid job id accepted");
}

#[tokio::test]
async fn spec_is_immutable() {
    let api = api("valid-immutable").await;
    api.create(
        &PostParams::default(),
        &jobreset(
            "once",
            json!({"jobId": "job-a", "elasticsearch": {"url": URL}}),
        ),
    )
    .await
    .expect("created");
    let patch = json!({"spec": {"jobId": "job-b"}});
    match api
        .patch("once", &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => panic!("spec change accepted"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains(
                    "spec is immutable: a JobReset asks for one reset; create a new JobReset to reset the job again"
                ),
                "{}",
                status.message
            );
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
    let unchanged = api.get("once").await.unwrap();
    assert_eq!(unchanged.spec.job_id, "job-a");
}

#[tokio::test]
async fn exactly_one_of_url_and_elasticsearch_ref() {
    let api = api("valid-target").await;
    let both = json!({"jobId": "j", "elasticsearch": {"url": URL, "elasticsearchRef": {"name": "quickstart"}}});
    let neither = json!({"jobId": "j", "elasticsearch": {}});
    for (name, spec) in [("both", both), ("neither", neither)] {
        let (code, msg) = refused(&api, name, spec).await;
        assert_eq!(code, 422, "{name}: {msg}");
        assert!(
            msg.contains("set exactly one of elasticsearch.url and elasticsearch.elasticsearchRef"),
            "{name}: {msg}"
        );
    }
}

#[tokio::test]
async fn bad_url_and_close_timeout_are_refused() {
    let api = api("valid-fields").await;
    let (code, msg) = refused(
        &api,
        "ftp",
        json!({"jobId": "j", "elasticsearch": {"url": "ftp://es:21"}}),
    )
    .await;
    assert_eq!(code, 422, "{msg}");
    assert!(msg.contains("spec.elasticsearch.url"), "{msg}");
    let (code, msg) = refused(
        &api,
        "timeout",
        json!({"jobId": "j", "elasticsearch": {"url": URL}, "closeJob": {"timeout": "soon"}}),
    )
    .await;
    assert_eq!(code, 422, "{msg}");
    assert!(msg.contains("spec.closeJob.timeout"), "{msg}");
}

#[tokio::test]
async fn elasticsearch_ref_parts_are_dns_labels() {
    let api = api("valid-ref").await;
    for (field, value) in [
        ("serviceName", "evil.example/#"),
        ("serviceName", "evil.example:443"),
        ("namespace", "elastic.evil.example"),
        ("namespace", "Elastic"),
        ("name", "q.evil.example"),
        ("name", "0quickstart"),
    ] {
        let mut r = json!({"name": "quickstart"});
        r[field] = json!(value);
        let spec = json!({"jobId": "j", "elasticsearch": {"elasticsearchRef": r}});
        let (code, msg) = refused(&api, "hostile", spec).await;
        assert_eq!(code, 422, "{field}={value}: {msg}");
        assert!(
            msg.contains(&format!("elasticsearchRef.{field} must be a DNS-")),
            "{field}={value}: {msg}"
        );
    }
    let ok = json!({"jobId": "j", "elasticsearch": {"elasticsearchRef": {
        "name": "quickstart", "namespace": "elastic", "serviceName": "quickstart-es-coord"}}});
    api.create(&PostParams::default(), &jobreset("good-ref", ok))
        .await
        .expect("DNS labels are accepted");
}

#[tokio::test]
async fn ecks_elastic_user_never_takes_the_authors_tls() {
    let api = api("valid-ecktls").await;
    for tls in [
        json!({"caSecret": {"name": "mine"}}),
        json!({"insecureSkipVerify": true}),
    ] {
        let spec = json!({"jobId": "j", "elasticsearch": {
            "elasticsearchRef": {"name": "quickstart"}, "tls": tls}});
        let (code, msg) = refused(&api, "ecktls", spec).await;
        assert_eq!(code, 422, "{tls}: {msg}");
        assert!(msg.contains("ECK's elastic superuser"), "{tls}: {msg}");
    }
    // With credentials of one's own, one's own CA is fine.
    let own = json!({"jobId": "j", "elasticsearch": {
        "elasticsearchRef": {"name": "quickstart"}, "credentialsSecret": {"name": "mine"},
        "tls": {"caSecret": {"name": "mine"}}}});
    api.create(&PostParams::default(), &jobreset("own-tls", own))
        .await
        .expect("own credentials with own CA are accepted");
}

#[tokio::test]
async fn the_examples_are_valid() {
    // Its namespaces may exist already (another run on the shared bed): create is idempotent.
    let bed = bed().await;
    // Every example: one job, a group fan-out, a dry run, a weekly schedule, and ECK.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples");
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", bed.kubeconfig_path())
            .output()
            .expect("kubectl runs")
    };
    for ns in ["elastic", "observability"] {
        let _ = kubectl(&["create", "namespace", ns]);
    }
    let out = kubectl(&["apply", "--dry-run=server", "--recursive", "-f", path]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn schedules_take_five_fields_and_no_ttl_in_the_template() {
    let api = api("valid-schedule").await;
    let ns = api.namespace().unwrap_or_default().to_string();
    let schedules: Api<JobResetSchedule> = Api::namespaced(api.into_client(), &ns);
    let schedule = |name: &str, cron: &str, template: Value| -> JobResetSchedule {
        serde_json::from_value(json!({
            "apiVersion": "ml.jobreset.io/v1alpha1",
            "kind": "JobResetSchedule",
            "metadata": {"name": name},
            "spec": {"schedule": cron, "jobResetTemplate": {"spec": template}},
        }))
        .expect("schedule")
    };
    let one = json!({"jobId": "j", "elasticsearch": {"url": URL}});
    for (name, cron) in [
        ("six-fields", "0 0 3 * * 0"),
        ("zone-prefix", "TZ=Europe/Berlin 0 3 * * 0"),
        ("four-fields", "0 3 * *"),
        ("unknown-macro", "@fortnightly"),
    ] {
        match schedules
            .create(&PostParams::default(), &schedule(name, cron, one.clone()))
            .await
        {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{cron}: {}", s.message);
                assert!(
                    s.message.contains("schedule takes five fields"),
                    "{cron}: {}",
                    s.message
                );
            }
            other => panic!("{cron:?} was not refused: {other:?}"),
        }
    }
    let with_ttl =
        json!({"jobId": "j", "ttlSecondsAfterFinished": 60, "elasticsearch": {"url": URL}});
    match schedules
        .create(&PostParams::default(), &schedule("ttl", "@daily", with_ttl))
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert!(
                s.message.contains("successfulRunsHistoryLimit"),
                "{}",
                s.message
            )
        }
        other => panic!("a TTL in the template was not refused: {other:?}"),
    }
    for (name, cron) in [("weekly", "0 3 * * 0"), ("macro", "@weekly")] {
        schedules
            .create(&PostParams::default(), &schedule(name, cron, one.clone()))
            .await
            .unwrap_or_else(|e| panic!("{cron:?} refused: {e}"));
    }
}

#[tokio::test]
async fn not_after_is_an_rfc3339_time() {
    let api = api("valid-notafter").await;
    let (code, msg) = refused(
        &api,
        "bad-time",
        json!({"jobId": "j", "notAfter": "next tuesday", "elasticsearch": {"url": URL}}),
    )
    .await;
    assert_eq!(code, 422, "{msg}");
    assert!(msg.contains("notAfter"), "{msg}");
    api.create(
        &PostParams::default(),
        &jobreset(
            "good-time",
            json!({"jobId": "j", "notAfter": "2030-01-01T00:00:00Z", "elasticsearch": {"url": URL}}),
        ),
    )
    .await
    .expect("an RFC 3339 time is accepted");
}

/// A condition the operator could never meet (a state in the wrong case, a time it cannot
/// read) would skip every job in silence: the API server refuses it, naming the fix.
#[tokio::test]
async fn fanout_conditions_take_only_what_elasticsearch_reports() {
    let api = api("valid-conditions").await;
    let cases = [
        (
            json!({"jobState": ["Closed"]}),
            "conditions.jobState takes opened, closed",
        ),
        (
            json!({"memoryStatus": ["hardLimit"]}),
            "conditions.memoryStatus takes ok",
        ),
        (
            json!({"createdBefore": "last week"}),
            "conditions.createdBefore is an RFC 3339 time",
        ),
        (json!({"jobState": vec!["closed"; 6]}), "jobState"),
    ];
    for (i, (conditions, expected)) in cases.into_iter().enumerate() {
        let spec = json!({"jobs": {"expression": "*", "conditions": conditions}, "elasticsearch": {"url": URL}});
        let (code, msg) = refused(&api, &format!("bad-{i}"), spec).await;
        assert_eq!(code, 422, "{conditions}: {msg}");
        assert!(msg.contains(expected), "{conditions}: {msg}");
    }
    let good = json!({"jobState": ["closed", "failed"], "memoryStatus": ["hard_limit"], "createdBefore": "2026-01-31T00:00:00Z", "latestRecordOlderThan": "30d"});
    api.create(
        &PostParams::default(),
        &jobreset(
            "good-conditions",
            json!({"jobs": {"expression": "*", "conditions": good}, "elasticsearch": {"url": URL}}),
        ),
    )
    .await
    .expect("conditions as Elasticsearch reports them are accepted");
}
