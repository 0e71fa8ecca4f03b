"""A `MonitoredTrainingSession` loop with our layer, and its checkpoints.

The TF1 training loop of many legacy scripts: global step, UPDATE_OPS as a
control dependency of the train op, `StopAtStepHook`, checkpoints written by
the session's `CheckpointSaverHook`. The moving statistics must change,
be saved, and be restored both by a plain `Saver` and by a second
`MonitoredTrainingSession` resuming from the same directory.

Tolerance: inference output against numpy on the restored moving statistics,
float32 against float64, 1e-5 on values ~1.
"""

import numpy as np
import tensorflow as tf

from tf_bn_compat import layers

SHAPE = (16, 6, 6, 3)
EPSILON = 1e-3


def _batch(step):
  rng = np.random.RandomState(step)
  return (rng.standard_normal(SHAPE) * 2.0 + 1.5).astype(np.float32)


def _build():
  x = tf.compat.v1.placeholder(tf.float32, SHAPE, name="x")
  training = tf.compat.v1.placeholder_with_default(False, [], name="training")
  bn = layers.BatchNormalization(name="bn")
  y = bn(x, training=training)
  weights = tf.compat.v1.get_variable("w", [3], initializer=tf.ones_initializer())
  loss = tf.reduce_mean(tf.square(y * weights - 0.5))
  step = tf.compat.v1.train.get_or_create_global_step()
  updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  assert len(updates) == 2
  with tf.control_dependencies(updates):
    train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=step)
  return x, training, y, bn, train, step


def _session(checkpoint_dir, last_step):
  return tf.compat.v1.train.MonitoredTrainingSession(
      checkpoint_dir=checkpoint_dir, save_checkpoint_steps=4,
      save_summaries_steps=None, save_summaries_secs=None,
      log_step_count_steps=None,
      hooks=[tf.compat.v1.train.StopAtStepHook(last_step=last_step)])


def test_monitored_training_session(tmp_path):
  checkpoint_dir = str(tmp_path / "train")
  with tf.Graph().as_default():
    x, training, _, bn, train, step = _build()
    with _session(checkpoint_dir, last_step=6) as sess:
      initial = sess.run([bn.moving_mean, bn.moving_variance])
      while not sess.should_stop():
        sess.run(train, {x: _batch(sess.run(step)), training: True})
  # The session stops after the last step; its last checkpoint holds the
  # final values.
  latest = tf.train.latest_checkpoint(checkpoint_dir)
  assert latest.endswith("model.ckpt-6")
  reader = tf.train.load_checkpoint(latest)
  final = [reader.get_tensor("bn/moving_mean"),
           reader.get_tensor("bn/moving_variance")]
  np.testing.assert_array_equal(initial[0], np.zeros(3))
  np.testing.assert_array_equal(initial[1], np.ones(3))
  assert not np.allclose(final[0], initial[0])
  assert not np.allclose(final[1], initial[1])

  # A plain Saver restores the statistics; inference uses them.
  with tf.Graph().as_default():
    x, _, y, bn, _, _ = _build()
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver().restore(sess, latest)
      restored = sess.run([bn.moving_mean, bn.moving_variance])
      gamma, beta = sess.run([bn.gamma, bn.beta])
      batch = _batch(100)
      output = sess.run(y, {x: batch})
  np.testing.assert_array_equal(restored[0], final[0])
  np.testing.assert_array_equal(restored[1], final[1])
  expected = ((batch.astype(np.float64) - final[0]) /
              np.sqrt(final[1] + EPSILON) * gamma + beta)
  np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)

  # A second session on the same directory resumes at step 6 and goes on.
  with tf.Graph().as_default():
    x, training, _, bn, train, step = _build()
    with _session(checkpoint_dir, last_step=8) as sess:
      assert sess.run(step) == 6
      resumed = sess.run([bn.moving_mean, bn.moving_variance])
      while not sess.should_stop():
        sess.run(train, {x: _batch(sess.run(step)), training: True})
  np.testing.assert_array_equal(resumed[0], final[0])
  np.testing.assert_array_equal(resumed[1], final[1])
  latest = tf.train.latest_checkpoint(checkpoint_dir)
  assert latest.endswith("model.ckpt-8")
  after = tf.train.load_checkpoint(latest).get_tensor("bn/moving_mean")
  assert not np.allclose(after, final[0])
