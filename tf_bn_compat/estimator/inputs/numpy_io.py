"""`numpy_input_fn`: an input_fn over numpy arrays (on `tf.data`)."""

import numpy as np
import tensorflow as tf


def _lengths(arrays):
  return {key: len(value) for key, value in arrays.items()}


def check_shuffle(shuffle):
  if not isinstance(shuffle, bool):
    raise ValueError("shuffle must be provided and explicitly set as boolean "
                     "(it is recommended to set it as True for training); "
                     "got {}".format(shuffle))


def _check_inputs(x, y):
  """x and y as dicts of arrays, checked for shared keys and lengths."""
  if not isinstance(x, dict):
    x = {"__x__": x}
  x = {k: np.asarray(v) for k, v in x.items()}
  if y is None:
    y_dict = {}
  elif isinstance(y, dict):
    shared = sorted(set(x) & set(y))
    if shared:
      raise ValueError("{} duplicate keys are found in both x and y: "
                       "{}".format(len(shared), shared))
    y_dict = {k: np.asarray(v) for k, v in y.items()}
  else:
    y_dict = {"__y__": np.asarray(y)}
  lengths = set(_lengths(x).values()) | set(_lengths(y_dict).values())
  if len(lengths) > 1:
    raise ValueError(
        "Length of tensors in x and y is mismatched. All elements in x and y "
        "must have the same length.\nLengths of elements in x:\n{}\nLengths "
        "of elements in y:\n{}\n".format(_lengths(x), _lengths(y_dict)))
  return x, y_dict


def numpy_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None,
                   queue_capacity=1000, num_threads=1):
  """An input_fn feeding dicts of numpy arrays, batch by batch.

  Args:
    x: A numpy array (one feature, returned as a tensor) or dict of them.
    y: A numpy array, dict of them (keys distinct from x's), or None.
    batch_size: Batch size; the last batch of an epoch may be smaller.
    num_epochs: Number of passes over the data; None repeats forever.
    shuffle: Whether to shuffle (must be given, as a bool).
    queue_capacity: Size of the shuffle buffer.
    num_threads: Parallel calls of the batching map (kept for compatibility).

  Returns:
    A function returning (features, labels) tensors, or features when `y`
    is None.

  Raises:
    ValueError: If `shuffle` is not a bool, x and y share keys or lengths
      differ.
  """
  check_shuffle(shuffle)
  x_dict, y_dict = _check_inputs(x, y)
  del num_threads

  def input_fn():
    data = tf.data.Dataset.from_tensor_slices((x_dict, y_dict))
    if shuffle:
      data = data.shuffle(queue_capacity)
    data = data.repeat(num_epochs).batch(batch_size)
    features, labels = tf.compat.v1.data.make_one_shot_iterator(
        data).get_next()
    if not isinstance(x, dict):
      features = features["__x__"]
    if y is None:
      return features
    if not isinstance(y, dict):
      labels = labels["__y__"]
    return features, labels

  return input_fn
