"""Building and running the layers prints no TensorFlow deprecation warnings.

TF prints each deprecation once per process, so each check runs in a fresh
process with TensorFlow's logging fully on.
"""

import subprocess
import sys

import pytest

import package_env

_PROGRAM = """
import numpy as np
import tensorflow as tf
import tf_bn_compat
with tf.Graph().as_default():
  x = tf.compat.v1.placeholder(tf.float32, [2, 4, 4, 3])
  training = tf.compat.v1.placeholder(tf.bool, [])
  y = tf_bn_compat.layers.batch_normalization(x, training=training, fused=%s,
                                              renorm=%s)
  loss = tf.reduce_sum(y)
  updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(updates):
    train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
  with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.global_variables_initializer())
    sess.run(train, {x: np.ones([2, 4, 4, 3]), training: True})
print("RAN")
"""


@pytest.mark.parametrize("fused,renorm", [("True", "False"),
                                          ("False", "False"),
                                          ("False", "True")])
def test_layer_build_prints_no_deprecation(fused, renorm):
  env = package_env.child_env(TF_CPP_MIN_LOG_LEVEL="0")
  result = subprocess.run([sys.executable, "-c", _PROGRAM % (fused, renorm)],
                          capture_output=True, text=True, env=env,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "RAN" in result.stdout
  assert "deprecat" not in result.stderr.lower(), result.stderr[-3000:]
