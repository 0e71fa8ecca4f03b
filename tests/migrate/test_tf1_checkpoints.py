"""TF1 checkpoints to and from TF2 objects running the same TF1 code.

The graph model (TF1 code in a `tf.Graph`, saved by
`tf.compat.v1.train.Saver`) and the TF2 object (the same code in a decorated
method) must load each other's checkpoints and then give the same outputs.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import migrate

pytestmark = pytest.mark.eager_context  # Eager ops: run after the graph tests.

v1 = tf.compat.v1


def model_fn(x):
  """TF1 code: two scopes, an unnamed one, a non-trainable statistic."""
  with v1.variable_scope("net"):
    h = tf.nn.relu(tf.matmul(x, v1.get_variable("w1", [3, 4])) +
                   v1.get_variable("b1", [4]))
    with v1.variable_scope(None, default_name="out"):
      y = tf.matmul(h, v1.get_variable("w2", [4, 2]))
    shift = v1.get_variable("shift", [2], trainable=False,
                            initializer=v1.random_normal_initializer())
  return y + shift


class Module(tf.Module):

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self, x):
    return model_fn(x)


def make_keras_model():
  keras = pytest.importorskip("keras")
  if not keras.__version__.startswith("3."):
    pytest.skip("Keras 3 only")

  class Layer(keras.layers.Layer):

    @tf_bn_compat.track_tf1_style_variables
    def call(self, x):
      return model_fn(x)

  return Layer()


OWNERS = {"tf_module": Module, "keras_layer": make_keras_model}
X = np.random.RandomState(3).rand(5, 3).astype(np.float32)


def graph_run(restore_from=None, save_to=None):
  """Builds model_fn in a graph; restores or initializes; saves; runs."""
  with tf.Graph().as_default():
    x = v1.placeholder(tf.float32, [None, 3])
    y = model_fn(x)
    saver = v1.train.Saver()
    with v1.Session() as sess:
      if restore_from:
        saver.restore(sess, restore_from)
      else:
        sess.run(v1.global_variables_initializer())
      if save_to:
        saver.save(sess, save_to)
      return sess.run(y, {x: X})


@pytest.mark.parametrize("owner", OWNERS)
def test_graph_checkpoint_restores_into_tf2_object(owner, tmp_path):
  path = str(tmp_path / "graph.ckpt")
  expected = graph_run(save_to=path)
  obj = OWNERS[owner]()
  obj(X)
  migrate.restore_tf1_checkpoint(obj, path)
  np.testing.assert_allclose(obj(X).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("owner", OWNERS)
def test_tf2_object_checkpoint_restores_into_graph(owner, tmp_path):
  obj = OWNERS[owner]()
  expected = obj(X).numpy()
  path = migrate.save_tf1_checkpoint(obj, str(tmp_path / "tf2.ckpt"))
  assert sorted(n for n, _ in tf.train.list_variables(path)) == sorted(
      ["net/w1", "net/b1", "net/out/w2", "net/shift"])
  np.testing.assert_allclose(graph_run(restore_from=path), expected,
                             rtol=1e-6)


def test_directory_and_global_step(tmp_path):
  obj = Module()
  expected = obj(X).numpy()
  path = migrate.save_tf1_checkpoint(obj, str(tmp_path / "m.ckpt"),
                                     global_step=7)
  assert path.endswith("m.ckpt-7")
  assert tf.train.latest_checkpoint(str(tmp_path)) == path  # Saver's state.
  other = Module()
  other(X)
  migrate.restore_tf1_checkpoint(other, str(tmp_path))
  np.testing.assert_allclose(other(X).numpy(), expected, rtol=1e-6)


def test_missing_and_mismatched_variables_are_named(tmp_path):
  path = str(tmp_path / "graph.ckpt")
  graph_run(save_to=path)

  class Wider(tf.Module):

    @tf_bn_compat.track_tf1_style_variables
    def __call__(self, x):
      with v1.variable_scope("net"):
        return tf.matmul(x, v1.get_variable("w1", [3, 5]))

  class Extra(tf.Module):

    @tf_bn_compat.track_tf1_style_variables
    def __call__(self, x):
      return x * v1.get_variable("not_in_graph", [])

  wider, extra = Wider(), Extra()
  wider(X)
  extra(X)
  with pytest.raises(ValueError, match=r"net/w1 as float32 \[3, 4\]"):
    migrate.restore_tf1_checkpoint(wider, path)
  with pytest.raises(ValueError, match="lacks the variable.*not_in_graph"):
    migrate.restore_tf1_checkpoint(extra, path)


def test_an_object_not_called_yet_is_refused(tmp_path):
  with pytest.raises(ValueError, match="Call it once"):
    migrate.save_tf1_checkpoint(Module(), str(tmp_path / "m.ckpt"))


def test_refused_inside_tf_function(tmp_path):
  obj = Module()
  obj(X)

  @tf.function
  def save():
    migrate.save_tf1_checkpoint(obj, str(tmp_path / "m.ckpt"))

  with pytest.raises(RuntimeError, match="eagerly"):
    save()


def test_one_name_in_two_objects_is_refused():

  class Pair(tf.Module):

    def __init__(self):
      super().__init__()
      self.a, self.b = Module(), Module()

  pair = Pair()
  pair.a(X)
  pair.b(X)
  with pytest.raises(ValueError, match="Two objects hold"):
    migrate.tf1_style_variables(pair)
