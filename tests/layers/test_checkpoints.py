"""Checkpoints restore both ways between TF1's layer and ours."""

import numpy as np
import pytest
import tensorflow as tf

import parity

SHAPE = (8, 4, 4, 3)


def _model(module, x, training, config):
  """Two batch norm layers in a variable scope, as a TF1 model has them."""
  with tf.compat.v1.variable_scope("model"):
    h = module.batch_normalization(x, training=training, **config)
    h = tf.nn.relu(h)
    return module.BatchNormalization(**config)(h, training=training)


def _train_and_save(module, config, path):
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, SHAPE)
    y = _model(module, x, True, config)
    loss = tf.reduce_mean(tf.square(y - 1.0))
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(updates):
      train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for batch in parity.make_batches(SHAPE, np.float32):
        sess.run(train, {x: batch})
      saver.save(sess, path)
      return {v.name: sess.run(v) for v in tf.compat.v1.global_variables()}


def _restore_and_eval(module, config, path):
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, SHAPE)
    y = _model(module, x, False, config)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      saver.restore(sess, path)
      values = {v.name: sess.run(v) for v in tf.compat.v1.global_variables()}
      return sess.run(y, {x: parity.make_batches(SHAPE, np.float32)[0]}), values


CONFIGS = {
    "fused": {},
    "composite": {"fused": False},
    "renorm": {"renorm": True},
    "axis_list": {"axis": [1, 3]},
}


@pytest.mark.parametrize("direction", ["reference_to_ours",
                                       "ours_to_reference"])
@pytest.mark.parametrize("config_id", sorted(CONFIGS))
def test_checkpoint_restores_across_implementations(tmp_path, direction,
                                                    config_id):
  config = CONFIGS[config_id]
  writer, reader = parity.reference_module(), parity.ours_module()
  if direction == "ours_to_reference":
    writer, reader = reader, writer
  path = str(tmp_path / "ckpt")
  saved = _train_and_save(writer, config, path)
  restored_output, restored = _restore_and_eval(reader, config, path)
  writer_output, _ = _restore_and_eval(writer, config, path)
  assert sorted(saved) == sorted(restored)
  for name, value in saved.items():
    np.testing.assert_array_equal(restored[name], value, err_msg=name)
  # The moving statistics were trained away from their initial values.
  assert not np.allclose(saved["model/batch_normalization/moving_mean:0"], 0)
  np.testing.assert_allclose(restored_output, writer_output, rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("direction", ["fused_to_composite",
                                       "composite_to_fused"])
def test_checkpoint_restores_across_fused_and_composite(tmp_path, direction):
  layers = parity.ours_module()
  write, read = {"fused": True}, {"fused": False}
  if direction == "composite_to_fused":
    write, read = read, write
  path = str(tmp_path / "ckpt")
  _train_and_save(layers, write, path)
  out_read, _ = _restore_and_eval(layers, read, path)
  out_write, _ = _restore_and_eval(layers, write, path)
  np.testing.assert_allclose(out_read, out_write, rtol=1e-5, atol=1e-5)
