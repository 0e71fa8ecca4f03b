"""The TF1 ResNet example trains, and its checkpoint restores into TF1's layers.

The example's model code calls `tf.compat.v1.layers.*`. Trained with our
layers (after `patch_tf()`), its loss must fall; its checkpoint, restored
into the same model code running on TF1's own layers, must give the same
held-out logits. TF1's own layers: TF 2.15's `tf.compat.v1.layers` in this
process (unpatched), or on TF 2.16+ a process with `TF_USE_LEGACY_KERAS=1`,
where `tf.compat.v1.layers` is tf_keras' legacy layers.

Tolerance: the network computes in float16. Convolutions and pooling run the
same TF ops on both sides; the batch normalization runs our op on one side
and TF's FusedBatchNormV3 on the other, which may round a float16 output
differently by one unit (~1e-3 relative); the logits agree to 1e-2 (measured:
4e-3 on logits of ~15). With TF_BN_COMPAT_BACKEND=tf (our layers on TF's
op) they are bitwise identical.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import layer_parity
import tf_bn_compat
from tf_bn_compat.examples import resnet_tf1

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
STEPS = 12
BATCH = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  tf_bn_compat.patch_tf()
  try:
    result = resnet_tf1.train(
        steps=STEPS, batch_size=BATCH,
        checkpoint_path=str(tmp_path_factory.mktemp("resnet") / "ckpt"))
    images = resnet_tf1.make_data(BATCH, 1)[0]
    result["restored_logits"] = resnet_tf1.evaluate(result["checkpoint"],
                                                    images)
    previous = os.environ.get("TF_BN_COMPAT_BACKEND")
    os.environ["TF_BN_COMPAT_BACKEND"] = "tf"
    try:
      result["tf_op_logits"] = resnet_tf1.evaluate(result["checkpoint"],
                                                   images)
    finally:
      if previous is None:
        del os.environ["TF_BN_COMPAT_BACKEND"]
      else:
        os.environ["TF_BN_COMPAT_BACKEND"] = previous
  finally:
    tf_bn_compat.unpatch_tf()
  result["images"] = images
  return result


def test_loss_falls(trained):
  losses = trained["losses"]
  assert np.isfinite(losses).all()
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses


def test_checkpoint_restores_into_our_model(trained):
  np.testing.assert_array_equal(trained["restored_logits"],
                                trained["eval_logits"])


def _tf1_logits(checkpoint, images, tmp_path):
  """Held-out logits of the same model code on TF1's own layers."""
  if layer_parity.TF_VERSION < (2, 16):
    assert not tf_bn_compat.patch.is_patched()
    assert tf.compat.v1.layers.conv2d is not tf_bn_compat.layers.conv2d
    return resnet_tf1.evaluate(checkpoint, images)
  images_path, logits_path = tmp_path / "images.npy", tmp_path / "logits.npy"
  np.save(images_path, images)
  script = (
      "import sys, numpy as np\n"
      "from tf_bn_compat.examples import resnet_tf1\n"
      "import tensorflow as tf\n"
      "assert 'tf_keras' in type(tf.compat.v1.layers.conv2d).__module__ or "
      "tf.compat.v1.layers.conv2d.__module__.startswith('tf_keras')\n"
      "np.save(sys.argv[3], resnet_tf1.evaluate(sys.argv[1], "
      "np.load(sys.argv[2])))\n")
  env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in [ROOT, env.get("PYTHONPATH")] if p)
  result = subprocess.run(
      [sys.executable, "-c", script, checkpoint, str(images_path),
       str(logits_path)], capture_output=True, text=True, env=env,
      timeout=300, check=False, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-4000:]
  return np.load(logits_path)


def test_checkpoint_restores_into_tf1_layers(trained, tmp_path):
  logits = _tf1_logits(trained["checkpoint"], trained["images"], tmp_path)
  np.testing.assert_allclose(logits, trained["restored_logits"], rtol=1e-2,
                             atol=1e-2)
  np.testing.assert_array_equal(logits, trained["tf_op_logits"])
  assert np.abs(trained["restored_logits"]).max() > 0.5  # Not a trivial 0.
