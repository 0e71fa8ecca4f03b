#!/usr/bin/env bash
# The test suite: set up .venv/, build the op (g++, and nvcc when present),
# build it again with Bazel where Bazel can be had, run pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k parity`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" test-tf2.21.txt
cd "$ROOT"
if [ -x custom_ops/bazel_build.sh ] && [ "${TF_BN_COMPAT_SKIP_BAZEL:-0}" != 1 ]; then
  if BAZEL_LIB="$(bash custom_ops/bazel_build.sh)"; then
    export TF_BN_COMPAT_BAZEL_LIB="$BAZEL_LIB"
  else
    echo "[test] the Bazel build failed" >&2
    exit 1
  fi
fi
exec "$PYTHON" -m pytest "$@"
