#!/usr/bin/env bash
# Builds the op library with Bazel (4.2.3 from Debian's bazel-bootstrap,
# offline) and prints the path of the result.
#   custom_ops/bazel_build.sh [extra bazel args]
# Test it with:
#   TF_BN_COMPAT_BAZEL_LIB=build/bazel/_tf_bn_compat_ops.so \
#     .venv/bin/python -m pytest tests/custom_ops/test_bazel_library.py
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bazel >/dev/null; then
  echo "[bazel_build] installing bazel-bootstrap" >&2
  apt-get install -y bazel-bootstrap >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y bazel-bootstrap >/dev/null; }
fi
export PYTHON_BIN_PATH="${PYTHON_BIN_PATH:-$PWD/.venv/bin/python}"
# One compile at a time on a shared machine; Debian's bazelrc turns on
# --sandbox_debug, which floods the output.
bazel build --nosandbox_debug --jobs=1 "$@" //:tf_bn_compat_ops
mkdir -p build/bazel
cp -f bazel-bin/_tf_bn_compat_ops.so build/bazel/_tf_bn_compat_ops.so
chmod u+w build/bazel/_tf_bn_compat_ops.so
echo "$PWD/build/bazel/_tf_bn_compat_ops.so"
