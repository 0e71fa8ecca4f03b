"""Every layer class against TF1's own: auto-names, output shapes, arguments.

A sweep over the classes of `tf.compat.v1.layers` (the reference is TF1's own
layer on the same case, see `layer_parity.reference`):

* auto-naming: unnamed and named layers in one graph get TF1's `name` (TF1
  numbers a layer's name from 1, `dense_1`, while its variable scope starts
  at `dense`) and TF1's `scope_name` once called;
* `compute_output_shape` of known, partly known, unknown-rank and wrong-rank
  shapes: the same shape, or the same exception;
* arguments: each constructor argument set to None, 0, a negative or a wrong
  type raises what TF1 raises (messages are checked in test_arguments.py),
  or is accepted by both.

"The same exception" is the same type where TF1 raised a ValueError or
TypeError. Where TF1 failed by accident (an AttributeError from `None.lower()`,
an IndexError), ours raises a ValueError or TypeError that says what is wrong.
Convolutions and pooling refuse an input of another rank than theirs in
`compute_output_shape` with a ValueError, where TF1 failed with an IndexError
or returned a meaningless shape (e.g. [0, 2] for a 2-D input to `Conv1D`).
"""

import inspect

import pytest
import tensorflow as tf

import layer_parity

# class name -> (required constructor arguments, a valid input shape)
CLASSES = {
    "Dense": (dict(units=2), [3, 4]),
    "Dropout": (dict(), [3, 4]),
    "Flatten": (dict(), [3, 4, 5]),
    "Conv1D": (dict(filters=2, kernel_size=3), [2, 7, 3]),
    "Conv2D": (dict(filters=2, kernel_size=3), [2, 7, 7, 3]),
    "Conv3D": (dict(filters=2, kernel_size=3), [2, 5, 5, 5, 3]),
    "Conv2DTranspose": (dict(filters=2, kernel_size=3), [2, 7, 7, 3]),
    "Conv3DTranspose": (dict(filters=2, kernel_size=3), [2, 5, 5, 5, 3]),
    "SeparableConv1D": (dict(filters=2, kernel_size=3), [2, 7, 3]),
    "SeparableConv2D": (dict(filters=2, kernel_size=3), [2, 7, 7, 3]),
    "AveragePooling1D": (dict(pool_size=2, strides=2), [2, 8, 3]),
    "AveragePooling2D": (dict(pool_size=2, strides=2), [2, 8, 8, 3]),
    "AveragePooling3D": (dict(pool_size=2, strides=2), [2, 4, 4, 4, 3]),
    "MaxPooling1D": (dict(pool_size=2, strides=2), [2, 8, 3]),
    "MaxPooling2D": (dict(pool_size=2, strides=2), [2, 8, 8, 3]),
    "MaxPooling3D": (dict(pool_size=2, strides=2), [2, 4, 4, 4, 3]),
    "BatchNormalization": (dict(), [2, 4, 4, 3]),
}

# Values each argument is tried with, beside the valid ones.
BAD_VALUES = {
    "units": [None, 0, -1, "2", 2.5],
    "rate": [None, -0.1, 1.0, "0.5"],
    "filters": [None, 0, -1, "2"],
    "kernel_size": [None, 0, -1, (3, 3, 3, 3), "3"],
    "pool_size": [None, 0, -1, (2, 2, 2, 2)],
    "strides": [None, 0, -1, (2, 2, 2, 2)],
    "dilation_rate": [None, 0, -1],
    "depth_multiplier": [None, 0, 2.0, "2"],
    "padding": [None, "full", 3],
    "data_format": ["NHWC", 3],
    "axis": [None, 7, "1"],
    "momentum": [None],
    "epsilon": [None],
    "activation": ["no_such_activation", 3],
    "kernel_initializer": ["no_such_initializer"],
    "virtual_batch_size": [0, -1],
}


CLEAR_ERRORS = (ValueError, TypeError)
FIXED_RANK = ("Conv", "SeparableConv", "AveragePooling", "MaxPooling")


def assert_same_outcome(mine, reference):
  """Outcomes are results, or exception types; see the module docstring."""
  if isinstance(reference, type) and issubclass(reference, Exception):
    if reference in CLEAR_ERRORS:
      assert mine is reference
    else:
      assert mine in CLEAR_ERRORS + (reference,), (mine, reference)
  else:
    assert mine == reference


def _error_type(fn):
  with tf.Graph().as_default():
    try:
      fn()
    except Exception as error:  # pylint: disable=broad-except
      return type(error)
  return None


def _both(fn):
  """fn(module) on TF1's layers and ours: (reference result, ours)."""
  return (fn(layer_parity.reference()), fn(layer_parity.ours()))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_auto_names_are_tf1s(name):
  args, shape = CLASSES[name]

  def names(module):
    with tf.Graph().as_default():
      cls = getattr(module, name)
      made = [cls(**args), cls(name="my_layer", **args), cls(**args),
              cls(name=None, **args)]
      before = [layer.name for layer in made]
      x = tf.compat.v1.placeholder(tf.float32, shape)
      for layer in made:
        layer(x)
      return before, [layer.name for layer in made], [
          layer.scope_name for layer in made]

  reference, mine = _both(names)
  assert mine == reference


# One functional form per family: class name -> function name.
FUNCTIONAL = {"Dense": "dense", "Conv2D": "conv2d",
              "MaxPooling2D": "max_pooling2d",
              "BatchNormalization": "batch_normalization"}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_names_follow_tf1(name):
  args, shape = CLASSES[name]

  def scopes(module):
    with tf.Graph().as_default():
      x = tf.compat.v1.placeholder(tf.float32, shape)
      fn = getattr(module, FUNCTIONAL[name])
      getattr(module, name)(**args)(x)
      fn(x, **args)
      fn(x, name="named", **args)
      fn(x, **args)
      return sorted(v.op.name for v in tf.compat.v1.global_variables())

  reference, mine = _both(scopes)
  assert mine == reference


def _output_shapes(name):
  args, shape = CLASSES[name]
  rank = len(shape)
  partly = [None] + shape[1:-1] + [None]
  return [shape, [None] + shape[1:], partly, None, shape[:rank - 1],
          shape + [2], [], [3]]


@pytest.mark.parametrize("name,shape", [
    (name, shape) for name in sorted(CLASSES)
    for shape in _output_shapes(name)])
def test_compute_output_shape_is_tf1s(name, shape):
  args, _ = CLASSES[name]

  def result(module):
    with tf.Graph().as_default():
      try:
        out = getattr(module, name)(**args).compute_output_shape(
            tf.TensorShape(shape))
      except Exception as error:  # pylint: disable=broad-except
        return type(error)
      return tf.TensorShape(out).as_list() if tf.TensorShape(
          out).rank is not None else None

  reference, mine = _both(result)
  input_rank = len(CLASSES[name][1])
  if (name.startswith(FIXED_RANK) and shape is not None and
      len(shape) != input_rank):
    assert mine is ValueError
  else:
    assert_same_outcome(mine, reference)


def _argument_cases():
  cases = []
  for name in sorted(CLASSES):
    args, _ = CLASSES[name]
    reference_cls = getattr(layer_parity.reference(), name)
    params = inspect.signature(reference_cls.__init__).parameters
    for argument, values in sorted(BAD_VALUES.items()):
      if argument in params:
        cases.extend((name, argument, value) for value in values)
  return cases


@pytest.mark.parametrize("name,argument,value", _argument_cases())
def test_argument_is_validated_as_tf1(name, argument, value):
  args, shape = CLASSES[name]
  args = dict(args, **{argument: value})

  def error(module):
    def build_and_call():
      layer = getattr(module, name)(**args)
      layer(tf.compat.v1.placeholder(tf.float32, shape))
    return _error_type(build_and_call)

  reference, mine = _both(error)
  assert_same_outcome(mine, reference)
