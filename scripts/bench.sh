#!/usr/bin/env bash
# `make bench`: prints figures and writes docs/benchmarks.md with its plots; asserts
# nothing. The operator is built as shipped (the `dist` profile the Dockerfile uses).
#  1. es-ml-sim: reset + task-follow requests per second on this machine.
#  2. operator: the API server's capacity probe, backlog and live scenarios per size, lag
#     against a naive poller, a concurrency sweep, memory and CPU (examples/bench_operator).
#     BENCH_SIZES, BENCH_SWEEP, BENCH_SWEEP_N, BENCH_RESET_MS tune it (see its header).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== es-ml-sim: reset + task follow throughput"
cargo run -q -p es-ml-sim --release --example bench -- --seconds "${BENCH_SECONDS:-5}" --concurrency 32 --reset-ms 0
echo "== operator: JobResets end to end"
testbed/cluster/scripts/provision-apiserver.sh
cargo build -q -p jobreset-operator --profile dist --bin jobreset-operator
cargo run -q -p jobreset-operator --release --example bench_operator -- \
  --operator "${CARGO_TARGET_DIR:-target}/dist/jobreset-operator"
