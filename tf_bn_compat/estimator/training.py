"""`Estimator.train`: build the training graph, then run it in a
`MonitoredTrainingSession` until a hook asks to stop.

Steps: check the arguments, skip when `max_steps` is already reached, build
the graph (input_fn, model_fn, warm start, loss summary, saver), assemble
the hooks, run the loop.
"""

import contextlib

import tensorflow as tf

from tf_bn_compat.estimator import between_graph
from tf_bn_compat.estimator import distributed_model_fn
from tf_bn_compat.estimator import graph as graph_lib
from tf_bn_compat.estimator import hooks as hooks_lib
from tf_bn_compat.estimator import input_pipeline
from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator import multi_worker
from tf_bn_compat.estimator import warm_starting

_logging = tf.compat.v1.logging
ModeKeys = mode_keys.ModeKeys


def _check_steps(steps, max_steps):
  if steps is not None and max_steps is not None:
    raise ValueError("Can not provide both steps and max_steps.")
  if steps is not None and steps <= 0:
    raise ValueError("Must specify steps > 0, given: {}".format(steps))
  if max_steps is not None and max_steps <= 0:
    raise ValueError("Must specify max_steps > 0, given: {}".format(max_steps))


def saved_global_step(model_dir):
  """The global step of the latest checkpoint in `model_dir` (0 if none)."""
  try:
    return int(tf.train.load_variable(model_dir,
                                      tf.compat.v1.GraphKeys.GLOBAL_STEP))
  except (tf.errors.NotFoundError, ValueError):
    return 0


def _add_loss_summary(loss):
  """A "loss" scalar summary unless the model_fn made one."""
  summaries = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES)
  if not any(s.op.name == "loss" for s in summaries):
    tf.compat.v1.summary.scalar("loss", loss)
  tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.LOSSES, loss)


def _add_default_saver(spec, config):
  """The sharded, relative-path Saver that honours keep_checkpoint_*."""
  if spec.scaffold.saver or tf.compat.v1.get_collection(
      tf.compat.v1.GraphKeys.SAVERS):
    return
  tf.compat.v1.add_to_collection(
      tf.compat.v1.GraphKeys.SAVERS,
      tf.compat.v1.train.Saver(
          sharded=True,
          max_to_keep=config.keep_checkpoint_max,
          keep_checkpoint_every_n_hours=config.keep_checkpoint_every_n_hours,
          defer_build=True,
          save_relative_paths=True))


def _worker_hooks(spec, input_hooks, hooks, global_step, config):
  """Input hooks, the caller's, NaN check, loss logging, the model_fn's."""
  worker = list(input_hooks) + list(hooks)
  worker.append(tf.compat.v1.train.NanTensorHook(spec.loss))
  if config.log_step_count_steps is not None:
    worker.append(tf.compat.v1.train.LoggingTensorHook(
        {"loss": spec.loss, "step": global_step},
        every_n_iter=config.log_step_count_steps))
  worker.extend(spec.training_hooks)
  return worker


def _chief_hooks(spec, worker_hooks, saving_listeners, model_dir, config):
  """A CheckpointSaverHook (unless one was given) carrying the listeners."""
  given = [h for h in list(worker_hooks) + list(spec.training_chief_hooks)
           if isinstance(h, tf.compat.v1.train.CheckpointSaverHook)]
  chief = []
  if not given and (config.save_checkpoints_secs or
                    config.save_checkpoints_steps):
    chief.append(tf.compat.v1.train.CheckpointSaverHook(
        model_dir,
        save_secs=config.save_checkpoints_secs,
        save_steps=config.save_checkpoints_steps,
        scaffold=spec.scaffold,
        listeners=saving_listeners,
        save_graph_def=config.checkpoint_save_graph_def))
    return chief + list(spec.training_chief_hooks)
  if saving_listeners:
    if not given:
      raise ValueError(
          "There should be a CheckpointSaverHook to use saving_listeners. "
          "Please set one of the RunConfig.save_checkpoints_steps or "
          "RunConfig.save_checkpoints_secs.")
    # The hook takes listeners only when built; the first one gets them.
    attached = given[0]._listeners  # pylint: disable=protected-access
    attached.extend(l for l in saving_listeners if l not in attached)
  return chief + list(spec.training_chief_hooks)


def _monitored_session(spec, worker_hooks, chief_hooks, model_dir, config,
                       target):
  """The training session on `target` (a `multi_worker.WorkerSession`)."""
  if target.collective and not target.is_chief:
    return multi_worker.non_chief_session(spec.scaffold, worker_hooks,
                                          model_dir, target)
  summaries = between_graph.summary_settings(config, spec.scaffold)
  return tf.compat.v1.train.MonitoredTrainingSession(
      master=target.master,
      is_chief=target.is_chief,
      checkpoint_dir=model_dir,
      scaffold=spec.scaffold,
      hooks=worker_hooks + summaries.worker_hooks,
      chief_only_hooks=chief_hooks,
      save_checkpoint_secs=0,  # The CheckpointSaverHook above saves.
      save_summaries_steps=summaries.save_summary_steps,
      config=target.session_config,
      max_wait_secs=config.session_creation_timeout_secs,
      log_step_count_steps=summaries.log_step_count_steps,
      save_graph_def=config.checkpoint_save_graph_def)


def _run_loop(spec, worker_hooks, chief_hooks, model_dir, config, target):
  """Runs train_op until a hook stops; returns the last loss (or None)."""
  loss = None
  with _monitored_session(spec, worker_hooks, chief_hooks, model_dir, config,
                          target) as session:
    while not session.should_stop():
      _, loss = session.run([spec.train_op, spec.loss])
  if loss is None:
    _logging.warning("Training with estimator made no steps. Perhaps input "
                     "is empty or misspecified.")
  return loss


def _session_target(config, saving_listeners):
  """The `multi_worker.WorkerSession` training runs in.

  Raises:
    ValueError: If saving listeners are given to a multi-worker strategy
      (TF's message).
  """
  strategy = config.train_distribute
  if not multi_worker.is_multi_worker(strategy):
    return multi_worker.local_session(config)
  if saving_listeners:
    raise ValueError("Saving listenor is not supported by the current "
                     "Distribution Strategies.")
  return multi_worker.worker_session(strategy, config.session_config)


@contextlib.contextmanager
def _local_model(estimator, input_fn, config):
  """The model_fn's TRAIN spec in a fresh graph, without a strategy.

  Ops are placed by the config's device function or, on a cluster with
  parameter servers, by `replica_device_setter`.
  """
  device_fn = config.device_fn or between_graph.default_device_fn(config)
  with graph_lib.mode_graph(config, read_global_step=True,
                            device_fn=device_fn) as (_, step):
    features, labels, input_hooks = input_pipeline.features_and_labels(
        estimator.call_input_fn(input_fn, ModeKeys.TRAIN))
    spec = estimator.call_model_fn(features, labels, ModeKeys.TRAIN, config)
    yield spec, input_hooks, step


@contextlib.contextmanager
def _distributed_model(estimator, input_fn, config):
  """The model_fn's TRAIN spec on every replica of `train_distribute`."""
  strategy = config.train_distribute
  with distributed_model_fn.strategy_graph(config, strategy,
                                           loss_scaling=True):
    yield distributed_model_fn.train_spec(estimator, input_fn, config,
                                          strategy)


def train(estimator, input_fn, hooks=None, steps=None, max_steps=None,
          saving_listeners=None):
  """Trains `estimator`'s model; see `Estimator.train`.

  Returns:
    The loss of the last step, or None when nothing ran.
  """
  _check_steps(steps, max_steps)
  model_dir, config = estimator.model_dir, estimator.config
  if max_steps is not None and max_steps <= saved_global_step(model_dir):
    _logging.info("Skipping training since max_steps has already saved.")
    return None
  hooks = hooks_lib.check_hooks(hooks)
  if steps is not None or max_steps is not None:
    hooks.append(tf.compat.v1.train.StopAtStepHook(steps, max_steps))
  saving_listeners = hooks_lib.check_listeners(saving_listeners)

  model, run_config = _local_model, config
  if config.train_distribute:
    model = _distributed_model
    run_config = distributed_model_fn.configured_session(
        config, config.train_distribute)
  target = _session_target(run_config, saving_listeners)
  with model(estimator, input_fn, config) as (spec, input_hooks, step):
    if estimator.warm_start_settings:
      warm_starting.warm_start(estimator.warm_start_settings)
    _add_loss_summary(spec.loss)
    worker = _worker_hooks(spec, input_hooks, hooks, step, run_config)
    _add_default_saver(spec, run_config)
    chief = _chief_hooks(spec, worker, saving_listeners, model_dir,
                         run_config)
    loss = _run_loop(spec, worker, chief, model_dir, run_config, target)
  _logging.info("Loss for final step: %s.", loss)
  return loss


