"""Assignments that keep the moving statistics of a layer up to date.

The update is written as TF1 writes it, so that values match bit for bit:
`variable -= (variable - value) * (1 - momentum)`. The ops are not pinned
next to the variable with `colocate_with` (deprecated in TF 2): the placer puts
an assignment on its variable's device by itself.
"""

import tensorflow as tf


def assign_moving_average(variable, value, momentum):
  """Moves `variable` towards `value` by a factor `1 - momentum`.

  Args:
    variable: The moving-statistics variable.
    value: Tensor with the new observation, broadcastable to `variable`.
    momentum: Python float or scalar tensor, the weight kept on the old value.

  Returns:
    The tensor returned by the assignment (the updated value).
  """
  with tf.compat.v1.name_scope("AssignMovingAvg") as scope:
    decay = tf.convert_to_tensor(1.0 - momentum, name="decay")
    if decay.dtype != variable.dtype.base_dtype:
      decay = tf.cast(decay, variable.dtype.base_dtype)
    delta = (variable - tf.cast(value, variable.dtype.base_dtype)) * decay
    return tf.compat.v1.assign_sub(variable, delta, name=scope)


def assign_new_value(variable, value):
  """Overwrites `variable` with `value` (used for the renorm variance)."""
  with tf.compat.v1.name_scope("AssignNewValue") as scope:
    return tf.compat.v1.assign(variable, value, name=scope)
