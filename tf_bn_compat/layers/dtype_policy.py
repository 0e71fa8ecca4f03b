"""The dtypes a TF1 layer computes in and keeps its variables in."""

import tensorflow as tf


class DtypePolicy(object):
  """The compute and variable dtypes a layer's `dtype` argument names.

  None infers both from the first input; "mixed_float16"/"mixed_bfloat16"
  compute in half precision on float32 variables; an object with
  `compute_dtype` and `variable_dtype` (a Keras policy) is read as such.
  """

  def __init__(self, dtype):
    self.argument = dtype
    if dtype is None:
      self.compute, self.variable = None, None
    elif isinstance(dtype, str) and dtype in ("mixed_float16",
                                              "mixed_bfloat16"):
      self.compute, self.variable = dtype[len("mixed_"):], "float32"
    elif hasattr(dtype, "compute_dtype") and hasattr(dtype, "variable_dtype"):
      self.compute = tf.as_dtype(dtype.compute_dtype).name
      self.variable = tf.as_dtype(dtype.variable_dtype).name
    else:
      self.compute = self.variable = tf.as_dtype(dtype).name

  def infer(self, dtype):
    if self.compute is None:
      self.compute = self.variable = tf.as_dtype(dtype).base_dtype.name
