# Sourced by demo.sh and test.sh: makes .venv/, installs the pinned
# requirements given as $1 (once per change of that file) and builds the op.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/requirements/$1"
VENV="$ROOT/.venv"
PYTHON="$VENV/bin/python"

if [ ! -x "$PYTHON" ]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(basename "$REQUIREMENTS")"
WANT="$(cat "$REQUIREMENTS" "$ROOT"/requirements/runtime-*.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] installing $(basename "$REQUIREMENTS")"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check \
    -r "$REQUIREMENTS"
  echo "$WANT" > "$STAMP"
fi
"$PYTHON" "$ROOT/custom_ops/build.py"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
