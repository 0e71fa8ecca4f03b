#!/usr/bin/env bash
# The test suite on the TensorFlow version matrix:
#   TF 2.21 in .venv/        (reference: tf_keras' legacy layers), plus the
#                             Bazel build of the op, loaded by a test;
#   TF 2.15 in .venv-tf2.15/ (reference: TF's own tf.compat.v1.layers;
#                             tf.estimator present).
# Each environment gets its pinned requirements and the op built against its
# own TensorFlow. Extra arguments go to pytest, e.g. `-k parity`.
# TF_BN_COMPAT_TF_VERSIONS="2.21" runs one leg only.
# TensorFlow's CPU kernels differ with oneDNN (on by default only on some
# CPUs), so the 2.21 leg runs with TF_ENABLE_ONEDNN_OPTS=1 and the 2.15 leg
# with 0: both settings are covered on any machine. Setting
# TF_ENABLE_ONEDNN_OPTS yourself applies it to both legs.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSIONS="${TF_BN_COMPAT_TF_VERSIONS:-2.21 2.15}"
status=0

run_leg() {
  local version="$1"; shift
  local onednn=0
  [ "$version" = 2.21 ] && onednn=1
  onednn="${TF_ENABLE_ONEDNN_OPTS:-$onednn}"
  echo "=== TensorFlow $version (TF_ENABLE_ONEDNN_OPTS=$onednn) ==="
  (
    set -e
    export TF_ENABLE_ONEDNN_OPTS="$onednn"
    if [ "$version" = 2.21 ]; then
      source "$HERE/setup_env.sh" test-tf2.21.txt .venv
      cd "$ROOT"
      if [ "${TF_BN_COMPAT_SKIP_BAZEL:-0}" = 1 ]; then
        echo "[test] Bazel build skipped (TF_BN_COMPAT_SKIP_BAZEL=1)"
      elif [ "${CI:-}" != true ] && ! command -v bazel >/dev/null &&
           [ "$(id -u)" != 0 ]; then
        # Outside CI, a machine without Bazel where we cannot apt-get it.
        echo "[test] Bazel build skipped: bazel is not installed and" \
             "bazel-bootstrap needs root to install"
      else
        TF_BN_COMPAT_BAZEL_LIB="$(bash custom_ops/bazel_build.sh)"
        export TF_BN_COMPAT_BAZEL_LIB
      fi
    else
      export TF_BN_COMPAT_OPS_LIBRARY
      TF_BN_COMPAT_OPS_LIBRARY="$(cd "$HERE/.." && pwd)/build/tf$version/_tf_bn_compat_ops.so"
      source "$HERE/setup_env.sh" "test-tf$version.txt" ".venv-tf$version"
      cd "$ROOT"
    fi
    "$PYTHON" -m pytest "$@"
  )
}

for version in $VERSIONS; do
  run_leg "$version" "$@" || status=1
done
exit $status
