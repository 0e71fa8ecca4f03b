"""What TF1 batch-norm users trip over (shared/PITFALLS.md), one test each.

Each test pins down that we behave exactly as TF1's layer does at the spot
where users get hurt, so the README's advice stays true.
"""

import numpy as np
import pytest
import tensorflow as tf

import parity


def _moving_stats_after_training(module, run_updates, fused=None):
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 2, 2, 3])
    layer = module.BatchNormalization(fused=fused)
    y = layer(x, training=True)
    loss = tf.reduce_sum(tf.square(y))
    train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
    if run_updates:
      updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
      train = tf.group([train] + updates)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(train, {x: np.full((4, 2, 2, 3), 5.0)})
      return sess.run([layer.moving_mean, layer.moving_variance])


def test_1_moving_stats_move_only_with_update_ops():
  layers = parity.ours_module()
  mean, variance = _moving_stats_after_training(layers, run_updates=False)
  np.testing.assert_array_equal(mean, 0.0)
  np.testing.assert_array_equal(variance, 1.0)
  mean, _ = _moving_stats_after_training(layers, run_updates=True)
  np.testing.assert_allclose(mean, 0.05, rtol=1e-5)


@pytest.mark.parametrize("training", [0, 1, False, True, np.bool_(True),
                                      np.int64(0)])
def test_2_integer_training_values_act_as_bools(training):
  layers = parity.ours_module()
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    layers.batch_normalization(x, training=training)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  assert len(updates) == (2 if training else 0)


@pytest.mark.parametrize("module_name", ["ours", "reference"])
def test_3_update_ops_made_in_a_while_loop_fail_outside_it(graph_mode,
                                                           module_name):
  del graph_mode
  module = (parity.ours_module() if module_name == "ours"
            else parity.reference_module())
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [4, 3])
    layer = module.BatchNormalization()

    def body(i, acc):
      return i + 1, acc + layer(x, training=True)

    _, out = tf.while_loop(lambda i, _: i < 2, body, [0, tf.zeros([4, 3])])
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
      with tf.control_dependencies(updates):
        result = tf.identity(out)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(result, {x: np.ones((4, 3))})


def test_4_bessel_correction_differs_between_paths_as_in_tf1():
  layers = parity.ours_module()
  n = 4 * 2 * 2
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [4, 2, 2, 3])
    fused = layers.BatchNormalization(momentum=0.0)
    composite = layers.BatchNormalization(momentum=0.0, fused=False)
    fused(x, training=True)
    composite(x, training=True)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    data = np.random.RandomState(0).standard_normal((4, 2, 2, 3))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(updates, {x: data})
      fused_var, composite_var = sess.run(
          [fused.moving_variance, composite.moving_variance])
  biased = data.reshape(-1, 3).var(axis=0)
  np.testing.assert_allclose(composite_var, biased, rtol=1e-5)
  np.testing.assert_allclose(fused_var, biased * n / (n - 1), rtol=1e-5)


@pytest.mark.parametrize("fused", [None, False])
def test_5_one_element_per_channel_gives_finite_statistics(fused):
  for module in (parity.ours_module(), parity.reference_module()):
    with tf.Graph().as_default():
      x = tf.compat.v1.placeholder(tf.float32, [1, 1, 1, 3])
      layer = module.BatchNormalization(fused=fused)
      y = layer(x, training=True)
      updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        out, _ = sess.run([y, updates], {x: np.full((1, 1, 1, 3), 2.0)})
        variance = sess.run(layer.moving_variance)
    np.testing.assert_array_equal(out, 0.0)
    # n / max(n - 1, 1) = 1: the variance of one element is 0, not NaN.
    np.testing.assert_allclose(variance, 0.99, rtol=1e-6)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_6_half_inputs_keep_float32_parameters(dtype):
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(dtype, [None, 2, 2, 3])
    layer = parity.ours_module().BatchNormalization()
    y = layer(x, training=True)
    assert y.dtype == dtype
    assert {v.dtype.base_dtype for v in layer.variables} == {tf.float32}


def test_7_checkpoint_names_number_per_graph():
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    layers = parity.ours_module()
    for _ in range(3):
      layers.batch_normalization(x)
    scopes = sorted({v.name.split("/")[0]
                     for v in tf.compat.v1.global_variables()})
  assert scopes == ["batch_normalization", "batch_normalization_1",
                    "batch_normalization_2"]


def test_8_reuse_needs_a_stable_name():
  layers = parity.ours_module()
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    layers.batch_normalization(x, name="stable")
    layers.batch_normalization(x, name="stable", reuse=True)
    assert len(tf.compat.v1.global_variables()) == 4
    # Without a name, reuse=True looks for the base name's variables.
    layers.batch_normalization(x)  # Creates batch_normalization/...
    layers.batch_normalization(x, reuse=True)
    assert len(tf.compat.v1.global_variables()) == 8
    with pytest.raises(ValueError, match="does not exist"):
      layers.batch_normalization(x, name="never_made", reuse=True)


@pytest.mark.parametrize("fused", [None, False])
def test_9_zero_size_batch_gives_empty_output_and_nan_statistics(fused):
  results = []
  for module in (parity.ours_module(), parity.reference_module()):
    with tf.Graph().as_default():
      x = tf.compat.v1.placeholder(tf.float32, [None, 2, 2, 3])
      layer = module.BatchNormalization(fused=fused)
      y = layer(x, training=True)
      updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        out, _ = sess.run([y, updates], {x: np.zeros((0, 2, 2, 3))})
        results.append((out.shape, sess.run(layer.moving_mean)))
  assert results[0][0] == results[1][0] == (0, 2, 2, 3)
  assert np.all(np.isnan(results[0][1])) and np.all(np.isnan(results[1][1]))
