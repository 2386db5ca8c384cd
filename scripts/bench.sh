#!/usr/bin/env bash
# `make bench`: prints figures; asserts nothing. Release builds.
#  1. es-ml-sim: reset + task-follow requests per second on this machine.
#  2. operator: N JobResets through the controller against the test bed and the simulator:
#     wall time to all Completed, resets/s, and the operator's resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== es-ml-sim: reset + task follow throughput"
cargo run -q -p es-ml-sim --release --example bench -- --seconds "${BENCH_SECONDS:-5}" --concurrency 32 --reset-ms 0
if [ -f examples/bench_operator.rs ]; then
  echo "== operator: JobResets end to end"
  testbed/cluster/scripts/provision-apiserver.sh
  cargo build -q -p jobreset-operator --release --bin jobreset-operator
  cargo run -q -p jobreset-operator --release --example bench_operator -- \
    --resets "${BENCH_RESETS:-500}" --reset-ms "${BENCH_RESET_MS:-50}" \
    --operator "${CARGO_TARGET_DIR:-target}/release/jobreset-operator"
fi
