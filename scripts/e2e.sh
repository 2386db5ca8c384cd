#!/usr/bin/env bash
# End-to-end smoke run against a REAL cluster and a REAL Elasticsearch (cannot run on the
# project's own machines). Needs: kubectl pointed at the cluster (e.g. kind), an
# Elasticsearch 7.14+ with ML (an ECK quickstart with a trial licence works), and:
#   ES_URL           e.g. https://quickstart-es-http.elastic.svc:9200 as seen from where the operator runs
#   ES_USER/ES_PASSWORD or ES_API_KEY   a user with manage_ml + cluster:monitor/task/get
#   E2E_JOB          an existing anomaly detection job that may be reset (its results are deleted!)
#   E2E_NAMESPACE    namespace to use (default jobreset-e2e)
# It installs the CRD, runs the operator out of cluster, applies one JobReset and waits for
# Ready (success) or Stalled (failure), then cleans up the JobReset and the Secret.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ES_URL:?set ES_URL}" "${E2E_JOB:?set E2E_JOB to a job that may be reset}"
ns=${E2E_NAMESPACE:-jobreset-e2e}
kubectl apply -f crds/
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
if [ -n "${ES_API_KEY:-}" ]; then
  kubectl -n "$ns" create secret generic e2e-es-creds --from-literal=apiKey="$ES_API_KEY" --dry-run=client -o yaml | kubectl apply -f -
else
  kubectl -n "$ns" create secret generic e2e-es-creds --from-literal=username="${ES_USER:?}" \
    --from-literal=password="${ES_PASSWORD:?}" --dry-run=client -o yaml | kubectl apply -f -
fi
cargo build -q -p jobreset-operator
target/debug/jobreset-operator run --namespace "$ns" > target/e2e-operator.log 2>&1 &
op=$!
trap 'kill $op 2>/dev/null; kubectl -n "$ns" delete jobreset e2e-reset --ignore-not-found; kubectl -n "$ns" delete secret e2e-es-creds --ignore-not-found' EXIT
kubectl -n "$ns" apply -f - <<YAML
apiVersion: ml.jobreset.io/v1alpha1
kind: JobReset
metadata: {name: e2e-reset}
spec:
  jobId: ${E2E_JOB}
  elasticsearch:
    url: ${ES_URL}
    credentialsSecret: {name: e2e-es-creds}
    tls: {insecureSkipVerify: ${E2E_INSECURE:-false}}
YAML
if kubectl -n "$ns" wait --for=condition=Ready jobreset/e2e-reset --timeout="${E2E_TIMEOUT:-10m}"; then
  kubectl -n "$ns" get jobreset e2e-reset -o wide
  echo "e2e: PASS"
else
  kubectl -n "$ns" describe jobreset e2e-reset
  echo "e2e: FAIL (operator log: target/e2e-operator.log)"; exit 1
fi
