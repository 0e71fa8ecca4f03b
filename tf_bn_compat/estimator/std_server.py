"""The in-process TensorFlow server of a task of a `TF_CONFIG` cluster."""

import tensorflow as tf

from tf_bn_compat.estimator import cluster_config

_logging = tf.compat.v1.logging
TaskType = cluster_config.TaskType
_TRAINER_JOBS = (TaskType.CHIEF, TaskType.MASTER, TaskType.WORKER)


def _is_cluster_of_one(config):
  jobs = config.cluster_spec.jobs
  return (len(jobs) == 1 and len(config.cluster_spec.job_tasks(jobs[0])) == 1
          and config.task_type in _TRAINER_JOBS)


def start_std_server(config):
  """Starts the `tf.distribute.Server` of the config's task.

  A trainer alone in its cluster (its `master` is "") needs none.

  Args:
    config: The Estimator's `RunConfig`.

  Returns:
    The started server, or None for a cluster of one.

  Raises:
    RuntimeError: If the config has no cluster, task or master (TF's
      messages).
  """
  if (not config.cluster_spec or not config.task_type or
      config.task_id is None):
    raise RuntimeError("Could not start server; be sure to specify "
                       "cluster_spec, task_type, and task in RunConfig or set "
                       "the TF_CONFIG environment variable.")
  if not config.master:
    if _is_cluster_of_one(config):
      _logging.info("Skip starting Tensorflow server as there is only one "
                    "node in the cluster.")
      return None
    raise RuntimeError("Could not start server; be sure to specify master in "
                       "RunConfig or set the TF_CONFIG environment variable.")
  _logging.info("Start Tensorflow server.")
  # Only the GPU options of the session config apply to the server.
  server_config = tf.compat.v1.ConfigProto(log_device_placement=False)
  if config.session_config is not None:
    server_config.gpu_options.CopyFrom(config.session_config.gpu_options)
  server = tf.distribute.Server(
      config.cluster_spec, job_name=config.task_type,
      task_index=config.task_id, config=server_config, start=False,
      protocol=config.protocol)
  server.start()
  return server
