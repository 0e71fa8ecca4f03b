"""Runs a layer object eagerly or inside `tf.function`, records all it shows.

`run` makes a layer, calls it once in inference to build it (its variables
are created on that first call, in a `tf.function` on the first trace),
loads given initial values (the reference's, matched by name inside the
layer's scope), then calls it `steps` times in training. The first training
call runs under a `tf.GradientTape`: the gradients of the scalar
`sum(output * w) + sum(losses)` (w fixed) with
respect to the input and every trainable variable are recorded with the
output, the losses, the variable names/shapes/dtypes, the weight lists and
the variables' values after the steps (the moving statistics of a batch
norm). `assert_match` compares two records; `graph_record` runs our layer
in a TF1 graph on the same data and initial values, for comparing eager
numbers with graph-mode ones.

Tests that run eager ops are marked `eager_context` (see conftest.py): once
eager ops have run, a process cannot turn TF2 behaviour back on after
`disable_v2_behavior()`, so they run after all others.
"""

import numpy as np
import tensorflow as tf

MODES = ("eager", "function")
SEED = 1234  # As tests/layers/layer_parity.py.


def make_inputs(shape, dtype):
  rng = np.random.RandomState(SEED)
  return (rng.standard_normal(shape) * 1.5 + 0.3).astype(dtype)


def local_name(name):
  """`dense_3/kernel:0` -> `kernel:0`: a variable's name inside its layer."""
  return name.split("/", 1)[-1]


def _training(kind):
  if kind == "py":
    return True
  if kind == "tensor":
    return tf.constant(True)
  raise ValueError(kind)


def _objective_weights(shape):
  return tf.constant(np.random.RandomState(SEED + 1)
                     .standard_normal([d or 1 for d in shape]), tf.float32)


def _numpy(values):
  return [None if v is None else np.asarray(v) for v in values]


def run(make_layer, shape, mode, dtype="float32", training=None, values=None,
        steps=1, call_kwargs=None):
  """Makes `make_layer()`, calls it in `mode`, returns the record.

  Args:
    make_layer: Zero-argument function returning an unbuilt layer.
    shape: Input shape.
    mode: "eager" or "function".
    dtype: Input dtype name.
    training: None (the layer takes no `training`), False (inference
      calls), "py" (training=True) or "tensor" (training=tf.constant(True)).
    values: Dict local variable name -> initial value to load.
    steps: Number of training calls (the first one under the tape).
    call_kwargs: Other keyword arguments of every call.

  Returns:
    Dict of numpy values and metadata.
  """
  layer = make_layer()
  x = tf.constant(make_inputs(shape, dtype))
  kwargs = dict(call_kwargs or {})

  def step(inputs, **step_kwargs):
    outputs = layer(inputs, **step_kwargs)
    return outputs, list(layer.losses)

  if mode == "function":
    step = tf.function(step)
  elif mode != "eager":
    raise ValueError(mode)
  if training is None:
    build_kwargs, train_kwargs = kwargs, kwargs
  else:
    build_kwargs = dict(kwargs, training=False)
    train_kwargs = dict(kwargs, training=(
        False if training is False else _training(training)))
  step(x, **build_kwargs)
  built_variables = len(layer.variables)
  for variable in layer.variables:
    if values is not None and local_name(variable.name) in values:
      variable.assign(values[local_name(variable.name)])
  record = {
      "initial_values": {local_name(v.name): v.numpy()
                         for v in layer.variables},
      "variables": [(local_name(v.name), tuple(v.shape.as_list()),
                     v.dtype.base_dtype.name) for v in layer.variables],
      "scopes": sorted({v.name.split("/", 1)[0] for v in layer.variables}),
      "trainable": [local_name(v.name) for v in layer.trainable_variables],
      "non_trainable": [local_name(v.name)
                        for v in layer.non_trainable_variables],
      "weights": [local_name(v.name) for v in layer.weights],
  }
  with tf.GradientTape() as tape:
    tape.watch(x)
    output, losses = step(x, **train_kwargs)
    objective = tf.reduce_sum(tf.cast(output, tf.float32) *
                              _objective_weights(output.shape))
    if losses:
      objective += tf.add_n([tf.cast(l, tf.float32) for l in losses])
  grads = tape.gradient(objective, [x] + list(layer.trainable_variables))
  for _ in range(steps - 1):
    step(x, **train_kwargs)
  record.update({
      "output": output.numpy(),
      "output_dtype": output.dtype.name,
      "output_shape": output.shape.as_list(),
      "grads": _numpy(grads),
      "losses": [float(l) for l in losses],
      "num_losses": len(losses),
      "updates": len(layer.updates),
      "variables_after_build": built_variables,
      "variables_after_steps": len(layer.variables),
      "final_values": {local_name(v.name): v.numpy()
                       for v in layer.variables},
  })
  return record, layer


def _close(a, b, what, tolerance):
  np.testing.assert_allclose(np.asarray(a, np.float64),
                             np.asarray(b, np.float64), err_msg=what,
                             **tolerance)


METADATA = ("variables", "trainable", "non_trainable", "weights",
            "output_dtype", "output_shape", "num_losses", "updates",
            "variables_after_build", "variables_after_steps")


def assert_match(mine, ref, tolerance):
  """Asserts two `run` records agree: metadata exactly, values closely."""
  for key in METADATA:
    assert mine[key] == ref[key], (key, mine[key], ref[key])
  _close(mine["output"], ref["output"], "output", tolerance)
  assert len(mine["grads"]) == len(ref["grads"])
  for i, (a, b) in enumerate(zip(mine["grads"], ref["grads"])):
    assert (a is None) == (b is None), ("gradient %d" % i, a, b)
    if a is not None:
      _close(a, b, "gradient %d" % i, tolerance)
  _close(mine["losses"], ref["losses"], "losses", tolerance)
  assert sorted(mine["final_values"]) == sorted(ref["final_values"])
  for name, value in ref["final_values"].items():
    _close(mine["final_values"][name], value, "%s after the steps" % name,
           tolerance)


def graph_record(make_layer, shape, dtype, values, mode, training=None,
                 call_kwargs=None):
  """Our layer in a TF1 graph on the data and initial values `run` used.

  `training` is the graph's equivalent of what `run` passed in `mode`: a
  Python bool, or an eager tensor (its value known), as a Python bool; a
  tensor inside a `tf.function` (value unknown while tracing) as a
  `placeholder_with_default(True)`.

  Returns:
    Dict with the output, the gradients of the objective of `run` (input
    first, then the layer's trainable variables), the layer's losses and
    its variables' local names.
  """
  kwargs = dict(call_kwargs or {})
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(dtype, shape)
    if training is not None:
      if training == "tensor" and mode == "function":
        kwargs["training"] = tf.compat.v1.placeholder_with_default(True, [])
      else:
        kwargs["training"] = training is not False
    layer = make_layer()
    output = layer(x, **kwargs)
    losses = layer.losses
    objective = tf.reduce_sum(tf.cast(output, tf.float32) *
                              _objective_weights(output.shape))
    if losses:
      objective += tf.add_n([tf.cast(l, tf.float32) for l in losses])
    grads = tf.gradients(objective, [x] + list(layer.trainable_variables))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for variable in layer.variables:
        variable.load(values[local_name(variable.name)], sess)
      result = sess.run({"output": output, "grads": grads, "losses": losses},
                        {x: make_inputs(shape, dtype)})
    result["variables"] = [local_name(v.name) for v in layer.variables]
  return result


def assert_graph_match(mine, graph, tolerance):
  """Eager (or tf.function) numbers of our layer equal its graph numbers."""
  _close(mine["output"], graph["output"], "output vs graph", tolerance)
  assert len(mine["grads"]) == len(graph["grads"])
  for i, (a, b) in enumerate(zip(mine["grads"], graph["grads"])):
    assert (a is None) == (b is None), ("gradient %d vs graph" % i, a, b)
    if a is not None:
      _close(a, b, "gradient %d vs graph" % i, tolerance)
  _close(mine["losses"], graph["losses"], "losses vs graph", tolerance)
  assert graph["variables"] == [n for n, _, _ in mine["variables"]]
