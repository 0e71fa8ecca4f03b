"""TF1's `tf.compat.v1.layers.BatchNormalization`, rebuilt for modern TF."""

from tf_bn_compat.layers import base
from tf_bn_compat.layers import batch_norm_core
from tf_bn_compat.layers import functional


class BatchNormalization(batch_norm_core.BatchNormalizationMixin, base.Layer):
  r"""Batch Normalization layer from (Ioffe et al., 2015), as in TF1.

  In training the layer normalizes with the statistics of the batch,

      y = gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta,

  and in inference with the moving statistics. Each training call moves them:

      moving_mean -= (moving_mean - mean(x)) * (1 - momentum)
      moving_variance -= (moving_variance - var(x)) * (1 - momentum)

  Bessel's correction follows TF1 on each path: the fused path (4-D/5-D
  inputs normalized over the channel axis) moves `moving_variance` towards
  the unbiased batch variance `var * n / max(n - 1, 1)` that the fused kernel
  reports; the composite path moves it towards the biased variance.

  The moving-statistics updates are not run by the output tensor. Run them
  with the train op through `UPDATE_OPS`:

  ```python
    x_norm = tf_bn_compat.layers.batch_normalization(x, training=training)
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
      train_op = optimizer.minimize(loss)
  ```

  Executing eagerly, or inside `tf.function`, each training call updates the
  moving statistics in place (a layer made with `trainable=False` leaves
  them), nothing goes to `UPDATE_OPS`, and `training=None` means False:

  ```python
    bn = tf_bn_compat.layers.BatchNormalization()
    y = bn(x, training=True)   # bn.moving_mean has moved.
  ```

  Args:
    axis: An `int` or list of `int`, the axis or axes to normalize (the
      features axis). With several axes the variables have the input's rank
      with size 1 in the reduced dimensions.
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
      `renorm_mean` and `renorm_stddev` variables).
    renorm_clipping: Dict that may map 'rmax', 'rmin', 'dmax' to scalars
      clipping the renorm correction.
    renorm_momentum: Momentum of the renorm moving averages.
    fused: None or True to use the fused kernel where it can serve (as TF1,
      True falls back without error where it cannot); False never uses it.
      As in TF1, `layer.fused` reads True for None until the layer is built,
      then whether the fused kernel is used.
    trainable: If True, `gamma` and `beta` are added to
      `TRAINABLE_VARIABLES`.
    virtual_batch_size: An `int`: normalize over ghost batches of this size,
      which must divide the batch size.
    adjustment: Function from the input's dynamic shape to a pair
      (scale, bias) applied to the normalized values in training.
    name: A string, the name of the layer.
    synchronized: If True, in a `tf.distribute` replica context of several
      replicas (replicas of one machine or of several workers), training
      normalizes with the statistics of the global batch (all replicas'
      batches), all-reduced once per call, and gradients carry the
      cross-replica terms: the same results as one device running the
      concatenated batch. Elsewhere the statistics are the local batch's.
      The fused kernel is not used (see `batch_statistics`).
    **kwargs: `dtype` ("float32", "mixed_float16", ...) and the functional
      interface's `_scope` and `_reuse`.

  Raises:
    TypeError: if `axis` is not an int or a list of ints.
    ValueError: if `renorm_clipping` has unknown keys.
  """


batch_normalization = functional.make_functional(
    BatchNormalization, "batch_normalization",
    ["axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
     "gamma_initializer", "moving_mean_initializer",
     "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
     "beta_constraint", "gamma_constraint", "training", "trainable", "name",
     "reuse", "renorm", "renorm_clipping", "renorm_momentum", "fused",
     "virtual_batch_size", "adjustment", "synchronized"],
    """Functional interface for the batch normalization layer, as in TF1.

The moving statistics are updated by ops placed in `UPDATE_OPS`; run them
with the train op, after all batch normalization calls are built:

```python
  x_norm = tf_bn_compat.layers.batch_normalization(x, training=training)
  update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = optimizer.minimize(loss)
```""",
    call_arguments=("training",))

BatchNorm = BatchNormalization
batch_norm = batch_normalization
