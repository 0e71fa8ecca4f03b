"""The TF1 layer base against TF1's: scopes, reuse, getters, styles, subclasses.

Every case builds one graph with our layers and one with TF1's and compares
variable names, collections, losses, outputs and gradients (layer_parity).
"""

import numpy as np
import pytest
import tensorflow as tf

import layer_parity


def _numbering(m, x):
  h = m.conv2d(x, 4, 3, padding="same")
  h = m.conv2d(h, 4, 3, padding="same")
  with tf.compat.v1.variable_scope("block"):
    h = m.conv2d(h, 4, 1)
    h = m.max_pooling2d(h, 2, 2)
    layer = m.Dense(3)
    y = layer(m.flatten(h))
  return y, layer


def _same_layer_twice(m, x):
  layer = m.Dense(5, name="fc")
  return layer(layer(x)), layer


def _functional_reuse(m, x):
  a = m.dense(x, 5, name="shared")
  b = m.dense(x, 5, name="shared", reuse=True)
  with tf.compat.v1.variable_scope("outer", reuse=tf.compat.v1.AUTO_REUSE):
    c = m.dense(x, 5, name="auto")
    d = m.dense(x, 5, name="auto")
  return a + b + c + d


def _scope_reuse(m, x):
  with tf.compat.v1.variable_scope("tower"):
    a = m.conv1d(x, 2, 3)
  with tf.compat.v1.variable_scope("tower", reuse=True):
    b = m.conv1d(x, 2, 3)
  return a * b


def _custom_getter(m, x):
  def getter(getter, name, *args, **kwargs):
    kwargs["dtype"] = tf.float32
    variable = getter(name, *args, **kwargs)
    return tf.cast(variable, tf.float16)

  with tf.compat.v1.variable_scope("fp16", custom_getter=getter):
    layer = m.Conv2D(3, 2, use_bias=True)
    y = layer(tf.cast(x, tf.float16))
  return tf.cast(y, tf.float32), layer


def _scope_initializer(m, x):
  with tf.compat.v1.variable_scope(
      "init", initializer=tf.compat.v1.constant_initializer(0.25)):
    return m.dense(x, 3) + m.conv1d(x[:, :, None], 2, 2)[:, :3, 0]


def _partitioned(m, x):
  with tf.compat.v1.variable_scope(
      "part", partitioner=tf.compat.v1.fixed_size_partitioner(2)):
    layer = m.Dense(4, kernel_regularizer=lambda w: tf.reduce_sum(w * w))
    y = layer(x)
  return y, layer


def _non_trainable_scope(m, x):
  layer = m.Dense(3, trainable=False)
  return layer(x) + m.dense(x, 3, trainable=True), layer


def _call_scope_argument(m, x):
  layer = m.Dense(3)
  return layer(x, scope="named_at_call"), layer


def _name_as_scope(m, x):
  with tf.compat.v1.variable_scope("given") as scope:
    pass
  layer = m.Dense(3, name=scope)
  return layer(x), layer


def _keras_style(m, x):
  with m.experimental.keras_style_scope():
    first = m.Dense(3, kernel_regularizer=lambda w: tf.reduce_sum(w))
    second = m.Dense(3)
    y = second(first(x)) + first(x)
  return y, first


def _batch_norm_keras_style(m, x):
  with m.experimental.keras_style_scope():
    layer = m.BatchNormalization()
    y = layer(x, training=True)
  return y, layer


CASES = [
    ("numbering", _numbering, [(2, 6, 6, 3)]),
    ("same_layer_twice", _same_layer_twice, [(2, 5)]),
    ("functional_reuse", _functional_reuse, [(2, 4)]),
    ("scope_reuse", _scope_reuse, [(2, 6, 3)]),
    ("custom_getter_fp16", _custom_getter, [(2, 5, 5, 3)]),
    ("scope_initializer", _scope_initializer, [(2, 4)]),
    ("partitioned", _partitioned, [(2, 6)]),
    ("non_trainable", _non_trainable_scope, [(2, 4)]),
    ("call_scope_argument", _call_scope_argument, [(2, 4)]),
    ("name_as_scope", _name_as_scope, [(2, 4)]),
    ("keras_style", _keras_style, [(2, 3)]),
    ("batch_norm_keras_style", _batch_norm_keras_style, [(4, 3)]),
]


@pytest.mark.parametrize("case_id,build,shapes", CASES,
                         ids=[c[0] for c in CASES])
def test_scoping_matches_tf1(graph_mode, case_id, build, shapes):
  del graph_mode
  ignore = ()
  if case_id == "partitioned":
    # TF1's layer lists the partitions of a trainable partitioned variable as
    # non-trainable weights (its check that the variable is in
    # TRAINABLE_VARIABLES compares the partitioned object); ours lists them
    # as trainable. The collections are the same.
    ignore = ("layer_trainable", "layer_non_trainable")
  record = layer_parity.compare(build, shapes, ignore=ignore)
  if case_id == "partitioned":
    assert record["layer_trainable"] == [
        "part/dense/kernel/part_0:0", "part/dense/kernel/part_1:0",
        "part/dense/bias/part_0:0", "part/dense/bias/part_1:0"]
  if case_id == "scope_initializer":
    np.testing.assert_array_equal(
        record["initial_values"]["init/dense/kernel:0"], 0.25)


def test_numbering_names():
  record = layer_parity.run(layer_parity.ours(), _numbering, [(2, 6, 6, 3)])
  assert [name for name, _, _ in record["variables"]] == [
      "conv2d/kernel:0", "conv2d/bias:0", "conv2d_1/kernel:0",
      "conv2d_1/bias:0", "block/conv2d/kernel:0", "block/conv2d/bias:0",
      "block/dense/kernel:0", "block/dense/bias:0"]


class _Scaled(object):
  """A user layer, TF1 style: build with add_weight, call with add_loss."""

  @staticmethod
  def make(module):
    class Scaled(module.Layer):  # pylint: disable=missing-class-docstring

      def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = module.InputSpec(min_ndim=2)

      def build(self, input_shape):
        self.scale = self.add_weight(
            "scale", shape=[int(input_shape[-1])],
            initializer=tf.compat.v1.ones_initializer(),
            regularizer=lambda v: tf.reduce_sum(tf.abs(v)))
        self.count = self.add_weight(
            "count", shape=[], dtype=tf.int32, trainable=False,
            initializer=tf.compat.v1.zeros_initializer())
        self.built = True

      def call(self, inputs):
        self.add_loss(tf.reduce_mean(inputs), inputs=inputs)
        self.add_update(tf.compat.v1.assign_add(self.count, 1))
        return inputs * self.scale

    return Scaled


def test_user_layer_subclass_matches_tf1(graph_mode):
  del graph_mode

  def build(m, x):
    layer = _Scaled.make(m)(name="scaled")
    return layer(x), layer

  record = layer_parity.compare(build, [(3, 4)])
  assert record["losses_for_inputs"] == 1
  assert record["updates_for_inputs"] == 0
  assert record["updates_for_none"] == 1


def test_scope_name_before_and_after_call():
  m = layer_parity.ours()
  with tf.Graph().as_default():
    layer = m.Dense(2)
    with pytest.raises(ValueError, match="scope"):
      _ = layer.scope_name
    with tf.compat.v1.variable_scope("outer"):
      layer(tf.ones([1, 3]))
    assert layer.scope_name == "outer/dense"
    assert layer.count_params() == 3 * 2 + 2


def test_keras_style_refuses_scope_and_reuse():
  for module in (layer_parity.reference(), layer_parity.ours()):
    with tf.Graph().as_default():
      x = tf.ones([1, 3])
      with module.experimental.keras_style_scope():
        with pytest.raises(ValueError, match="reuse argument not allowed"):
          module.dense(x, 2, reuse=True)
        with pytest.raises(ValueError, match="scope argument not allowed"):
          module.dense(x, 2, name="named")
        with pytest.raises(ValueError, match="scope argument not allowed"):
          module.Dense(2)(x, scope="s")
