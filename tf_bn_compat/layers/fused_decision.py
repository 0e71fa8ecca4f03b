"""Decides whether a batch normalization layer can take the fused path.

TF1's layer makes this decision once, when it is built: the fused kernel is
used for 4-D and 5-D inputs normalized over their channel axis only, with no
renorm, ghost batches or adjustment, and a float16/bfloat16/float32 compute
dtype. Our `synchronized=True` (not in TF1) also keeps it off: the kernel
computes the local batch's statistics in one op. Anything else silently falls
back to the composite implementation, even when `fused=True` was requested
(TF1 never raised there).
"""

import typing

_FUSED_DTYPES = ("float16", "bfloat16", "float32")

_DATA_FORMATS = {
    (4, 1): "NCHW",
    (4, 3): "NHWC",
    (5, 1): "NCDHW",
    (5, 4): "NDHWC",
}


class Path(typing.NamedTuple):
  """The path a built layer takes.

  Attributes:
    fused: Whether the fused kernel normalizes (unmasked calls).
    data_format: The fused kernel's data format, or None when not fused.
    reason: Why the fused kernel cannot serve, or None when it can or was
      not considered (`fused=False`).
  """
  fused: bool
  data_format: typing.Optional[str]
  reason: typing.Optional[str]


def decide(requested, rank, axis, renorm, virtual_batch_size, adjustment,
           compute_dtype, synchronized=False):
  """Returns the `Path` of a layer built for an input of `rank`.

  Args:
    requested: The layer's `fused` argument: None, True or False.
    rank, axis, renorm, virtual_batch_size, adjustment, compute_dtype,
      synchronized: As for `fused_unavailable_reason`.

  Returns:
    `Path`: fused when not refused and the kernel can serve.
  """
  if requested is False:
    return Path(False, None, None)
  reason = fused_unavailable_reason(rank, axis, renorm, virtual_batch_size,
                                    adjustment, compute_dtype,
                                    synchronized=synchronized)
  if reason is not None:
    return Path(False, None, reason)
  return Path(True, fused_data_format(rank, axis), None)


def fused_unavailable_reason(rank, axis, renorm, virtual_batch_size,
                             adjustment, compute_dtype, synchronized=False):
  """Returns why the fused kernel cannot serve a layer, or None if it can.

  Args:
    rank: Rank of the layer's input.
    axis: List of normalized axes, already made non-negative.
    renorm: Whether Batch Renormalization is enabled.
    virtual_batch_size: The layer's `virtual_batch_size` or None.
    adjustment: The layer's `adjustment` callable or None.
    compute_dtype: Name of the dtype the layer computes in.
    synchronized: Whether the layer synchronizes its batch statistics across
      replicas (the fused kernel computes them locally, in one op).

  Returns:
    None when the fused path can be used, else a short reason naming the
    option that prevents it.
  """
  if synchronized:
    return "synchronized=True"
  if renorm:
    return "renorm=True"
  if virtual_batch_size is not None:
    return "virtual_batch_size is set"
  if adjustment is not None:
    return "adjustment is set"
  if compute_dtype not in _FUSED_DTYPES:
    return "compute dtype %s is not float16, bfloat16 or float32" % (
        compute_dtype,)
  if rank not in (4, 5):
    return "input rank %d is not 4 or 5" % rank
  if len(axis) != 1 or (rank, axis[0]) not in _DATA_FORMATS:
    return "axis %s is not the channel axis of a %d-D input" % (axis, rank)
  return None


def fused_data_format(rank, axis):
  """Returns the data format string for a fused layer's input.

  Args:
    rank: Input rank, 4 or 5.
    axis: Single-element list holding the non-negative channel axis.

  Returns:
    One of "NHWC", "NCHW", "NDHWC", "NCDHW".
  """
  return _DATA_FORMATS[(rank, axis[0])]
