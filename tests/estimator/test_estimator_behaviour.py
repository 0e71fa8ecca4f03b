"""Hooks, listeners, errors, crashes and warm starts of tf_bn_compat.estimator.

The error tests assert TensorFlow's own exception types and messages (those
of TF 2.15's Estimator), so code that caught them keeps working.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as est

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context


@pytest.fixture(scope="module")
def data():
  return models.make_data(64, seed=0)


def _estimator(model_dir, model_fn=None, **kwargs):
  config = kwargs.pop("config", models.run_config(est))
  return est.Estimator(model_fn or models.make_model_fn(est),
                       model_dir=str(model_dir), config=config, **kwargs)


class _Recorder(est.SessionRunHook):
  """Appends (name, event, detail) to a shared list."""

  def __init__(self, name, calls):
    self._name = name
    self._calls = calls

  def begin(self):
    self._calls.append((self._name, "begin", None))

  def after_create_session(self, session, coord):
    step = session.run(tf.compat.v1.train.get_global_step())
    self._calls.append((self._name, "after_create_session", int(step)))

  def before_run(self, run_context):
    self._calls.append((self._name, "before_run", None))

  def end(self, session):
    self._calls.append((self._name, "end", None))


class _Listener(est.CheckpointSaverListener):

  def __init__(self):
    self.saved = []

  def after_save(self, session, global_step_value):
    self.saved.append(int(global_step_value))


def test_hooks_order_after_create_session_and_listeners(tmp_path, data):
  x, y = data
  calls = []
  base = models.make_model_fn(est)

  def model_fn(features, labels, mode, params, config):
    spec = base(features, labels, mode, params, config)
    if mode == est.ModeKeys.TRAIN:
      spec = spec._replace(training_hooks=[_Recorder("spec", calls)])
    return spec

  listener = _Listener()
  estimator = _estimator(tmp_path, model_fn)
  estimator.train(models.train_input_fn(x, y), steps=2,
                  hooks=[_Recorder("first", calls), _Recorder("second", calls)],
                  saving_listeners=[listener])
  names = lambda event: [c[0] for c in calls if c[1] == event]
  assert names("begin") == ["first", "second", "spec"]
  assert names("before_run") == ["first", "second", "spec"] * 2
  assert [c for c in calls if c[1] == "after_create_session"] == [
      ("first", "after_create_session", 0),
      ("second", "after_create_session", 0),
      ("spec", "after_create_session", 0)]
  assert names("end") == ["first", "second", "spec"]
  assert listener.saved == [0, 2]
  estimator.train(models.train_input_fn(x, y), steps=1,
                  hooks=[_Recorder("again", calls)])
  assert ("again", "after_create_session", 2) in calls  # Restored.

  with pytest.raises(TypeError, match="Hooks must be a SessionRunHook"):
    estimator.train(models.train_input_fn(x, y), steps=1, hooks=[object()])
  with pytest.raises(TypeError, match="saving_listeners must be a list of "
                     "CheckpointSaverListener"):
    estimator.train(models.train_input_fn(x, y), steps=1,
                    saving_listeners=[object()])
  no_saves = _estimator(tmp_path / "no_saves", config=models.run_config(
      est, save_checkpoints_steps=None, save_checkpoints_secs=None))
  with pytest.raises(ValueError, match="There should be a CheckpointSaverHook "
                     "to use saving_listeners"):
    no_saves.train(models.train_input_fn(x, y), steps=1,
                   saving_listeners=[listener])


def test_nan_loss_stops_training(tmp_path, data):
  x, y = data
  estimator = _estimator(tmp_path, models.make_model_fn(est, nan_after=3))
  with pytest.raises(est.NanLossDuringTrainingError):
    estimator.train(models.train_input_fn(x, y), steps=10)
  assert est.NanLossDuringTrainingError is (
      tf.compat.v1.train.NanLossDuringTrainingError)


class _Crash(est.SessionRunHook):

  def __init__(self, at_step):
    self._at_step = at_step

  def before_run(self, run_context):
    return est.SessionRunArgs(tf.compat.v1.train.get_global_step())

  def after_run(self, run_context, run_values):
    if run_values.results + 1 >= self._at_step:
      raise RuntimeError("crash at step %d" % self._at_step)


def test_crash_loses_only_steps_since_last_checkpoint(tmp_path, data):
  x, y = data
  estimator = _estimator(tmp_path)
  with pytest.raises(RuntimeError, match="crash at step 8"):
    estimator.train(models.train_input_fn(x, y), steps=20, hooks=[_Crash(8)])
  assert estimator.get_variable_value("global_step") == 5
  estimator.train(models.train_input_fn(x, y), steps=3)
  assert estimator.get_variable_value("global_step") == 8


def test_warm_start(tmp_path, data):
  x, y = data
  source = _estimator(tmp_path / "source")
  source.train(models.train_input_fn(x, y), steps=6)
  expected = list(source.predict(models.predict_input_fn(x)))

  # With no checkpoint of its own, predict warm-starts: listing the scopes
  # brings the moving statistics (not trainable) too.
  scopes = est.WarmStartSettings(source.model_dir,
                                 vars_to_warm_start=["hidden", "bn",
                                                     "logits"])
  warm = _estimator(tmp_path / "warm", warm_start_from=scopes)
  warmed = list(warm.predict(models.predict_input_fn(x)))
  np.testing.assert_array_equal(
      np.stack([p["probabilities"] for p in warmed]),
      np.stack([p["probabilities"] for p in expected]))

  # A path warm-starts the trainable variables only ("bn/moving_*" start at
  # 0/1): training one step at learning rate 0 keeps the kernels exactly.
  path_only = est.Estimator(models.make_model_fn(est, learning_rate=0.0),
                            model_dir=str(tmp_path / "path"),
                            config=models.run_config(est),
                            warm_start_from=source.model_dir)
  path_only.train(models.train_input_fn(x, y), steps=1)
  for name in ("hidden/kernel", "logits/kernel", "bn/gamma", "bn/beta"):
    np.testing.assert_array_equal(path_only.get_variable_value(name),
                                  source.get_variable_value(name))
  # One update with momentum 0.99 from the initial 0.
  mean = path_only.get_variable_value("bn/moving_mean")
  assert np.all(np.abs(mean) < 0.1) and not np.allclose(mean, 0)
  with pytest.raises(ValueError, match="warm_start_from must be a string or "
                     "a WarmStartSettings"):
    _estimator(tmp_path / "bad", warm_start_from=3)


def _spec_model_fn(make_spec):
  def model_fn(features, labels, mode):
    del labels
    tf.compat.v1.train.get_or_create_global_step()
    return make_spec(mode, features["x"])
  return model_fn




@pytest.mark.parametrize("make_spec,error,message", [
    (lambda mode, x: est.EstimatorSpec(mode, loss=tf.reduce_sum(x)),
     ValueError, "Missing train_op."),
    (lambda mode, x: est.EstimatorSpec(mode, train_op=tf.no_op()),
     ValueError, "Missing loss."),
    (lambda mode, x: est.EstimatorSpec(mode, loss=tf.reduce_sum(x, axis=0),
                                       train_op=tf.no_op()),
     ValueError, "Loss must be scalar, given: "),
    (lambda mode, x: est.EstimatorSpec(mode, loss=1.0, train_op=tf.no_op()),
     TypeError, "loss must be Tensor, given: 1.0"),
    (lambda mode, x: est.EstimatorSpec(mode, loss=tf.reduce_sum(x),
                                       train_op="step"),
     TypeError, "train_op must be Operation or Tensor, given: step"),
    (lambda mode, x: est.EstimatorSpec(
        mode, loss=tf.reduce_sum(x), train_op=tf.no_op(),
        eval_metric_ops={"m": tf.reduce_sum(x)}),
     TypeError, "Values of eval_metric_ops must be \\(metric_value, "
     "update_op\\) tuples"),
    (lambda mode, x: est.EstimatorSpec(
        mode, loss=tf.reduce_sum(x), train_op=tf.no_op(),
        training_hooks=[object()]),
     TypeError, "All hooks must be SessionRunHook instances"),
    (lambda mode, x: est.EstimatorSpec(
        mode, loss=tf.reduce_sum(x), train_op=tf.no_op(), scaffold=1),
     TypeError, "scaffold must be tf.train.Scaffold"),
    (lambda mode, x: {"loss": tf.reduce_sum(x)},
     ValueError, "model_fn should return an EstimatorSpec."),
], ids=["no_train_op", "no_loss", "loss_not_scalar", "loss_not_tensor",
        "train_op_type", "metric_not_tuple", "hook_type", "scaffold_type",
        "not_a_spec"])
def test_bad_estimator_spec(tmp_path, data, make_spec, error, message):
  x, y = data
  estimator = _estimator(tmp_path, _spec_model_fn(make_spec))
  with pytest.raises(error, match=message):
    estimator.train(models.train_input_fn(x, y), steps=1)


def test_spec_tensors_from_another_graph_and_predict_needs():
  with tf.Graph().as_default():
    other = tf.constant(1.0)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='loss with "Const:0" must be from '
                       "the default graph"):
      est.EstimatorSpec(est.ModeKeys.EVAL, loss=other)
    with pytest.raises(ValueError, match="Missing predictions."):
      est.EstimatorSpec(est.ModeKeys.PREDICT)
    spec = est.EstimatorSpec(est.ModeKeys.PREDICT,
                             predictions={"y": tf.constant([1.0])})
    assert list(spec.export_outputs) == ["serving_default"]
    with pytest.raises(ValueError, match="mode of EstimatorSpec cannot be "
                       "changed."):
      spec._replace(mode=est.ModeKeys.TRAIN)
    with pytest.raises(ValueError, match="Multiple `export_outputs` were "
                       "provided, but none of them are specified as the "
                       "default."):
      est.EstimatorSpec(est.ModeKeys.PREDICT,
                        predictions=tf.constant([1.0]),
                        export_outputs={
                            "a": est.export.PredictOutput(tf.constant([1.0])),
                            "b": est.export.PredictOutput(tf.constant([2.0]))})


def test_model_fn_signature_errors(tmp_path):
  def no_features(labels, mode):
    del labels, mode
  def extra(features, labels, mode, other):
    del features, labels, mode, other
  def no_params(features, labels, mode):
    del features, labels, mode
  with pytest.raises(ValueError, match="must include features argument."):
    est.Estimator(no_features, str(tmp_path))
  with pytest.raises(ValueError, match=r"has following not expected args: "
                     r"\['other'\]"):
    est.Estimator(extra, str(tmp_path))
  with pytest.raises(ValueError, match="does not include params argument, "
                     "but params"):
    est.Estimator(no_params, str(tmp_path), params={"a": 1})
  with pytest.raises(ValueError, match="model_fn must be provided to "
                     "Estimator."):
    est.Estimator(None, str(tmp_path))
  with pytest.raises(ValueError, match="`model_dir` are set both in "
                     "constructor and `RunConfig`"):
    est.Estimator(no_params, str(tmp_path),
                  config=est.RunConfig(model_dir=str(tmp_path / "other")))
  with pytest.raises(ValueError, match="config must be an instance of "
                     "`RunConfig`"):
    est.Estimator(no_params, str(tmp_path), config={})
  with pytest.raises(TypeError, match="train_distribute must be a "
                     "`tf.distribute.Strategy`"):
    est.Estimator(no_params, str(tmp_path), config=est.RunConfig(
        train_distribute=object()))


def test_model_fn_as_partial_or_callable_object(tmp_path, data):
  x, y = data
  bound = functools.partial(models.make_model_fn(est), params=None)

  class ModelFn(object):

    def __call__(self, features, labels, mode, config):
      return bound(features, labels, mode, config=config)

  for i, model_fn in enumerate([bound, ModelFn()]):
    estimator = est.Estimator(model_fn, model_dir=str(tmp_path / str(i)),
                              config=models.run_config(est))
    estimator.train(models.train_input_fn(x, y), steps=1)
    assert estimator.get_variable_value("global_step") == 1


def test_missing_checkpoint_and_bad_input_fn(tmp_path, data):
  x, y = data
  estimator = _estimator(tmp_path)
  with pytest.raises(ValueError, match="Could not find trained model in "
                     "model_dir: "):
    estimator.get_variable_value("bn/gamma")
  with pytest.raises(ValueError, match="Could not find trained model in "
                     "model_dir: "):
    estimator.get_variable_names()
  with pytest.raises(ValueError, match="Couldn't find trained model at "):
    estimator.export_saved_model(str(tmp_path / "export"),
                                 models.serving_input_receiver_fn(est))
  with pytest.raises(ValueError, match=r"input_fn should return \(features, "
                     r"labels\) as a len 2 tuple."):
    estimator.train(lambda: ({"x": tf.constant(x)}, tf.constant(y),
                             tf.constant(y)), steps=1)

  def unlabeled(features, mode):
    del features, mode
  with pytest.raises(ValueError, match="model_fn does not take labels, but "
                     "input_fn returns labels."):
    est.Estimator(unlabeled, str(tmp_path)).train(
        models.train_input_fn(x, y), steps=1)


def test_run_config():
  config = est.RunConfig()
  assert (config.save_checkpoints_secs, config.save_checkpoints_steps) == (
      600, None)
  assert (config.save_summary_steps, config.keep_checkpoint_max,
          config.log_step_count_steps) == (100, 5, 100)
  steps = config.replace(save_checkpoints_steps=10, tf_random_seed=3)
  assert (steps.save_checkpoints_steps, steps.save_checkpoints_secs,
          steps.tf_random_seed) == (10, None, 3)
  assert config.tf_random_seed is None  # replace() copies.
  with pytest.raises(ValueError, match="`save_checkpoints_steps` and "
                     "`save_checkpoints_secs` cannot be both set."):
    est.RunConfig(save_checkpoints_steps=1, save_checkpoints_secs=1)
  with pytest.raises(ValueError, match="Replacing cluster_spec is not "
                     "supported."):
    config.replace(cluster_spec=None)
  with pytest.raises(ValueError, match="tf_random_seed must be integer."):
    est.RunConfig(tf_random_seed=1.5)
  with pytest.raises(ValueError, match="save_summary_steps should be >= 0"):
    est.RunConfig(save_summary_steps=-1)
  assert (config.is_chief, config.num_worker_replicas, config.task_type) == (
      True, 1, "worker")


def test_add_metrics(tmp_path, data):
  x, y = data
  estimator = _estimator(tmp_path)
  estimator.train(models.train_input_fn(x, y), steps=2)

  def metric_fn(labels, predictions):
    return {"positives": tf.compat.v1.metrics.mean(
        tf.cast(tf.equal(predictions["classes"], 1), tf.float32)),
            "label_mean": tf.compat.v1.metrics.mean(tf.cast(labels,
                                                            tf.float32))}

  extended = est.add_metrics(estimator, metric_fn)
  results = extended.evaluate(models.eval_input_fn(x, y))
  assert {"accuracy", "positives", "label_mean", "loss"} <= set(results)
  np.testing.assert_allclose(results["label_mean"], y.mean(), rtol=1e-6)
  with pytest.raises(ValueError, match="has following not expected args"):
    est.add_metrics(estimator, lambda logits: {})


def test_call_logit_fn():
  with tf.Graph().as_default():
    x = tf.constant([[1.0, 2.0]])

    def logit_fn(features, mode, params):
      assert mode == est.ModeKeys.EVAL and params == {"scale": 3.0}
      return features * params["scale"]

    logits = est.experimental.call_logit_fn(logit_fn, x, est.ModeKeys.EVAL,
                                            {"scale": 3.0}, None)
    with tf.compat.v1.Session() as sess:
      np.testing.assert_array_equal(sess.run(logits), [[3.0, 6.0]])
    with pytest.raises(ValueError, match="logit_fn should return a Tensor or "
                       "a dictionary mapping strings to Tensors."):
      est.experimental.call_logit_fn(lambda features: {1: features}, x,
                                     est.ModeKeys.EVAL, None, None)


def _estimators():
  native = models.native_estimator()
  return [est] + ([native] if native is not None else [])


@pytest.mark.parametrize("module", _estimators(),
                         ids=lambda m: "ours" if m is est else "native")
def test_device_fn_places_the_training_graph_only(module, data, tmp_path):
  x, y = data
  placed = []

  def device_fn(op):
    placed.append(op.name)
    return "/cpu:0"

  config = models.run_config(module, device_fn=device_fn)
  estimator = module.Estimator(models.make_model_fn(module),
                               model_dir=str(tmp_path), config=config)
  estimator.train(models.train_input_fn(x, y), steps=2)
  trained = len(placed)
  estimator.evaluate(models.eval_input_fn(x, y), steps=1)
  list(estimator.predict(models.predict_input_fn(x)))
  assert trained > 0
  assert len(placed) == trained
