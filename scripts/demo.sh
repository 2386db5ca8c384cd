#!/usr/bin/env bash
# `make demo`: the whole product on this machine, in about a minute.
# Test bed up (real apiextensions-apiserver + etcd, core/v1 front, Elasticsearch ML simulator),
# sample jobs seeded through the ordinary Elasticsearch API, the operator running, the
# manifests in deploy/examples/ applied with kubectl, the resets followed to Completed (the
# opened job put back as it was), the same manifest applied again finding its reset in the
# job's ledger, a group fan-out, a dry run, a schedule firing once, and everything torn
# down again.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${DEMO_STATE_DIR:-$PWD/.state/demo}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building (first run compiles the workspace; the apiserver is built once per machine into ~/.cache)"
testbed/cluster/scripts/provision-apiserver.sh
cargo build -q -p jobreset-operator -p testbed
bin=${CARGO_TARGET_DIR:-target}/debug

[ -f "$state/env" ] && "$bin/testbed" down --state-dir "$state" >/dev/null 2>&1 || true
rm -rf "$state"; mkdir -p "$state"
op=""
cleanup() {
  [ -n "$op" ] && kill "$op" 2>/dev/null || true
  "$bin/testbed" down --state-dir "$state" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "test bed up"
"$bin/testbed" up --state-dir "$state" --es-reset-duration 3s
# shellcheck disable=SC1091
source "$state/env"
export KUBECONFIG ES_URL

say "seeding anomaly detection jobs through the Elasticsearch API"
es() { curl -sS -H 'Content-Type: application/json' "$@"; echo; }
stats() {
  for job in "$@"; do
    curl -sS "$ES_URL/_ml/anomaly_detectors/$job/_stats" | python3 -c 'import json, sys
j = json.load(sys.stdin)["jobs"][0]
print("%-16s state=%-8s processed_record_count=%s" % (j["job_id"], j["state"], j["data_counts"]["processed_record_count"]))'
  done
  curl -sS "$ES_URL/_ml/datafeeds/datafeed-total-requests/_stats" | python3 -c 'import json, sys
d = json.load(sys.stdin)["datafeeds"][0]
print("%-16s state=%s" % (d["datafeed_id"], d["state"]))'
}
for job in total-requests error-rate; do
  es -X PUT "$ES_URL/_ml/anomaly_detectors/$job" -d '{
    "analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]},
    "data_description": {"time_field": "@timestamp"}}' >/dev/null
done
# Group web-anomalies: two models at their memory limit, one healthy, one canary.
for job in web-latency web-errors web-requests web-canary-1; do
  es -X PUT "$ES_URL/_ml/anomaly_detectors/$job" -d '{
    "groups": ["web-anomalies"],
    "analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]},
    "data_description": {"time_field": "@timestamp"}}' >/dev/null
done
# The model memory status comes from the ML process; the simulator's control API stands in.
for job in web-latency web-errors; do
  es -X POST "$ES_URL/_sim/jobs/$job/_memory_status" -d '{"status": "hard_limit"}' >/dev/null
done
es -X PUT "$ES_URL/_ml/datafeeds/datafeed-total-requests" -d '{"job_id": "total-requests", "indices": ["requests-*"]}' >/dev/null
es -X POST "$ES_URL/_ml/anomaly_detectors/total-requests/_open" >/dev/null
es -X POST "$ES_URL/_ml/datafeeds/datafeed-total-requests/_start" >/dev/null
echo "total-requests: opened, datafeed started; error-rate: closed"
echo "group web-anomalies: web-latency, web-errors (memory hard_limit), web-requests (ok), web-canary-1"
stats total-requests error-rate

say "operator running (log: $state/operator.log)"
"$bin/jobreset-operator" run > "$state/operator.log" 2>&1 &
op=$!

say "kubectl apply -f deploy/examples/ (the example URL pointed at the simulator)"
kubectl create namespace observability
kubectl -n observability create secret generic es-reset-creds --from-literal=username=ml-resetter --from-literal=password=demo-password
for f in deploy/examples/*.yaml; do
  echo "---"; sed "s|https://es.example:9200|$ES_URL|" "$f"
done | kubectl apply -f -
kubectl get jobresets -n observability

say "following the resets"
kubectl get jobresets -n observability --watch --output-watch-events & watcher=$!
kubectl wait -n observability --for=condition=Ready jobreset --all --timeout=120s || true
kill $watcher 2>/dev/null || true; wait $watcher 2>/dev/null || true

say "result"
kubectl get jobresets -n observability -o wide
kubectl describe jobreset -n observability reset-total-requests | sed -n '/^Status:/,$p'
stats total-requests error-rate

say "the job remembers its reset: delete the JobReset and apply the same manifest again"
curl -sS "$ES_URL/_ml/anomaly_detectors/total-requests" | python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin)["jobs"][0]["custom_settings"]["jobreset_k8s_io"]["runs"][-1]))'
kubectl delete jobreset -n observability reset-total-requests --wait=true
sed "s|https://es.example:9200|$ES_URL|" deploy/examples/reset-total-requests.yaml | kubectl apply -f -
kubectl wait -n observability --for=condition=Ready jobreset/reset-total-requests --timeout=60s >/dev/null || true
kubectl get jobreset -n observability reset-total-requests -o jsonpath='{.status.reason}: {.status.message}{"\n"}'

say "the group fan-out: web-canary-* excluded, web-requests skipped by its condition"
kubectl get jobresets -n observability -l ml.jobreset.io/parent=reset-web-anomalies
kubectl get jobreset -n observability reset-web-anomalies \
  -o jsonpath='{range .status.fanOut.skipped[*]}skipped {.jobId}: {.reason}{"\n"}{end}'
say "the dry run: what it would reset, and nothing touched"
kubectl get jobreset -n observability what-would-go -o jsonpath='{.status.reason}: {.status.message}{"\n"}'

say "a schedule firing: every minute, one run, then suspended (the next minute starts it)"
kubectl apply -f - <<YAML
apiVersion: ml.jobreset.io/v1alpha1
kind: JobResetSchedule
metadata: {name: every-minute, namespace: observability}
spec:
  schedule: "* * * * *"
  startingDeadlineSeconds: 30
  jobResetTemplate:
    spec:
      jobId: web-canary-1
      elasticsearch:
        url: $ES_URL
        credentialsSecret: {name: es-reset-creds}
YAML
kubectl get jobresetschedules -n observability
kubectl wait -n observability jobresetschedule/every-minute \
  --for=jsonpath='{.status.lastScheduleTime}' --timeout=90s >/dev/null || true
kubectl patch -n observability jobresetschedule/every-minute --type merge -p '{"spec":{"suspend":true}}'
kubectl wait -n observability --for=condition=Ready jobreset -l ml.jobreset.io/schedule=every-minute --timeout=60s || true
kubectl get jobresets -n observability -l ml.jobreset.io/schedule=every-minute
kubectl get jobresetschedules -n observability
say "tearing down"
