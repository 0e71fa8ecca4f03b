"""export_saved_model of tf_bn_compat.estimator: SignatureDefs, modes, and a
SavedModel that serves in a process without this package.

The model's batch norm is on rank-2 features (the non-fused path), so its
serving graph has only stock TensorFlow ops; the child process runs with
`python -I` (no PYTHONPATH, no cwd on sys.path) and checks that
`tf_bn_compat` was never imported.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as est

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context

SERVE = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    export_dir, inputs, out, name = sys.argv[1:5]
    x = np.load(inputs)["x"]
    with tf.Graph().as_default():
      with tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(
            sess, [tf.saved_model.SERVING], export_dir)
        signature = meta.signature_def["serving_default"]
        v1 = sess.run(signature.outputs["probabilities"].name,
                      {signature.inputs[name].name: x})
    loaded = tf.saved_model.load(export_dir)
    v2 = loaded.signatures["serving_default"](**{name: tf.constant(x)})
    np.savez(out, v1=v1, v2=v2["probabilities"].numpy())
    assert not any(m.startswith("tf_bn_compat") for m in sys.modules)
    print("SERVED")
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  x, y = models.make_data(64, seed=0)
  estimator = est.Estimator(models.make_model_fn(est),
                            model_dir=str(tmp_path_factory.mktemp("model")),
                            config=models.run_config(est))
  estimator.train(models.train_input_fn(x, y), steps=6)
  return estimator


def test_export_serves_without_this_package(trained, tmp_path):
  x, _ = models.make_data(20, seed=3)
  export_dir = trained.export_saved_model(
      str(tmp_path / "export"), models.serving_input_receiver_fn(est))
  assert isinstance(export_dir, bytes)
  export_dir = export_dir.decode()
  assert os.path.dirname(export_dir) == str(tmp_path / "export")
  assert os.path.basename(export_dir).isdigit()
  assert sorted(os.listdir(export_dir)) == ["saved_model.pb", "variables"]
  expected = np.stack([p["probabilities"] for p in
                       trained.predict(models.predict_input_fn(x))])
  _check_served(export_dir, "x", x, expected, tmp_path)


def _serve_in_child(export_dir, name, x, tmp_path):
  np.savez(tmp_path / "inputs.npz", x=x)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run(
      [sys.executable, "-I", "-c", SERVE, export_dir,
       str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz"), name],
      capture_output=True, text=True, env=env, timeout=300, check=False,
      cwd=str(tmp_path))


def _check_served(export_dir, name, x, expected, tmp_path):
  """Serves `export_dir` in a child without tf_bn_compat; checks outputs."""
  result = _serve_in_child(export_dir, name, x, tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "SERVED" in result.stdout
  served = np.load(tmp_path / "out.npz")
  np.testing.assert_allclose(served["v1"], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(served["v2"], expected, rtol=1e-5, atol=1e-6)


def test_fused_batch_norm_export_serves_without_the_package(tmp_path):
  # A conv model: batch norm on the fused path, whose graph holds
  # TensorFlow's own FusedBatchNormV3 (run here by this package's kernels).
  from tf_bn_compat.examples import estimator_model_fn as example  # pylint: disable=g-import-not-at-top
  images, labels = example.make_data(32, seed=0)
  estimator = est.Estimator(
      _example_model_fn(example), model_dir=str(tmp_path / "model"),
      config=models.run_config(est), params={})
  estimator.train(example.input_fn(images, labels, 8, repeat=True), steps=3)
  expected = np.stack([p["probabilities"] for p in estimator.predict(
      example.input_fn(images[:6], None, 6, repeat=False))])

  def receiver_fn():
    images = {"images": tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3],
                                                 name="images")}
    return est.export.ServingInputReceiver(images, images)

  export_dir = estimator.export_saved_model(str(tmp_path / "export"),
                                            receiver_fn).decode()
  _check_served(export_dir, "images", images[:6], expected, tmp_path)
  # The rewrite for exports of older graphs leaves this one serving as is.
  assert est.export.rewrite_for_serving(export_dir) == export_dir
  _check_served(export_dir, "images", images[:6], expected, tmp_path)


def _example_model_fn(example):
  """The example's model_fn with its `tf.estimator` names from `est`."""

  def model_fn(features, labels, mode, params):
    training = mode == est.ModeKeys.TRAIN
    logits, _, _ = example.features_fn(features["images"], training)
    probabilities = tf.nn.softmax(logits)
    if mode == est.ModeKeys.PREDICT:
      return est.EstimatorSpec(mode, predictions={
          "probabilities": probabilities})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    with tf.control_dependencies(tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)):
      train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(
          loss, global_step=tf.compat.v1.train.get_global_step())
    del params
    return est.EstimatorSpec(mode, loss=loss, train_op=train_op)

  return model_fn


def test_warm_start_from_saved_model(trained, tmp_path):
  x, _ = models.make_data(20, seed=3)
  export_dir = trained.export_savedmodel(
      str(tmp_path / "export"), models.serving_input_receiver_fn(est))
  settings = est.WarmStartSettings(export_dir.decode(),
                                   vars_to_warm_start=["hidden", "bn",
                                                       "logits"])
  warm = est.Estimator(models.make_model_fn(est),
                       model_dir=str(tmp_path / "warm"),
                       config=models.run_config(est), warm_start_from=settings)
  probabilities = lambda e: np.stack([p["probabilities"] for p in e.predict(
      models.predict_input_fn(x))])
  np.testing.assert_array_equal(probabilities(warm), probabilities(trained))


def _meta_graphs(export_dir):
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(export_dir, b"saved_model.pb"), "rb") as f:
    saved.ParseFromString(f.read())
  return {tuple(m.meta_info_def.tags): m for m in saved.meta_graphs}


def test_signature_defs(trained, tmp_path):
  export_dir = trained.export_saved_model(
      str(tmp_path), models.serving_input_receiver_fn(est),
      assets_extra={"notes/readme.txt": __file__})
  (tags, meta), = _meta_graphs(export_dir).items()
  assert tags == ("serve",)
  assert sorted(meta.signature_def) == ["serving_default"]
  signature = meta.signature_def["serving_default"]
  assert signature.method_name == "tensorflow/serving/predict"
  assert sorted(signature.inputs) == ["x"]
  assert sorted(signature.outputs) == ["classes", "probabilities"]
  assert os.path.exists(os.path.join(export_dir, b"assets.extra", b"notes",
                                     b"readme.txt"))


def test_export_all_modes(trained, tmp_path):
  features = {"x": tf.zeros([1, models.FEATURES])}
  labels = tf.zeros([1], tf.int32)
  export_dir = trained.experimental_export_all_saved_models(
      str(tmp_path), {
          est.ModeKeys.TRAIN: est.export.build_raw_supervised_input_receiver_fn(
              features, labels),
          est.ModeKeys.EVAL: est.export.build_raw_supervised_input_receiver_fn(
              features, labels),
          est.ModeKeys.PREDICT: est.export.build_raw_serving_input_receiver_fn(
              features),
      })
  metas = _meta_graphs(export_dir)
  assert sorted(metas) == [("eval",), ("serve",), ("train",)]
  train = metas[("train",)].signature_def["train"]
  assert train.method_name == "tensorflow/supervised/training"
  assert sorted(train.inputs) == ["label", "x"]
  assert sorted(train.outputs) == ["loss"]  # The TRAIN spec has no more.
  evaluation = metas[("eval",)].signature_def["eval"]
  assert evaluation.method_name == "tensorflow/supervised/eval"
  assert {"metrics/accuracy/value", "metrics/accuracy/update_op", "loss",
          "predictions/classes"} <= set(evaluation.outputs)
  assert "saved_model_train_op" in metas[("train",)].collection_def
  serve = metas[("serve",)].signature_def["serving_default"]
  assert sorted(serve.inputs) == ["x"]


def test_export_errors_and_outputs(trained, tmp_path):
  with pytest.raises(ValueError, match="An input_receiver_fn must be "
                     "defined."):
    trained.export_saved_model(str(tmp_path), None)
  with pytest.raises(ValueError, match="No valid modes for exporting found."):
    trained.experimental_export_all_saved_models(str(tmp_path), {})
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="Classification classes must be a "
                       "string Tensor"):
      est.export.ClassificationOutput(classes=tf.constant([1]))
    with pytest.raises(ValueError, match="Regression output value must be a "
                       "float32 Tensor"):
      est.export.RegressionOutput(tf.constant([1]))
    with pytest.raises(ValueError, match="feature x must be a Tensor, "
                       "SparseTensor, or RaggedTensor."):
      est.export.ServingInputReceiver({"x": 1.0}, tf.constant([1.0]))
    serialized = tf.compat.v1.placeholder(tf.string, [None])
    scores = tf.constant([[0.5, 0.5]])
    signature = est.export.ClassificationOutput(scores=scores).as_signature_def(
        {"examples": serialized})
    assert signature.method_name == "tensorflow/serving/classify"
    receiver = est.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([3], tf.float32)})()
    assert sorted(receiver.receiver_tensors) == ["examples"]
    assert receiver.features["x"].shape.as_list() == [None, 3]
