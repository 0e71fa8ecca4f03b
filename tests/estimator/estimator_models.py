"""A tiny model_fn with TF1 batch normalization, its data and input_fns.

`make_model_fn(est)` builds a model_fn against an Estimator module `est`
(ours, or TF 2.15's native `tf.estimator` in differential tests), so the
same code runs under either. The network is dense(4) -> batch norm ->
ReLU -> dense(2) on rank-2 features: batch norm there is the non-fused
path, whose inference graph has only stock TensorFlow ops (the exported
SavedModel serves without this package).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tf_bn_compat import layers

FEATURES = 3
CLASSES = 2


def native_estimator():
  """TensorFlow's own `tf.estimator` (TF <= 2.15), or None where it has none.

  After `patch_tf()` on TF 2.16+, `tf.estimator` is ours: that is None too.
  """
  from tf_bn_compat import estimator as ours  # pylint: disable=g-import-not-at-top
  native = getattr(tf, "estimator", None)
  if native is None or native is ours or not hasattr(native, "Estimator"):
    return None
  return native


def needs_native():
  """A skip marker for tests that compare with TensorFlow's own Estimator."""
  return pytest.mark.skipif(
      native_estimator() is None,
      reason="TensorFlow %s has no tf.estimator of its own" % tf.__version__)


def make_data(n=64, seed=0):
  """(x float32 [n, 3] with mean ~1 and scale ~2, labels int32 [n])."""
  rng = np.random.RandomState(seed)
  x = (rng.standard_normal((n, FEATURES)) * 2.0 + 1.0).astype(np.float32)
  y = (x[:, 0] + 0.5 * x[:, 1] > 1.5).astype(np.int32)
  return x, y


def make_model_fn(est, update_ops=True, learning_rate=0.1, nan_after=None):
  """A model_fn returning `est.EstimatorSpec`s.

  Args:
    est: The estimator module (`EstimatorSpec`, `ModeKeys`, `export`).
    update_ops: Whether the train op runs the `UPDATE_OPS` (the TF1 idiom);
      False forgets them.
    learning_rate: SGD learning rate.
    nan_after: If set, the loss becomes NaN once the global step reaches it.

  Returns:
    The model_fn(features, labels, mode, params, config).
  """

  def model_fn(features, labels, mode, params, config):
    del params, config
    training = mode == est.ModeKeys.TRAIN
    hidden = layers.dense(features["x"], 4, name="hidden")
    normalized = layers.batch_normalization(hidden, training=training,
                                            name="bn")
    logits = layers.dense(tf.nn.relu(normalized), CLASSES, name="logits")
    probabilities = tf.nn.softmax(logits)
    predictions = {"classes": tf.argmax(logits, axis=1),
                   "probabilities": probabilities, "bn_input": hidden}
    if mode == est.ModeKeys.PREDICT:
      return est.EstimatorSpec(
          mode, predictions=predictions,
          export_outputs={"serving_default": est.export.PredictOutput(
              {"classes": predictions["classes"],
               "probabilities": probabilities})})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    if nan_after is not None:
      step = tf.compat.v1.train.get_global_step()
      loss = tf.where(step >= nan_after, np.float32(np.nan), loss)
    metrics = {
        "accuracy": tf.compat.v1.metrics.accuracy(labels,
                                                  predictions["classes"]),
        "mean_probability": tf.compat.v1.metrics.mean(probabilities[:, 1]),
    }
    if mode == est.ModeKeys.EVAL:
      return est.EstimatorSpec(mode, loss=loss, predictions=predictions,
                               eval_metric_ops=metrics)
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(learning_rate)
    step = tf.compat.v1.train.get_global_step()
    if update_ops:
      with tf.control_dependencies(tf.compat.v1.get_collection(
          tf.compat.v1.GraphKeys.UPDATE_OPS)):
        train_op = optimizer.minimize(loss, global_step=step)
    else:
      train_op = optimizer.minimize(loss, global_step=step)
    return est.EstimatorSpec(mode, loss=loss, train_op=train_op)

  return model_fn


def train_input_fn(x, y, batch_size=8):
  def input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(
        batch_size)
  return input_fn


def eval_input_fn(x, y, batch_size=16):
  def input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(batch_size)
  return input_fn


def predict_input_fn(x, batch_size=16):
  def input_fn():
    return tf.data.Dataset.from_tensor_slices({"x": x}).batch(batch_size)
  return input_fn


def serving_input_receiver_fn(est):
  """Raw serving input: a float32 placeholder "x" [None, 3]."""
  def receiver_fn():
    x = tf.compat.v1.placeholder(tf.float32, [None, FEATURES], name="x")
    return est.export.ServingInputReceiver({"x": x}, {"x": x})
  return receiver_fn


def run_config(est, **kwargs):
  """A quiet, seeded RunConfig that checkpoints every 5 steps."""
  settings = dict(tf_random_seed=7, save_checkpoints_steps=5,
                  save_summary_steps=5, log_step_count_steps=5,
                  keep_checkpoint_max=3)
  settings.update(kwargs)
  return est.RunConfig(**settings)


def event_scalars(directory):
  """{tag: {step: value}} of the scalar summaries in a directory's events."""
  scalars = {}
  for path in tf.io.gfile.glob(os.path.join(directory,
                                           "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField("simple_value"):
          scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars
