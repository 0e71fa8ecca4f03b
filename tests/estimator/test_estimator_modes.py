"""Train, evaluate, predict on tf_bn_compat.estimator: results and model_dir.

Checked against numpy from the model's own outputs: the evaluation loss and
accuracy are those of the predicted probabilities (the same inference graph),
so the tolerances are float32 rounding.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as est
from tf_bn_compat.ckpt import inspect as ckpt_inspect

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context


def _estimator(model_dir, **config):
  return est.Estimator(models.make_model_fn(est), model_dir=str(model_dir),
                       config=models.run_config(est, **config),
                       params={"unused": 1})


@pytest.fixture(scope="module")
def data():
  return models.make_data(64, seed=0), models.make_data(48, seed=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
  (x, y), _ = data
  model_dir = tmp_path_factory.mktemp("trained")
  estimator = _estimator(model_dir)
  estimator.train(models.train_input_fn(x, y), steps=12)
  return estimator


def _cross_entropy(probabilities, labels):
  return -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))


def test_model_dir_layout(trained):
  model_dir = trained.model_dir
  state = tf.train.get_checkpoint_state(model_dir)
  assert os.path.basename(state.model_checkpoint_path) == "model.ckpt-12"
  # Saved at 0, 5, 10 and 12; keep_checkpoint_max=3 keeps the last three.
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      "model.ckpt-5", "model.ckpt-10", "model.ckpt-12"]
  for step in (5, 10, 12):
    for suffix in (".index", ".meta", ".data-00000-of-00001"):
      assert os.path.exists(os.path.join(model_dir,
                                         "model.ckpt-%d%s" % (step, suffix)))
  assert not os.path.exists(os.path.join(model_dir, "model.ckpt-0.index"))
  assert os.path.exists(os.path.join(model_dir, "graph.pbtxt"))
  scalars = models.event_scalars(model_dir)
  # One loss summary per 5 steps, at the step of the summarized run or the
  # next (the hooks read the global step beside the increment, as in TF).
  steps = sorted(scalars["loss"])
  assert len(steps) == 3 and all(s in (k, k + 1) for s, k in zip(
      steps, (0, 5, 10))), steps
  assert scalars["global_step/sec"] and all(
      v > 0 for v in scalars["global_step/sec"].values())
  assert trained.get_variable_value("global_step") == 12
  assert sorted(trained.get_variable_names()) == [
      "bn/beta", "bn/gamma", "bn/moving_mean", "bn/moving_variance",
      "global_step", "hidden/bias", "hidden/kernel", "logits/bias",
      "logits/kernel"]
  assert trained.latest_checkpoint() == os.path.join(model_dir,
                                                     "model.ckpt-12")


def test_evaluate_matches_predictions(trained, data, tf_log):
  _, (x, y) = data
  results = trained.evaluate(models.eval_input_fn(x, y))
  predictions = list(trained.predict(models.predict_input_fn(x)))
  assert len(predictions) == 48
  probabilities = np.stack([p["probabilities"] for p in predictions])
  classes = np.array([p["classes"] for p in predictions])
  assert set(results) == {"accuracy", "mean_probability", "loss",
                          "global_step"}
  assert results["global_step"] == 12
  # The loss metric is the mean over batches of per-batch mean losses.
  batch_losses = [_cross_entropy(probabilities[i:i + 16], y[i:i + 16])
                  for i in range(0, 48, 16)]
  np.testing.assert_allclose(results["loss"], np.mean(batch_losses),
                             rtol=1e-5)
  np.testing.assert_allclose(results["accuracy"], np.mean(classes == y),
                             rtol=1e-6)
  np.testing.assert_allclose(results["mean_probability"],
                             probabilities[:, 1].mean(), rtol=1e-5)
  eval_scalars = models.event_scalars(os.path.join(trained.model_dir, "eval"))
  for key in ("accuracy", "mean_probability", "loss"):
    np.testing.assert_allclose(eval_scalars[key][12], results[key], rtol=1e-6)
  saved = [line for line in tf_log
           if line.startswith("Saving dict for global step 12: ")]
  assert saved == ["Saving dict for global step 12: accuracy = %s, "
                   "global_step = 12, loss = %s, mean_probability = %s" % (
                       results["accuracy"], results["loss"],
                       results["mean_probability"])]


def test_evaluate_given_checkpoint_steps_and_name(trained, data):
  _, (x, y) = data
  path = os.path.join(trained.model_dir, "model.ckpt-5")
  results = trained.evaluate(models.eval_input_fn(x, y), steps=2,
                             checkpoint_path=path, name="early")
  assert results["global_step"] == 5
  predictions = list(trained.predict(models.predict_input_fn(x[:32]),
                                     checkpoint_path=path))
  probabilities = np.stack([p["probabilities"] for p in predictions])
  # Two batches of 16: the first 32 examples only.
  np.testing.assert_allclose(results["mean_probability"],
                             probabilities[:, 1].mean(), rtol=1e-5)
  scalars = models.event_scalars(os.path.join(trained.model_dir,
                                              "eval_early"))
  assert set(scalars["loss"]) == {5}
  with pytest.raises(ValueError, match="Must specify steps > 0, given: 0"):
    trained.evaluate(models.eval_input_fn(x, y), steps=0)


def test_predict_keys_and_batches(trained, data):
  _, (x, _) = data
  batches = list(trained.predict(models.predict_input_fn(x, batch_size=20),
                                 predict_keys=["classes"],
                                 yield_single_examples=False))
  assert [sorted(b) for b in batches] == [["classes"]] * 3
  assert [len(b["classes"]) for b in batches] == [20, 20, 8]
  singles = list(trained.predict(models.predict_input_fn(x),
                                 predict_keys="classes"))
  np.testing.assert_array_equal(
      np.concatenate([b["classes"] for b in batches]),
      [s["classes"] for s in singles])
  with pytest.raises(ValueError, match="Expected to run at least one output"):
    next(trained.predict(models.predict_input_fn(x), predict_keys=["nope"]))


def test_inference_uses_moving_statistics(trained, data):
  _, (x, _) = data
  mean = trained.get_variable_value("bn/moving_mean")
  variance = trained.get_variable_value("bn/moving_variance")
  assert not np.allclose(mean, 0) and not np.allclose(variance, 1)
  predictions = list(trained.predict(models.predict_input_fn(x)))
  h = np.stack([p["bn_input"] for p in predictions])
  # The serving path recomputes from h: normalized with the moving stats.
  gamma = trained.get_variable_value("bn/gamma")
  beta = trained.get_variable_value("bn/beta")
  normalized = (h - mean) / np.sqrt(variance + 1e-3) * gamma + beta
  kernel = trained.get_variable_value("logits/kernel")
  bias = trained.get_variable_value("logits/bias")
  logits = np.maximum(normalized, 0) @ kernel + bias
  expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  np.testing.assert_allclose(
      np.stack([p["probabilities"] for p in predictions]), expected,
      rtol=1e-4, atol=1e-5)


def test_steps_and_max_steps(tmp_path, data, tf_log):
  (x, y), _ = data
  estimator = _estimator(tmp_path, save_checkpoints_steps=100)
  train = models.train_input_fn(x, y)
  estimator.train(train, max_steps=4)
  assert estimator.get_variable_value("global_step") == 4
  checkpoint = estimator.latest_checkpoint()
  estimator.train(train, max_steps=4)
  assert "Skipping training since max_steps has already saved." in tf_log
  assert estimator.latest_checkpoint() == checkpoint
  estimator.train(train, steps=3)
  assert estimator.get_variable_value("global_step") == 7
  estimator.train(train, max_steps=9)
  assert estimator.get_variable_value("global_step") == 9
  assert any(line.startswith("loss = ") and line.endswith(", step = 0")
             for line in tf_log)
  assert any(line.startswith("Loss for final step: ") for line in tf_log)
  with pytest.raises(ValueError, match="Can not provide both steps and "
                     "max_steps."):
    estimator.train(train, steps=1, max_steps=20)
  with pytest.raises(ValueError, match=r"Must specify max_steps > 0, given: "
                     "-1"):
    estimator.train(train, max_steps=-1)


def test_training_ends_with_the_input(tmp_path, data):
  (x, y), _ = data
  estimator = _estimator(tmp_path)
  estimator.train(models.eval_input_fn(x, y, batch_size=10))  # 7 batches.
  assert estimator.get_variable_value("global_step") == 7


@pytest.mark.parametrize("update_ops", [True, False])
def test_forgotten_update_ops_leave_moving_statistics(tmp_path, data,
                                                      update_ops):
  (x, y), _ = data
  estimator = est.Estimator(models.make_model_fn(est, update_ops=update_ops),
                            model_dir=str(tmp_path),
                            config=models.run_config(est))
  estimator.train(models.train_input_fn(x, y), steps=3)
  mean = estimator.get_variable_value("bn/moving_mean")
  variance = estimator.get_variable_value("bn/moving_variance")
  # `python -m tf_bn_compat.ckpt inspect MODEL_DIR` flags the group.
  inspection = ckpt_inspect.inspect_checkpoint(str(tmp_path))
  if update_ops:
    assert not np.allclose(mean, 0) and not np.allclose(variance, 1)
    assert not inspection.untrained
  else:
    np.testing.assert_array_equal(mean, np.zeros(4, np.float32))
    np.testing.assert_array_equal(variance, np.ones(4, np.float32))
    assert inspection.untrained == {"bn"}
    assert any("UPDATE_OPS never ran" in line
               for line in ckpt_inspect.format_inspection(inspection))


def test_input_fn_returning_tensors_and_args(tmp_path, data):
  (x, y), _ = data
  seen = {}

  def input_fn(mode, params, config):
    seen.update(mode=mode, params=params, model_dir=config.model_dir)
    return {"x": tf.constant(x[:8])}, tf.constant(y[:8])

  estimator = _estimator(tmp_path)
  estimator.train(input_fn, steps=2)
  assert seen == {"mode": est.ModeKeys.TRAIN, "params": {"unused": 1},
                  "model_dir": str(tmp_path)}
  assert estimator.get_variable_value("global_step") == 2
