"""The current variable owner: an object that keeps a layer's variables.

A layer makes and keeps its own variables, unless code running it on behalf
of another object has entered that object as the current variable owner
(`tf_bn_compat.migrate`'s `track_tf1_style_variables` enters the decorated
object's variable store). While an owner is current, Keras-style layers get
their variables from it, hand it their weight regularizers and report each
call's losses to it. The layers know only the protocol below, not who
implements it.
"""

import contextlib
import threading

_CURRENT = threading.local()


class VariableOwner(object):
  """What a layer asks of the current variable owner."""

  def get_variable(self, name, shape, dtype, initializer, **options):
    """The variable `name`, made on first use.

    Args:
      name: The variable's full name.
      shape, dtype, initializer: As for `tf.compat.v1.get_variable`.
      **options: `trainable`, `constraint`, `synchronization`,
        `aggregation`.

    Returns:
      The `tf.Variable`.
    """
    raise NotImplementedError

  def add_regularizer(self, variable, regularizer):
    """Offers the owner `regularizer` (a callable) for `variable`.

    Returns:
      True if the owner keeps `variable` and so regularizes it itself, else
      False (the layer then keeps the loss).
    """
    raise NotImplementedError

  def add_call_losses(self, losses):
    """Takes the losses (tensors) a layer added during the current call."""
    raise NotImplementedError


def current():
  """The innermost current owner of this thread, or None."""
  stack = getattr(_CURRENT, "stack", None)
  return stack[-1] if stack else None


@contextlib.contextmanager
def owning(owner):
  """Makes `owner` (a `VariableOwner`) current for the duration of the block.

  Yields:
    `owner`.
  """
  stack = getattr(_CURRENT, "stack", None)
  if stack is None:
    stack = _CURRENT.stack = []
  stack.append(owner)
  try:
    yield owner
  finally:
    stack.pop()
