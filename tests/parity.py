"""Builds the same graph with our layer and with TF1's, runs it, collects all.

`run_layer` returns everything a user can observe of a batch normalization
layer in a TF1 graph: outputs in training and inference, gradients, moving
statistics after several updates, variables (names, shapes, dtypes),
collections and regularization losses. Tests compare two such records.

`reference_module` and `ours_module` are the two sets of layers every parity
test compares (tests/layers/layer_parity.py's harness too).
"""

import types

import numpy as np
import tensorflow as tf

STEPS = 3
SEED = 1234
TF_VERSION = tuple(int(p) for p in tf.__version__.split(".")[:2])


def reference_module():
  """TF1's own layers: a namespace with the public names and aliases.

  TF 2.16+ (Keras 3) removed them from `tf.compat.v1.layers`: the reference
  is then tf_keras' legacy layers. Before 2.16 it is `tf.compat.v1.layers`
  itself (Keras 2 behind it), so no tf_keras is needed there.
  """
  if TF_VERSION >= (2, 16):
    from tf_keras.src.engine import input_spec  # pylint: disable=g-import-not-at-top
    from tf_keras.src.legacy_tf_layers import base, convolutional, core, normalization, pooling  # pylint: disable=g-import-not-at-top,g-multiple-import
    public = {}
    for module in (core, convolutional, pooling, normalization):
      public.update({k: v for k, v in vars(module).items()
                     if not k.startswith("_")})
    public.update(Layer=base.Layer, InputSpec=input_spec.InputSpec,
                  experimental=types.SimpleNamespace(
                      keras_style_scope=base.keras_style_scope,
                      set_keras_style=base.set_keras_style))
    return types.SimpleNamespace(**public)
  from tf_bn_compat import patch  # pylint: disable=g-import-not-at-top
  assert not patch.is_patched(), "the reference must be TF's own layers"
  return tf.compat.v1.layers


def ours_module():
  from tf_bn_compat import layers  # pylint: disable=g-import-not-at-top
  return layers


def names(items):
  """The names of graph items (tensors, variables, ops), else their repr."""
  return [getattr(item, "name", repr(item)) for item in items]


def collection_names(graph):
  """{collection key: names of its items} of a graph (no control flow)."""
  keys = sorted(k for k in graph.get_all_collection_keys()
                if k not in ("cond_context", "while_context"))
  return {k: names(graph.get_collection(k)) for k in keys}


def make_batches(shape, dtype, steps=STEPS, offset=1.5, spread=2.0):
  """Deterministic batches with nonzero mean and non-unit variance."""
  rng = np.random.RandomState(SEED)
  return [(rng.standard_normal(shape) * spread + offset).astype(dtype)
          for _ in range(steps + 1)]


def run_layer(module, config, input_shape, dtype="float32", training="bool",
              functional=False, static_shape=None, steps=STEPS):
  """Runs `steps` training steps and one inference step of a layer.

  Args:
    module: `tf_bn_compat.layers` or the reference module.
    config: Constructor keyword arguments.
    input_shape: Shape of the data fed.
    dtype: Input dtype name.
    training: "bool" (Python True then False, two graphs' worth of calls on
      one layer), "tensor" (a bool placeholder), "int" (1 then 0), "none"
      (the learning phase, fed), or "constant" (tf.constant True/False).
    functional: Use `batch_normalization(...)` instead of the class.
    static_shape: Placeholder shape (None entries for unknown dims);
      defaults to `input_shape`.
    steps: Number of training steps.

  Returns:
    Dict of numpy results and graph metadata.
  """
  batches = make_batches(input_shape, np.float64, steps)
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(SEED)
    x = tf.compat.v1.placeholder(
        dtype, static_shape if static_shape is not None else input_shape,
        name="x")
    if training == "tensor":
      train_flag = tf.compat.v1.placeholder(tf.bool, [], name="training")
      train_arg, infer_arg = train_flag, train_flag
    elif training == "int":
      train_arg, infer_arg = 1, 0
    elif training == "none":
      train_arg = infer_arg = None
    elif training == "constant":
      train_arg, infer_arg = tf.constant(True), tf.constant(False)
    else:
      train_arg, infer_arg = True, False

    # A tensor flag serves both phases with one call: two calls would give
    # two racing update pairs on the same variables.
    single_call = training in ("tensor", "none")
    if functional:
      name = config.pop("name", "bn")
      y_train = module.batch_normalization(
          x, training=train_arg, name=name, **config)
      y_infer = y_train if single_call else module.batch_normalization(
          x, training=infer_arg, name=name, reuse=True, **config)
      layer = None
    else:
      layer = module.BatchNormalization(**config)
      y_train = layer(x, training=train_arg)
      y_infer = y_train if single_call else layer(x, training=infer_arg)
    weights = tf.constant(
        np.random.RandomState(SEED + 1).standard_normal(input_shape),
        dtype=tf.float32)
    loss = tf.reduce_sum(tf.cast(y_train, tf.float32) * weights)
    trainable = tf.compat.v1.trainable_variables()
    grads = tf.gradients(loss, [x] + trainable)
    update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    reg_losses = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    variables = tf.compat.v1.global_variables()
    phase = None
    if training == "none":
      phase = [op for op in graph.get_operations()
               if op.name == "keras_learning_phase"][0].outputs[0]
    record = {
        "variables": [(v.name, tuple(v.shape.as_list()),
                       v.dtype.base_dtype.name) for v in variables],
        "collections": collection_names(graph),
        "output_dtype": y_train.dtype.name,
        "output_shape": y_train.shape.as_list(),
        "num_updates": len(update_ops),
    }
    if layer is not None:
      record["updates_for_inputs"] = len(layer.get_updates_for(x))
      record["updates_for_none"] = len(layer.get_updates_for(None))
      record["losses_for_none"] = len(layer.get_losses_for(None))
      record["losses_for_inputs"] = len(layer.get_losses_for(x))
      record["layer_weights"] = names(layer.weights)
      record["layer_trainable"] = names(layer.trainable_weights)
      record["layer_non_trainable"] = names(layer.non_trainable_weights)
      record["fused"] = bool(layer.fused)
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      train_outputs, grad_values = [], []
      for batch in batches[:steps]:
        feed = {x: batch.astype(dtype)}
        if training == "tensor":
          feed[train_flag] = True
        if phase is not None:
          feed[phase] = True
        out, grad, _ = sess.run([y_train, grads, update_ops], feed)
        train_outputs.append(out)
        grad_values.append(grad)
      feed = {x: batches[steps].astype(dtype)}
      if training == "tensor":
        feed[train_flag] = False
      if phase is not None:
        feed[phase] = False
      record["inference_output"] = sess.run(y_infer, feed)
      record["train_outputs"] = train_outputs
      record["grads"] = grad_values
      record["variable_values"] = {v.name: sess.run(v) for v in variables}
      record["reg_losses"] = sess.run(reg_losses)
  return record


def assert_records_match(ours, ref, rtol, atol):
  """Asserts two `run_layer` records agree (metadata exactly, values close)."""
  for key in ("variables", "collections", "output_dtype", "output_shape",
              "num_updates", "updates_for_inputs", "updates_for_none",
              "losses_for_none", "losses_for_inputs", "layer_weights",
              "layer_trainable", "layer_non_trainable", "fused"):
    assert ours.get(key) == ref.get(key), (key, ours.get(key), ref.get(key))

  def close(a, b, what):
    np.testing.assert_allclose(
        np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol,
        atol=atol, err_msg=what)

  for step, (a, b) in enumerate(zip(ours["train_outputs"],
                                    ref["train_outputs"])):
    close(a, b, "training output, step %d" % step)
  for step, (ga, gb) in enumerate(zip(ours["grads"], ref["grads"])):
    for i, (a, b) in enumerate(zip(ga, gb)):
      close(a, b, "gradient %d, step %d" % (i, step))
  close(ours["inference_output"], ref["inference_output"], "inference output")
  for name, value in ref["variable_values"].items():
    close(ours["variable_values"][name], value, "variable " + name)
  close(ours["reg_losses"], ref["reg_losses"], "regularization losses")
