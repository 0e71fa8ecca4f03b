# Sourced by demo.sh, test.sh and benchmark.sh:
#   source setup_env.sh REQUIREMENTS_FILE [VENV_DIR]
# makes VENV_DIR (default .venv/ in the repository root), installs the pinned
# requirements (again only when the file changes), builds the op library for
# that environment's TensorFlow and exports ROOT, PYTHON and PYTHONPATH.
# Set TF_BN_COMPAT_OPS_LIBRARY to build (and load) the library elsewhere, and
# TF_BN_COMPAT_BUILD_ARGS to pass arguments to custom_ops/build.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/requirements/$1"
VENV="$ROOT/${2:-.venv}"
PYTHON="$VENV/bin/python"

if [ ! -x "$PYTHON" ]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(basename "$REQUIREMENTS")"
WANT="$(cat "$REQUIREMENTS" "$ROOT"/requirements/runtime-*.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] installing $(basename "$REQUIREMENTS") into $VENV"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check \
    -r "$REQUIREMENTS"
  echo "$WANT" > "$STAMP"
fi
# shellcheck disable=SC2086  # Word splitting of the arguments is wanted.
"$PYTHON" "$ROOT/custom_ops/build.py" ${TF_BN_COMPAT_BUILD_ARGS:-}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
