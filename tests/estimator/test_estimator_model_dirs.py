"""Model directories written by another Estimator and TensorFlow version.

data/native_tf2.15 was written by TF 2.15's own `tf.estimator`,
data/ours_tf2.21 by tf_bn_compat.estimator on TF 2.21 (both by
data/make_model_dirs.py, with the numbers their Estimator computed in
expected.json). Each is read by our Estimator, and by the native one where
TensorFlow has it: evaluation and predictions give the recorded numbers,
training resumes at the saved step with keep_checkpoint_max honoured across
the old and new checkpoints, and a warm start reproduces the predictions.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as ours

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MODEL_DIRS = ["native_tf2.15", "ours_tf2.21"]
# Recorded on another TensorFlow version (and CPU kernels): float32 rounding.
RTOL, ATOL = 1e-5, 1e-6


def _readers():
  readers = [pytest.param(ours, id="ours")]
  native = getattr(tf, "estimator", None)
  if native is not None and native is not ours:
    readers.append(pytest.param(native, id="native"))
  return readers


@pytest.fixture(params=MODEL_DIRS)
def model_dir(request, tmp_path):
  """A copy of a recorded model_dir, and what was recorded with it."""
  copy = str(tmp_path / request.param)
  shutil.copytree(os.path.join(DATA, request.param), copy)
  with open(os.path.join(copy, "expected.json")) as f:
    return copy, json.load(f)


def _estimator(est, model_dir, **kwargs):
  return est.Estimator(models.make_model_fn(est), model_dir=model_dir,
                       config=models.run_config(est), **kwargs)


def _probabilities(estimator, x):
  return np.stack([p["probabilities"] for p in
                   estimator.predict(models.predict_input_fn(x))])


@pytest.mark.parametrize("est", _readers())
def test_evaluate_and_predict_as_recorded(est, model_dir):
  path, expected = model_dir
  ex, ey = models.make_data(40, seed=1)
  estimator = _estimator(est, path)
  results = estimator.evaluate(models.eval_input_fn(ex, ey))
  assert sorted(results) == sorted(expected["evaluation"])
  for key, value in expected["evaluation"].items():
    np.testing.assert_allclose(results[key], value, rtol=RTOL, err_msg=key)
  np.testing.assert_allclose(_probabilities(estimator, ex),
                             expected["probabilities"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("est", _readers())
def test_resume_training(est, model_dir):
  path, _ = model_dir
  x, y = models.make_data(64, seed=0)
  estimator = _estimator(est, path)
  assert estimator.get_variable_value("global_step") == 10
  before = estimator.get_variable_value("hidden/kernel")
  estimator.train(models.train_input_fn(x, y), steps=7)
  assert estimator.get_variable_value("global_step") == 17
  assert not np.allclose(estimator.get_variable_value("hidden/kernel"),
                         before)
  state = tf.train.get_checkpoint_state(path)
  # keep_checkpoint_max=3 over the recorded 0, 5, 10 and the new 15, 17.
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      "model.ckpt-10", "model.ckpt-15", "model.ckpt-17"]
  for step in (0, 5):
    assert not os.path.exists(os.path.join(path, "model.ckpt-%d.index" % step))
  estimator.train(models.train_input_fn(x, y), max_steps=17)  # Nothing.
  assert tf.train.latest_checkpoint(path).endswith("model.ckpt-17")


@pytest.mark.parametrize("est", _readers())
def test_warm_start_reproduces_predictions(est, model_dir, tmp_path):
  path, expected = model_dir
  ex, _ = models.make_data(40, seed=1)
  settings = est.WarmStartSettings(path, vars_to_warm_start=["hidden", "bn",
                                                             "logits"])
  warm = _estimator(est, str(tmp_path / "warm"), warm_start_from=settings)
  np.testing.assert_allclose(_probabilities(warm, ex),
                             expected["probabilities"], rtol=RTOL, atol=ATOL)
