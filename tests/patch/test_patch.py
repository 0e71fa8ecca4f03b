"""`patch_tf` lets an unchanged TF1 script run on TensorFlow 2.16+."""

import subprocess
import sys
import textwrap

import tensorflow as tf

import package_env

LEGACY_SCRIPT = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    import tf_bn_compat
    tf_bn_compat.patch_tf()

    tf.compat.v1.disable_v2_behavior()
    x = tf.compat.v1.placeholder(tf.float32, [None, 4])
    is_training = tf.compat.v1.placeholder(tf.bool, [])
    h = tf.compat.v1.layers.batch_normalization(x, training=is_training)
    h = tf.compat.v1.layers.BatchNormalization(axis=-1)(h, training=True)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run([h, updates], {x: np.ones((3, 4)) * 5, is_training: True})
      mean = sess.run(tf.compat.v1.global_variables()[2])
    print("UPDATES", len(updates), "MEAN", float(mean[0]))
""")


def test_patch_points_tf_layers_at_ours():
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  native = tf.compat.v1.layers
  module = tf_bn_compat.patch_tf()
  try:
    assert module.BatchNormalization is tf_bn_compat.layers.BatchNormalization
    assert (tf.compat.v1.layers.batch_normalization is
            tf_bn_compat.layers.batch_normalization)
    assert tf.compat.v1.layers.conv2d is tf_bn_compat.layers.conv2d
  finally:
    # Later tests use TF's own layers as their reference (TF 2.15).
    tf_bn_compat.unpatch_tf()
  assert tf.compat.v1.layers is native


def test_unchanged_legacy_script_runs(tmp_path):
  script = tmp_path / "legacy.py"
  script.write_text(LEGACY_SCRIPT)
  env = package_env.child_env()
  result = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith("UPDATES")][0]
  fields = line.split()
  assert fields[1] == "4"
  # One update of 0.01 towards a mean of 5.
  assert abs(float(fields[3]) - 0.05) < 1e-6
