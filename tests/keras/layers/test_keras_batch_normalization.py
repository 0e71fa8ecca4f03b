"""Differential tests: the Keras-v1 BatchNormalization against TF1's own.

The reference is TF1's Keras-v1 class: tf_keras'
`batch_normalization_v1.BatchNormalization` on TF 2.16+ (where
`tf.compat.v1.keras.layers` is Keras 3's), TF's own
`tf.compat.v1.keras.layers.BatchNormalization` before. Each case builds the
same graph twice, once per class, in both graph modes, and compares what a
user observes: the layer's name, `fused`, weights (names, shapes, dtypes,
order), trainable and non-trainable lists, graph collections, the counts of
updates and losses (`updates`, `get_updates_for`, `get_losses_for`), the
training output and gradients, the moving statistics after three steps run
through `layer.get_updates_for(inputs)`, and the inference output after them.

Tolerances: the composite path runs the same TF ops as the reference
(float rounding only); the fused path runs our op, whose reductions sum in
another order than TF's kernel: ~1e-6 relative on outputs, ~1e-5 on batch
sums (beta/gamma gradients), so float32 is compared at 1e-4. float16 inputs
are compared at their resolution (eps ~1e-3 on values of magnitude ~3).
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat.keras.layers as ours

TF_VERSION = tuple(int(p) for p in tf.__version__.split(".")[:2])
SEED = 4321
STEPS = 3
TOLERANCES = {"float32": dict(rtol=1e-4, atol=1e-4),
              "float16": dict(rtol=2e-2, atol=2e-2)}


def reference_class():
  if TF_VERSION >= (2, 16):
    from tf_keras.src.layers.normalization import batch_normalization_v1  # pylint: disable=g-import-not-at-top
    return batch_normalization_v1.BatchNormalization
  from tf_bn_compat import patch  # pylint: disable=g-import-not-at-top
  assert not patch.is_patched(), "the reference must be TF's own layer"
  return tf.compat.v1.keras.layers.BatchNormalization


def _l2(weight):
  return lambda v: weight * tf.reduce_sum(tf.square(v))


def _clip(v):
  return tf.clip_by_value(v, -0.5, 0.5)


def _adjustment(shape):
  del shape
  return tf.constant([1.5, 0.5, 1.0]), tf.constant([0.1, -0.2, 0.0])


# (id, constructor config, input shape, training mode, dtype)
CASES = [
    ("fused_nhwc", {}, (8, 4, 4, 3), "true", "float32"),
    ("fused_nchw", {"axis": 1}, (6, 3, 4, 4), "placeholder", "float32"),
    ("fused_ncdhw", {"axis": 1}, (4, 2, 3, 3, 3), "true", "float32"),
    ("composite_rank4", {"fused": False, "momentum": 0.7}, (8, 4, 4, 3),
     "true", "float32"),
    ("composite_rank2", {"epsilon": 0.1}, (16, 3), "placeholder", "float32"),
    ("rank3_axis1", {"axis": 1}, (8, 3, 5), "true", "float32"),
    ("axis_list", {"axis": [1, 3]}, (6, 4, 5, 3), "true", "float32"),
    ("no_center_no_scale", {"center": False, "scale": False}, (8, 3, 3, 3),
     "true", "float32"),
    ("renorm", {"renorm": True, "renorm_momentum": 0.8,
                "renorm_clipping": {"rmax": 1.5, "rmin": 0.5, "dmax": 0.3}},
     (8, 3), "placeholder", "float32"),
    ("virtual_batch", {"virtual_batch_size": 2}, (8, 3, 3, 3), "true",
     "float32"),
    ("adjustment", {"adjustment": _adjustment}, (8, 3), "true", "float32"),
    ("regularizers_constraints", {
        "gamma_regularizer": _l2(0.1), "beta_regularizer": _l2(0.2),
        "gamma_constraint": _clip, "beta_constraint": _clip}, (8, 3, 3, 3),
     "true", "float32"),
    ("not_trainable", {"trainable": False}, (8, 3, 3, 3), "true", "float32"),
    ("learning_phase", {}, (8, 3, 3, 3), "none", "float32"),
    ("learning_phase_composite", {"fused": False}, (8, 3), "none",
     "float32"),
    ("float16_fused", {}, (8, 3, 3, 3), "true", "float16"),
    ("float16_composite", {}, (8, 3), "true", "float16"),
]


def _collections(graph):
  keys = sorted(k for k in graph.get_all_collection_keys()
                if k not in ("cond_context", "while_context"))
  return {k: [getattr(e, "name", repr(e)) for e in graph.get_collection(k)]
          for k in keys}


def _names(variables):
  return [(v.name, tuple(v.shape.as_list()), v.dtype.base_dtype.name)
          for v in variables]


def _data(shape, dtype, step):
  rng = np.random.RandomState(SEED + step)
  return (rng.standard_normal(shape) * 1.5 + 0.3).astype(dtype)


def run(cls, config, shape, mode, dtype):
  """Builds a layer of `cls`, trains three steps, returns what it observed."""
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(dtype, shape, name="x")
    feed_train, feed_infer = {}, {}
    if mode == "true":
      training = True
    elif mode == "placeholder":
      training = tf.compat.v1.placeholder(tf.bool, [], name="training")
      feed_train, feed_infer = {training: True}, {training: False}
    else:
      training = None
    with tf.name_scope("outer"):
      layer = cls(**config)
      if training is None:
        y = layer(x)
      else:
        y = layer(x, training=training)
    inference_updates = len(layer.updates)
    y_infer = layer(x, training=False) if mode == "true" else y
    inference_updates = len(layer.updates) - inference_updates
    if mode == "none":
      phase = graph.get_tensor_by_name("keras_learning_phase:0")
      feed_train, feed_infer = {phase: True}, {}
    weights = tf.constant(np.random.RandomState(SEED).standard_normal(
        shape), tf.float32)
    objective = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    losses = layer.losses
    if losses:
      objective += tf.add_n([tf.cast(l, tf.float32) for l in losses])
    grads = tf.gradients(objective, [x] + layer.trainable_weights)
    updates = layer.get_updates_for(x)
    record = {
        "name": layer.name,
        "fused": layer.fused,
        "weights": _names(layer.weights),
        "trainable_weights": _names(layer.trainable_weights),
        "non_trainable_weights": _names(layer.non_trainable_weights),
        "collections": _collections(graph),
        "updates": len(layer.updates),
        "updates_for_inputs": len(updates),
        "updates_for_none": len(layer.get_updates_for(None)),
        "inference_call_updates": inference_updates,
        "losses": len(layer.losses),
        "losses_for_none": len(layer.get_losses_for(None)),
        "losses_for_inputs": len(layer.get_losses_for(x)),
        "output": (y.dtype.name, y.shape.as_list()),
    }
    statistics = [w for w in layer.weights if not w.trainable or
                  "moving" in w.name or "renorm" in w.name]
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      data = _data(shape, dtype, 0)
      values = {"output": sess.run(y, {x: data, **feed_train}),
                "grads": sess.run(grads, {x: data, **feed_train}),
                "losses": sess.run(losses)}
      for step in range(STEPS):
        sess.run(updates, {x: _data(shape, dtype, step), **feed_train})
      values["statistics"] = sess.run(statistics)
      values["inference"] = sess.run(y_infer, {x: data, **feed_infer})
  return record, values


@pytest.mark.parametrize("config,shape,mode,dtype",
                         [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_matches_tf1_keras_v1(graph_mode, config, shape, mode, dtype):
  del graph_mode
  ref_record, ref_values = run(reference_class(), config, shape, mode, dtype)
  our_record, our_values = run(ours.BatchNormalization, config, shape, mode,
                               dtype)
  for key in ref_record:
    assert our_record[key] == ref_record[key], key
  tolerance = TOLERANCES[dtype]
  for key in ("output", "losses", "statistics", "inference"):
    np.testing.assert_allclose(
        np.asarray(our_values[key], np.float64),
        np.asarray(ref_values[key], np.float64), err_msg=key, **tolerance)
  for i, (a, b) in enumerate(zip(our_values["grads"], ref_values["grads"])):
    np.testing.assert_allclose(np.asarray(a, np.float64),
                               np.asarray(b, np.float64),
                               err_msg="gradient %d" % i, **tolerance)


def _naming(cls):
  names = []
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    with tf.name_scope("outer"):
      first = cls()
      first(x, training=True)
    second = cls(name="bn")
    second(x, training=True)
    third = cls()
    third(x, training=True)
    first(x, training=False)  # A second call makes no new variables.
    names += [layer.name for layer in (first, second, third)]
    names += [v.name for v in tf.compat.v1.global_variables()]
  with tf.Graph().as_default():
    names.append(cls().name)  # Names start again in a new graph.
  return names


def test_names_match_tf1_keras_v1(graph_mode):
  del graph_mode
  assert _naming(ours.BatchNormalization) == _naming(reference_class())


BAD_CASES = [
    ("axis_type", {"axis": "3"}, [None, 3]),
    ("axis_out_of_range", {"axis": 4}, [None, 3]),
    ("unknown_rank", {}, None),
    ("unknown_channels", {}, [None, None]),
    ("virtual_batch_axis0", {"virtual_batch_size": 2, "axis": 0}, [4, 3]),
    ("virtual_batch_adjustment", {"virtual_batch_size": 2,
                                  "adjustment": _adjustment}, [4, 3]),
    ("renorm_clipping_key", {"renorm": True, "renorm_clipping": {"x": 1}},
     [None, 3]),
]


def _error(cls, config, shape):
  with tf.Graph().as_default():
    try:
      layer = cls(**config)
      layer(tf.compat.v1.placeholder(tf.float32, shape), training=True)
    except (TypeError, ValueError) as error:
      return type(error)
  return None


@pytest.mark.parametrize("config,shape", [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_errors_match_tf1_keras_v1(config, shape):
  expected = _error(reference_class(), config, shape)
  assert expected is not None
  assert _error(ours.BatchNormalization, config, shape) is expected


def test_no_update_ops_and_learning_phase_default():
  with tf.Graph().as_default() as graph:
    x = tf.compat.v1.placeholder(tf.float32, [None, 2])
    layer = ours.BatchNormalization(momentum=0.5)
    y = layer(x)
    assert not tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    phase = graph.get_tensor_by_name("keras_learning_phase:0")
    data = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      inferred = sess.run(y, {x: data})  # Default: inference.
      np.testing.assert_allclose(inferred, data / np.sqrt(1 + 1e-3),
                                 rtol=1e-5)
      sess.run(layer.updates, {x: data, phase: True})
      np.testing.assert_allclose(sess.run(layer.moving_mean), [1.0, 2.0],
                                 rtol=1e-5)
