"""`RunConfig(train_distribute=..., eval_distribute=...)`: the model_fn on
every replica of a `tf.distribute.MirroredStrategy` of 2 logical CPUs.

The scenarios run in one fresh process (distribute_harness.py), as logical
devices must be configured before TensorFlow initializes. Each replica reads
its own dataset element of ROWS rows per step; the one-device Estimator
reads both concatenated. They train alike (final variables, moving
statistics of the synchronized batch norm included, to 1e-5) when

* the loss is a mean (`tf.compat.v1.losses` default reduction,
  SUM_BY_NONZERO_WEIGHTS) over equal replica batches: the v1 optimizer
  scales each replica's loss by 1/2 and sums the gradients, so the step is
  the one of the mean over the concatenated batch; the reported loss is the
  replicas' mean, the one device's loss;
* or the loss is a SUM: nothing is scaled, gradients and the reported loss
  are the replicas' sums, the one device's sum.

Evaluation on the replicas aggregates every metric over both (the "loss"
metric is the mean of the per-replica batch losses: equal to one device's
with equal replica batches of a mean loss).

Two worker processes of a MultiWorkerMirroredStrategy (TF_CONFIG cluster on
127.0.0.1, free ports, every process bounded by TIMEOUT_S; the strategy made
eagerly, as TF2 programs make it) each read every other dataset element
(sharded by their `input_context`) and, through `train_and_evaluate`, train
as the one device too; the chief's final checkpoint holds the one device's
values.
"""

import os
import pickle
import sys

import numpy as np
import pytest
import tensorflow as tf

import local_processes
import package_env
from tf_bn_compat import estimator as est

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 240
FLOAT32 = dict(rtol=1e-5, atol=1e-5)
STEPS = 3


def _native_available():
  native = getattr(tf, "estimator", None)
  return native is not None and native is not est and hasattr(
      native, "Estimator")


def _harness(*args):
  return [sys.executable, os.path.join(HERE, "distribute_harness.py")] + [
      str(a) for a in args]


class _Launch(local_processes.ProcessGroup):
  """The fresh processes of this module, started together and bounded.

  One runs every in-process scenario with 2 logical CPUs; two are the
  workers of a MultiWorkerMirroredStrategy cluster on 127.0.0.1.
  """

  def __init__(self, scratch):
    self.out = os.path.join(scratch, "results.pkl")
    self.worker_outs = [os.path.join(scratch, "worker%d.pkl" % task)
                        for task in range(2)]
    scenarios = ["mean", "sum", "errors", "exporter"] + (
        ["native", "native_exporter"] if _native_available() else [])
    ports = local_processes.free_ports(2)
    model_dir = os.path.join(scratch, "multi_worker")
    commands = [_harness(self.out, scratch, *scenarios)] + [
        _harness("worker", out, task, *ports, model_dir, "eager")
        for task, out in enumerate(self.worker_outs)]
    super(_Launch, self).__init__(commands, package_env.child_env(), scratch,
                                  TIMEOUT_S)

  def result(self, index, out):
    code, errors = self.wait(index)
    if not os.path.exists(out):
      pytest.fail("harness process %d wrote no result (exit %s):\n%s" % (
          index, code, errors[-4000:]))
    with open(out, "rb") as f:
      return pickle.load(f)


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
  started = _Launch(str(tmp_path_factory.mktemp("distribute")))
  yield started
  started.kill()


@pytest.fixture(scope="module")
def harness(launch):
  """Every in-process scenario's result."""
  return launch.result(0, launch.out)


@pytest.fixture(scope="module")
def workers(launch):
  """Each worker's result (the chief's has the final checkpoint's values)."""
  results = [launch.result(1 + task, out)
             for task, out in enumerate(launch.worker_outs)]
  for task, result in enumerate(results):
    if "exception" in result:
      pytest.fail("worker %d raised:\n%s" % (task, result["exception"]))
  return results


def _scenario(harness, name):
  result = harness[name]
  if "exception" in result:
    pytest.fail("scenario %s raised:\n%s" % (name, result["exception"]))
  return result


def _assert_same_checkpoint(got, want):
  """Same variable names (single-device ones) and values to 1e-5."""
  assert sorted(got) == sorted(want)
  for name, value in want.items():
    np.testing.assert_allclose(got[name], value, err_msg=name, **FLOAT32)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_replicas_train_as_one_device_on_the_concatenated_batch(
    harness, reduction):
  result = _scenario(harness, reduction)
  replicas, single = result["replicas"], result["single"]
  assert {"bn/moving_mean", "bn/moving_variance", "bn/gamma", "bn/beta",
          "dense/kernel", "global_step"} <= set(single)
  assert replicas["global_step"] == STEPS
  _assert_same_checkpoint(replicas, single)
  # The moving statistics moved: the replicas' UPDATE_OPS ran.
  assert np.all(np.abs(replicas["bn/moving_variance"] - 1.0) > 1e-2)
  assert len(result["replicas_losses"]) == STEPS
  np.testing.assert_allclose(result["replicas_losses"],
                             result["single_losses"], **FLOAT32)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_eval_distribute_gives_one_devices_metrics(harness, reduction):
  result = _scenario(harness, reduction)
  on_replicas, on_one = result["eval_replicas"], result["eval_single"]
  assert sorted(on_replicas) == sorted(on_one) == [
      "global_step", "loss", "mse", "y_mean"]
  assert on_replicas["global_step"] == on_one["global_step"] == STEPS
  for name in ("loss", "mse", "y_mean"):
    np.testing.assert_allclose(on_replicas[name], on_one[name], err_msg=name,
                               **FLOAT32)


@pytest.mark.skipif(not _native_available(),
                    reason="tf.estimator is gone from TensorFlow 2.16+")
def test_same_as_tensorflows_estimator_on_the_same_strategy(harness):
  result = _scenario(harness, "native")
  _assert_same_checkpoint(result["ours"], result["native"])
  np.testing.assert_allclose(result["ours_losses"], result["native_losses"],
                             **FLOAT32)
  assert sorted(result["eval_ours"]) == sorted(result["eval_native"])
  for name, value in result["eval_native"].items():
    np.testing.assert_allclose(result["eval_ours"][name], value,
                               err_msg=name, **FLOAT32)
    # TensorFlow's one-device Estimator reads our distributed checkpoint.
    np.testing.assert_allclose(result["native_reads_ours"][name], value,
                               err_msg=name, **FLOAT32)


def _exporter_results(harness, scenario):
  result = harness[scenario]
  if "exception" in result:
    pytest.fail("the scenario raised:\n" + result["exception"])
  return result


def _assert_served_export(exports):
  assert len(exports) == 1
  assert os.path.exists(os.path.join(exports[0], "saved_model.pb"))
  assert os.path.basename(os.path.dirname(exports[0])) == "latest"


def test_train_and_evaluate_exports_on_replicas_as_on_one_device(harness):
  result = _exporter_results(harness, "exporter")
  replicas, single = result["replicas"], result["single"]
  assert replicas["eval"]["global_step"] == STEPS
  assert sorted(replicas["eval"]) == sorted(single["eval"])
  for key in ("loss", "mse", "y_mean"):
    np.testing.assert_allclose(replicas["eval"][key], single["eval"][key],
                               rtol=1e-5, atol=1e-5)
  _assert_served_export(replicas["exports"])
  _assert_served_export(single["exports"])


@pytest.mark.skipif(not _native_available(),
                    reason="TensorFlow %s has no tf.estimator of its own" %
                    tf.__version__)
def test_train_and_evaluate_with_exporter_as_tensorflows(harness):
  ours = _exporter_results(harness, "exporter")["replicas"]
  native = _exporter_results(harness, "native_exporter")["replicas"]
  assert sorted(ours["eval"]) == sorted(native["eval"])
  for key in ours["eval"]:
    np.testing.assert_allclose(ours["eval"][key], native["eval"][key],
                               rtol=1e-6, atol=1e-6)
  _assert_served_export(native["exports"])


def test_input_fn_must_return_a_dataset(harness):
  kind, message = _scenario(harness, "errors")["tensors_input_fn"]
  assert kind == "ValueError"
  assert "input_fn must return a tf.data.Dataset" in message


@pytest.mark.parametrize("argument", ["train_distribute", "eval_distribute"])
@pytest.mark.parametrize("value", ["mirrored", 3, object()])
def test_strategy_arguments_must_be_strategies(argument, value, tmp_path):
  with pytest.raises(TypeError, match="%s must be a `tf.distribute.Strategy`"
                     % argument):
    est.RunConfig(**{argument: value})
  with pytest.raises(TypeError, match=argument):
    est.RunConfig(model_dir=str(tmp_path)).replace(**{argument: value})


def test_two_workers_train_as_one_device_on_the_concatenated_batch(
    harness, workers):
  single = _scenario(harness, "mean")
  _assert_same_checkpoint(workers[0]["values"], single["single"])
  for result in workers:
    np.testing.assert_allclose(result["losses"], single["single_losses"],
                               **FLOAT32)


def test_multi_worker_evaluate_is_refused_as_tensorflow_did(workers):
  for result in workers:
    assert result["evaluate_error"] == (
        "Only `STANDALONE_CLIENT` mode is supported when you call "
        "`Estimator.evaluate`")
    assert result["eval_only_config_error"] == (
        'If "cluster" is set in TF_CONFIG, it must have one "chief" node.')
