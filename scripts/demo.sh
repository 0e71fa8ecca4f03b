#!/usr/bin/env bash
# The main job: set up .venv/, build the op, run the TF1 training demo.
# Extra arguments go to the demo, e.g. `bash scripts/demo.sh --steps=500`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" runtime-tf2.21.txt
cd "$ROOT"
exec "$PYTHON" -m tf_bn_compat.demo "$@"
