"""TF1 batch normalization for modern TensorFlow, on a compiled fused op.

`tf_bn_compat.layers.BatchNormalization` and
`tf_bn_compat.layers.batch_normalization` behave as TF1's
`tf.compat.v1.layers` versions (variables, collections, checkpoints);
`tf_bn_compat.ops.fused_batch_norm` is `tf.compat.v1.nn.fused_batch_norm` on
this package's op; `tf_bn_compat.patch_tf()` makes `tf.compat.v1.layers` this
package's layers (all of TF1's) and
`tf.compat.v1.keras.layers.BatchNormalization` the Keras-v1 class
`tf_bn_compat.keras.layers.BatchNormalization`; `tf_bn_compat.unpatch_tf()`
undoes it. `tf_bn_compat.track_tf1_style_variables` runs TF1 model code in a
method of a `tf.Module` or a Keras 3 layer (see `tf_bn_compat.migrate`).

Submodules load on first use, so that command-line tools of the package
(`python -m tf_bn_compat.ckpt`) can configure TensorFlow's logging before
TensorFlow is imported.
"""

import importlib

__version__ = "0.1.0"

__all__ = ["estimator", "keras", "layers", "migrate", "ops", "patch_tf",
           "track_tf1_style_variables", "unpatch_tf", "__version__"]


def __getattr__(name):
  if name in ("estimator", "keras", "layers", "migrate", "ops"):
    return importlib.import_module("tf_bn_compat." + name)
  if name in ("patch_tf", "unpatch_tf"):
    return getattr(importlib.import_module("tf_bn_compat.patch"), name)
  if name == "track_tf1_style_variables":
    migrate = importlib.import_module("tf_bn_compat.migrate")
    return migrate.track_tf1_style_variables
  raise AttributeError("module 'tf_bn_compat' has no attribute %r" % name)
