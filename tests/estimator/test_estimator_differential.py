"""Ours vs TensorFlow 2.15's native `tf.estimator`, in the same process.

The same model_fn (written against either module), input_fns and seeds must
give the same checkpoints (names and values), evaluation results,
predictions, summaries and exported SignatureDefs. Runs where TensorFlow has
its own Estimator (the 2.15 leg); skipped elsewhere.
"""

import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as ours


native_est = models.native_estimator()
# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = [pytest.mark.eager_context, models.needs_native()]

STEPS = 8


# Log lines that differ by nature: deprecation notices (logged once per
# process, so by whichever Estimator runs first), the config's repr, and the
# step counter's warning when it reads the global step beside its increment.
_UNCOMPARED_LOG = ("From ", "Instructions for updating", "Using config",
                   "It seems that global step")


class _LogLines(logging.Handler):
  """Collects TensorFlow's log messages, numbers and model_dir normalized."""

  def __init__(self, model_dir):
    super().__init__(logging.INFO)
    self._model_dir = model_dir
    self.lines = []

  def emit(self, record):
    message = record.getMessage().replace(self._model_dir, "MODEL_DIR")
    if not message.startswith(_UNCOMPARED_LOG):
      self.lines.append(re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", message))


def _run(est, model_dir):
  """Trains, evaluates, predicts and exports with module `est`."""
  logger = tf.get_logger()
  handler = _LogLines(model_dir)
  level = logger.level
  logger.setLevel(logging.INFO)
  logger.addHandler(handler)
  try:
    results = _run_modes(est, model_dir)
  finally:
    logger.removeHandler(handler)
    logger.setLevel(level)
  results["log"] = handler.lines
  return results


def _receivers(est):
  features = {"x": tf.zeros([1, models.FEATURES])}
  labels = tf.zeros([1], tf.int32)
  supervised = est.experimental.build_raw_supervised_input_receiver_fn(
      features, labels)
  return {est.ModeKeys.TRAIN: supervised, est.ModeKeys.EVAL: supervised,
          est.ModeKeys.PREDICT: models.serving_input_receiver_fn(est)}


def _run_modes(est, model_dir):
  (x, y), (ex, ey) = models.make_data(64, seed=0), models.make_data(40, 1)
  estimator = est.Estimator(models.make_model_fn(est), model_dir=model_dir,
                            config=models.run_config(est),
                            params={"unused": 1})
  estimator.train(models.train_input_fn(x, y), steps=STEPS)
  results = {
      "model_dir": model_dir,
      "names": sorted(estimator.get_variable_names()),
      "evaluation": estimator.evaluate(models.eval_input_fn(ex, ey)),
      "evaluation_2_steps": estimator.evaluate(
          models.eval_input_fn(ex, ey, batch_size=8), steps=2, name="short"),
      "predictions": list(estimator.predict(models.predict_input_fn(ex))),
      "export_dir": estimator.export_saved_model(
          os.path.join(model_dir, "export"),
          models.serving_input_receiver_fn(est)),
      "all_modes_dir": estimator.experimental_export_all_saved_models(
          os.path.join(model_dir, "export_all"), _receivers(est)),
      "checkpoints": tf.train.get_checkpoint_state(
          model_dir).all_model_checkpoint_paths,
  }
  results["values"] = {n: estimator.get_variable_value(n)
                       for n in results["names"]}
  return results


@pytest.fixture(scope="module")
def both(tmp_path_factory):
  return (_run(ours, str(tmp_path_factory.mktemp("ours"))),
          _run(native_est, str(tmp_path_factory.mktemp("native"))))


# What TF 2.15's tf.estimator has and this package leaves out: canned
# estimators and heads, TPU, and train_and_evaluate with its specs and
# exporters.
OUT_OF_SCOPE = {
    "BaselineClassifier", "BaselineEstimator", "BaselineRegressor",
    "BestExporter", "BinaryClassHead", "DNNClassifier", "DNNEstimator",
    "DNNLinearCombinedClassifier", "DNNLinearCombinedEstimator",
    "DNNLinearCombinedRegressor", "DNNRegressor", "EvalSpec", "Exporter",
    "FinalExporter", "Head", "LatestExporter", "LinearClassifier",
    "LinearEstimator", "LinearRegressor", "LogisticRegressionHead",
    "MultiClassHead", "MultiHead", "MultiLabelHead", "PoissonRegressionHead",
    "RegressionHead", "TrainSpec", "classifier_parse_example_spec",
    "regressor_parse_example_spec", "train_and_evaluate", "tpu", "KMeans",
    "LinearSDCA", "RNNClassifier", "RNNEstimator", "dnn_logit_fn_builder",
    "linear_logit_fn_builder",
}


def _public(obj):
  return {n for n in dir(obj) if not n.startswith("_")}


def _lookup(module, path):
  for part in filter(None, path.split(".")):
    module = getattr(module, part, None)
  return module


@pytest.mark.parametrize("path", [
    "", "export", "experimental", "inputs", "Estimator", "RunConfig",
    "EstimatorSpec", "ModeKeys", "WarmStartSettings"])
def test_public_api_covers_native(path):
  mine = _lookup(ours, path)
  for native in (tf.compat.v1.estimator, native_est):  # TF1's and TF2's.
    theirs = _lookup(native, path)
    if theirs is not None:
      assert _public(theirs) - _public(mine) <= OUT_OF_SCOPE, path


def test_same_checkpoints(both):
  mine, native = both
  assert mine["names"] == native["names"]
  assert [os.path.basename(p) for p in mine["checkpoints"]] == [
      os.path.basename(p) for p in native["checkpoints"]]
  for name in native["names"]:
    np.testing.assert_array_equal(mine["values"][name],
                                  native["values"][name], err_msg=name)


@pytest.mark.parametrize("key", ["evaluation", "evaluation_2_steps"])
def test_same_evaluation(both, key):
  mine, native = both
  assert sorted(mine[key]) == sorted(native[key])
  for name, value in native[key].items():
    assert type(mine[key][name]) is type(value), name
    np.testing.assert_allclose(mine[key][name], value, rtol=1e-6,
                               err_msg=name)


def test_same_predictions(both):
  mine, native = both
  assert len(mine["predictions"]) == len(native["predictions"]) == 40
  for a, b in zip(mine["predictions"], native["predictions"]):
    assert sorted(a) == sorted(b)
    for key in b:
      np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-7)


def test_same_log_lines(both):
  mine, native = both
  assert any(line.startswith("loss = N, step = N") for line in native["log"])
  assert mine["log"] == native["log"]


def _signatures(export_dir):
  with tf.Graph().as_default():
    with tf.compat.v1.Session() as sess:
      meta = tf.compat.v1.saved_model.loader.load(
          sess, [tf.saved_model.SERVING], export_dir)
  described = {}
  for name, signature in meta.signature_def.items():
    describe = lambda infos: {k: (v.dtype, str(v.tensor_shape))
                              for k, v in infos.items()}
    described[name] = (signature.method_name, describe(signature.inputs),
                       describe(signature.outputs))
  return described


def test_same_signature_defs(both):
  mine, native = both
  assert _signatures(mine["export_dir"]) == _signatures(native["export_dir"])
  assert sorted(os.listdir(mine["export_dir"])) == sorted(
      os.listdir(native["export_dir"]))


def _all_signatures(export_dir):
  """{tags: {name: (method, inputs, outputs)}} of every MetaGraph."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(export_dir, b"saved_model.pb"), "rb") as f:
    saved.ParseFromString(f.read())
  describe = lambda infos: {k: (v.dtype, str(v.tensor_shape))
                            for k, v in infos.items()}
  return {tuple(meta.meta_info_def.tags): {
      name: (s.method_name, describe(s.inputs), describe(s.outputs))
      for name, s in meta.signature_def.items()}
          for meta in saved.meta_graphs}


def _serve(export_dir, x):
  """The serving signature's outputs on `x`, by `loader.load` and `load`."""
  with tf.Graph().as_default():
    with tf.compat.v1.Session() as sess:
      meta = tf.compat.v1.saved_model.loader.load(
          sess, [tf.saved_model.SERVING], export_dir)
      signature = meta.signature_def["serving_default"]
      v1 = sess.run({k: v.name for k, v in signature.outputs.items()},
                    {signature.inputs["x"].name: x})
  loaded = tf.saved_model.load(export_dir).signatures["serving_default"]
  v2 = {k: v.numpy() for k, v in loaded(x=tf.constant(x)).items()}
  return v1, v2


def test_exported_models_serve_the_same(both):
  mine, native = both
  x, _ = models.make_data(10, seed=5)
  theirs = _serve(native["export_dir"], x)
  for ours_out, their_out in zip(_serve(mine["export_dir"], x), theirs):
    assert sorted(ours_out) == sorted(their_out) == ["classes",
                                                     "probabilities"]
    for key in their_out:
      np.testing.assert_array_equal(ours_out[key], their_out[key])


def test_same_signature_defs_of_every_mode(both):
  mine, native = both
  theirs = _all_signatures(native["all_modes_dir"])
  assert sorted(theirs) == [("eval",), ("serve",), ("train",)]
  assert _all_signatures(mine["all_modes_dir"]) == theirs


def _summary_tags(directory):
  return sorted(models.event_scalars(directory))


@pytest.mark.parametrize("subdir", ["", "eval", "eval_short"])
def test_same_summaries_and_files(both, subdir):
  mine, native = both
  mine_dir = os.path.join(mine["model_dir"], subdir)
  native_dir = os.path.join(native["model_dir"], subdir)
  assert _summary_tags(native_dir)
  assert _summary_tags(mine_dir) == _summary_tags(native_dir)
  files = lambda d: sorted(f for f in os.listdir(d)
                           if not f.startswith("events"))
  assert files(mine_dir) == files(native_dir)
