"""`patch_tf`: makes TF1 scripts' batch normalization calls resolve to ours."""

import tensorflow as tf

from tf_bn_compat import layers

_PATCHED_NAMES = {
    "BatchNormalization": layers.BatchNormalization,
    "BatchNorm": layers.BatchNormalization,
    "batch_normalization": layers.batch_normalization,
    "batch_norm": layers.batch_normalization,
}


def patch_tf():
  """Points `tf.compat.v1.layers` batch normalization names at this package.

  After the call, unchanged legacy code using
  `tf.compat.v1.layers.BatchNormalization` or
  `tf.compat.v1.layers.batch_normalization` (which raise on TF 2.16+) builds
  this package's layer. Calling it again is harmless.

  Returns:
    The patched module, `tf.compat.v1.layers`.
  """
  module = tf.compat.v1.layers
  for name, value in _PATCHED_NAMES.items():
    setattr(module, name, value)
  return module
