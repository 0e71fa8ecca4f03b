r"""The TF1 ResNet of `resnet_tf1`, unchanged, inside a Keras 3 model.

This is the middle step of a TF1-to-TF2 migration: the model code
(`resnet_tf1.resnet`, written with `tf.compat.v1.layers` and
`variable_scope`) is not touched; a Keras 3 layer calls it in a method
decorated with `tf_bn_compat.track_tf1_style_variables`, and the model then
trains eagerly, in `tf.function` and with `model.fit`. The TF1 graph's
checkpoints load into it, and its checkpoints load into the TF1 graph.

    python -m tf_bn_compat.examples.resnet_migration --steps=20

trains with `model.fit` on the same data as `resnet_tf1`, then checks that
the graph model restores the Keras model's checkpoint with the same logits.
"""

import argparse
import os
import tempfile

import numpy as np
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import migrate
from tf_bn_compat.examples import resnet_tf1

LEARNING_RATE = 0.05
MOMENTUM = 0.9


class ResNetModule(tf.Module):
  """The TF1 ResNet as a `tf.Module` (any TF version): `module(x, training)`."""

  def __init__(self, data_format="channels_last"):
    super().__init__()
    self.data_format = data_format

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self, images, training=False):
    return resnet_tf1.resnet(images, training, self.data_format)


def make_keras_model(data_format="channels_last"):
  """A Keras 3 model whose one layer runs the TF1 ResNet.

  Args:
    data_format: "channels_last" or "channels_first".

  Returns:
    An uncompiled `keras.Sequential`, unbuilt (`fit` builds it).

  Raises:
    RuntimeError: where `keras` is not Keras 3 (TF 2.15 has Keras 2, whose
      own `tf.compat.v1.keras.utils.track_tf1_style_variables` serves).
  """
  import keras  # pylint: disable=g-import-not-at-top
  if not keras.__version__.startswith("3."):
    raise RuntimeError("make_keras_model needs Keras 3, found Keras %s." %
                       keras.__version__)

  class TF1ResNet(keras.layers.Layer):
    """Keras 3 layer running the unchanged TF1 model code."""

    def __init__(self, data_format, **kwargs):
      super().__init__(**kwargs)
      self.data_format = data_format

    @tf_bn_compat.track_tf1_style_variables
    def call(self, images, training=False):
      return resnet_tf1.resnet(images, training, self.data_format)

  return keras.Sequential([TF1ResNet(data_format, name="tf1_resnet")])


def compile_keras_model(model):
  """Compiles `model` as `resnet_tf1.train` trains: momentum SGD, loss scale.

  TF1's `MomentumOptimizer` and Keras' SGD with momentum make the same
  steps at a constant learning rate; the loss scale stays at
  `resnet_tf1.LOSS_SCALE` while no gradient overflows.
  """
  import keras  # pylint: disable=g-import-not-at-top
  optimizer = keras.optimizers.LossScaleOptimizer(
      keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
      initial_scale=resnet_tf1.LOSS_SCALE, dynamic_growth_steps=10**9)
  model.compile(
      optimizer=optimizer,
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def gradient_tape_step(model, variables_fn, optimizer):
  """A `tf.function` training step with a `tf.GradientTape` and loss scale.

  Args:
    model: Callable `model(images, training=True)` returning logits.
    variables_fn: Returns the trainable variables (after the first call).
    optimizer: Applies `(gradient, variable)` pairs.

  Returns:
    `step(images, labels) -> loss`.
  """

  @tf.function
  def step(images, labels):
    with tf.GradientTape() as tape:
      logits = model(images, training=True)
      loss = tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
      scaled = loss * resnet_tf1.LOSS_SCALE
    variables = variables_fn()
    grads = tape.gradient(scaled, variables)
    optimizer.apply_gradients(
        [(g / resnet_tf1.LOSS_SCALE, v) for g, v in zip(grads, variables)])
    return loss

  return step


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--batch_size", type=int, default=32)
  args = parser.parse_args()
  tf_bn_compat.patch_tf()
  images, labels = resnet_tf1.make_data(args.steps * args.batch_size, 0)
  model = compile_keras_model(make_keras_model())
  history = model.fit(images, labels, batch_size=args.batch_size, epochs=1,
                      shuffle=False, verbose=2)
  del history
  eval_images, _ = resnet_tf1.make_data(args.batch_size, 1)
  logits = model(eval_images, training=False).numpy()
  path = migrate.save_tf1_checkpoint(
      model, os.path.join(tempfile.mkdtemp(), "migrated.ckpt"))
  graph_logits = resnet_tf1.evaluate(path, eval_images)
  difference = float(np.max(np.abs(graph_logits - logits)))
  print("TF1 checkpoint: %s (%d variables)" %
        (path, len(migrate.tf1_style_variables(model))))
  print("graph model vs Keras model logits: max |difference| %.2e" %
        difference)
  # float16 logits: a few units in the last place of values up to ~10.
  return 0 if np.allclose(graph_logits, logits, rtol=1e-2, atol=1e-2) else 1


if __name__ == "__main__":
  raise SystemExit(main())
