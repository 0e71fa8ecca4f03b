"""The Keras-v1 layers of `tf.compat.v1.keras.layers` that this package rebuilds.

`TF_PUBLIC_NAMES` are the names `tf_bn_compat.patch_tf()` puts into its
`tf.compat.v1.keras.layers` namespace; every other name there is Keras 3's.
"""

from tf_bn_compat.keras.layers.batch_normalization import BatchNormalization

TF_PUBLIC_NAMES = ("BatchNormalization",)

__all__ = ["BatchNormalization"]
