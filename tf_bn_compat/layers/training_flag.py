"""The `training` argument: Python bools, 0/1, bool tensors and placeholders.

TF1 accepts `training` as a Python bool, the integers 0 and 1, or a scalar
bool tensor (often a placeholder). Branches that depend on it are chosen in
Python when its value is known while the graph is built, and become a
`tf.cond` otherwise, so one graph serves training and inference.

Executing eagerly and inside a `tf.function` traced from eager code, every
tensor value is known when the branch is chosen (an eager tensor) or the
branch is a `tf.cond` of the function; `training=None` means False there,
as there is no placeholder to feed.
"""

import weakref

import numpy as np
import tensorflow as tf

from tf_bn_compat.layers import execution_mode

_LEARNING_PHASES = weakref.WeakKeyDictionary()


def learning_phase(graph=None):
  """Returns the graph's default `training` tensor, False unless fed.

  Passing `training=None` to a layer selects this tensor, as TF1's layers
  select Keras' learning phase: a `placeholder_with_default(False)` named
  `keras_learning_phase` that a session may feed with True.

  Args:
    graph: The graph; defaults to the current default graph.

  Returns:
    A scalar bool tensor.
  """
  graph = graph or tf.compat.v1.get_default_graph()
  phase = _LEARNING_PHASES.get(graph)
  if phase is None:
    with graph.as_default(), tf.init_scope(), graph.name_scope(None):
      phase = tf.compat.v1.placeholder_with_default(
          False, shape=(), name="keras_learning_phase")
    _LEARNING_PHASES[graph] = phase
  return phase


def normalize(training):
  """Validates `training` and returns it as a Python bool or a bool tensor.

  Args:
    training: Python or numpy bool, 0, 1, None, a scalar bool tensor or a
      bool variable. None is the graph's `learning_phase()` in a TF1 graph,
      False executing eagerly or inside a `tf.function`.

  Returns:
    A Python bool or a scalar bool tensor.

  Raises:
    TypeError: if `training` is of another kind, or a tensor that is not
      bool.
    ValueError: if `training` is a tensor that is not a scalar.
  """
  if training is None:
    if execution_mode.current() == execution_mode.GRAPH:
      return learning_phase()
    return False
  if isinstance(training, bool):
    return training
  if isinstance(training, (int, np.integer, np.bool_)) and training in (0, 1):
    return bool(training)
  if isinstance(training, (tf.Tensor, tf.Variable)):
    if training.dtype.base_dtype != tf.bool:
      raise TypeError(
          "`training` must be a bool tensor, got dtype %s." % training.dtype)
    if training.shape.rank not in (None, 0):
      raise ValueError(
          "`training` must be a scalar, got shape %s." % training.shape)
    return training
  raise TypeError(
      "`training` must be a Python bool, 0, 1, None or a scalar bool tensor, "
      "got %r." % (training,))


def static_value(training):
  """Returns True/False if `training` is known at graph build time, else None."""
  if isinstance(training, bool):
    return training
  if isinstance(training, tf.Variable):
    return None
  value = tf.get_static_value(training)
  return None if value is None else bool(value)


def smart_cond(training, true_fn, false_fn):
  """Calls one branch in Python when `training` is static, else `tf.cond`."""
  value = static_value(training)
  if value is True:
    return true_fn()
  if value is False:
    return false_fn()
  return tf.cond(training, true_fn, false_fn)
