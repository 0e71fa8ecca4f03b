"""`patch_tf()` holds whatever the import order and style, in fresh processes.

TensorFlow keeps `compat.v1` in several module objects and creates new ones
on `import tensorflow.compat.v1` (see tf_bn_compat/patch.py). Each case runs
a script in its own interpreter: an import order, then checks that every way
of reaching `tf.compat.v1.layers` gives our layers and builds and runs a
graph. The scripts run four at a time to keep the wall time down.
"""

import concurrent.futures
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

PRELUDE = textwrap.dedent("""
    import sys
    import numpy as np

    def check(layers, where):
      import tensorflow
      import tf_bn_compat.layers as ours
      for name in ("dense", "Conv2D", "conv2d", "batch_normalization",
                   "max_pooling2d", "Layer", "InputSpec"):
        assert getattr(layers, name) is getattr(ours, name), (where, name)
      with tensorflow.Graph().as_default():
        x = tensorflow.compat.v1.placeholder(tensorflow.float32,
                                             [None, 4, 4, 2])
        h = layers.conv2d(x, 3, 3, padding="same")
        h = layers.batch_normalization(h, training=True)
        y = layers.dense(layers.flatten(layers.max_pooling2d(h, 2, 2)), 2)
        with tensorflow.compat.v1.Session() as sess:
          sess.run(tensorflow.compat.v1.global_variables_initializer())
          out = sess.run(y, {x: np.ones((3, 4, 4, 2))})
      assert out.shape == (3, 2), where

    def check_all_module_objects():
      import tf_bn_compat.patch as patch
      keys = [k for k in sys.modules
              if "compat.v1.layers" in k or "compat/v1/layers" in k]
      assert keys, "no compat.v1.layers module was loaded"
      for key in keys:
        expected = (patch.LAYERS_MODULE.experimental
                    if key.endswith("experimental") else patch.LAYERS_MODULE)
        assert sys.modules[key] is expected, key
      for key, module in list(sys.modules.items()):
        if key.startswith("tensorflow") and key.endswith("compat.v1"):
          check(module.layers, key + ".layers")
      assert "tf_keras" not in sys.modules
""")

ORDERS = {
    "import_tf_then_patch_twice": """
        import tensorflow as tf
        import tf_bn_compat
        first = tf_bn_compat.patch_tf()
        check(tf.compat.v1.layers, "tf.compat.v1.layers")
        finders = len(sys.meta_path)
        assert tf_bn_compat.patch_tf() is first
        assert len(sys.meta_path) == finders
        check(tf.compat.v1.layers, "tf.compat.v1.layers, patched twice")
    """,
    "patch_then_import_compat_v1": """
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow.compat.v1 as tf
        check(tf.layers, "tf.layers")
        tf.disable_v2_behavior()
        check(tf.layers, "tf.layers under disable_v2_behavior")
    """,
    "import_compat_v1_then_patch": """
        import tensorflow.compat.v1 as tf
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        check(tf.layers, "tf.layers")
    """,
    "from_import_layers_before_patch": """
        from tensorflow.compat.v1 import layers
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        check(layers, "layers bound before the patch")
    """,
    "from_import_layers_after_patch": """
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        from tensorflow.compat.v1 import layers
        check(layers, "layers")
    """,
    "import_layers_module_after_patch": """
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow.compat.v1.layers
        import tensorflow.compat.v1.layers as layers
        check(layers, "import tensorflow.compat.v1.layers as layers")
        check(tensorflow.compat.v1.layers, "tensorflow.compat.v1.layers")
        from tensorflow.compat.v1.layers import experimental
        assert experimental.keras_style_scope is (
            tf_bn_compat.layers.experimental.keras_style_scope)
    """,
    "import_layers_module_before_patch": """
        import tensorflow.compat.v1.layers as early
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow
        check(early, "module bound before the patch")
        check(tensorflow.compat.v1.layers, "tensorflow.compat.v1.layers")
    """,
    "every_module_object": """
        import tensorflow as tf
        import tensorflow.compat.v1
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow.compat.v2 as tf2
        import tensorflow._api.v2.compat.v1.layers as api_layers
        check(api_layers, "tensorflow._api.v2.compat.v1.layers")
        check(tf.compat.v2.compat.v1.layers, "tf.compat.v2.compat.v1.layers")
        check(tf.compat.v1.compat.v1.layers, "tf.compat.v1.compat.v1.layers")
        check(tf2.compat.v1.layers, "tf2.compat.v1.layers")
        check_all_module_objects()
    """,
    "unpatch_and_repatch": """
        import tensorflow as tf
        import tf_bn_compat
        native = tf.compat.v1.layers
        tf_bn_compat.patch_tf()
        check(tf.compat.v1.layers, "patched")
        tf_bn_compat.unpatch_tf()
        import tensorflow.compat.v1 as tf1
        for layers in (tf.compat.v1.layers, tf1.layers):
          assert layers is native or layers is not tf_bn_compat.patch.LAYERS_MODULE
          try:
            dense = layers.dense
          except AttributeError as error:
            assert "Keras 3" in str(error), error
          else:
            assert dense is not tf_bn_compat.layers.dense
        assert "tensorflow.compat.v1.layers" not in sys.modules or (
            sys.modules["tensorflow.compat.v1.layers"]
            is not tf_bn_compat.patch.LAYERS_MODULE)
        tf_bn_compat.unpatch_tf()  # Harmless twice.
        tf_bn_compat.patch_tf()
        check(tf1.layers, "patched again")
    """,
    "keras_side_by_side": """
        import tensorflow as tf
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                                  keras.layers.BatchNormalization(),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=2,
                            verbose=0)
        assert len(history.history["loss"]) == 2
        assert tf.keras.layers.Dense is keras.layers.Dense
        check(tf.compat.v1.layers, "tf.compat.v1.layers beside Keras")
        prediction = model.predict(np.ones((2, 4)), verbose=0)
        assert prediction.shape == (2, 1)
        print("KERAS", keras.__version__)
    """,
}


def _run(script):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in [ROOT, env.get("PYTHONPATH")] if p)
  return subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, env=env, timeout=300, check=False,
                        cwd=ROOT)


@pytest.fixture(scope="module")
def results():
  scripts = {name: PRELUDE + textwrap.dedent(body) + '\nprint("DONE")\n'
             for name, body in ORDERS.items()}
  with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    futures = {name: pool.submit(_run, script)
               for name, script in scripts.items()}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_patch_holds(results, order):
  result = results[order]
  assert result.returncode == 0, result.stderr[-4000:]
  assert "DONE" in result.stdout
