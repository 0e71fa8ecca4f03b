"""The migration guide's pattern: the TF1 ResNet, unchanged, in a TF2 object.

`tf_bn_compat/examples/resnet_migration.py` runs `resnet_tf1.resnet` (TF1
layers, variable scopes, a float16 custom getter, fused batch norm) in a
Keras 3 layer (or a `tf.Module`) through `track_tf1_style_variables`. Both
start from one checkpoint and train on the same batches as the TF1 graph
(`resnet_tf1.train`, momentum SGD with a static loss scale); the losses, the
variables (moving statistics included) and the checkpoints must agree.

Tolerances: the same kernels run in both (our fused op, TF's convolutions),
in float16; TF's graph optimizer may reorder sums. Measured differences are
6e-8 for the variables after 3 steps; losses are compared at 1e-4 relative
and variables at 1e-4 absolute. Logits of one checkpoint in the graph and
eagerly differ by float16 rounding: 4e-3 absolute (2 ulp below 4).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import tf_bn_compat
from tf_bn_compat import migrate
from tf_bn_compat.examples import resnet_migration
from tf_bn_compat.examples import resnet_tf1

pytestmark = pytest.mark.eager_context  # Eager ops: run after the graph tests.

STEPS, BATCH = 3, 16
LOGITS_ATOL = 4e-3


def has_keras3():
  try:
    import keras  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  return keras.__version__.startswith("3.")


needs_keras3 = pytest.mark.skipif(not has_keras3(), reason="Keras 3 only")


@pytest.fixture(scope="module", autouse=True)
def patched():
  tf_bn_compat.patch_tf()
  yield
  tf_bn_compat.unpatch_tf()  # TF 2.15's tests use TF's own layers after.


@pytest.fixture(scope="module")
def data():
  return resnet_tf1.make_data(STEPS * BATCH, 0)


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory, data, patched):
  """The TF1 graph trained from the initial weights of a TF2 module."""
  del patched
  module = resnet_migration.ResNetModule()
  module(data[0][:1])
  directory = str(tmp_path_factory.mktemp("resnet"))
  init = migrate.save_tf1_checkpoint(module, os.path.join(directory, "init"))
  result = resnet_tf1.train(STEPS, BATCH, init_checkpoint=init,
                            checkpoint_path=os.path.join(directory, "graph"))
  result["init"] = init
  return result


def make_owner(kind):
  if kind == "keras_model":
    return resnet_migration.make_keras_model()
  return resnet_migration.ResNetModule()


def assert_variables_match(obj, checkpoint):
  reader = tf.train.load_checkpoint(checkpoint)
  variables = migrate.tf1_style_variables(obj)
  assert sorted(variables) == sorted(
      n for n in reader.get_variable_to_shape_map()
      if not n.endswith("/Momentum"))
  for name, variable in variables.items():
    np.testing.assert_allclose(variable.numpy(), reader.get_tensor(name),
                               atol=1e-4, err_msg=name)


OWNERS = ["tf_module", pytest.param("keras_model", marks=needs_keras3)]


@pytest.mark.parametrize("kind", OWNERS)
def test_gradient_tape_training_equals_the_graph(kind, data, graph_run):
  import keras  # pylint: disable=g-import-not-at-top
  images, labels = data
  obj = make_owner(kind)
  obj(images[:1])
  migrate.restore_tf1_checkpoint(obj, graph_run["init"])
  if kind == "keras_model":
    optimizer = keras.optimizers.SGD(resnet_migration.LEARNING_RATE,
                                     momentum=resnet_migration.MOMENTUM)
    variables = lambda: obj.trainable_weights
  else:
    optimizer = tf.compat.v1.train.MomentumOptimizer(
        resnet_migration.LEARNING_RATE, resnet_migration.MOMENTUM)
    variables = lambda: obj.trainable_variables
  step = resnet_migration.gradient_tape_step(obj, variables, optimizer)
  losses = [float(step(images[i * BATCH:(i + 1) * BATCH],
                       labels[i * BATCH:(i + 1) * BATCH]))
            for i in range(STEPS)]
  np.testing.assert_allclose(losses, graph_run["losses"], rtol=1e-4)
  assert losses[-1] < losses[0]
  assert_variables_match(obj, graph_run["checkpoint"])


@needs_keras3
def test_model_fit_equals_the_graph(data, graph_run):
  images, labels = data
  model = resnet_migration.compile_keras_model(
      resnet_migration.make_keras_model())
  model(images[:1])
  migrate.restore_tf1_checkpoint(model, graph_run["init"])
  history = model.fit(images, labels, batch_size=BATCH, epochs=1,
                      shuffle=False, verbose=0)
  # Keras reports the epoch's mean of the step losses.
  np.testing.assert_allclose(history.history["loss"][0],
                             np.mean(graph_run["losses"]), rtol=1e-4)
  assert_variables_match(model, graph_run["checkpoint"])


@pytest.mark.parametrize("kind", OWNERS)
def test_checkpoints_convert_both_ways(kind, graph_run, tmp_path):
  eval_images, _ = resnet_tf1.make_data(BATCH, 1)
  obj = make_owner(kind)
  obj(eval_images[:1])
  migrate.restore_tf1_checkpoint(obj, graph_run["checkpoint"])
  logits = obj(eval_images, training=False).numpy()
  np.testing.assert_allclose(logits, graph_run["eval_logits"],
                             atol=LOGITS_ATOL)
  for variable in migrate.tf1_style_variables(obj).values():
    variable.assign(variable * 0.9)  # A model of its own, saved from TF2.
  changed = obj(eval_images, training=False).numpy()
  path = migrate.save_tf1_checkpoint(obj, str(tmp_path / "tf2.ckpt"))
  np.testing.assert_allclose(resnet_tf1.evaluate(path, eval_images), changed,
                             atol=LOGITS_ATOL)
  assert np.abs(changed - logits).max() > 10 * LOGITS_ATOL
