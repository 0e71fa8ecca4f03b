"""`track_tf1_style_variables` on Keras 3 layers and models.

The variables of the TF1 code become the layer's own Keras weights, so that
`trainable_weights`, `losses`, optimizers, `model.fit` and Keras' weight
files see them; each one's `tf.Variable` keeps its TF1 name.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import migrate

pytestmark = pytest.mark.eager_context  # Eager ops: run after the graph tests.

keras = pytest.importorskip("keras")
if not keras.__version__.startswith("3."):
  pytest.skip("Keras 3 only (TF 2.15 has Keras 2 and its own decorator)",
              allow_module_level=True)

v1 = tf.compat.v1


class Affine(keras.layers.Layer):
  """TF1 code in a Keras 3 layer: a trainable affine map and a counter."""

  @tf_bn_compat.track_tf1_style_variables
  def call(self, inputs):
    with v1.variable_scope("affine"):
      w = v1.get_variable("w", [3, 2],
                          regularizer=lambda v: 0.01 * tf.reduce_sum(v * v))
      b = v1.get_variable("b", [2], initializer=v1.zeros_initializer())
      calls = v1.get_variable("calls", [], trainable=False,
                              initializer=v1.zeros_initializer())
      calls.assign_add(1.0)
    return tf.matmul(inputs, w) + b


class Model(keras.Model):

  def __init__(self):
    super().__init__()
    self.affine = Affine()

  def call(self, inputs):
    return self.affine(inputs)


def data(n=32, seed=0):
  rng = np.random.RandomState(seed)
  x = rng.rand(n, 3).astype(np.float32)
  y = (x @ np.array([[1.0, -1.0], [2.0, 0.5], [-1.0, 1.0]], np.float32) +
       0.3).astype(np.float32)
  return x, y


def tf_names(layer):
  return [w.value.name for w in layer.weights]


@pytest.mark.parametrize("mode", ["eager", "tf_function"])
def test_weights_are_the_layers_own(mode):
  layer = Affine()
  call = tf.function(layer) if mode == "tf_function" else layer
  x, _ = data()
  call(x)
  call(x)
  assert tf_names(layer) == ["affine/w:0", "affine/b:0", "affine/calls:0"]
  assert [w.name for w in layer.trainable_weights] == ["w", "b"]
  assert [w.name for w in layer.non_trainable_weights] == ["calls"]
  assert layer.non_trainable_weights[0].numpy() == 2.0
  assert list(migrate.tf1_style_variables(layer)) == [
      "affine/w", "affine/b", "affine/calls"]


def test_losses_are_the_regularizers_of_the_call():
  layer = Affine()
  x, _ = data()
  layer(x)
  w = layer.trainable_weights[0].numpy()
  (loss,) = layer.losses
  np.testing.assert_allclose(loss.numpy(), 0.01 * np.sum(w * w), rtol=1e-6)
  layer(x)
  assert len(layer.losses) == 1  # Each call's losses replace the last's.
  np.testing.assert_allclose(migrate.regularization_losses(layer)[0].numpy(),
                             loss.numpy(), rtol=1e-6)


@pytest.mark.parametrize("built_first", [True, False],
                         ids=["called_first", "fit_builds"])
def test_model_fit_trains_the_tf1_variables(built_first):
  tf.random.set_seed(1)  # The initial weights: a fixed draw.
  x, y = data()
  model = Model()
  if built_first:
    model(x[:1])
  model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
  history = model.fit(x, y, batch_size=8, epochs=10, verbose=0)
  losses = history.history["loss"]
  assert losses[-1] < 0.6 * losses[0]
  # Fit's symbolic build creates the variables late; they keep TF1 names.
  assert tf_names(model) == ["affine/w:0", "affine/b:0", "affine/calls:0"]
  assert model.weights[2].numpy() > 5  # The counter ran in each step.


def test_model_fit_equals_a_gradient_tape_loop():
  x, y = data()
  fit_model, tape_model = Model(), Model()
  fit_model(x[:1])
  tape_model(x[:1])
  for a, b in zip(fit_model.weights, tape_model.weights):
    b.assign(a)
  fit_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
  fit_model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
  optimizer = keras.optimizers.SGD(0.1)
  for start in range(0, len(x), 8):
    with tf.GradientTape() as tape:
      pred = tape_model(x[start:start + 8])
      loss = tf.reduce_mean(tf.square(pred - y[start:start + 8]))
      loss += tf.add_n(tape_model.losses)
    variables = tape_model.trainable_weights
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
  for a, b in zip(fit_model.trainable_weights, tape_model.trainable_weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_non_trainable_layer_trains_nothing():
  layer = Affine()
  layer.trainable = False
  layer(data()[0])
  assert not layer.trainable_weights
  assert len(layer.non_trainable_weights) == 3


def test_keras_weights_file_round_trip(tmp_path):
  x, _ = data()
  model = Model()
  expected = model(x)
  path = str(tmp_path / "model.weights.h5")
  model.save_weights(path)
  other = Model()
  other(x)
  other.load_weights(path)
  np.testing.assert_allclose(other(x).numpy(), expected.numpy(), rtol=1e-6)
