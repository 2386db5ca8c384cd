#!/usr/bin/env bash
# `make bench`: prints figures and writes docs/benchmarks.md with its plots; asserts
# nothing. The operator is built as shipped (the `dist` profile the Dockerfile uses).
#  1. es-ml-sim: reset + task-follow requests per second on this machine.
#  2. operator: the API server's capacity probe, backlog and live scenarios per size, lag
#     against a naive poller, a concurrency sweep, memory and CPU (examples/bench_operator).
#     BENCH_SIZES, BENCH_SWEEP, BENCH_SWEEP_N, BENCH_RESET_MS tune it (see its header); a tuned
#     run prints its figures and leaves docs/ as the last full run wrote it.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== es-ml-sim: reset + task follow throughput"
cargo run -q -p es-ml-sim --release --example bench -- --seconds "${BENCH_SECONDS:-5}" --concurrency 32 --reset-ms 0
echo "== operator: JobResets end to end"
testbed/cluster/scripts/provision-apiserver.sh
cargo build -q -p jobreset-operator --profile dist --bin jobreset-operator
# The API server's CPU profiles of this run only (examples/bench_operator/pprof.rs).
PROFILES="${CARGO_TARGET_DIR:-target}/bench"
rm -rf "$PROFILES"
STAMP=$(mktemp)
cargo run -q -p jobreset-operator --release --example bench_operator -- \
  --operator "${CARGO_TARGET_DIR:-target}/dist/jobreset-operator"
# Written beside docs/benchmarks.md when this run wrote that (a run of both modes).
if [ docs/benchmarks.md -nt "$STAMP" ]; then
  {
    echo "# Where the API server's CPU goes"
    echo
    echo "Go CPU profiles of the test bed's API server (\`/debug/pprof/profile\`), taken by \`make bench\`"
    echo "on $(git rev-parse --short HEAD) during 15 s of each backlog (\`backlog-N-c8\`) and 6 s of the"
    echo "capacity probe before each scenario and after it among its own JobResets (\`probe-before-…\`,"
    echo "\`probe-after-…\`). Each sample counts for the first category any frame of its stack matches"
    echo "(scripts/pprof-summary.py). etcd is a process of its own: its CPU is in docs/benchmarks.md."
    echo
    python3 scripts/pprof-summary.py "$PROFILES"/*.pprof.gz
  } > docs/bench/apiserver-profile.md
fi
rm -f "$STAMP"
