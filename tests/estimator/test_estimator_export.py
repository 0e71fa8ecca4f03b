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

SERVE = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    export_dir, inputs, out = sys.argv[1:4]
    x = np.load(inputs)["x"]
    with tf.Graph().as_default():
      with tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(
            sess, [tf.saved_model.SERVING], export_dir)
        signature = meta.signature_def["serving_default"]
        v1 = sess.run(signature.outputs["probabilities"].name,
                      {signature.inputs["x"].name: x})
    loaded = tf.saved_model.load(export_dir)
    v2 = loaded.signatures["serving_default"](x=tf.constant(x))
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
  np.savez(tmp_path / "inputs.npz", x=x)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(
      [sys.executable, "-I", "-c", SERVE, export_dir,
       str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")],
      capture_output=True, text=True, env=env, timeout=300, check=False,
      cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "SERVED" in result.stdout
  served = np.load(tmp_path / "out.npz")
  np.testing.assert_allclose(served["v1"], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(served["v2"], expected, rtol=1e-5, atol=1e-6)


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
