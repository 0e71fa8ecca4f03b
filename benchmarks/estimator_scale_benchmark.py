r"""Estimator training throughput: one process, a TF_CONFIG cluster, replicas.

The model is the Estimator example's convnet
(`tf_bn_compat/examples/estimator_model_fn.py`, TF1 batch normalization), in
float32 on TF 2.16+ after `tf_bn_compat.patch_tf()`, trained with a fixed
global batch of `--batch` images per global step, four ways, each in Pythons
of its own (the logical devices of a strategy must be set before TensorFlow
initializes):

  * single:   `Estimator.train` in one process;
  * cluster:  `train_and_evaluate` on a TF_CONFIG cluster of a chief, one
              worker and a ps as local processes (between-graph,
              asynchronous; each task's step is a whole batch). Global steps
              per second of wall time while both trainers were stepping;
  * mirrored: `RunConfig(train_distribute=MirroredStrategy)` on 2 logical
              CPUs in one process, half the batch per replica;
  * mirrored+sync: the same with `synchronized=True` batch norm (through
              the model's `bn_module` parameter).

Steps/s leave out the first `--warmup` steps (graph build, session start).
Then the seconds a local `train_and_evaluate` spends in each evaluation and
in the final export (timed around `Estimator.evaluate` and the exporter).

    python benchmarks/estimator_scale_benchmark.py [--steps=500 --batch=64]
    python benchmarks/estimator_scale_benchmark.py --smoke
"""

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ("single", "cluster", "mirrored", "mirrored+sync")
_DEVICES = ["/cpu:0", "/cpu:1"]
_BARRIER_TIMEOUT_SECS = 120


def _cpu_line():
  model = platform.processor()
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True,
                         check=False).stdout
    for line in out.splitlines():
      if line.startswith("Model name:"):
        model = line.split(":", 1)[1].strip()
  except OSError:
    pass
  return "%s, %d CPUs" % (model, os.cpu_count())


def _import_tf(logical_cpus=0):
  """Imports TensorFlow with `patch_tf()`; splits the CPU if asked."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tf_bn_compat
  if logical_cpus:
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
  if getattr(tf, "estimator", None) is None:
    tf_bn_compat.patch_tf()
  return tf


def _step_times_hook(tf, records, ready_files=()):
  """A hook appending (wall time, global step) after every step.

  Its session writes the first of `ready_files`, then waits for all of them
  before its first step (so that a cluster's trainers step together).
  """

  class Hook(tf.compat.v1.train.SessionRunHook):

    def begin(self):
      self._global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord):
      if not ready_files:
        return
      open(ready_files[0], "w").close()
      deadline = time.time() + _BARRIER_TIMEOUT_SECS
      while not all(os.path.exists(f) for f in ready_files):
        if time.time() > deadline:
          raise RuntimeError("the other trainer did not start")
        time.sleep(0.05)

    def before_run(self, run_context):
      return tf.compat.v1.train.SessionRunArgs(self._global_step)

    def after_run(self, run_context, run_values):
      records.append((time.time(), int(run_values.results)))

  return Hook()


def _estimator(tf, model_dir, batch, strategy=None, sync=False, **config):
  """The example's Estimator and its training input_fn."""
  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.examples import estimator_model_fn as example
  params = {"learning_rate": 0.05}
  if sync:
    from tf_bn_compat import layers
    params["bn_module"] = types.SimpleNamespace(
        batch_normalization=functools.partial(layers.batch_normalization,
                                              synchronized=True))
  session_config = None
  if strategy:
    session_config = tf.compat.v1.ConfigProto(
        device_count={"CPU": len(_DEVICES)}, allow_soft_placement=True)
  settings = dict(
      model_dir=model_dir, tf_random_seed=1, train_distribute=strategy,
      session_config=session_config, save_summary_steps=None,
      log_step_count_steps=None, save_checkpoints_steps=None,
      save_checkpoints_secs=None)
  settings.update(config)
  run_config = tf.estimator.RunConfig(**settings)
  images, labels = example.make_data(1024, seed=0)
  per_input = batch // len(_DEVICES) if strategy else batch
  return (tf.estimator.Estimator(example.model_fn, config=run_config,
                                 params=params),
          example.input_fn(images, labels, per_input, repeat=True))


def _train_child(config, model_dir, steps, batch, out):
  """Trains one configuration's process; writes its step records to `out`."""
  records = []
  if config.startswith("mirrored"):
    tf = _import_tf(logical_cpus=len(_DEVICES))
    estimator, input_fn = _estimator(
        tf, model_dir, batch, tf.distribute.MirroredStrategy(_DEVICES),
        sync=config.endswith("sync"))
    estimator.train(input_fn, max_steps=steps,
                    hooks=[_step_times_hook(tf, records)])
  else:
    tf = _import_tf()
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    ready_files = ()
    if task:
      ready_files = [out + ".ready"] + [
          os.path.join(os.path.dirname(out), "cluster_%s.json.ready" % t)
          for t in ("chief", "worker") if t != task["type"]]
    # The worker starts with the chief, not 5 s late.
    estimator, input_fn = _estimator(
        tf, model_dir, batch, experimental_max_worker_delay_secs=0)
    train_spec = tf.estimator.TrainSpec(
        input_fn, max_steps=steps,
        hooks=[_step_times_hook(tf, records, ready_files)])
    if task:
      tf.estimator.train_and_evaluate(
          estimator, train_spec, tf.estimator.EvalSpec(input_fn, steps=1))
    else:
      estimator.train(input_fn, max_steps=steps, hooks=train_spec.hooks)
  with open(out, "w") as f:
    json.dump(records, f)
  sys.stdout.flush()
  os._exit(0)  # A cluster task's server keeps its process alive.


def _timed_exporter(tf, exporter, seconds):
  """Wraps an exporter, appending the seconds of each export to `seconds`."""

  class TimedExporter(tf.estimator.Exporter):

    @property
    def name(self):
      return exporter.name

    def export(self, *args, **kwargs):
      start = time.perf_counter()
      path = exporter.export(*args, **kwargs)
      if path:  # A FinalExporter exports only after the last evaluation.
        seconds.append(time.perf_counter() - start)
      return path

  return TimedExporter()


def _evaluate_child(model_dir, steps, batch, out):
  """A local train_and_evaluate; writes its evaluate and export seconds."""
  tf = _import_tf()
  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.examples import estimator_model_fn as example
  estimator, input_fn = _estimator(
      tf, model_dir, batch, save_checkpoints_steps=max(steps // 2, 1))
  evaluate_seconds, export_seconds = [], []
  evaluate = estimator.evaluate

  def timed_evaluate(*args, **kwargs):
    start = time.perf_counter()
    try:
      return evaluate(*args, **kwargs)
    finally:
      evaluate_seconds.append(time.perf_counter() - start)

  estimator.evaluate = timed_evaluate
  eval_images, eval_labels = example.make_data(256, seed=1)
  exporter = _timed_exporter(tf, tf.estimator.FinalExporter(
      "final", example.serving_input_receiver_fn), export_seconds)
  tf.estimator.train_and_evaluate(
      estimator, tf.estimator.TrainSpec(input_fn, max_steps=steps),
      tf.estimator.EvalSpec(
          example.input_fn(eval_images, eval_labels, batch, repeat=False),
          steps=None, throttle_secs=0, exporters=[exporter]))
  with open(out, "w") as f:
    json.dump({"evaluate": evaluate_seconds, "export": export_seconds}, f)
  return 0


def _spawn(args, tf_config=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, env.get("PYTHONPATH")) if p)
  env.pop("TF_CONFIG", None)
  if tf_config:
    env["TF_CONFIG"] = json.dumps(tf_config)
  return subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args,
                          env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def _run(tasks, timeout_secs):
  """Starts (args, tf_config, waited) tasks; waits, then kills them all."""
  processes = []
  try:
    for args, tf_config, waited in tasks:
      processes.append((_spawn(args, tf_config), waited))
    deadline = time.time() + timeout_secs
    for process, waited in processes:
      if waited:
        _, err = process.communicate(timeout=max(deadline - time.time(), 1))
        if process.returncode:
          raise RuntimeError("a benchmark process failed:\n" + err[-3000:])
  finally:
    for process, _ in processes:
      if process.poll() is None:
        process.kill()
      process.communicate()


def _rate(runs, warmup):
  """Global steps per second while every run was past its warm-up."""
  starts, ends = [], []
  for records in runs:
    if len(records) <= warmup + 1:
      return float("nan")
    starts.append(records[warmup][0])
    ends.append(records[-1][0])
  start, end = max(starts), min(ends)
  merged = sorted(r for records in runs for r in records)
  steps = [gs for t, gs in merged if start <= t <= end]
  if end <= start or len(steps) < 2:
    return float("nan")
  return (max(steps) - min(steps)) / (end - start)


def _tasks(config, work_dir, args):
  """One configuration's processes: ([(args, tf_config, waited)], outputs)."""
  out = os.path.join(work_dir, config + ".json")
  child_args = ["--child", config, os.path.join(work_dir, config),
                str(args.steps), str(args.batch)]
  if config != "cluster":
    return [(child_args + [out], None, True)], [out]
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.examples.estimator_train import local_cluster
  cluster = local_cluster()
  cluster["worker"] = cluster["worker"][:1]
  outs, tasks = [], []
  for task_type in ("ps", "chief", "worker"):
    out = os.path.join(work_dir, "cluster_%s.json" % task_type)
    tf_config = {"cluster": cluster, "task": {"type": task_type, "index": 0}}
    tasks.append((child_args + [out], tf_config, task_type != "ps"))
    if task_type != "ps":
      outs.append(out)
  return tasks, outs


def _results(outs):
  results = []
  for out in outs:
    with open(out) as f:
      results.append(json.load(f))
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=500,
                      help="global steps per configuration")
  parser.add_argument("--warmup", type=int, default=50)
  parser.add_argument("--batch", type=int, default=64,
                      help="global batch (images per global step)")
  parser.add_argument("--configs", default=",".join(CONFIGS))
  parser.add_argument("--timeout_secs", type=float, default=180)
  parser.add_argument("--smoke", action="store_true",
                      help="a few steps each: checks that it runs (its "
                      "numbers mean nothing)")
  parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    config, model_dir, steps, batch, out = args.child
    if config == "evaluate":
      return _evaluate_child(model_dir, int(steps), int(batch), out)
    return _train_child(config, model_dir, int(steps), int(batch), out)
  if args.smoke:
    args.steps, args.warmup = 40, 3
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  print("CPU: %s; TensorFlow %s; TF_ENABLE_ONEDNN_OPTS=%s; float32, "
        "global batch %d, 8x8x3; %d global steps, the first %d not timed" %
        (_cpu_line(), tf.__version__,
         os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"), args.batch,
         args.steps, args.warmup))
  work_dir = tempfile.mkdtemp(prefix="estimator_scale_")
  try:
    print("%-14s %10s %10s %8s" % ("config", "steps/s", "images/s",
                                   "vs single"))
    configs = args.configs.split(",") + ["evaluate"]
    outs = {}
    for config in configs:
      tasks, outs[config] = _tasks(config, work_dir, args)
      _run(tasks, args.timeout_secs)
    single = None
    for config in configs[:-1]:
      rate = _rate(_results(outs[config]), args.warmup)
      single = rate if config == "single" else single
      print("%-14s %10.1f %10.0f %8s" % (
          config, rate, rate * args.batch,
          "%.2fx" % (rate / single) if single else "-"))
    seconds, = _results(outs["evaluate"])
    print("train_and_evaluate (local, %d steps, checkpoint every %d): "
          "evaluate s %s; export s %s" % (
              args.steps, max(args.steps // 2, 1),
              " ".join("%.2f" % s for s in seconds["evaluate"]),
              " ".join("%.2f" % s for s in seconds["export"])))
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
