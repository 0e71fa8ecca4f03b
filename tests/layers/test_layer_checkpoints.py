"""Checkpoints load both ways between TF1's layers and ours.

A network with every layer family is built with TF1's layers, initialized
randomly and saved with `tf.compat.v1.train.Saver`; the same network built
with ours restores it and must give the same outputs, and the other way
round. Outputs agree to 1e-5 (the batch normalization runs our fused op,
whose sums are ordered differently from TF's kernel).
"""

import numpy as np
import pytest
import tensorflow as tf

import layer_parity

INPUT_SHAPE = (2, 8, 8, 3)


def network(m, x):
  """Uses every layer family (8 * 8 * 3 = 4 * 4 * 4 * 3 for the 3-D branch)."""
  h = m.conv2d(x, 4, 3, padding="same", activation=tf.nn.relu)
  h = m.separable_conv2d(h, 4, 3, padding="same", depth_multiplier=2)
  h = m.batch_normalization(h, training=False)
  h = m.conv2d_transpose(h, 3, 2, strides=2)
  h = m.average_pooling2d(h, 2, 2)
  h = m.max_pooling2d(h, 2, 2)
  r = tf.reshape(h, [-1, 16, 3])
  r = m.conv1d(r, 2, 3)
  r = m.separable_conv1d(r, 2, 3, padding="same")
  r = m.max_pooling1d(m.average_pooling1d(r, 1, 1), 2, 2)
  v = tf.reshape(x, [-1, 4, 4, 4, 3])
  v = m.conv3d_transpose(m.conv3d(v, 2, 2), 2, 2)
  v = m.average_pooling3d(m.max_pooling3d(v, 2, 2), 1, 1)
  features = tf.concat([m.flatten(r), m.flatten(v)], axis=1)
  features = m.dropout(features, 0.5, training=False)
  return m.dense(features, 5, name="logits")


def _save_or_restore(module, path, restore):
  data = layer_parity.make_inputs([INPUT_SHAPE], "float32")[0]
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(7)
    x = tf.compat.v1.placeholder(tf.float32, INPUT_SHAPE)
    y = network(module, x)
    names = sorted(v.op.name for v in tf.compat.v1.global_variables())
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      if restore:
        saver.restore(sess, path)
      else:
        sess.run(tf.compat.v1.global_variables_initializer())
        # Move the moving statistics off 0/1 so that they are checked too.
        for v in tf.compat.v1.global_variables():
          if "moving" in v.name:
            v.load(np.full(v.shape, 0.7, np.float32), sess)
        saver.save(sess, path)
      return sess.run(y, {x: data}), names


@pytest.mark.parametrize("direction", ["tf1_to_ours", "ours_to_tf1"])
def test_checkpoint_round_trip(tmp_path, direction):
  writer, reader = layer_parity.reference(), layer_parity.ours()
  if direction == "ours_to_tf1":
    writer, reader = reader, writer
  path = str(tmp_path / "model.ckpt")
  written, written_names = _save_or_restore(writer, path, restore=False)
  restored, restored_names = _save_or_restore(reader, path, restore=True)
  assert restored_names == written_names
  assert len(written_names) == 22
  np.testing.assert_allclose(restored, written, rtol=1e-5, atol=1e-5)
