"""`TF_CONFIG` parsing: a task's place in its cluster, as `RunConfig` reads it.

Values follow TensorFlow's documented examples; where TensorFlow has its own
Estimator (the 2.15 leg), every case is also compared with what its
`RunConfig` reads from the same `TF_CONFIG`, errors included.
"""

import json

import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as ours
from tf_bn_compat.estimator import cluster_config

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context

native = getattr(tf, "estimator", None)
if native is ours or not hasattr(native, "RunConfig"):
  native = None
needs_native = models.needs_native()

_CLUSTER = {"chief": ["host0:2222"],
            "worker": ["host1:2222", "host2:2222", "host3:2222"],
            "ps": ["host4:2222", "host5:2222"]}
_MASTER_CLUSTER = {"master": ["host0:2222"], "worker": ["host1:2222"],
                   "ps": ["host2:2222"]}
_FIELDS = ("task_type", "task_id", "master", "evaluation_master", "is_chief",
           "num_ps_replicas", "num_worker_replicas", "global_id_in_cluster",
           "service")

# (TF_CONFIG, expected values of _FIELDS, whether the cluster is kept).
_CASES = {
    "unset": ({}, ("worker", 0, "", "", True, 0, 1, 0, None), False),
    "chief": ({"cluster": _CLUSTER, "task": {"type": "chief", "index": 0}},
              ("chief", 0, "grpc://host0:2222", "", True, 2, 4, 0, None),
              True),
    "worker": ({"cluster": _CLUSTER, "task": {"type": "worker", "index": 2}},
               ("worker", 2, "grpc://host3:2222", "", False, 2, 4, 3, None),
               True),
    "ps": ({"cluster": _CLUSTER, "task": {"type": "ps", "index": "1"}},
           ("ps", 1, "grpc://host5:2222", "", False, 2, 4, 5, None), True),
    "evaluator": ({"cluster": _CLUSTER,
                   "task": {"type": "evaluator", "index": 0},
                   "eval_session_master": "grpc://eval:1"},
                  ("evaluator", 0, "", "grpc://eval:1", False, 0, 0, None,
                   None), False),
    "master_layout": ({"cluster": _MASTER_CLUSTER,
                       "task": {"type": "master", "index": 0}},
                      ("master", 0, "grpc://host0:2222", "", True, 1, 2, 0,
                       None), True),
    "master_layout_ps": ({"cluster": _MASTER_CLUSTER,
                          "task": {"type": "ps", "index": 0}},
                         ("ps", 0, "grpc://host2:2222", "", False, 1, 2, 2,
                          None), True),
    "cluster_of_one": ({"cluster": {"chief": ["host0:2222"]},
                        "task": {"type": "chief", "index": 0},
                        "service": {"name": "x"}},
                       ("chief", 0, "", "", True, 0, 1, 0, {"name": "x"}),
                       True),
    "session_master": ({"cluster": _CLUSTER,
                        "task": {"type": "worker", "index": 0},
                        "session_master": "grpc://elsewhere:1"},
                       ("worker", 0, "grpc://elsewhere:1", "", False, 2, 4,
                        1, None), True),
    "no_cluster_master": ({"task": {"type": "worker", "index": 0},
                           "session_master": "grpc://m:1",
                           "eval_session_master": "grpc://e:1"},
                          ("worker", 0, "grpc://m:1", "grpc://e:1", True, 0,
                           1, 0, None), False),
}

_ERRORS = {
    "no_chief": ({"cluster": {"worker": ["a:1"]},
                  "task": {"type": "worker", "index": 0}}, ValueError,
                 'If "cluster" is set in TF_CONFIG, it must have one "chief" '
                 "node."),
    "two_chiefs": ({"cluster": {"chief": ["a:1", "b:1"]},
                    "task": {"type": "chief", "index": 0}}, ValueError,
                   'The "cluster" in TF_CONFIG must have only one "chief" '
                   "node."),
    "no_type": ({"cluster": _CLUSTER, "task": {"index": 0}}, ValueError,
                'If "cluster" is set in TF_CONFIG, task type must be set.'),
    "no_index": ({"cluster": _CLUSTER, "task": {"type": "worker"}},
                 ValueError,
                 'If "cluster" is set in TF_CONFIG, task index must be set.'),
    "negative_index": ({"cluster": _CLUSTER,
                        "task": {"type": "worker", "index": -1}}, ValueError,
                       "Task index must be non-negative number."),
    "unknown_type": ({"cluster": _CLUSTER,
                      "task": {"type": "trainer", "index": 0}}, ValueError,
                     "trainer is not a valid task_type in the cluster_spec:"),
    "index_too_big": ({"cluster": _CLUSTER,
                       "task": {"type": "worker", "index": 3}}, ValueError,
                      "3 is not a valid task_id for task_type worker in the "
                      "cluster_spec:"),
    "local_ps": ({"task": {"type": "ps", "index": 0}}, ValueError,
                 'If "cluster" is not set in TF_CONFIG, task type must be '
                 "WORKER."),
    "local_index": ({"task": {"type": "worker", "index": 1}}, ValueError,
                    'If "cluster" is not set in TF_CONFIG, task index must '
                    "be 0."),
    "master_and_chief": ({"cluster": {"master": ["a:1"], "chief": ["b:1"]},
                          "task": {"type": "master", "index": 0}}, ValueError,
                         "If `master` node exists in `cluster`, job `chief` "
                         "is not supported."),
    "master_evaluator": ({"cluster": _MASTER_CLUSTER,
                          "task": {"type": "evaluator", "index": 0}},
                         ValueError,
                         "If `master` node exists in `cluster`, task_type "
                         "`evaluator` is not supported."),
    "service_not_dict": ({"service": "x"}, TypeError,
                         'If "service" is set in TF_CONFIG, it must be a '
                         "dict. Given <class 'str'>"),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_reads_the_documented_values(name):
  tf_config, expected, keeps_cluster = _CASES[name]
  task = cluster_config.cluster_config(tf_config)
  assert tuple(getattr(task, f) for f in _FIELDS) == expected
  cluster = tf_config.get("cluster", {}) if keeps_cluster else {}
  assert task.cluster_spec == tf.train.ClusterSpec(cluster)


@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_rejects_inconsistent_configs(name):
  tf_config, error, text = _ERRORS[name]
  with pytest.raises(error) as raised:
    cluster_config.cluster_config(tf_config)
  assert str(raised.value).startswith(text)


def test_load_from_environment(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  assert cluster_config.load_tf_config() == {}
  config = {"cluster": _CLUSTER, "task": {"type": "worker", "index": 1}}
  monkeypatch.setenv("TF_CONFIG", json.dumps(config))
  assert cluster_config.load_tf_config() == config
  assert cluster_config.load_tf_config({"TF_CONFIG": "{}"}) == {}


def test_model_dir():
  resolve = cluster_config.model_dir_from_tf_config
  assert resolve({}, "/a") == "/a"
  assert resolve({"model_dir": "/b"}, None) == "/b"
  assert resolve({"model_dir": "/b"}, "/b") == "/b"
  assert resolve({}, None) is None
  with pytest.raises(ValueError, match="must have the same value"):
    resolve({"model_dir": "/b"}, "/a")
  with pytest.raises(ValueError, match="model_dir in TF_CONFIG should be "):
    resolve({"model_dir": ""}, None)
  with pytest.raises(ValueError, match="^model_dir should be non-empty.$"):
    resolve({}, "")


def test_distributed_session_config():
  worker = cluster_config.distributed_session_config("worker", 2)
  assert list(worker.device_filters) == ["/job:ps", "/job:worker/task:2"]
  assert worker.allow_soft_placement
  assert worker.graph_options.rewrite_options.meta_optimizer_iterations == 1
  assert list(cluster_config.distributed_session_config(
      "chief", 0).device_filters) == ["/job:ps", "/job:chief"]
  assert cluster_config.distributed_session_config("evaluator", 0) is None


def _native_config(monkeypatch, tf_config, **kwargs):
  monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
  return native.RunConfig(**kwargs)


@needs_native
@pytest.mark.parametrize("name", sorted(_CASES))
def test_same_as_native_run_config(monkeypatch, name):
  tf_config = _CASES[name][0]
  expected = _native_config(monkeypatch, tf_config)
  task = cluster_config.cluster_config(tf_config)
  for field in _FIELDS + ("cluster_spec",):
    assert getattr(task, field) == getattr(expected, field), field
  if task.cluster_spec:
    assert cluster_config.distributed_session_config(
        task.task_type, task.task_id) == expected.session_config


@needs_native
@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_same_errors_as_native_run_config(monkeypatch, name):
  tf_config, error, _ = _ERRORS[name]
  with pytest.raises(error) as native_raised:
    _native_config(monkeypatch, tf_config)
  with pytest.raises(error) as raised:
    cluster_config.cluster_config(tf_config)
  assert str(raised.value) == str(native_raised.value)


@needs_native
@pytest.mark.parametrize("tf_config,model_dir", [
    ({"model_dir": "/b"}, None), ({"model_dir": "/b"}, "/a"),
    ({"model_dir": ""}, None), ({}, ""), ({}, "/a")])
def test_same_model_dir_as_native(monkeypatch, tf_config, model_dir):
  try:
    expected = _native_config(monkeypatch, tf_config,
                              model_dir=model_dir).model_dir
  except ValueError as e:
    with pytest.raises(ValueError) as raised:
      cluster_config.model_dir_from_tf_config(tf_config, model_dir)
    assert str(raised.value) == str(e)
  else:
    assert cluster_config.model_dir_from_tf_config(
        tf_config, model_dir) == expected


def _run_config(est, monkeypatch, tf_config, **kwargs):
  monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
  return est.RunConfig(**kwargs)


@pytest.mark.parametrize("name", sorted(_CASES))
def test_run_config_reads_tf_config(monkeypatch, name):
  tf_config, expected, keeps_cluster = _CASES[name]
  config = _run_config(ours, monkeypatch, tf_config)
  assert tuple(getattr(config, f) for f in _FIELDS) == expected
  cluster = tf_config.get("cluster", {}) if keeps_cluster else {}
  assert config.cluster_spec == tf.train.ClusterSpec(cluster)
  if keeps_cluster:
    assert config.session_config == cluster_config.distributed_session_config(
        config.task_type, config.task_id)
  else:
    assert config.session_config is None
  # replace() keeps the task; TF_CONFIG is read at construction only.
  monkeypatch.delenv("TF_CONFIG")
  replaced = config.replace(save_checkpoints_steps=7, model_dir="/x")
  assert tuple(getattr(replaced, f) for f in _FIELDS) == expected
  assert replaced.cluster_spec == config.cluster_spec
  assert replaced.session_config == config.session_config


def test_run_config_keeps_a_given_session_config(monkeypatch):
  given = tf.compat.v1.ConfigProto(log_device_placement=True)
  config = _run_config(ours, monkeypatch, _CASES["worker"][0],
                       session_config=given)
  assert config.session_config is given
  assert config.task_type == "worker"


def test_run_config_model_dir_from_tf_config(monkeypatch):
  assert _run_config(ours, monkeypatch,
                     {"model_dir": "/b"}).model_dir == "/b"
  with pytest.raises(ValueError, match="must have the same value"):
    _run_config(ours, monkeypatch, {"model_dir": "/b"}, model_dir="/a")
  with pytest.raises(ValueError, match="^model_dir should be non-empty.$"):
    _run_config(ours, monkeypatch, {}, model_dir="")


@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_run_config_rejects_inconsistent_configs(monkeypatch, name):
  tf_config, error, text = _ERRORS[name]
  with pytest.raises(error) as raised:
    _run_config(ours, monkeypatch, tf_config)
  assert str(raised.value).startswith(text)


def _described(config):
  values = {f: getattr(config, f) for f in _FIELDS + ("cluster_spec",
                                                      "model_dir")}
  values["session_config"] = (None if config.session_config is None else
                              config.session_config.SerializeToString(
                                  deterministic=True))
  return values


@needs_native
@pytest.mark.parametrize("name", sorted(_CASES) + ["model_dir"])
def test_run_config_same_as_native(monkeypatch, name):
  tf_config = (dict(_CASES["chief"][0], model_dir="/b") if name == "model_dir"
               else _CASES[name][0])
  expected = _run_config(native, monkeypatch, tf_config)
  config = _run_config(ours, monkeypatch, tf_config)
  assert _described(config) == _described(expected)
  monkeypatch.delenv("TF_CONFIG")
  assert (_described(config.replace(save_checkpoints_steps=3)) ==
          _described(expected.replace(save_checkpoints_steps=3)))


@needs_native
@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_run_config_same_errors_as_native(monkeypatch, name):
  tf_config, error, _ = _ERRORS[name]
  with pytest.raises(error) as native_raised:
    _run_config(native, monkeypatch, tf_config)
  with pytest.raises(error) as raised:
    _run_config(ours, monkeypatch, tf_config)
  assert str(raised.value) == str(native_raised.value)


@needs_native
@pytest.mark.parametrize("kwargs", [{"save_summary_steps": -1},
                                    {"model_dir": ""}])
def test_run_config_checks_arguments_before_tf_config(monkeypatch, kwargs):
  tf_config = _ERRORS["no_chief"][0]
  with pytest.raises(ValueError) as native_raised:
    _run_config(native, monkeypatch, tf_config, **kwargs)
  with pytest.raises(ValueError) as raised:
    _run_config(ours, monkeypatch, tf_config, **kwargs)
  assert str(raised.value) == str(native_raised.value)


def _strategy():
  return tf.distribute.MirroredStrategy(["/cpu:0"])


def test_run_config_with_a_strategy_reads_only_the_cluster(monkeypatch):
  tf_config = _CASES["worker"][0]
  config = _run_config(ours, monkeypatch, tf_config,
                       train_distribute=_strategy())
  # The strategy knows the task's place: the rest is a lone process's.
  assert tuple(getattr(config, f) for f in _FIELDS) == _CASES["unset"][1]
  assert config.cluster_spec == tf.train.ClusterSpec(tf_config["cluster"])
  assert config.session_config is None


def test_run_config_with_a_strategy_and_a_master_job(monkeypatch):
  tf_config = {"cluster": _MASTER_CLUSTER,
               "task": {"type": "worker", "index": 0}}
  with_strategy = _run_config(ours, monkeypatch, tf_config,
                              train_distribute=_strategy())
  without = _run_config(ours, monkeypatch, tf_config)
  assert _described(with_strategy) == _described(without)


@needs_native
@pytest.mark.parametrize("name", ["worker", "chief", "unset"])
def test_run_config_with_a_strategy_same_as_native(monkeypatch, name):
  tf_config = _CASES[name][0]
  strategy = _strategy()
  expected = _run_config(native, monkeypatch, tf_config,
                         train_distribute=strategy)
  config = _run_config(ours, monkeypatch, tf_config, train_distribute=strategy)
  assert _described(config) == _described(expected)
