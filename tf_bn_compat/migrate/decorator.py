"""`track_tf1_style_variables`: TF1 model code inside TF2 objects.

Keras 3 dropped `tf.compat.v1.keras.utils.track_tf1_style_variables`; this
is its replacement, for methods of a `tf.Module` or of a Keras 3 layer or
model. Inside a decorated method, `tf.compat.v1.get_variable`,
`variable_scope` and the TF1 layers of this package run eagerly and under
`tf.function`, and their variables belong to the object (see `owners` and
`variable_store`).

Each outermost decorated call numbers unnamed scopes and layers afresh
(`dense`, `dense_1`, ... as in a TF1 graph built once), so the same code
finds the same variables on every call. (tf_keras' decorator did not: its
unnamed scopes got new numbers, hence new variables, on each call.)
"""

import contextlib
import functools

import tensorflow as tf
from tensorflow.python.ops import variable_scope as tf_variable_scope  # pylint: disable=g-direct-tensorflow-import

from tf_bn_compat.layers import base
from tf_bn_compat.layers import naming
from tf_bn_compat.layers import variable_owner
from tf_bn_compat.migrate import owners


@contextlib.contextmanager
def _call_scope(store):
  """The variable scope, numbering and store of one decorated call."""
  outermost = variable_owner.current() is None
  store.begin_call()
  with variable_owner.owning(store), tf.compat.v1.variable_scope(
      tf.compat.v1.get_variable_scope(), custom_getter=store.custom_getter,
      auxiliary_name_scope=False):
    if not outermost:
      yield
      return
    # Entering a scope object saves the scope counts and its exit restores
    # them: zeroing them here numbers this call's scopes from the start
    # without touching the numbering outside. TF has no public call for it.
    tf_variable_scope.get_variable_scope_store().close_variable_subscopes(None)
    with naming.fresh_layer_names():
      yield


def _weight_losses(store):
  """The store's weight regularizers applied to the current values."""
  losses = []
  for name, regularizer in store.regularizers():
    loss = base.regularization_loss(name, store.variable(name), regularizer)
    if loss is not None:
      losses.append(loss)
  return losses


def track_tf1_style_variables(method):
  """Lets TF1-style variable code run in a method of a TF2 object.

  Decorate a method (usually `__call__` or `call`) of a `tf.Module` or of a
  Keras 3 `Layer` or `Model`. Inside it, TF1 code runs eagerly and under
  `tf.function`:

  * `tf.compat.v1.get_variable` (and so `variable_scope` with `reuse`, and
    this package's TF1 layers, `tf_bn_compat.layers` or
    `tf.compat.v1.layers` after `tf_bn_compat.patch_tf()`) creates each
    variable on the first call and returns the same variable, by TF1 name,
    on later calls;
  * the object tracks the variables: `tf.Module.variables` and
    `tf.train.Checkpoint` for a module; `weights`, `trainable_weights`,
    optimizers and `model.fit` for a Keras layer or model;
  * each `tf.Variable` is named by its TF1 name (`block/dense/kernel:0`),
    so checkpoints convert both ways with `tf_bn_compat.migrate`'s
    `save_tf1_checkpoint` / `restore_tf1_checkpoint`;
  * weight regularizers (of `get_variable` and of the layers, applied to
    the current values) and the losses layers add in the call are the
    object's losses: `layer.losses` of a Keras layer (so `model.fit` adds
    them), `tf_bn_compat.migrate.regularization_losses(obj)` for any
    object;
  * batch normalization's moving statistics update in place in training
    calls (there is no `UPDATE_OPS` to run).

  Unnamed scopes and layers are numbered afresh in each outermost call.
  Eagerly every variable scope reuses or creates (TF's eager rule); under
  `tf.function` `reuse=False`/`True` are checked as in TF1 within a call.
  Partitioned variables are not supported. Keras-style layers (the
  Keras-v1 class, `keras_style_scope()`) create their own variables: make
  them once, in `__init__`, not in the decorated method.

  ```python
  class ResNetBlock(keras.layers.Layer):

    @tf_bn_compat.track_tf1_style_variables
    def call(self, inputs, training=False):
      with tf.compat.v1.variable_scope("block"):
        x = tf.compat.v1.layers.conv2d(inputs, 16, 3, padding="same")
        x = tf.compat.v1.layers.batch_normalization(x, training=training)
        return tf.nn.relu(x)
  ```

  Args:
    method: The method to decorate.

  Returns:
    The decorated method.

  Raises:
    TypeError: if `method` is not callable; when called, if the object is
      not a `tf.Module` or a Keras 3 layer.
  """
  if not callable(method):
    raise TypeError("track_tf1_style_variables decorates a method, got %r." %
                    (method,))

  @functools.wraps(method)
  def decorated(self, *args, **kwargs):
    store = owners.store_of(self)
    with _call_scope(store):
      outputs = method(self, *args, **kwargs)
      store.owner.add_losses(store.call_losses)
    return outputs

  return decorated


def regularization_losses(obj):
  """The losses of `obj`'s TF1-style code, as of now.

  Args:
    obj: An object with a method decorated by `track_tf1_style_variables`
      (a `tf.Module` or a Keras 3 layer or model), or one holding such
      objects.

  Returns:
    A list of scalar tensors: each regularized variable's regularizer
    applied to its current value, then the losses layers added in the last
    call of each decorated method, over `obj` and the objects it tracks.
  """
  losses = []
  for holder in owners.holders_in(obj):
    losses.extend(_weight_losses(holder.store) + holder.store.call_losses)
  return losses
