"""`train_and_evaluate` on a TF_CONFIG cluster of real processes.

A chief, a worker, a parameter server and an evaluator run on 127.0.0.1
(`cluster_task.py`), each bounded by a timeout and killed at the end. The
outputs must be those of between-graph training: the final checkpoint at
max_steps, saved by the chief alone; the evaluator's results for it; the
final export, which serves. Where TensorFlow has its own Estimator (the
2.15 leg) the same cluster also runs on it and the model directories must
have the same structure. The task dispatch's errors and a cluster of one
run in this process.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
import local_processes
import package_env
from tf_bn_compat import estimator as ours
from tf_bn_compat.estimator import between_graph
from tf_bn_compat.estimator import cluster_roles

# Loading the export runs eager ops; see tests/conftest.py.
pytestmark = pytest.mark.eager_context

native_est = models.native_estimator()
needs_native = models.needs_native()
MAX_STEPS = 100
_TASKS = (("ps", 0), ("chief", 0), ("worker", 0), ("evaluator", 0))
_CLUSTER_TIMEOUT_SECS = 240
_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "cluster_task.py")


def _stop(process):
  if process.poll() is None:
    os.killpg(process.pid, signal.SIGKILL)
  process.wait()


def run_cluster(module, work_dir):
  """Runs the cluster's tasks to the end of training and evaluation.

  Returns:
    Dict: "model_dir", and per task type its return code ("rc"), its log
    ("log") and what it wrote ("result", training tasks).
  """
  os.makedirs(work_dir)
  model_dir = os.path.join(work_dir, "model")
  chief, worker, ps = ("127.0.0.1:%d" % p for p in local_processes.free_ports(3))
  cluster = {"chief": [chief], "worker": [worker], "ps": [ps]}
  processes, logs = {}, {}
  try:
    for task_type, index in _TASKS:
      tf_config = {"cluster": cluster, "model_dir": model_dir,
                   "task": {"type": task_type, "index": index}}
      logs[task_type] = os.path.join(work_dir, task_type + ".log")
      with open(logs[task_type], "wb") as log:
        processes[task_type] = subprocess.Popen(
            [sys.executable, _SCRIPT, module, work_dir, str(MAX_STEPS)],
            env=package_env.child_env(TF_CONFIG=json.dumps(tf_config)),
            stdout=log, stderr=subprocess.STDOUT, cwd=work_dir,
            start_new_session=True)
    deadline = time.time() + _CLUSTER_TIMEOUT_SECS
    for task_type in ("chief", "worker", "evaluator"):
      try:
        processes[task_type].wait(timeout=max(deadline - time.time(), 1))
      except subprocess.TimeoutExpired:
        pass
  finally:
    for process in processes.values():
      _stop(process)
  tasks = {"model_dir": model_dir}
  for task_type, _ in _TASKS:
    with open(logs[task_type]) as f:
      log = f.read()
    result = os.path.join(work_dir, task_type + ".json")
    tasks[task_type] = {
        "rc": processes[task_type].returncode, "log": log,
        "result": (json.load(open(result)) if os.path.exists(result)
                   else None)}
  return tasks


def _check_finished(tasks):
  for task_type in ("chief", "worker", "evaluator"):
    task = tasks[task_type]
    assert task["rc"] == 0, "%s failed (rc %s):\n%s" % (
        task_type, task["rc"], task["log"][-4000:])


@pytest.fixture(scope="module")
def ours_cluster(tmp_path_factory):
  tasks = run_cluster("ours", str(tmp_path_factory.mktemp("cluster") /
                                  "ours"))
  _check_finished(tasks)
  return tasks


@pytest.fixture(scope="module")
def native_cluster(tmp_path_factory):
  tasks = run_cluster("native", str(tmp_path_factory.mktemp("cluster") /
                                    "native"))
  _check_finished(tasks)
  return tasks


def _final_export(model_dir):
  directory = os.path.join(model_dir, "export", "final")
  exports = sorted(os.listdir(directory))
  assert len(exports) == 1 and exports[0].isdigit(), exports
  return os.path.join(directory, exports[0])


def _events_files(directory):
  return [name for name in os.listdir(directory)
          if name.startswith("events.out.tfevents")]


def _eval_tags(model_dir, step):
  scalars = models.event_scalars(os.path.join(model_dir, "eval"))
  return sorted(tag for tag, values in scalars.items() if step in values)


def test_chief_and_worker_train_to_max_steps(ours_cluster):
  model_dir = ours_cluster["model_dir"]
  assert tf.train.load_variable(model_dir, "global_step") == MAX_STEPS
  assert tf.train.latest_checkpoint(model_dir).endswith(
      "model.ckpt-%d" % MAX_STEPS)
  chief, worker = ours_cluster["chief"], ours_cluster["worker"]
  assert chief["result"]["steps"] > 0 and worker["result"]["steps"] > 0
  assert chief["result"]["steps"] + worker["result"]["steps"] >= MAX_STEPS
  assert "Waiting 5 secs before starting training." in worker["log"]


def test_only_the_chief_writes_checkpoints_and_summaries(ours_cluster):
  chief, worker = ours_cluster["chief"], ours_cluster["worker"]
  assert "Saving checkpoints for %d" % MAX_STEPS in chief["log"]
  assert "Saving checkpoints for" not in worker["log"]
  # One summary writer: a worker's would have added its own events file.
  assert len(_events_files(ours_cluster["model_dir"])) == 1


def _placement(model_dir):
  """{variable: device} and the gradients' devices, of the final graph."""
  meta_graph = tf.compat.v1.MetaGraphDef()
  with open(tf.train.latest_checkpoint(model_dir) + ".meta", "rb") as f:
    meta_graph.ParseFromString(f.read())
  nodes = meta_graph.graph_def.node
  variables = {n.name: n.device for n in nodes
               if n.op in ("VarHandleOp", "VariableV2")}
  gradients = {n.device for n in nodes if n.name.startswith("gradients/")}
  return variables, gradients


def test_variables_live_on_the_parameter_server(ours_cluster):
  variables, gradients = _placement(ours_cluster["model_dir"])
  assert "global_step" in variables and "bn/moving_mean" in variables
  assert set(variables.values()) == {"/job:ps/task:0"}
  # The computation stays on the task that built the graph.
  assert gradients == {"/job:chief/task:0"}


def test_evaluator_evaluates_the_final_checkpoint(ours_cluster):
  model_dir = ours_cluster["model_dir"]
  assert _eval_tags(model_dir, MAX_STEPS) == [
      "accuracy", "loss", "mean_probability"]
  evaluator = ours_cluster["evaluator"]
  assert ("Exiting evaluation, global_step=%d >= train max_steps=%d" %
          (MAX_STEPS, MAX_STEPS)) in evaluator["log"]
  assert len(_events_files(os.path.join(model_dir, "eval"))) == 1


def test_final_export_serves(ours_cluster):
  export_dir = _final_export(ours_cluster["model_dir"])
  assert sorted(os.listdir(export_dir)) == ["saved_model.pb", "variables"]
  x, _ = models.make_data(5, seed=3)
  served = tf.saved_model.load(export_dir).signatures["serving_default"](
      x=tf.constant(x))
  probabilities = served["probabilities"].numpy()
  assert probabilities.shape == (5, models.CLASSES)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def _structure(model_dir):
  """The model_dir's files, numbers and event-file suffixes left out."""
  kinds = set()
  for root, _, files in os.walk(model_dir):
    for name in files:
      path = os.path.relpath(os.path.join(root, name), model_dir)
      path = re.sub(r"events\.out\.tfevents\..*", "events", path)
      kinds.add(re.sub(r"\d+", "N", path))
  return sorted(kinds)


@needs_native
def test_same_structure_as_native(ours_cluster, native_cluster):
  mine, native = ours_cluster["model_dir"], native_cluster["model_dir"]
  assert _structure(mine) == _structure(native)
  assert _placement(mine) == _placement(native)
  assert (tf.train.load_variable(mine, "global_step") ==
          tf.train.load_variable(native, "global_step") == MAX_STEPS)
  assert _eval_tags(mine, MAX_STEPS) == _eval_tags(native, MAX_STEPS)
  assert (sorted(os.listdir(_final_export(mine))) ==
          sorted(os.listdir(_final_export(native))))
  assert ("Saving checkpoints for" in native_cluster["chief"]["log"] and
          "Saving checkpoints for" not in native_cluster["worker"]["log"])


# In this process: the dispatch's errors, the start delays, device and
# summary placement, and clusters of one node (no server to start).

MODULES = [ours] + ([native_est] if native_est is not None else [])
_SUPPORTED = "['chief', 'evaluator', 'master', 'ps', 'worker']"


def _specs(est, max_steps=10):
  (x, y), (ex, ey) = models.make_data(64, seed=0), models.make_data(40, 1)
  receiver = models.serving_input_receiver_fn(est)
  return (est.TrainSpec(models.train_input_fn(x, y), max_steps=max_steps),
          est.EvalSpec(models.eval_input_fn(ex, ey), steps=None,
                       start_delay_secs=0, throttle_secs=0,
                       exporters=[est.FinalExporter("final", receiver)]))


def _train_and_evaluate(est, monkeypatch, tf_config, model_dir, **kwargs):
  monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
  estimator = est.Estimator(models.make_model_fn(est), model_dir=model_dir,
                            config=models.run_config(est, **kwargs))
  return est.train_and_evaluate(estimator, *_specs(est))


_BAD_TASKS = {
    "second_evaluator": ({"cluster": {"chief": ["127.0.0.1:1"]},
                          "task": {"type": "evaluator", "index": 1}},
                         ValueError,
                         "For distributed training, there can only be one "
                         "`evaluator` task (with task id 0).  Given task id "
                         "1"),
    "no_role": ({"cluster": {"chief": ["127.0.0.1:1"],
                             "trainer": ["127.0.0.1:2"]},
                 "task": {"type": "trainer", "index": 0}}, ValueError,
                "Task type trainer is not supported. Supported task types "
                "are " + _SUPPORTED),
    "no_master": ({"cluster": {"chief": ["127.0.0.1:1"],
                               "worker": ["127.0.0.1:2"]},
                   "task": {"type": "chief", "index": 0},
                   "session_master": ""}, RuntimeError,
                  "Could not start server; be sure to specify master in "
                  "RunConfig or set the TF_CONFIG environment variable."),
}


@pytest.mark.parametrize("est", MODULES, ids=lambda m: m.__name__)
@pytest.mark.parametrize("name", sorted(_BAD_TASKS))
def test_tasks_without_a_role_are_rejected(est, name, monkeypatch, tmp_path):
  tf_config, error, text = _BAD_TASKS[name]
  with pytest.raises(error) as raised:
    _train_and_evaluate(est, monkeypatch, tf_config, str(tmp_path))
  assert str(raised.value) == text
  assert not os.listdir(tmp_path)


def _one_node(est, monkeypatch, task_type, model_dir):
  tf_config = {"cluster": {task_type: ["127.0.0.1:1"]},
               "task": {"type": task_type, "index": 0}}
  returned = _train_and_evaluate(est, monkeypatch, tf_config, model_dir)
  return {"returned": returned,
          "step": tf.train.load_variable(model_dir, "global_step"),
          "structure": _structure(model_dir),
          "eval_tags": (_eval_tags(model_dir, 10)
                        if os.path.isdir(os.path.join(model_dir, "eval"))
                        else None)}


@pytest.mark.parametrize("task_type", ["chief", "master"])
def test_a_cluster_of_one_trains_without_a_server(task_type, monkeypatch,
                                                  tmp_path, tf_log):
  run = _one_node(ours, monkeypatch, task_type, str(tmp_path))
  assert ("Skip starting Tensorflow server as there is only one node in the "
          "cluster.") in tf_log
  assert run["returned"] is None and run["step"] == 10
  if task_type == "chief":
    assert run["eval_tags"] is None
    assert not any(k.startswith("export/") for k in run["structure"])
  else:  # The master evaluates and exports its own checkpoints.
    assert run["eval_tags"] == ["accuracy", "loss", "mean_probability"]
    _final_export(str(tmp_path))


@needs_native
@pytest.mark.parametrize("task_type", ["chief", "master"])
def test_a_cluster_of_one_as_native(task_type, monkeypatch, tmp_path):
  assert (_one_node(ours, monkeypatch, task_type, str(tmp_path / "ours")) ==
          _one_node(native_est, monkeypatch, task_type,
                    str(tmp_path / "native")))


@pytest.mark.parametrize("task,max_delay,expected", [
    (("chief", 0), None, 0), (("worker", 0), None, 5),
    (("worker", 2), None, 15), (("worker", 15), None, 60),
    (("worker", 2), 7, 7), (("worker", 2), 0, 0), (("ps", 0), None, 0)])
def test_worker_start_delays(task, max_delay, expected, monkeypatch):
  cluster = {"chief": ["c:1"], "worker": ["w:%d" % i for i in range(16)],
             "ps": ["p:1"]}
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": cluster, "task": {"type": task[0], "index": task[1]}}))
  config = ours.RunConfig(experimental_max_worker_delay_secs=max_delay)
  assert cluster_roles.worker_start_delay_secs(config) == expected


def _devices(config):
  with tf.Graph().as_default() as graph:
    with graph.device(between_graph.default_device_fn(config)):
      variable = tf.compat.v1.get_variable("v", [2])
      product = variable * 2.0
  return variable.op.device, product.op.device


def test_default_device_function(monkeypatch):
  cluster = {"chief": ["c:1"], "worker": ["w:1", "w:2"],
             "ps": ["p:1", "p:2"]}
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": cluster, "task": {"type": "worker", "index": 1}}))
  assert _devices(ours.RunConfig()) == ("/job:ps/task:0",
                                        "/job:worker/task:1")
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": {"chief": ["c:1"], "worker": ["w:1"]},
       "task": {"type": "worker", "index": 0}}))
  assert _devices(ours.RunConfig()) == ("", "")


@pytest.mark.parametrize("task,expected", [
    (("worker", 0), (0, None, ["SummarySaverHook", "StepCounterHook"])),
    (("worker", 1), (0, None, [])), (("master", 0), (0, None, []))])
def test_master_layout_moves_summaries_to_worker_0(task, expected,
                                                   monkeypatch):
  cluster = {"master": ["m:1"], "worker": ["w:1", "w:2"], "ps": ["p:1"]}
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": cluster, "task": {"type": task[0], "index": task[1]}}))
  config = ours.RunConfig(model_dir="/m", save_summary_steps=3,
                          log_step_count_steps=4)
  with tf.Graph().as_default():
    tf.compat.v1.train.create_global_step()
    settings = between_graph.summary_settings(
        config, tf.compat.v1.train.Scaffold())
  assert settings[:2] == expected[:2]
  assert [type(h).__name__ for h in settings.worker_hooks] == expected[2]
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": {"chief": ["c:1"], "worker": ["w:1"]},
       "task": {"type": "worker", "index": 0}}))
  config = ours.RunConfig(save_summary_steps=3, log_step_count_steps=4)
  assert between_graph.summary_settings(config, None) == (3, 4, [])
