"""What `Estimator.train` changes on a task of a parameter-server cluster.

Variables go to the parameter servers through TF1's
`replica_device_setter` (unless `RunConfig.device_fn` is given). In the
older "master" layout with workers, the master evaluates while it trains,
so worker 0 writes the summaries and step counts instead.
"""

import collections

import tensorflow as tf

from tf_bn_compat.estimator import cluster_config

TaskType = cluster_config.TaskType

SummarySettings = collections.namedtuple(
    "SummarySettings",
    ["save_summary_steps", "log_step_count_steps", "worker_hooks"])


def default_device_fn(config):
  """The training graph's device function when the config gives none.

  Args:
    config: The Estimator's `RunConfig`.

  Returns:
    A `replica_device_setter` putting variables on the config's parameter
    servers and other ops on the task, or None without parameter servers.
  """
  if config.num_ps_replicas <= 0:
    return None
  if config.task_type:
    worker_device = "/job:%s/task:%d" % (config.task_type, config.task_id)
  else:
    worker_device = "/job:worker"
  return tf.compat.v1.train.replica_device_setter(
      ps_tasks=config.num_ps_replicas, worker_device=worker_device,
      merge_devices=True, cluster=config.cluster_spec)


def _master_with_workers(cluster_spec):
  jobs = cluster_spec.jobs if cluster_spec else []
  return TaskType.WORKER in jobs and TaskType.MASTER in jobs


def summary_settings(config, scaffold):
  """Who writes the training summaries and step counts, and how often.

  Args:
    config: The Estimator's `RunConfig`.
    scaffold: The training `Scaffold`.

  Returns:
    `SummarySettings`: the `MonitoredTrainingSession`'s summary and
    step-count settings, and the extra hooks of this task.
  """
  if not _master_with_workers(config.cluster_spec):
    return SummarySettings(config.save_summary_steps,
                           config.log_step_count_steps, [])
  hooks = []
  if config.task_type == TaskType.WORKER and config.task_id == 0:
    if config.save_summary_steps and config.save_summary_steps > 0:
      hooks.append(tf.compat.v1.train.SummarySaverHook(
          save_steps=config.save_summary_steps, output_dir=config.model_dir,
          scaffold=scaffold))
    if config.log_step_count_steps and config.log_step_count_steps > 0:
      hooks.append(tf.compat.v1.train.StepCounterHook(
          every_n_steps=config.log_step_count_steps,
          output_dir=config.model_dir))
  return SummarySettings(0, None, hooks)
