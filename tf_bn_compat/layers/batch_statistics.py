"""Batch statistics of a batch normalization layer, local or across replicas.

`moments` is the one place where a layer's batch mean and variance come from.
Without synchronization it is `tf.nn.moments`, unchanged. With
`synchronized=True` inside a `tf.distribute` replica context of more than one
replica, the statistics are those of the global batch (all replicas' batches
concatenated), from one all-reduce per call:

1. Each replica computes, per statistic, its element count n, its float32
   mean p and the sums around it, r = sum(x - p) and M = sum((x - p)**2).
   Near p, x - p is exact in float32, so r and M carry rounding relative to
   themselves only, at any mean/stddev ratio.
2. In float64 it forms its sum S = n p + r and sum of squares
   Q = M + 2 p r + n p**2 and all-reduces (n, S, Q) as ONE packed float64
   vector of 2C + 1 values (C statistics; with ghost batches, per ghost
   batch; 3C with a mask, which gives each statistic its own n).
3. The global mean is S / N and the variance Q / N - (S / N)**2, in float64,
   cast back to the input's dtype.

Why float64: `Q / N - (S / N)**2` cancels, losing `eps * (mean / stddev)**2`
relative accuracy. In float32 that is all of it at mean 1e4, stddev 1; in
float64 it is 2e-8 there, and it stays below the float32 input's own
resolution (`eps32 * mean / stddev`, the error any float32 batch norm makes in
the mean) up to mean/stddev ~1e9, where a float32 input no longer resolves
its stddev at all. Why r: p is off the exact mean by up to half a float32 ulp
(5e-4 at 1e4); taking n p as the sum would carry that error linearly into the
spread of the replicas' means, i.e. into the variance (2e-4 relative at mean
1e4 with batches of 3 and 5, measured). Why not a shift shared by all
replicas, such as the moving mean: every replica would have to read the same
value of a variable that the same step may be updating (a layer called twice
per step races with its own update), and it is far from the data in the first
steps, exactly when the mean is large.

Gradients: the global moments depend on every replica's inputs, so the
backward all-reduces the upstream gradients of mean and variance (one packed
vector of 2C values). For a normalized output these are the per-channel sums
`-gamma / sigma * sum(dy)` and `-gamma / (2 sigma**3) * sum(dy * (x - mean))`,
i.e. the sums of dy and dy * xhat up to factors every replica shares. Then
`dx = (G_mean + 2 * G_variance * (x - mean)) / N`.

Only the statistics change: normalization, renorm, adjustment and the
moving-average updates run on them unchanged, so the global statistics reach
the moving averages of every replica, identically.

The local sums (n, S, Q) come from `_local_sums`, the only function that
looks at the elements. A mask changes that function only (sums over the
unmasked elements, n their count per statistic) and, in the backward, gives
masked elements no gradient through the statistics.
"""

import typing

import tensorflow as tf


def moving_statistics_aggregation(synchronized):
  """Returns the `tf.VariableAggregation` of a layer's moving statistics.

  Args:
    synchronized: The layer's `synchronized` argument.

  The moving statistics are ON_READ variables: each replica updates its own
  copy, which works inside `tf.cond` (a mirrored variable's update would need
  a merge_call there). A synchronized layer moves every copy with the same
  global statistics, so reads and saves can take the first replica's copy
  without an all-reduce: a chief that saves alone does not wait for the other
  workers (with MEAN, reading for the save all-reduces across the workers: a
  chief that saves alone waits forever for workers that have finished).

  Returns:
    ONLY_FIRST_REPLICA for a synchronized layer, else MEAN (TF1's choice:
    the copies differ and are averaged when read).
  """
  if synchronized:
    return tf.VariableAggregation.ONLY_FIRST_REPLICA
  return tf.VariableAggregation.MEAN


def synchronization_context(synchronized):
  """Returns the replica context to synchronize statistics over, or None.

  Args:
    synchronized: The layer's `synchronized` argument.

  Returns:
    The current `tf.distribute.ReplicaContext` when `synchronized` is True and
    the code runs in a replica context of more than one replica; None
    otherwise (no strategy, one replica, or cross-replica context), where the
    statistics are the local batch's.
  """
  if not synchronized:
    return None
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync <= 1:
    return None
  return context


class BatchMoments(typing.NamedTuple):
  """A batch's statistics, one per normalized index (and ghost batch).

  Attributes:
    mean: The batch mean.
    variance: The biased batch variance.
    count: The number of elements behind each statistic (of the global batch
      when synchronized), broadcastable to the statistics with the reduced
      axes kept; None for a local batch without mask, where it is the
      product of the reduced dimensions.
  """
  mean: tf.Tensor
  variance: tf.Tensor
  count: typing.Optional[tf.Tensor]


def moments(inputs, axes, keepdims=False, *, synchronized=False, mask=None):
  """Returns the `BatchMoments` of `inputs` over `axes`.

  Options beyond the reduction itself are keyword-only, so that more can be
  added without touching the callers.

  Args:
    inputs: Floating tensor (float32 for half-precision layers).
    axes: List of the axes to reduce; the other axes (channels and, with
      ghost batches, the ghost-batch axis) keep one statistic per index.
    keepdims: Whether the reduced axes are kept with size 1.
    synchronized: Whether to compute the statistics of the global batch when
      running in a replica context of several replicas.
    mask: None, or a bool tensor of `inputs`' shape: the statistics are
      those of the True elements only (see `_masked_moments`), across
      replicas too when synchronized.

  Returns:
    `BatchMoments` of `inputs`' dtype.
  """
  return moments_function(axes, keepdims, synchronized)(inputs, mask)


def moments_function(axes, keepdims, synchronized):
  """Returns the statistics function of a built layer.

  Chosen once, at build: the local batch's statistics (plain, or of the
  True elements of a mask), or, for a synchronized layer, those of the
  global batch whenever it runs in a replica context of several replicas.
  Ghost batches are a matter of `axes`: the ghost-batch axis is not reduced.

  Args:
    axes: The reduced axes (`BatchLayout.reduction_axes`).
    keepdims: Whether the statistics keep the reduced axes.
    synchronized: The layer's `synchronized` argument.

  Returns:
    A function `(inputs, mask=None) -> BatchMoments`.
  """

  def shaped(mean, variance, count):
    if not keepdims:
      mean = tf.squeeze(mean, axes)
      variance = tf.squeeze(variance, axes)
    return BatchMoments(mean, variance, count)

  def local_moments(inputs, mask=None):
    if mask is not None:
      return shaped(*_masked_moments(inputs, axes, mask))
    return shaped(*tf.nn.moments(inputs, axes, keepdims=True), None)

  def synchronized_moments(inputs, mask=None):
    context = synchronization_context(True)
    if context is None:
      return local_moments(inputs, mask)
    with tf.compat.v1.name_scope("synchronized_moments"):
      statistics = _global_moments(context, inputs, axes, mask)
    return shaped(*statistics)

  return synchronized_moments if synchronized else local_moments


def _masked_moments(inputs, axes, mask):
  """The mean, biased variance and count of the elements where `mask`.

  With n the number of True elements per statistic (Keras 3's masked
  moments, which divide by n + 1e-7):

      mean = sum(where(mask, x, 0)) / max(n, 1)
      variance = sum(where(mask, x - mean, 0)**2) / max(n, 1)

  A statistic without any True element is 0 (mean and variance), finite.
  Masked elements take no part, even when they are inf or NaN. The reduced
  axes are kept.
  """
  with tf.compat.v1.name_scope("masked_moments"):
    count = tf.reduce_sum(tf.cast(mask, inputs.dtype), axes, keepdims=True)
    mean, deviations = _masked_mean(inputs, axes, mask, count)
    variance = tf.reduce_sum(tf.square(deviations), axes,
                             keepdims=True) / tf.maximum(count, 1.0)
    return mean, variance, count


def _masked_mean(inputs, axes, mask, count):
  """The mean of the elements where `mask`, and their deviations from it.

  The deviations are 0 where `mask` is False, whatever the input there.
  """
  zeros = tf.zeros_like(inputs)
  mean = tf.reduce_sum(tf.where(mask, inputs, zeros), axes,
                       keepdims=True) / tf.maximum(count, 1.0)
  return mean, tf.where(mask, inputs - mean, zeros)


def _local_sums(inputs, axes, mask=None):
  """Returns this replica's float64 (count, sum, sum of squares).

  Args:
    inputs: The layer's input (float32 or float64).
    axes: The reduced axes; they are kept with size 1.
    mask: None, or a bool tensor of `inputs`' shape: only its True elements
      are counted and summed.

  Returns:
    Tuple (n, S, Q), S and Q shaped as the statistics; n a scalar (2C + 1
    values to reduce), or shaped as the statistics with a mask (3C).
  """
  if mask is None:
    pivot = tf.reduce_mean(inputs, axes, keepdims=True)
    deviations = inputs - pivot
    count = tf.reduce_prod(tf.gather(tf.shape(inputs), axes))
  else:
    count = tf.reduce_sum(tf.cast(mask, inputs.dtype), axes, keepdims=True)
    pivot, deviations = _masked_mean(inputs, axes, mask, count)
  first = tf.cast(tf.reduce_sum(deviations, axes, keepdims=True), tf.float64)
  second = tf.cast(tf.reduce_sum(tf.square(deviations), axes, keepdims=True),
                   tf.float64)
  count = tf.cast(count, tf.float64)
  pivot = tf.cast(pivot, tf.float64)
  sums = count * pivot + first
  squares = second + 2.0 * pivot * first + count * tf.square(pivot)
  return count, sums, squares


def _global_moments(context, inputs, axes, mask=None):
  """Returns the global batch's (mean, variance, count), reduced axes kept."""
  count, sums, squares = _local_sums(tf.stop_gradient(inputs), axes, mask)
  totals = tf.stop_gradient(
      _all_reduce_sum(context, [count, sums, squares], "forward"))
  strategy = context.strategy
  num_replicas = context.num_replicas_in_sync

  total_count, total_sums, total_squares = _unpack(
      totals, [count, sums, squares])
  # Without any element (all masked), mean and variance are 0, as locally.
  divisor = tf.maximum(total_count, 1.0)

  @tf.custom_gradient
  def global_moments(x):
    global_mean = total_sums / divisor
    global_variance = tf.maximum(
        total_squares / divisor - tf.square(global_mean), 0.0)
    global_mean = tf.cast(global_mean, x.dtype)
    global_variance = tf.cast(global_variance, x.dtype)
    n = tf.cast(divisor, x.dtype)

    def grad(d_mean, d_variance):
      backward_context = _backward_context(strategy, num_replicas)
      d_mean = _zeros_if_none(d_mean, global_mean)
      d_variance = _zeros_if_none(d_variance, global_variance)
      g_mean, g_variance = _unpack(
          _all_reduce_sum(backward_context, [d_mean, d_variance], "backward"),
          [d_mean, d_variance])
      d_x = (g_mean + 2.0 * g_variance * (x - global_mean)) / n
      if mask is not None:
        d_x = tf.where(mask, d_x, tf.zeros_like(d_x))
      return d_x

    return (global_mean, global_variance), grad

  mean, variance = global_moments(inputs)
  return mean, variance, tf.cast(total_count, inputs.dtype)


def _backward_context(strategy, num_replicas):
  """Returns the replica context for the backward all-reduce, or raises."""
  context = tf.distribute.get_replica_context()
  if (context is None or context.strategy is not strategy or
      context.num_replicas_in_sync != num_replicas):
    raise RuntimeError(
        "The gradient of a synchronized batch normalization must be taken in "
        "the replica function that built the layer's forward pass (inside "
        "`strategy.run` / `strategy.extended.call_for_each_replica`, e.g. "
        "`optimizer.minimize(loss)` or `tf.gradients` there), because its "
        "backward pass all-reduces across the replicas; it was requested in "
        "%s." % ("cross-replica context" if context is None else
                 "another distribution context"))
  return context


def _zeros_if_none(gradient, like):
  return tf.zeros_like(like) if gradient is None else gradient


def _all_reduce_sum(context, tensors, name):
  """Sums `tensors` (one dtype) over all replicas in ONE packed all-reduce.

  `merge_call` with `batch_reduce_to` is used rather than
  `ReplicaContext.all_reduce`, whose own custom gradient fails to build when
  the reduced value depends on mirrored variables; the gradients of the
  statistics are defined above instead.
  """
  with tf.compat.v1.name_scope("all_reduce_" + name):
    packed = tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)

    def merge(strategy, value):
      return strategy.extended.batch_reduce_to(
          tf.distribute.ReduceOp.SUM, [(value, value)])[0]

    return context.merge_call(merge, args=(packed,))


def _unpack(packed, like):
  """Splits a packed vector into tensors shaped as the tensors in `like`."""
  sizes = [tf.size(t) for t in like]
  parts = tf.split(packed, tf.stack(sizes), num=len(like))
  return [tf.reshape(part, tf.shape(t)) for part, t in zip(parts, like)]
