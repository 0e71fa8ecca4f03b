"""Batch Renormalization (Ioffe, 2017): the correction r, d.

With batch statistics (mean, stddev) and the renorm moving averages
(renorm_mean, renorm_stddev):

    r = clip(stddev / renorm_stddev, rmin, rmax)
    d = clip((mean - renorm_mean) / renorm_stddev, -dmax, dmax)

The normalized value is corrected as `xhat * r + d`; r and d carry no
gradient. `renorm_stddev` is floored at sqrt(epsilon). Out of training r = 1
and d = 0. The renorm averages move with `renorm_momentum` after r and d have
read them (`MovingStatistics.move_renorm_averages`).
"""

import typing

import tensorflow as tf

from tf_bn_compat.layers import training_flag

CLIPPING_KEYS = ("rmax", "rmin", "dmax")


class Correction(typing.NamedTuple):
  """The renorm correction of a batch, and the statistics it was read with.

  Attributes:
    r: The scale correction (1 out of training).
    d: The shift correction (0 out of training).
    mean: The batch mean, available once r and d have read the averages.
    stddev: The batch stddev sqrt(variance + epsilon), likewise.
  """
  r: tf.Tensor
  d: tf.Tensor
  mean: tf.Tensor
  stddev: tf.Tensor


def correction(mean, variance, renorm_mean, renorm_stddev, epsilon, clipping,
               training):
  """Returns the renorm `Correction` of a batch.

  Args:
    mean: Batch mean.
    variance: Batch variance (biased).
    renorm_mean: The `renorm_mean` moving average.
    renorm_stddev: The `renorm_stddev` moving average.
    epsilon: The layer's epsilon.
    clipping: Dict that may map "rmax", "rmin", "dmax" to scalars.
    training: Python bool or bool tensor.

  Returns:
    `Correction`; its mean and stddev carry control dependencies on r and d,
    so that updates built from them follow the reads of the averages.
  """
  stddev = tf.sqrt(variance + epsilon)
  floor = tf.sqrt(tf.cast(epsilon, renorm_stddev.dtype.base_dtype))
  floored_stddev = tf.maximum(renorm_stddev, floor)
  r = stddev / floored_stddev
  d = (mean - renorm_mean) / floored_stddev
  with tf.control_dependencies([r, d]):
    mean = tf.identity(mean)
    stddev = tf.identity(stddev)
  if clipping.get("rmin") is not None:
    r = tf.maximum(r, clipping["rmin"])
  if clipping.get("rmax") is not None:
    r = tf.minimum(r, clipping["rmax"])
  if clipping.get("dmax") is not None:
    d = tf.minimum(tf.maximum(d, -clipping["dmax"]), clipping["dmax"])
  r = training_flag.smart_cond(training, lambda: r, lambda: tf.ones_like(r))
  d = training_flag.smart_cond(training, lambda: d, lambda: tf.zeros_like(d))
  return Correction(r, d, mean, stddev)
