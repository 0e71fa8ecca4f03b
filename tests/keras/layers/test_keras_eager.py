"""The Keras-v1 BatchNormalization eagerly and inside `tf.function`.

Against TF1's Keras-v1 class run the same way (tf_keras'
`batch_normalization_v1.BatchNormalization` on TF 2.16+, TF's own
`tf.compat.v1.keras.layers.BatchNormalization` before), with the harness of
tests/layers/eager_harness.py: outputs, gradients, weights (local names,
shapes, dtypes, order), losses, `updates`, no variables after the first
call, and the moving statistics after three training steps (training as a
Python bool and as a bool tensor); and against our graph-mode numbers.

Tolerances: the fused path runs our op, whose reductions sum in another
order than TF's kernel (1e-4); the composite path runs the same TF ops
(1e-5).
"""

import numpy as np
import pytest
import tensorflow as tf

import eager_harness
import tf_bn_compat.keras.layers as ours

pytestmark = pytest.mark.eager_context  # See conftest.py.

TF_VERSION = tuple(int(p) for p in tf.__version__.split(".")[:2])
STEPS = 3
EXACT = dict(rtol=1e-5, atol=1e-5)
FUSED = dict(rtol=1e-4, atol=1e-4)


def reference_class():
  if TF_VERSION >= (2, 16):
    from tf_keras.src.layers.normalization import batch_normalization_v1  # pylint: disable=g-import-not-at-top
    return batch_normalization_v1.BatchNormalization
  return tf.compat.v1.keras.layers.BatchNormalization


CASES = [
    ("fused", {"momentum": 0.8}, (8, 4, 4, 3), FUSED),
    ("composite", {"fused": False, "momentum": 0.7}, (16, 3), EXACT),
    ("renorm", {"renorm": True, "renorm_momentum": 0.8}, (8, 3), EXACT),
    ("not_trainable", {"trainable": False}, (8, 3, 3, 3), FUSED),
]


@pytest.mark.parametrize("mode", eager_harness.MODES)
@pytest.mark.parametrize("training", ["py", "tensor"])
@pytest.mark.parametrize("config,shape,tolerance", [
    pytest.param(c, s, t, id=n) for n, c, s, t in CASES])
def test_keras_v1_matches_tf1_eagerly(config, shape, tolerance, training,
                                      mode):
  ref, ref_layer = eager_harness.run(
      lambda: reference_class()(**config), shape, mode, training=training,
      steps=STEPS)
  mine, layer = eager_harness.run(
      lambda: ours.BatchNormalization(**config), shape, mode,
      training=training, values=ref["initial_values"], steps=STEPS)
  eager_harness.assert_match(mine, ref, tolerance)
  assert layer.fused == ref_layer.fused
  graph = eager_harness.graph_record(
      lambda: ours.BatchNormalization(**config), shape, "float32",
      ref["initial_values"], mode, training=training)
  eager_harness.assert_graph_match(mine, graph, tolerance)


def test_keras_v1_names_continue_across_the_process():
  names = []
  for _ in range(2):
    layer = ours.BatchNormalization()
    layer(tf.ones([2, 3]), training=True)
    names.append(layer.name)
    assert [v.name for v in layer.variables] == [
        "%s/%s:0" % (layer.name, w) for w in
        ("gamma", "beta", "moving_mean", "moving_variance")]
  assert names[0] != names[1]
  assert names[1].startswith("batch_normalization_")


def test_keras_v1_regularization_is_recomputed():
  for cls in (reference_class(), ours.BatchNormalization):
    layer = cls(gamma_regularizer=lambda g: tf.reduce_sum(g))
    layer(tf.ones([2, 3]), training=True)
    assert [float(l) for l in layer.losses] == [3.0]
    layer.gamma.assign(2.0 * tf.ones([3]))
    assert [float(l) for l in layer.losses] == [6.0]
  assert not tf.compat.v1.get_collection(
      tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)


def test_keras_v1_training_none_is_inference():
  layer = ours.BatchNormalization()
  x = tf.constant(np.arange(6.0, dtype=np.float32).reshape(2, 3))
  y = layer(x)
  np.testing.assert_allclose(y.numpy(), x.numpy() / np.sqrt(1 + 1e-3),
                             **EXACT)
  assert layer.updates == []
