"""`patch_tf`: makes TF1 scripts' batch normalization calls resolve to ours."""

import sys
import types

import tensorflow as tf

from tf_bn_compat import layers

_PATCHED_NAMES = {
    "BatchNormalization": layers.BatchNormalization,
    "BatchNorm": layers.BatchNormalization,
    "batch_normalization": layers.batch_normalization,
    "batch_norm": layers.batch_normalization,
}


class _PatchedLayersModule(types.ModuleType):
  """`tf.compat.v1.layers` with our batch normalization in it.

  Other names are looked up on the module it replaces, so they behave as
  before (on Keras 3, the same "not available" error).
  """

  def __init__(self, original):
    super().__init__("tensorflow.compat.v1.layers")
    self.__dict__.update(_PATCHED_NAMES)
    self._tf_bn_compat_original = original

  def __getattr__(self, name):
    return getattr(self.__dict__["_tf_bn_compat_original"], name)


def patch_tf():
  """Points `tf.compat.v1.layers` batch normalization names at this package.

  After the call, unchanged legacy code using
  `tf.compat.v1.layers.BatchNormalization` or
  `tf.compat.v1.layers.batch_normalization` (which raise on TF 2.16+) builds
  this package's layer. Calling it again is harmless.

  Returns:
    The patched module, now `tf.compat.v1.layers`.
  """
  current = tf.compat.v1.__dict__.get("layers")
  if isinstance(current, _PatchedLayersModule):
    return current
  patched = _PatchedLayersModule(current)
  setattr(tf.compat.v1, "layers", patched)
  sys.modules["tensorflow.compat.v1.layers"] = patched
  return patched
