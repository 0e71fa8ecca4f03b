"""This package's TF1 layers inside a `track_tf1_style_variables` method.

The layers ask `get_variable` for their variables, so the decorated object
owns them by TF1 name; their weight regularizers and activity losses become
the object's losses; batch normalization's moving statistics move in place.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import layers
from tf_bn_compat import migrate

pytestmark = pytest.mark.eager_context  # Eager ops: run after the graph tests.

v1 = tf.compat.v1
KERNEL_L2 = 0.01
ACTIVITY_L1 = 0.001


def tf1_code(x, training, head):
  """Functional TF1 layers, unnamed (numbered per call) and named."""
  h = layers.conv2d(x, 4, 3, padding="same", use_bias=False)
  h = layers.batch_normalization(h, training=training, momentum=0.5)
  h = layers.max_pooling2d(tf.nn.relu(h), 2, 2)
  h = layers.flatten(h)
  h = layers.dropout(h, 0.5, training=training, seed=1)
  h = layers.dense(h, 3, name="hidden",
                   kernel_regularizer=lambda w: KERNEL_L2 * tf.reduce_sum(w * w),
                   activity_regularizer=lambda a: ACTIVITY_L1 * tf.reduce_sum(
                       tf.abs(a)))
  return head(h)


EXPECTED = ["conv2d/kernel", "batch_normalization/gamma",
            "batch_normalization/beta", "batch_normalization/moving_mean",
            "batch_normalization/moving_variance", "hidden/kernel",
            "hidden/bias", "head/kernel", "head/bias"]


class Module(tf.Module):

  def __init__(self):
    super().__init__()
    self.head = layers.Dense(2, name="head")  # A layer object, made once.

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self, x, training=False):
    return tf1_code(x, training, self.head)


def keras_layer():
  keras = pytest.importorskip("keras")
  if not keras.__version__.startswith("3."):
    pytest.skip("Keras 3 only")

  class Layer(keras.layers.Layer):

    def __init__(self):
      super().__init__()
      self.head = layers.Dense(2, name="head")

    @tf_bn_compat.track_tf1_style_variables
    def call(self, x, training=False):
      return tf1_code(x, training, self.head)

  return Layer()


OWNERS = {"tf_module": Module, "keras_layer": keras_layer}
# numpy: an eager tensor made at import would start the eager context before
# the graph tests that must run first (see tests/conftest.py).
X = (np.random.RandomState(0).randn(4, 6, 6, 2) * 2 + 3).astype(np.float32)


@pytest.mark.parametrize("mode", ["eager", "tf_function"])
@pytest.mark.parametrize("owner", OWNERS)
def test_layers_variables_belong_to_the_object(owner, mode):
  obj = OWNERS[owner]()
  call = tf.function(obj) if mode == "tf_function" else obj
  call(X, training=True)
  first = dict(migrate.tf1_style_variables(obj))
  call(X, training=tf.constant(True))
  call(X, training=False)
  assert list(migrate.tf1_style_variables(obj)) == EXPECTED
  assert all(first[n] is v
             for n, v in migrate.tf1_style_variables(obj).items())
  trainable = (obj.trainable_weights if owner == "keras_layer" else
               obj.trainable_variables)
  assert len(trainable) == 7


@pytest.mark.parametrize("owner", OWNERS)
def test_moving_statistics_move_in_place(owner):
  obj = OWNERS[owner]()
  obj(X, training=True)
  variables = migrate.tf1_style_variables(obj)
  conv = tf.nn.conv2d(X, variables["conv2d/kernel"], 1, "SAME")
  batch_mean = tf.reduce_mean(conv, [0, 1, 2]).numpy()
  # One step of momentum 0.5 from 0.
  np.testing.assert_allclose(
      variables["batch_normalization/moving_mean"].numpy(), 0.5 * batch_mean,
      rtol=1e-4, atol=1e-5)
  before = variables["batch_normalization/moving_mean"].numpy()
  obj(X, training=False)
  np.testing.assert_array_equal(
      variables["batch_normalization/moving_mean"].numpy(), before)


@pytest.mark.parametrize("owner", OWNERS)
def test_layer_losses_are_the_objects(owner):
  obj = OWNERS[owner]()
  outputs = obj(X, training=False)
  kernel = migrate.tf1_style_variables(obj)["hidden/kernel"]
  kernel.assign(kernel * 2.0)  # Weight losses follow the current values.
  losses = (obj.losses if owner == "keras_layer" else
            migrate.regularization_losses(obj))
  assert len(losses) == 2
  values = sorted(float(l) for l in losses)
  del outputs
  expected_weight = KERNEL_L2 * float(tf.reduce_sum(kernel * kernel))
  assert any(abs(v - expected_weight) < 1e-5 * max(1, expected_weight)
             for v in values), (values, expected_weight)
  assert all(v > 0 for v in values)


class KerasStyle(tf.Module):
  """Keras-style layers: the Keras-v1 class and `keras_style_scope`."""

  def __init__(self):
    super().__init__()
    from tf_bn_compat.keras import layers as keras_v1  # pylint: disable=g-import-not-at-top
    self.norm = keras_v1.BatchNormalization(momentum=0.5)
    with layers.experimental.keras_style_scope():
      self.dense = layers.Dense(2, name="keras_dense")

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self, x, training=False):
    return self.dense(self.norm(x, training=training))


@pytest.mark.parametrize("mode", ["eager", "tf_function"])
def test_keras_style_layers_variables_belong_to_the_object(mode):
  obj = KerasStyle()
  call = tf.function(obj) if mode == "tf_function" else obj
  x = tf.reshape(X, [-1, 2])
  call(x, training=True)
  call(x, training=True)
  variables = migrate.tf1_style_variables(obj)
  norm = obj.norm.name  # Numbered when made, in __init__, as in TF1.
  assert sorted(variables) == sorted(
      [norm + "/" + n for n in ("gamma", "beta", "moving_mean",
                                "moving_variance")] +
      ["keras_dense/kernel", "keras_dense/bias"])
  assert len(obj.trainable_variables) == 4
  mean = tf.reduce_mean(x, 0).numpy()
  np.testing.assert_allclose(  # Two steps of momentum 0.5 from 0.
      variables[norm + "/moving_mean"].numpy(), 0.75 * mean,
      rtol=1e-5)
