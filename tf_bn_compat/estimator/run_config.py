"""`RunConfig`: where and how often an Estimator writes, and its session.

At construction it reads the task's place in a cluster from `TF_CONFIG`, as
TensorFlow's did (see `cluster_config.py`); without one the task is the
chief worker of a cluster of one.
"""

import copy

import tensorflow as tf

from tf_bn_compat.estimator import cluster_config
from tf_bn_compat.estimator import distributed_model_fn

_USE_DEFAULT = object()
_DEFAULT_SAVE_CHECKPOINTS_SECS = 600
_SAVE_CKPT_ERR = (
    "`save_checkpoints_steps` and `save_checkpoints_secs` cannot be both set.")
_REPLACEABLE = (
    "model_dir", "tf_random_seed", "save_summary_steps",
    "save_checkpoints_steps", "save_checkpoints_secs", "session_config",
    "keep_checkpoint_max", "keep_checkpoint_every_n_hours",
    "log_step_count_steps", "train_distribute", "device_fn", "protocol",
    "eval_distribute", "experimental_distribute",
    "experimental_max_worker_delay_secs", "session_creation_timeout_secs",
    "checkpoint_save_graph_def")


def default_session_config():
  """TF's default Estimator session: soft placement, one Grappler pass."""
  config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
  # RewriterConfig.ONE: run the meta optimizer once, as Estimators did.
  config.graph_options.rewrite_options.meta_optimizer_iterations = 1
  return config


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


def _device_fn_ok(device_fn):
  from tf_bn_compat.estimator import model_fn as model_fn_lib  # pylint: disable=g-import-not-at-top
  return callable(device_fn) and (
      set(model_fn_lib.function_args(device_fn)) == {"op"})


# (property, predicate on a value that is not None, message): TF's checks.
_CHECKS = (
    ("model_dir", bool, "model_dir should be non-empty"),
    ("save_summary_steps", lambda v: v >= 0,
     "save_summary_steps should be >= 0"),
    ("save_checkpoints_steps", lambda v: v >= 0,
     "save_checkpoints_steps should be >= 0"),
    ("save_checkpoints_secs", lambda v: v >= 0,
     "save_checkpoints_secs should be >= 0"),
    ("session_config", lambda v: isinstance(v, tf.compat.v1.ConfigProto),
     "session_config must be instance of ConfigProto"),
    ("keep_checkpoint_max", lambda v: v >= 0,
     "keep_checkpoint_max should be >= 0"),
    ("keep_checkpoint_every_n_hours", lambda v: v > 0,
     "keep_checkpoint_every_n_hours should be > 0"),
    ("log_step_count_steps", lambda v: v > 0,
     "log_step_count_steps should be > 0"),
    ("tf_random_seed", _is_int, "tf_random_seed must be integer."),
    ("experimental_max_worker_delay_secs", _is_int,
     "experimental_max_worker_delay_secs must be an integer if set."),
    ("session_creation_timeout_secs", lambda v: v > 0,
     "session_creation_timeout_secs should be > 0"),
    ("device_fn", _device_fn_ok,
     'device_fn must be callable with exactly one argument "op".'),
    ("protocol", lambda v: v in ("grpc", "grpc+verbs"),
     'protocol should be grpc or grpc+verbs'),
)


def _resolve_checkpoint_schedule(steps, secs):
  """(save_checkpoints_steps, save_checkpoints_secs) after TF's defaults."""
  if steps is _USE_DEFAULT and secs is _USE_DEFAULT:
    return None, _DEFAULT_SAVE_CHECKPOINTS_SECS
  if secs is _USE_DEFAULT:
    return steps, None
  if steps is _USE_DEFAULT:
    return None, secs
  if steps is not None and secs is not None:
    raise ValueError(_SAVE_CKPT_ERR)
  return steps, secs


class RunConfig(object):
  """Configuration of an Estimator run, as `tf.estimator.RunConfig`.

  Args:
    model_dir: Directory of checkpoints, summaries and the graph.
    tf_random_seed: Graph-level random seed of every graph the Estimator
      builds.
    save_summary_steps: Write summaries every this many steps (None: never).
    save_checkpoints_steps: Save a checkpoint every this many steps.
    save_checkpoints_secs: Save a checkpoint every this many seconds (the
      default, 600, when neither is given; at most one may be set).
    session_config: A `tf.compat.v1.ConfigProto` for the sessions.
    keep_checkpoint_max: Number of recent checkpoints kept (0 or None: all).
    keep_checkpoint_every_n_hours: Additionally keep one checkpoint per this
      many hours.
    log_step_count_steps: Log the loss and `global_step/sec` every this many
      steps (None: never).
    train_distribute: A `tf.distribute.Strategy` whose replicas each run
      the model_fn in training (see `distributed_model_fn.py`).
    device_fn: Function of `op` returning its device, or None.
    protocol: Kept for compatibility ("grpc", "grpc+verbs" or None).
    eval_distribute: A `tf.distribute.Strategy` for evaluation.
    experimental_distribute: Kept for compatibility.
    experimental_max_worker_delay_secs: Kept for compatibility.
    session_creation_timeout_secs: Longest wait for a session.
    checkpoint_save_graph_def: Whether `graph.pbtxt` and `model.ckpt-N.meta`
      are written.

  The task's place in a cluster (`cluster_spec`, `task_type`, `task_id`,
  `is_chief`, `master`, ...) is read from the `TF_CONFIG` environment
  variable, as is `model_dir` when not given. A training task of a cluster
  without a `session_config` gets device filters: the chief and each worker
  see only the parameter servers and themselves. With a `train_distribute`
  strategy on a cluster without a "master" job, only `cluster_spec` is read:
  the strategy knows the task's place (the other properties keep a lone
  process's values, as in TF's Estimator).

  Raises:
    ValueError: If both checkpoint schedules are set, a value is out of
      range, or `TF_CONFIG` is inconsistent (TF's messages).
    TypeError: If `TF_CONFIG`'s "service" is not a dict, or a
      `*_distribute` value is not a `tf.distribute.Strategy`.
  """

  def __init__(self,
               model_dir=None,
               tf_random_seed=None,
               save_summary_steps=100,
               save_checkpoints_steps=_USE_DEFAULT,
               save_checkpoints_secs=_USE_DEFAULT,
               session_config=None,
               keep_checkpoint_max=5,
               keep_checkpoint_every_n_hours=10000,
               log_step_count_steps=100,
               train_distribute=None,
               device_fn=None,
               protocol=None,
               eval_distribute=None,
               experimental_distribute=None,
               experimental_max_worker_delay_secs=None,
               session_creation_timeout_secs=7200,
               checkpoint_save_graph_def=True):
    steps, secs = _resolve_checkpoint_schedule(save_checkpoints_steps,
                                               save_checkpoints_secs)
    tf_config = cluster_config.load_tf_config()
    if tf_config:
      tf.compat.v1.logging.info("TF_CONFIG environment variable: %s",
                                tf_config)
    self._model_dir = cluster_config.model_dir_from_tf_config(
        tf_config, None if model_dir is None else _path_to_str(model_dir))
    self._tf_random_seed = tf_random_seed
    self._save_summary_steps = save_summary_steps
    self._save_checkpoints_steps = steps
    self._save_checkpoints_secs = secs
    self._session_config = session_config
    self._keep_checkpoint_max = keep_checkpoint_max
    self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
    self._log_step_count_steps = log_step_count_steps
    self._train_distribute = train_distribute
    self._device_fn = device_fn
    self._protocol = protocol
    self._eval_distribute = eval_distribute
    self._experimental_distribute = experimental_distribute
    self._experimental_max_worker_delay_secs = (
        experimental_max_worker_delay_secs)
    self._session_creation_timeout_secs = session_creation_timeout_secs
    self._checkpoint_save_graph_def = checkpoint_save_graph_def
    self._validate()
    _init_cluster(self, tf_config)

  def _validate(self):
    for name, ok, message in _CHECKS:
      value = getattr(self, name)
      if value is not None and not ok(value):
        raise ValueError(message)
    self._validate_strategies()

  def _validate_strategies(self):
    distributed_model_fn.check_strategy(self.train_distribute,
                                        "train_distribute")
    distributed_model_fn.check_strategy(self.eval_distribute,
                                        "eval_distribute")

  def __deepcopy__(self, memo):
    # Copies share the strategies: a strategy's copy is another strategy
    # (graphs built in one's scope refuse the other), and copying a
    # multi-worker one made in a graph fails outside it.
    for strategy in (self._train_distribute, self._eval_distribute):
      if strategy is not None:
        memo[id(strategy)] = strategy
    new = object.__new__(type(self))
    memo[id(self)] = new
    for key, value in self.__dict__.items():
      new.__dict__[key] = copy.deepcopy(value, memo)
    return new

  def replace(self, **kwargs):
    """A copy with the given properties replaced.

    Setting one checkpoint schedule (steps or secs) clears the other.

    Args:
      **kwargs: Properties and their new values.

    Returns:
      A new `RunConfig`.

    Raises:
      ValueError: If a property may not be replaced, or both checkpoint
        schedules end up set.
    """
    new = copy.deepcopy(self)
    for key, value in kwargs.items():
      if key not in _REPLACEABLE:
        raise ValueError(
            "Replacing {} is not supported. Allowed properties are {}.".format(
                key, list(_REPLACEABLE)))
      setattr(new, "_" + key, value)
    steps_set = "save_checkpoints_steps" in kwargs
    secs_set = "save_checkpoints_secs" in kwargs
    steps, secs = new.save_checkpoints_steps, new.save_checkpoints_secs
    if steps_set and secs_set:
      if steps is not None and secs is not None:
        raise ValueError(_SAVE_CKPT_ERR)
    elif steps_set and steps is not None:
      new._save_checkpoints_secs = None  # pylint: disable=protected-access
    elif secs_set and secs is not None:
      new._save_checkpoints_steps = None  # pylint: disable=protected-access
    if new.model_dir is not None:
      new._model_dir = _path_to_str(new.model_dir)  # pylint: disable=protected-access
    new._validate()  # pylint: disable=protected-access
    return new

  def __str__(self):
    # As TF's Estimator logs its config: the dict of its attributes.
    return str({"_" + name: getattr(self, name) for name in
                _REPLACEABLE + cluster_config.ClusterConfig._fields})

  def __repr__(self):
    return "RunConfig(%s)" % ", ".join(
        "%s=%r" % (name, getattr(self, name)) for name in _REPLACEABLE)

  # The settings.
  model_dir = property(lambda self: self._model_dir)
  tf_random_seed = property(lambda self: self._tf_random_seed)
  save_summary_steps = property(lambda self: self._save_summary_steps)
  save_checkpoints_steps = property(lambda self: self._save_checkpoints_steps)
  save_checkpoints_secs = property(lambda self: self._save_checkpoints_secs)
  session_config = property(lambda self: self._session_config)
  keep_checkpoint_max = property(lambda self: self._keep_checkpoint_max)
  keep_checkpoint_every_n_hours = property(
      lambda self: self._keep_checkpoint_every_n_hours)
  log_step_count_steps = property(lambda self: self._log_step_count_steps)
  train_distribute = property(lambda self: self._train_distribute)
  device_fn = property(lambda self: self._device_fn)
  protocol = property(lambda self: self._protocol)
  eval_distribute = property(lambda self: self._eval_distribute)
  experimental_distribute = property(
      lambda self: self._experimental_distribute)
  experimental_max_worker_delay_secs = property(
      lambda self: self._experimental_max_worker_delay_secs)
  session_creation_timeout_secs = property(
      lambda self: self._session_creation_timeout_secs)
  checkpoint_save_graph_def = property(
      lambda self: self._checkpoint_save_graph_def)

  # The task's place in its cluster (from TF_CONFIG; not replaceable).
  cluster_spec = property(lambda self: self._cluster_spec)
  master = property(lambda self: self._master)
  evaluation_master = property(lambda self: self._evaluation_master)
  is_chief = property(lambda self: self._is_chief)
  task_type = property(lambda self: self._task_type)
  task_id = property(lambda self: self._task_id)
  global_id_in_cluster = property(lambda self: self._global_id_in_cluster)
  num_ps_replicas = property(lambda self: self._num_ps_replicas)
  num_worker_replicas = property(lambda self: self._num_worker_replicas)
  service = property(lambda self: self._service)


def _init_cluster(config, tf_config):
  """Sets the task's place in its cluster from the parsed `TF_CONFIG`."""
  spec = tf.train.ClusterSpec(tf_config.get("cluster", {}))
  if (config.train_distribute and spec and
      cluster_config.TaskType.MASTER not in spec.jobs):
    lone = cluster_config.cluster_config({})
    _set_cluster(config, lone._replace(cluster_spec=spec))
    return
  _set_cluster(config, cluster_config.cluster_config(tf_config))
  _set_distributed_session_config(config)


def _set_cluster(config, cluster):
  """Sets the `ClusterConfig` fields as the config's private attributes."""
  for field, value in cluster._asdict().items():
    setattr(config, "_" + field, value)


def _set_distributed_session_config(config):
  """Device filters for a training task of a cluster without session config.

  The chief and each worker see only the parameter servers and themselves.
  """
  if config.session_config is None and config.cluster_spec:
    session_config = cluster_config.distributed_session_config(
        config.task_type, config.task_id)
    setattr(config, "_session_config", session_config)


def _path_to_str(path):
  return path.decode("utf-8") if isinstance(path, bytes) else str(path)
