"""TF1's Keras-v1 `tf.compat.v1.keras.layers.BatchNormalization`."""


from tf_bn_compat.keras.layers import base_layer
from tf_bn_compat.layers import batch_norm_core


class BatchNormalization(batch_norm_core.BatchNormalizationMixin,
                         base_layer.Layer):
  r"""Batch normalization as TF1's Keras-v1 layer.

  The normalization is the one of `tf_bn_compat.layers.BatchNormalization`
  (the same pipeline): in training

      y = gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta

  with the batch statistics, in inference with the moving ones, which each
  training call moves: `moving -= (moving - batch_stat) * (1 - momentum)`.
  The fused path (4-D/5-D inputs over the channel axis, no renorm, ghost
  batches or adjustment) runs on this package's op and moves
  `moving_variance` towards the unbiased batch variance
  `var * n / max(n - 1, 1)`; the composite path towards the biased one, as
  TF1's Keras did.

  What differs from `tf.compat.v1.layers.BatchNormalization` is the
  bookkeeping (see `tf_bn_compat.keras.layers.base_layer`): names from the
  name scope, no variable scopes, and the moving-statistics updates are
  only in `layer.updates` / `layer.get_updates_for(inputs)`, never in
  `UPDATE_OPS`. Run them with the train op:

  ```python
    bn = tf_bn_compat.keras.layers.BatchNormalization()
    h = bn(x, training=True)
    ...
    with tf.control_dependencies(bn.get_updates_for(x)):
      train_op = optimizer.minimize(loss)
  ```

  `training=None` (the default) reads the graph's `keras_learning_phase`
  placeholder (default False; the one `tf_bn_compat.layers` reads); it is
  False executing eagerly and inside `tf.function`, where the moving
  statistics are updated in place by each training call. A layer
  made with `trainable=False` reports no updates and no trainable weights
  but still normalizes with batch statistics when training, as TF1's
  Keras-v1 layer did.

  Args:
    axis: An `int` or list of `int`, the axis or axes to normalize.
    momentum: Momentum for the moving average.
    epsilon: Small float added to variance to avoid dividing by zero.
    center: If True, add offset `beta`.
    scale: If True, multiply by `gamma`.
    beta_initializer: Initializer for the beta weight.
    gamma_initializer: Initializer for the gamma weight.
    moving_mean_initializer: Initializer for the moving mean.
    moving_variance_initializer: Initializer for the moving variance.
    beta_regularizer: Optional regularizer for the beta weight.
    gamma_regularizer: Optional regularizer for the gamma weight.
    beta_constraint: Optional projection applied to `beta` by optimizers.
    gamma_constraint: Optional projection applied to `gamma` by optimizers.
    renorm: Whether to use Batch Renormalization (adds `moving_stddev`,
      `renorm_mean` and `renorm_stddev`).
    renorm_clipping: Dict that may map 'rmax', 'rmin', 'dmax' to scalars
      clipping the renorm correction.
    renorm_momentum: Momentum of the renorm moving averages.
    fused: None or True (the same in the Keras-v1 layer) to use the fused
      kernel where it can serve, falling back silently where it cannot;
      False never uses it.
    trainable: Whether the layer reports its trainable weights and updates.
    virtual_batch_size: An `int`: normalize over ghost batches of this size.
    adjustment: Function from the input's dynamic shape to a pair
      (scale, bias) applied to the normalized values in training.
    name: A string, the name of the layer.
    synchronized: If True, in a `tf.distribute` replica context of several
      replicas, training normalizes with the statistics of the global batch
      (Keras 3's argument; TF1's Keras-v1 layer ignored it), as
      `tf_bn_compat.layers.BatchNormalization` does.
    **kwargs: `dtype`, `activity_regularizer`.

  Raises:
    TypeError: if `axis` is not an int or a list of ints.
    ValueError: if `renorm_clipping` has unknown keys.
  """

  def __init__(self,
               axis=-1,
               momentum=0.99,
               epsilon=1e-3,
               center=True,
               scale=True,
               beta_initializer="zeros",
               gamma_initializer="ones",
               moving_mean_initializer="zeros",
               moving_variance_initializer="ones",
               beta_regularizer=None,
               gamma_regularizer=None,
               beta_constraint=None,
               gamma_constraint=None,
               renorm=False,
               renorm_clipping=None,
               renorm_momentum=0.99,
               fused=None,
               trainable=True,
               virtual_batch_size=None,
               adjustment=None,
               name=None,
               synchronized=False,
               **kwargs):
    super().__init__(
        axis=axis, momentum=momentum, epsilon=epsilon, center=center,
        scale=scale, beta_initializer=beta_initializer,
        gamma_initializer=gamma_initializer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        beta_regularizer=beta_regularizer,
        gamma_regularizer=gamma_regularizer,
        beta_constraint=beta_constraint, gamma_constraint=gamma_constraint,
        renorm=renorm, renorm_clipping=renorm_clipping,
        renorm_momentum=renorm_momentum, fused=fused, trainable=trainable,
        virtual_batch_size=virtual_batch_size, adjustment=adjustment,
        name=name, synchronized=synchronized, **kwargs)

  def call(self, inputs, training=None, mask=None):  # pylint: disable=arguments-differ
    """Normalizes `inputs`.

    Args:
      inputs: Input tensor.
      training: Python bool (or 0/1), a scalar bool tensor, or None for the
        graph's `keras_learning_phase` placeholder (default False); None is
        False executing eagerly or inside `tf.function`.
      mask: None, or a bool tensor shaped as `inputs` without the
        normalized axes ([batch, time] for [batch, time, features]): in
        training the batch statistics (and the moving statistics' updates)
        use the True elements only, as Keras 3's layer does; a masked
        training call takes the composite path (TF1's Keras-v1 layer ignored
        the mask on its fused path).

    Returns:
      The normalized tensor, same shape as `inputs`, in the compute dtype.

    Raises:
      ValueError: if `mask` has the wrong rank or shape.
    """
    return super().call(inputs, training=training, mask=mask)
