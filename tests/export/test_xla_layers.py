"""The batch norm layers under XLA give the numbers they give without it.

The layers build TensorFlow's FusedBatchNormV3 (gradient
FusedBatchNormGradV3), which XLA lowers itself; without XLA the same graphs
run our kernels (on the compiled backend). Both batch norm classes, training
and inference, `tf.function(jit_compile=True)` against plain `tf.function`,
and TF1 graphs under `experimental_jit_scope` in a Session against the same
graph without it: outputs, gradients (input, gamma, beta) and the moving
statistics after two training steps.

Tolerance rtol = atol = 1e-4 (XLA's float tolerance here): XLA computes the
batch variance as E[x^2] - E[x]^2 and sums in another order, which costs a
few 1e-6 relative on these inputs (|mean| / std ~ 0.5); gradients sum 128
products per channel.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat.keras.layers as keras_layers
from tf_bn_compat import layers

pytestmark = pytest.mark.eager_context  # See conftest.py.

XLA = dict(rtol=1e-4, atol=1e-4)
SHAPE = (4, 4, 4, 3)
CLASSES = {"layers": layers.BatchNormalization,
           "keras": keras_layers.BatchNormalization}


def _data(seed, shape=SHAPE):
  rng = np.random.RandomState(seed)
  return (rng.standard_normal(shape) * 2.0 + 1.0).astype(np.float32)


def _layer(cls_name, **config):
  layer = CLASSES[cls_name](momentum=0.8, **config)
  layer(tf.zeros(SHAPE), training=False)  # Builds; moves nothing.
  rng = np.random.RandomState(9)
  for v in (layer.gamma, layer.beta):
    v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
  return layer


def _steps(cls_name, jit_compile, training, axis=-1):
  """Two calls and their gradients; returns every number to compare."""
  layer = _layer(cls_name, axis=axis)
  assert layer.fused

  @tf.function(jit_compile=jit_compile)
  def step(x, dy):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=training)
      loss = tf.reduce_sum(y * dy)
    return [y] + tape.gradient(loss, [x, layer.gamma, layer.beta])

  out = []
  for seed in (1, 2):
    out += [t.numpy() for t in step(tf.constant(_data(seed)),
                                    tf.constant(_data(seed + 10)))]
  return out + [layer.moving_mean.numpy(), layer.moving_variance.numpy()]


@pytest.mark.parametrize("axis", [-1, 1], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("cls_name", sorted(CLASSES))
def test_jit_compile_matches_plain_function(cls_name, training, axis):
  plain = _steps(cls_name, False, training, axis)
  xla = _steps(cls_name, True, training, axis)
  for i, (a, b) in enumerate(zip(xla, plain)):
    np.testing.assert_allclose(a, b, err_msg="value %d" % i, **XLA)
  moved = not np.allclose(plain[-2], 0.0)
  assert moved == training  # The moving statistics moved in training only.


def _session_run(jit, training):
  with tf.Graph().as_default() as graph:
    x = tf.compat.v1.placeholder(tf.float32, SHAPE)
    dy = tf.compat.v1.placeholder(tf.float32, SHAPE)
    scope = (tf.compat.v1.xla.experimental.jit_scope() if jit else
             tf.name_scope("plain"))
    with scope:
      y = layers.batch_normalization(x, training=training, momentum=0.8,
                                     name="bn")
      loss = tf.reduce_sum(y * dy)
      grads = tf.gradients(loss, [x] + tf.compat.v1.trainable_variables())
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    moving = [v for v in tf.compat.v1.global_variables() if "moving" in v.name]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      out = []
      options = tf.compat.v1.RunOptions(output_partition_graphs=True)
      metadata = tf.compat.v1.RunMetadata()
      for seed in (1, 2):
        out += sess.run([y] + grads + updates,
                        {x: _data(seed), dy: _data(seed + 10)},
                        options=options, run_metadata=metadata)[:4]
      out += sess.run(moving)
      ran = {n.op for g in metadata.partition_graphs for n in g.node}
  del graph
  return out, ran


@pytest.mark.parametrize("training", [True, False], ids=["train", "infer"])
def test_tf1_jit_scope_in_a_session_matches(training):
  plain, plain_ops = _session_run(False, training)
  xla, xla_ops = _session_run(True, training)
  assert "_XlaRun" in xla_ops and "_XlaRun" not in plain_ops
  assert not any("BatchNorm" in op for op in xla_ops)  # All compiled.
  for i, (a, b) in enumerate(zip(xla, plain)):
    np.testing.assert_allclose(a, b, err_msg="value %d" % i, **XLA)
