"""Builds one graph with our layers and with TF1's, runs both, compares all.

`run` builds a layer (class or functional form) on placeholders, starts from
the same variable values (the reference's initial values are loaded into
ours, so random initializers need not draw alike), runs the forward pass and
the gradients of a fixed scalar function of the output with respect to the
inputs and every trainable variable, and records what a user observes:
values, variable names/shapes/dtypes, collections, losses, the layer's
weight lists. `assert_match` compares two records.

The reference is TF1's own layers (`parity.reference_module`): tf_keras'
legacy layers on TF 2.16+ (where `tf.compat.v1.layers` is gone), TF's
`tf.compat.v1.layers` before.
"""

import numpy as np
import pytest
import tensorflow as tf

import parity

SEED = 1234
TF_VERSION = parity.TF_VERSION

TOLERANCES = {
    # The same TF ops run in both graphs; only layouts may differ (e.g. a
    # transposed pooling), which changes summation order.
    "float16": dict(rtol=1e-2, atol=1e-2),
    "float32": dict(rtol=1e-5, atol=1e-5),
    "float64": dict(rtol=1e-10, atol=1e-10),
}

# Errors of a TF kernel that cannot run a layout on this machine (e.g. NCHW
# on a CPU without oneDNN).
KERNEL_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
                 tf.errors.NotFoundError)


# TF1's own layers (see parity.py) and ours.
reference = parity.reference_module
ours = parity.ours_module


def make_inputs(shapes, dtype, seed=SEED):
  rng = np.random.RandomState(seed)
  return [(rng.standard_normal(shape) * 1.5 + 0.3).astype(dtype)
          for shape in shapes]


def _layer_record(layer, placeholders):
  if layer is None:
    return {}
  return {
      "layer_weights": parity.names(layer.weights),
      "layer_trainable": parity.names(layer.trainable_weights),
      "layer_non_trainable": parity.names(layer.non_trainable_weights),
      "losses_for_none": len(layer.get_losses_for(None)),
      "losses_for_inputs": len(layer.get_losses_for(placeholders)),
      "num_losses": len(layer.losses),
      "updates_for_inputs": len(layer.get_updates_for(placeholders)),
      "updates_for_none": len(layer.get_updates_for(None)),
  }


def run(module, build, shapes, dtype="float32", values=None, gradients=True,
        static_shapes=None, feed=None):
  """Builds `build(module, *placeholders)` and runs it.

  Args:
    module: Our layers or the reference namespace.
    build: Function (module, *inputs) -> output tensor, or (output, layer).
    shapes: Shapes of the inputs fed.
    dtype: Input dtype name.
    values: Dict variable name -> value to load after initialization.
    gradients: Whether to run gradients too.
    static_shapes: Placeholder shapes (None entries unknown); default
      `shapes`.
    feed: Optional function graph -> extra feed dict.

  Returns:
    Dict of numpy results and graph metadata.
  """
  data = make_inputs(shapes, dtype)
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(SEED)
    placeholders = [
        tf.compat.v1.placeholder(dtype, s, name="x%d" % i)
        for i, s in enumerate(static_shapes or shapes)]
    built = build(module, *placeholders)
    output, layer = built if isinstance(built, tuple) else (built, None)
    variables = tf.compat.v1.global_variables()
    trainable = tf.compat.v1.trainable_variables()
    reg_losses = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    weights = tf.constant(np.random.RandomState(SEED + 1).standard_normal(
        [d or 1 for d in output.shape.as_list()]), tf.float32)
    objective = tf.reduce_sum(tf.cast(output, tf.float32) * weights)
    if reg_losses:
      objective += tf.add_n([tf.cast(l, tf.float32) for l in reg_losses])
    fetches = {"output": output, "reg_losses": reg_losses}
    if gradients:
      fetches["grads"] = tf.gradients(objective, placeholders + trainable)
    record = {
        "variables": [(v.name, tuple(v.shape.as_list()),
                       v.dtype.base_dtype.name) for v in variables],
        "trainable": parity.names(trainable),
        "collections": parity.collection_names(graph),
        "output_dtype": output.dtype.name,
        "output_shape": output.shape.as_list(),
    }
    record.update(_layer_record(layer, placeholders))
    feeds = dict(zip(placeholders, data))
    if feed is not None:
      feeds.update(feed(graph))
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for v in variables:
        if values is not None and v.name in values:
          v.load(values[v.name], sess)
      record["initial_values"] = {v.name: sess.run(v) for v in variables}
      record.update(sess.run(fetches, feeds))
  return record


def assert_match(ours_record, ref_record, dtype="float32", ignore=()):
  """Asserts two `run` records agree: metadata exactly, values closely.

  Keys in `ignore` are not compared (known, documented differences).
  """
  for key in sorted(set(ref_record) | set(ours_record)):
    if key in ("output", "grads", "reg_losses", "initial_values") or (
        key in ignore):
      continue
    assert ours_record.get(key) == ref_record.get(key), (
        key, ours_record.get(key), ref_record.get(key))
  tolerance = TOLERANCES[dtype]

  def close(a, b, what):
    # A gradient sums many products; summed in another order (another
    # layout, another CPU's kernels) it rounds at the scale of the array's
    # largest values, so the absolute tolerance scales with them.
    b = np.asarray(b, np.float64)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(np.asarray(a, np.float64), b, err_msg=what,
                               rtol=tolerance["rtol"],
                               atol=tolerance["atol"] * scale)

  close(ours_record["output"], ref_record["output"], "output")
  for i, (a, b) in enumerate(zip(ours_record.get("grads", []),
                                 ref_record.get("grads", []))):
    close(a, b, "gradient %d" % i)
  close(ours_record["reg_losses"], ref_record["reg_losses"],
        "regularization losses")


def _summary(error):
  """The line of a TF runtime error that says what failed."""
  lines = [line for line in error.message.splitlines()
           if line.strip() and not line.startswith((" ", "\t")) and
           "Graph execution error" not in line and
           not line.startswith("Detected at node")]
  return lines[-1] if lines else error.message


def compare(build, shapes, dtype="float32", channels_first=False, ignore=(),
            **kwargs):
  """Runs `build` with the reference and with ours and asserts they match.

  Channels-first graphs that TF's own kernels cannot run on this machine
  (NCHW on a CPU without oneDNN) are compared forward only when only their
  gradients fail, and skipped when the forward pass fails too.

  Returns:
    Our record.
  """
  gradients = True
  try:
    ref = run(reference(), build, shapes, dtype, **kwargs)
  except KERNEL_ERRORS as error:
    if not channels_first:
      raise
    try:
      ref = run(reference(), build, shapes, dtype, gradients=False, **kwargs)
    except KERNEL_ERRORS as forward_error:
      pytest.skip("TF's own kernels cannot run this channels_first layer on "
                  "this machine: %s" % _summary(forward_error))
    gradients = False
    del error
  mine = run(ours(), build, shapes, dtype, values=ref["initial_values"],
             gradients=gradients, **kwargs)
  assert_match(mine, ref, dtype, ignore)
  return mine
