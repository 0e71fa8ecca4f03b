"""`pandas_input_fn`: an input_fn over a pandas DataFrame (pandas optional)."""

import numpy as np

from tf_bn_compat.estimator.inputs import numpy_io


def pandas_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None,
                    queue_capacity=1000, num_threads=1, target_column="target"):
  """An input_fn feeding a DataFrame's columns as features.

  Args:
    x: A pandas `DataFrame`.
    y: A pandas `Series` or `DataFrame` of labels, or None.
    batch_size: Batch size.
    num_epochs: Number of passes; None repeats forever.
    shuffle: Whether to shuffle (must be given, as a bool).
    queue_capacity: Size of the shuffle buffer.
    num_threads: Kept for compatibility.
    target_column: Name the labels would take among the features; must not
      be a column of `x`.

  Returns:
    A function returning (features dict, labels) or the features dict.

  Raises:
    ImportError: If pandas is not installed.
    ValueError: If indexes of x and y differ, or `target_column` is a column
      of x.
  """
  import pandas  # pylint: disable=g-import-not-at-top,unused-import
  numpy_io.check_shuffle(shuffle)
  if y is not None:
    if target_column in x:
      raise ValueError("Cannot use name {} for target column: DataFrame "
                       "already has a column with that name: {}".format(
                           target_column, x.columns))
    if not np.array_equal(x.index, y.index):
      raise ValueError("Index for x and y are mismatched.\nIndex for x: {}\n"
                       "Index for y: {}\n".format(x.index, y.index))
    if hasattr(y, "columns"):
      y = {name: y[name].values for name in y.columns}
    else:
      y = y.values
  features = {str(name): x[name].values for name in x.columns}
  return numpy_io.numpy_input_fn(features, y, batch_size, num_epochs, shuffle,
                                 queue_capacity, num_threads)
