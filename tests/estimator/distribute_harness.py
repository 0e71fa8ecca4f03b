"""Trains and evaluates an Estimator on 2 replicas and on one device.

Run by test_estimator_distribute.py in a fresh process, since the 2 logical
CPU devices must be configured before TensorFlow initializes:

    python distribute_harness.py OUT.pkl SCRATCH SCENARIO...

Each scenario's result (or its traceback) is pickled into OUT.pkl. One of 2
MultiWorkerMirroredStrategy workers (TF_CONFIG, 127.0.0.1) trains with

    python distribute_harness.py worker OUT.pkl TASK PORT0 PORT1 MODEL_DIR \
        eager|graph

The model: `h = dense(x)` (constant initial kernel, no bias), `y =
batch_normalization(h, synchronized=True)`, `loss = mean_squared_error(t,
y)` with a v1 loss reduction, SGD with the UPDATE_OPS under the train op.
A replica's batch is one dataset element (ROWS rows); the one-device
Estimator reads the replicas' elements of a step concatenated.
"""

import json
import os
import pickle
import sys
import traceback

import numpy as np

FEATURES = 4
CHANNELS = 3
ROWS = 4
REPLICAS = 2
STEPS = 3
LEARNING_RATE = 0.1
DEVICES = ["/cpu:0", "/cpu:1"]


def data():
  """Features [STEPS * REPLICAS * ROWS, FEATURES] and labels; seeded."""
  rng = np.random.RandomState(7)
  n = STEPS * REPLICAS * ROWS
  x = (rng.standard_normal((n, FEATURES)) * 2.0 + 0.5).astype(np.float32)
  t = rng.standard_normal((n, CHANNELS)).astype(np.float32)
  return x, t


def initial_kernel():
  return np.random.RandomState(3).standard_normal(
      (FEATURES, CHANNELS)).astype(np.float32)


def make_model_fn(tf, est, reduction):
  """A model_fn of `est` (an Estimator module) with the given loss reduction."""
  import tf_bn_compat  # pylint: disable=g-import-not-at-top

  def model_fn(features, labels, mode):
    training = mode == est.ModeKeys.TRAIN
    h = tf_bn_compat.layers.dense(
        features, CHANNELS, use_bias=False, name="dense",
        kernel_initializer=tf.compat.v1.constant_initializer(initial_kernel()))
    y = tf_bn_compat.layers.batch_normalization(
        h, training=training, synchronized=True, momentum=0.5, name="bn")
    if mode == est.ModeKeys.PREDICT:
      return est.EstimatorSpec(mode, predictions={"y": y})
    loss = tf.compat.v1.losses.mean_squared_error(labels, y,
                                                  reduction=reduction)
    if mode == est.ModeKeys.EVAL:
      metrics = {
          "mse": tf.compat.v1.metrics.mean_squared_error(labels, y),
          "y_mean": tf.compat.v1.metrics.mean(y),
      }
      return est.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
      train_op = tf.compat.v1.train.GradientDescentOptimizer(
          LEARNING_RATE).minimize(
              loss, global_step=tf.compat.v1.train.get_global_step())
    return est.EstimatorSpec(mode, loss=loss, train_op=train_op)

  return model_fn


def make_input_fn(tf, batch):
  """An input_fn of the rows in order, `batch` rows per element."""
  x, t = data()

  def input_fn(input_context=None):
    del input_context
    return tf.data.Dataset.from_tensor_slices((x, t)).batch(batch)

  return input_fn


def make_sharded_input_fn(tf):
  """An input_fn of ROWS-row elements, worker i taking elements i, i + 2..."""
  x, t = data()

  def input_fn(input_context):
    dataset = tf.data.Dataset.from_tensor_slices((x, t)).batch(ROWS)
    return dataset.shard(input_context.num_input_pipelines,
                         input_context.input_pipeline_id)

  return input_fn


def _config(tf, est, model_dir, train=None, evaluate=None):
  return est.RunConfig(
      model_dir=model_dir, train_distribute=train, eval_distribute=evaluate,
      tf_random_seed=1, save_summary_steps=None, log_step_count_steps=None,
      # A session given a config sees the logical CPUs only if it asks.
      session_config=tf.compat.v1.ConfigProto(
          device_count={"CPU": REPLICAS}, allow_soft_placement=True))


def _train(tf, est, model_dir, reduction, strategy, input_fn=None,
           train_and_evaluate=False):
  """Trains STEPS steps; returns (checkpoint values, the steps' losses).

  With `train_and_evaluate`, through `est.train_and_evaluate` (which must
  return None: a worker only trains).
  """
  batch = ROWS if strategy else ROWS * REPLICAS
  input_fn = input_fn or make_input_fn(tf, batch)
  losses = []

  class LossHook(tf.compat.v1.train.SessionRunHook):

    def before_run(self, run_context):
      del run_context
      return tf.compat.v1.train.SessionRunArgs(
          tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES)[-1])

    def after_run(self, run_context, run_values):
      del run_context
      losses.append(run_values.results)

  estimator = est.Estimator(
      make_model_fn(tf, est, reduction),
      config=_config(tf, est, model_dir, train=strategy))
  if train_and_evaluate:
    returned = est.train_and_evaluate(
        estimator, est.TrainSpec(input_fn, max_steps=STEPS,
                                 hooks=[LossHook()]),
        est.EvalSpec(make_input_fn(tf, ROWS)))
    assert returned is None, returned
  else:
    estimator.train(input_fn, steps=STEPS, hooks=[LossHook()])
  values = {name: estimator.get_variable_value(name)
            for name in estimator.get_variable_names()}
  return values, losses


def _evaluate(tf, est, model_dir, strategy, train=None):
  batch = ROWS if strategy else ROWS * REPLICAS
  estimator = est.Estimator(
      make_model_fn(tf, est, _reduction(tf, "mean")),
      config=_config(tf, est, model_dir, train=train, evaluate=strategy))
  return estimator.evaluate(make_input_fn(tf, batch))


def _reduction(tf, name):
  return {"mean": tf.compat.v1.losses.Reduction.SUM_BY_NONZERO_WEIGHTS,
          "sum": tf.compat.v1.losses.Reduction.SUM}[name]


def train_and_evaluate(tf, est, scratch, reduction):
  """Trains on 2 replicas and on one device; evaluates both ways."""
  mirrored = tf.distribute.MirroredStrategy(DEVICES)
  dirs = {name: os.path.join(scratch, "%s_%s" % (reduction, name))
          for name in ("replicas", "single")}
  result = {}
  for name, strategy in (("replicas", mirrored), ("single", None)):
    result[name], result[name + "_losses"] = _train(
        tf, est, dirs[name], _reduction(tf, reduction), strategy)
  result["eval_replicas"] = _evaluate(tf, est, dirs["replicas"],
                                      tf.distribute.MirroredStrategy(DEVICES))
  result["eval_single"] = _evaluate(tf, est, dirs["replicas"], None)
  return result


def native(tf, scratch):
  """TF 2.15's own Estimator and ours, both on 2 replicas, same seeds."""
  from tf_bn_compat import estimator as ours  # pylint: disable=g-import-not-at-top
  result = {}
  for name, est in (("native", tf.estimator), ("ours", ours)):
    model_dir = os.path.join(scratch, "differential_" + name)
    reduction = _reduction(tf, "mean")
    result[name], result[name + "_losses"] = _train(
        tf, est, model_dir, reduction, tf.distribute.MirroredStrategy(DEVICES))
    result["eval_" + name] = _evaluate(
        tf, est, model_dir, tf.distribute.MirroredStrategy(DEVICES))
  # Each reads the other's checkpoint.
  result["native_reads_ours"] = _evaluate(
      tf, tf.estimator, os.path.join(scratch, "differential_ours"), None)
  return result


def with_exporter(tf, est, scratch):
  """train_and_evaluate with an exporter, on 2 replicas and on one device.

  On 2 replicas both training and evaluation are distributed; each run
  ends with one evaluation of the final checkpoint and its export.
  """
  def serving_input_receiver_fn():
    x = tf.compat.v1.placeholder(tf.float32, [None, FEATURES], name="x")
    return est.export.TensorServingInputReceiver(x, {"x": x})

  result = {}
  for name, strategy in (("replicas", tf.distribute.MirroredStrategy(DEVICES)),
                         ("single", None)):
    batch = ROWS if strategy else ROWS * REPLICAS
    config = _config(tf, est, os.path.join(scratch, "exporter_" + name),
                     train=strategy, evaluate=strategy)
    estimator = est.Estimator(
        make_model_fn(tf, est, _reduction(tf, "mean")), config=config)
    exporter = est.LatestExporter("latest", serving_input_receiver_fn)
    eval_result, exports = est.train_and_evaluate(
        estimator, est.TrainSpec(make_input_fn(tf, batch), max_steps=STEPS),
        est.EvalSpec(make_input_fn(tf, batch), steps=None,
                     exporters=[exporter], throttle_secs=0))
    exports = [e.decode() if isinstance(e, bytes) else e for e in exports]
    result[name] = {"eval": eval_result, "exports": exports}
  return result


def errors(tf, scratch):
  """The messages of what a distributed Estimator refuses."""
  from tf_bn_compat import estimator as est  # pylint: disable=g-import-not-at-top
  found = {}
  estimator = est.Estimator(
      make_model_fn(tf, est, _reduction(tf, "mean")),
      config=_config(tf, est, os.path.join(scratch, "errors"),
                     train=tf.distribute.MirroredStrategy(DEVICES)))
  x, t = data()
  try:
    estimator.train(lambda: (tf.constant(x), tf.constant(t)), steps=1)
  except Exception as e:  # pylint: disable=broad-except
    found["tensors_input_fn"] = (type(e).__name__, str(e))
  return found


SCENARIOS = {
    "mean": lambda tf, est, scratch: train_and_evaluate(tf, est, scratch,
                                                        "mean"),
    "sum": lambda tf, est, scratch: train_and_evaluate(tf, est, scratch,
                                                       "sum"),
    "native": lambda tf, est, scratch: native(tf, scratch),
    "exporter": with_exporter,
    "native_exporter": lambda tf, est, scratch: with_exporter(
        tf, tf.estimator, os.path.join(scratch, "native")),
    "errors": lambda tf, est, scratch: errors(tf, scratch),
}


def main_worker(out, task, ports, model_dir, eagerly):
  """One of 2 MultiWorkerMirroredStrategy workers (TF_CONFIG) training.

  The strategy is made eagerly (it starts this task's server in the eager
  context) or in a graph (the Estimator starts the server).
  """
  cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
  os.environ["TF_CONFIG"] = json.dumps(
      {"cluster": cluster, "task": {"type": "worker", "index": task}})
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel("ERROR")
  from tf_bn_compat import estimator as est  # pylint: disable=g-import-not-at-top
  try:
    if eagerly:
      strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
      with tf.Graph().as_default():
        strategy = (
            tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy())
    values, losses = _train(tf, est, model_dir, _reduction(tf, "mean"),
                            strategy, make_sharded_input_fn(tf),
                            train_and_evaluate=True)
    # Only the chief's checkpoint is final when it ends.
    result = {"values": values if task == 0 else None, "losses": losses}
    # With train_distribute too, TF_CONFIG's cluster is the strategy's.
    try:
      _evaluate(tf, est, model_dir, strategy, train=strategy)
    except ValueError as e:
      result["evaluate_error"] = str(e)
    # Without, RunConfig reads a cluster of workers as a task's place.
    try:
      _evaluate(tf, est, model_dir, strategy)
    except ValueError as e:
      result["eval_only_config_error"] = str(e)
  except Exception:  # pylint: disable=broad-except
    result = {"exception": traceback.format_exc()}
  with open(out, "wb") as f:
    pickle.dump(result, f)
  # The server's threads keep the process alive; the result is written.
  os._exit(0)  # pylint: disable=protected-access


def main(out, scratch, scenarios):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel("ERROR")
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * REPLICAS)
  from tf_bn_compat import estimator as est  # pylint: disable=g-import-not-at-top
  results = {}
  for scenario in scenarios:
    try:
      results[scenario] = SCENARIOS[scenario](tf, est, scratch)
    except Exception:  # pylint: disable=broad-except
      results[scenario] = {"exception": traceback.format_exc()}
  with open(out, "wb") as f:
    pickle.dump(results, f)


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if sys.argv[1] == "worker":
    main_worker(sys.argv[2], int(sys.argv[3]),
                [int(p) for p in sys.argv[4:6]], sys.argv[6],
                sys.argv[7] == "eager")
  else:
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
