"""The main job: the demo trains, converges, saves and restores.

NCHW runs under both oneDNN settings: where TensorFlow cannot train NCHW
convolutions (its CPU kernels without oneDNN), the demo must refuse at flag
parsing with one line, never crash with a traceback.
"""

import os
import subprocess
import sys

import pytest

import package_env


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
