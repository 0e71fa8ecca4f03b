"""TF1's Keras-v1 layers (`tf.compat.v1.keras.layers`) for TF1 graphs.

On TensorFlow 2.16+ `tf.compat.v1.keras.layers` is Keras 3's `layers`
module; `tf_bn_compat.keras.layers` holds the Keras-v1 classes TF1 graph code
expects there (`BatchNormalization`), and `tf_bn_compat.patch_tf()` puts them
under that name without touching Keras 3.
"""

from tf_bn_compat.keras import layers

__all__ = ["layers"]
