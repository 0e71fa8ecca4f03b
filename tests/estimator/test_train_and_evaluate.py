"""`train_and_evaluate` in local mode, the specs and the exporters.

The pipeline runs end to end with a batch norm model_fn (evaluations on new
checkpoints, throttling, exports and their garbage collection, the final
export); the specs and exporters reject bad arguments with TensorFlow's
texts. Where TensorFlow has its own Estimator (the 2.15 leg), the same
specs and seeds go through its `train_and_evaluate` too, and the results
must agree: final checkpoint, evaluation, export layout and SignatureDefs.
"""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as ours
from tf_bn_compat.estimator import best_eval
from tf_bn_compat.estimator import export_gc

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context


native_est = models.native_estimator()
needs_native = models.needs_native()
MODULES = [ours] + ([native_est] if native_est is not None else [])
MAX_STEPS = 15
_TIMESTAMP = re.compile(r"^\d{10}$")


def _specs(est, exporters=(), throttle_secs=0, max_steps=MAX_STEPS):
  (x, y), (ex, ey) = models.make_data(64, seed=0), models.make_data(40, 1)
  train_spec = est.TrainSpec(models.train_input_fn(x, y), max_steps=max_steps)
  eval_spec = est.EvalSpec(models.eval_input_fn(ex, ey), steps=None,
                           exporters=list(exporters), start_delay_secs=0,
                           throttle_secs=throttle_secs)
  return train_spec, eval_spec


def _estimator(est, model_dir):
  return est.Estimator(models.make_model_fn(est), model_dir=model_dir,
                       config=models.run_config(est))


def _exporters(est):
  receiver = models.serving_input_receiver_fn(est)
  return [est.LatestExporter("latest", receiver, exports_to_keep=2),
          est.FinalExporter("final", receiver),
          est.BestExporter("best", receiver, exports_to_keep=1)]


def _run(est, model_dir):
  """train_and_evaluate with every exporter, checkpoints every 5 steps."""
  estimator = _estimator(est, model_dir)
  train_spec, eval_spec = _specs(est, _exporters(est))
  eval_result, export_results = est.train_and_evaluate(
      estimator, train_spec, eval_spec)
  return {
      "model_dir": model_dir,
      "estimator": estimator,
      "eval_result": eval_result,
      "export_results": export_results,
      "values": {n: estimator.get_variable_value(n)
                 for n in estimator.get_variable_names()},
  }


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
  return _run(ours, str(tmp_path_factory.mktemp("tae")))


def _exports(model_dir, name):
  directory = os.path.join(model_dir, "export", name)
  return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_trains_to_max_steps_and_returns_last_evaluation(local_run):
  result = local_run["eval_result"]
  assert result["global_step"] == MAX_STEPS
  assert set(result) == {"accuracy", "mean_probability", "loss",
                         "global_step"}
  assert local_run["values"]["global_step"] == MAX_STEPS
  direct = local_run["estimator"].evaluate(
      models.eval_input_fn(*models.make_data(40, 1)), name="again")
  for key, value in direct.items():
    np.testing.assert_allclose(result[key], value, rtol=1e-6, err_msg=key)


def test_evaluates_each_new_checkpoint_but_the_first(local_run):
  # Checkpoints at 0 (the session's start), 5, 10 and 15: all but 0.
  losses = models.event_scalars(os.path.join(local_run["model_dir"],
                                             "eval"))["loss"]
  assert sorted(losses) == [5, 10, MAX_STEPS]


def test_export_results_and_directories(local_run):
  model_dir = local_run["model_dir"]
  latest, final, best = local_run["export_results"]
  # The last evaluation exported everywhere; the final export is the
  # newest latest export's twin.
  assert final is not None and latest is not None
  assert os.path.dirname(final) == os.path.join(
      model_dir, "export", "final").encode()
  assert os.path.basename(latest) in [e.encode() for e in
                                      _exports(model_dir, "latest")]
  for name in ("latest", "final", "best"):
    assert all(_TIMESTAMP.match(e) for e in _exports(model_dir, name)), name
  assert len(_exports(model_dir, "latest")) == 2  # 3 made, exports_to_keep=2
  assert len(_exports(model_dir, "final")) == 1
  assert len(_exports(model_dir, "best")) == 1  # exports_to_keep=1
  assert sorted(os.listdir(os.path.join(model_dir, "export"))) == [
      "best", "final", "latest"]
  if best is not None:
    assert os.path.basename(best).decode() == _exports(model_dir, "best")[0]


def test_final_export_holds_the_final_checkpoint(local_run):
  final = local_run["export_results"][1]
  variables = os.path.join(final, b"variables", b"variables")
  for name, value in local_run["values"].items():
    np.testing.assert_array_equal(tf.train.load_variable(variables, name),
                                  value, err_msg=name)


def test_second_call_does_nothing(local_run):
  train_spec, eval_spec = _specs(ours, _exporters(ours))
  assert ours.train_and_evaluate(local_run["estimator"], train_spec,
                                 eval_spec) == (None, None)


def test_throttle_skips_evaluations_but_not_the_last(tmp_path, tf_log):
  estimator = _estimator(ours, str(tmp_path))
  train_spec, eval_spec = _specs(ours, throttle_secs=600)
  eval_result, export_results = ours.train_and_evaluate(
      estimator, train_spec, eval_spec)
  assert eval_result["global_step"] == MAX_STEPS and export_results == []
  losses = models.event_scalars(str(tmp_path / "eval"))["loss"]
  assert sorted(losses) == [5, MAX_STEPS]
  assert sum("Skip the current checkpoint eval due to throttle secs (600 "
             "secs)" in line for line in tf_log) == 2  # at 10 and 15


def test_best_exporter_exports_only_improvements(local_run, tmp_path):
  estimator = local_run["estimator"]
  exporter = ours.BestExporter(
      "by_loss", models.serving_input_receiver_fn(ours),
      event_file_pattern=None, exports_to_keep=None)
  path = str(tmp_path / "by_loss")
  checkpoint = estimator.latest_checkpoint()
  made = [exporter.export(estimator, path, checkpoint,
                          {"loss": loss, "global_step": MAX_STEPS}, False)
          for loss in (0.5, 0.7, 0.5, 0.3)]
  assert [m is not None for m in made] == [True, False, False, True]
  assert len(export_gc.export_versions(path)) == 2


def test_best_exporter_reads_the_best_loss_from_eval_events(local_run,
                                                           tmp_path):
  model_dir = local_run["model_dir"]
  losses = models.event_scalars(os.path.join(model_dir, "eval"))["loss"]
  pattern = os.path.join(model_dir, "eval", "*.tfevents.*")
  best = best_eval.best_eval_result(
      pattern, lambda best_eval_result, current_eval_result:
      current_eval_result["loss"] < best_eval_result["loss"])
  assert best["loss"] == min(losses.values())
  assert best_eval.best_eval_result(
      os.path.join(model_dir, "nothing", "*"), lambda a, b: True) is None

  estimator = local_run["estimator"]
  exporter = ours.BestExporter("resumed", models.serving_input_receiver_fn(
      ours))
  path = str(tmp_path / "resumed")
  checkpoint = estimator.latest_checkpoint()
  worse = {"loss": best["loss"] + 1.0}
  # The first export of a new exporter always happens; later ones must
  # beat the best loss of the event files (then of the exports).
  assert exporter.export(estimator, path, checkpoint, worse, False)
  assert exporter.export(estimator, path, checkpoint, worse, False) is None
  assert exporter.export(estimator, path, checkpoint,
                         {"loss": best["loss"] - 1.0}, False)


def test_export_gc_keeps_the_newest_timestamped_exports(tmp_path):
  versions = [1600000000 + i for i in (3, 1, 4, 15, 9)]
  for version in versions:
    (tmp_path / str(version)).mkdir()
  for other in ("temp-1600000099", "160000000", "notes"):
    (tmp_path / other).mkdir()
  assert [v for v, _ in export_gc.export_versions(str(tmp_path))] == sorted(
      versions)
  export_gc.delete_stale_exports(str(tmp_path), 2)
  assert sorted(os.listdir(tmp_path)) == sorted(
      ["1600000009", "1600000015", "temp-1600000099", "160000000", "notes"])
  export_gc.delete_stale_exports(str(tmp_path), None)
  assert len(os.listdir(tmp_path)) == 5
  assert export_gc.export_versions(str(tmp_path / "missing")) == []


def _input_fn():
  return {"x": tf.zeros([1, 3])}, tf.zeros([1], tf.int32)


class _NoName(ours.Exporter):
  pass


_SPEC_ERRORS = [
    ("TrainSpec", dict(input_fn=1), TypeError,
     "`input_fn` must be callable, given: 1"),
    ("TrainSpec", dict(input_fn=_input_fn, max_steps=0), ValueError,
     "Must specify max_steps > 0, given: 0"),
    ("TrainSpec", dict(input_fn=_input_fn, hooks=[1]), TypeError,
     "All hooks must be `SessionRunHook` instances, given: 1"),
    ("TrainSpec", dict(input_fn=_input_fn, saving_listeners=[1]), TypeError,
     "All saving_listeners must be `CheckpointSaverListener` instances, "
     "given: 1"),
    ("EvalSpec", dict(input_fn=_input_fn, steps=-1), ValueError,
     "Must specify steps > 0, given: -1"),
    ("EvalSpec", dict(input_fn=_input_fn, name=3), TypeError,
     "`name` must be string, given: 3"),
    ("EvalSpec", dict(input_fn=_input_fn, start_delay_secs=-1), ValueError,
     "Must specify start_delay_secs >= 0, given: -1"),
    ("EvalSpec", dict(input_fn=_input_fn, throttle_secs=-2), ValueError,
     "Must specify throttle_secs >= 0, given: -2"),
    ("EvalSpec", dict(input_fn=_input_fn, exporters=3), TypeError,
     "`exporters` must be an Exporter, an iterable of Exporter, or `None`, "
     "found 3."),
    ("EvalSpec", dict(input_fn=_input_fn, exporters=["a"]), TypeError,
     "`exporters` must be an Exporter, an iterable of Exporter, or `None`, "
     "found ['a']."),
]


@pytest.mark.parametrize("est", MODULES, ids=lambda m: m.__name__)
@pytest.mark.parametrize("spec,kwargs,error,text", _SPEC_ERRORS)
def test_spec_validation(est, spec, kwargs, error, text):
  with pytest.raises(error) as raised:
    getattr(est, spec)(**kwargs)
  assert str(raised.value) == text


@pytest.mark.parametrize("est", MODULES, ids=lambda m: m.__name__)
def test_exporter_validation(est):
  receiver = models.serving_input_receiver_fn(est)
  same = [est.LatestExporter("a", receiver), est.FinalExporter("a", receiver)]
  with pytest.raises(ValueError, match="`exporters` must have unique names. "
                     r"Such a name cannot be `None`. All exporter names: "
                     r"\['a', 'a'\]"):
    est.EvalSpec(_input_fn, exporters=same)
  with pytest.raises(ValueError, match="An Exporter must have a string name"):
    est.EvalSpec(_input_fn, exporters=est.LatestExporter(b"a", receiver))
  with pytest.raises(ValueError, match=r"must be positive number"):
    est.LatestExporter("a", receiver, exports_to_keep=0)
  with pytest.raises(ValueError, match=r"must be a positive number. Got -1"):
    est.BestExporter("a", receiver, exports_to_keep=-1)
  with pytest.raises(ValueError, match="`compare_fn` must not be None."):
    est.BestExporter("a", receiver, compare_fn=None)
  with pytest.raises(ValueError, match="must include current_eval_result"):
    est.BestExporter("a", receiver, compare_fn=lambda best_eval_result: 1)
  with pytest.raises(ValueError, match=r"not expected args: \['extra'\]"):
    est.BestExporter(
        "a", receiver,
        compare_fn=lambda best_eval_result, current_eval_result, extra: 1)
  spec = est.EvalSpec(_input_fn, exporters=est.FinalExporter("one", receiver))
  assert [e.name for e in spec.exporters] == ["one"]
  assert spec.steps == 100 and spec.throttle_secs == 600
  assert spec.start_delay_secs == 120 and spec.hooks == ()


def test_no_name_exporter_is_rejected():
  with pytest.raises(ValueError, match="An Exporter cannot have a name that "
                     r"is `None` or empty. All exporter names: \[None\]"):
    ours.EvalSpec(_input_fn, exporters=[_NoName()])


def test_train_and_evaluate_argument_types(tmp_path):
  estimator = _estimator(ours, str(tmp_path))
  train_spec, eval_spec = _specs(ours)
  with pytest.raises(TypeError, match="`eval_spec` must have type "
                     "`tf.estimator.EvalSpec`"):
    ours.train_and_evaluate(estimator, train_spec, None)
  with pytest.raises(TypeError, match="`train_spec` must have type "
                     "`tf.estimator.TrainSpec`"):
    ours.train_and_evaluate(estimator, eval_spec, eval_spec)
  with pytest.raises(TypeError, match="`estimator` must have type "
                     "`tf.estimator.Estimator`"):
    ours.train_and_evaluate(object(), train_spec, eval_spec)
  assert not os.listdir(tmp_path)


def _layout(model_dir):
  """{exporter name: number of exports, each export's relative files}."""
  layout = {}
  for name in sorted(os.listdir(os.path.join(model_dir, "export"))):
    exports = _exports(model_dir, name)
    files = set()
    for export in exports:
      root = os.path.join(model_dir, "export", name, export)
      for directory, _, names in os.walk(root):
        files.update(os.path.relpath(os.path.join(directory, f), root)
                     for f in names)
    layout[name] = (len(exports), sorted(files))
  return layout


def _signatures(export_dir):
  with tf.Graph().as_default():
    with tf.compat.v1.Session() as sess:
      meta = tf.compat.v1.saved_model.loader.load(
          sess, [tf.saved_model.SERVING], export_dir)
  describe = lambda infos: {k: (v.dtype, str(v.tensor_shape))
                            for k, v in infos.items()}
  return {name: (s.method_name, describe(s.inputs), describe(s.outputs))
          for name, s in meta.signature_def.items()}


@pytest.fixture(scope="module")
def native_run(tmp_path_factory):
  return _run(native_est, str(tmp_path_factory.mktemp("native_tae")))


@needs_native
def test_same_as_native_train_and_evaluate(local_run, native_run):
  mine, native = local_run, native_run
  assert sorted(mine["values"]) == sorted(native["values"])
  for name, value in native["values"].items():
    np.testing.assert_array_equal(mine["values"][name], value, err_msg=name)
  assert sorted(mine["eval_result"]) == sorted(native["eval_result"])
  for key, value in native["eval_result"].items():
    assert type(mine["eval_result"][key]) is type(value), key
    np.testing.assert_allclose(mine["eval_result"][key], value, rtol=1e-6,
                               err_msg=key)
  assert ([r is None for r in mine["export_results"]] ==
          [r is None for r in native["export_results"]])
  assert _layout(mine["model_dir"]) == _layout(native["model_dir"])
  for a, b in zip(mine["export_results"], native["export_results"]):
    if b is not None:
      assert _signatures(a) == _signatures(b)
  eval_steps = lambda run: sorted(models.event_scalars(
      os.path.join(run["model_dir"], "eval"))["loss"])
  assert eval_steps(mine) == eval_steps(native)
  # (eval_again/ is the other tests' own evaluation.)
  files = lambda run: sorted(
      f for f in os.listdir(run["model_dir"])
      if not f.startswith("events") and f != "eval_again")
  assert files(mine) == files(native)


def _throttled(est, model_dir):
  train_spec, eval_spec = _specs(est, throttle_secs=600, max_steps=10)
  result = est.train_and_evaluate(_estimator(est, model_dir), train_spec,
                                  eval_spec)
  return result, models.event_scalars(os.path.join(model_dir, "eval"))


@needs_native
def test_same_throttling_as_native(tmp_path):
  (mine, mine_events), (native, native_events) = (
      _throttled(ours, str(tmp_path / "ours")),
      _throttled(native_est, str(tmp_path / "native")))
  assert mine[1] == native[1] == []
  assert sorted(mine[0]) == sorted(native[0])
  for key, value in native[0].items():
    np.testing.assert_allclose(mine[0][key], value, rtol=1e-6, err_msg=key)
  assert sorted(mine_events["loss"]) == sorted(native_events["loss"]) == [5,
                                                                           10]


def _early_stopped(est, model_dir):
  """Stops once an evaluation's loss is under a bound every loss meets."""
  estimator = _estimator(est, model_dir)
  stop = est.experimental.stop_if_lower_hook(
      estimator, "loss", 1e6, run_every_secs=None, run_every_steps=1)
  (x, y), (ex, ey) = models.make_data(64, seed=0), models.make_data(40, 1)
  train_spec = est.TrainSpec(models.train_input_fn(x, y),
                             max_steps=MAX_STEPS, hooks=[stop])
  eval_spec = est.EvalSpec(models.eval_input_fn(ex, ey), steps=None,
                           start_delay_secs=0, throttle_secs=0)
  eval_result, _ = est.train_and_evaluate(estimator, train_spec, eval_spec)
  losses = models.event_scalars(os.path.join(model_dir, "eval"))["loss"]
  return eval_result, sorted(losses)


def _check_early_stop(eval_result, eval_steps):
  # The evaluation at step 5 meets the bound. The hook sees it in the same
  # step or, when its read of the global step raced the increment (as in
  # TensorFlow), one step later; the last checkpoint is evaluated.
  assert eval_steps in ([5], [5, 6])
  assert eval_result["global_step"] == eval_steps[-1]


def test_early_stopping_hook_ends_training(tmp_path):
  _check_early_stop(*_early_stopped(ours, str(tmp_path)))


@needs_native
def test_same_early_stopping_as_native(tmp_path):
  mine = _early_stopped(ours, str(tmp_path / "ours"))
  native = _early_stopped(native_est, str(tmp_path / "native"))
  _check_early_stop(*mine)
  _check_early_stop(*native)
  if mine[1] == native[1]:
    assert sorted(mine[0]) == sorted(native[0])
    for key, value in native[0].items():
      np.testing.assert_allclose(mine[0][key], value, rtol=1e-6,
                                 err_msg=key)


def _higher_accuracy(best_eval_result, current_eval_result):
  return current_eval_result["accuracy"] > best_eval_result["accuracy"]


def _best_exports(est, run, export_path):
  """Which of four results a fresh BestExporter exports, by accuracy.

  The results are around the best accuracy of the model_dir's evaluations.
  """
  estimator = run["estimator"]
  accuracies = models.event_scalars(os.path.join(run["model_dir"],
                                                 "eval"))["accuracy"]
  best = max(accuracies.values())
  exporter = est.BestExporter("by_accuracy",
                              models.serving_input_receiver_fn(est),
                              compare_fn=_higher_accuracy, exports_to_keep=1)
  checkpoint = estimator.latest_checkpoint()
  made = [exporter.export(estimator, export_path, checkpoint,
                          {"accuracy": best + delta, "loss": 1.0}, False)
          for delta in (-0.1, -0.05, 0.1, 0.05)]
  return [m is not None for m in made], len(export_gc.export_versions(
      export_path))


@needs_native
def test_same_best_exports_as_native(local_run, native_run, tmp_path):
  mine = _best_exports(ours, local_run, str(tmp_path / "ours"))
  native = _best_exports(native_est, native_run, str(tmp_path / "native"))
  # The first export of a new exporter always happens and becomes the best
  # (even when the event files hold a better one).
  assert mine == native == ([True, True, True, False], 1)
