#!/usr/bin/env bash
# The test suite on the TensorFlow version matrix:
#   TF 2.21 in .venv/        (reference: tf_keras' legacy layers) on the source
#                             tree, plus the Bazel build of the op, loaded by a
#                             test;
#   TF 2.15 in .venv-tf2.15/ (reference: TF's own tf.compat.v1.layers;
#                             tf.estimator present) on the package as users
#                             get it: `pip install` of the repository, tests
#                             run from outside the tree, the op built at first
#                             use into build/cache-tf2.15/.
# Each environment gets its pinned requirements and the op built against its
# own TensorFlow. Extra arguments go to pytest, e.g. `-k parity`.
# TF_BN_COMPAT_TF_VERSIONS="2.21" runs one leg only.
# TensorFlow's CPU kernels differ with oneDNN (on by default only on some
# CPUs), so the 2.21 leg runs with TF_ENABLE_ONEDNN_OPTS=1 and the 2.15 leg
# with 0: both settings are covered on any machine. Setting
# TF_ENABLE_ONEDNN_OPTS yourself applies it to both legs.
# The environments and builds are prepared one leg after the other (they
# share build/); then the legs' tests run at the same time, each printing its
# output when it ends (TF_BN_COMPAT_TEST_SERIAL=1 runs them one after the
# other, printing as they go).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VERSIONS="${TF_BN_COMPAT_TF_VERSIONS:-2.21 2.15}"
STATE="$ROOT/build/test-state"

leg_onednn() {
  local onednn=0
  [ "$1" = 2.21 ] && onednn=1
  echo "${TF_ENABLE_ONEDNN_OPTS:-$onednn}"
}

# Sources setup_env.sh for a leg: its venv, requirements and op build (a
# no-op the second time).
leg_env() {
  local version="$1"
  export TF_ENABLE_ONEDNN_OPTS
  TF_ENABLE_ONEDNN_OPTS="$(leg_onednn "$version")"
  if [ "$version" = 2.21 ]; then
    source "$HERE/setup_env.sh" test-tf2.21.txt .venv
  else
    # Only the framework-free kernel libraries from the tree (the ctypes
    # tests load them), with objects under build/tf$version/.
    export TF_BN_COMPAT_OPS_LIBRARY TF_BN_COMPAT_BUILD_ARGS=--kernels-only
    TF_BN_COMPAT_OPS_LIBRARY="$ROOT/build/tf$version/_tf_bn_compat_ops.so"
    source "$HERE/setup_env.sh" "test-tf$version.txt" ".venv-tf$version"
    unset TF_BN_COMPAT_OPS_LIBRARY TF_BN_COMPAT_BUILD_ARGS PYTHONPATH
  fi
}

prepare_leg() {
  local version="$1"
  echo "=== TensorFlow $version: preparing ==="
  (
    set -e
    leg_env "$version"
    cd "$ROOT"
    if [ "$version" = 2.21 ]; then
      rm -f "$STATE/bazel-lib"
      if [ "${TF_BN_COMPAT_SKIP_BAZEL:-0}" = 1 ]; then
        echo "[test] Bazel build skipped (TF_BN_COMPAT_SKIP_BAZEL=1)"
      elif [ "${CI:-}" != true ] && ! command -v bazel >/dev/null &&
           [ "$(id -u)" != 0 ]; then
        # Outside CI, a machine without Bazel where we cannot apt-get it.
        echo "[test] Bazel build skipped: bazel is not installed and" \
             "bazel-bootstrap needs root to install"
      else
        bash custom_ops/bazel_build.sh > "$STATE/bazel-lib"
      fi
    else
      echo "[test] pip install $ROOT (the installed leg)"
      "$PYTHON" -m pip install --quiet --disable-pip-version-check "$ROOT"
    fi
  )
}

test_leg() {
  local version="$1"; shift
  echo "=== TensorFlow $version (TF_ENABLE_ONEDNN_OPTS=$(leg_onednn "$version")) ==="
  (
    set -e
    leg_env "$version"
    if [ "$version" = 2.21 ]; then
      cd "$ROOT"
      if [ -s "$STATE/bazel-lib" ]; then
        export TF_BN_COMPAT_BAZEL_LIB
        TF_BN_COMPAT_BAZEL_LIB="$(cat "$STATE/bazel-lib")"
      fi
      "$PYTHON" -m pytest "$@"
    else
      export TF_BN_COMPAT_CACHE_DIR="$ROOT/build/cache-tf$version"
      export TF_BN_COMPAT_EXPECT_INSTALLED=1
      # Outside the tree, with a configuration that leaves the repository off
      # sys.path: the tests import the installed copy.
      RUN_DIR="$(mktemp -d)"
      trap 'rm -rf "$RUN_DIR"' EXIT
      cd "$RUN_DIR"
      "$PYTHON" -m pytest -c "$ROOT/tests/installed.ini" \
        --rootdir "$ROOT/tests" "$ROOT/tests" "$@"
    fi
  )
}

mkdir -p "$STATE"
status=0
ready=""
for version in $VERSIONS; do
  if prepare_leg "$version"; then
    ready="$ready $version"
  else
    echo "=== TensorFlow $version: preparation FAILED ==="
    status=1
  fi
done

legs=($ready)
if [ "${#legs[@]}" -le 1 ] || [ "${TF_BN_COMPAT_TEST_SERIAL:-0}" = 1 ]; then
  for version in "${legs[@]}"; do
    test_leg "$version" "$@" || status=1
  done
  exit $status
fi

echo "[test] running the legs${ready} at the same time; each one's output" \
     "follows when it ends"
declare -A pids
for version in "${legs[@]}"; do
  test_leg "$version" "$@" > "$STATE/leg-$version.log" 2>&1 &
  pids[$version]=$!
done
for version in "${legs[@]}"; do
  wait "${pids[$version]}" || status=1
  cat "$STATE/leg-$version.log"
done
exit $status
