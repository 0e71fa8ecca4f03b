"""`tf.compat.v1.layers.experimental`: Keras-style variable management."""

from tf_bn_compat.layers.naming import keras_style_scope
from tf_bn_compat.layers.naming import set_keras_style

__all__ = ["keras_style_scope", "set_keras_style"]
