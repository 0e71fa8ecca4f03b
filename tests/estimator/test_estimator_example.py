"""An Estimator `model_fn` with our layer: train, evaluate, predict, export.

`tf.estimator` is TensorFlow's own up to TF 2.15; on TF 2.16+ the module
runs after `tf_bn_compat.patch_tf()`, which installs
`tf_bn_compat.estimator` there (and `tf.compat.v1.layers`). The model
(tf_bn_compat.examples.estimator_model_fn) is warm-started from a checkpoint
written by `tf.compat.v1.layers.batch_normalization` (TF's native layer on
TF 2.15, ours once patched; the same variable names), moving statistics
included.

Tolerances: inference computes the batch norm from the moving statistics in
float32; the numpy check computes it in float64 from the predicted layer
input, so they agree to float32 rounding (1e-5 relative on values ~1).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat.examples import estimator_model_fn as example
from tf_bn_compat.examples import estimator_train

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context


@pytest.fixture(autouse=True, scope="module")
def estimator_api():
  """`tf.estimator`: TensorFlow's own, else installed by `patch_tf()`."""
  if hasattr(tf, "estimator"):
    yield
    return
  tf_bn_compat.patch_tf()
  try:
    yield
  finally:
    tf_bn_compat.unpatch_tf()

BATCH = 16
EPSILON = 1e-3  # The layer's default.
BN_VARS = ["bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
WARM_VARS = ["conv/kernel", "dense/kernel", "dense/bias"] + BN_VARS


def _native_checkpoint(path, images, labels, steps=20):
  """Trains the same network with TF's own TF1 layer; returns its values."""
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3])
    y = tf.compat.v1.placeholder(tf.int32, [None])
    logits, _, _ = example.features_fn(x, True, tf.compat.v1.layers)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(y, logits)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    with tf.control_dependencies(updates):
      train = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for step in range(steps):
        start = (step * BATCH) % len(images)
        sess.run(train, {x: images[start:start + BATCH],
                         y: labels[start:start + BATCH]})
      tf.compat.v1.train.Saver().save(sess, path)
      return {v.op.name: sess.run(v)
              for v in tf.compat.v1.global_variables()}


def _estimator(model_dir, learning_rate, warm_start_from=None):
  config = tf.estimator.RunConfig(tf_random_seed=1, save_summary_steps=None,
                                  log_step_count_steps=None)
  return tf.estimator.Estimator(
      example.model_fn, model_dir=model_dir, config=config,
      params={"learning_rate": learning_rate},
      warm_start_from=warm_start_from)


def _values(estimator, names):
  return {n: estimator.get_variable_value(n) for n in names}


def test_estimator_train_evaluate_predict_export(tmp_path):
  images, labels = example.make_data(64, seed=0)
  eval_images, eval_labels = example.make_data(32, seed=1)
  native = _native_checkpoint(str(tmp_path / "native" / "model.ckpt"),
                              images, labels)
  assert not np.allclose(native["bn/moving_mean"], 0)

  # Warm start with a learning rate of 0 for one step: trainable variables
  # are the native checkpoint's exactly; the moving statistics (non-trainable,
  # hence the list of scopes) start there and move by one update.
  model_dir = str(tmp_path / "model")
  warm = tf.estimator.WarmStartSettings(
      ckpt_to_initialize_from=str(tmp_path / "native"),
      vars_to_warm_start=["conv", "dense", "bn"])
  train_input = example.input_fn(images, labels, BATCH, repeat=True)
  _estimator(model_dir, 0.0, warm).train(train_input, steps=1)
  est = _estimator(model_dir, 0.05)
  started = _values(est, WARM_VARS)
  for name in ["conv/kernel", "dense/kernel", "bn/gamma", "bn/beta"]:
    np.testing.assert_array_equal(started[name], native[name], err_msg=name)
  for name in ["bn/moving_mean", "bn/moving_variance"]:
    assert not np.array_equal(started[name], native[name])
    # One update with momentum 0.99 moves them by 1% towards the batch's.
    np.testing.assert_allclose(started[name], native[name], rtol=0.05,
                               atol=0.05, err_msg=name)

  est.train(train_input, steps=10)
  trained = _values(est, WARM_VARS)
  assert est.get_variable_value("global_step") == 11
  for name in WARM_VARS:
    assert not np.allclose(trained[name], started[name]), name

  # Inference (predict) normalizes with the moving statistics.
  predict_input = example.input_fn(eval_images, None, 32, repeat=False)
  predictions = list(est.predict(predict_input))
  bn_input = np.stack([p["bn_input"] for p in predictions]).astype(np.float64)
  bn_output = np.stack([p["bn_output"] for p in predictions])
  expected = ((bn_input - trained["bn/moving_mean"]) /
              np.sqrt(trained["bn/moving_variance"] + EPSILON) *
              trained["bn/gamma"] + trained["bn/beta"])
  np.testing.assert_allclose(bn_output, expected, rtol=1e-5, atol=1e-5)
  batch_stats = ((bn_input - bn_input.mean(axis=(0, 1, 2))) /
                 np.sqrt(bn_input.var(axis=(0, 1, 2)) + EPSILON) *
                 trained["bn/gamma"] + trained["bn/beta"])
  assert not np.allclose(bn_output, batch_stats, atol=1e-2)

  # Evaluation runs the same inference graph: its loss is the cross entropy
  # of the predicted probabilities.
  metrics = est.evaluate(
      example.input_fn(eval_images, eval_labels, 32, repeat=False))
  probabilities = np.stack([p["probabilities"] for p in predictions])
  loss = -np.mean(np.log(probabilities[np.arange(32), eval_labels]))
  np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-5)
  assert metrics["global_step"] == 11

  # The exported SavedModel serves the same classes.
  export_dir = est.export_saved_model(str(tmp_path / "export"),
                                      example.serving_input_receiver_fn)
  with tf.Graph().as_default():
    with tf.compat.v1.Session() as sess:
      meta = tf.compat.v1.saved_model.loader.load(
          sess, [tf.saved_model.SERVING], export_dir)
      signature = meta.signature_def["serving_default"]
      served = sess.run(signature.outputs["probabilities"].name,
                        {signature.inputs["images"].name: eval_images})
  np.testing.assert_allclose(served, probabilities, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("network", ["convnet", "resnet"])
def test_train_and_evaluate_example_locally(tmp_path, monkeypatch, network):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  model_dir = str(tmp_path / "model")
  metrics, exports = estimator_train.train_and_evaluate(model_dir, 8, network)
  assert metrics["global_step"] == 8
  assert set(metrics) == {"accuracy", "loss", "global_step"}
  (final,) = exports
  assert os.path.dirname(final) == os.path.join(model_dir, "export",
                                                "final").encode()
  assert sorted(os.listdir(final.decode())) == ["saved_model.pb", "variables"]


def test_example_resnet_keeps_tf1_batch_norm_names(tmp_path, monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  model_dir = str(tmp_path / "model")
  estimator_train.train_and_evaluate(model_dir, 2, "resnet")
  names = [name for name, _ in tf.train.list_variables(model_dir)]
  moving = [n for n in names if n.endswith("moving_mean")]
  # The stem's and every residual block's layers, TF1-numbered.
  assert "resnet/batch_normalization/moving_mean" in moving
  assert len(moving) >= 4
  assert not any("float16" in n for n in names)


def test_example_rejects_an_unknown_network():
  with tf.Graph().as_default(), pytest.raises(ValueError, match="network"):
    example.model_fn({"images": tf.zeros([1, 8, 8, 3])}, None,
                     tf.estimator.ModeKeys.PREDICT, {"network": "vgg"})


def test_example_local_cluster_spec():
  cluster = estimator_train.local_cluster()
  assert {job: len(tasks) for job, tasks in cluster.items()} == {
      "chief": 1, "worker": 2, "ps": 1}
  addresses = sum(cluster.values(), [])
  assert len(set(addresses)) == 4
  assert all(a.startswith("127.0.0.1:") for a in addresses)
