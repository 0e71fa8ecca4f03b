"""Where a batch normalization layer's statistics lie in its input.

A layer normalizes over the user's `axis` (its input axes). Everything else
the pipeline needs follows from those axes, the input's rank and
`virtual_batch_size`, once, at build:

* without ghost batches the statistics are reduced over the other axes and
  the parameters have one entry per normalized index (shape [C] for one axis,
  the input's rank with size 1 on the reduced axes for several);
* with ghost batches (`virtual_batch_size`) the input [N, ...] is reshaped to
  [virtual_batch_size, N / virtual_batch_size, ...] for the whole call: the
  normalized axes move up by one (the working axes, which TF1's layer reports
  as `axis` once built), axis 1 keeps one statistic per ghost batch, the
  parameters get the working rank with size 1 on every other axis, and the
  moving statistics move towards the average over the ghost batches.
"""

import tensorflow as tf

from tf_bn_compat.layers import training_flag


def validate_axis(axis, rank):
  """Returns `axis` as a list of non-negative axes of an input of `rank`.

  Args:
    axis: An int or a list of ints, as given to the layer.
    rank: The input's rank, or None when unknown.

  Returns:
    The list of axes, each in [0, rank).

  Raises:
    ValueError: for an unknown or zero rank, an axis out of range or an axis
      named twice.
  """
  if rank is None:
    raise ValueError("BatchNormalization needs an input of known rank.")
  if rank == 0:
    raise ValueError("BatchNormalization needs an input of rank 1 or more; "
                     "got a scalar.")
  axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
  result = []
  for a in axes:
    if not -rank <= a < rank:
      raise ValueError("axis %s is out of range for an input of rank %d: each "
                       "axis must be in [-%d, %d)." % (axis, rank, rank, rank))
    result.append(a % rank)
  if len(set(result)) != len(result):
    raise ValueError("axis %s names the same dimension twice." % (axis,))
  return result


def validate_virtual_batch_size(virtual_batch_size, input_axes, adjustment):
  """Checks that ghost batches of `virtual_batch_size` can be used.

  Args:
    virtual_batch_size: The layer's `virtual_batch_size` (an int).
    input_axes: The normalized axes of the input, non-negative.
    adjustment: The layer's `adjustment`, or None.

  Raises:
    ValueError: for a size that is not positive, a normalized batch axis, or
      an `adjustment`.
  """
  if virtual_batch_size <= 0:
    raise ValueError("virtual_batch_size must be a positive integer that "
                     "divides the batch size, got %d." % virtual_batch_size)
  if 0 in input_axes:
    raise ValueError("With virtual_batch_size the batch axis 0 cannot be "
                     "normalized; got axis %s." % input_axes)
  if adjustment is not None:
    raise ValueError("virtual_batch_size and adjustment cannot be used "
                     "together.")


def normalized_sizes(input_axes, input_shape):
  """Returns {axis: size} of the normalized axes of `input_shape`.

  Raises:
    ValueError: if a normalized axis has an unknown size.
  """
  input_shape = tf.TensorShape(input_shape)
  sizes = {a: input_shape[a] for a in input_axes}
  for a, size in sizes.items():
    if size is None:
      raise ValueError("Input dimension %d (a normalized axis) must be known "
                       "when the layer is built; input shape is %s." %
                       (a, input_shape))
  return sizes


class BatchLayout(object):
  """The axes and shapes of a built batch normalization layer.

  Args:
    input_axes: The normalized axes of the input, non-negative (see
      `validate_axis`).
    sizes: {axis: size} of the normalized axes (see `normalized_sizes`).
    rank: The input's rank.
    virtual_batch_size: The layer's `virtual_batch_size`, or None.

  Attributes:
    input_axes: The normalized axes of the input.
    axes: The normalized axes of the tensor the pipeline works on (the input
      reshaped into ghost batches, if any).
    reduction_axes: The axes of that tensor the batch statistics reduce.
    param_shape: The shape of the parameters and moving statistics.
    keepdims: Whether the batch statistics keep the reduced axes.
  """

  def __init__(self, input_axes, sizes, rank, virtual_batch_size=None):
    self.input_axes = list(input_axes)
    self.virtual_batch_size = virtual_batch_size
    ghost = virtual_batch_size is not None
    self._rank = rank + 1 if ghost else rank
    if len(input_axes) == 1 and not ghost:
      self.param_shape = [sizes[input_axes[0]]]
    else:
      self.param_shape = [sizes.get(i, 1) for i in range(rank)]
      if ghost:
        self.param_shape.insert(1, 1)
    self.axes = [a + 1 for a in input_axes] if ghost else list(input_axes)
    self.reduction_axes = [i for i in range(self._rank) if i not in self.axes]
    if ghost:
      del self.reduction_axes[1]  # Each ghost batch keeps its own statistics.
    self.keepdims = ghost or len(input_axes) > 1
    self._broadcast_shape = [1] * self._rank
    self._broadcast_shape[self.axes[0]] = sizes[input_axes[0]]

  def expand_mask(self, mask, inputs):
    """Returns `mask` as a bool tensor of `inputs`' shape.

    Args:
      mask: Tensor shaped as `inputs` without the normalized axes, or
        broadcastable to that.
      inputs: The layer's input.

    Raises:
      ValueError: if `mask`'s rank is not the input's rank minus the number
        of normalized axes, or its shape does not broadcast.
    """
    axes = self.input_axes
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
      mask = tf.cast(mask, tf.bool)
    rank = inputs.shape.rank
    if mask.shape.rank != rank - len(axes):
      raise ValueError(
          "`mask` must have the rank of the input without its normalized axes "
          "%s (%d), got shape %s for an input of shape %s." %
          (axes, rank - len(axes), mask.shape, inputs.shape))
    for axis in sorted(axes):
      mask = tf.expand_dims(mask, axis)
    try:
      tf.broadcast_static_shape(mask.shape, inputs.shape)
    except ValueError:
      raise ValueError("`mask` of shape %s does not broadcast to the input's "
                       "shape %s without its normalized axes %s." %
                       (mask.shape, inputs.shape, axes)) from None
    return tf.broadcast_to(mask, tf.shape(inputs))

  def split(self, inputs, mask, training):
    """Reshapes `inputs` (and `mask`) into ghost batches, if any.

    [N, ...] becomes [virtual_batch_size, N / virtual_batch_size, ...]. Under
    TF2 behaviour, when `training` is not statically True, TF1's layer
    reshapes to [N, 1, ...] instead (one ghost batch); kept for parity.

    Args:
      inputs: The layer's input.
      mask: None, or a bool tensor of `inputs`' shape.
      training: Python bool or bool tensor.

    Returns:
      Tuple (inputs, mask, restore_shape): unchanged, with restore_shape
      None, without ghost batches; `restore_shape` goes to `merge`.
    """
    if self.virtual_batch_size is None:
      return inputs, mask, None
    shape = tf.shape(inputs)
    restore_shape = tf.concat([[-1], shape[1:]], axis=0)
    if tf.__internal__.tf2.enabled() and not training_flag.static_value(
        training):
      lead = [-1, 1]
    else:
      lead = [self.virtual_batch_size, -1]
    inputs = tf.reshape(inputs, tf.concat([lead, shape[1:]], axis=0))
    if mask is not None:
      mask = tf.reshape(mask, tf.shape(inputs))
    return inputs, mask, restore_shape

  def merge(self, outputs, restore_shape):
    """Undoes `split` on the outputs."""
    if restore_shape is None:
      return outputs
    return tf.reshape(outputs, restore_shape)

  def broadcast(self, value):
    """Reshapes a [C] parameter or statistic to broadcast to the input.

    Only needed for one normalized axis that is not the last; other values
    (None, or already of the working rank) are returned as they are.
    """
    if (value is not None and value.shape.rank != self._rank and
        self.reduction_axes != list(range(self._rank - 1))):
      return tf.reshape(value, self._broadcast_shape)
    return value

  def ghost_average(self, value):
    """Returns `value` averaged over the ghost batches (axis 1), if any."""
    if self.virtual_batch_size is None:
      return value
    return tf.reduce_mean(value, axis=1, keepdims=True)
