"""The moving statistics of a batch normalization layer and every update.

Each training call moves the moving statistics towards the batch's:

    moving_mean -= (moving_mean - mean) * (1 - momentum)
    moving_variance -= (moving_variance - variance) * (1 - momentum)

With Batch Renormalization the layer tracks `moving_stddev` instead and
derives `moving_variance = relu(moving_stddev**2 - epsilon)` from it, and
moves `renorm_mean` and `renorm_stddev` with `renorm_momentum` in the
forward pass itself, after the correction has read them.

Where the updates go is the layer's `add_update`: recorded (`UPDATE_OPS`,
`layer.updates`) in a TF1 graph, run in place executing eagerly or inside
`tf.function`, and not run there by a frozen layer.
"""

import typing

import tensorflow as tf

from tf_bn_compat.layers import moving_averages
from tf_bn_compat.layers import training_flag


class RenormAverages(typing.NamedTuple):
  """The moving averages that Batch Renormalization adds.

  Attributes:
    moving_stddev: Variable, the moving stddev the variance derives from.
    renorm_mean: Variable, the mean the correction d is taken against.
    renorm_stddev: Variable, the stddev the correction r and d divide by.
    momentum: The layer's `renorm_momentum` (for the last two).
  """
  moving_stddev: tf.Variable
  renorm_mean: tf.Variable
  renorm_stddev: tf.Variable
  momentum: float


class MovingStatistics(object):
  """Updates a layer's moving statistics; the only place that moves them.

  Args:
    mean: The `moving_mean` variable.
    variance: The `moving_variance` variable.
    momentum: The weight kept on the old value at each update.
    epsilon: The layer's epsilon (for the renorm stddev).
    add_update: The layer's `add_update(updates, inputs)`.
    renorm: `RenormAverages`, or None without Batch Renormalization.
  """

  def __init__(self, mean, variance, momentum, epsilon, add_update,
               renorm=None):
    self.mean = mean
    self.variance = variance
    self._momentum = momentum
    self._epsilon = epsilon
    self._add_update = add_update
    self._renorm = renorm

  def add_fused_updates(self, mean, variance, training, inputs):
    """Adds the updates from the fused kernel's batch statistics.

    The kernel's variance is already unbiased. With a `training` tensor the
    momentum is 1 (no move) when it is False.

    Args:
      mean: The batch mean the kernel returned.
      variance: The batch variance the kernel returned.
      training: Python bool or bool tensor; nothing is added when False.
      inputs: The call's inputs, for `get_updates_for`.
    """
    static = training_flag.static_value(training)
    if static is False:
      return

    def make_updates():
      if static is None:
        momentum = training_flag.smart_cond(
            training, lambda: tf.constant(self._momentum),
            lambda: tf.constant(1.0))
      else:
        momentum = tf.convert_to_tensor(self._momentum)
      return [
          moving_averages.assign_moving_average(self.mean, mean, momentum),
          moving_averages.assign_moving_average(self.variance, variance,
                                                momentum)]

    self._add_update(make_updates, inputs)

  def add_updates(self, mean, variance, training, inputs):
    """Adds the updates towards `mean` and (biased) `variance`.

    Args:
      mean: The mean to move towards, broadcastable to the variables.
      variance: The variance to move towards.
      training: Python bool or bool tensor: the updates leave the variables
        as they are when it is False.
      inputs: The call's inputs, for `get_updates_for`.
    """
    self._add_update(
        lambda: [self._mean_update(mean, training),
                 self._variance_update(variance, training)], inputs)

  def observed(self, mean, variance, count):
    """Returns the values to move towards: the moving ones without elements.

    Args:
      mean: The batch mean.
      variance: The batch variance.
      count: The element count of each statistic (`BatchMoments.count`): a
        batch without any element (on any replica, when synchronized) leaves
        the moving statistics.

    Returns:
      Tuple (mean, variance).
    """
    has_elements = tf.reduce_any(count > 0)
    mean = tf.where(has_elements, mean, tf.convert_to_tensor(self.mean))
    variance = tf.where(has_elements, variance,
                        tf.convert_to_tensor(self.variance))
    return mean, variance

  def move_renorm_averages(self, mean, stddev, variance, training):
    """Moves `renorm_mean` and `renorm_stddev` towards the batch's.

    Call it after the renorm correction has read them.

    Args:
      mean: The batch mean.
      stddev: The batch stddev, sqrt(variance + epsilon).
      variance: The batch variance.
      training: Python bool or bool tensor: no move when False.

    Returns:
      Tuple (mean, variance), carrying control dependencies on the updates.
    """
    renorm = self._renorm

    def update(variable, value):
      value = tf.identity(value)
      return training_flag.smart_cond(
          training,
          lambda: moving_averages.assign_moving_average(
              variable, value, renorm.momentum),
          lambda: tf.identity(variable))

    updated_mean = update(renorm.renorm_mean, mean)
    updated_stddev = update(renorm.renorm_stddev, stddev)
    with tf.control_dependencies([updated_mean, updated_stddev]):
      return tf.identity(mean), tf.identity(variance)

  def _mean_update(self, mean, training):
    return training_flag.smart_cond(
        training,
        lambda: moving_averages.assign_moving_average(
            self.mean, mean, self._momentum),
        lambda: self.mean)

  def _variance_update(self, variance, training):

    def renorm_update():
      # Renorm tracks the stddev and derives the variance from it.
      stddev = moving_averages.assign_moving_average(
          self._renorm.moving_stddev, tf.sqrt(variance + self._epsilon),
          self._momentum)
      return moving_averages.assign_new_value(
          self.variance, tf.nn.relu(stddev * stddev - self._epsilon))

    def plain_update():
      return moving_averages.assign_moving_average(
          self.variance, variance, self._momentum)

    return training_flag.smart_cond(
        training,
        plain_update if self._renorm is None else renorm_update,
        lambda: self.variance)
