"""The model_fn on every replica of a `tf.distribute.Strategy`, in a TF1 graph.

As TensorFlow 2.15's Estimator with `RunConfig(train_distribute=...)` or
`eval_distribute=...`:

* the graph is built in `strategy.scope()`, so variables are mirrored and
  saved under their single-device names;
* the input_fn is called through `strategy.make_input_fn_iterator` (once per
  worker, with a `tf.distribute.InputContext`) and must return a dataset; its
  elements are dealt to the replicas, one element per replica and step;
* the model_fn runs once per replica (`call_for_each_replica`);
* training: v1 optimizers scale each replica's loss by 1 / replicas when the
  loss was reduced by a mean (`tf.compat.v1.losses` with a MEAN-like
  reduction), and sum the replicas' gradients; so per-replica MEAN losses of
  equal-size batches train as one device on the concatenated batch. The
  reported loss is the replicas' mean in that case, their sum otherwise;
* the replicas' train ops, update ops (UPDATE_OPS under the train op's control
  dependencies) and scaffolds are grouped into one;
* evaluation: each metric is updated on every replica; its value aggregates
  the replicas' (metric variables are summed across replicas on read).
"""

import contextlib

import tensorflow as tf

from tf_bn_compat.estimator import estimator_spec as spec_lib
from tf_bn_compat.estimator import graph as graph_lib
from tf_bn_compat.estimator import input_pipeline
from tf_bn_compat.estimator import mode_keys

ModeKeys = mode_keys.ModeKeys
LOSS_METRIC_KEY = "loss"


def check_strategy(value, name):
  """Checks a `RunConfig` strategy argument.

  Args:
    value: The value of `train_distribute` or `eval_distribute`.
    name: The argument's name, for the message.

  Raises:
    TypeError: If `value` is neither None nor a `tf.distribute.Strategy`.
    ValueError: If it is TF2's `ParameterServerStrategy` (TF's message).
  """
  if value is None:
    return
  if not isinstance(value, (tf.distribute.Strategy,
                            tf.compat.v1.distribute.Strategy)):
    raise TypeError("{} must be a `tf.distribute.Strategy`, given: {}".format(
        name, value))
  if type(value) is tf.distribute.experimental.ParameterServerStrategy:  # pylint: disable=unidiomatic-typecheck
    raise ValueError("Please use `tf.compat.v1.distribute.experimental.Param"
                     "eterServerStrategy` for parameter server strategy with "
                     "estimator.")


class _IteratorInitializerHook(tf.compat.v1.train.SessionRunHook):
  """Initializes a distributed iterator once the session exists."""

  def __init__(self, iterator):
    self._iterator = iterator
    self._initializer = None

  def begin(self):
    self._initializer = self._iterator.initialize()

  def after_create_session(self, session, coord):
    del coord
    session.run(self._initializer)


def _features_and_labels(estimator, input_fn, mode, strategy):
  """Per-replica (features, labels or None) and the iterator's hook.

  Raises:
    ValueError: If the input_fn returns no dataset, or a tuple other than
      a (features, labels) pair.
  """
  iterator = strategy.make_input_fn_iterator(
      lambda input_context: estimator.call_input_fn(input_fn, mode,
                                                    input_context))
  features, labels, _ = input_pipeline.features_and_labels(iterator.get_next())
  return features, labels, [_IteratorInitializerHook(iterator)]


def _create_global_step(graph, strategy):
  """The global step (made in the scope) and its cached cross-replica read."""
  global_step = tf.compat.v1.train.create_global_step(graph)
  graph.add_to_collection(graph_lib.GLOBAL_STEP_READ_KEY,
                          strategy.extended.read_var(global_step))
  return global_step


@contextlib.contextmanager
def _loss_scaling(strategy):
  """Lets v1 optimizers scale mean losses by 1 / replicas, as for Estimators.

  TensorFlow's v1 optimizers read this flag of the strategy; the Estimator
  is the only documented user, and no public switch exists.
  """
  scale = getattr(strategy, "_scale_loss_for_estimator_enabled", None)
  if scale is None:
    yield
  else:
    with scale():
      yield


@contextlib.contextmanager
def strategy_graph(config, strategy, loss_scaling=False):
  """A fresh default graph in `strategy.scope()` with the config's seed.

  The global step is made after the input (`_create_global_step`), in the
  order TensorFlow's Estimator made them, so that op-level seeds agree.

  Args:
    config: The Estimator's `RunConfig`.
    strategy: The `tf.distribute.Strategy`.
    loss_scaling: Whether v1 optimizers scale mean losses (training).

  Yields:
    The graph.
  """
  scaling = (_loss_scaling(strategy) if loss_scaling else
             contextlib.nullcontext())
  with tf.Graph().as_default() as graph, strategy.scope(), scaling:
    tf.compat.v1.random.set_random_seed(config.tf_random_seed)
    yield graph


def _first_replica(strategy, per_replica_items):
  return [strategy.experimental_local_results(item)[0]
          for item in per_replica_items]


def _group_or_none(strategy, items):
  items = [item for item in items if item is not None]
  return strategy.group(items) if items else None


def _per_replica_ready_for_local_init_op(scaffold):
  """The scaffold's op, or the graph's default one (uninitialized globals)."""
  if scaffold.ready_for_local_init_op is not None:
    return scaffold.ready_for_local_init_op
  return tf.compat.v1.train.Scaffold.get_or_default(
      "ready_for_local_init_op",
      tf.compat.v1.GraphKeys.READY_FOR_LOCAL_INIT_OP,
      lambda: tf.compat.v1.report_uninitialized_variables(
          tf.compat.v1.global_variables()))


def combine_scaffolds(grouped_scaffold, strategy):
  """One `Scaffold` of the replicas' scaffolds.

  Init, local init and summary ops are grouped; the ready ops concatenated;
  the init feed dict, init_fn and saver are the first replica's that has
  one (every replica's model shares the mirrored variables).

  Args:
    grouped_scaffold: The per-replica scaffolds.
    strategy: The `tf.distribute.Strategy`.

  Returns:
    A `tf.compat.v1.train.Scaffold`.
  """
  scaffolds = strategy.experimental_local_results(grouped_scaffold)

  def first(attribute):
    found = [getattr(s, attribute) for s in scaffolds
             if getattr(s, attribute) is not None]
    return found[0] if found else None

  def concatenated(per_replica):
    if per_replica is None:
      return None
    parts = tf.nest.flatten(strategy.experimental_local_results(per_replica))
    return parts[0] if len(parts) == 1 else tf.concat(parts, 0)

  feeds = [s.init_feed_dict for s in scaffolds if s.init_feed_dict is not None]
  return tf.compat.v1.train.Scaffold(
      init_op=_group_or_none(strategy, [s.init_op for s in scaffolds]),
      ready_op=concatenated(strategy.extended.call_for_each_replica(
          lambda scaffold: scaffold.ready_op, args=(grouped_scaffold,))),
      ready_for_local_init_op=concatenated(
          strategy.extended.call_for_each_replica(
              _per_replica_ready_for_local_init_op, args=(grouped_scaffold,))),
      local_init_op=_group_or_none(strategy,
                                   [s.local_init_op for s in scaffolds]),
      summary_op=_group_or_none(strategy, [s.summary_op for s in scaffolds]),
      saver=first("saver"),
      init_feed_dict=strategy.group(feeds) if feeds else None,
      init_fn=first("_user_init_fn"))


def _reported_loss_reduction():
  """MEAN when the optimizer scaled the replicas' losses, else SUM."""
  graph = tf.compat.v1.get_default_graph()
  if getattr(graph, "_is_loss_scaled_by_optimizer", False):
    return tf.compat.v1.distribute.get_loss_reduction()
  return tf.distribute.ReduceOp.SUM


def train_spec(estimator, input_fn, config, strategy):
  """The TRAIN spec of the model_fn on every replica, in `strategy_graph`.

  Args:
    estimator: The Estimator.
    input_fn: Its training input_fn (returning a dataset).
    config: The `RunConfig`.
    strategy: The `tf.distribute.Strategy`.

  Returns:
    (one `EstimatorSpec`, the input hooks, the global step).
  """
  graph = tf.compat.v1.get_default_graph()
  features, labels, input_hooks = _features_and_labels(
      estimator, input_fn, ModeKeys.TRAIN, strategy)
  global_step = _create_global_step(graph, strategy)
  grouped = strategy.extended.call_for_each_replica(
      estimator.call_model_fn,
      args=(features, labels, ModeKeys.TRAIN, config))
  loss = strategy.reduce(_reported_loss_reduction(), grouped.loss, axis=None)
  spec = spec_lib.EstimatorSpec(
      mode=ModeKeys.TRAIN,
      loss=loss,
      train_op=strategy.group(grouped.train_op),
      training_hooks=_first_replica(strategy, grouped.training_hooks),
      training_chief_hooks=_first_replica(strategy,
                                          grouped.training_chief_hooks),
      scaffold=combine_scaffolds(grouped.scaffold, strategy))
  return spec, input_hooks, global_step


def _metric_ops(grouped, strategy):
  """(grouped update op, dict of metric values) with "loss", on every replica.

  Raises:
    ValueError: If the model_fn defined a "loss" metric.
  """
  metrics = dict(grouped.eval_metric_ops)
  if LOSS_METRIC_KEY in metrics:
    raise ValueError(
        'Metric with name "%s" is not allowed, because Estimator already '
        "defines a default metric with the same name." % LOSS_METRIC_KEY)
  metrics[LOSS_METRIC_KEY] = strategy.extended.call_for_each_replica(
      tf.compat.v1.metrics.mean, args=(grouped.loss,))
  names = sorted(metrics)  # The same graph from one run to the next.
  update = tf.group(*[strategy.group(metrics[name][1]) for name in names])
  return update, {name: metrics[name][0] for name in names}


def eval_parts(estimator, input_fn, config, strategy):
  """The EVAL graph's parts of the model_fn on every replica.

  Args:
    estimator: The Estimator.
    input_fn: Its evaluation input_fn (returning a dataset).
    config: The `RunConfig`.
    strategy: The `tf.distribute.Strategy`.

  Returns:
    (scaffold, update op, dict of metric values, input hooks, evaluation
    hooks, global step).
  """
  graph = tf.compat.v1.get_default_graph()
  global_step = tf.compat.v1.train.create_global_step(graph)
  features, labels, input_hooks = _features_and_labels(
      estimator, input_fn, ModeKeys.EVAL, strategy)
  grouped = strategy.extended.call_for_each_replica(
      estimator.call_model_fn, args=(features, labels, ModeKeys.EVAL, config))
  update, values = _metric_ops(grouped, strategy)
  scaffold = combine_scaffolds(grouped.scaffold, strategy)
  hooks = _first_replica(strategy, grouped.evaluation_hooks)
  return scaffold, update, values, input_hooks, hooks, global_step


def configured_session(config, strategy):
  """The config with the session settings the strategy needs."""
  session_config = tf.compat.v1.ConfigProto()
  session_config.CopyFrom(config.session_config)
  strategy.configure(session_config)
  return config.replace(session_config=session_config)
