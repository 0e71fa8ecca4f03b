r"""A CIFAR-style ResNet written the TF1 way, trained in a `tf.compat.v1.Session`.

The model code (`batch_norm`, `conv2d_fixed`, `residual_block`, `resnet`) is
unchanged TF1 code: it calls `tf.compat.v1.layers.*`, which raise "not
available with Keras 3" on TF 2.16+ until `tf_bn_compat.patch_tf()` runs.
Mixed precision is TF1's custom-getter recipe: variables are created in
float32 and cast to float16 when read, the network computes in float16, and
the loss is scaled before the gradients are taken. The moving statistics of
batch normalization are updated through `UPDATE_OPS`.

    python -m tf_bn_compat.examples.resnet_tf1 --steps=30

The checkpoint it writes restores into the same model built with TF's own
`tf.compat.v1.layers` (TF <= 2.15, or `TF_USE_LEGACY_KERAS=1`) and gives the
same logits (tested).
"""

import argparse
import os
import tempfile

import numpy as np
import tensorflow as tf

IMAGE_SIZE = 16
CHANNELS = 3
NUM_CLASSES = 4
LOSS_SCALE = 128.0


def make_data(num_examples, seed):
  """Images with a bright square in one of four quadrants (the label).

  Args:
    num_examples: Number of images.
    seed: Seed of the generator.

  Returns:
    (images float32 [N, 16, 16, 3], labels int32 [N]).
  """
  rng = np.random.RandomState(seed)
  labels = rng.randint(0, NUM_CLASSES, num_examples).astype(np.int32)
  images = rng.standard_normal(
      (num_examples, IMAGE_SIZE, IMAGE_SIZE, CHANNELS)) + 0.5
  half = IMAGE_SIZE // 2
  for i, label in enumerate(labels):
    row, col = divmod(int(label), 2)
    images[i, row * half:(row + 1) * half, col * half:(col + 1) * half] += 2.0
  return images.astype(np.float32), labels


# The model, as TF1 code wrote it.


def float32_variable_storage_getter(getter, name, shape=None, dtype=None,
                                    initializer=None, regularizer=None,
                                    trainable=True, *args, **kwargs):
  """Creates float16 variables as float32 and reads them as float16."""
  storage_dtype = tf.float32 if trainable else dtype
  variable = getter(name, shape, dtype=storage_dtype, initializer=initializer,
                    regularizer=regularizer, trainable=trainable, *args,
                    **kwargs)
  if trainable and dtype != tf.float32:
    variable = tf.cast(variable, dtype)
  return variable


def batch_norm(inputs, training, data_format):
  return tf.compat.v1.layers.batch_normalization(
      inputs, axis=1 if data_format == "channels_first" else 3,
      momentum=0.9, epsilon=1e-5, center=True, scale=True, training=training,
      fused=True)


def conv2d_fixed(inputs, filters, kernel_size, strides, data_format):
  return tf.compat.v1.layers.conv2d(
      inputs, filters=filters, kernel_size=kernel_size, strides=strides,
      padding="same", use_bias=False,
      kernel_initializer=tf.compat.v1.variance_scaling_initializer(),
      data_format=data_format)


def residual_block(inputs, filters, training, strides, data_format):
  shortcut = inputs
  channel_axis = 1 if data_format == "channels_first" else 3
  if strides != 1 or inputs.shape[channel_axis] != filters:
    shortcut = conv2d_fixed(inputs, filters, 1, strides, data_format)
    shortcut = batch_norm(shortcut, training, data_format)
  outputs = conv2d_fixed(inputs, filters, 3, strides, data_format)
  outputs = tf.nn.relu(batch_norm(outputs, training, data_format))
  outputs = conv2d_fixed(outputs, filters, 3, 1, data_format)
  outputs = batch_norm(outputs, training, data_format)
  return tf.nn.relu(outputs + shortcut)


def resnet(images, training, data_format="channels_last",
           stage_filters=(16, 32, 64), blocks_per_stage=1):
  """The ResNet's logits (float32) for NHWC float32 `images`."""
  with tf.compat.v1.variable_scope(
      "resnet", custom_getter=float32_variable_storage_getter):
    inputs = tf.cast(images, tf.float16)
    if data_format == "channels_first":
      inputs = tf.transpose(inputs, [0, 3, 1, 2])
    inputs = conv2d_fixed(inputs, stage_filters[0], 3, 1, data_format)
    inputs = tf.nn.relu(batch_norm(inputs, training, data_format))
    inputs = tf.compat.v1.layers.max_pooling2d(
        inputs, pool_size=2, strides=2, padding="same",
        data_format=data_format)
    for stage, filters in enumerate(stage_filters):
      for block in range(blocks_per_stage):
        with tf.compat.v1.variable_scope("stage%d_block%d" % (stage, block)):
          strides = 2 if stage > 0 and block == 0 else 1
          inputs = residual_block(inputs, filters, training, strides,
                                  data_format)
    spatial = [2, 3] if data_format == "channels_first" else [1, 2]
    inputs = tf.reduce_mean(inputs, spatial)
    logits = tf.compat.v1.layers.dense(inputs, NUM_CLASSES)
  return tf.cast(logits, tf.float32)


# Training and evaluation.


def train(steps=30, batch_size=32, data_format="channels_last", seed=0,
          checkpoint_path=None, learning_rate=0.05, init_checkpoint=None):
  """Trains the ResNet on generated data and saves a checkpoint.

  Args:
    steps: Training steps.
    batch_size: Examples per step.
    data_format: "channels_last" or "channels_first".
    seed: Seed of the data and of the graph.
    checkpoint_path: Where to save; a temporary directory if None.
    learning_rate: Momentum optimizer's learning rate.
    init_checkpoint: Optional checkpoint of the model's variables to start
      from instead of their initializers.

  Returns:
    Dict with the training `losses` (one per step), the `checkpoint` path
    and the held-out `eval_logits` (training=False).
  """
  images, labels = make_data(steps * batch_size, seed)
  eval_images, _ = make_data(batch_size, seed + 1)
  if checkpoint_path is None:
    checkpoint_path = os.path.join(tempfile.mkdtemp(), "resnet.ckpt")
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    x = tf.compat.v1.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE,
                                              CHANNELS])
    y = tf.compat.v1.placeholder(tf.int32, [None])
    is_training = tf.compat.v1.placeholder(tf.bool, [])
    logits = resnet(x, is_training, data_format)
    model_variables = tf.compat.v1.global_variables()
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(y, logits)
    optimizer = tf.compat.v1.train.MomentumOptimizer(learning_rate, 0.9)
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
      scaled = optimizer.compute_gradients(loss * LOSS_SCALE)
      grads = [(g / LOSS_SCALE, v) for g, v in scaled if g is not None]
      train_op = optimizer.apply_gradients(grads)
    saver = tf.compat.v1.train.Saver()
    losses = []
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      if init_checkpoint:
        tf.compat.v1.train.Saver(model_variables).restore(sess,
                                                          init_checkpoint)
      for step in range(steps):
        batch = slice(step * batch_size, (step + 1) * batch_size)
        value, _ = sess.run([loss, train_op], {
            x: images[batch], y: labels[batch], is_training: True})
        losses.append(float(value))
      saver.save(sess, checkpoint_path)
      eval_logits = sess.run(logits, {x: eval_images, is_training: False})
  return {"losses": losses, "checkpoint": checkpoint_path,
          "eval_logits": eval_logits}


def evaluate(checkpoint_path, images, data_format="channels_last"):
  """Builds the ResNet for inference, restores `checkpoint_path`, runs it.

  Args:
    checkpoint_path: A checkpoint written by `train`.
    images: float32 [N, 16, 16, 3].
    data_format: "channels_last" or "channels_first".

  Returns:
    The logits, float32 [N, NUM_CLASSES].
  """
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE,
                                              CHANNELS])
    logits = resnet(x, False, data_format)
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver().restore(sess, checkpoint_path)
      return sess.run(logits, {x: images})


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--data_format", default="channels_last",
                      choices=["channels_last", "channels_first"])
  args = parser.parse_args()
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  tf_bn_compat.patch_tf()
  result = train(args.steps, args.batch_size, args.data_format)
  for step, value in enumerate(result["losses"]):
    print("step %3d  loss %.4f" % (step, value))
  print("checkpoint:", result["checkpoint"])
  first, last = np.mean(result["losses"][:5]), np.mean(result["losses"][-5:])
  print("mean loss, first 5 steps %.4f, last 5 steps %.4f" % (first, last))
  return 0 if last < first else 1


if __name__ == "__main__":
  raise SystemExit(main())
