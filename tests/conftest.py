"""Shared pytest set-up: quiet TensorFlow, graph-mode fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def pytest_collection_modifyitems(items):
  """Moves the `eager_context` tests last, keeping the order of each part.

  Once eager ops have run in a process, `tf.compat.v1.enable_v2_behavior()`
  after `disable_v2_behavior()` (the "v1" `graph_mode`) raises ("must be
  called at program startup"), so every test that needs it runs first.
  """
  items.sort(key=lambda item: item.get_closest_marker("eager_context")
             is not None)
