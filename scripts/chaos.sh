#!/usr/bin/env bash
# The fault campaign (tests/k8s_chaos.rs) on the test bed: CHAOS_ROUNDS rounds (default 330,
# over 1,000 SIGKILLs), or CHAOS_SECONDS of them; CHAOS_SEED replays from a seed. Prints the
# seed of every failing round and one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
testbed/cluster/scripts/provision-apiserver.sh > /dev/null || { echo "test bed unavailable (see make provision)"; exit 1; }
export CHAOS_ROUNDS=${CHAOS_ROUNDS:-330}
cargo nextest run --profile chaos -p jobreset-operator --features crash-points --test k8s_chaos \
  --no-capture --status-level fail 2>&1 | grep -E '^CHAOS|^  |FAIL|PASS'
