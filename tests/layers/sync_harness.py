"""Runs a small model with a synchronized batch norm on replicas or one device.

Used by test_synchronized.py, in fresh processes (logical CPU devices and
TF_CONFIG must be set before TensorFlow initializes):

  python sync_harness.py cases OUT CASE...     in-process strategies
  python sync_harness.py worker OUT CASE TASK PORT0 PORT1
                                               one MultiWorkerMirrored worker

Each run writes a pickle of numpy results to OUT. A model step is
`h = tensordot(x, w)`, `y = batch_normalization(h, synchronized=True)`,
`loss = sum(c * (y - t)**2) / N` (N: the global batch size, so that the sum
of the replicas' losses is the single-device loss), SGD on w, gamma, beta with
the `UPDATE_OPS` idiom. Results: the outputs and gradients of the first
step, the trainable weights after one SGD step and every replica's copy of
the moving statistics after three steps; the single-device reference runs the
same model on the replicas' batches concatenated in replica order.
"""

import json
import os
import pickle
import sys
import time
import traceback

import numpy as np

FEATURES = 4
CHANNELS = 3
LEARNING_RATE = 0.05



def _case(launch, sizes=(3, 5), layer=None, inner=(), mean=0.0, std=1.0,
          dtype="float32", direct=False, reference=None, v1_behavior=False,
          masked=False, keras_v1=False):
  """A scenario: how replicas run, their batch sizes, input, layer options.

  `direct` feeds x itself to the layer (no trainable w before it): at a large
  mean, d loss / d w sums x * dh over the batch, which float32 cannot resolve
  on any device. `reference` overrides layer options on the single device.
  `v1_behavior` runs the case after `tf.compat.v1.disable_v2_behavior()`.
  `masked` passes a mask (from the targets, so the same rows on one device)
  that leaves about a third of the elements out of the statistics.
  `keras_v1` uses the Keras-v1 class, whose updates are `layer.updates`.
  """
  return dict(launch=launch, sizes=sizes, layer=layer or {}, inner=inner,
              mean=mean, std=std, dtype=dtype, direct=direct,
              reference=reference or {}, v1_behavior=v1_behavior,
              masked=masked, keras_v1=keras_v1)


CASES = {
    "run_v2": _case("run", sizes=(4, 4)),
    "unequal_v2": _case("call_for_each"),
    "unequal_v1": _case("v1_call_for_each"),
    "iterator_v1": _case("v1_iterator", sizes=(4, 4)),
    "legacy_v1_behavior": _case("v1_call_for_each", v1_behavior=True),
    "large_mean": _case("call_for_each", mean=1e4, direct=True),
    # Large mean normalized in float64, where outputs and gradients
    # resolve 1e-5 at mean 1e4 on any device.
    "large_mean_float64": _case("call_for_each", mean=1e4, direct=True,
                                dtype="float64"),
    "renorm": _case("call_for_each", mean=0.5, std=2.0, layer={
        "renorm": True, "renorm_momentum": 0.5,
        "renorm_clipping": {"rmax": 1.5, "dmax": 0.5}}),
    # Ghost batch g of every replica is one ghost batch: on one device that
    # is virtual_batch_size * replicas on the concatenated batch.
    "virtual_batch": _case("call_for_each", sizes=(4, 4), inner=(3,),
                           layer={"virtual_batch_size": 2},
                           reference={"virtual_batch_size": 4}),
    "nhwc_float16": _case("call_for_each", sizes=(2, 3), inner=(2, 2),
                          mean=1.0, dtype="float16"),
    "training_tensor": _case("training_placeholder"),
    "masked": _case("call_for_each", sizes=(3, 5), inner=(4,), masked=True),
    "keras_v1": _case("call_for_each", keras_v1=True),
    "tf_function": _case("tf_function"),
    "multi_worker": _case("multi_worker"),
    "multi_worker_large_mean": _case("multi_worker", sizes=(4, 4), mean=1e4,
                                     direct=True),
}

LAYER_DEFAULTS = {"momentum": 0.5, "name": "bn"}


def case_data(case):
  """Returns the per-replica (x, t) arrays of a case (float64 numpy)."""
  spec = CASES[case]
  rng = np.random.RandomState(sum(map(ord, case)))
  features = CHANNELS if spec["direct"] else FEATURES
  data = []
  for n in spec["sizes"]:
    x = rng.randn(n, *spec["inner"], features) * spec["std"] + spec["mean"]
    t = rng.randn(n, *spec["inner"], CHANNELS)
    data.append((x.astype(np.float32), t.astype(np.float32)))
  return data


def initial_w():
  rng = np.random.RandomState(7)
  w = rng.randn(FEATURES, CHANNELS) * 0.5
  w[0] += 1.0  # Keeps the large-mean cases' activations at that mean.
  return w


def _model(tf, case, x, t, global_count, training=True, reference=False):
  """Builds one replica's (or the single device's) step; returns its tensors."""
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  spec = CASES[case]
  kwargs = dict(LAYER_DEFAULTS, **spec["layer"])
  if reference:
    kwargs.update(spec["reference"])
  if spec["direct"]:
    h = tf.cast(x, spec["dtype"])
  else:
    w = tf.compat.v1.get_variable(
        "w", [FEATURES, CHANNELS], tf.float32,
        tf.compat.v1.constant_initializer(initial_w()))
    h = tf.cast(tf.tensordot(x, w, 1), spec["dtype"])
  update_ops = []
  if spec["keras_v1"]:
    layer = tf_bn_compat.keras.layers.BatchNormalization(synchronized=True,
                                                         **kwargs)
    y = layer(h, training=training)
    update_ops = layer.get_updates_for(h)
  elif spec["masked"]:  # The functional form has TF1's arguments: no mask.
    layer = tf_bn_compat.layers.BatchNormalization(synchronized=True,
                                                   **kwargs)
    y = layer(h, training=training, mask=t[..., 0] > -0.4)
  else:
    y = tf_bn_compat.layers.batch_normalization(
        h, training=training, synchronized=True, **kwargs)
  y = tf.cast(y, tf.float32)
  weights = tf.range(1.0, CHANNELS + 1.0)
  loss = tf.reduce_sum(weights * tf.square(y - tf.cast(t, tf.float32)))
  loss /= float(global_count)
  variables = _trainable(tf)
  grads = tf.gradients(loss, variables)
  update_ops += tf.compat.v1.get_collection(
      tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train = tf.compat.v1.train.GradientDescentOptimizer(
        LEARNING_RATE).apply_gradients(list(zip(grads, variables)))
  return {"y": y, "grads": grads, "train": train, "x": x, "t": t}


def _statistics_variables(tf):
  return sorted((v for v in tf.compat.v1.global_variables()
                 if v.name.startswith(("bn/moving", "bn/renorm"))),
                key=lambda v: v.name)


def _trainable(tf):
  return sorted(tf.compat.v1.trainable_variables(), key=lambda v: v.name)


def _session_steps(tf, sess, fetch, local, feed=None):
  """Runs the protocol: first step's outputs, 1 SGD step, 3 steps in all."""
  result = {}
  first = sess.run({"y": local(fetch["y"]), "x": local(fetch["x"]),
                    "t": local(fetch["t"]),
                    "grads": [local(g) for g in fetch["grads"]]}, feed)
  result.update(first)
  # Fetching any output of a `tf.function` runs all of it, its train step
  # too; elsewhere the step is a run of its own.
  if not fetch.get("step_in_outputs"):
    sess.run(local(fetch["train"]), feed)
  result["weights"] = {v.name: sess.run(local(v)) for v in _trainable(tf)}
  sess.run(local(fetch["train"]), feed)
  sess.run(local(fetch["train"]), feed)
  result["moving"] = {v.name: sess.run(local(v))
                      for v in _statistics_variables(tf)}
  result["weights_final"] = {v.name: sess.run(local(v)) for v in _trainable(tf)}
  return result


def run_single(tf, case, data, checkpoint=None):
  """The reference: one device, the replicas' batches concatenated."""
  x = np.concatenate([d[0] for d in data])
  t = np.concatenate([d[1] for d in data])
  with tf.Graph().as_default():
    fetch = _model(tf, case, tf.constant(x), tf.constant(t), len(x),
                   reference=True)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      result = _session_steps(tf, sess, fetch, lambda v: [v])
      if checkpoint:
        saver.save(sess, checkpoint)
  return result


def _replica_id(tf):
  return int(tf.get_static_value(
      tf.distribute.get_replica_context().replica_id_in_sync_group))


def run_replicas(tf, case, data, strategy, launch, restore=None, save=None):
  """Runs the case's model on `strategy`'s replicas in graph mode."""
  global_count = sum(len(d[0]) for d in data)
  feed = None
  with strategy.scope():
    training = True
    if launch == "training_placeholder":
      training = tf.compat.v1.placeholder(tf.bool, [])
      feed = {training: True}

    def fn(inputs=None, training=training):
      if inputs is None:
        x, t = data[_replica_id(tf)]
        inputs = tf.constant(x), tf.constant(t)
      return _model(tf, case, inputs[0], inputs[1], global_count,
                    training=training)

    if launch == "run":
      fetch = strategy.run(fn)
    elif launch == "tf_function":
      fetch = _run_in_function(tf, strategy, fn)
    elif launch == "v1_iterator":
      x = np.concatenate([d[0] for d in data])
      t = np.concatenate([d[1] for d in data])
      dataset = tf.data.Dataset.from_tensors((x, t)).repeat()
      iterator = strategy.make_dataset_iterator(dataset)
      fetch = strategy.experimental_run(fn, iterator)
    else:
      fetch = strategy.extended.call_for_each_replica(fn)
    local = strategy.experimental_local_results
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(**_session_args(strategy)) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      if launch == "v1_iterator":
        sess.run(iterator.initializer)
      if restore:
        saver.restore(sess, restore)
        return {"restored": {v.name: sess.run(local(v))
                             for v in tf.compat.v1.global_variables()}}
      result = _session_steps(tf, sess, fetch, local, feed)
      if launch == "training_placeholder":
        result["inference"] = sess.run(local(fetch["y"]), {training: False})
      if save:
        saver.save(sess, save)
  return result


def _run_in_function(tf, strategy, fn):
  """`strategy.run(fn)` in a `tf.function` called in the graph.

  MirroredStrategy cannot create its variables inside a function (the second
  replica's initial value reads the first replica's variable), so a first
  `strategy.run` out of the function creates them, as a model is built before
  its train step is; the function reuses them. Its train step is returned as
  a tensor, as functions return no operations. The first pass builds for
  inference: its training updates would sit in `UPDATE_OPS`, and a function
  depending on ops of the outer graph makes its call run them, every step.
  """
  strategy.run(fn, kwargs={"training": False})

  def step():
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      fetch = fn()
    with tf.control_dependencies([fetch["train"]]):
      fetch["train"] = tf.constant(0)
    return fetch

  fetch = tf.function(lambda: strategy.run(step))()
  fetch["step_in_outputs"] = True
  return fetch


_SESSION_TARGET = {}


def _session_args(strategy):
  del strategy
  return dict(_SESSION_TARGET)


def run_estimator(tf, scratch):
  """Trains an Estimator 3 steps on 2 replicas (train_distribute), and on one.

  Each replica takes its own dataset element per step (3 rows, then 5); the
  single-device Estimator takes both concatenated.
  """
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  case = "unequal_v2"
  data = case_data(case)
  global_count = sum(len(d[0]) for d in data)

  def model_fn(features, labels, mode):
    y = tf_bn_compat.layers.batch_normalization(
        features, training=mode == tf.estimator.ModeKeys.TRAIN,
        synchronized=True, **LAYER_DEFAULTS)
    weights = tf.range(1.0, CHANNELS + 1.0)
    # Under a strategy the Estimator averages the replicas' losses (its v1
    # optimizer scales each by 1 / replicas): scale back to the global mean.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    loss = tf.reduce_sum(weights * tf.square(y - labels)) / global_count
    loss *= replicas
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
      train_op = tf.compat.v1.train.GradientDescentOptimizer(
          LEARNING_RATE).minimize(
              loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  def train(name, elements, distribute):
    def input_fn(input_context=None):
      del input_context
      dataset = None
      for x, t in elements:
        element = tf.data.Dataset.from_tensors((x, t))
        dataset = element if dataset is None else dataset.concatenate(element)
      return dataset.repeat()

    config = tf.estimator.RunConfig(
        model_dir=os.path.join(scratch, "estimator_" + name),
        train_distribute=distribute,
        save_summary_steps=None, log_step_count_steps=None,
        # A session given a config sees the logical CPUs only if it asks.
        session_config=tf.compat.v1.ConfigProto(device_count={"CPU": 2}))
    estimator = tf.estimator.Estimator(model_fn, config=config)
    estimator.train(input_fn, steps=3)
    return {name: estimator.get_variable_value(name)
            for name in estimator.get_variable_names()
            if name.startswith("bn/")}

  features = [(x[:, :CHANNELS], t) for x, t in data]
  concatenated = [tuple(np.concatenate(parts) for parts in zip(*features))]
  return {
      "replicas": train("replicas", features,
                        tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
      "single": train("single", concatenated, None),
  }


def _configure_cpus(tf, count):
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def _strategy(tf, launch):
  devices = ["/cpu:0", "/cpu:1"]
  if launch.startswith("v1_"):
    return tf.compat.v1.distribute.MirroredStrategy(devices)
  return tf.distribute.MirroredStrategy(devices)


def _run_case(tf, case):
  data = case_data(case)
  launch = CASES[case]["launch"]
  if CASES[case]["v1_behavior"]:
    tf.compat.v1.disable_v2_behavior()
  try:
    with tf.Graph().as_default():
      replicas = run_replicas(tf, case, data, _strategy(tf, launch), launch)
    return {"replicas": replicas, "single": run_single(tf, case, data)}
  finally:
    if CASES[case]["v1_behavior"]:
      tf.compat.v1.enable_v2_behavior()


def _run_checkpoint_case(tf, scratch):
  """Saves on 2 replicas and restores on 1, and the reverse."""
  case = "unequal_v2"
  data = case_data(case)
  replica_ckpt = os.path.join(scratch, "replicas", "model.ckpt")
  single_ckpt = os.path.join(scratch, "single", "model.ckpt")
  with tf.Graph().as_default():
    trained = run_replicas(tf, case, data, _strategy(tf, "call"), "call",
                           save=replica_ckpt)
  single = run_single(tf, case, data, checkpoint=single_ckpt)
  with tf.Graph().as_default():
    _model(tf, case, tf.constant(data[0][0]), tf.constant(data[0][1]), 2)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      saver.restore(sess, replica_ckpt)
      on_one = {v.name: sess.run(v) for v in tf.compat.v1.global_variables()}
  with tf.Graph().as_default():
    on_replicas = run_replicas(tf, case, data, _strategy(tf, "call"), "call",
                               restore=single_ckpt)["restored"]
  keys = {path: sorted(name for name, _ in tf.train.list_variables(path))
          for path in (replica_ckpt, single_ckpt)}
  return {"trained_moving": trained["moving"],
          "single_moving": single["moving"],
          "on_one": on_one, "on_replicas": on_replicas,
          "replica_keys": keys[replica_ckpt], "single_keys": keys[single_ckpt],
          "single_saved": _checkpoint_values(tf, single_ckpt)}


def _checkpoint_values(tf, path):
  return {name: tf.train.load_variable(path, name)
          for name, _ in tf.train.list_variables(path)}


def _run_cross_replica_gradient(tf):
  """Gradients taken on per-replica tensors in cross-replica context."""
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    strategy = _strategy(tf, "run")
    with strategy.scope():
      x = tf.constant(np.ones([4, CHANNELS], np.float32))
      y = strategy.run(lambda: tf_bn_compat.layers.batch_normalization(
          x * tf.cast(_replica_id(tf) + 1, tf.float32), training=True,
          synchronized=True))
      try:
        tf.gradients(strategy.experimental_local_results(y)[0], x)
      except RuntimeError as e:
        return {"error": str(e)}
  return {"error": None}


def run_plain(tf, synchronized, one_replica, training=True):
  """A layer without a strategy, or on one replica: outputs, grads, vars."""
  import contextlib  # pylint: disable=g-import-not-at-top
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(3)
  x_value = rng.randn(6, 4, 4, 3).astype(np.float32)
  with tf.Graph().as_default():
    strategy = None
    if one_replica:
      strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope() if strategy else contextlib.nullcontext():
      x = tf.constant(x_value)

      def fn():
        y = tf_bn_compat.layers.batch_normalization(
            x, training=training, synchronized=synchronized, fused=False,
            momentum=0.5)
        grads = tf.gradients(tf.reduce_sum(y * y * x), [x] +
                             tf.compat.v1.trainable_variables())
        with tf.control_dependencies(
            tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
          step = tf.group(*grads)
        return y, grads, step

      if strategy:
        y, grads, step = strategy.extended.call_for_each_replica(fn)
      else:
        y, grads, step = fn()
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        values = sess.run([y, grads])
        sess.run(step)
        values.append(sess.run(tf.compat.v1.global_variables()))
  return values


def _run_example(tf):
  """tf_bn_compat.examples.synchronized_tf1 on 2 replicas and on 1 device."""
  from tf_bn_compat.examples import synchronized_tf1  # pylint: disable=g-import-not-at-top
  runs = {}
  for name, devices in (("replicas", ["/cpu:0", "/cpu:1"]), ("single", None)):
    with tf.Graph().as_default():
      runs[name] = synchronized_tf1.train(devices, steps=2)
  return runs


def main_cases(out, cases):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel("ERROR")
  _configure_cpus(tf, 2)
  scratch = os.path.dirname(out)
  results = {}
  for case in cases:
    start = time.time()
    try:
      if case == "checkpoint":
        results[case] = _run_checkpoint_case(tf, scratch)
      elif case == "estimator":
        results[case] = run_estimator(tf, scratch)
      elif case == "example":
        results[case] = _run_example(tf)
      elif case == "cross_replica_gradient":
        results[case] = _run_cross_replica_gradient(tf)
      else:
        results[case] = _run_case(tf, case)
    except Exception:  # pylint: disable=broad-except
      results[case] = {"exception": traceback.format_exc()}
    results[case]["seconds"] = time.time() - start
  with open(out, "wb") as f:
    pickle.dump(results, f)


def main_worker(out, task, ports, checkpoint_dir, cases):
  """One worker of a 2-worker MultiWorkerMirroredStrategy, graph mode.

  The chief (task 0) alone saves a checkpoint per case under
  `checkpoint_dir`/CASE/, as TF1 training loops do.
  """
  cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
  os.environ["TF_CONFIG"] = json.dumps(
      {"cluster": cluster, "task": {"type": "worker", "index": task}})
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel("ERROR")
  results = {}
  try:
    with tf.Graph().as_default():
      # Made in graph mode: in eager mode the strategy would start its own
      # server on this task's port. One strategy serves every case, so that
      # their collective ops get distinct instance keys.
      strategy = (
          tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy())
    config = strategy.update_config_proto(tf.compat.v1.ConfigProto())
    server = tf.distribute.Server(
        tf.train.ClusterSpec(cluster), job_name="worker", task_index=task,
        config=config, start=True)
    _SESSION_TARGET.update(target=server.target, config=config)
  except Exception:  # pylint: disable=broad-except
    results = {case: {"exception": traceback.format_exc()} for case in cases}
    cases = []
  for case in cases:
    save = os.path.join(checkpoint_dir, case, "model.ckpt")
    try:
      with tf.Graph().as_default():
        results[case] = run_replicas(tf, case, case_data(case), strategy,
                                     "call", save=save if task == 0 else None)
    except Exception:  # pylint: disable=broad-except
      results[case] = {"exception": traceback.format_exc()}
  with open(out, "wb") as f:
    pickle.dump(results, f)
  # The server's threads keep the process alive; the results are written.
  os._exit(0)  # pylint: disable=protected-access


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if sys.argv[1] == "cases":
    main_cases(sys.argv[2], sys.argv[3:])
  else:
    main_worker(sys.argv[2], int(sys.argv[3]),
                [int(p) for p in sys.argv[4:6]], sys.argv[6], sys.argv[7:])
