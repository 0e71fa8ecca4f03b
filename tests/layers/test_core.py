"""Dense, Dropout and Flatten against TF1's own layers.

Values are compared through layer_parity (same TF ops on both sides:
float32 to 1e-5, float64 to 1e-10, float16 to 1e-2). Dropout masks are
compared exactly when both layers get the same op seed; without one, TF
derives the op seed from the graph's op count, so only the statistics of the
mask are checked.
"""

import numpy as np
import pytest
import tensorflow as tf

import layer_parity

DENSE_CASES = [
    ("rank2", {}, (4, 5)),
    ("rank3", {}, (2, 3, 5)),
    ("rank4_relu", {"activation": tf.nn.relu}, (2, 2, 3, 5)),
    ("no_bias_name", {"use_bias": False, "activation": "sigmoid"}, (4, 5)),
    ("regularizers", {
        "kernel_regularizer": lambda w: 0.1 * tf.reduce_sum(tf.square(w)),
        "bias_regularizer": lambda b: tf.reduce_sum(b),
        "activity_regularizer": lambda y: 0.01 * tf.reduce_sum(tf.abs(y))},
     (4, 5)),
    ("constraints_initializers", {
        "kernel_constraint": lambda w: tf.clip_by_norm(w, 0.5),
        "bias_constraint": tf.nn.relu,
        "kernel_initializer": tf.compat.v1.truncated_normal_initializer(
            stddev=0.3, seed=3),
        "bias_initializer": "ones"}, (4, 5)),
    ("non_trainable", {"trainable": False}, (4, 5)),
]


@pytest.mark.parametrize("functional", [False, True],
                         ids=["class", "function"])
@pytest.mark.parametrize("case_id,config,shape", DENSE_CASES,
                         ids=[c[0] for c in DENSE_CASES])
def test_dense_matches_tf1(graph_mode, case_id, config, shape, functional):
  del graph_mode, case_id

  def build(m, x):
    if functional:
      return m.dense(x, 3, name="fc", **config)
    layer = m.Dense(3, **config)
    return layer(x), layer

  layer_parity.compare(build, [shape])


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_dense_dtypes_match_tf1(dtype):
  def build(m, x):
    layer = m.Dense(3)
    return layer(x), layer

  record = layer_parity.compare(build, [(4, 5)], dtype=dtype)
  assert {d for _, _, d in record["variables"]} == {dtype}


def test_dense_unknown_batch_and_inner_dimensions():
  def build(m, x):
    return m.dense(x, 3)

  record = layer_parity.compare(build, [(2, 3, 5)],
                                static_shapes=[(None, None, 5)])
  assert record["output_shape"] == [None, None, 3]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("shape,static", [
    ((4,), None), ((4, 3), None), ((2, 3, 4), None), ((2, 3, 4, 5), None),
    ((2, 3, 4), (None, 3, 4)), ((2, 3, 4), (None, None, 4)),
    ((2, 3, 4), (2, None, 4))],
                         ids=["rank1", "rank2", "rank3", "rank4",
                              "unknown_batch", "unknown_inner", "known_batch"])
def test_flatten_matches_tf1(shape, static, data_format):
  def build(m, x):
    return m.flatten(x, data_format=data_format)

  layer_parity.compare(build, [shape],
                       static_shapes=[static] if static else None)


def _dropout(config, training="true"):
  def build(m, x):
    if training == "tensor":
      flag = tf.compat.v1.placeholder_with_default(True, [], name="flag")
      return m.dropout(x, training=flag, **config)
    layer = m.Dropout(**config)
    return layer(x, training=training == "true"), layer
  return build


@pytest.mark.parametrize("training", ["true", "false", "tensor"])
@pytest.mark.parametrize("config", [
    {"rate": 0.5, "seed": 7},
    {"rate": 0.25, "seed": 3, "noise_shape": [None, 1, 6]},
    {"rate": 0.0},
], ids=["seeded", "noise_shape", "rate0"])
def test_dropout_matches_tf1(config, training):
  record = layer_parity.compare(_dropout(config, training), [(4, 5, 6)])
  output = record["output"]
  if training != "false" and config["rate"] > 0:
    assert (output == 0).any()


def test_dropout_without_seed_keeps_the_expected_fraction():
  x = layer_parity.make_inputs([(200, 100)], "float32")[0]
  record = layer_parity.run(layer_parity.ours(), _dropout({"rate": 0.3}),
                            [x.shape])
  kept = record["output"] != 0
  assert abs(kept.mean() - 0.7) < 0.01
  np.testing.assert_allclose(record["output"][kept], x[kept] / 0.7,
                             rtol=1e-6)


def test_dropout_learning_phase_default():
  """`training=None` reads the graph's learning phase (False unless fed)."""
  m = layer_parity.ours()
  with tf.Graph().as_default():
    x = tf.ones([50, 50])
    y = m.dropout(x, 0.5, training=None)
    phase = [op for op in tf.compat.v1.get_default_graph().get_operations()
             if op.name == "keras_learning_phase"][0].outputs[0]
    with tf.compat.v1.Session() as sess:
      assert (sess.run(y) == 1).all()
      assert (sess.run(y, {phase: True}) == 0).any()


def test_dense_reuse_by_name():
  m = layer_parity.ours()
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 4])
    a = m.dense(x, 3, name="shared")
    b = m.dense(x, 3, name="shared", reuse=True)
    with pytest.raises(ValueError, match="already exists"):
      m.dense(x, 3, name="shared")
    assert [v.name for v in tf.compat.v1.global_variables()] == [
        "shared/kernel:0", "shared/bias:0"]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      a_value, b_value = sess.run([a, b], {x: np.ones((2, 4))})
  np.testing.assert_array_equal(a_value, b_value)
