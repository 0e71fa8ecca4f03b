"""`TrainSpec` and `EvalSpec`: the two halves of `train_and_evaluate`.

Both are validated namedtuples, as in TensorFlow: bad values fail when the
spec is made, with TensorFlow's error texts.
"""

import collections

from tf_bn_compat.estimator import exporters as exporters_lib
from tf_bn_compat.estimator import hooks as hooks_lib


def _check_input_fn(input_fn):
  if not callable(input_fn):
    raise TypeError("`input_fn` must be callable, given: {}".format(input_fn))


def _check_hooks(hooks):
  hooks = tuple(hooks or [])
  for hook in hooks:
    if not isinstance(hook, hooks_lib.SessionRunHook):
      raise TypeError(
          "All hooks must be `SessionRunHook` instances, given: {}".format(
              hook))
  return hooks


def _check_saving_listeners(saving_listeners):
  saving_listeners = tuple(saving_listeners or [])
  for listener in saving_listeners:
    if not isinstance(listener, hooks_lib.CheckpointSaverListener):
      raise TypeError(
          "All saving_listeners must be `CheckpointSaverListener` instances, "
          "given: {}".format(listener))
  return saving_listeners


def _check_exporter_names(exporters):
  """Raises ValueError unless every name is a non-empty, unique string."""
  seen = set()
  for exporter in exporters:
    if not exporter.name:
      raise ValueError("An Exporter cannot have a name that is `None` or "
                       "empty. All exporter names: {}".format(
                           [e.name for e in exporters]))
    if not isinstance(exporter.name, str):
      raise ValueError("An Exporter must have a string name. Given: "
                       "{}".format(type(exporter.name)))
    if exporter.name in seen:
      raise ValueError(
          "`exporters` must have unique names. Such a name cannot be `None`. "
          "All exporter names: {}".format([e.name for e in exporters]))
    seen.add(exporter.name)


def check_exporters(exporters):
  """`exporters` (one, an iterable of them, or None) as a tuple.

  Raises:
    TypeError: If something else than `Exporter`s is given.
    ValueError: If names are missing, not strings or not unique.
  """
  if not exporters:
    return ()
  given = exporters
  if isinstance(exporters, exporters_lib.Exporter):
    exporters = [exporters]
  try:
    exporters = list(exporters)
  except TypeError:
    exporters = None
  if exporters is None or not all(
      isinstance(e, exporters_lib.Exporter) for e in exporters):
    raise TypeError("`exporters` must be an Exporter, an iterable of "
                    "Exporter, or `None`, found %s." % (given,))
  _check_exporter_names(exporters)
  return tuple(exporters)


class TrainSpec(collections.namedtuple(
    "TrainSpec", ["input_fn", "max_steps", "hooks", "saving_listeners"])):
  """The training half of `train_and_evaluate`: input, duration, hooks.

  Args:
    input_fn: Function returning a `tf.data.Dataset` of (features, labels)
      or a (features, labels) tuple.
    max_steps: Positive number of total training steps; None trains forever
      (the only stop condition `train_and_evaluate` supports).
    hooks: Iterable of `SessionRunHook`s run during training.
    saving_listeners: Iterable of `CheckpointSaverListener`s run on the
      chief during training.

  Raises:
    TypeError: If `input_fn` is not callable, or a hook or listener has the
      wrong type.
    ValueError: If `max_steps` is not positive.
  """

  def __new__(cls, input_fn, max_steps=None, hooks=None,
              saving_listeners=None):
    _check_input_fn(input_fn)
    if max_steps is not None and max_steps <= 0:
      raise ValueError(
          "Must specify max_steps > 0, given: {}".format(max_steps))
    return super(TrainSpec, cls).__new__(
        cls, input_fn=input_fn, max_steps=max_steps,
        hooks=_check_hooks(hooks),
        saving_listeners=_check_saving_listeners(saving_listeners))


class EvalSpec(collections.namedtuple(
    "EvalSpec", ["input_fn", "steps", "name", "hooks", "exporters",
                 "start_delay_secs", "throttle_secs"])):
  """The evaluation half of `train_and_evaluate`: input, exporters, timing.

  Args:
    input_fn: Function returning a `tf.data.Dataset` of (features, labels)
      or a (features, labels) tuple.
    steps: Positive number of evaluation batches; None evaluates to the end
      of the input.
    name: Name of the evaluation (its results go to `eval_<name>/`).
    hooks: Iterable of `SessionRunHook`s run during evaluation.
    exporters: An `Exporter`, an iterable of them, or None; they run after
      each evaluation.
    start_delay_secs: Seconds a separate evaluator waits before its first
      evaluation.
    throttle_secs: Minimum seconds between the starts of two evaluations.

  Raises:
    TypeError: If `input_fn` is not callable, `name` is not a string, or a
      hook or exporter has the wrong type.
    ValueError: If `steps` is not positive, a delay is negative, or the
      exporter names are not unique non-empty strings.
  """

  def __new__(cls, input_fn, steps=100, name=None, hooks=None,
              exporters=None, start_delay_secs=120, throttle_secs=600):
    _check_input_fn(input_fn)
    if steps is not None and steps <= 0:
      raise ValueError("Must specify steps > 0, given: {}".format(steps))
    if name is not None and not isinstance(name, str):
      raise TypeError("`name` must be string, given: {}".format(name))
    hooks = _check_hooks(hooks)
    exporters = check_exporters(exporters)
    if start_delay_secs < 0:
      raise ValueError("Must specify start_delay_secs >= 0, given: {}".format(
          start_delay_secs))
    if throttle_secs < 0:
      raise ValueError(
          "Must specify throttle_secs >= 0, given: {}".format(throttle_secs))
    return super(EvalSpec, cls).__new__(
        cls, input_fn=input_fn, steps=steps, name=name, hooks=hooks,
        exporters=exporters, start_delay_secs=start_delay_secs,
        throttle_secs=throttle_secs)
