#!/usr/bin/env bash
# Fuzz every input surface (engine lines, play input, --set values, TOML configs, damaged
# checkpoint bytes) with many more hypothesis examples than the suite runs, and print how
# many cases each surface tried (issue 27).
#
#   bash scripts/fuzz_inputs.sh [EXAMPLES]      # default 1000 per test
#
# Same tests as tests/test_fuzz_inputs.py; a failure prints hypothesis's smallest example.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${1:-1000}"
PY="${PYTHON:-.venv/bin/python}"
PONDER_FUZZ_EXAMPLES="$EXAMPLES" "$PY" -m pytest tests/test_fuzz_inputs.py -q -p no:cacheprovider \
    --hypothesis-show-statistics 2>&1 | tee "${FUZZ_LOG:-/dev/null}" \
    | grep -E "^tests/|passing examples|failing examples|invalid examples|Stopped because|passed|failed|Error" || true
