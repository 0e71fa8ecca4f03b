"""`Estimator.evaluate`: run the metrics' update ops over the input (or
`steps` batches) on a checkpoint, then write and return the metric values.

Steps: pick the checkpoint, build the graph (input_fn, model_fn, warm
start if there is no checkpoint, metrics with "loss" and "global_step"),
run the update ops in a `MonitoredSession` restored from the checkpoint,
read the values once at the end, write them to `eval[_name]/`.
"""

import collections
import time

import numpy as np
import tensorflow as tf

from tf_bn_compat.estimator import distributed_model_fn
from tf_bn_compat.estimator import graph as graph_lib
from tf_bn_compat.estimator import hooks as hooks_lib
from tf_bn_compat.estimator import input_pipeline
from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator import multi_worker
from tf_bn_compat.estimator import warm_starting

_logging = tf.compat.v1.logging
ModeKeys = mode_keys.ModeKeys
LOSS_METRIC_KEY = "loss"
GLOBAL_STEP_KEY = tf.compat.v1.GraphKeys.GLOBAL_STEP


class StopAfterNEvalsHook(tf.compat.v1.train.SessionRunHook):
  """Stops evaluation after `num_evals` batches, logging the progress.

  Args:
    num_evals: Number of batches.
    evals_completed: Tensor giving the number of batches done (it depends on
      the update ops, so it is read after each batch's update).
  """

  def __init__(self, num_evals, evals_completed):
    self._num_evals = num_evals
    self._evals_completed = evals_completed
    self._log_every = max(num_evals // 10, 1)

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(self._evals_completed)

  def after_run(self, run_context, run_values):
    done = run_values.results
    if done % self._log_every == 0 or done == self._num_evals:
      _logging.info("Evaluation [%d/%d]", done, self._num_evals)
    if done >= self._num_evals:
      run_context.request_stop()


def _eval_step():
  """The local int64 "eval_step" counter (TF's `GraphKeys.EVAL_STEP`)."""
  existing = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.EVAL_STEP)
  if len(existing) > 1:
    raise ValueError("Multiple tensors added to tf.GraphKeys.EVAL_STEP")
  if existing:
    return existing[0]
  return tf.compat.v1.get_variable(
      "eval_step", shape=[], dtype=tf.int64,
      initializer=tf.compat.v1.zeros_initializer(), trainable=False,
      collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
                   tf.compat.v1.GraphKeys.EVAL_STEP])


def _metric_ops(spec):
  """(grouped update op, dict of metric values) with "loss"."""
  metrics = dict(spec.eval_metric_ops)
  if LOSS_METRIC_KEY in metrics:
    raise ValueError(
        'Metric with name "%s" is not allowed, because Estimator already '
        "defines a default metric with the same name." % LOSS_METRIC_KEY)
  metrics[LOSS_METRIC_KEY] = tf.compat.v1.metrics.mean(spec.loss)
  # Sorted, so that the graph is the same from one run to the next.
  names = sorted(metrics)
  update = tf.group(*[metrics[name][1] for name in names])
  return update, {name: metrics[name][0] for name in names}


def _with_global_step(values, global_step):
  if GLOBAL_STEP_KEY in values:
    raise ValueError(
        "Metric with name `global_step` is not allowed, because Estimator "
        "already defines a default metric with the same name.")
  values = dict(values)
  values[GLOBAL_STEP_KEY] = global_step
  return values


def _scaffold_with_eval_step(scaffold):
  """The scaffold, its local init op (if set) also initializing eval_step."""
  if scaffold.local_init_op is None:
    return scaffold
  return tf.compat.v1.train.Scaffold(
      local_init_op=tf.group(
          scaffold.local_init_op,
          tf.compat.v1.train.Scaffold.default_local_init_op()),
      copy_from_scaffold=scaffold)


def _run(scaffold, update, values, hooks, checkpoint_path, config):
  """Runs `update` until the hooks stop or input ends; returns `values`."""
  final = tf.compat.v1.train.FinalOpsHook(values)
  creator = tf.compat.v1.train.ChiefSessionCreator(
      scaffold=scaffold, checkpoint_filename_with_path=checkpoint_path,
      master=config.evaluation_master, config=config.session_config)
  _logging.info("Starting evaluation at " +
                time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()))
  start = time.time()
  with tf.compat.v1.train.MonitoredSession(
      session_creator=creator, hooks=list(hooks) + [final]) as session:
    while not session.should_stop():
      session.run(update)
  _logging.info("Inference Time : {:0.5f}s".format(time.time() - start))
  _logging.info("Finished evaluation at " +
                time.strftime("%Y-%m-%d-%H:%M:%S", time.localtime()))
  return final.final_ops_values


def _summary_value(summary, key, value):
  """Adds `value` to `summary` as TF's Estimator did; False if skipped."""
  if isinstance(value, (np.floating, float)):
    summary.value.add(tag=key, simple_value=float(value))
  elif isinstance(value, (np.integer, int)):
    summary.value.add(tag=key, simple_value=int(value))
  elif isinstance(value, bytes):
    try:
      parsed = tf.compat.v1.Summary.FromString(value)
    except Exception:  # pylint: disable=broad-except
      _logging.warning("Skipping summary for %s, cannot parse string to "
                       "Summary.", key)
      return False
    for i, item in enumerate(parsed.value):
      item.tag = "%s/%d" % (key, i)
    summary.value.extend(parsed.value)
  elif isinstance(value, np.ndarray):
    item = summary.value.add(tag=key, node_name=key)
    item.tensor.CopyFrom(tf.compat.v1.make_tensor_proto(value))
  else:
    _logging.warning("Skipping summary for %s, must be a float, np.float32, "
                     "np.int64, np.int32 or int or a serialized string of "
                     "Summary.", key)
    return False
  return True


def dict_to_str(results):
  return ", ".join("%s = %s" % (k, v) for k, v in sorted(results.items())
                   if not isinstance(v, bytes))


def write_results(output_dir, results, global_step, checkpoint_path):
  """Logs the results and writes them as summaries at `global_step`."""
  _logging.info("Saving dict for global step %d: %s", global_step,
                dict_to_str(results))
  with tf.Graph().as_default():  # FileWriter refuses eager mode.
    writer = tf.compat.v1.summary.FileWriterCache.get(output_dir)
  summary = tf.compat.v1.Summary()
  for key, value in results.items():
    if value is not None and key != GLOBAL_STEP_KEY:
      _summary_value(summary, key, value)
  writer.add_summary(summary, global_step)
  if checkpoint_path:
    _logging.info("Saving 'checkpoint_path' summary for global step %d: %s",
                  global_step, checkpoint_path)
    path_summary = tf.compat.v1.Summary()
    path_summary.value.add(
        tag="checkpoint_path",
        tensor=tf.compat.v1.make_tensor_proto(checkpoint_path,
                                              dtype=tf.string))
    writer.add_summary(path_summary, global_step)
  writer.flush()


class EvalGraph(collections.namedtuple(
    "EvalGraph", ["scaffold", "update", "values", "hooks"])):
  """An evaluation graph: its scaffold, update op, metric values and hooks."""


def _local_model(estimator, input_fn):
  """The model_fn's EVAL graph parts on one device (see `_assemble`)."""
  features, labels, input_hooks = input_pipeline.features_and_labels(
      estimator.call_input_fn(input_fn, ModeKeys.EVAL))
  spec = estimator.call_model_fn(features, labels, ModeKeys.EVAL,
                                 estimator.config)
  update, values = _metric_ops(spec)
  return spec.scaffold, update, values, input_hooks, spec.evaluation_hooks


def _assemble(estimator, parts, steps, hooks, checkpoint_path, global_step):
  """An `EvalGraph` of (scaffold, update, values, input hooks, model hooks)."""
  scaffold, update, values, input_hooks, model_hooks = parts
  if not checkpoint_path and estimator.warm_start_settings:
    warm_starting.warm_start(estimator.warm_start_settings)
  values = _with_global_step(values, global_step)
  eval_step = _eval_step()
  scaffold = _scaffold_with_eval_step(scaffold)
  with tf.control_dependencies([update]):
    update = tf.compat.v1.assign_add(eval_step, 1, use_locking=True)
  all_hooks = list(input_hooks) + list(hooks)
  if steps is not None:
    all_hooks.append(StopAfterNEvalsHook(steps, tf.identity(update)))
  all_hooks.extend(model_hooks)
  return EvalGraph(scaffold, update, values, all_hooks)


def build_graph(estimator, input_fn, steps, hooks, checkpoint_path,
                global_step):
  """Builds the evaluation graph (one device) in the default graph.

  Args:
    estimator: The Estimator.
    input_fn: Its evaluation input_fn.
    steps: Number of batches, or None for the whole input.
    hooks: The caller's hooks (checked).
    checkpoint_path: The checkpoint to evaluate; without one the variables
      are initialized (warm-started if the Estimator says so).
    global_step: The graph's global step variable.

  Returns:
    An `EvalGraph`.
  """
  return _assemble(estimator, _local_model(estimator, input_fn), steps,
                   hooks, checkpoint_path, global_step)


def _distributed_graph(estimator, input_fn, steps, hooks, checkpoint_path,
                       config):
  """The evaluation graph on every replica of `config.eval_distribute`."""
  parts = distributed_model_fn.eval_parts(estimator, input_fn, config,
                                          config.eval_distribute)
  return _assemble(estimator, parts[:-1], steps, hooks, checkpoint_path,
                   parts[-1])


def run_and_write(estimator, graph, checkpoint_path, name, config=None):
  """Runs an `EvalGraph`, writes its results to `eval[_name]/`; returns them.

  `config` (the Estimator's if None) gives the session's settings.
  """
  results = _run(graph.scaffold, graph.update, graph.values, graph.hooks,
                 checkpoint_path, config or estimator.config)
  write_results(estimator.eval_dir(name), results, results[GLOBAL_STEP_KEY],
                checkpoint_path)
  return results


def evaluate(estimator, input_fn, steps=None, hooks=None,
             checkpoint_path=None, name=None):
  """Evaluates `estimator`'s model; see `Estimator.evaluate`.

  Returns:
    Dict of metric name to value, with "loss" and "global_step".
  """
  hooks = hooks_lib.check_hooks(hooks)
  if steps is not None and steps <= 0:
    raise ValueError("Must specify steps > 0, given: {}".format(steps))
  if not checkpoint_path:
    checkpoint_path = estimator.latest_checkpoint()
    if not checkpoint_path:
      _logging.info("Could not find trained model in model_dir: {}, running "
                    "initialization to evaluate.".format(estimator.model_dir))
  config = estimator.config
  strategy = config.eval_distribute
  if multi_worker.is_multi_worker(strategy):
    # TensorFlow's message: it evaluated on a cluster only from a client.
    raise ValueError("Only `STANDALONE_CLIENT` mode is supported when you "
                     "call `Estimator.evaluate`")
  if strategy:
    with distributed_model_fn.strategy_graph(config, strategy):
      graph = _distributed_graph(estimator, input_fn, steps, hooks,
                                 checkpoint_path, config)
      return run_and_write(
          estimator, graph, checkpoint_path, name,
          distributed_model_fn.configured_session(config, strategy))
  with graph_lib.mode_graph(config) as (_, global_step):
    graph = build_graph(estimator, input_fn, steps, hooks, checkpoint_path,
                        global_step)
    return run_and_write(estimator, graph, checkpoint_path, name)
