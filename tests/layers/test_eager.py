"""The TF1 layers called eagerly and inside `tf.function`, against TF1's own.

Each case makes a layer object, builds it with an inference call, loads the
reference's initial values, and runs training calls eagerly or inside a
`tf.function` (`eager_harness.run`); TF1's own layer (tf_keras' legacy
layers on TF 2.16+, TF's `tf.compat.v1.layers` before) runs the same way on
the same data (in the same mode: inside a `tf.function` a bool tensor
`training` is not known when the layer builds its ops, as in a TF1 graph,
which changes e.g. the ghost batches of `virtual_batch_size`). Compared: outputs, gradients with respect to the input and every
trainable variable, losses, variable names (inside the layer's scope),
shapes, dtypes, the weight lists and their order, `updates`, that no call
after the first creates variables, and the variables after three steps (a
batch norm's moving statistics). Our eager numbers are also compared with
our layer's graph-mode numbers on the same data.

Tolerances: layers other than batch norm run the same TF ops as the
reference (float32 rounding only: 1e-5). Batch norm's fused path runs our
op, whose reductions sum in another order than TF's kernel (~1e-6 relative
on outputs, ~1e-5 on batch sums such as the gamma/beta gradients): 1e-4.
"""

import pytest
import tensorflow as tf

import eager_harness
import layer_parity

pytestmark = pytest.mark.eager_context  # See conftest.py.

EXACT = dict(rtol=1e-5, atol=1e-5)
FUSED = dict(rtol=1e-4, atol=1e-4)
STEPS = 3


def _l2(weight):
  return lambda v: weight * tf.reduce_sum(tf.square(v))


def _l1(weight):
  return lambda v: weight * tf.reduce_sum(tf.abs(v))


# (id, module -> layer, input shape, training kinds, tolerance)
CASES = [
    ("dense", lambda m: m.Dense(
        3, activation=tf.nn.relu, kernel_regularizer=_l2(0.1),
        bias_regularizer=_l1(0.2), activity_regularizer=_l1(0.01)),
     (4, 5), None, EXACT),
    ("dense_rank3_no_bias", lambda m: m.Dense(2, use_bias=False),
     (2, 3, 4), None, EXACT),
    ("dropout_inference", lambda m: m.Dropout(0.3), (4, 5), False, EXACT),
    ("flatten", lambda m: m.Flatten(), (2, 3, 4), None, EXACT),
    ("conv1d", lambda m: m.Conv1D(2, 3, padding="same",
                                  kernel_regularizer=_l2(0.1)),
     (2, 8, 3), None, EXACT),
    ("conv2d", lambda m: m.Conv2D(2, 3, strides=2, padding="same",
                                  activity_regularizer=_l2(0.01)),
     (2, 6, 6, 3), None, EXACT),
    ("conv3d", lambda m: m.Conv3D(2, 2), (1, 4, 4, 4, 2), None, EXACT),
    ("separable_conv1d", lambda m: m.SeparableConv1D(2, 3, depth_multiplier=2),
     (2, 8, 3), None, EXACT),
    ("separable_conv2d", lambda m: m.SeparableConv2D(
        2, 3, depthwise_regularizer=_l2(0.1)), (2, 6, 6, 3), None, EXACT),
    ("conv2d_transpose", lambda m: m.Conv2DTranspose(2, 3, strides=2),
     (2, 4, 4, 3), None, EXACT),
    ("conv3d_transpose", lambda m: m.Conv3DTranspose(2, 2, strides=2),
     (1, 3, 3, 3, 2), None, EXACT),
    ("max_pooling1d", lambda m: m.MaxPooling1D(2, 2), (2, 6, 3), None, EXACT),
    ("average_pooling1d", lambda m: m.AveragePooling1D(3, 1),
     (2, 6, 3), None, EXACT),
    ("max_pooling2d", lambda m: m.MaxPooling2D(2, 2, padding="same"),
     (2, 5, 5, 3), None, EXACT),
    ("average_pooling2d", lambda m: m.AveragePooling2D(2, 2),
     (2, 4, 4, 3), None, EXACT),
    ("max_pooling3d", lambda m: m.MaxPooling3D(2, 2), (1, 4, 4, 4, 2), None,
     EXACT),
    ("average_pooling3d", lambda m: m.AveragePooling3D(2, 1),
     (1, 3, 3, 3, 2), None, EXACT),
]

BATCH_NORM_CASES = [
    ("bn_fused", lambda m: m.BatchNormalization(momentum=0.8),
     (8, 4, 4, 3), FUSED),
    ("bn_composite", lambda m: m.BatchNormalization(
        momentum=0.7, gamma_regularizer=_l2(0.1), beta_regularizer=_l1(0.2)),
     (16, 3), EXACT),
    ("bn_renorm", lambda m: m.BatchNormalization(
        renorm=True, renorm_momentum=0.8,
        renorm_clipping={"rmax": 1.5, "rmin": 0.5, "dmax": 0.3}),
     (8, 3), EXACT),
    ("bn_virtual_batch", lambda m: m.BatchNormalization(virtual_batch_size=2),
     (8, 3, 3, 3), EXACT),
    ("bn_not_trainable", lambda m: m.BatchNormalization(trainable=False),
     (8, 3, 3, 3), FUSED),
]


def _grid():
  for name, make, shape, training, tolerance in CASES:
    yield pytest.param(make, shape, training, tolerance, id=name)
  for name, make, shape, tolerance in BATCH_NORM_CASES:
    for training in ("py", "tensor"):
      yield pytest.param(make, shape, training, tolerance,
                         id="%s-training_%s" % (name, training))


def _check_scope(record, layer):
  # The variables live in the layer's variable scope, named as TF1 names them.
  if record["variables"]:
    assert record["scopes"] == [layer.scope_name]


@pytest.mark.parametrize("mode", eager_harness.MODES)
@pytest.mark.parametrize("make,shape,training,tolerance", list(_grid()))
def test_layer_matches_tf1_eagerly(make, shape, training, tolerance, mode):
  assert tf.executing_eagerly()
  ref, ref_layer = eager_harness.run(
      lambda: make(layer_parity.reference()), shape, mode,
      training=training, steps=STEPS)
  mine, layer = eager_harness.run(
      lambda: make(layer_parity.ours()), shape, mode, training=training,
      values=ref["initial_values"], steps=STEPS)
  _check_scope(ref, ref_layer)
  _check_scope(mine, layer)
  eager_harness.assert_match(mine, ref, tolerance)
  graph = eager_harness.graph_record(
      lambda: make(layer_parity.ours()), shape, "float32",
      ref["initial_values"], mode, training=training)
  eager_harness.assert_graph_match(mine, graph, tolerance)
  assert not tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  assert not tf.compat.v1.get_collection(
      tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
