"""`tf.compat.v1.estimator.inputs`: input_fns over numpy arrays and pandas."""

from tf_bn_compat.estimator.inputs.numpy_io import numpy_input_fn
from tf_bn_compat.estimator.inputs.pandas_io import pandas_input_fn

__all__ = ["numpy_input_fn", "pandas_input_fn"]
