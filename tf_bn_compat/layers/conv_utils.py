"""Argument checks and shape arithmetic shared by convolution and pooling.

The error texts are those of TF's layers (Keras 2's `conv_utils`), so that
code catching or matching them keeps working.
"""

import tensorflow as tf

PADDINGS = ("valid", "same", "causal")
DATA_FORMATS = ("channels_first", "channels_last")


def normalize_tuple(value, n, name, allow_zero=False):
  """Returns `value` as a tuple of `n` positive (or >= 0) integers.

  Args:
    value: An int, or an iterable of `n` ints.
    n: Length of the tuple.
    name: Argument name, for the error message.
    allow_zero: Whether 0 is accepted.

  Returns:
    A tuple of `n` ints.

  Raises:
    ValueError: if `value` is not an int or `n` ints, or has a value below
      the minimum.
    TypeError: if an element is a string (TF1 could not compare it).
  """
  message = "The `%s` argument must be a tuple of %d integers. Received: %s" % (
      name, n, value)
  if isinstance(value, int) and not isinstance(value, bool):
    values = (value,) * n
  else:
    try:
      values = tuple(value)
    except TypeError:
      raise ValueError(message) from None
    if len(values) != n:
      raise ValueError(message)
    for item in values:
      if isinstance(item, (str, bytes)):
        raise TypeError("%s including element %s of type %s" % (
            message, item, type(item)))
      try:
        int(item)
      except (ValueError, TypeError):
        raise ValueError("%s including element %s of type %s" % (
            message, item, type(item))) from None
    values = tuple(int(item) for item in values)
  minimum, requirement = (0, ">= 0") if allow_zero else (1, "> 0")
  bad = {v for v in values if v < minimum}
  if bad:
    raise ValueError("%s including %s that does not satisfy the requirement "
                     "`%s`." % (message, bad, requirement))
  return values


def normalize_padding(value, allowed=PADDINGS):
  """Returns the lower-cased padding name.

  Args:
    value: "valid", "same" or "causal", in any case.
    allowed: The names this layer accepts.

  Returns:
    The lower-cased name.

  Raises:
    ValueError: for any other value.
  """
  padding = value.lower() if isinstance(value, str) else value
  if padding not in allowed:
    raise ValueError(
        'The `padding` argument must be one of "valid", "same" (or "causal", '
        "only for `Conv1D). Received: %s" % (padding,))
  return padding


def normalize_data_format(value):
  """Returns "channels_first" or "channels_last" (None: channels_last)."""
  if value is None:
    return "channels_last"
  data_format = value.lower() if isinstance(value, str) else value
  if data_format not in DATA_FORMATS:
    raise ValueError('The `data_format` argument must be one of '
                     '"channels_first", "channels_last". Received: %s' %
                     (value,))
  return data_format


def tf_data_format(data_format, rank):
  """Returns TF's layout string ("NHWC", "NCDHW", ...) for a spatial rank."""
  spatial = {1: "W", 2: "HW", 3: "DHW"}[rank]
  if data_format == "channels_first":
    return "NC" + spatial
  return "N" + spatial + "C"


def input_dims(input_shape, rank):
  """The dimensions of a (rank + 2)-D layer input, as a list.

  Raises:
    ValueError: if the shape's rank is unknown or not rank + 2 (TF1 failed
      with an IndexError there, or returned a meaningless shape).
  """
  shape = tf.TensorShape(input_shape)
  dims = shape.as_list()  # ValueError for an unknown rank, as in TF1.
  shape.assert_has_rank(rank + 2)
  return dims


def channel_axis(data_format, rank):
  """The channel axis of a (rank + 2)-D input, counted from the end."""
  return -1 - rank if data_format == "channels_first" else -1


def spatial_axes(data_format, rank):
  """The axes of the spatial dimensions of a (rank + 2)-D input."""
  first = 2 if data_format == "channels_first" else 1
  return list(range(first, first + rank))


def conv_output_length(length, kernel_size, padding, stride, dilation=1):
  """Output length of a convolution or pooling window (None if unknown)."""
  if length is None:
    return None
  extent = (kernel_size - 1) * dilation + 1
  if padding == "valid":
    length = length - extent + 1
  return (length + stride - 1) // stride


def deconv_output_length(length, kernel_size, padding, stride):
  """Output length of a transposed convolution (None if unknown)."""
  if length is None:
    return None
  if padding == "valid":
    return length * stride + max(kernel_size - stride, 0)
  return length * stride


def channel_dim(input_shape, data_format, rank, layer_class):
  """Returns the known channel dimension of a convolution's input.

  Raises:
    ValueError: if the input's rank or its channel dimension is unknown.
  """
  input_shape = tf.TensorShape(input_shape)
  if input_shape.rank is None:
    raise ValueError("The input of `%s` must have a known rank (%d)." % (
        layer_class, rank + 2))
  axis = channel_axis(data_format, rank)
  if input_shape[axis] is None:
    raise ValueError(
        "The channel dimension of the inputs should be defined. The "
        "input_shape received is %s, where axis %d (0-based) is the channel "
        "dimension, which found to be `None`." % (input_shape, axis))
  return int(input_shape[axis])


def to_channels_last(inputs, rank):
  """Transposes an NC... tensor of spatial rank `rank` to N...C."""
  return tf.transpose(inputs, [0] + list(range(2, rank + 2)) + [1])


def to_channels_first(inputs, rank):
  """Transposes an N...C tensor of spatial rank `rank` to NC...."""
  return tf.transpose(inputs, [0, rank + 1] + list(range(1, rank + 1)))


def gpu_layout_available():
  """Whether channels-first kernels can be relied on (a GPU is visible).

  TF's CPU kernels of pooling and transposed convolution accept only
  channels-last (without oneDNN); TF1's layers transpose around them when no
  GPU is present, and so do we.
  """
  return bool(tf.config.list_logical_devices("GPU"))
