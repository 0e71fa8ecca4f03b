"""Training on a strategy whose replicas span worker processes.

A `MultiWorkerMirroredStrategy` made with `TF_CONFIG` describing a cluster of
workers (`{"cluster": {"worker": [...]}, "task": {...}}`) runs its collective
ops between the workers' in-process servers. Each worker builds the same
graph (between-graph replication), serves it from this process's
`tf.distribute.Server`, initializes its own copies of the variables (their
initial values are broadcast from the first worker) and runs every step;
only the chief (the "chief" task, else worker 0) writes checkpoints and
summaries, as TensorFlow 2.15's distribute coordinator arranged.
"""

import collections

import tensorflow as tf

_CHIEF = "chief"
_WORKER = "worker"

# One server per task and process: a port serves once.
_SERVERS = {}


class WorkerSession(collections.namedtuple(
    "WorkerSession", ["master", "is_chief", "session_config", "collective"])):
  """Where a training session runs: target, chief or not, its ConfigProto.

  `collective`: every worker initializes its own variables (a non-chief does
  not wait for the chief's).
  """


def cluster_spec(strategy):
  """The strategy's cluster (empty when it runs in this process only)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None:
    return tf.train.ClusterSpec({})
  return resolver.cluster_spec()


def is_multi_worker(strategy):
  """Whether `strategy`'s replicas span several tasks of a cluster."""
  return bool(strategy is not None and cluster_spec(strategy).jobs)


def _is_chief(cluster, task_type, task_id):
  if task_type == _CHIEF:
    return True
  return (task_type == _WORKER and task_id == 0 and
          _CHIEF not in cluster.jobs)


def _target(strategy, cluster, task_type, task_id, session_config):
  """This task's session target; starts its server unless one runs.

  A strategy made eagerly has started this task's server already (in the
  eager context, as TensorFlow's distribute coordinator knew from the same
  flag); the task's address reaches it.
  """
  if getattr(strategy.extended, "_std_server_started", False):
    return "grpc://" + cluster.task_address(task_type, task_id)
  key = (str(cluster.as_dict()), task_type, task_id)
  if key not in _SERVERS:
    _SERVERS[key] = tf.distribute.Server(
        cluster, job_name=task_type, task_index=task_id,
        config=session_config, start=True)
  return _SERVERS[key].target


def worker_session(strategy, session_config):
  """The `WorkerSession` of this task of `strategy`'s cluster.

  Starts this process's server for the task the first time (unless the
  strategy started one).

  Args:
    strategy: A multi-worker `tf.distribute.Strategy`.
    session_config: The Estimator's `ConfigProto`.

  Returns:
    A `WorkerSession`.

  Raises:
    ValueError: If this task is not a worker or the chief (TF's message for
      an evaluator).
  """
  resolver = strategy.cluster_resolver
  cluster = resolver.cluster_spec()
  task_type, task_id = resolver.task_type, resolver.task_id
  if task_type not in (_CHIEF, _WORKER):
    raise ValueError("'evaluator' job is not supported if you don't use "
                     "`train_and_evaluate`")
  config = strategy.update_config_proto(session_config)
  return WorkerSession(_target(strategy, cluster, task_type, task_id, config),
                       _is_chief(cluster, task_type, task_id), config,
                       collective=True)


def local_session(config):
  """The `WorkerSession` of a `RunConfig` (one process, or its cluster's)."""
  return WorkerSession(config.master, config.is_chief, config.session_config,
                       collective=False)


def non_chief_session(scaffold, hooks, model_dir, session):
  """A `MonitoredSession` of a non-chief collective worker.

  It initializes (or restores from `model_dir`) its own variables and runs
  the worker hooks; it writes no checkpoint or summary.

  Args:
    scaffold: The training `Scaffold`.
    hooks: The worker hooks.
    model_dir: Where the latest checkpoint (if any) is restored from.
    session: The task's `WorkerSession`.

  Returns:
    A `tf.compat.v1.train.MonitoredSession`.
  """
  creator = tf.compat.v1.train.ChiefSessionCreator(
      scaffold=scaffold, master=session.master,
      config=session.session_config, checkpoint_dir=model_dir)
  return tf.compat.v1.train.MonitoredSession(session_creator=creator,
                                             hooks=hooks)


def train_worker(estimator, train_spec):
  """`train_and_evaluate` on a worker of a multi-worker `train_distribute`.

  As TensorFlow 2.15's distribute coordinator ran it: this worker trains to
  `train_spec.max_steps` with the spec's hooks (not its saving listeners);
  evaluation is the evaluator task's.

  Args:
    estimator: The `Estimator`.
    train_spec: The `TrainSpec`.
  """
  estimator.train(input_fn=train_spec.input_fn,
                  max_steps=train_spec.max_steps,
                  hooks=list(train_spec.hooks))
