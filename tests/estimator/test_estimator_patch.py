"""`patch_tf()` installs tf_bn_compat.estimator as `tf.estimator` where
TensorFlow has none, whatever the import order; TF 2.15 keeps its own.

Each case runs in a fresh interpreter (the import order is the point); the
scripts run two at a time.
"""

import concurrent.futures
import subprocess
import sys
import textwrap

import pytest

import package_env

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context

PRELUDE = textwrap.dedent("""
    import sys
    import numpy as np

    def native():
      import tensorflow
      major, minor = (int(p) for p in tensorflow.__version__.split(".")[:2])
      return (major, minor) <= (2, 15)

    def check(module, where):
      import tf_bn_compat.estimator as ours
      if native():
        assert module is not ours, where
        assert module.Estimator.__module__.startswith("tensorflow_estimator"), (
            where, module.Estimator.__module__)
      else:
        assert module is ours, (where, module)
""")

ORDERS = {
    "import_tf_then_patch": """
        import tensorflow as tf
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        check(tf.estimator, "tf.estimator")
        check(tf.compat.v1.estimator, "tf.compat.v1.estimator")
        check(tf.compat.v2.estimator, "tf.compat.v2.estimator")
        from tensorflow.compat.v1 import estimator
        check(estimator, "from tensorflow.compat.v1 import estimator")
        import tensorflow.compat.v1.estimator as v1_estimator
        check(v1_estimator, "import tensorflow.compat.v1.estimator")
        import tensorflow.estimator
        check(tensorflow.estimator, "import tensorflow.estimator")
        from tensorflow.compat.v1.estimator import inputs
        if not native():
          assert inputs.numpy_input_fn is (
              tf_bn_compat.estimator.inputs.numpy_input_fn)
    """,
    "patch_then_compat_v1_graph_mode": """
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow.compat.v1 as tf
        tf.disable_v2_behavior()
        check(tf.estimator, "tf.estimator under disable_v2_behavior")
        import tensorflow.compat.v2 as tf2
        check(tf2.estimator, "tensorflow.compat.v2 imported after the patch")
        check(tf.compat.v1.estimator, "tf.compat.v1.estimator")
    """,
    "unpatch_and_repatch": """
        import tensorflow as tf
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow.compat.v1.estimator
        check(tf.compat.v1.estimator, "patched")
        tf_bn_compat.unpatch_tf()
        if native():
          check(tf.estimator, "native after unpatch")
        else:
          assert not hasattr(tf, "estimator")
          assert not hasattr(tf.compat.v1, "estimator")
          assert not [k for k in sys.modules
                      if k.startswith("tensorflow") and "estimator" in k]
        tf_bn_compat.patch_tf()
        check(tf.compat.v1.estimator, "patched again")
    """,
}

# An unchanged TF1 Estimator program: tf.compat.v1.layers with batch norm,
# a tf.data input_fn, a hook, train / evaluate / predict / export.
PROGRAM = """
    import tensorflow as tf
    import tf_bn_compat
    tf_bn_compat.patch_tf()
    check(tf.estimator, "tf.estimator")

    def model_fn(features, labels, mode):
      h = tf.compat.v1.layers.dense(features["x"], 4)
      h = tf.compat.v1.layers.batch_normalization(
          h, training=mode == tf.estimator.ModeKeys.TRAIN)
      logits = tf.compat.v1.layers.dense(h, 1)[:, 0]
      if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"y": logits})
      loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
      if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "mae": tf.compat.v1.metrics.mean_absolute_error(labels, logits)})
      update_ops = tf.compat.v1.get_collection(
          tf.compat.v1.GraphKeys.UPDATE_OPS)
      with tf.control_dependencies(update_ops):
        train_op = tf.compat.v1.train.AdamOptimizer(0.05).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
      return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    x = np.random.RandomState(0).rand(32, 2).astype(np.float32) * 4
    y = x.sum(axis=1)
    def input_fn():
      return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(8)
    config = tf.estimator.RunConfig(model_dir=sys.argv[1], tf_random_seed=1)
    estimator = tf.estimator.Estimator(model_fn, config=config)
    estimator.train(lambda: input_fn().repeat(), steps=30,
                    hooks=[tf.estimator.StopAtStepHook(last_step=25)])
    assert estimator.get_variable_value("global_step") == 25
    assert abs(estimator.get_variable_value(
        "batch_normalization/moving_mean")).max() > 0
    metrics = estimator.evaluate(input_fn)
    assert metrics["global_step"] == 25 and metrics["mae"] > 0, metrics
    predictions = [p["y"] for p in estimator.predict(
        lambda: tf.data.Dataset.from_tensor_slices({"x": x}).batch(8))]
    assert len(predictions) == 32
    receiver = tf.estimator.export.build_raw_serving_input_receiver_fn(
        {"x": tf.zeros([1, 2])})
    export_dir = estimator.export_saved_model(sys.argv[1] + "/export", receiver)
    assert b"export" in export_dir
    if not native():  # Where tf.estimator is ours: neither package is used.
      assert not [k for k in sys.modules
                  if k.split(".")[0] in ("tf_keras", "tensorflow_estimator")]
    print("PROGRAM", metrics["loss"])
"""


def _run(script, *args):
  return subprocess.run([sys.executable, "-c", script] + list(args),
                        capture_output=True, text=True,
                        env=package_env.child_env(), timeout=300, check=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  scripts = {name: PRELUDE + textwrap.dedent(body) + '\nprint("DONE")\n'
             for name, body in ORDERS.items()}
  scripts["unchanged_tf1_program"] = (PRELUDE + textwrap.dedent(PROGRAM) +
                                      '\nprint("DONE")\n')
  # The same under TF1 behaviour (reference variables, v1 control flow).
  scripts["unchanged_tf1_program_v1_behavior"] = scripts[
      "unchanged_tf1_program"].replace(
          "tf_bn_compat.patch_tf()\n",
          "tf_bn_compat.patch_tf()\ntf.compat.v1.disable_v2_behavior()\n", 1)
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    futures = {name: pool.submit(_run, script,
                                 str(tmp_path_factory.mktemp(name)))
               for name, script in scripts.items()}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", sorted(ORDERS) + [
    "unchanged_tf1_program", "unchanged_tf1_program_v1_behavior"])
def test_patch_installs_estimator(results, case):
  result = results[case]
  assert result.returncode == 0, result.stderr[-4000:]
  assert "DONE" in result.stdout
