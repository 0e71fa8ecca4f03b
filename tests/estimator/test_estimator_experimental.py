"""`tf.estimator.experimental` of tf_bn_compat.estimator: in-training
evaluation and early stopping."""

import os

import numpy as np
import pytest

import estimator_models as models
from tf_bn_compat import estimator as est

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context


@pytest.fixture(scope="module")
def data():
  return models.make_data(64, seed=0), models.make_data(32, seed=1)


def _estimator(model_dir):
  return est.Estimator(models.make_model_fn(est), model_dir=str(model_dir),
                       config=models.run_config(est))


def test_in_memory_evaluator(tmp_path, data):
  (x, y), (ex, ey) = data
  estimator = _estimator(tmp_path)
  hook = est.experimental.InMemoryEvaluatorHook(
      estimator, models.eval_input_fn(ex, ey), name="in_memory",
      every_n_iter=4)
  estimator.train(models.train_input_fn(x, y), steps=8, hooks=[hook])
  scalars = models.event_scalars(os.path.join(tmp_path, "eval_in_memory"))
  # When the session is created, after the first run and every 4 (the timer
  # of TF's hooks), and at the end.
  assert sorted(scalars["loss"]) == [0, 1, 5, 8]
  # The last one evaluated the final variables: as evaluate() on the last
  # checkpoint.
  final = estimator.evaluate(models.eval_input_fn(ex, ey))
  for key in ("loss", "accuracy", "mean_probability"):
    np.testing.assert_allclose(scalars[key][8], final[key], rtol=1e-6)
  assert not np.isclose(scalars["loss"][0], scalars["loss"][8])
  with pytest.raises(ValueError, match="invalid every_n_iter=0."):
    est.experimental.InMemoryEvaluatorHook(estimator, None, every_n_iter=0)


def test_early_stopping(tmp_path, data):
  (x, y), (ex, ey) = data
  estimator = _estimator(tmp_path)
  never = est.experimental.stop_if_lower_hook(estimator, "loss", -1.0,
                                              run_every_secs=None,
                                              run_every_steps=1)
  # The hooks add the "signal_early_stopping/STOP" variable to the model.
  estimator.train(models.train_input_fn(x, y), steps=2, hooks=[never])
  estimator.evaluate(models.eval_input_fn(ex, ey))
  assert list(est.experimental.read_eval_metrics(estimator.eval_dir())) == [2]
  estimator.train(models.train_input_fn(x, y), steps=3, hooks=[never])
  assert estimator.get_variable_value("global_step") == 5
  now = est.experimental.stop_if_higher_hook(estimator, "loss", -1.0,
                                             run_every_secs=None,
                                             run_every_steps=1)
  estimator.train(models.train_input_fn(x, y), steps=10, hooks=[now])
  assert estimator.get_variable_value("global_step") == 6
  assert estimator.get_variable_value("signal_early_stopping/STOP")
  stalled = est.experimental.stop_if_no_decrease_hook(
      estimator, "loss", 0, run_every_secs=None, run_every_steps=1)
  estimator.train(models.train_input_fn(x, y), steps=10, hooks=[stalled])
  assert estimator.get_variable_value("global_step") == 7
  with pytest.raises(ValueError, match="Only one of `run_every_secs` and "
                     "`run_every_steps` must be set."):
    est.experimental.make_early_stopping_hook(estimator, lambda: True, 1, 1)
  with pytest.raises(TypeError, match="`estimator` must have type"):
    est.experimental.make_early_stopping_hook(object(), lambda: True)
  at_step = est.experimental.make_stop_at_checkpoint_step_hook(
      estimator, 9, wait_after_file_check_secs=0)
  estimator.train(models.train_input_fn(x, y), steps=10, hooks=[at_step])
  # It stops once a checkpoint at step >= 9 is on disk (model.ckpt-10,
  # every 5 steps), well before the 10 steps asked for.
  step = estimator.get_variable_value("global_step")
  assert 10 <= step < 17, step
