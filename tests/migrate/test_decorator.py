"""`track_tf1_style_variables` on a `tf.Module`: TF1 variable code in TF2.

The semantics are checked against TF1's own `get_variable` in a graph where
TF1 defines them (names, reuse errors, initializers), and eagerly and under
`tf.function` against what the decorator promises: variables made on the
first call, the same objects by name afterwards, tracked by the module.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import migrate

pytestmark = pytest.mark.eager_context  # Eager ops: run after the graph tests.

v1 = tf.compat.v1


def two_blocks(x):
  """TF1 code: named and unnamed scopes, a regularizer, a counter."""
  with v1.variable_scope("block"):
    w = v1.get_variable("w", [3, 2],
                        regularizer=lambda v: 0.5 * tf.reduce_sum(v * v))
    with v1.variable_scope(None, default_name="sub"):
      b = v1.get_variable("b", [2], initializer=v1.zeros_initializer())
    count = v1.get_variable("count", [], trainable=False,
                            initializer=v1.zeros_initializer())
    count.assign_add(1.0)
  with v1.variable_scope(None, default_name="head"):
    u = v1.get_variable("u", [2, 1])
  return tf.matmul(tf.matmul(x, w) + b, u)


EXPECTED_NAMES = ["block/w", "block/sub/b", "block/count", "head/u"]


class TwoBlocks(tf.Module):

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self, x):
    return two_blocks(x)


def graph_names(fn):
  """The variables TF1's own get_variable makes for `fn` in a graph."""
  with tf.Graph().as_default():
    fn(v1.placeholder(tf.float32, [None, 3]))
    return [v.op.name for v in v1.global_variables()]


@pytest.fixture(autouse=True)
def _eager():
  assert tf.executing_eagerly(), "these tests run eagerly"


def inputs(batch=4):
  return tf.constant(np.random.RandomState(0).rand(batch, 3), tf.float32)


@pytest.mark.parametrize("mode", ["eager", "tf_function"])
def test_variables_made_once_and_reused_by_name(mode):
  module = TwoBlocks()
  call = tf.function(module) if mode == "tf_function" else module
  first = call(inputs())
  variables = migrate.tf1_style_variables(module)
  second = call(inputs())
  call(inputs(batch=7))  # A retrace under tf.function.
  assert list(migrate.tf1_style_variables(module)) == EXPECTED_NAMES
  assert all(a is b for a, b in zip(
      variables.values(), migrate.tf1_style_variables(module).values()))
  np.testing.assert_allclose(first.numpy(), second.numpy())
  assert variables["block/count"].numpy() == 3.0  # Updated in place.


def test_names_are_tf1s_and_numbering_outside_is_kept():
  assert graph_names(two_blocks) == EXPECTED_NAMES
  module = TwoBlocks()
  with v1.variable_scope(None, default_name="head") as before:
    pass
  module(inputs())
  module(inputs())
  with v1.variable_scope(None, default_name="head") as after:
    pass
  assert sorted(v.name for v in module.variables) == sorted(
      n + ":0" for n in EXPECTED_NAMES)
  assert [v.name for v in module.trainable_variables] == sorted(
      ["block/sub/b:0", "block/w:0", "head/u:0"])
  # The calls' scopes are numbered on their own; the numbering outside
  # goes on as if they had not run.
  assert (before.name, after.name) == ("head", "head_1")


def test_nested_decorated_modules_name_under_the_callers_scope():

  class Inner(tf.Module):

    @tf_bn_compat.track_tf1_style_variables
    def __call__(self, x):
      return x * v1.get_variable("scale", [], initializer=v1.ones_initializer())

  class Outer(tf.Module):

    def __init__(self):
      super().__init__()
      self.inner = Inner()

    @tf_bn_compat.track_tf1_style_variables
    def __call__(self, x):
      with v1.variable_scope("outer"):
        return self.inner(x) + v1.get_variable("bias", [])

  outer = Outer()
  outer(inputs())
  outer(inputs())
  assert list(migrate.tf1_style_variables(outer.inner)) == ["outer/scale"]
  assert list(migrate.tf1_style_variables(outer)) == ["outer/bias",
                                                      "outer/scale"]
  assert len(outer.variables) == 2


def tf1_error(fn):
  """The message of the ValueError TF1's get_variable raises for `fn`."""
  with tf.Graph().as_default():
    with pytest.raises(ValueError) as error:
      fn()
  return str(error.value)


def reuse_false_twice():
  with v1.variable_scope("a"):
    v1.get_variable("w", [1])
  with v1.variable_scope("a", reuse=False):
    v1.get_variable("w", [1])


def reuse_true_unknown():
  with v1.variable_scope("a", reuse=True):
    v1.get_variable("w", [1])


def shape_conflict():
  with v1.variable_scope("a"):
    v1.get_variable("w", [1])
  with v1.variable_scope("a", reuse=True):
    v1.get_variable("w", [2])


def dtype_conflict():
  with v1.variable_scope("a"):
    v1.get_variable("w", [1])
  with v1.variable_scope("a", reuse=True):
    v1.get_variable("w", [1], dtype=tf.float64)


def constant_with_shape():
  v1.get_variable("w", [2], initializer=tf.constant([1.0, 2.0]))


class Runs(tf.Module):

  def __init__(self, fn):
    super().__init__()
    self.fn = fn

  @tf_bn_compat.track_tf1_style_variables
  def __call__(self):
    self.fn()
    return tf.constant(0.0)


def first_line(message):
  return message.split("Originally defined at")[0].strip().splitlines()[0]


def assert_raised_with(error, expected):
  # tf.function puts "in user code:" and a trace before the message.
  assert expected in str(error.value), (expected, str(error.value))


@pytest.mark.parametrize("fn", [reuse_true_unknown, shape_conflict, dtype_conflict,
                                constant_with_shape],
                         ids=lambda f: f.__name__)
def test_errors_are_tf1s_under_tf_function(fn):
  expected = first_line(tf1_error(fn))
  with pytest.raises(ValueError) as error:
    tf.function(Runs(fn))()
  assert_raised_with(error, expected)


@pytest.mark.parametrize("fn", [shape_conflict, dtype_conflict,
                                constant_with_shape],
                         ids=lambda f: f.__name__)
def test_errors_are_tf1s_eagerly(fn):
  # Eagerly TF reports no `reuse`, so only the reuse error is not raised.
  expected = first_line(tf1_error(fn))
  with pytest.raises(ValueError) as error:
    Runs(fn)()
  assert_raised_with(error, expected)


@pytest.mark.parametrize("mode", ["eager", "tf_function"])
def test_scopes_reuse_or_create_as_tf2_runs_them(mode):
  # TF2 runs variable scopes as AUTO_REUSE: `reuse=False` on a known name
  # reuses it (TF1 graphs raised).
  module = Runs(reuse_false_twice)
  (tf.function(module) if mode == "tf_function" else module)()
  assert list(migrate.tf1_style_variables(module)) == ["a/w"]


def test_partitioner_is_refused():

  def partitioned():
    with v1.variable_scope(
        "p", partitioner=v1.fixed_size_partitioner(2)):
      v1.get_variable("w", [4, 2])

  with pytest.raises(ValueError, match="partitioned variables"):
    Runs(partitioned)()


def test_initializers_as_tf1():

  def variables():
    with v1.variable_scope("init", initializer=v1.constant_initializer(3.0)):
      scoped = v1.get_variable("scoped", [2])
    default = v1.get_variable("default", [50, 40])
    counter = v1.get_variable("counter", [2], dtype=tf.int64)
    constant = v1.get_variable("constant", initializer=tf.constant([1., 2.]))
    by_class = v1.get_variable("by_class", [2],
                               initializer=v1.ones_initializer)
    return scoped, default, counter, constant, by_class

  module = Runs(variables)
  module()
  got = {k: v.numpy() for k, v in migrate.tf1_style_variables(module).items()}
  np.testing.assert_array_equal(got["init/scoped"], [3.0, 3.0])
  limit = np.sqrt(6.0 / (50 + 40))  # Glorot uniform, TF1's default.
  assert np.abs(got["default"]).max() <= limit
  assert got["default"].std() > limit / 4  # Random, not constant.
  assert got["counter"].dtype == np.int64 and not got["counter"].any()
  np.testing.assert_array_equal(got["constant"], [1.0, 2.0])
  np.testing.assert_array_equal(got["by_class"], [1.0, 1.0])


def test_trainable_and_on_read_are_not_trainable():

  def variables():
    v1.get_variable("frozen", [1], trainable=False)
    v1.get_variable("stat", [1],
                    synchronization=tf.VariableSynchronization.ON_READ)
    v1.get_variable("weight", [1])

  module = Runs(variables)
  module()
  assert [v.name for v in module.trainable_variables] == ["weight:0"]


def test_regularization_losses_follow_the_variables():
  module = TwoBlocks()
  module(inputs())
  w = migrate.tf1_style_variables(module)["block/w"]
  (loss,) = migrate.regularization_losses(module)
  np.testing.assert_allclose(loss.numpy(),
                             0.5 * np.sum(w.numpy() ** 2), rtol=1e-6)
  w.assign(tf.ones_like(w))
  (loss,) = migrate.regularization_losses(module)
  np.testing.assert_allclose(loss.numpy(), 3.0)


def test_scope_regularizer_applies():

  def variables():
    with v1.variable_scope("r", regularizer=tf.reduce_sum):
      v1.get_variable("w", [2], initializer=v1.ones_initializer())

  module = Runs(variables)
  module()
  (loss,) = migrate.regularization_losses(module)
  assert loss.numpy() == 2.0


def test_gradients_reach_the_variables():
  module = TwoBlocks()
  module(inputs())
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(module(inputs()))
    loss += tf.add_n(migrate.regularization_losses(module))
  grads = tape.gradient(loss, module.trainable_variables)
  assert all(g is not None for g in grads)


def test_tf_train_checkpoint_round_trip(tmp_path):
  module = TwoBlocks()
  expected = module(inputs())
  path = tf.train.Checkpoint(model=module).save(str(tmp_path / "ckpt"))
  fresh = TwoBlocks()
  fresh(inputs())
  tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
  # `count` was restored to 1 and the call adds 1 again.
  np.testing.assert_allclose(fresh(inputs()).numpy(), expected.numpy())
  assert migrate.tf1_style_variables(fresh)["block/count"].numpy() == 2.0


def test_other_objects_are_refused():

  class Plain(object):

    @tf_bn_compat.track_tf1_style_variables
    def __call__(self):
      return v1.get_variable("w", [1])

  with pytest.raises(TypeError, match="tf.Module or of a Keras 3"):
    Plain()()
  with pytest.raises(TypeError, match="decorates a method"):
    tf_bn_compat.track_tf1_style_variables(3)
