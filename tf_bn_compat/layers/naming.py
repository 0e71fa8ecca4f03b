"""How TF1's layers are named: unique names per graph, Keras style.

TF1 numbered an unnamed layer's name from 1 per graph (`dense_1`,
`dense_2`, ...) while TF's variable-scope store numbered its scope from 0
(`dense`, `dense_1`, ...); Keras-v1 layers numbered names from 0. Inside
`keras_style_scope()` layers manage their variables as Keras does.
"""

import contextlib
import re
import weakref

import tensorflow as tf

_LAYER_NAME_UIDS = weakref.WeakKeyDictionary()
_KERAS_STYLE = [False]


@contextlib.contextmanager
def keras_style_scope():
  """Layers created in this scope manage their variables as Keras does.

  Such layers use no variable scopes: each instance creates its own
  variables, named after its unique name scope. Passing `scope` or `reuse`
  to them is a ValueError.

  Yields:
    Nothing; the style applies to layers constructed inside.
  """
  previous = _KERAS_STYLE[0]
  _KERAS_STYLE[0] = True
  try:
    yield
  finally:
    _KERAS_STYLE[0] = previous


def set_keras_style():
  """Makes all layers created from now on Keras-style (cannot be undone)."""
  _KERAS_STYLE[0] = True


def keras_style_enabled():
  """Whether layers constructed now are Keras-style."""
  return _KERAS_STYLE[0]


def snake_case(name):
  """`BatchNormalization` -> `batch_normalization`, as TF1 named layers."""
  name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
  name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
  return "private" + name if name.startswith("_") else name


def unique_layer_name(base_name, zero_based=False):
  """`base_name_1`, `base_name_2`, ... per graph, as TF1 named its layers.

  TF1's layers numbered their names from 1 (a first unnamed `Dense` is
  `dense_1`, while its variable scope is `dense`); Keras-v1 layers pass
  `zero_based=True` (`dense`, `dense_1`, ...). Both count in one table per
  graph, as TF1's did.
  """
  graph = tf.compat.v1.get_default_graph()
  uids = _LAYER_NAME_UIDS.setdefault(graph, {})
  count = uids.get(base_name, 0)
  uids[base_name] = count + 1
  if not zero_based:
    count += 1
  return base_name if count == 0 else "%s_%d" % (base_name, count)


@contextlib.contextmanager
def fresh_layer_names():
  """Unnamed layers made inside are numbered from the start again.

  The numbering of the current graph outside the block is left as it was.
  """
  graph = tf.compat.v1.get_default_graph()
  saved = _LAYER_NAME_UIDS.get(graph)
  _LAYER_NAME_UIDS[graph] = {}
  try:
    yield
  finally:
    if saved is None:
      _LAYER_NAME_UIDS.pop(graph, None)
    else:
      _LAYER_NAME_UIDS[graph] = saved
