"""Batch Renormalization (Ioffe, 2017): the correction r, d and its updates.

With batch statistics (mean, stddev) and the renorm moving averages
(renorm_mean, renorm_stddev):

    r = clip(stddev / renorm_stddev, rmin, rmax)
    d = clip((mean - renorm_mean) / renorm_stddev, -dmax, dmax)

The normalized value is corrected as `xhat * r + d`; r and d carry no
gradient. `renorm_stddev` is floored at sqrt(epsilon). Out of training r = 1
and d = 0. The renorm averages move with `renorm_momentum` after r and d have
read them.
"""

import tensorflow as tf

from tf_bn_compat.layers import moving_averages
from tf_bn_compat.layers import training_flag

CLIPPING_KEYS = ("rmax", "rmin", "dmax")


def correction_and_moments(layer, mean, variance, training):
  """Returns (r, d, mean, variance) and moves the renorm averages.

  Args:
    layer: The BatchNormalization layer (its renorm variables, epsilon,
      renorm_clipping and renorm_momentum are read).
    mean: Batch mean.
    variance: Batch variance (biased).
    training: Python bool or bool tensor.

  Returns:
    Tuple (r, d, mean, variance); the returned mean and variance carry
    control dependencies on the renorm updates.
  """
  stddev = tf.sqrt(variance + layer.epsilon)
  floor = tf.sqrt(tf.cast(layer.epsilon, layer.renorm_stddev.dtype.base_dtype))
  renorm_stddev = tf.maximum(layer.renorm_stddev, floor)
  r = stddev / renorm_stddev
  d = (mean - layer.renorm_mean) / renorm_stddev
  # The renorm variables must be read for r and d before they are updated.
  with tf.control_dependencies([r, d]):
    mean = tf.identity(mean)
    stddev = tf.identity(stddev)
  clipping = layer.renorm_clipping
  if clipping.get("rmin") is not None:
    r = tf.maximum(r, clipping["rmin"])
  if clipping.get("rmax") is not None:
    r = tf.minimum(r, clipping["rmax"])
  if clipping.get("dmax") is not None:
    d = tf.minimum(tf.maximum(d, -clipping["dmax"]), clipping["dmax"])
  r = training_flag.smart_cond(training, lambda: r, lambda: tf.ones_like(r))
  d = training_flag.smart_cond(training, lambda: d, lambda: tf.zeros_like(d))

  def update(variable, value):
    value = tf.identity(value)
    return training_flag.smart_cond(
        training,
        lambda: moving_averages.assign_moving_average(
            variable, value, layer.renorm_momentum),
        lambda: tf.identity(variable))

  updated_mean = update(layer.renorm_mean, mean)
  updated_stddev = update(layer.renorm_stddev, stddev)
  with tf.control_dependencies([updated_mean, updated_stddev]):
    return r, d, tf.identity(mean), tf.identity(variance)
