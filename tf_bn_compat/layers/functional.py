"""`batch_normalization`: TF1's functional interface to the layer."""

import tensorflow as tf

from tf_bn_compat.layers.normalization import BatchNormalization


def batch_normalization(inputs,
                        axis=-1,
                        momentum=0.99,
                        epsilon=1e-3,
                        center=True,
                        scale=True,
                        beta_initializer=tf.compat.v1.zeros_initializer(),
                        gamma_initializer=tf.compat.v1.ones_initializer(),
                        moving_mean_initializer=tf.compat.v1.zeros_initializer(),
                        moving_variance_initializer=tf.compat.v1.ones_initializer(),
                        beta_regularizer=None,
                        gamma_regularizer=None,
                        beta_constraint=None,
                        gamma_constraint=None,
                        training=False,
                        trainable=True,
                        name=None,
                        reuse=None,
                        renorm=False,
                        renorm_clipping=None,
                        renorm_momentum=0.99,
                        fused=None,
                        virtual_batch_size=None,
                        adjustment=None):
  """Functional interface for the batch normalization layer, as in TF1.

  The moving statistics are updated by ops placed in `UPDATE_OPS`; run them
  with the train op, after all batch normalization calls are built:

  ```python
    x_norm = tf_bn_compat.layers.batch_normalization(x, training=training)
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
      train_op = optimizer.minimize(loss)
  ```

  Args:
    inputs: Tensor input.
    axis: An `int` or list of `int`, the axis or axes to normalize.
    momentum: Momentum for the moving average.
    epsilon: Small float added to variance to avoid dividing by zero.
    center: If True, add offset of `beta`.
    scale: If True, multiply by `gamma`.
    beta_initializer: Initializer for the beta weight.
    gamma_initializer: Initializer for the gamma weight.
    moving_mean_initializer: Initializer for the moving mean.
    moving_variance_initializer: Initializer for the moving variance.
    beta_regularizer: Optional regularizer for the beta weight.
    gamma_regularizer: Optional regularizer for the gamma weight.
    beta_constraint: Optional projection applied to `beta` by optimizers.
    gamma_constraint: Optional projection applied to `gamma` by optimizers.
    training: Python bool or scalar bool tensor (e.g. a placeholder): use
      batch statistics and update the moving ones.
    trainable: If True, add `gamma`/`beta` to `TRAINABLE_VARIABLES`.
    name: String, the name of the layer and of its variable scope.
    reuse: Whether to reuse the variables of a previous layer of the same
      name.
    renorm: Whether to use Batch Renormalization.
    renorm_clipping: Dict that may map 'rmax', 'rmin', 'dmax' to scalars.
    renorm_momentum: Momentum of the renorm moving averages.
    fused: None/True to use the fused kernel where it can serve, False never.
    virtual_batch_size: An `int`: ghost batch size dividing the batch size.
    adjustment: Function from the input's dynamic shape to (scale, bias)
      applied to the normalized values in training.

  Returns:
    Output tensor.

  Raises:
    ValueError: for invalid arguments or input shapes, as the layer does.
  """
  layer = BatchNormalization(
      axis=axis,
      momentum=momentum,
      epsilon=epsilon,
      center=center,
      scale=scale,
      beta_initializer=beta_initializer,
      gamma_initializer=gamma_initializer,
      moving_mean_initializer=moving_mean_initializer,
      moving_variance_initializer=moving_variance_initializer,
      beta_regularizer=beta_regularizer,
      gamma_regularizer=gamma_regularizer,
      beta_constraint=beta_constraint,
      gamma_constraint=gamma_constraint,
      renorm=renorm,
      renorm_clipping=renorm_clipping,
      renorm_momentum=renorm_momentum,
      fused=fused,
      trainable=trainable,
      virtual_batch_size=virtual_batch_size,
      adjustment=adjustment,
      name=name,
      _reuse=reuse,
      _scope=name)
  return layer(inputs, training=training)
