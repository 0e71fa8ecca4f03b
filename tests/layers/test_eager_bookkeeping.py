"""What the TF1 layers record eagerly and inside `tf.function`, against TF1's.

Eager counterparts of the graph-mode bookkeeping: layer and variable-scope
naming, variables created once (a `tf.function`'s retrace creates none),
custom getters, updates run in place and not recorded, losses (weight
regularizers recomputed at each read, activity losses of the last call),
`training=None`, Dropout's seeded masks, the fused op, the functional forms
and errors. The reference is TF1's own layers called eagerly (tf_keras'
legacy layers on TF 2.16+, TF's `tf.compat.v1.layers` before).
"""

import re

import numpy as np
import pytest
import tensorflow as tf

import layer_parity
from tf_bn_compat.layers import graph_utils
from tf_bn_compat.ops import _library

pytestmark = pytest.mark.eager_context  # See conftest.py.

EXACT = dict(rtol=1e-5, atol=1e-5)
FUSED = dict(rtol=1e-4, atol=1e-4)  # Our op's reduction order vs TF's.


def _modules():
  return [pytest.param(layer_parity.reference, id="tf1"),
          pytest.param(layer_parity.ours, id="ours")]


def _data(shape, seed=0):
  rng = np.random.RandomState(seed)
  return tf.constant((rng.standard_normal(shape) * 1.5 + 0.3).astype(
      np.float32))


def _suffix(scope, base):
  match = re.fullmatch(re.escape(base) + r"(?:_(\d+))?", scope)
  assert match, (scope, base)
  return int(match.group(1) or 0)


def test_creating_and_calling_a_layer_eagerly_works():
  # It used to be refused with a RuntimeError; now it runs the ops.
  assert tf.executing_eagerly()
  layer = layer_parity.ours().Dense(2, kernel_initializer="ones")
  y = layer(tf.ones([3, 4]))
  assert isinstance(y, tf.Tensor) and not tf.is_symbolic_tensor(y)
  np.testing.assert_array_equal(y.numpy(), np.full([3, 2], 4.0))


@pytest.mark.parametrize("module", _modules())
def test_variable_scopes_continue_across_the_process(module):
  scopes = []
  for _ in range(3):
    layer = module().Dense(2)
    layer(tf.ones([1, 3]))
    scopes.append(layer.scope_name)
    assert [v.name for v in layer.variables] == [
        layer.scope_name + "/kernel:0", layer.scope_name + "/bias:0"]
  numbers = [_suffix(s, "dense") for s in scopes]
  assert numbers == list(range(numbers[0], numbers[0] + 3))


@pytest.mark.parametrize("module", _modules())
def test_a_name_used_twice_is_numbered_as_in_tf1(module):
  name = "twice_" + module.__name__
  scopes = []
  for _ in range(2):
    layer = module().Dense(2, name=name)
    layer(tf.ones([1, 3]))
    assert layer.name == name
    scopes.append(layer.scope_name)
  assert scopes == [name, name + "_1"]


def test_unnamed_layers_are_numbered_across_the_process():
  names = [layer_parity.ours().BatchNormalization().name for _ in range(3)]
  numbers = [_suffix(n, "batch_normalization") for n in names]
  assert numbers == list(range(numbers[0], numbers[0] + 3))


@pytest.mark.parametrize("module", _modules())
def test_variables_are_created_on_the_first_call_only(module):
  layer = module().BatchNormalization()
  x = _data([4, 3])
  layer(x, training=True)
  first = list(layer.variables)
  layer(x, training=True)
  layer(_data([6, 3]), training=False)
  assert len(layer.variables) == 4
  assert all(a is b for a, b in zip(first, layer.variables))


@pytest.mark.parametrize("module", _modules())
def test_a_function_retrace_creates_no_variables(module):
  layer = module().Dense(3)
  function = tf.function(layer)
  function(tf.ones([2, 4]))
  variables = list(layer.variables)
  traces = function.experimental_get_tracing_count()
  function(tf.ones([5, 4]))
  function(tf.ones([1, 2, 4]))
  assert function.experimental_get_tracing_count() == traces + 2
  assert len(layer.variables) == 2
  assert all(a is b for a, b in zip(variables, layer.variables))


@pytest.mark.parametrize("module", _modules())
def test_custom_getters_see_the_variables(module):
  seen = []

  def getter(getter, name, *args, **kwargs):  # pylint: disable=redefined-outer-name
    seen.append(name)
    return getter(name, *args, **kwargs)

  outer = "getter_" + module.__name__
  with tf.compat.v1.variable_scope(outer, custom_getter=getter):
    layer = module().Conv2D(2, 3, name="conv")
    layer(tf.ones([1, 5, 5, 2]))
  assert seen == [outer + "/conv/kernel", outer + "/conv/bias"]
  assert [v.name for v in layer.variables] == [s + ":0" for s in seen]


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("module", _modules())
def test_updates_run_in_place_and_are_not_recorded(module, mode):
  layer = module().BatchNormalization(momentum=0.5)
  x = _data([8, 2, 2, 3])
  call = layer if mode == "eager" else tf.function(layer)
  call(x, training=True)
  mean = x.numpy().mean(axis=(0, 1, 2))
  np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * mean,
                             **FUSED)
  call(x, training=False)
  np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * mean,
                             **FUSED)
  assert layer.updates == []
  if module is layer_parity.ours:
    assert layer.get_updates_for(x) == []
    assert layer.get_updates_for(None) == []
  assert not tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("module", _modules())
def test_training_none_is_inference(module, mode):
  layer = module().BatchNormalization()
  x = _data([8, 3])
  call = layer if mode == "eager" else tf.function(layer)
  y = call(x)
  np.testing.assert_allclose(y.numpy(), x.numpy() / np.sqrt(1 + 1e-3),
                             **EXACT)
  np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(3))


def _regularized(module):
  return module().Dense(
      2, kernel_initializer="ones",
      kernel_regularizer=lambda w: 0.5 * tf.reduce_sum(w),
      activity_regularizer=lambda o: tf.reduce_sum(o))


def test_losses_follow_tf1():
  x = _data([4, 3])
  results = []
  for module in (layer_parity.reference, layer_parity.ours):
    layer = _regularized(module)
    layer(x)
    first = [float(l) for l in layer.losses]
    layer(2.0 * x)
    second = [float(l) for l in layer.losses]
    layer.kernel.assign(3.0 * tf.ones_like(layer.kernel))
    after_assign = [float(l) for l in layer.losses]
    results.append((first, second, after_assign))
  ref, mine = results
  for got, want in zip(mine, ref):
    np.testing.assert_allclose(got, want, **EXACT)
  first, second, after_assign = mine
  # The activity loss is the last call's; the weight loss reads the kernel.
  assert len(first) == len(second) == 2
  np.testing.assert_allclose(second[0], 2 * first[0], **EXACT)
  np.testing.assert_allclose(after_assign[1], 3 * first[1], **EXACT)


def test_losses_for_inputs_eagerly():
  layer = _regularized(layer_parity.ours)
  x = _data([4, 3])
  y = layer(x)
  weight_losses = layer.get_losses_for(None)
  activity_losses = layer.get_losses_for(x)
  assert len(weight_losses) == len(activity_losses) == 1
  np.testing.assert_allclose(float(weight_losses[0]), 0.5 * 6, **EXACT)
  np.testing.assert_allclose(float(activity_losses[0]),
                             float(tf.reduce_sum(y)) / 4, **EXACT)
  assert not tf.compat.v1.get_collection(
      tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)


def test_regularization_losses_under_tape_have_gradients():
  layer = _regularized(layer_parity.ours)
  layer(_data([4, 3]))
  with tf.GradientTape() as tape:
    loss = layer.losses[1]
  np.testing.assert_allclose(tape.gradient(loss, layer.kernel).numpy(),
                             np.full([3, 2], 0.5))


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_dropout_masks_equal_tf1_with_the_same_seeds(mode):
  ones = tf.ones([4, 10])
  masks = []
  for module in (layer_parity.reference, layer_parity.ours):
    tf.random.set_seed(7)
    layer = module().Dropout(0.5, seed=3)
    call = layer if mode == "eager" else tf.function(layer)
    masks.append([call(ones, training=True).numpy() for _ in range(2)])
  np.testing.assert_array_equal(masks[1], masks[0])
  first, second = masks[1]
  assert set(np.unique(first)) <= {0.0, 2.0}
  assert not np.array_equal(first, second)  # Each call draws a new mask.


@pytest.mark.parametrize("training", [
    pytest.param(False, id="false"), pytest.param(0, id="zero"),
    pytest.param(None, id="none"),
    pytest.param(lambda: tf.constant(False), id="tensor_false")])
def test_dropout_inference_is_identity(training):
  if callable(training):
    training = training()
  x = _data([3, 4])
  y = layer_parity.ours().Dropout(0.9)(x, training=training)
  np.testing.assert_array_equal(y.numpy(), x.numpy())


def test_dropout_training_tensor_inside_function():
  layer = layer_parity.ours().Dropout(0.5, seed=1)
  call = tf.function(layer)
  ones = tf.ones([50, 40])
  dropped = call(ones, training=tf.constant(True)).numpy()
  kept = call(ones, training=tf.constant(False)).numpy()
  np.testing.assert_array_equal(kept, np.ones([50, 40]))
  assert set(np.unique(dropped)) <= {0.0, 2.0}
  # 2000 draws of p=0.5: the kept fraction is 0.5 +- 0.011 (1 sigma).
  assert abs((dropped > 0).mean() - 0.5) < 0.06


def test_the_fused_path_runs_our_op():
  bn = layer_parity.ours().BatchNormalization()
  ref = layer_parity.reference().BatchNormalization()
  x = _data([4, 3, 3, 2])

  @tf.function
  def train(inputs):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      y = bn(inputs, training=True)
      objective = tf.reduce_sum(y * _data([4, 3, 3, 2], seed=5))
    return y, tape.gradient(objective, inputs)

  y, grad = train(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    want = ref(x, training=True)
    objective = tf.reduce_sum(want * _data([4, 3, 3, 2], seed=5))
  np.testing.assert_allclose(y.numpy(), want.numpy(), **FUSED)
  np.testing.assert_allclose(grad.numpy(), tape.gradient(objective, x).numpy(),
                             **FUSED)
  assert bn.fused is True and ref.fused is True
  types = {op.type for op in train.get_concrete_function(x).graph
           .get_operations()}
  assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= types
  assert not any(t.startswith("TfBnCompat") for t in types)
  if _library.backend() == "custom":
    before = _library.stock_kernel_runs()
    train(x)
    after = _library.stock_kernel_runs()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def _ramp(shape, dtype=tf.float32, partition_info=None):
  """A deterministic initializer, so that functional forms compare."""
  del partition_info
  size = int(np.prod(shape))
  return tf.constant(np.linspace(-1.0, 1.0, size).reshape(shape), dtype)


FUNCTIONAL = [
    ("dense", lambda m, x: m.dense(x, 3, kernel_initializer=_ramp,
                                   bias_initializer=_ramp), (4, 5)),
    ("conv1d", lambda m, x: m.conv1d(x, 2, 3, kernel_initializer=_ramp),
     (2, 6, 3)),
    ("conv2d", lambda m, x: m.conv2d(x, 2, 3, kernel_initializer=_ramp),
     (2, 5, 5, 3)),
    ("conv3d", lambda m, x: m.conv3d(x, 2, 2, kernel_initializer=_ramp),
     (1, 3, 3, 3, 2)),
    ("separable_conv1d", lambda m, x: m.separable_conv1d(
        x, 2, 3, depthwise_initializer=_ramp, pointwise_initializer=_ramp),
     (2, 6, 3)),
    ("separable_conv2d", lambda m, x: m.separable_conv2d(
        x, 2, 3, depthwise_initializer=_ramp, pointwise_initializer=_ramp),
     (2, 5, 5, 3)),
    ("conv2d_transpose", lambda m, x: m.conv2d_transpose(
        x, 2, 3, strides=2, kernel_initializer=_ramp), (2, 3, 3, 3)),
    ("conv3d_transpose", lambda m, x: m.conv3d_transpose(
        x, 2, 2, kernel_initializer=_ramp), (1, 3, 3, 3, 2)),
    ("max_pooling2d", lambda m, x: m.max_pooling2d(x, 2, 2), (2, 4, 4, 3)),
    ("average_pooling1d", lambda m, x: m.average_pooling1d(x, 2, 1),
     (2, 5, 3)),
    ("max_pooling3d", lambda m, x: m.max_pooling3d(x, 2, 1),
     (1, 3, 3, 3, 2)),
    ("flatten", lambda m, x: m.flatten(x), (2, 3, 4)),
    ("dropout", lambda m, x: m.dropout(x, 0.5, training=False), (3, 4)),
    ("batch_normalization", lambda m, x: m.batch_normalization(
        x, training=True), (4, 3, 3, 2)),
]


@pytest.mark.parametrize("build,shape", [
    pytest.param(b, s, id=n) for n, b, s in FUNCTIONAL])
def test_functional_forms_run_eagerly(build, shape):
  x = _data(shape)
  want = build(layer_parity.reference(), x)
  got = build(layer_parity.ours(), x)
  assert got.shape == want.shape and got.dtype == want.dtype
  np.testing.assert_allclose(got.numpy(), want.numpy(), **FUSED)


def _raised(module, call):
  try:
    call(module)
  except Exception as error:  # pylint: disable=broad-except
    return error
  return None


ERRORS = [
    ("dense_rank1", lambda m: m.Dense(2)(tf.ones([3])), "min_ndim=2"),
    ("conv2d_rank3", lambda m: m.Conv2D(2, 3)(tf.ones([2, 5, 5])), "ndim=4"),
    ("dense_feature_change", lambda m: [
        layer(x) for layer in [m.Dense(2)]
        for x in (tf.ones([2, 3]), tf.ones([2, 4]))], "axis -1"),
    ("batch_norm_axis", lambda m: m.BatchNormalization(axis=3)(
        tf.ones([2, 3])), "axis 3 is out of range"),
]


@pytest.mark.parametrize("call,fragment", [
    pytest.param(c, f, id=n) for n, c, f in ERRORS])
def test_bad_input_errors_eagerly(call, fragment):
  ref_error = _raised(layer_parity.reference(), call)
  my_error = _raised(layer_parity.ours(), call)
  assert ref_error is not None, "TF1's layer accepts this case"
  assert isinstance(my_error, (ValueError, TypeError)), my_error
  assert isinstance(my_error, type(ref_error)) or isinstance(
      ref_error, type(my_error)), (my_error, ref_error)
  assert fragment in str(my_error), my_error


def test_bad_training_is_a_type_error_eagerly():
  with pytest.raises(TypeError, match="training"):
    layer_parity.ours().BatchNormalization()(tf.ones([2, 3]), training="yes")


def test_nothing_reaches_the_global_graph():
  layer = _regularized(layer_parity.ours)
  layer(_data([4, 3]))
  bn = layer_parity.ours().BatchNormalization(
      gamma_regularizer=lambda g: tf.reduce_sum(g))
  bn(_data([4, 3]), training=True)
  graph = tf.compat.v1.get_default_graph()
  for key in (tf.compat.v1.GraphKeys.UPDATE_OPS,
              tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES,
              tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
              tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES):
    assert not graph.get_collection(key), key
  assert graph_utils.depends_on(layer.losses[0], [tf.ones([1])]) is False


def test_keras_style_layers_eagerly():
  records = []
  for module in (layer_parity.reference, layer_parity.ours):
    with module().experimental.keras_style_scope():
      layer = module().Dense(2, kernel_initializer="ones",
                             kernel_regularizer=lambda w: tf.reduce_sum(w))
    layer(tf.ones([1, 3]))
    layer(tf.ones([1, 3]))
    records.append(([v.name.split("/", 1)[-1] for v in layer.variables],
                    [float(l) for l in layer.losses]))
  assert records[1] == records[0]
  assert records[1] == (["kernel:0", "bias:0"], [6.0])


@pytest.mark.parametrize("module", _modules())
def test_graph_property_is_refused_eagerly(module):
  layer = module().Dense(2)
  with pytest.raises(RuntimeError, match="eager"):
    layer.graph  # pylint: disable=pointless-statement
