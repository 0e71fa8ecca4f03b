"""`Estimator`: a `model_fn`, a model directory and a `RunConfig`.

The class holds the configuration and delegates each mode to its module:
`training`, `evaluation`, `prediction`, `exporting`. Every mode builds a
fresh graph, calls the `input_fn` and the `model_fn` there, and runs TF1's
own monitored sessions and hooks.
"""

import copy
import os
import tempfile

import tensorflow as tf

from tf_bn_compat.estimator import evaluation
from tf_bn_compat.estimator import exporting
from tf_bn_compat.estimator import input_pipeline
from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator import model_fn as model_fn_lib
from tf_bn_compat.estimator import prediction
from tf_bn_compat.estimator import run_config as run_config_lib
from tf_bn_compat.estimator import training
from tf_bn_compat.estimator import warm_starting

_logging = tf.compat.v1.logging
ModeKeys = mode_keys.ModeKeys


def _resolve_config(config, model_dir):
  """The RunConfig with its model_dir and session config settled.

  Raises:
    ValueError: If `config` is not a `RunConfig`, or its model_dir differs
      from `model_dir`.
  """
  if config is None:
    config = run_config_lib.RunConfig()
    _logging.info("Using default config.")
  if not isinstance(config, run_config_lib.RunConfig):
    raise ValueError("config must be an instance of `RunConfig`, but "
                     "provided %s." % config)
  if config.session_config is None:
    config = config.replace(
        session_config=run_config_lib.default_session_config())
  if model_dir is not None:
    model_dir = os.fspath(model_dir)
    model_dir = tf.compat.as_str(model_dir)
    if config.model_dir is not None and config.model_dir != model_dir:
      raise ValueError(
          "`model_dir` are set both in constructor and `RunConfig`, but with "
          "different values. In constructor: '{}', in `RunConfig`: "
          "'{}' ".format(model_dir, config.model_dir))
  if model_dir:
    return config.replace(model_dir=model_dir)
  if config.model_dir is None:
    model_dir = tempfile.mkdtemp()
    _logging.warning("Using temporary folder as model directory: %s",
                     model_dir)
    return config.replace(model_dir=model_dir)
  return config


class Estimator(object):
  """Trains, evaluates, predicts with and exports a TF1 `model_fn`.

  As `tf.estimator.Estimator` of TensorFlow 2.15, for `model_fn` pipelines,
  on one device or on the replicas of `RunConfig.train_distribute` /
  `eval_distribute` (see `distributed_model_fn.py`).

  Args:
    model_fn: Function of (features, labels, mode, params, config) -- any
      subset that includes `features` -- returning an `EstimatorSpec`.
    model_dir: Directory of checkpoints and summaries; `config.model_dir` or
      a new temporary directory if None.
    config: A `RunConfig`.
    params: Dict of hyperparameters passed to `model_fn` (and `input_fn`s
      that take `params`).
    warm_start_from: A checkpoint or SavedModel path, or
      `WarmStartSettings`: variables are initialized from it when the
      model_dir has no checkpoint.

  Raises:
    ValueError: If `model_fn` is missing or its arguments are not ones an
      Estimator passes, or `config`/`model_dir`/`warm_start_from` are
      invalid.
  """

  def __init__(self, model_fn, model_dir=None, config=None, params=None,
               warm_start_from=None):
    self._config = _resolve_config(config, model_dir)
    self._model_dir = self._config.model_dir
    _logging.info("Using config: %s", self._config)
    if model_fn is None:
      raise ValueError("model_fn must be provided to Estimator.")
    model_fn_lib.verify_model_fn_args(model_fn, params)
    self._model_fn = model_fn
    self._params = copy.deepcopy(params or {})
    self._warm_start_settings = warm_starting.settings_from(warm_start_from)

  @property
  def model_dir(self):
    return self._model_dir

  @property
  def config(self):
    return copy.deepcopy(self._config)

  @property
  def params(self):
    return copy.deepcopy(self._params)

  @property
  def model_fn(self):
    """The model_fn as a function of (features, labels, mode, config)."""

    def public_model_fn(features, labels, mode, config):
      return self.call_model_fn(features, labels, mode, config)

    return public_model_fn

  @property
  def warm_start_settings(self):
    """The `WarmStartSettings` of `warm_start_from`, or None."""
    return self._warm_start_settings

  def call_model_fn(self, features, labels, mode, config):
    """Calls the model_fn with the arguments it takes; see `model_fn.py`."""
    return model_fn_lib.call_model_fn(self._model_fn, features, labels, mode,
                                      self.params, config)

  def call_input_fn(self, input_fn, mode, input_context=None):
    """Calls an input_fn with the arguments it takes."""
    return input_pipeline.call_input_fn(input_fn, mode, self.params,
                                        self.config, input_context)

  def eval_dir(self, name=None):
    """Where `evaluate(name=...)` writes its summaries."""
    return os.path.join(self._model_dir,
                        "eval" if not name else "eval_" + name)

  def latest_checkpoint(self):
    """The path of the latest checkpoint in model_dir, or None."""
    return tf.train.latest_checkpoint(self._model_dir)

  def _require_checkpoint(self):
    if not self.latest_checkpoint():
      raise ValueError("Could not find trained model in model_dir: {}.".format(
          self._model_dir))

  def get_variable_names(self):
    """Names of the variables in the latest checkpoint.

    Raises:
      ValueError: If there is no checkpoint.
    """
    self._require_checkpoint()
    return [name for name, _ in tf.train.list_variables(self._model_dir)]

  def get_variable_value(self, name):
    """The value of variable `name` in the latest checkpoint.

    Raises:
      ValueError: If there is no checkpoint.
    """
    self._require_checkpoint()
    return tf.train.load_variable(self._model_dir, name)

  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    """Trains the model.

    Args:
      input_fn: Function returning a `tf.data.Dataset` or (features, labels).
      hooks: `SessionRunHook`s run in the training loop.
      steps: Train this many more steps (or until the input ends).
      max_steps: Train until the global step reaches this (a second call
        with the same value does nothing). Not with `steps`.
      saving_listeners: `CheckpointSaverListener`s run around each save.

    Returns:
      `self`.

    Raises:
      ValueError: If both `steps` and `max_steps` are given, or one is <= 0.
      TypeError: If a hook or listener has the wrong type.
    """
    training.train(self, input_fn, hooks, steps, max_steps,
                   saving_listeners)
    return self

  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None,
               name=None):
    """Evaluates the model on the latest (or the given) checkpoint.

    Args:
      input_fn: Function returning a `tf.data.Dataset` or (features, labels).
      steps: Number of batches; None runs to the end of the input.
      hooks: `SessionRunHook`s run during evaluation.
      checkpoint_path: Checkpoint to evaluate; the latest if None.
      name: Name of this evaluation (summaries go to `eval_<name>/`).

    Returns:
      Dict of metric values, with "loss" and "global_step".

    Raises:
      ValueError: If `steps` <= 0 or a metric is named "loss"/"global_step".
    """
    return evaluation.evaluate(self, input_fn, steps, hooks, checkpoint_path,
                               name)

  def predict(self, input_fn, predict_keys=None, hooks=None,
              checkpoint_path=None, yield_single_examples=True):
    """Yields predictions of the model on the input's features.

    Args:
      input_fn: Function returning a `tf.data.Dataset` or features (labels,
        if any, are ignored).
      predict_keys: Names of the predictions to compute (all if None).
      hooks: `SessionRunHook`s run during prediction.
      checkpoint_path: Checkpoint to use; the latest if None.
      yield_single_examples: Yield examples one by one (else whole batches).

    Yields:
      Dicts of prediction name to value (or values, if not a dict).

    Raises:
      ValueError: If `predict_keys` selects nothing, or batch lengths differ.
    """
    return prediction.predict(self, input_fn, predict_keys, hooks,
                              checkpoint_path, yield_single_examples)

  def export_saved_model(self, export_dir_base, serving_input_receiver_fn,
                         assets_extra=None, as_text=False,
                         checkpoint_path=None,
                         experimental_mode=ModeKeys.PREDICT):
    """Exports the model as a SavedModel under `export_dir_base/<time>/`.

    Args:
      export_dir_base: Directory the timestamped export directory goes in.
      serving_input_receiver_fn: Function returning a `ServingInputReceiver`
        (or, for TRAIN/EVAL, a supervised receiver).
      assets_extra: Dict of destination under `assets.extra/` to source file.
      as_text: Whether to write the SavedModel proto as text.
      checkpoint_path: Checkpoint to export; the latest if None.
      experimental_mode: `ModeKeys` value of the graph to export.

    Returns:
      The export directory (bytes).

    Raises:
      ValueError: If no receiver fn is given or no checkpoint is found.
    """
    return exporting.export_saved_model(
        self, export_dir_base, serving_input_receiver_fn, assets_extra,
        as_text, checkpoint_path, experimental_mode)

  def export_savedmodel(self, export_dir_base, serving_input_receiver_fn,
                        assets_extra=None, as_text=False, checkpoint_path=None,
                        strip_default_attrs=False):
    """TF1's name of `export_saved_model` (PREDICT only).

    Args:
      export_dir_base: Directory the timestamped export directory goes in.
      serving_input_receiver_fn: Function returning a `ServingInputReceiver`.
      assets_extra: Dict of destination under `assets.extra/` to source file.
      as_text: Whether to write the SavedModel proto as text.
      checkpoint_path: Checkpoint to export; the latest if None.
      strip_default_attrs: Whether default-valued attributes are left out.

    Returns:
      The export directory (bytes).
    """
    if not serving_input_receiver_fn:
      raise ValueError("An input_receiver_fn must be defined.")
    return exporting.export_all_saved_models(
        self, export_dir_base, {ModeKeys.PREDICT: serving_input_receiver_fn},
        assets_extra, as_text, checkpoint_path, strip_default_attrs)

  def experimental_export_all_saved_models(self, export_dir_base,
                                           input_receiver_fn_map,
                                           assets_extra=None, as_text=False,
                                           checkpoint_path=None):
    """Exports one SavedModel with a MetaGraph per mode of the map.

    Args:
      export_dir_base: Directory the timestamped export directory goes in.
      input_receiver_fn_map: Dict of `ModeKeys` value to receiver fn.
      assets_extra: Dict of destination under `assets.extra/` to source file.
      as_text: Whether to write the SavedModel proto as text.
      checkpoint_path: Checkpoint to export; the latest if None.

    Returns:
      The export directory (bytes).
    """
    return exporting.export_all_saved_models(
        self, export_dir_base, input_receiver_fn_map, assets_extra, as_text,
        checkpoint_path)


_VALID_METRIC_FN_ARGS = frozenset(["features", "labels", "predictions",
                                   "config"])


def add_metrics(estimator, metric_fn):
  """An Estimator like `estimator` whose evaluation adds `metric_fn`'s metrics.

  Args:
    estimator: An `Estimator`.
    metric_fn: Function of (features, labels, predictions, config) -- any
      subset -- returning a dict of name to (value, update_op).

  Returns:
    A new `Estimator` on the same model_dir and config.

  Raises:
    ValueError: If `metric_fn` takes other arguments.
  """
  unexpected = sorted(set(model_fn_lib.function_args(metric_fn)) -
                      _VALID_METRIC_FN_ARGS)
  if unexpected:
    raise ValueError("metric_fn (%s) has following not expected args: %s" %
                     (metric_fn, unexpected))

  def new_model_fn(features, labels, mode, config):
    spec = estimator.model_fn(features, labels, mode, config)
    if mode != ModeKeys.EVAL:
      return spec
    available = {"features": features, "labels": labels,
                 "predictions": spec.predictions, "config": config}
    args = model_fn_lib.function_args(metric_fn)
    metrics = dict(spec.eval_metric_ops or {})
    metrics.update(metric_fn(**{k: v for k, v in available.items()
                                if k in args}))
    return spec._replace(eval_metric_ops=metrics)

  return Estimator(model_fn=new_model_fn, model_dir=estimator.model_dir,
                   config=estimator.config,
                   warm_start_from=estimator.warm_start_settings)
