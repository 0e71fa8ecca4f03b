"""Graph helpers of the TF1 layers: collections, dependencies, partitions."""

import numpy as np
import tensorflow as tf

from tf_bn_compat.layers import execution_mode


def add_to_collection(elements, key):
  """Appends `elements` to graph collection `key`, skipping those present.

  Executing eagerly there are no collections: nothing is added.
  """
  if not execution_mode.has_collections(execution_mode.current()):
    return
  collection = tf.compat.v1.get_collection_ref(key)
  present = {id(e) for e in collection}
  for element in elements:
    if id(element) not in present:
      collection.append(element)
      present.add(id(element))


def is_symbolic(value):
  """Whether `value` is a graph tensor or op (not an eager tensor)."""
  return isinstance(value, (tf.Tensor, tf.Operation)) and (
      isinstance(value, tf.Operation) or tf.is_symbolic_tensor(value))


def depends_on(tensor_or_op, inputs):
  """Returns True if `tensor_or_op` is reachable from any of `inputs`.

  Eager tensors have no ops to walk: an eager `tensor_or_op` depends on no
  input, and eager `inputs` are no sources.
  """
  if not is_symbolic(tensor_or_op):
    return False
  op = getattr(tensor_or_op, "op", tensor_or_op)
  sources = {t.op for t in inputs if isinstance(t, tf.Tensor) and
             tf.is_symbolic_tensor(t)}
  seen = set()
  stack = [op]
  while stack:
    current = stack.pop()
    if current in sources:
      return True
    if current in seen:
      continue
    seen.add(current)
    stack.extend(t.op for t in current.inputs)
    # A resource variable's read after an assignment is tied by a control edge.
    stack.extend(current.control_inputs)
  return False


def partitions(variable):
  """The variables a partitioned variable is made of, else [variable]."""
  if type(variable).__name__ == "PartitionedVariable":
    return list(variable)
  return [variable]


def contains(variables, variable):
  """Identity membership; a partitioned variable by its first partition."""
  first = partitions(variable)[0]
  return any(v is first for v in variables)


def convert_input(value):
  """numpy arrays and Python numbers as tensors; anything else as it is."""
  if isinstance(value, (np.ndarray, float, int)):
    return tf.convert_to_tensor(value)
  return value
