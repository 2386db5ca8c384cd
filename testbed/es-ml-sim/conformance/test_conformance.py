"""Conformance: the official Elasticsearch Python client (8.x) against es-ml-sim.

The client is used with no special configuration: it must accept the simulator's answers
(product header, vendored content type) and map its error bodies to the usual exceptions.
Setup that the Elasticsearch API cannot express (a failed job, a long reset) uses the
simulator's /_sim/ control API. ES_URL names the simulator (run.sh sets it).
"""

import json
import os
import urllib.request
import uuid

import pytest
from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError

# The task API is "technical preview"; the client warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:This API is in technical preview")

ES_URL = os.environ.get("ES_URL", "http://127.0.0.1:9200")

JOB = {
    "analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]},
    "data_description": {"time_field": "timestamp"},
}


@pytest.fixture(scope="module")
def es():
    client = Elasticsearch(ES_URL)
    yield client
    client.close()


def sim(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ES_URL + "/_sim/" + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def new_job(es):
    job_id = "conf-" + uuid.uuid4().hex[:10]
    es.ml.put_job(job_id=job_id, **JOB)
    return job_id


def test_info(es):
    info = es.info()
    assert info["version"]["number"] == "8.15.0"
    assert info["tagline"] == "You Know, for Search"
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"


def test_full_flow_reset_clears_data(es):
    job_id = new_job(es)
    feed = "datafeed-" + job_id
    es.ml.put_datafeed(datafeed_id=feed, job_id=job_id, indices=["logs-*"])
    assert es.ml.open_job(job_id=job_id)["opened"] is True
    assert es.ml.start_datafeed(datafeed_id=feed)["started"] is True
    stats = es.ml.get_job_stats(job_id=job_id)["jobs"][0]
    assert stats["state"] == "opened"
    assert stats["data_counts"]["processed_record_count"] > 0
    assert es.ml.get_datafeed_stats(datafeed_id=feed)["datafeeds"][0]["state"] == "started"

    assert es.ml.close_job(job_id=job_id)["closed"] is True
    assert es.ml.get_datafeed_stats(datafeed_id=feed)["datafeeds"][0]["state"] == "stopped"
    job = es.ml.get_jobs(job_id=job_id)["jobs"][0]
    assert "model_snapshot_id" in job

    task = es.ml.reset_job(job_id=job_id, wait_for_completion=False)["task"]
    assert ":" in task
    done = es.tasks.get(task_id=task, wait_for_completion=True, timeout="30s")
    assert done["completed"] is True
    assert done["response"] == {"acknowledged": True}
    assert done["task"]["action"] == "cluster:admin/xpack/ml/job/reset"
    assert done["task"]["description"] == "job-" + job_id

    job = es.ml.get_jobs(job_id=job_id)["jobs"][0]
    assert "blocked" not in job
    assert "model_snapshot_id" not in job
    stats = es.ml.get_job_stats(job_id=job_id)["jobs"][0]
    assert stats["data_counts"]["processed_record_count"] == 0


def test_sync_reset(es):
    job_id = new_job(es)
    assert es.ml.reset_job(job_id=job_id, delete_user_annotations=True)["acknowledged"] is True


def test_reset_open_job_conflict_sync_and_async(es):
    job_id = new_job(es)
    es.ml.open_job(job_id=job_id)
    with pytest.raises(ConflictError) as e:
        es.ml.reset_job(job_id=job_id)
    assert e.value.status_code == 409
    assert e.value.body["error"]["type"] == "status_exception"
    assert e.value.body["error"]["reason"] == "Can only reset a job when it is closed."

    task = es.ml.reset_job(job_id=job_id, wait_for_completion=False)["task"]
    done = es.tasks.get(task_id=task, wait_for_completion=True)
    assert done["completed"] is True
    assert done["error"] == {"type": "status_exception", "reason": "Can only reset a job when it is closed."}
    es.ml.close_job(job_id=job_id, force=True)


def test_reset_unknown_job(es):
    with pytest.raises(NotFoundError) as e:
        es.ml.reset_job(job_id="no-such-job")
    assert e.value.body["error"]["reason"] == "No known job with id 'no-such-job'"
    task = es.ml.reset_job(job_id="no-such-job", wait_for_completion=False)["task"]
    done = es.tasks.get(task_id=task, wait_for_completion=True)
    assert done["error"]["type"] == "resource_not_found_exception"


def test_close_failed_job_needs_force(es):
    job_id = new_job(es)
    sim("POST", "jobs/%s/_fail" % job_id)
    with pytest.raises(ConflictError) as e:
        es.ml.close_job(job_id=job_id)
    assert e.value.body["error"]["reason"] == "cannot close job [%s] because it failed, use force close" % job_id
    assert es.ml.close_job(job_id=job_id, force=True)["closed"] is True
    with pytest.raises(NotFoundError):
        es.ml.close_job(job_id="no-such-job")


def test_task_errors(es):
    with pytest.raises(BadRequestError) as e:
        es.tasks.get(task_id="not-a-task-id")
    assert e.value.body["error"]["reason"] == "malformed task id not-a-task-id"
    node = sim("GET", "node")["node_id"]
    with pytest.raises(NotFoundError) as e:
        es.tasks.get(task_id=node + ":987654")
    assert "isn't running and hasn't stored its results" in e.value.body["error"]["reason"]


def test_long_poll_timeout_is_timeout_exception(es):
    job_id = new_job(es)
    sim("POST", "reset_duration", {"job": job_id, "ms": 60000})
    task = es.ml.reset_job(job_id=job_id, wait_for_completion=False)["task"]
    with pytest.raises(ApiError) as e:
        es.tasks.get(task_id=task, wait_for_completion=True, timeout="50ms")
    assert e.value.status_code == 500
    assert e.value.body["error"]["type"] == "timeout_exception"
    running = es.tasks.get(task_id=task)
    assert running["completed"] is False
    job = es.ml.get_jobs(job_id=job_id)["jobs"][0]
    assert job["blocked"]["reason"] == "reset"
    # A delete cancels the running reset.
    assert es.ml.delete_job(job_id=job_id)["acknowledged"] is True
    done = es.tasks.get(task_id=task, wait_for_completion=True)
    assert done["response"] == {"acknowledged": False}


def test_opaque_id_reaches_task_headers(es):
    job_id = new_job(es)
    task = es.options(opaque_id="conformance-1").ml.reset_job(job_id=job_id, wait_for_completion=False)["task"]
    done = es.tasks.get(task_id=task, wait_for_completion=True)
    assert done["task"]["headers"]["X-Opaque-Id"] == "conformance-1"


def test_unknown_parameter_is_400(es):
    with pytest.raises(BadRequestError) as e:
        es.perform_request("GET", "/_ml/anomaly_detectors", params={"bogus": "1"})
    assert e.value.body["error"]["type"] == "illegal_argument_exception"
    assert e.value.body["error"]["reason"] == "request [/_ml/anomaly_detectors] contains unrecognized parameter: [bogus]"


def test_request_log_counts_resets():
    counts = sim("GET", "counts")
    assert counts["job_reset"] >= 5
    assert counts["task_get"] >= 5


def test_restore_calls_after_a_reset(es):
    # What the operator's restore sends: open again, start again from a point, and the
    # idempotence it relies on (409 for an opened job and a started datafeed).
    job_id = new_job(es)
    feed = "datafeed-" + job_id
    es.ml.put_datafeed(datafeed_id=feed, job_id=job_id, indices=["logs-*"])
    job = es.ml.get_jobs(job_id=job_id)["jobs"][0]
    assert job["datafeed_config"]["datafeed_id"] == feed
    assert es.ml.reset_job(job_id=job_id)["acknowledged"] is True
    assert es.ml.open_job(job_id=job_id)["opened"] is True
    with pytest.raises(ConflictError):
        es.ml.open_job(job_id=job_id)
    assert es.ml.start_datafeed(datafeed_id=feed, start="0")["started"] is True
    with pytest.raises(ConflictError):
        es.ml.start_datafeed(datafeed_id=feed, start="now")
    assert es.ml.get_datafeed_stats(datafeed_id=feed)["datafeeds"][0]["state"] == "started"


def test_privilege_check_with_security_off(es):
    # Security off: the security API answers 500 `exception`, and _xpack says why.
    with pytest.raises(ApiError) as e:
        es.security.has_privileges(cluster=["manage_ml", "cluster:monitor/task/get"])
    assert e.value.meta.status == 500
    assert e.value.body["error"]["type"] == "exception"
    features = es.xpack.info(categories="features")["features"]
    assert features["security"]["enabled"] is False


def test_update_replaces_custom_settings_whole(es):
    # The ledger's write: `_update` replaces `custom_settings`, so a writer carries every
    # other key back itself.
    job_id = new_job(es)
    es.ml.update_job(job_id=job_id, custom_settings={"created_by": "ml-module", "job_tags": {"a": "b"}})
    es.ml.update_job(job_id=job_id, custom_settings={"jobreset_k8s_io": {"v": 1, "runs": []}})
    settings = es.ml.get_jobs(job_id=job_id)["jobs"][0]["custom_settings"]
    assert settings == {"jobreset_k8s_io": {"v": 1, "runs": []}}
    messages = sim("GET", "jobs/" + job_id + "/messages")["messages"]
    assert messages.count("Job updated: [custom_settings]") == 2


def test_open_and_start_show_opening_and_starting_while_they_wait(es):
    import threading

    job_id = new_job(es)
    feed = "datafeed-" + job_id
    es.ml.put_datafeed(datafeed_id=feed, job_id=job_id, indices=["logs-*"])
    sim("POST", "open_duration", {"ms": 500})
    sim("POST", "start_duration", {"ms": 500})
    try:
        answers = {}
        opener = threading.Thread(target=lambda: answers.update(open=es.ml.open_job(job_id=job_id)))
        opener.start()
        seen = set()
        while opener.is_alive():
            seen.add(es.ml.get_job_stats(job_id=job_id)["jobs"][0]["state"])
        opener.join()
        assert answers["open"]["opened"] is True
        assert "opening" in seen, seen
        starter = threading.Thread(target=lambda: answers.update(start=es.ml.start_datafeed(datafeed_id=feed)))
        starter.start()
        seen = set()
        while starter.is_alive():
            seen.add(es.ml.get_datafeed_stats(datafeed_id=feed)["datafeeds"][0]["state"])
        starter.join()
        assert answers["start"]["started"] is True
        assert "starting" in seen, seen
    finally:
        sim("POST", "open_duration", {"ms": 0})
        sim("POST", "start_duration", {"ms": 0})
