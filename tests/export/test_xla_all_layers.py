"""Every layer of the package under XLA gives the numbers it gives without.

Each class of `tf.compat.v1.layers` (this package's), called in
`tf.function(jit_compile=True)` against the same layer in a plain
`tf.function`: outputs and gradients (input and every trainable variable).
A Keras 3 model over `track_tf1_style_variables` compiled with
`jit_compile=True` against `jit_compile=False`: one `fit` step (weights and
moving statistics) and `predict`. TF1 graphs: `tf.xla.experimental.compile`
in a Session, and auto-clustering (`global_jit_level=ON_1` with
`TF_XLA_FLAGS=--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit`, which must be
set before TensorFlow is imported, so in a child process) against the same
graph run without XLA.

Tolerance rtol = atol = 1e-4 (XLA's float tolerance here): XLA's CPU
convolutions, reductions and batch variance (E[x^2] - E[x]^2) sum in
another order than TensorFlow's kernels, a few 1e-6 relative on these
inputs; the largest sums (convolution filter gradients) have ~300 terms.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
import tf_bn_compat.keras.layers as keras_layers
from tf_bn_compat import layers
from tf_bn_compat.ops import _library

pytestmark = pytest.mark.eager_context  # See conftest.py.

XLA = dict(rtol=1e-4, atol=1e-4)
v1 = tf.compat.v1

# name: (input shape, layer factory, call kwargs)
LAYERS = {
    "Dense": ((4, 6), lambda: layers.Dense(5, activation=tf.nn.relu), {}),
    "Conv1D": ((2, 9, 3), lambda: layers.Conv1D(4, 3, strides=2), {}),
    "Conv2D": ((2, 7, 7, 3),
               lambda: layers.Conv2D(4, 3, padding="same",
                                     dilation_rate=2), {}),
    "Conv3D": ((2, 5, 5, 5, 2), lambda: layers.Conv3D(3, 2), {}),
    "Conv2DTranspose": ((2, 5, 5, 3),
                        lambda: layers.Conv2DTranspose(4, 3, strides=2), {}),
    "Conv3DTranspose": ((2, 3, 3, 3, 2),
                        lambda: layers.Conv3DTranspose(3, 2, strides=2), {}),
    "SeparableConv1D": ((2, 9, 3),
                        lambda: layers.SeparableConv1D(
                            4, 3, depth_multiplier=2), {}),
    "SeparableConv2D": ((2, 7, 7, 3),
                        lambda: layers.SeparableConv2D(
                            4, 3, padding="same", depth_multiplier=2), {}),
    "AveragePooling1D": ((2, 9, 3), lambda: layers.AveragePooling1D(2, 2), {}),
    "AveragePooling2D": ((2, 6, 6, 3),
                         lambda: layers.AveragePooling2D(3, 2, "same"), {}),
    "AveragePooling3D": ((2, 4, 4, 4, 2),
                         lambda: layers.AveragePooling3D(2, 2), {}),
    "MaxPooling1D": ((2, 9, 3), lambda: layers.MaxPooling1D(2, 2), {}),
    "MaxPooling2D": ((2, 6, 6, 3),
                     lambda: layers.MaxPooling2D(3, 2, "same"), {}),
    "MaxPooling3D": ((2, 4, 4, 4, 2), lambda: layers.MaxPooling3D(2, 2), {}),
    "Dropout": ((4, 6), lambda: layers.Dropout(0.5), {"training": False}),
    "Flatten": ((2, 3, 4, 2), layers.Flatten, {}),
    "BatchNormalization": ((4, 3, 3, 3), layers.BatchNormalization,
                           {"training": True}),
    "BatchNormalization_infer": ((4, 3, 3, 3), layers.BatchNormalization,
                                 {"training": False}),
    "keras.BatchNormalization": ((4, 3, 3, 3),
                                 keras_layers.BatchNormalization,
                                 {"training": True}),
}


def _data(seed, shape):
  rng = np.random.RandomState(seed)
  return (rng.standard_normal(shape) * 2.0 + 1.0).astype(np.float32)


def _outputs_and_gradients(layer, x, dy, jit_compile, kwargs):
  @tf.function(jit_compile=jit_compile)
  def step(x, dy):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, **kwargs)
      loss = tf.reduce_sum(y * dy)
    return [y] + tape.gradient(loss, [x] + layer.trainable_variables)

  return [t.numpy() for t in step(x, dy)]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_jit_compile_matches_plain_function(name):
  shape, make, kwargs = LAYERS[name]
  layer = make()
  x = tf.constant(_data(1, shape))
  y_shape = layer(x, **dict(kwargs, training=False) if "training" in kwargs
                  else kwargs).shape
  rng = np.random.RandomState(5)
  for v in layer.trainable_variables:  # Nonzero biases, gamma != 1.
    v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
  dy = tf.constant(_data(2, y_shape))
  plain = _outputs_and_gradients(layer, x, dy, False, kwargs)
  xla = _outputs_and_gradients(layer, x, dy, True, kwargs)
  assert len(plain) == 2 + len(layer.trainable_variables)
  for i, (a, b) in enumerate(zip(xla, plain)):
    np.testing.assert_allclose(a, b, err_msg="value %d" % i, **XLA)


def test_dropout_in_training_under_jit_compile():
  """XLA draws other random numbers: checks the mask's use, not its bits."""
  layer = layers.Dropout(0.5)
  x = tf.constant(_data(1, (64, 32)))
  dy = tf.constant(_data(2, (64, 32)))
  y, dx = _outputs_and_gradients(layer, x, dy, True, {"training": True})
  kept = y != 0.0
  assert 0.3 < kept.mean() < 0.7
  np.testing.assert_allclose(y[kept], 2.0 * x.numpy()[kept], rtol=1e-6)
  np.testing.assert_allclose(dx, np.where(kept, 2.0 * dy.numpy(), 0.0),
                             rtol=1e-6)


def _tf1_net(x, training):
  """A small TF1-style convnet: conv, batch norm, relu, pooling, dense.

  Seeded initializers: every graph built from it starts from the same
  weights.
  """
  init = lambda seed: v1.random_uniform_initializer(-0.5, 0.5, seed=seed)
  with v1.variable_scope("net", reuse=v1.AUTO_REUSE):
    h = layers.conv2d(x, 4, 3, padding="same", kernel_initializer=init(1),
                      bias_initializer=init(2), name="conv")
    h = layers.batch_normalization(h, training=training, momentum=0.8,
                                   beta_initializer=init(3), name="bn")
    h = layers.max_pooling2d(tf.nn.relu(h), 2, 2)
    return layers.dense(layers.flatten(h), 3, kernel_initializer=init(4),
                        bias_initializer=init(5), name="dense")


NET_SHAPE = (8, 6, 6, 3)


def test_keras_3_model_fit_and_predict_with_jit_compile():
  keras = pytest.importorskip("keras")
  if not keras.__version__.startswith("3."):
    pytest.skip("Keras 3 only")

  class Block(keras.layers.Layer):

    @tf_bn_compat.track_tf1_style_variables
    def call(self, x, training=False):
      return _tf1_net(x, training)

  x, labels = _data(1, NET_SHAPE), _data(2, (NET_SHAPE[0], 3))
  results, initial = [], []
  for jit_compile in (False, True):
    model = keras.Sequential([keras.Input(NET_SHAPE[1:]), Block()])
    if not initial:
      initial = model.get_weights()
      moving = ["moving" in w.path for w in model.weights]
    model.set_weights(initial)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                  jit_compile=jit_compile)
    before = _library.stock_kernel_runs()
    model.fit(x, labels, batch_size=NET_SHAPE[0], epochs=1, shuffle=False,
              verbose=0)
    results.append((model.get_weights(), model.predict(x, verbose=0)))
    if jit_compile:  # XLA's lowering ran, none of our kernels.
      assert _library.stock_kernel_runs() == before
  (plain, plain_y), (xla, xla_y) = results
  assert sum(moving) == 2
  for i, (a, b) in enumerate(zip(xla, plain)):
    if moving[i]:  # One step moved the moving statistics.
      assert not np.allclose(b, initial[i]), "weight %d" % i
    np.testing.assert_allclose(a, b, err_msg="weight %d" % i, **XLA)
  np.testing.assert_allclose(xla_y, plain_y, **XLA)


def _tf1_train_graph(compile_with_xla):
  """A TF1 training graph of `_tf1_net`; returns (fetches, images, labels).

  The fetches: logits, loss, the gradients, the update ops' moving
  statistics. With `compile_with_xla` the forward and backward pass is one
  `tf.xla.experimental.compile` computation.
  """
  images = v1.placeholder(tf.float32, NET_SHAPE)
  labels = v1.placeholder(tf.float32, (NET_SHAPE[0], 3))

  def computation(images, labels):
    logits = _tf1_net(images, training=True)
    loss = tf.reduce_mean(tf.square(logits - labels))
    grads = tf.gradients(loss, v1.trainable_variables())
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
      return [tf.identity(logits), tf.identity(loss)] + grads

  if compile_with_xla:
    fetches = tf.xla.experimental.compile(computation, [images, labels])
  else:
    fetches = computation(images, labels)
  return fetches, images, labels


def _session_steps(compile_with_xla):
  with tf.Graph().as_default():
    fetches, images, labels = _tf1_train_graph(compile_with_xla)
    moving = [v for v in v1.global_variables() if "moving" in v.name]
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      options = v1.RunOptions(output_partition_graphs=True)
      metadata = v1.RunMetadata()
      out = []
      for seed in (1, 2):
        out += sess.run(fetches, {images: _data(seed, NET_SHAPE),
                                  labels: _data(seed + 10, (8, 3))},
                        options=options, run_metadata=metadata)
      out += sess.run(moving)
      ran = {n.op for g in metadata.partition_graphs for n in g.node}
  return out, ran


def test_tf1_xla_experimental_compile_in_a_session():
  plain, plain_ops = _session_steps(False)
  xla, xla_ops = _session_steps(True)
  assert any("FusedBatchNorm" in op for op in plain_ops)
  assert "_XlaRun" not in plain_ops
  assert "XlaLaunch" in xla_ops  # One compiled computation ran all of it.
  assert not any("BatchNorm" in op or "Conv2D" in op for op in xla_ops)
  assert len(plain) == len(xla) == 2 * 8 + 2
  for i, (a, b) in enumerate(zip(xla, plain)):
    np.testing.assert_allclose(a, b, err_msg="value %d" % i, **XLA)
  assert not np.allclose(plain[-2], 0.0)  # The moving mean moved.


AUTO_CLUSTER_CHILD = textwrap.dedent(r"""
    import sys
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, sys.argv[3])
    import test_xla_all_layers as t
    jit, out = sys.argv[1] == "jit", sys.argv[2]
    v1 = tf.compat.v1
    config = v1.ConfigProto()
    if jit:
      config.graph_options.optimizer_options.global_jit_level = (
          v1.OptimizerOptions.ON_1)
    with tf.Graph().as_default():
      fetches, images, labels = t._tf1_train_graph(False)
      moving = [v for v in v1.global_variables() if "moving" in v.name]
      with v1.Session(config=config) as sess:
        sess.run(v1.global_variables_initializer())
        options = v1.RunOptions(output_partition_graphs=True)
        metadata = v1.RunMetadata()
        values = []
        for seed in (1, 2):
          values += sess.run(fetches, {images: t._data(seed, t.NET_SHAPE),
                                       labels: t._data(seed + 10, (8, 3))},
                             options=options, run_metadata=metadata)
        values += sess.run(moving)
    ops = sorted({n.op for g in metadata.partition_graphs for n in g.node})
    np.savez(out, ops=np.array(ops), *values)
""")


def _child_run(tmp_path, jit):
  """Runs `_tf1_train_graph(False)` in a Session in a fresh Python."""
  env = dict(os.environ)
  env.pop("TF_XLA_FLAGS", None)
  if jit:
    env["TF_XLA_FLAGS"] = "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"
  package_root = os.path.dirname(os.path.dirname(tf_bn_compat.__file__))
  env["PYTHONPATH"] = os.pathsep.join(
      [package_root] + [p for p in [env.get("PYTHONPATH")] if p])
  out = str(tmp_path / ("jit.npz" if jit else "plain.npz"))
  run = subprocess.run(
      [sys.executable, "-c", AUTO_CLUSTER_CHILD, "jit" if jit else "plain",
       out, os.path.dirname(os.path.abspath(__file__))], env=env,
      cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
      check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  result = np.load(out)
  values = [result["arr_%d" % i] for i in range(len(result.files) - 1)]
  return values, set(result["ops"])


def test_tf1_auto_clustering_in_a_session(tmp_path):
  plain, plain_ops = _child_run(tmp_path, jit=False)
  xla, xla_ops = _child_run(tmp_path, jit=True)
  assert any("FusedBatchNorm" in op for op in plain_ops)
  assert "_XlaRun" not in plain_ops
  assert "_XlaRun" in xla_ops
  assert not any("BatchNorm" in op for op in xla_ops)  # Clustered.
  assert len(plain) == len(xla) == 2 * 8 + 2
  for i, (a, b) in enumerate(zip(xla, plain)):
    np.testing.assert_allclose(a, b, err_msg="value %d" % i, **XLA)
