"""`tf.estimator.experimental`: early stopping and in-training evaluation.

* `make_early_stopping_hook` and the `stop_if_*` hooks read the metrics
  that `Estimator.evaluate` wrote to `eval_dir` and stop training when a
  threshold is crossed or a metric stops improving;
* `make_stop_at_checkpoint_step_hook` stops a loop once the model_dir's
  checkpoint reaches a step;
* `InMemoryEvaluatorHook` evaluates the variables of the training session
  every N steps (without a checkpoint), in an evaluation graph of its own;
* `build_raw_supervised_input_receiver_fn` and `call_logit_fn`, as TF's.
"""

import collections
import operator
import os
import time

import tensorflow as tf

from tf_bn_compat.estimator import estimator as estimator_lib
from tf_bn_compat.estimator import evaluation
from tf_bn_compat.estimator import graph as graph_lib
from tf_bn_compat.estimator import hooks as hooks_lib
from tf_bn_compat.estimator import training
from tf_bn_compat.estimator.export.receivers import build_raw_supervised_input_receiver_fn  # pylint: disable=unused-import
from tf_bn_compat.estimator.model_fn import call_logit_fn  # pylint: disable=unused-import

_logging = tf.compat.v1.logging


def read_eval_metrics(eval_dir):
  """{global step: {metric: value}} from the event files of `eval_dir`."""
  metrics = collections.defaultdict(dict)
  if not tf.io.gfile.exists(eval_dir):
    return collections.OrderedDict()
  for path in tf.io.gfile.glob(os.path.join(eval_dir, "*.tfevents.*")):
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        values = {v.tag: v.simple_value for v in event.summary.value
                  if v.HasField("simple_value")}
        if values:
          metrics[event.step].update(values)
    except tf.errors.DataLossError as error:
      _logging.warning("Skipping rest of the file due to encountering data "
                       "corruption error; file path: %s; original error "
                       "raised by `tf.train.summary_iterator`: %s", path, error)
  return collections.OrderedDict(sorted(metrics.items()))


def _stop_variable():
  """The bool "signal_early_stopping/STOP" variable (saved, as in TF)."""
  with tf.compat.v1.variable_scope("signal_early_stopping", values=[],
                                   reuse=tf.compat.v1.AUTO_REUSE):
    return tf.compat.v1.get_variable(
        "STOP", shape=[], dtype=tf.bool,
        initializer=tf.compat.v1.constant_initializer(False),
        collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES],
        trainable=False)


class _StopOnPredicateHook(tf.compat.v1.train.SessionRunHook):
  """Calls `should_stop_fn` on a timer; stops training when it says so."""

  def __init__(self, should_stop_fn, run_every_secs=60, run_every_steps=None):
    if not callable(should_stop_fn):
      raise TypeError("`should_stop_fn` must be callable.")
    self._should_stop_fn = should_stop_fn
    self._timer = tf.compat.v1.train.SecondOrStepTimer(
        every_secs=run_every_secs, every_steps=run_every_steps)
    self._global_step = None
    self._stop_op = None

  def begin(self):
    self._global_step = tf.compat.v1.train.get_global_step()
    self._stop_op = tf.compat.v1.assign(_stop_variable(), True)

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    step = run_values.results
    if not self._timer.should_trigger_for_step(step):
      return
    self._timer.update_last_triggered_step(step)
    if self._should_stop_fn():
      _logging.info("Requesting early stopping at global step %d", step)
      run_context.session.run(self._stop_op)
      run_context.request_stop()


def make_early_stopping_hook(estimator, should_stop_fn, run_every_secs=60,
                             run_every_steps=None):
  """A hook that stops training when `should_stop_fn()` returns True.

  Args:
    estimator: The `Estimator`.
    should_stop_fn: Function of no arguments returning a bool.
    run_every_secs: Call it every this many seconds (default 60)...
    run_every_steps: ... or every this many steps (set only one).

  Returns:
    A `SessionRunHook` for `Estimator.train`.

  Raises:
    TypeError: If `estimator` is not an `Estimator`.
    ValueError: If both intervals are set.
  """
  if not isinstance(estimator, estimator_lib.Estimator):
    raise TypeError("`estimator` must have type `tf.estimator.Estimator`. "
                    "Got: {}".format(type(estimator)))
  if run_every_secs is not None and run_every_steps is not None:
    raise ValueError("Only one of `run_every_secs` and `run_every_steps` must "
                     "be set.")
  return _StopOnPredicateHook(should_stop_fn, run_every_secs, run_every_steps)


def _threshold_hook(estimator, metric_name, threshold, higher, eval_dir,
                    min_steps, run_every_secs, run_every_steps):
  eval_dir = eval_dir or estimator.eval_dir()
  better = operator.gt if higher else operator.lt
  words = "greater than" if higher else "less than"

  def crossed():
    for step, metrics in read_eval_metrics(eval_dir).items():
      value = metrics[metric_name]
      if step >= min_steps and better(value, threshold):
        _logging.info('At step %s, metric "%s" has value %s which is %s the '
                      "configured threshold (%s) for early stopping.", step,
                      metric_name, value, words, threshold)
        return True
    return False

  return make_early_stopping_hook(estimator, crossed, run_every_secs,
                                  run_every_steps)


def _no_improvement_hook(estimator, metric_name, max_steps, higher, eval_dir,
                         min_steps, run_every_secs, run_every_steps):
  eval_dir = eval_dir or estimator.eval_dir()
  better = operator.gt if higher else operator.lt
  word = "increase" if higher else "decrease"

  def stalled():
    best, best_step = None, None
    for step, metrics in read_eval_metrics(eval_dir).items():
      if step < min_steps:
        continue
      value = metrics[metric_name]
      if best is None or better(value, best):
        best, best_step = value, step
      if step - best_step >= max_steps:
        _logging.info('No %s in metric "%s" for %s steps, which is greater '
                      "than or equal to max steps (%s) configured for early "
                      "stopping.", word, metric_name, step - best_step,
                      max_steps)
        return True
    return False

  return make_early_stopping_hook(estimator, stalled, run_every_secs,
                                  run_every_steps)


def stop_if_higher_hook(estimator, metric_name, threshold, eval_dir=None,
                        min_steps=0, run_every_secs=60, run_every_steps=None):
  """Stops once an evaluation has `metric_name` > `threshold`."""
  return _threshold_hook(estimator, metric_name, threshold, True, eval_dir,
                         min_steps, run_every_secs, run_every_steps)


def stop_if_lower_hook(estimator, metric_name, threshold, eval_dir=None,
                       min_steps=0, run_every_secs=60, run_every_steps=None):
  """Stops once an evaluation has `metric_name` < `threshold`."""
  return _threshold_hook(estimator, metric_name, threshold, False, eval_dir,
                         min_steps, run_every_secs, run_every_steps)


def stop_if_no_increase_hook(estimator, metric_name,
                             max_steps_without_increase, eval_dir=None,
                             min_steps=0, run_every_secs=60,
                             run_every_steps=None):
  """Stops when `metric_name` has not increased for that many steps."""
  return _no_improvement_hook(estimator, metric_name,
                              max_steps_without_increase, True, eval_dir,
                              min_steps, run_every_secs, run_every_steps)


def stop_if_no_decrease_hook(estimator, metric_name,
                             max_steps_without_decrease, eval_dir=None,
                             min_steps=0, run_every_secs=60,
                             run_every_steps=None):
  """Stops when `metric_name` has not decreased for that many steps."""
  return _no_improvement_hook(estimator, metric_name,
                              max_steps_without_decrease, False, eval_dir,
                              min_steps, run_every_secs, run_every_steps)


class _StopAtCheckpointStepHook(tf.compat.v1.train.SessionRunHook):
  """Stops once the model_dir's latest checkpoint is at `last_step`."""

  def __init__(self, model_dir, last_step, wait_after_file_check_secs=30):
    self._model_dir = model_dir
    self._last_step = last_step
    self._wait_secs = wait_after_file_check_secs
    self._global_step = None

  def begin(self):
    self._global_step = tf.compat.v1.train.get_global_step()
    if self._global_step is None:
      raise RuntimeError("Global step should be created to use "
                         "StopAtCheckpointStepHook.")

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    if run_values.results + 1 < self._last_step:
      return
    # The step is reached in the graph; stop once it is on disk too.
    if training.saved_global_step(self._model_dir) >= self._last_step:
      run_context.request_stop()
    else:
      time.sleep(self._wait_secs)


def make_stop_at_checkpoint_step_hook(estimator, last_step,
                                      wait_after_file_check_secs=30):
  """A hook that stops once `estimator`'s checkpoint reaches `last_step`."""
  return _StopAtCheckpointStepHook(estimator.model_dir, last_step,
                                   wait_after_file_check_secs)


class InMemoryEvaluatorHook(tf.compat.v1.train.SessionRunHook):
  """Evaluates the training session's variables every `every_n_iter` steps.

  The evaluation graph is built once (`begin`); each evaluation copies the
  values of the training variables into it and runs it as
  `Estimator.evaluate` would, writing to `eval[_name]/`. It runs once when
  the session is created, every `every_n_iter` steps and at the end.

  Args:
    estimator: The `Estimator` being trained.
    input_fn: The evaluation input_fn.
    steps: Batches per evaluation, or None for the whole input.
    hooks: `SessionRunHook`s of the evaluation.
    name: Name of the evaluation (`eval_<name>/`).
    every_n_iter: Evaluate every this many training steps.

  Raises:
    ValueError: If `every_n_iter` is not positive.
  """

  def __init__(self, estimator, input_fn, steps=None, hooks=None, name=None,
               every_n_iter=100):
    if every_n_iter is None or every_n_iter <= 0:
      raise ValueError("invalid every_n_iter=%s." % every_n_iter)
    self._estimator = estimator
    self._input_fn = input_fn
    self._steps = steps
    self._hooks = hooks_lib.check_hooks(hooks)
    self._name = name
    self._timer = tf.compat.v1.train.SecondOrStepTimer(
        every_steps=every_n_iter)
    self._graph = None
    self._eval = None
    self._placeholders = None
    self._train_vars = None
    self._feed_op = None
    self._iter_count = 0

  def begin(self):
    self._timer.reset()
    self._iter_count = 0
    with graph_lib.mode_graph(self._estimator.config) as (graph, step):
      self._eval = evaluation.build_graph(self._estimator, self._input_fn,
                                          self._steps, self._hooks, None, step)
      if self._eval.scaffold.saver is not None:
        raise ValueError("InMemoryEvaluator does not support custom saver")
      if self._eval.scaffold.init_fn is not None:
        raise ValueError("InMemoryEvaluator does not support custom init_fn")
      self._placeholders = {
          v.name: (v, tf.compat.v1.placeholder(v.dtype.base_dtype, v.shape))
          for v in tf.compat.v1.global_variables()}
    self._graph = graph

  def after_create_session(self, session, coord):
    del coord
    train_vars = {v.name: v for v in tf.compat.v1.global_variables()}
    names = sorted(set(train_vars) & set(self._placeholders))
    self._train_vars = {name: train_vars[name] for name in names}
    with self._graph.as_default():
      self._feed_op = tf.group(*[
          tf.compat.v1.assign(self._placeholders[n][0],
                              self._placeholders[n][1]) for n in names])
    self._evaluate(session)

  def _evaluate(self, train_session):
    values = train_session.run(self._train_vars)
    feed = {self._placeholders[n][1]: v for n, v in values.items()}

    def init_fn(scaffold, session):
      del scaffold
      session.run(self._feed_op, feed_dict=feed)

    scaffold = tf.compat.v1.train.Scaffold(
        init_fn=init_fn, copy_from_scaffold=self._eval.scaffold)
    with self._graph.as_default():
      evaluation.run_and_write(self._estimator,
                               self._eval._replace(scaffold=scaffold), None,
                               self._name)

  def after_run(self, run_context, run_values):
    self._iter_count += 1
    if self._timer.should_trigger_for_step(self._iter_count):
      self._timer.update_last_triggered_step(self._iter_count)
      self._evaluate(run_context.session)

  def end(self, session):
    self._evaluate(session)


__all__ = [
    "InMemoryEvaluatorHook", "build_raw_supervised_input_receiver_fn",
    "call_logit_fn",
    "make_early_stopping_hook", "make_stop_at_checkpoint_step_hook",
    "stop_if_higher_hook", "stop_if_lower_hook", "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]
