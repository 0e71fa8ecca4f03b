"""A task's place in a cluster, read from `TF_CONFIG` as `RunConfig` does.

`TF_CONFIG` is JSON: `{"cluster": {job: [address, ...]}, "task": {"type":
job, "index": i}}`, optionally with `model_dir`, `session_master`,
`eval_session_master` and a `service` dict. Without a cluster the task is
the single local worker (the chief). With one, the cluster needs exactly
one "chief" (or, in the older layout, one "master" and no "chief"), the
task must be one of its nodes, except for the "evaluator", which is
outside the training cluster.
"""

import collections
import json
import os

import tensorflow as tf

TF_CONFIG_ENV = "TF_CONFIG"
_LOCAL_MASTER = ""
_GRPC_SCHEME = "grpc://"


class TaskType(object):
  MASTER = "master"
  PS = "ps"
  WORKER = "worker"
  CHIEF = "chief"
  EVALUATOR = "evaluator"


ClusterConfig = collections.namedtuple("ClusterConfig", [
    "cluster_spec", "task_type", "task_id", "master", "evaluation_master",
    "is_chief", "num_ps_replicas", "num_worker_replicas",
    "global_id_in_cluster", "service"])


def load_tf_config(environ=None):
  """The `TF_CONFIG` environment variable as a dict (empty if unset)."""
  environ = os.environ if environ is None else environ
  return json.loads(environ.get(TF_CONFIG_ENV, "{}"))


def model_dir_from_tf_config(tf_config, model_dir):
  """`model_dir`, or `TF_CONFIG["model_dir"]` when it is None.

  Raises:
    ValueError: If either is empty, or both are set and differ.
  """
  if model_dir == "":  # pylint: disable=g-explicit-bool-comparison
    raise ValueError("model_dir should be non-empty.")
  from_config = tf_config.get("model_dir")
  if from_config == "":  # pylint: disable=g-explicit-bool-comparison
    raise ValueError("model_dir in TF_CONFIG should be non-empty.")
  if from_config and model_dir and from_config != model_dir:
    raise ValueError(
        "`model_dir` provided in RunConfig construct, if set, must have the "
        "same value as the model_dir in TF_CONFIG. model_dir: {}\n"
        "TF_CONFIG[\"model_dir\"]: {}.\n".format(model_dir, from_config))
  return model_dir or from_config


def _check_service(service):
  if service is not None and not isinstance(service, dict):
    raise TypeError(
        'If "service" is set in TF_CONFIG, it must be a dict. Given %s' %
        type(service))
  return service


def _task_type_and_id(cluster_spec, task, chief_type):
  """The validated (task type, task index) of `task` in the cluster.

  Raises:
    ValueError: If the cluster has not exactly one `chief_type` node, or the
      task's type or index is missing or not in the cluster.
  """
  if chief_type not in cluster_spec.jobs:
    raise ValueError(
        'If "cluster" is set in TF_CONFIG, it must have one "%s" node.' %
        chief_type)
  if len(cluster_spec.job_tasks(chief_type)) > 1:
    raise ValueError(
        'The "cluster" in TF_CONFIG must have only one "%s" node.' %
        chief_type)
  task_type, task_id = task.get("type"), task.get("index")
  if not task_type:
    raise ValueError('If "cluster" is set in TF_CONFIG, task type must be set.')
  if task_id is None:
    raise ValueError(
        'If "cluster" is set in TF_CONFIG, task index must be set.')
  task_id = int(task_id)
  if task_id < 0:
    raise ValueError("Task index must be non-negative number.")
  if task_type == TaskType.EVALUATOR:
    return task_type, task_id
  note = ("\n\nNote that these values may be coming from the TF_CONFIG "
          "environment variable.")
  if task_type not in cluster_spec.jobs:
    raise ValueError("%s is not a valid task_type in the cluster_spec:\n%s%s"
                     % (task_type, cluster_spec, note))
  if not 0 <= task_id < len(cluster_spec.job_tasks(task_type)):
    raise ValueError(
        "%d is not a valid task_id for task_type %s in the cluster_spec:\n"
        "%s%s" % (task_id, task_type, cluster_spec, note))
  return task_type, task_id


def _session_master(cluster_spec, task_type, task_id, tf_config):
  """`session_master` if given; "" for a cluster of one; else the task."""
  if "session_master" in tf_config:
    return tf_config["session_master"]
  jobs = cluster_spec.jobs
  if len(jobs) == 1 and len(cluster_spec.job_tasks(jobs[0])) == 1:
    return _LOCAL_MASTER
  return _GRPC_SCHEME + cluster_spec.job_tasks(task_type)[task_id]


def _evaluation_master(task_type, tf_config):
  if task_type == TaskType.EVALUATOR:
    return tf_config.get("eval_session_master", _LOCAL_MASTER)
  return _LOCAL_MASTER


def _global_id(cluster_spec, task_type, task_id, chief_type):
  """Position of the task: chief first, then other jobs by name, ps last."""
  jobs = cluster_spec.jobs
  order = [chief_type] + [j for j in sorted(jobs)
                          if j not in (chief_type, TaskType.PS)]
  if TaskType.PS in jobs:
    order.append(TaskType.PS)
  offset = 0
  for job in order:
    if job == task_type:
      return offset + task_id
    offset += len(cluster_spec.job_tasks(job))
  raise RuntimeError("Internal Error: `task_type` ({}) is not in "
                     "cluster_spec ({}).".format(task_type, cluster_spec))


def _count(cluster_spec, *jobs):
  tasks = cluster_spec.as_dict()
  return sum(len(tasks.get(job, [])) for job in jobs)


def _training_task(cluster_spec, task_type, task_id, tf_config, chief_type,
                   service):
  return ClusterConfig(
      cluster_spec=cluster_spec, task_type=task_type, task_id=task_id,
      master=_session_master(cluster_spec, task_type, task_id, tf_config),
      evaluation_master=_evaluation_master(task_type, tf_config),
      is_chief=task_type == chief_type,
      num_ps_replicas=_count(cluster_spec, TaskType.PS),
      num_worker_replicas=_count(cluster_spec, TaskType.WORKER, chief_type),
      global_id_in_cluster=_global_id(cluster_spec, task_type, task_id,
                                      chief_type),
      service=service)


def _with_master_job(cluster_spec, tf_config, service):
  """The older layout: a "master" job leads the cluster."""
  if TaskType.CHIEF in cluster_spec.jobs:
    raise ValueError("If `master` node exists in `cluster`, job `chief` is "
                     "not supported.")
  task_type, task_id = _task_type_and_id(
      cluster_spec, tf_config.get("task", {}), TaskType.MASTER)
  if task_type == TaskType.EVALUATOR:
    raise ValueError("If `master` node exists in `cluster`, task_type "
                     "`evaluator` is not supported.")
  return _training_task(cluster_spec, task_type, task_id, tf_config,
                        TaskType.MASTER, service)


def _with_chief_job(cluster_spec, tf_config, service):
  task_type, task_id = _task_type_and_id(
      cluster_spec, tf_config.get("task", {}), TaskType.CHIEF)
  if task_type != TaskType.EVALUATOR:
    return _training_task(cluster_spec, task_type, task_id, tf_config,
                          TaskType.CHIEF, service)
  # The evaluator is outside the training cluster.
  return ClusterConfig(
      cluster_spec=tf.train.ClusterSpec({}), task_type=task_type,
      task_id=task_id, master=_LOCAL_MASTER,
      evaluation_master=_evaluation_master(task_type, tf_config),
      is_chief=False, num_ps_replicas=0, num_worker_replicas=0,
      global_id_in_cluster=None, service=service)


def _without_cluster(tf_config, service):
  task = tf_config.get("task", {})
  task_type = task.get("type", TaskType.WORKER)
  task_id = int(task.get("index", 0))
  if task_type != TaskType.WORKER:
    raise ValueError(
        'If "cluster" is not set in TF_CONFIG, task type must be WORKER.')
  if task_id != 0:
    raise ValueError(
        'If "cluster" is not set in TF_CONFIG, task index must be 0.')
  return ClusterConfig(
      cluster_spec=tf.train.ClusterSpec({}), task_type=task_type,
      task_id=task_id,
      master=tf_config.get("session_master", _LOCAL_MASTER),
      evaluation_master=tf_config.get("eval_session_master", _LOCAL_MASTER),
      is_chief=True, num_ps_replicas=0, num_worker_replicas=1,
      global_id_in_cluster=0, service=service)


def cluster_config(tf_config):
  """The task's `ClusterConfig` described by a parsed `TF_CONFIG`.

  Args:
    tf_config: Dict, the parsed `TF_CONFIG` (see `load_tf_config`).

  Returns:
    A `ClusterConfig` with the values `RunConfig` exposes under the same
    names.

  Raises:
    ValueError: If the cluster or the task are inconsistent (TensorFlow's
      messages).
    TypeError: If "service" is not a dict.
  """
  service = _check_service(tf_config.get("service"))
  cluster_spec = tf.train.ClusterSpec(tf_config.get("cluster", {}))
  if cluster_spec and TaskType.MASTER in cluster_spec.jobs:
    return _with_master_job(cluster_spec, tf_config, service)
  if cluster_spec:
    return _with_chief_job(cluster_spec, tf_config, service)
  return _without_cluster(tf_config, service)


def distributed_session_config(task_type, task_id):
  """The default session config of a between-graph training task.

  Device filters let the chief (or master) and each worker see only the
  parameter servers and themselves; None for other tasks (the evaluator).
  """
  filters = {
      TaskType.MASTER: ["/job:ps", "/job:master"],
      TaskType.CHIEF: ["/job:ps", "/job:chief"],
      TaskType.WORKER: ["/job:ps", "/job:worker/task:%d" % task_id],
      TaskType.PS: ["/job:ps", "/job:worker", "/job:chief", "/job:master"],
  }.get(task_type)
  if filters is None:
    return None
  config = tf.compat.v1.ConfigProto(allow_soft_placement=True,
                                    device_filters=filters)
  config.graph_options.rewrite_options.meta_optimizer_iterations = 1
  return config
