"""Shared pytest set-up: quiet TensorFlow, graph-mode fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The kernels stream outputs from twice the last-level cache up (often 64 MiB
# or more); the tests reach that path with 8 MiB tensors.
os.environ.setdefault("TF_BN_COMPAT_STREAM_MIN_BYTES", str(8 << 20))

import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

tf.get_logger().setLevel("ERROR")


@pytest.fixture(params=["v2_graph", "v1"])
def graph_mode(request):
  """Runs a test in `tf.Graph()` with TF2 behaviour, then under TF1 behaviour.

  "v1" is `tf.compat.v1.disable_v2_behavior()` (reference variables, v1
  control flow), as legacy scripts run; it is undone after the test.
  """
  if request.param == "v1":
    tf.compat.v1.disable_v2_behavior()
    yield request.param
    tf.compat.v1.enable_v2_behavior()
  else:
    yield request.param


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "eager_context: runs eager ops; run after all other tests.")


def _run_order(item):
  """0: compares with TensorFlow's kernels; 1: the rest; 2: eager context."""
  if "tensorflows_kernels" in getattr(item, "fixturenames", ()):
    return 0
  return 2 if item.get_closest_marker("eager_context") is not None else 1


def pytest_collection_modifyitems(items):
  """Orders the tests in three parts, keeping the order within each.

  First the tests that compare with TensorFlow's own fused batch norm
  kernels in this process (the `tensorflows_kernels` fixture): once the
  layers' fused path has run, our kernels are registered for TensorFlow's
  ops and TensorFlow's no longer run here. Last the `eager_context` tests:
  once eager ops have run in a process, `tf.compat.v1.enable_v2_behavior()`
  after `disable_v2_behavior()` (the "v1" `graph_mode`) raises ("must be
  called at program startup"), so every test that needs it runs before.
  """
  items.sort(key=_run_order)
