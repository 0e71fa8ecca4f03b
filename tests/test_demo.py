"""The main job: the demo trains, converges, saves and restores."""

import os
import subprocess
import sys

import pytest

import package_env


@pytest.mark.parametrize("data_format,fused", [("NHWC", "auto"),
                                               ("NCHW", "false")])
def test_demo_succeeds(tmp_path, data_format, fused):
  env = package_env.child_env()
  result = subprocess.run(
      [sys.executable, "-m", "tf_bn_compat.demo", "--steps=200",
       "--batch_size=32", "--data_format=" + data_format, "--fused=" + fused,
       "--model_dir=" + str(tmp_path)],
      capture_output=True, text=True, env=env, timeout=600, check=False)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert "DEMO OK" in result.stdout
  assert "max |logit difference| 0\n" in result.stdout
  assert os.path.exists(os.path.join(str(tmp_path), "model.ckpt.index"))
