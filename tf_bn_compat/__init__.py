"""TF1 batch normalization for modern TensorFlow, on a compiled fused op.

`tf_bn_compat.layers.BatchNormalization` and
`tf_bn_compat.layers.batch_normalization` behave as TF1's
`tf.compat.v1.layers` versions (variables, collections, checkpoints);
`tf_bn_compat.ops.fused_batch_norm` is `tf.compat.v1.nn.fused_batch_norm` on
this package's op; `tf_bn_compat.patch_tf()` redirects `tf.compat.v1.layers`.
"""

from tf_bn_compat import layers
from tf_bn_compat import ops
from tf_bn_compat.patch import patch_tf

__version__ = "0.1.0"

__all__ = ["layers", "ops", "patch_tf", "__version__"]
