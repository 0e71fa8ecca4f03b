"""The stages of batch normalization, each on its own.

The layout of the statistics (`batch_layout`), the batch statistics
(`batch_statistics.moments_function`) against a float64 numpy reference,
renorm's correction, the normalization (`normalize`), the path decision
(`fused_decision.decide`) and the moving-statistics updates
(`moving_statistics`) in a TF1 graph and eagerly; and the layers' public
`axis` and `fused` against TF1's before and after build.
"""

import numpy as np
import pytest
import tensorflow as tf

import parity
from tf_bn_compat import keras as tf_bn_keras
from tf_bn_compat import layers as tf_bn_layers
from tf_bn_compat.layers import batch_layout
from tf_bn_compat.layers import batch_statistics
from tf_bn_compat.layers import fused_decision
from tf_bn_compat.layers import moving_statistics
from tf_bn_compat.layers import normalize
from tf_bn_compat.layers import renorm

TOL = dict(rtol=1e-5, atol=1e-5)


def _data(shape, seed=0, mean=3.0):
  rng = np.random.RandomState(seed)
  return (rng.standard_normal(shape) * 2.0 + mean).astype(np.float32)


def _reference_moments(x, axes, mask=None):
  """float64 mean, biased variance and count over `axes`, axes kept."""
  x = x.astype(np.float64)
  weights = np.ones_like(x) if mask is None else mask.astype(np.float64)
  count = weights.sum(axis=tuple(axes), keepdims=True)
  mean = (x * weights).sum(axis=tuple(axes), keepdims=True) / np.maximum(
      count, 1.0)
  variance = (weights * (x - mean) ** 2).sum(
      axis=tuple(axes), keepdims=True) / np.maximum(count, 1.0)
  return mean, variance, count


# Layout: (axis, input shape, virtual_batch_size) -> what follows from them.
LAYOUTS = [
    # axis, shape, vbs, axes, reduction axes, param shape, keepdims
    (-1, (4, 3, 3, 2), None, [3], [0, 1, 2], [2], False),
    (1, (4, 3, 3, 2), None, [1], [0, 2, 3], [3], False),
    ([1, 3], (4, 3, 3, 2), None, [1, 3], [0, 2], [1, 3, 1, 2], True),
    (-1, (8, 3), 4, [2], [0], [1, 1, 3], True),
    ([1, 3], (8, 3, 3, 2), 2, [2, 4], [0, 3], [1, 1, 3, 1, 2], True),
]


@pytest.mark.parametrize(
    "axis,shape,vbs,axes,reduction_axes,param_shape,keepdims", LAYOUTS)
def test_layout(axis, shape, vbs, axes, reduction_axes, param_shape,
                keepdims):
  input_axes = batch_layout.validate_axis(axis, len(shape))
  layout = batch_layout.BatchLayout(
      input_axes, batch_layout.normalized_sizes(input_axes, shape),
      len(shape), vbs)
  assert layout.input_axes == input_axes
  assert layout.axes == axes
  assert layout.reduction_axes == reduction_axes
  assert layout.param_shape == param_shape
  assert layout.keepdims is keepdims


@pytest.mark.parametrize("axis,rank,message", [
    (4, 4, "out of range"),
    ([1, -3], 4, "same dimension twice"),
    (0, 0, "scalar"),
    (0, None, "known rank"),
])
def test_validate_axis_errors(axis, rank, message):
  with pytest.raises(ValueError, match=message):
    batch_layout.validate_axis(axis, rank)


@pytest.mark.parametrize("size,axes,adjustment,message", [
    (0, [1], None, "positive integer"),
    (2, [0, 1], None, "batch axis 0"),
    (2, [1], lambda shape: (1.0, 0.0), "adjustment"),
])
def test_virtual_batch_size_errors(size, axes, adjustment, message):
  with pytest.raises(ValueError, match=message):
    batch_layout.validate_virtual_batch_size(size, axes, adjustment)
  batch_layout.validate_virtual_batch_size(2, [1], None)


def test_unknown_normalized_size_is_value_error():
  with pytest.raises(ValueError, match="must be known"):
    batch_layout.normalized_sizes([1], [4, None, 3])


@pytest.mark.eager_context
def test_layout_split_merge_and_ghost_average():
  layout = batch_layout.BatchLayout([3], {3: 2}, 4, virtual_batch_size=2)
  x = _data([6, 3, 1, 2])
  mask = tf.constant(np.arange(36).reshape([6, 3, 1, 2]) % 5 > 0)
  split, split_mask, restore = layout.split(tf.constant(x), mask, True)
  assert split.shape.as_list() == [2, 3, 3, 1, 2]
  np.testing.assert_array_equal(split.numpy(), x.reshape([2, 3, 3, 1, 2]))
  np.testing.assert_array_equal(split_mask.numpy(),
                                mask.numpy().reshape([2, 3, 3, 1, 2]))
  np.testing.assert_array_equal(layout.merge(split, restore).numpy(), x)
  per_ghost = tf.constant(_data([2, 3, 1, 1, 2], seed=1))
  np.testing.assert_allclose(
      layout.ghost_average(per_ghost).numpy(),
      per_ghost.numpy().mean(axis=1, keepdims=True), **TOL)
  plain = batch_layout.BatchLayout([3], {3: 2}, 4)
  assert plain.split(tf.constant(x), None, True)[2] is None
  assert plain.ghost_average(per_ghost) is per_ghost


@pytest.mark.eager_context
def test_layout_broadcast_reshapes_only_a_channel_axis_not_last():
  first = batch_layout.BatchLayout([1], {1: 3}, 4)
  assert first.broadcast(tf.ones([3])).shape.as_list() == [1, 3, 1, 1]
  last = batch_layout.BatchLayout([3], {3: 3}, 4)
  assert last.broadcast(tf.ones([3])).shape.as_list() == [3]
  assert first.broadcast(None) is None


@pytest.mark.eager_context
def test_layout_expand_mask():
  layout = batch_layout.BatchLayout([2], {2: 3}, 3)
  x = tf.zeros([2, 4, 3])
  mask = layout.expand_mask([[1, 0, 1, 1], [0, 0, 1, 0]], x)
  assert mask.dtype == tf.bool and mask.shape.as_list() == [2, 4, 3]
  assert mask.numpy()[0, :, 0].tolist() == [True, False, True, True]
  with pytest.raises(ValueError, match="rank of the input"):
    layout.expand_mask(tf.ones([2], tf.bool), x)
  with pytest.raises(ValueError, match="does not broadcast"):
    layout.expand_mask(tf.ones([2, 5], tf.bool), x)


# Statistics: (input shape, axis, virtual_batch_size, masked).
MOMENTS_CASES = [
    ((16, 3), -1, None, False),
    ((4, 3, 3, 2), 1, None, False),
    ((4, 3, 3, 2), [1, 3], None, False),
    ((8, 5, 3), -1, None, True),
    ((8, 3), -1, 4, False),
    ((8, 3, 3, 2), 1, 2, False),
    ((8, 5, 3), -1, 2, True),
]


@pytest.mark.eager_context
@pytest.mark.parametrize("synchronized", [False, True])
@pytest.mark.parametrize("shape,axis,vbs,masked", MOMENTS_CASES)
def test_moments_function_matches_float64(shape, axis, vbs, masked,
                                          synchronized):
  input_axes = batch_layout.validate_axis(axis, len(shape))
  layout = batch_layout.BatchLayout(
      input_axes, batch_layout.normalized_sizes(input_axes, shape),
      len(shape), vbs)
  x = _data(shape, mean=1e3)
  mask = None
  if masked:
    mask = np.random.RandomState(1).uniform(size=shape[:-1]) > 0.3
    mask[-1] = False  # A row without any element.
    mask = np.broadcast_to(mask[..., None], shape)
  split, split_mask, _ = layout.split(
      tf.constant(x), None if mask is None else tf.constant(mask), True)
  moments = batch_statistics.moments_function(
      layout.reduction_axes, layout.keepdims, synchronized)
  batch = moments(split, split_mask)
  assert isinstance(batch, batch_statistics.BatchMoments)
  split_x = split.numpy()
  split_m = None if mask is None else split_mask.numpy()
  mean, variance, count = _reference_moments(split_x, layout.reduction_axes,
                                             split_m)
  if not layout.keepdims:
    mean, variance = (np.squeeze(v, tuple(layout.reduction_axes))
                      for v in (mean, variance))
  assert batch.mean.shape.as_list() == list(mean.shape)
  np.testing.assert_allclose(batch.mean.numpy(), mean, rtol=1e-6)
  np.testing.assert_allclose(batch.variance.numpy(), variance, rtol=1e-3,
                             atol=1e-3)
  if masked:
    np.testing.assert_array_equal(batch.count.numpy(), count)
  else:
    assert batch.count is None


@pytest.mark.eager_context
@pytest.mark.parametrize("training", [True, False])
def test_renorm_correction_matches_numpy(training):
  mean = np.array([1.0, -2.0, 0.5], np.float32)
  variance = np.array([4.0, 0.25, 1.0], np.float32)
  renorm_mean = tf.Variable([0.5, 0.0, 0.5])
  renorm_stddev = tf.Variable([1.0, 2.0, 1e-6])
  clipping = {"rmax": 1.5, "rmin": 0.5, "dmax": 1.0}
  result = renorm.correction(tf.constant(mean), tf.constant(variance),
                             renorm_mean, renorm_stddev, 1e-3, clipping,
                             tf.constant(training))
  stddev = np.sqrt(variance.astype(np.float64) + 1e-3)
  floored = np.maximum(renorm_stddev.numpy(), np.sqrt(1e-3))
  r = np.clip(stddev / floored, 0.5, 1.5)
  d = np.clip((mean - renorm_mean.numpy()) / floored, -1.0, 1.0)
  if not training:
    r, d = np.ones(3), np.zeros(3)
  np.testing.assert_allclose(result.r.numpy(), r, **TOL)
  np.testing.assert_allclose(result.d.numpy(), d, **TOL)
  np.testing.assert_allclose(result.stddev.numpy(), stddev, **TOL)
  np.testing.assert_allclose(result.mean.numpy(), mean, **TOL)


@pytest.mark.eager_context
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_composite_normalization_matches_numpy(dtype):
  x = _data([5, 3]).astype(dtype)
  mean, variance = np.array([3.0, 2.0, 4.0]), np.array([4.0, 1.0, 9.0])
  scale, offset = np.array([2.0, 0.5, 1.0]), np.array([0.0, 1.0, -1.0])
  inputs = normalize.computation_input(tf.constant(x))
  assert inputs.dtype == tf.float32
  y = normalize.composite(
      inputs, tf.constant(mean, tf.float32), tf.constant(variance, tf.float32),
      tf.constant(offset, tf.float32), tf.constant(scale, tf.float32), 1e-3,
      lambda value: value, dtype)
  assert y.dtype == dtype
  want = scale * (x.astype(np.float64) - mean) / np.sqrt(variance + 1e-3) + (
      offset)
  tol = TOL if dtype == "float32" else dict(rtol=1e-2, atol=1e-2)
  np.testing.assert_allclose(y.numpy().astype(np.float64), want, **tol)


@pytest.mark.eager_context
def test_compose_is_the_outer_map_after_the_inner():
  x = tf.constant([1.0, -2.0])
  scale, offset = tf.constant([2.0, 3.0]), tf.constant([0.5, 1.0])
  outer_scale, outer_offset = tf.constant([-1.0, 4.0]), tf.constant([2.0, 0.0])
  s, o = normalize.compose(scale, offset, outer_scale, outer_offset)
  np.testing.assert_allclose(
      (x * s + o).numpy(),
      ((x * scale + offset) * outer_scale + outer_offset).numpy())
  s, o = normalize.compose(scale, offset, None, None)
  np.testing.assert_allclose((x * s + o).numpy(), (x * scale + offset).numpy())


@pytest.mark.parametrize("requested,rank,axis,renorm_on,want", [
    (None, 4, [3], False, (True, "NHWC", None)),
    (True, 5, [1], False, (True, "NCDHW", None)),
    (False, 4, [3], False, (False, None, None)),
    (True, 2, [1], False, (False, None, "input rank 2 is not 4 or 5")),
    (None, 4, [3], True, (False, None, "renorm=True")),
])
def test_fused_decision(requested, rank, axis, renorm_on, want):
  path = fused_decision.decide(requested, rank, axis, renorm_on, None, None,
                               "float32")
  assert tuple(path) == want


def _recorder():
  """An `add_update` that builds the updates and keeps them, as TF1 graphs."""
  recorded = []

  def add_update(updates, inputs=None):
    del inputs
    for update in tf.nest.flatten(updates):
      recorded.extend(tf.nest.flatten(update() if callable(update) else update))

  return add_update, recorded


def _moved(old, value, momentum):
  return old - (old - value) * (1.0 - momentum)


@pytest.mark.parametrize("fused_path", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_moving_statistics_updates_in_a_graph(graph_mode, fused_path,
                                              training):
  del graph_mode
  with tf.Graph().as_default():
    mean = tf.Variable([1.0, 2.0])
    variance = tf.Variable([1.0, 4.0])
    add_update, recorded = _recorder()
    statistics = moving_statistics.MovingStatistics(mean, variance, 0.9, 1e-3,
                                                    add_update)
    flag = tf.compat.v1.placeholder(tf.bool, [])
    batch_mean, batch_variance = tf.constant([3.0, 0.0]), tf.constant([2.0, 2.0])
    if fused_path:
      statistics.add_fused_updates(batch_mean, batch_variance, flag, None)
    else:
      statistics.add_updates(batch_mean, batch_variance, flag, None)
    assert len(recorded) == 2
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      session.run(recorded, {flag: training})
      got_mean, got_variance = session.run([mean, variance])
  want_mean = _moved(np.array([1.0, 2.0]), [3.0, 0.0], 0.9 if training else 1)
  want_variance = _moved(np.array([1.0, 4.0]), [2.0, 2.0],
                         0.9 if training else 1)
  np.testing.assert_allclose(got_mean, want_mean, **TOL)
  np.testing.assert_allclose(got_variance, want_variance, **TOL)


@pytest.mark.eager_context
def test_moving_statistics_eager_with_renorm_and_no_elements():
  mean, variance = tf.Variable([0.0, 1.0]), tf.Variable([1.0, 1.0])
  averages = moving_statistics.RenormAverages(
      tf.Variable([1.0, 1.0]), tf.Variable([0.0, 0.0]), tf.Variable([1.0, 1.0]),
      0.5)
  add_update, recorded = _recorder()
  statistics = moving_statistics.MovingStatistics(
      mean, variance, 0.75, 1e-3, add_update, renorm=averages)
  batch_mean, batch_variance = tf.constant([2.0, 3.0]), tf.constant([4.0, 9.0])
  kept = statistics.observed(batch_mean, batch_variance, tf.constant([0.0]))
  np.testing.assert_allclose(kept[0].numpy(), [0.0, 1.0])
  np.testing.assert_allclose(kept[1].numpy(), [1.0, 1.0])
  taken = statistics.observed(batch_mean, batch_variance, tf.constant([2.0]))
  np.testing.assert_allclose(taken[0].numpy(), [2.0, 3.0])
  stddev = tf.sqrt(batch_variance + 1e-3)
  statistics.move_renorm_averages(batch_mean, stddev, batch_variance, True)
  np.testing.assert_allclose(averages.renorm_mean.numpy(),
                             _moved(np.zeros(2), [2.0, 3.0], 0.5), **TOL)
  np.testing.assert_allclose(averages.renorm_stddev.numpy(),
                             _moved(np.ones(2), stddev.numpy(), 0.5), **TOL)
  statistics.add_updates(batch_mean, batch_variance, True, None)
  assert len(recorded) == 2  # Eagerly they ran while being built.
  want_stddev = _moved(np.ones(2), np.sqrt([4.001, 9.001]), 0.75)
  np.testing.assert_allclose(averages.moving_stddev.numpy(), want_stddev,
                             **TOL)
  np.testing.assert_allclose(variance.numpy(),
                             np.maximum(want_stddev ** 2 - 1e-3, 0), **TOL)
  np.testing.assert_allclose(mean.numpy(), _moved(np.array([0.0, 1.0]),
                                                  [2.0, 3.0], 0.75), **TOL)


def _keras_reference_class():
  if parity.TF_VERSION >= (2, 16):
    from tf_keras.src.layers.normalization import batch_normalization_v1  # pylint: disable=g-import-not-at-top
    return batch_normalization_v1.BatchNormalization
  return tf.compat.v1.keras.layers.BatchNormalization


ATTRIBUTE_CASES = [
    ((4, 3, 3, 2), {}),
    ((4, 3), {}),
    ((4, 3, 3, 2), {"fused": False}),
    ((4, 3, 3, 2), {"axis": 1, "fused": True}),
    ((4, 3), {"fused": True}),
    ((4, 3, 3, 2), {"axis": [1, -1]}),
    ((8, 3, 3, 2), {"virtual_batch_size": 2}),
    ((8, 3), {"virtual_batch_size": 4, "axis": 1}),
    ((4, 3), {"renorm": True}),
]


@pytest.mark.parametrize("family", ["layers", "keras"])
@pytest.mark.parametrize("shape,config", ATTRIBUTE_CASES)
def test_axis_and_fused_read_as_tf1s(graph_mode, family, shape, config):
  """`axis` and `fused` read as TF1's layer's, before and after build."""
  del graph_mode
  if family == "layers":
    classes = (parity.reference_module().BatchNormalization,
               tf_bn_layers.BatchNormalization)
  else:
    classes = (_keras_reference_class(), tf_bn_keras.layers.BatchNormalization)
  seen = []
  for cls in classes:
    with tf.Graph().as_default():
      layer = cls(**config)
      before = (layer.fused, layer.axis)
      layer(tf.compat.v1.placeholder(tf.float32, shape), training=True)
      seen.append((before, layer.fused, list(layer.axis)))
  reference, ours = seen
  assert ours == reference
