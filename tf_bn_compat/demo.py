r"""Trains a small convnet with TF1 graph code and this package's batch norm.

The data is made here: 16x16 grey images with a bright square in one of four
quadrants (the label), under random brightness, contrast and noise, so the
task is learnable and batch normalization has work to do. The demo

1. trains in a `tf.compat.v1.Session` loop, running `UPDATE_OPS` with the
   train op, and prints step, loss, accuracy and examples/s;
2. evaluates held-out data with `training=False`;
3. checks that the moving statistics of the first batch norm layer have
   converged to the statistics of its input over the held-out data;
4. saves a checkpoint with `tf.compat.v1.train.Saver`, restores it into a
   fresh graph and checks that the restored evaluation is identical.

It exits with status 1 if the loss did not fall, the statistics did not
converge or the restored evaluation differs.

    python -m tf_bn_compat.demo --steps=300 --batch_size=64 --data_format=NCHW
"""

import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import platform_support
from tf_bn_compat.ops import _library

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 300, "Training steps.")
flags.DEFINE_integer("batch_size", 64, "Examples per training step.")
flags.DEFINE_enum("fused", "auto", ["auto", "true", "false"],
                  "The layers' `fused` argument (auto is None).")
flags.DEFINE_enum("data_format", "NHWC", ["NHWC", "NCHW"],
                  "Layout of activations (the batch norm axis follows).")
flags.DEFINE_integer("log_every", 50, "Print progress every this many steps.")
flags.DEFINE_string("model_dir", None,
                    "Where to write the checkpoint (default: a temp dir).")
flags.DEFINE_integer("seed", 0, "Seed of the data and the weights.")


def _data_format_runs_here(data_format):
  """Refuses NCHW at flag parsing where TF cannot train NCHW convolutions."""
  if data_format != "NCHW":
    return True
  reason = platform_support.nchw_conv_unsupported_reason()
  if reason:
    raise flags.ValidationError("--data_format=NCHW cannot run here: " + reason)
  return True


flags.register_validator("data_format", _data_format_runs_here)

IMAGE_SIZE = 16
NUM_CLASSES = 4
EVAL_EXAMPLES = 1024
# Moving averages over ~20 steps, so that they settle while the learning
# rate is low at the end of training.
BN_MOMENTUM = 0.95


def make_data(num_examples, rng):
  """Returns images [N, 16, 16, 1] and labels [N] of the quadrant task."""
  labels = rng.randint(0, NUM_CLASSES, num_examples)
  images = rng.standard_normal((num_examples, IMAGE_SIZE, IMAGE_SIZE, 1))
  half = IMAGE_SIZE // 2
  for i, label in enumerate(labels):
    row, col = divmod(label, 2)
    top = row * half + rng.randint(0, half - 4)
    left = col * half + rng.randint(0, half - 4)
    images[i, top:top + 4, left:left + 4, 0] += 3.0
  brightness = rng.uniform(-5.0, 5.0, (num_examples, 1, 1, 1))
  contrast = rng.uniform(0.5, 3.0, (num_examples, 1, 1, 1))
  return (images * contrast + brightness).astype(np.float32), labels


def _fused_arg():
  return {"auto": None, "true": True, "false": False}[FLAGS.fused]


def build_model(images, training):
  """Builds the convnet; returns (logits, input of the first batch norm)."""
  data_format = FLAGS.data_format
  channel_axis = 1 if data_format == "NCHW" else -1
  x = images
  if data_format == "NCHW":
    x = tf.transpose(x, [0, 3, 1, 2])
  first_bn_input = None
  for index, (filters, stride) in enumerate([(16, 1), (32, 2), (32, 2)]):
    in_channels = x.shape[channel_axis]
    with tf.compat.v1.variable_scope("conv%d" % index):
      kernel = tf.compat.v1.get_variable(
          "kernel", [3, 3, in_channels, filters],
          initializer=tf.compat.v1.glorot_uniform_initializer())
      x = tf.nn.conv2d(x, kernel, stride, "SAME", data_format=data_format)
    if first_bn_input is None:
      first_bn_input = x
    x = tf_bn_compat.layers.batch_normalization(
        x, axis=channel_axis, momentum=BN_MOMENTUM, training=training,
        fused=_fused_arg())
    x = tf.nn.relu(x)
  spatial_axes = [2, 3] if data_format == "NCHW" else [1, 2]
  x = tf.reduce_mean(x, axis=spatial_axes)
  with tf.compat.v1.variable_scope("logits"):
    weights = tf.compat.v1.get_variable(
        "kernel", [x.shape[-1], NUM_CLASSES],
        initializer=tf.compat.v1.glorot_uniform_initializer())
    bias = tf.compat.v1.get_variable(
        "bias", [NUM_CLASSES], initializer=tf.compat.v1.zeros_initializer())
  return tf.matmul(x, weights) + bias, first_bn_input


def _input_placeholders():
  images = tf.compat.v1.placeholder(
      tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 1], name="images")
  labels = tf.compat.v1.placeholder(tf.int64, [None], name="labels")
  return images, labels


def train(train_rng, eval_images, eval_labels, checkpoint_path):
  """Trains, evaluates and saves; returns a dict of what it measured."""
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(FLAGS.seed)
    images, labels = _input_placeholders()
    training = tf.compat.v1.placeholder(tf.bool, [], name="training")
    logits, first_bn_input = build_model(images, training)
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
    accuracy = tf.reduce_mean(
        tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    learning_rate = tf.compat.v1.train.piecewise_constant(
        global_step, [int(0.6 * FLAGS.steps)], [0.05, 0.002])
    with tf.control_dependencies(update_ops):
      train_op = tf.compat.v1.train.MomentumOptimizer(
          learning_rate, 0.9).minimize(loss, global_step=global_step)
    variables = {v.name: v for v in tf.compat.v1.global_variables()}
    moving_mean = variables["batch_normalization/moving_mean:0"]
    moving_variance = variables["batch_normalization/moving_variance:0"]
    saver = tf.compat.v1.train.Saver()
    losses = []
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      start, examples = time.time(), 0
      for step in range(1, FLAGS.steps + 1):
        batch_images, batch_labels = make_data(FLAGS.batch_size, train_rng)
        _, loss_value, acc_value = sess.run(
            [train_op, loss, accuracy],
            {images: batch_images, labels: batch_labels, training: True})
        losses.append(loss_value)
        examples += FLAGS.batch_size
        if step % FLAGS.log_every == 0 or step == FLAGS.steps:
          rate = examples / (time.time() - start)
          print("step %5d  loss %.4f  accuracy %.3f  %8.1f examples/s" %
                (step, np.mean(losses[-FLAGS.log_every:]), acc_value, rate))
          start, examples = time.time(), 0
      feed = {images: eval_images, labels: eval_labels, training: False}
      eval_logits, eval_loss, eval_acc, bn_input, mean, var = sess.run(
          [logits, loss, accuracy, first_bn_input, moving_mean,
           moving_variance], feed)
      saver.save(sess, checkpoint_path)
  reduce_axes = (0, 2, 3) if FLAGS.data_format == "NCHW" else (0, 1, 2)
  return {
      "losses": losses,
      "eval_logits": eval_logits,
      "eval_loss": eval_loss,
      "eval_accuracy": eval_acc,
      "population_mean": bn_input.mean(axis=reduce_axes),
      "population_variance": bn_input.var(axis=reduce_axes),
      "moving_mean": mean,
      "moving_variance": var,
  }


def restore_and_evaluate(eval_images, checkpoint_path):
  """Builds the model in a fresh graph, restores it and evaluates.

  The graph is built as in training, with a `training` placeholder fed
  False, so the restored evaluation runs the same ops on the same values.
  """
  with tf.Graph().as_default():
    images, _ = _input_placeholders()
    training = tf.compat.v1.placeholder(tf.bool, [], name="training")
    logits, _ = build_model(images, training)
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver().restore(sess, checkpoint_path)
      return sess.run(logits, {images: eval_images, training: False})


def main(argv):
  del argv
  tf.get_logger().setLevel("ERROR")
  print("tf_bn_compat %s, TensorFlow %s, fused op backend: %s" %
        (tf_bn_compat.__version__, tf.__version__, _library.backend()))
  print("steps=%d batch_size=%d fused=%s data_format=%s" %
        (FLAGS.steps, FLAGS.batch_size, FLAGS.fused, FLAGS.data_format))
  model_dir = FLAGS.model_dir or tempfile.mkdtemp(prefix="tf_bn_compat_demo_")
  checkpoint_path = os.path.join(model_dir, "model.ckpt")
  eval_images, eval_labels = make_data(
      EVAL_EXAMPLES, np.random.RandomState(FLAGS.seed + 1))
  result = train(np.random.RandomState(FLAGS.seed), eval_images, eval_labels,
                 checkpoint_path)
  window = max(1, min(20, FLAGS.steps // 5))
  first_loss = float(np.mean(result["losses"][:window]))
  last_loss = float(np.mean(result["losses"][-window:]))
  print("loss: first %d steps %.4f -> last %d steps %.4f" %
        (window, first_loss, window, last_loss))
  print("evaluation (training=False): loss %.4f  accuracy %.3f" %
        (result["eval_loss"], result["eval_accuracy"]))
  mean_error = np.max(np.abs(result["moving_mean"] -
                             result["population_mean"]) /
                      np.sqrt(result["population_variance"]))
  variance_ratio = result["moving_variance"] / result["population_variance"]
  print("first layer moving statistics vs. held-out input statistics: "
        "max |mean error|/std %.3f, variance ratio in [%.3f, %.3f]" %
        (mean_error, variance_ratio.min(), variance_ratio.max()))
  restored = restore_and_evaluate(eval_images, checkpoint_path)
  restore_diff = float(np.max(np.abs(restored - result["eval_logits"])))
  print("checkpoint %s restored into a fresh graph: max |logit difference| "
        "%g" % (checkpoint_path, restore_diff))
  failures = []
  if not last_loss < 0.7 * first_loss:
    failures.append("loss did not fall")
  # The averages span ~20 steps of the low-learning-rate phase; what is left
  # is sampling noise of the held-out set and the last small weight moves.
  if FLAGS.steps >= 200 and not (mean_error < 0.1 and
                                 0.85 < variance_ratio.min() and
                                 variance_ratio.max() < 1.15):
    failures.append("moving statistics did not converge")
  if restore_diff != 0.0:
    failures.append("restored evaluation differs")
  if failures:
    print("DEMO FAILED: " + "; ".join(failures))
    sys.exit(1)
  print("DEMO OK")


if __name__ == "__main__":
  app.run(main)
