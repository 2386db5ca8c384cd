#!/usr/bin/env bash
# Conformance: drive es-ml-sim through the official Elasticsearch Python client (8.x).
# Creates/reuses a venv at ${VENV:-.venv} under the repo root, builds the debug binary,
# starts it on a free port with the control API, runs pytest, stops it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q 'elasticsearch>=8,<9' pytest

(cd "$ROOT" && cargo build -q -p es-ml-sim)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug/es-ml-sim"

LOG="$(mktemp -t es-ml-sim-conformance.XXXXXX.log)"
# Port 0: the kernel picks a free port; the binary prints its URL as the first stdout line.
exec 3< <(exec "$BIN" --listen 127.0.0.1:0 --enable-control --reset-duration 300ms 2>"$LOG")
SIM_PID=$!
cleanup() {
  kill "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
  exec 3<&- || true
}
trap cleanup EXIT

if ! read -t 60 -r LINE <&3; then
  echo "es-ml-sim did not start; log:" >&2
  cat "$LOG" >&2
  exit 1
fi
ES_URL="${LINE##* }"
echo "es-ml-sim at $ES_URL (log: $LOG)"

cd "$HERE"
ES_URL="$ES_URL" "$VENV/bin/python" -m pytest -q -p no:cacheprovider test_conformance.py "$@"
