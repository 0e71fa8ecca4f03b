"""`InputSpec`: the rank, dtype and shape a layer accepts, as in TF1.

A layer's `input_spec` (an `InputSpec`, a list of them, or None) is checked
against its inputs at every call; the messages are those of TF's layers.
"""

import tensorflow as tf


class InputSpec(object):
  """Specifies the rank, dtype and shape of every input to a layer.

  A None entry in a shape is compatible with any dimension; a None shape
  with any shape.

  Args:
    dtype: Expected dtype of the input.
    shape: Expected shape (None entries for unchecked axes), batch included.
    ndim: Expected rank.
    max_ndim: Maximum rank.
    min_ndim: Minimum rank.
    axes: Dict mapping integer axes to the size they must have.
    allow_last_axis_squeeze: Also accept rank N+1 with a last axis of 1, and
      rank N-1 when the spec's last axis is 1.
    name: Key of this input when inputs are passed as a dict.
    optional: Whether the input may be None.

  Raises:
    TypeError: if `axes` has non-integer keys.
    ValueError: if an axis is beyond the rank.
  """

  def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None,
               min_ndim=None, axes=None, allow_last_axis_squeeze=False,
               name=None, optional=False):
    self.dtype = tf.as_dtype(dtype).name if dtype is not None else None
    shape = tf.TensorShape(shape)
    if shape.rank is None:
      self.shape = None
      self.ndim = ndim
    else:
      self.shape = tuple(shape.as_list())
      self.ndim = len(self.shape)
    self.max_ndim = max_ndim
    self.min_ndim = min_ndim
    self.name = name
    self.allow_last_axis_squeeze = allow_last_axis_squeeze
    self.optional = optional
    try:
      axes = axes or {}
      self.axes = {int(k): axes[k] for k in axes}
    except (ValueError, TypeError):
      raise TypeError("Argument `axes` must be a dict with integer keys. "
                      "Received: axes=%s" % (axes,)) from None
    limit = self.ndim or self.max_ndim
    if self.axes and limit is not None and max(self.axes) > limit - 1:
      raise ValueError("Axis %d is greater than the maximum allowed value: %d"
                       % (max(self.axes), limit - 1))

  def __repr__(self):
    parts = [("%s=%s" % (key, value)) for key, value in (
        ("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
        ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim),
        ("axes", self.axes)) if value]
    return "InputSpec(%s)" % ", ".join(parts)

  def get_config(self):
    return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
            "max_ndim": self.max_ndim, "min_ndim": self.min_ndim,
            "axes": self.axes}

  @classmethod
  def from_config(cls, config):
    return cls(**config)


def _display(shape):
  return str(tuple(shape.as_list()))


def _check_one(index, x, spec, layer_name):
  """Raises ValueError if tensor `x` does not satisfy `spec`."""
  shape = tf.TensorShape(x.shape)
  prefix = 'Input %d of layer "%s" is incompatible with the layer: ' % (
      index, layer_name)
  if shape.rank is None:
    return False
  rank = shape.rank
  if (spec.ndim is not None and not spec.allow_last_axis_squeeze and
      rank != spec.ndim):
    raise ValueError("%sexpected ndim=%d, found ndim=%d. Full shape "
                     "received: %s" % (prefix, spec.ndim, rank, tuple(shape)))
  if spec.max_ndim is not None and rank > spec.max_ndim:
    raise ValueError("%sexpected max_ndim=%d, found ndim=%d" % (
        prefix, spec.max_ndim, rank))
  if spec.min_ndim is not None and rank < spec.min_ndim:
    raise ValueError("%sexpected min_ndim=%d, found ndim=%d. Full shape "
                     "received: %s" % (prefix, spec.min_ndim, rank,
                                       tuple(shape)))
  if spec.dtype is not None and x.dtype.name != spec.dtype:
    raise ValueError("%sexpected dtype=%s, found dtype=%s" % (
        prefix, spec.dtype, x.dtype))
  dims = shape.as_list()
  for axis, value in spec.axes.items():
    value = getattr(value, "value", value)
    if value is not None and dims[axis] not in (value, None):
      raise ValueError("%sexpected axis %d of input shape to have value %s, "
                       "but received input with shape %s" % (
                           prefix, axis, value, _display(shape)))
  if spec.shape is not None:
    expected = list(spec.shape)
    if spec.allow_last_axis_squeeze:
      if dims and dims[-1] == 1:
        dims = dims[:-1]
      if expected and expected[-1] == 1:
        expected = expected[:-1]
    for want, got in zip(expected, dims):
      if want is not None and got is not None and want != got:
        raise ValueError("%sexpected shape=%s, found shape=%s" % (
            prefix, spec.shape, _display(shape)))
  return True


def assert_input_compatibility(input_spec, inputs, layer_name):
  """Checks `inputs` against a layer's `input_spec`.

  Args:
    input_spec: An `InputSpec`, a (nested) list of them, or None.
    inputs: A tensor or a (nested) structure of tensors.
    layer_name: The layer's name, for messages.

  Raises:
    TypeError: if an input is not a tensor.
    ValueError: if the number of inputs, a rank, dtype or size differs from
      the spec.
  """
  if not input_spec:
    return
  specs = tf.nest.flatten(input_spec)
  if isinstance(inputs, dict) and all(spec.name for spec in specs):
    inputs = [inputs[spec.name] for spec in specs]
  inputs = tf.nest.flatten(inputs)
  for x, spec in zip(inputs, specs):
    if spec is not None and x is not None and not hasattr(x, "shape"):
      raise TypeError("Inputs to a layer should be tensors. Got '%s' (of type "
                      "%s) as input for layer '%s'." % (x, type(x),
                                                        layer_name))
  if len(inputs) != len(specs):
    raise ValueError('Layer "%s" expects %d input(s), but it received %d '
                     "input tensors. Inputs received: %s" % (
                         layer_name, len(specs), len(inputs), inputs))
  for index, (x, spec) in enumerate(zip(inputs, specs)):
    if spec is None or (x is None and spec.optional):
      continue
    if not _check_one(index, x, spec, layer_name):
      return
