"""The Keras-v1 layer base (`tf.compat.v1.keras` layers).

A Keras-v1 layer manages its variables as TF1's Keras did, not as
`tf.compat.v1.layers` do:

* naming: an unnamed layer is called `batch_normalization`,
  `batch_normalization_1`, ... per graph; its variables are created under
  the current name scope plus the layer's name (`outer/batch_normalization/
  gamma`), never through `variable_scope`, so there is no reuse, no custom
  getter and no partitioner;
* a weight asked for as trainable is a trainable variable (in
  `TRAINABLE_VARIABLES`) even on a layer made with `trainable=False`; the
  layer's `trainable` only decides what `trainable_weights` and `updates`
  report, so setting it back to True brings both back;
* updates and regularization losses stay on the layer (`updates`,
  `get_updates_for`, `losses`, `get_losses_for`): nothing goes to
  `UPDATE_OPS` or `REGULARIZATION_LOSSES`;
* with TF2 behaviour on (`tf.Graph().as_default()`), a layer without
  `dtype` computes in float32, casting floating inputs (Keras' float32
  policy); after `tf.compat.v1.disable_v2_behavior()` it takes the dtype of
  its first input.

Executing eagerly and inside `tf.function` a layer object works as TF1's
Keras layers do there: its first call creates its variables (named
`batch_normalization/gamma`, `batch_normalization_1/gamma`, ... across the
process), updates run in place (none while the layer is not trainable) and
are not recorded, `losses` recomputes the weight regularizers at each read,
and `training=None` means False.

This is the package's TF1 layer base (`tf_bn_compat.layers.base.Layer`) in
its Keras-style mode, with the naming and bookkeeping of TF1's Keras.
"""

import tensorflow as tf

from tf_bn_compat.layers import base
from tf_bn_compat.layers import naming


class Layer(base.Layer):
  """Base class of the Keras-v1 layers (TF1 graphs, eager, `tf.function`).

  Args:
    trainable: Whether the layer reports its trainable weights and updates.
    name: The layer's name, the name scope of its variables and ops; unique
      per graph when not given.
    dtype: The dtype of the layer's computation, or None (float32 with TF2
      behaviour on, else the dtype of the first input).
    **kwargs: `activity_regularizer`.

  Raises:
    TypeError: for an unknown keyword argument.
  """

  _always_keras_style = True

  def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
    for key in ("_scope", "_reuse"):
      if key in kwargs:
        raise TypeError("Keyword argument not understood: %s" % key)
    if not name:
      name = naming.unique_layer_name(naming.snake_case(type(self).__name__),
                                      zero_based=True)
    if dtype is None and tf.__internal__.tf2.enabled():
      dtype = "float32"
    super().__init__(trainable=trainable, name=name, dtype=dtype, **kwargs)

  def _variable_trainable(self, trainable):
    return bool(trainable)

  def _publish_losses(self, losses):
    del losses  # TF1's Keras kept them on the layer only.

  def _add_weight_regularization(self, name, variable, regularizer):
    # Built inside the layer's name scope: `<scope>/gamma/Regularizer`.
    super()._add_weight_regularization(name.rsplit("/", 1)[-1], variable,
                                       regularizer)
