"""Exporters: what `train_and_evaluate` does with a model after evaluation.

Each exporter writes SavedModels to `model_dir/export/<name>/<timestamp>/`:
`LatestExporter` after every evaluation (keeping the newest few),
`FinalExporter` once at the end of training, `BestExporter` whenever the
evaluation beats the best so far (as judged by `compare_fn`, by default a
smaller "loss").
"""

import tensorflow as tf

from tf_bn_compat.estimator import best_eval
from tf_bn_compat.estimator import export_gc
from tf_bn_compat.estimator import model_fn as model_fn_lib

_logging = tf.compat.v1.logging
_LOSS_KEY = "loss"
_COMPARE_ARGS = ("best_eval_result", "current_eval_result")


class Exporter(object):
  """A kind of model export, run by `train_and_evaluate` after evaluations.

  Subclasses define `name` (the directory under `model_dir/export/`) and
  `export`.
  """

  @property
  def name(self):
    """Directory name of these exports; neither None nor empty."""
    return None

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    """Exports `estimator` at `checkpoint_path`.

    Args:
      estimator: The `Estimator` to export.
      export_path: Directory the export goes in.
      checkpoint_path: The checkpoint to export.
      eval_result: What `Estimator.evaluate` returned on this checkpoint.
      is_the_final_export: True for the export at the end of training
        (never when `TrainSpec.max_steps` is None).

    Returns:
      The path of the export, or None if it was skipped.
    """
    return None


class _SavedModelExport(object):
  """`Estimator.export_saved_model` with an exporter's fixed arguments."""

  def __init__(self, name, serving_input_receiver_fn, assets_extra, as_text):
    self.name = name
    self._serving_input_receiver_fn = serving_input_receiver_fn
    self._assets_extra = assets_extra
    self._as_text = as_text

  def __call__(self, estimator, export_path, checkpoint_path):
    return estimator.export_saved_model(
        export_path, self._serving_input_receiver_fn,
        assets_extra=self._assets_extra, as_text=self._as_text,
        checkpoint_path=checkpoint_path)


def _loss_smaller(best_eval_result, current_eval_result):
  """Whether `current_eval_result` has a smaller "loss" than the best.

  Raises:
    ValueError: If either result is empty or has no "loss".
  """
  if not best_eval_result or _LOSS_KEY not in best_eval_result:
    raise ValueError(
        "best_eval_result cannot be empty or no loss is found in it.")
  if not current_eval_result or _LOSS_KEY not in current_eval_result:
    raise ValueError(
        "current_eval_result cannot be empty or no loss is found in it.")
  return best_eval_result[_LOSS_KEY] > current_eval_result[_LOSS_KEY]


def _check_compare_fn(compare_fn):
  """Raises ValueError unless `compare_fn` takes exactly the two results."""
  if compare_fn is None:
    raise ValueError("`compare_fn` must not be None.")
  args = set(model_fn_lib.function_args(compare_fn))
  for required in _COMPARE_ARGS:
    if required not in args:
      raise ValueError("compare_fn (%s) must include %s argument." %
                       (compare_fn, required))
  unexpected = list(args - set(_COMPARE_ARGS))
  if unexpected:
    raise ValueError("compare_fn (%s) has following not expected args: %s" %
                     (compare_fn, unexpected))


class LatestExporter(Exporter):
  """Exports after every evaluation; keeps the `exports_to_keep` newest.

  Args:
    name: Unique name, the directory under `model_dir/export/`.
    serving_input_receiver_fn: Function returning a `ServingInputReceiver`.
    assets_extra: Dict of destination under `assets.extra/` to source file.
    as_text: Whether to write the SavedModel proto as text.
    exports_to_keep: Number of exports to keep (None keeps all).

  Raises:
    ValueError: If `exports_to_keep` is not positive.
  """

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False, exports_to_keep=5):
    self._export = _SavedModelExport(name, serving_input_receiver_fn,
                                     assets_extra, as_text)
    if exports_to_keep is not None and exports_to_keep <= 0:
      raise ValueError(
          "`exports_to_keep`, if provided, must be positive number")
    self._exports_to_keep = exports_to_keep

  @property
  def name(self):
    return self._export.name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del eval_result, is_the_final_export
    result = self._export(estimator, export_path, checkpoint_path)
    export_gc.delete_stale_exports(export_path, self._exports_to_keep)
    return result


class FinalExporter(Exporter):
  """Exports once, at the end of training.

  Args:
    name: Unique name, the directory under `model_dir/export/`.
    serving_input_receiver_fn: Function returning a `ServingInputReceiver`.
    assets_extra: Dict of destination under `assets.extra/` to source file.
    as_text: Whether to write the SavedModel proto as text.
  """

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False):
    self._export = _SavedModelExport(name, serving_input_receiver_fn,
                                     assets_extra, as_text)

  @property
  def name(self):
    return self._export.name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del eval_result
    if not is_the_final_export:
      return None
    _logging.info("Performing the final export in the end of training.")
    return self._export(estimator, export_path, checkpoint_path)


class BestExporter(Exporter):
  """Exports whenever an evaluation is better than the best one so far.

  Whenever the exporter meets a new model_dir, the best result so far is
  read back from the evaluations' event files there (`event_file_pattern`,
  relative to the model_dir). As in TensorFlow, the first export of each
  exporter object still always happens, and its result becomes the best.

  Args:
    name: Unique name, the directory under `model_dir/export/`.
    serving_input_receiver_fn: Function returning a `ServingInputReceiver`.
    event_file_pattern: Glob of the evaluation event files, relative to
      the model_dir; None forgets the best result across restarts.
    compare_fn: Function(best_eval_result, current_eval_result) returning
      True if the current result is better; by default a smaller "loss".
    assets_extra: Dict of destination under `assets.extra/` to source file.
    as_text: Whether to write the SavedModel proto as text.
    exports_to_keep: Number of exports to keep (None keeps all).

  Raises:
    ValueError: If `compare_fn` is None or takes other arguments than
      `best_eval_result` and `current_eval_result`, or `exports_to_keep` is
      not positive.
  """

  def __init__(self, name="best_exporter", serving_input_receiver_fn=None,
               event_file_pattern="eval/*.tfevents.*",
               compare_fn=_loss_smaller, assets_extra=None, as_text=False,
               exports_to_keep=5):
    _check_compare_fn(compare_fn)
    self._compare_fn = compare_fn
    self._export = _SavedModelExport(name, serving_input_receiver_fn,
                                     assets_extra, as_text)
    self._event_file_pattern = event_file_pattern
    self._model_dir = None
    self._best_eval_result = None
    self._has_exported = False
    if exports_to_keep is not None and exports_to_keep <= 0:
      raise ValueError(
          "`exports_to_keep`, if provided, must be a positive number. Got %s"
          % exports_to_keep)
    self._exports_to_keep = exports_to_keep

  @property
  def name(self):
    return self._export.name

  def _load_best_from_events(self, model_dir):
    _logging.info("Loading best metric from event files.")
    self._model_dir = model_dir
    pattern = tf.io.gfile.join(model_dir, self._event_file_pattern)
    self._best_eval_result = best_eval.best_eval_result(pattern,
                                                        self._compare_fn)

  def _is_better(self, eval_result):
    return (self._best_eval_result is None or not self._has_exported or
            self._compare_fn(best_eval_result=self._best_eval_result,
                             current_eval_result=eval_result))

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del is_the_final_export
    if self._event_file_pattern and self._model_dir != estimator.model_dir:
      self._load_best_from_events(estimator.model_dir)
    if not self._is_better(eval_result):
      return None
    _logging.info("Performing best model export.")
    self._best_eval_result = eval_result
    result = self._export(estimator, export_path, checkpoint_path)
    export_gc.delete_stale_exports(export_path, self._exports_to_keep)
    self._has_exported = True
    return result
