r"""Trains a small convnet with TF1 graph code and this package's batch norm.

The data is made here: 16x16 grey images with a bright square in one of four
quadrants (the label), under random brightness, contrast and noise, so the
task is learnable and batch normalization has work to do. The demo

1. trains in a `tf.compat.v1.Session` loop, running `UPDATE_OPS` with the
   train op, and prints step, loss, accuracy and examples/s;
2. checks that every batch norm layer's moving statistics are the
   exponential moving average of the batch statistics that layer saw in
   training (fetched at each step, averaged in float64);
3. evaluates held-out data with `training=False` (moving statistics) and
   checks that the accuracy agrees with `training=True` (batch statistics);
4. shows how the first layer's moving statistics track its input statistics
   over the held-out data;
5. saves a checkpoint with `tf.compat.v1.train.Saver`, restores it into a
   fresh graph and checks that the restored evaluation is identical.

It exits with status 1 if the loss did not fall, a check of 2, 3 or 5 failed
or the statistics of 4 are far off. Checks 2, 3 and 5 test properties of the
layer, so they hold whatever the CPU, its kernels and the training dynamics.

    python -m tf_bn_compat.demo --steps=300 --batch_size=64 --data_format=NCHW
"""

import collections
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
CONV_LAYERS = ((16, 1), (32, 2), (32, 2))  # (filters, stride)

# Relative error allowed between the moving statistics and their float64
# recomputation. Each float32 update rounds at ~6e-8 relative and the
# momentum damps old errors, so a few 1e-7 accumulate (measured: < 3e-7).
# A wrong momentum, a skipped update or the other path's Bessel's correction
# at these batch sizes (n/(n-1) - 1 >= 1/32768 = 3e-5) is off by more.
EMA_TOLERANCE = 1e-5
# Held-out accuracy with moving statistics vs. with batch statistics.
ACCURACY_TOLERANCE = 0.05
# Loose bounds for the first layer's moving statistics against its held-out
# input statistics (measured on several CPUs and seeds: |mean error|/std <=
# 0.05, variance ratio within [0.96, 1.18]); tighter bounds would test the
# training dynamics of one machine, not the layer.
TRACKING_MEAN_ERROR = 0.25
TRACKING_VARIANCE_RATIO = (2.0 / 3.0, 1.5)
TRACKING_MIN_STEPS = 200

Config = collections.namedtuple(
    "Config", ["steps", "batch_size", "fused", "data_format", "seed",
               "log_every"])


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


def _fused_arg(config):
  return {"auto": None, "true": True, "false": False}[config.fused]


def _reduce_axes(config):
  return (0, 2, 3) if config.data_format == "NCHW" else (0, 1, 2)


def build_model(images, training, config):
  """Builds the convnet; returns (logits, the input of each batch norm)."""
  channel_axis = 1 if config.data_format == "NCHW" else -1
  x = images
  if config.data_format == "NCHW":
    x = tf.transpose(x, [0, 3, 1, 2])
  bn_inputs = []
  for index, (filters, stride) in enumerate(CONV_LAYERS):
    in_channels = x.shape[channel_axis]
    with tf.compat.v1.variable_scope("conv%d" % index):
      kernel = tf.compat.v1.get_variable(
          "kernel", [3, 3, in_channels, filters],
          initializer=tf.compat.v1.glorot_uniform_initializer())
      x = tf.nn.conv2d(x, kernel, stride, "SAME",
                       data_format=config.data_format)
    bn_inputs.append(x)
    x = tf_bn_compat.layers.batch_normalization(
        x, axis=channel_axis, momentum=BN_MOMENTUM, training=training,
        fused=_fused_arg(config))
    x = tf.nn.relu(x)
  spatial_axes = [2, 3] if config.data_format == "NCHW" else [1, 2]
  x = tf.reduce_mean(x, axis=spatial_axes)
  with tf.compat.v1.variable_scope("logits"):
    weights = tf.compat.v1.get_variable(
        "kernel", [x.shape[-1], NUM_CLASSES],
        initializer=tf.compat.v1.glorot_uniform_initializer())
    bias = tf.compat.v1.get_variable(
        "bias", [NUM_CLASSES], initializer=tf.compat.v1.zeros_initializer())
  return tf.matmul(x, weights) + bias, bn_inputs


def _input_placeholders():
  images = tf.compat.v1.placeholder(
      tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 1], name="images")
  labels = tf.compat.v1.placeholder(tf.int64, [None], name="labels")
  return images, labels


def _batch_moments_float64(bn_inputs, config):
  """Per layer, the float64 mean and biased variance of its input batch."""
  return [tf.nn.moments(tf.cast(x, tf.float64), _reduce_axes(config))
          for x in bn_inputs]


def _moving_statistics():
  """The (moving_mean, moving_variance) variables of each batch norm layer."""
  variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
  scopes = ["batch_normalization"] + [
      "batch_normalization_%d" % i for i in range(1, len(CONV_LAYERS))]
  return [(variables[s + "/moving_mean"], variables[s + "/moving_variance"])
          for s in scopes]


def _log_progress(step, losses, acc_value, rate, config):
  print("step %5d  loss %.4f  accuracy %.3f  %8.1f examples/s" %
        (step, np.mean(losses[-config.log_every:]), acc_value, rate))


def train(config, eval_images, eval_labels, checkpoint_path):
  """Trains, evaluates and saves; returns a dict of what it measured."""
  train_rng = np.random.RandomState(config.seed)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(config.seed)
    images, labels = _input_placeholders()
    training = tf.compat.v1.placeholder(tf.bool, [], name="training")
    logits, bn_inputs = build_model(images, training, config)
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
    accuracy = tf.reduce_mean(
        tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    learning_rate = tf.compat.v1.train.piecewise_constant(
        global_step, [int(0.6 * config.steps)], [0.05, 0.002])
    with tf.control_dependencies(update_ops):
      train_op = tf.compat.v1.train.MomentumOptimizer(
          learning_rate, 0.9).minimize(loss, global_step=global_step)
    batch_moments = _batch_moments_float64(bn_inputs, config)
    moving = _moving_statistics()
    saver = tf.compat.v1.train.Saver()
    losses, seen_moments = [], []
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      initial_moving = sess.run(moving)
      start, examples = time.time(), 0
      for step in range(1, config.steps + 1):
        batch_images, batch_labels = make_data(config.batch_size, train_rng)
        _, loss_value, acc_value, moments = sess.run(
            [train_op, loss, accuracy, batch_moments],
            {images: batch_images, labels: batch_labels, training: True})
        losses.append(loss_value)
        seen_moments.append(moments)
        examples += config.batch_size
        if step % config.log_every == 0 or step == config.steps:
          _log_progress(step, losses, acc_value,
                        examples / (time.time() - start), config)
          start, examples = time.time(), 0
      eval_feed = {images: eval_images, labels: eval_labels}
      eval_logits, eval_loss, eval_acc, eval_bn_input = sess.run(
          [logits, loss, accuracy, bn_inputs[0]],
          {**eval_feed, training: False})
      batch_stats_acc = sess.run(accuracy,
                                 {**eval_feed, training: True})
      final_moving = sess.run(moving)
      saver.save(sess, checkpoint_path)
  return {
      "losses": losses,
      "batch_moments": seen_moments,
      "initial_moving": initial_moving,
      "moving": final_moving,
      "batch_elements": [_elements_per_channel(x, config) for x in bn_inputs],
      "eval_logits": eval_logits,
      "eval_loss": eval_loss,
      "eval_accuracy": eval_acc,
      "batch_statistics_accuracy": batch_stats_acc,
      "population_mean": eval_bn_input.mean(axis=_reduce_axes(config)),
      "population_variance": eval_bn_input.var(axis=_reduce_axes(config)),
  }


def _elements_per_channel(bn_input, config):
  """Elements per channel of a batch norm's input in a training batch."""
  spatial = [bn_input.shape[a] for a in _reduce_axes(config)[1:]]
  return config.batch_size * int(np.prod(spatial))


def expected_moving_statistics(initial, batch_moments, layer, unbiased_n):
  """Replays a layer's moving-average updates in float64.

  Args:
    initial: (moving_mean, moving_variance) before training.
    batch_moments: Per step, per layer, the (mean, biased variance) of the
      layer's input batch.
    layer: Index of the layer.
    unbiased_n: Elements per channel when the moving variance moves towards
      the unbiased batch variance (the fused path), or None (the composite
      path moves it towards the biased one).

  Returns:
    The (moving_mean, moving_variance) the layer should hold.
  """
  mean, variance = (np.asarray(v, np.float64) for v in initial)
  for step_moments in batch_moments:
    batch_mean, batch_variance = step_moments[layer]
    if unbiased_n is not None:
      batch_variance = batch_variance * unbiased_n / max(unbiased_n - 1, 1)
    mean = mean - (mean - batch_mean) * (1.0 - BN_MOMENTUM)
    variance = variance - (variance - batch_variance) * (1.0 - BN_MOMENTUM)
  return mean, variance


def moving_average_error(result, config):
  """Largest relative error of any layer's moving statistics vs. replay."""
  # 4-D inputs normalized over their channel axis take the fused path unless
  # fused=False.
  fused = config.fused != "false"
  worst = 0.0
  for layer, (mean, variance) in enumerate(result["moving"]):
    n = result["batch_elements"][layer]
    want_mean, want_variance = expected_moving_statistics(
        result["initial_moving"][layer], result["batch_moments"], layer,
        n if fused else None)
    worst = max(worst,
                np.max(np.abs(mean - want_mean) / np.sqrt(want_variance)),
                np.max(np.abs(variance / want_variance - 1.0)))
  return float(worst)


def restore_and_evaluate(eval_images, checkpoint_path, config):
  """Builds the model in a fresh graph, restores it and evaluates.

  The graph is built as in training, with a `training` placeholder fed
  False, so the restored evaluation runs the same ops on the same values.
  """
  with tf.Graph().as_default():
    images, _ = _input_placeholders()
    training = tf.compat.v1.placeholder(tf.bool, [], name="training")
    logits, _ = build_model(images, training, config)
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver().restore(sess, checkpoint_path)
      return sess.run(logits, {images: eval_images, training: False})


def check(result, restored_logits, config):
  """Prints what the run measured; returns the list of failed checks."""
  window = max(1, min(20, config.steps // 5))
  first_loss = float(np.mean(result["losses"][:window]))
  last_loss = float(np.mean(result["losses"][-window:]))
  ema_error = moving_average_error(result, config)
  accuracy_gap = abs(result["eval_accuracy"] -
                     result["batch_statistics_accuracy"])
  mean_error = float(np.max(
      np.abs(result["moving"][0][0] - result["population_mean"]) /
      np.sqrt(result["population_variance"])))
  ratio = result["moving"][0][1] / result["population_variance"]
  restore_diff = float(np.max(np.abs(restored_logits -
                                     result["eval_logits"])))
  print("loss: first %d steps %.4f -> last %d steps %.4f" %
        (window, first_loss, window, last_loss))
  print("moving statistics vs. float64 average of the batch statistics "
        "seen, all layers: max relative error %.2g" % ema_error)
  print("evaluation: loss %.4f  accuracy %.3f (training=False), "
        "%.3f with batch statistics" %
        (result["eval_loss"], result["eval_accuracy"],
         result["batch_statistics_accuracy"]))
  print("first layer moving statistics vs. held-out input statistics: "
        "max |mean error|/std %.3f, variance ratio in [%.3f, %.3f]" %
        (mean_error, ratio.min(), ratio.max()))
  print("checkpoint restored into a fresh graph: max |logit difference| "
        "%g" % restore_diff)
  failures = []
  if not last_loss < 0.7 * first_loss:
    failures.append("loss did not fall")
  if not ema_error < EMA_TOLERANCE:
    failures.append("moving statistics are not the average of the batch "
                    "statistics")
  if not accuracy_gap <= ACCURACY_TOLERANCE:
    failures.append("inference accuracy differs from training-mode accuracy")
  low, high = TRACKING_VARIANCE_RATIO
  if config.steps >= TRACKING_MIN_STEPS and not (
      mean_error < TRACKING_MEAN_ERROR and low < ratio.min() and
      ratio.max() < high):
    failures.append("moving statistics do not track the data")
  if restore_diff != 0.0:
    failures.append("restored evaluation differs")
  return failures


def run(config, model_dir):
  """Trains, checks, saves and restores; returns the failed checks."""
  checkpoint_path = os.path.join(model_dir, "model.ckpt")
  eval_images, eval_labels = make_data(
      EVAL_EXAMPLES, np.random.RandomState(config.seed + 1))
  result = train(config, eval_images, eval_labels, checkpoint_path)
  restored = restore_and_evaluate(eval_images, checkpoint_path, config)
  failures = check(result, restored, config)
  print("checkpoint: %s" % checkpoint_path)
  return failures


def main(argv):
  del argv
  tf.get_logger().setLevel("ERROR")
  config = Config(FLAGS.steps, FLAGS.batch_size, FLAGS.fused,
                  FLAGS.data_format, FLAGS.seed, FLAGS.log_every)
  print("tf_bn_compat %s, TensorFlow %s, fused op backend: %s" %
        (tf_bn_compat.__version__, tf.__version__, _library.backend()))
  print("steps=%d batch_size=%d fused=%s data_format=%s seed=%d" %
        (config.steps, config.batch_size, config.fused, config.data_format,
         config.seed))
  model_dir = FLAGS.model_dir or tempfile.mkdtemp(prefix="tf_bn_compat_demo_")
  failures = run(config, model_dir)
  if failures:
    print("DEMO FAILED: " + "; ".join(failures))
    sys.exit(1)
  print("DEMO OK")


if __name__ == "__main__":
  app.run(main)
