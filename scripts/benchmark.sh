#!/usr/bin/env bash
# The CPU benchmark: set up .venv/, build the op, print the tables.
# Extra arguments go to the benchmark, e.g. `--repeats=50`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" runtime-tf2.21.txt
cd "$ROOT"
exec "$PYTHON" benchmarks/batch_norm_benchmark.py "$@"
