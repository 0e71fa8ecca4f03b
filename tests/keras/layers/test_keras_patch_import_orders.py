"""`patch_tf()` and `tf.compat.v1.keras` (layers, utils), per import order.

On Keras 3 `tf.compat.v1.keras.layers` is the module object
`tf.keras.layers` is, so the patch gives `compat.v1` a `keras` namespace of
its own (see tf_bn_compat/patch.py). Each case runs a script in a fresh
interpreter: an import order, then checks that the name resolves to our
Keras-v1 class, that other names still are Keras', that Keras 3's own
BatchNormalization is untouched, and that a TF1 graph trains the moving
statistics through `layer.get_updates_for`; and that
`tf.compat.v1.keras.utils.track_tf1_style_variables` is ours on Keras 3
(Keras' own on Keras 2). Scripts run four at a time.
"""

import concurrent.futures
import subprocess
import sys
import textwrap

import pytest

import package_env

PRELUDE = textwrap.dedent("""
    import sys
    import numpy as np

    def check(layers, where):
      import keras
      import tensorflow
      import tf_bn_compat.keras.layers as ours
      assert layers.BatchNormalization is ours.BatchNormalization, where
      assert layers.Dense is keras.layers.Dense, where
      assert keras.layers.BatchNormalization is not ours.BatchNormalization
      assert tensorflow.keras.layers.BatchNormalization is (
          keras.layers.BatchNormalization), where
      with tensorflow.Graph().as_default():
        x = tensorflow.compat.v1.placeholder(tensorflow.float32,
                                             [None, 4, 4, 2])
        bn = layers.BatchNormalization()
        bn(x, training=True)
        updates = bn.get_updates_for(x)
        assert len(updates) == 2, (where, updates)
        with tensorflow.compat.v1.Session() as sess:
          sess.run(tensorflow.compat.v1.global_variables_initializer())
          sess.run(updates, {x: np.full((3, 4, 4, 2), 3.0)})
          moved = sess.run(bn.moving_mean)
      np.testing.assert_allclose(moved, 0.03, rtol=1e-5, err_msg=where)

    def keras_version():
      import keras
      return int(keras.__version__.split(".")[0])

    def check_utils(utils, where):
      import keras
      import tf_bn_compat
      ours = tf_bn_compat.track_tf1_style_variables
      if keras_version() >= 3:
        assert utils.track_tf1_style_variables is ours, where
        assert not hasattr(keras.utils, "track_tf1_style_variables"), where
        assert utils.get_file is keras.utils.get_file, where
      else:
        assert utils.track_tf1_style_variables is not ours, where
""")

ORDERS = {
    "import_tf_then_patch": """
        import tensorflow as tf
        early = tf.compat.v1.keras.layers
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        check(tf.compat.v1.keras.layers, "tf.compat.v1.keras.layers")
        check_utils(tf.compat.v1.keras.utils, "tf.compat.v1.keras.utils")
        assert tf.compat.v1.keras.layers is not tf.keras.layers
        if keras_version() >= 3:
          # Keras 3's module itself, bound before the patch: never written to.
          assert early is tf.keras.layers
          assert early.BatchNormalization is not (
              tf_bn_compat.keras.layers.BatchNormalization)
        else:
          check(early, "v1 layers bound before the patch")
    """,
    "patch_then_import_compat_v1": """
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import tensorflow.compat.v1 as tf
        check(tf.keras.layers, "tf.keras.layers (compat.v1)")
        check_utils(tf.keras.utils, "tf.keras.utils (compat.v1)")
        tf.disable_v2_behavior()
        check(tf.keras.layers, "under disable_v2_behavior")
    """,
    "import_compat_v1_then_patch": """
        import tensorflow.compat.v1 as tf
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        check(tf.keras.layers, "tf.keras.layers (compat.v1)")
    """,
    "from_import_after_patch": """
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        from tensorflow.compat.v1.keras import layers
        check(layers, "from tensorflow.compat.v1.keras import layers")
        import tensorflow.compat.v1.keras.layers as layers_module
        check(layers_module, "import tensorflow.compat.v1.keras.layers")
        from tensorflow.compat.v1.keras.utils import track_tf1_style_variables
        import tensorflow.compat.v1.keras.utils as utils_module
        check_utils(utils_module, "import tensorflow.compat.v1.keras.utils")
        assert track_tf1_style_variables is utils_module.track_tf1_style_variables
        # Other Keras submodules import as Keras' own (TF 2.15 has them).
        import tensorflow.compat.v1.keras.backend as backend
        import keras
        assert backend.floatx() == "float32"
        assert backend is tf_bn_compat.patch.KERAS_MODULE.backend
        assert backend.__spec__.name.startswith("keras."), backend.__spec__
    """,
    "from_import_before_patch": """
        try:
          from tensorflow.compat.v1.keras import layers
        except ModuleNotFoundError:
          layers = None  # TF 2.16+ has no such module before the patch.
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        if layers is None:
          assert keras_version() >= 3
          from tensorflow.compat.v1.keras import layers
        check(layers, "from tensorflow.compat.v1.keras import layers")
    """,
    "keras_side_by_side_and_unpatch": """
        import tensorflow as tf
        import tf_bn_compat
        tf_bn_compat.patch_tf()
        import keras
        model = keras.Sequential([keras.Input((4,)),
                                  keras.layers.BatchNormalization(),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.full((8, 4), 2.0), np.ones((8, 1)), epochs=1, verbose=0)
        bn3 = model.layers[0]
        assert type(bn3) is keras.layers.BatchNormalization
        assert abs(float(bn3.moving_mean.numpy()[0]) - 0.02) < 1e-4
        check(tf.compat.v1.keras.layers, "beside Keras 3")
        tf_bn_compat.unpatch_tf()
        assert (tf.compat.v1.keras.layers.BatchNormalization is not
                tf_bn_compat.keras.layers.BatchNormalization)
        if keras_version() >= 3:
          assert not hasattr(tf.compat.v1.keras.utils,
                             "track_tf1_style_variables")
        for key in ("tensorflow.compat.v1.keras",
                    "tensorflow.compat.v1.keras.layers"):
          assert sys.modules.get(key) is not (
              tf_bn_compat.patch.KERAS_MODULE), key
        tf_bn_compat.patch_tf()
        check(tf.compat.v1.keras.layers, "patched again")
        check_utils(tf.compat.v1.keras.utils, "patched again")
    """,
}


def _run(script, cwd):
  return subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, env=package_env.child_env(), timeout=300,
                        check=False, cwd=cwd)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  # An empty working directory: the child imports the package under test
  # from its PYTHONPATH only.
  cwd = str(tmp_path_factory.mktemp("cwd"))
  scripts = {name: PRELUDE + textwrap.dedent(body) + '\nprint("DONE")\n'
             for name, body in ORDERS.items()}
  with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    futures = {name: pool.submit(_run, script, cwd)
               for name, script in scripts.items()}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_patch_holds_for_keras_v1_batch_normalization(results, order):
  result = results[order]
  assert result.returncode == 0, result.stderr[-4000:]
  assert "DONE" in result.stdout
