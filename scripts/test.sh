#!/usr/bin/env bash
# Runs the whole suite. The Kubernetes test bed needs apiextensions-apiserver + etcd, built
# once per machine into ~/.cache; if that cannot be done, the test-bed tests (binaries named
# k8s_*) are reported as skipped by nextest and one loud line says why.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
filter=()
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  echo "test bed: using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
else
  start=$(date +%s)
  if testbed/cluster/scripts/provision-apiserver.sh > target/provision.log 2>&1; then
    echo "test bed: apiserver and etcd ready ($(( $(date +%s) - start ))s; cache ${K8S_APIEXT_CACHE:-$HOME/.cache/k8s-apiext})"
  else
    cause=$(grep -v '^\s*$' target/provision.log | tail -n 1)
    echo "################################################################################"
    echo "## TEST BED UNAVAILABLE: building apiextensions-apiserver from Debian packages failed: ${cause:-unknown} (full log: target/provision.log). Kubernetes test-bed tests are SKIPPED, not passed."
    echo "################################################################################"
    # A test-level predicate, so nextest lists these tests and counts them as skipped.
    filter=(-E 'not (binary(/^k8s_/) & test(/.*/))')
  fi
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "installing cargo-nextest (once per machine)"
  cargo install --locked cargo-nextest || exit 1
fi
status=0
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
if [ ${#filter[@]} -eq 0 ]; then
  # nextest runs every test in its own process: one bed for the whole run (tests attach to it
  # through TESTBED_STATE_DIR, each in its own namespace) instead of one API server per test.
  cargo build -q -p testbed --bin testbed || exit 1
  bed_dir="$target_dir/testbed-run"
  "$target_dir/debug/testbed" down --state-dir "$bed_dir" >/dev/null 2>&1 || true
  rm -rf "$bed_dir"
  if "$target_dir/debug/testbed" up --state-dir "$bed_dir" > "$target_dir/testbed-up.log" 2>&1; then
    export TESTBED_STATE_DIR="$bed_dir"
    trap '"$target_dir/debug/testbed" down --state-dir "$bed_dir" >/dev/null 2>&1 || true' EXIT
  else
    echo "test bed: 'testbed up' failed (see $target_dir/testbed-up.log); each test binary starts its own"
  fi
fi
# The restart tests need the operator's crash points (off in release builds).
cargo nextest run --workspace --features jobreset-operator/crash-points --no-fail-fast "${filter[@]}" || status=1
if [ -x testbed/es-ml-sim/conformance/run.sh ]; then
  testbed/es-ml-sim/conformance/run.sh || status=1
fi
# The Argo CD health check, run by a real Lua interpreter (same virtualenv as above).
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q lupa pyyaml pytest || status=1
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/argocd || status=1
exit $status
