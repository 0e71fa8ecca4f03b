"""Calling an `input_fn` and turning its result into features and labels.

An `input_fn` returns a `tf.data.Dataset` (of features, or of (features,
labels) pairs) or the tensors themselves: features, or (features, labels).
A dataset is read through an initializable iterator whose initializer a
hook runs when the session is created.
"""

import tensorflow as tf

from tf_bn_compat.estimator import model_fn as model_fn_lib


class DatasetInitializerHook(tf.compat.v1.train.SessionRunHook):
  """Runs an iterator's initializer once the session exists."""

  def __init__(self, iterator):
    self._iterator = iterator
    self._initializer = None

  def begin(self):
    self._initializer = self._iterator.initializer

  def after_create_session(self, session, coord):
    del coord
    session.run(self._initializer)


def call_input_fn(input_fn, mode, params, config, input_context=None):
  """Calls `input_fn` with the arguments it takes, on the CPU.

  Args:
    input_fn: The input function.
    mode: A `ModeKeys` value (passed if it takes `mode`).
    params: The Estimator's params (passed if it takes `params`).
    config: The `RunConfig` (passed if it takes `config`).
    input_context: A `tf.distribute.InputContext` (passed if given and it
      takes `input_context`).

  Returns:
    Whatever `input_fn` returns.

  Raises:
    TypeError: If `input_fn` is not callable.
  """
  if not callable(input_fn):
    raise TypeError("input_fn must be callable, given: {}".format(input_fn))
  args = model_fn_lib.function_args(input_fn)
  kwargs = {}
  if "mode" in args:
    kwargs["mode"] = mode
  if "params" in args:
    kwargs["params"] = params
  if "config" in args:
    kwargs["config"] = config
  if input_context is not None and "input_context" in args:
    kwargs["input_context"] = input_context
  with tf.compat.v1.device("/cpu:0"):
    return input_fn(**kwargs)


def features_and_labels(result):
  """(features, labels or None, hooks) from what an input_fn returned.

  Args:
    result: A `tf.data.Dataset`, features, or a (features, labels) pair.

  Returns:
    (features, labels, list of hooks to run).

  Raises:
    ValueError: If a tuple or list other than a pair is returned.
  """
  hooks = []
  if isinstance(result, tf.data.Dataset):
    iterator = tf.compat.v1.data.make_initializable_iterator(result)
    hooks.append(DatasetInitializerHook(iterator))
    result = iterator.get_next()
  if isinstance(result, (list, tuple)):
    if len(result) != 2:
      raise ValueError(
          "input_fn should return (features, labels) as a len 2 tuple.")
    return result[0], result[1], hooks
  return result, None, hooks


def uses_dataset_or_queue():
  """Whether features come from a dataset or a queue (input ends, then)."""
  graph = tf.compat.v1.get_default_graph()
  if graph.get_collection(tf.compat.v1.GraphKeys.QUEUE_RUNNERS):
    return True
  return any(op.type in ("IteratorGetNext", "IteratorGetNextSync")
             for op in graph.get_operations())
