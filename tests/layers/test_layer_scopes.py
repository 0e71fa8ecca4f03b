"""Variable names, scopes, reuse and collections, against TF1's layer."""

import numpy as np
import pytest
import tensorflow as tf

import parity


def _build(module, builder):
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 4, 4, 3], name="x")
    builder(module, x)
    return {
        "global": [v.name for v in tf.compat.v1.global_variables()],
        "trainable": [v.name for v in tf.compat.v1.trainable_variables()],
        "updates": len(tf.compat.v1.get_collection(
            tf.compat.v1.GraphKeys.UPDATE_OPS)),
        "moving_average": [v.name for v in tf.compat.v1.get_collection(
            tf.compat.v1.GraphKeys.MOVING_AVERAGE_VARIABLES)],
    }


def _numbered_layers(m, x):
  for _ in range(3):
    m.BatchNormalization()(x, training=True)
  m.batch_normalization(x, training=True)


def _nested_scopes(m, x):
  with tf.compat.v1.variable_scope("outer"):
    with tf.compat.v1.variable_scope("inner"):
      m.batch_normalization(x, training=True)
    m.BatchNormalization()(x, training=True)
  with tf.compat.v1.variable_scope("outer", reuse=True):
    m.batch_normalization(x, training=True, name="batch_normalization")


def _reuse_by_name(m, x):
  m.batch_normalization(x, training=True, name="bn")
  m.batch_normalization(x, training=False, name="bn", reuse=True)
  with tf.compat.v1.variable_scope("shared", reuse=tf.compat.v1.AUTO_REUSE):
    m.batch_normalization(x, training=True, name="q")
    m.batch_normalization(x, training=True, name="q")


def _layer_called_twice(m, x):
  layer = m.BatchNormalization(name="twice")
  layer(x, training=True)
  layer(x * 2.0, training=True)


def _custom_getter(m, x):
  def renaming_getter(getter, name, *args, **kwargs):
    scope, _, leaf = name.rpartition("/")
    return getter(scope + "/wrapped_" + leaf, *args, **kwargs)
  with tf.compat.v1.variable_scope("cg", custom_getter=renaming_getter):
    m.BatchNormalization()(x, training=True)


def _renorm_and_axis_list(m, x):
  m.BatchNormalization(renorm=True)(x, training=True)
  m.BatchNormalization(axis=[1, 3])(x, training=True)


def _scope_argument(m, x):
  layer = m.BatchNormalization()
  layer(x, training=True, scope="given_scope")


BUILDERS = {
    "numbered_layers": _numbered_layers,
    "nested_scopes": _nested_scopes,
    "reuse_by_name": _reuse_by_name,
    "layer_called_twice": _layer_called_twice,
    "custom_getter": _custom_getter,
    "renorm_and_axis_list": _renorm_and_axis_list,
    "scope_argument": _scope_argument,
}


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_variable_names_and_collections_match(graph_mode, builder):
  del graph_mode
  ours = _build(parity.ours_module(), BUILDERS[builder])
  ref = _build(parity.reference_module(), BUILDERS[builder])
  assert ours == ref
  assert ours["global"]  # The builder made variables at all.


def test_numbering_is_per_graph_and_matches_checkpoint_names():
  names = _build(parity.ours_module(), _numbered_layers)["global"]
  prefixes = sorted({n.split("/")[0] for n in names})
  assert prefixes == ["batch_normalization", "batch_normalization_1",
                      "batch_normalization_2", "batch_normalization_3"]
  # A new graph starts numbering again.
  again = _build(parity.ours_module(), _numbered_layers)["global"]
  assert again == names


def test_duplicate_name_without_reuse_raises(graph_mode):
  del graph_mode
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    parity.ours_module().batch_normalization(x, name="dup")
    with pytest.raises(ValueError, match="already exists"):
      parity.ours_module().batch_normalization(x, name="dup")


def test_reuse_of_missing_variables_raises():
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    with pytest.raises(ValueError, match="does not exist"):
      parity.ours_module().batch_normalization(x, name="nope", reuse=True)


def test_layer_properties():
  layers = parity.ours_module()
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 4, 4, 3])
    layer = layers.BatchNormalization(renorm=True, name="props")
    with pytest.raises(ValueError, match="scope"):
      _ = layer.scope_name
    layer.apply(x, training=True)
    assert layer.name == "props"
    assert layer.scope_name == "props"
    assert layer.graph is None
    assert layer.gamma.name == "props/gamma:0"
    assert layer.beta.name == "props/beta:0"
    assert layer.moving_mean.name == "props/moving_mean:0"
    assert layer.moving_variance.name == "props/moving_variance:0"
    assert layer.trainable_variables == [layer.gamma, layer.beta]
    assert layer.trainable_weights == layer.trainable_variables
    assert [v.name for v in layer.non_trainable_variables] == [
        "props/moving_mean:0", "props/moving_variance:0",
        "props/moving_stddev:0", "props/renorm_mean:0",
        "props/renorm_stddev:0"]
    assert layer.variables == layer.weights
    assert len(layer.updates) == 2
    assert layer.get_updates_for(x) == layer.updates
    assert layer.get_updates_for(None) == []
    layer.trainable = False
    assert layer.trainable_weights == []
    assert layer.updates == []


def test_constraints_are_applied_by_v1_optimizers():
  layers = parity.ours_module()
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    layer = layers.BatchNormalization(
        gamma_constraint=lambda v: tf.clip_by_value(v, 0.0, 0.5),
        beta_constraint=lambda v: tf.clip_by_value(v, -0.01, 0.01))
    y = layer(x, training=True)
    loss = tf.reduce_sum(y * tf.constant([1.0, -2.0, 3.0]))
    train = tf.compat.v1.train.GradientDescentOptimizer(1.0).minimize(loss)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(train, {x: np.random.RandomState(0).randn(8, 3)})
      gamma, beta = sess.run([layer.gamma, layer.beta])
  assert np.all(gamma >= 0.0) and np.all(gamma <= 0.5)
  assert np.all(np.abs(beta) <= 0.01 + 1e-7)
  assert np.any(gamma != 1.0)


def test_regularization_losses_are_unconditional():
  layers = parity.ours_module()
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3])
    layer = layers.BatchNormalization(
        gamma_regularizer=lambda v: 2.0 * tf.reduce_sum(v))
    layer(x, training=True)
    layer(x, training=False)  # A second call adds no second loss.
    collection = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    assert layer.get_losses_for(None) == collection == layer.losses
    assert layer.get_losses_for(x) == []
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      assert sess.run(collection) == [6.0]


def test_get_config_round_trip():
  layers = parity.ours_module()
  with tf.Graph().as_default():
    layer = layers.BatchNormalization(
        axis=1, momentum=0.9, epsilon=1e-4, renorm=True,
        renorm_clipping={"rmax": 2.0}, virtual_batch_size=4,
        gamma_initializer=tf.compat.v1.constant_initializer(0.5),
        name="cfg")
    config = layer.get_config()
    assert config["gamma_initializer"]["class_name"] == "Constant"
    clone = layers.BatchNormalization.from_config(config)
    assert clone.get_config() == config
    x = tf.compat.v1.placeholder(tf.float32, [8, 3, 2])
    clone(x, training=True)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      assert np.all(sess.run(clone.gamma) == 0.5)
    # After the build the axis is reported as TF1 does: a non-negative list.
    assert clone.get_config()["axis"] == [1]
