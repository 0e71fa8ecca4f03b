"""Graph-building functions for `python -m tf_bn_compat.ckpt diff` tests.

Each public function takes no arguments and builds a model in the default
graph (the `--graph_fn` convention).
"""

import tensorflow as tf

import parity

SHAPE = (8, 4, 5, 3)


def build(module, dtype=tf.float32, renorm=True, channels=3, extra=False):
  """Three batch norm layers (fused, renorm, axis=[1, 3]) and a weight."""
  shape = SHAPE[:3] + (channels,)
  x = tf.compat.v1.placeholder(dtype, shape, name="x")
  with tf.compat.v1.variable_scope("model"):
    h = module.batch_normalization(x, training=True)
    h = module.BatchNormalization(renorm=renorm)(h, training=True)
    h = module.batch_normalization(h, axis=[1, 3], center=False,
                                   training=True)
    tf.compat.v1.get_variable("w", [3, 2], dtype=dtype)
    if extra:
      tf.compat.v1.get_variable("extra", [2], dtype=dtype)
  return x, h


def ours_model():
  build(parity.ours_module())


def reference_model():
  build(parity.reference_module())


def ours_changed():
  """No renorm, 6 channels, one extra variable: every kind of mismatch."""
  build(parity.ours_module(), renorm=False, channels=6, extra=True)


def ours_float64():
  build(parity.ours_module(), dtype=tf.float64)


def raises():
  raise ValueError("this model cannot be built")


NOT_CALLABLE = 3
