"""The graph every mode builds in: seed, device function and global step."""

import contextlib

import tensorflow as tf

# Where TF's session hooks look for the cached read of the global step.
GLOBAL_STEP_READ_KEY = "global_step_read_op_cache"


def _global_step_read(graph, global_step):
  """A cached `global_step + 0` that works before the step is initialized.

  The session hooks (step counter, checkpoint and summary savers) read the
  step through this tensor; creating it before the model keeps the graph's
  op numbering (hence the random seeds of initializers) as TF's Estimator.
  """
  cached = graph.get_collection(GLOBAL_STEP_READ_KEY)
  if cached:
    return cached[0]
  with graph.name_scope(None), graph.name_scope(global_step.op.name + "/"):
    value = tf.cond(tf.compat.v1.is_variable_initialized(global_step),
                    global_step.read_value,
                    lambda: global_step.initial_value)
    read = value + 0
  graph.add_to_collection(GLOBAL_STEP_READ_KEY, read)
  return read


@contextlib.contextmanager
def mode_graph(config, read_global_step=False, device_fn=None):
  """A fresh default graph with the config's seed, devices and global step.

  Args:
    config: The Estimator's `RunConfig`.
    read_global_step: Whether to also create the step's cached read (the
      training graph has it).
    device_fn: The graph's device function, or None for none. Only training
      places ops with one (as TF's Estimator): evaluation and prediction
      graphs run where TensorFlow puts them.

  Yields:
    (graph, global step variable).
  """
  with tf.Graph().as_default() as graph, graph.device(device_fn):
    tf.compat.v1.random.set_random_seed(config.tf_random_seed)
    global_step = tf.compat.v1.train.create_global_step(graph)
    if read_global_step:
      _global_step_read(graph, global_step)
    yield graph, global_step
