"""benchmarks/estimator_scale_benchmark.py runs: its smoke mode's table.

A few steps per configuration (one process, a chief + worker + ps cluster,
mirrored replicas with plain and synchronized batch norm), then a local
train_and_evaluate; every row must be there with positive numbers. On
TensorFlow 2.16+ only, from the source tree (the script is not installed).
"""

import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "estimator_scale_benchmark.py")
_NUMBER = r"([0-9.]+|nan|inf)"

pytestmark = [
    pytest.mark.skipif(
        tuple(int(v) for v in tf.__version__.split(".")[:2]) < (2, 16),
        reason="the benchmark measures this package's tf.estimator "
        "(TensorFlow 2.16+)"),
    pytest.mark.skipif(not os.path.exists(SCRIPT),
                       reason="run from an installed copy: no benchmarks/"),
]


def test_smoke_table_has_every_row_with_positive_numbers(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("TF_CONFIG", None)
  result = subprocess.run(
      [sys.executable, SCRIPT, "--smoke", "--timeout_secs=90"],
      cwd=str(tmp_path), env=env, capture_output=True, text=True,
      timeout=240, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  assert re.match(r"CPU: .+, \d+ CPUs; TensorFlow %s; TF_ENABLE_ONEDNN_OPTS="
                  % re.escape(tf.__version__), lines[0]), lines[0]
  rates = {}
  for line in lines:
    match = re.match(r"(single|cluster|mirrored|mirrored\+sync) +%s +%s " %
                     (_NUMBER, _NUMBER), line)
    if match:
      rates[match.group(1)] = (float(match.group(2)), float(match.group(3)))
  assert sorted(rates) == ["cluster", "mirrored", "mirrored+sync", "single"]
  for config, (steps, images) in rates.items():
    assert 0 < steps < float("inf"), (config, steps)
    # The global batch is 64 images per step.
    assert images == pytest.approx(64 * steps, rel=0.01, abs=1), config
  match = re.search(r"evaluate s ([0-9. ]+); export s ([0-9. ]+)$",
                    result.stdout, re.M)
  assert match, result.stdout
  evaluate = [float(s) for s in match.group(1).split()]
  export = [float(s) for s in match.group(2).split()]
  # 40 steps, a checkpoint every 20: two evaluations, one final export.
  assert len(evaluate) == 2 and all(s > 0 for s in evaluate), evaluate
  assert len(export) == 1 and export[0] > 0, export
