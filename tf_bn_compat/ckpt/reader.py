"""Reads a checkpoint's variable names, shapes and dtypes, with clear errors.

TensorFlow reports a missing or corrupt checkpoint with exceptions of many
kinds (`ValueError`, `NotFoundError`, `DataLossError`, ...) and long
messages; `read_variables` turns all of them into one `CheckpointError` whose
message is a single line naming the path.
"""

import collections
import os

import tensorflow as tf

# Keys of object-based (TF2) checkpoints end with this suffix; the part
# before it is the object path, used as the variable name.
_OBJECT_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Bookkeeping entries that are not variables.
_NON_VARIABLE_KEYS = ("_CHECKPOINTABLE_OBJECT_GRAPH",)

# shape: tuple of ints; dtype: tf.DType; key: the checkpoint key.
VariableInfo = collections.namedtuple("VariableInfo", ["shape", "dtype", "key"])


class CheckpointError(Exception):
  """A checkpoint that cannot be used; the message is one line."""


def _one_line(error):
  text = str(getattr(error, "message", None) or error)
  first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
  return "%s: %s" % (type(error).__name__, first)


def resolve_prefix(path):
  """Returns the checkpoint prefix for a prefix or a checkpoint directory.

  Args:
    path: A checkpoint prefix (`.../model.ckpt-100`) or a directory with a
      `checkpoint` state file.

  Returns:
    The checkpoint prefix.

  Raises:
    CheckpointError: if nothing at `path` looks like a checkpoint.
  """
  if os.path.isdir(path):
    try:
      prefix = tf.train.latest_checkpoint(path)
    except (tf.errors.OpError, ValueError) as e:
      raise CheckpointError("%s: unreadable checkpoint state file (%s)" %
                            (path, _one_line(e))) from None
    if prefix is None:
      raise CheckpointError("%s: directory holds no checkpoint (no "
                            "'checkpoint' state file naming one)" % path)
    return prefix
  if not (os.path.exists(path + ".index") or os.path.exists(path)):
    raise CheckpointError("%s: no such checkpoint (neither %s.index nor "
                          "a directory exists)" % (path, path))
  if os.path.isfile(path) and path.endswith(".index"):
    return path[:-len(".index")]
  return path


def open_reader(path):
  """Opens a `CheckpointReader` for a prefix or directory.

  Args:
    path: A checkpoint prefix or a checkpoint directory.

  Returns:
    (prefix, reader).

  Raises:
    CheckpointError: if the checkpoint is missing or its index is corrupt.
  """
  prefix = resolve_prefix(path)
  try:
    return prefix, tf.train.load_checkpoint(prefix)
  except Exception as e:  # pylint: disable=broad-except
    # TF raises OpErrors, ValueError, or RuntimeError-like pybind errors.
    raise CheckpointError("%s: not a readable checkpoint (%s)" %
                          (prefix, _one_line(e))) from None


def variable_name(key):
  """The variable name of a checkpoint key (object-based keys shortened)."""
  if key.endswith(_OBJECT_SUFFIX):
    return key[:-len(_OBJECT_SUFFIX)]
  return key


def read_variables(path, verify_data=False):
  """Names, shapes and dtypes of a checkpoint's variables.

  Args:
    path: A checkpoint prefix or a checkpoint directory.
    verify_data: If True, read every tensor, so that a truncated or corrupt
      data file is reported here (the index alone is read otherwise).

  Returns:
    (prefix, reader, dict mapping variable name to
    `VariableInfo(shape, dtype, key)`), shape a tuple of ints, dtype a
    `tf.DType` and key the checkpoint key. Object-based keys are
    reported without their `/.ATTRIBUTES/VARIABLE_VALUE` suffix.

  Raises:
    CheckpointError: if the checkpoint is missing, its index or (with
      `verify_data`) its data is corrupt.
  """
  prefix, reader = open_reader(path)
  try:
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError("%s: cannot list the checkpoint's variables (%s)" %
                          (prefix, _one_line(e))) from None
  result = {}
  for key in sorted(shapes):
    if key in _NON_VARIABLE_KEYS:
      continue
    if verify_data:
      read_tensor(reader, prefix, key)
    result[variable_name(key)] = VariableInfo(
        tuple(shapes[key]), tf.as_dtype(dtypes[key]), key)
  return prefix, reader, result


def read_tensor(reader, prefix, key):
  """Reads one tensor, turning data errors into `CheckpointError`.

  Args:
    reader: A `CheckpointReader`.
    prefix: The checkpoint prefix (for messages).
    key: The checkpoint key.

  Returns:
    The tensor's value, a numpy array.

  Raises:
    CheckpointError: if the data file is missing, truncated or corrupt.
  """
  try:
    return reader.get_tensor(key)
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError("%s: cannot read tensor %r from the data file (%s)"
                          % (prefix, key, _one_line(e))) from None
