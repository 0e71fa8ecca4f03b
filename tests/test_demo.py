"""The main job: the demo trains, converges, saves and restores.

NCHW runs under both oneDNN settings: where TensorFlow cannot train NCHW
convolutions (its CPU kernels without oneDNN), the demo must refuse at flag
parsing with one line, never crash with a traceback. The demo's checks hold
for seeds 0-9 under both oneDNN settings, and its moving-average check fails
when the updates are not the layer's.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf

import package_env
from tf_bn_compat import demo

SEEDS = range(10)


def _run(args, onednn=None):
  env = package_env.child_env()
  if onednn is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = onednn
  return subprocess.run([sys.executable] + args, capture_output=True,
                        text=True, env=env, timeout=600, check=False)


def _nchw_supported(onednn):
  result = _run(["-c", "from tf_bn_compat import platform_support as p; "
                       "print(p.nchw_conv_training_supported())"], onednn)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("data_format,fused,onednn", [
    ("NHWC", "auto", None),
    ("NCHW", "false", "0"),
    ("NCHW", "false", "1"),
])
def test_demo(tmp_path, data_format, fused, onednn):
  result = _run(["-m", "tf_bn_compat.demo", "--steps=200", "--batch_size=32",
                 "--data_format=" + data_format, "--fused=" + fused,
                 "--model_dir=" + str(tmp_path)], onednn)
  output = result.stdout[-3000:] + result.stderr[-3000:]
  if data_format == "NCHW" and not _nchw_supported(onednn):
    assert result.returncode == 1, output
    assert "Traceback" not in result.stderr, output
    assert "--data_format=NCHW cannot run here" in result.stderr, output
    assert "TF_ENABLE_ONEDNN_OPTS=1" in result.stderr, output
    return
  assert result.returncode == 0, output
  assert "DEMO OK" in result.stdout
  assert "max |logit difference| 0\n" in result.stdout
  assert os.path.exists(os.path.join(str(tmp_path), "model.ckpt.index"))


def test_nchw_probe_matches_tensorflow_without_onednn():
  # Without oneDNN TensorFlow's CPU convolutions are NHWC-only, on any CPU.
  # (On a machine with a GPU the probe would run there and succeed.)
  result = _run(["-c", "import tensorflow as tf; "
                       "print(len(tf.config.list_physical_devices('GPU')))"],
                "0")
  if result.stdout.strip().splitlines()[-1] != "0":
    pytest.skip("a GPU runs NCHW convolutions")
  assert not _nchw_supported("0")


_SEED_SWEEP = """
import json, sys, tempfile
import tensorflow as tf
tf.get_logger().setLevel("ERROR")
from tf_bn_compat import demo
failures = {}
for seed in json.loads(sys.argv[1]):
  config = demo.Config(steps=300, batch_size=64, fused="auto",
                       data_format="NHWC", seed=seed, log_every=10**9)
  failures[seed] = demo.run(config, tempfile.mkdtemp())
print("FAILURES " + json.dumps(failures))
"""


@pytest.mark.skipif(tuple(int(p) for p in tf.__version__.split(".")[:2]) <
                    (2, 16), reason="the README's main command runs on TF "
                    "2.21; the sweep runs in that leg")
@pytest.mark.parametrize("onednn", ["0", "1"])
def test_demo_passes_for_every_seed(onednn):
  # The demo's defaults (300 steps of 64), one process per oneDNN setting.
  result = _run(["-c", _SEED_SWEEP, json.dumps(list(SEEDS))], onednn)
  output = result.stdout[-3000:] + result.stderr[-3000:]
  assert result.returncode == 0, output
  last = result.stdout.strip().splitlines()[-1]
  assert last.startswith("FAILURES "), output
  failures = json.loads(last[len("FAILURES "):])
  assert sorted(int(seed) for seed in failures) == list(SEEDS)
  assert not any(failures.values()), output


@pytest.fixture(scope="module")
def short_run():
  """A 30-step run of the fused demo model: (config, measured result)."""
  config = demo.Config(steps=30, batch_size=16, fused="auto",
                       data_format="NHWC", seed=3, log_every=10**9)
  images, labels = demo.make_data(64, np.random.RandomState(4))
  with tempfile.TemporaryDirectory() as model_dir:
    result = demo.train(config, images, labels,
                        os.path.join(model_dir, "model.ckpt"))
  return config, result


def test_moving_statistics_are_the_float64_replay(short_run):
  config, result = short_run
  assert demo.moving_average_error(result, config) < demo.EMA_TOLERANCE


def test_replay_with_the_other_bessel_convention_fails(short_run):
  # The composite path's convention on a fused run: off by n/(n-1) - 1.
  config, result = short_run
  assert demo.moving_average_error(
      result, config._replace(fused="false")) > 10 * demo.EMA_TOLERANCE


def test_replay_missing_one_update_fails(short_run):
  config, result = short_run
  skipped = dict(result, batch_moments=result["batch_moments"][:-1])
  assert demo.moving_average_error(skipped, config) > 10 * demo.EMA_TOLERANCE
