"""Signatures and bad arguments: what TF1's layers take, and how they refuse.

Signatures: every public name of `tf.compat.v1.layers` has TF1's parameters
in TF1's order with equal defaults. Errors: each bad argument raises the
exception type TF1's layer raises (the reference is run on the same case),
with a message naming the problem.
"""

import inspect

import numpy as np
import pytest
import tensorflow as tf

import layer_parity
from tf_bn_compat import layers as ours_layers

PUBLIC = sorted(ours_layers.TF_PUBLIC_NAMES)


def _normalized(default):
  """Defaults compared by meaning: initializers by class, (1, 1) as 1."""
  if default is inspect.Parameter.empty or default is None:
    return default
  if isinstance(default, tuple) and len(set(default)) == 1:
    return default[0]
  if hasattr(default, "get_config"):
    return (type(default).__name__, default.get_config())
  return default


def _parameters(obj):
  target = obj.__init__ if inspect.isclass(obj) else obj
  return [(p.name, p.kind, _normalized(p.default))
          for p in inspect.signature(target).parameters.values()]


# Our arguments TF1 does not have, after all of TF1's (before **kwargs).
EXTENSIONS = {"synchronized": False}


@pytest.mark.parametrize("name", [n for n in PUBLIC if n != "experimental"])
def test_signature_is_tf1s(name):
  mine = _parameters(getattr(ours_layers, name))
  ref = _parameters(getattr(layer_parity.reference(), name))
  extensions = [p for p in mine if p[0] in EXTENSIONS]
  if extensions:
    assert [(p[0], p[2]) for p in extensions] == list(EXTENSIONS.items())
    position = mine.index(extensions[0])
    assert mine[position:position + len(extensions)] == extensions
    assert all(p[1] == inspect.Parameter.VAR_KEYWORD
               for p in mine[position + len(extensions):])
    mine = [p for p in mine if p not in extensions]
  if name == "InputSpec":  # TF 2.15's lacks tf_keras' `optional`.
    mine = [p for p in mine if p[0] != "optional" or
            "optional" in [r[0] for r in ref]]
  assert mine == ref


def test_public_names_are_tf_compat_v1_layers():
  if layer_parity.TF_VERSION >= (2, 16):
    import tf_keras.api._v1.keras.__internal__.legacy.layers as tf1_layers  # pylint: disable=g-import-not-at-top
  else:
    tf1_layers = tf.compat.v1.layers
  names = {n for n in dir(tf1_layers) if not n.startswith("_")}
  assert names == set(PUBLIC)
  assert {n for n in dir(ours_layers.experimental)
          if not n.startswith("_")} >= {"keras_style_scope", "set_keras_style"}


def _ph(shape, dtype=tf.float32):
  return tf.compat.v1.placeholder(dtype, shape)


X4 = [None, 6, 6, 3]

# (id, builder (module) -> anything, fragment of our message)
CASES = [
    ("dense_negative_units", lambda m: m.Dense(-1), "units"),
    ("dense_unknown_last_dim", lambda m: m.dense(_ph([None, None]), 3),
     "last dimension"),
    ("dense_rank1", lambda m: m.dense(_ph([3]), 3), "min_ndim=2"),
    ("dense_integer_input", lambda m: m.dense(_ph([2, 3], tf.int32), 3),
     "floating-point"),
    ("dense_last_dim_changes",
     lambda m: [l(_ph(s)) for l in [m.Dense(2)] for s in ([1, 3], [1, 4])],
     "to have value 3"),
    ("unknown_keyword", lambda m: m.Dense(2, bogus=1), "bogus"),
    ("conv_zero_filters", lambda m: m.Conv2D(0, 3), "filters"),
    ("conv_kernel_size_length", lambda m: m.Conv2D(2, (3, 3, 3)),
     "kernel_size"),
    ("conv_kernel_size_type", lambda m: m.Conv2D(2, "3"), "kernel_size"),
    ("conv_zero_strides", lambda m: m.Conv2D(2, 3, strides=0), "strides"),
    ("conv_bad_padding", lambda m: m.Conv2D(2, 3, padding="full"), "padding"),
    ("conv_causal_2d", lambda m: m.Conv2D(2, 3, padding="causal"), "Causal"),
    ("conv_bad_data_format",
     lambda m: m.Conv2D(2, 3, data_format="NHWC"), "data_format"),
    ("conv_strides_and_dilation",
     lambda m: m.Conv2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
    ("conv_wrong_rank", lambda m: m.conv2d(_ph([None, 6, 3]), 2, 3),
     "expected ndim=4"),
    ("conv_unknown_channels",
     lambda m: m.conv2d(_ph([None, 6, 6, None]), 2, 3), "channel dimension"),
    ("conv_channels_change",
     lambda m: [l(_ph(s)) for l in [m.Conv2D(2, 3)]
                for s in (X4, [None, 6, 6, 4])], "to have value 3"),
    ("conv_valid_too_small", lambda m: m.conv2d(_ph([None, 2, 2, 3]), 2, 3),
     "Negative dimension size"),
    ("transpose_wrong_rank",
     lambda m: m.conv2d_transpose(_ph([None, 6, 6, 6, 3]), 2, 3),
     "expected ndim=4"),
    ("separable_unknown_channels",
     lambda m: m.separable_conv2d(_ph([None, 6, 6, None]), 2, 3),
     "channel dimension"),
    ("pool_size_length", lambda m: m.MaxPooling2D((2, 2, 2), 2), "pool_size"),
    ("pool_bad_padding", lambda m: m.MaxPooling2D(2, 2, padding="full"),
     "padding"),
    ("pool_wrong_rank", lambda m: m.max_pooling2d(_ph([None, 6, 3]), 2, 2),
     "expected ndim=4"),
    ("pool_bad_data_format",
     lambda m: m.AveragePooling1D(2, 2, data_format="channels_middle"),
     "data_format"),
    ("dropout_rate_above_one", lambda m: m.Dropout(1.5), "rate"),
    ("dropout_training_string",
     lambda m: m.dropout(_ph([2, 3]), training="yes"), "training"),
    ("flatten_bad_data_format",
     lambda m: m.Flatten(data_format="last"), "data_format"),
    ("add_weight_on_read_trainable",
     lambda m: m.Layer().add_weight(
         "w", [2], trainable=True,
         synchronization=tf.VariableSynchronization.ON_READ),
     "ON_READ"),
]


def _raised(module, builder):
  with tf.Graph().as_default():
    try:
      builder(module)
    except Exception as error:  # pylint: disable=broad-except
      return error
  return None


@pytest.mark.parametrize("case_id,builder,fragment", CASES,
                         ids=[c[0] for c in CASES])
def test_bad_argument_raises_as_tf1(case_id, builder, fragment):
  del case_id
  ref_error = _raised(layer_parity.reference(), builder)
  my_error = _raised(layer_parity.ours(), builder)
  assert ref_error is not None, "TF1's layer accepts this case"
  assert type(my_error) is type(ref_error), (my_error, ref_error)
  assert fragment in str(my_error), my_error


def test_functional_form_rejects_unknown_argument():
  with tf.Graph().as_default():
    with pytest.raises(TypeError, match="conv2d"):
      ours_layers.conv2d(_ph(X4), 2, 3, groups=2)


@pytest.mark.eager_context  # See conftest.py.
def test_layers_run_eagerly():
  # Eagerly the layer runs its ops (see tests/layers/test_eager.py).
  assert tf.executing_eagerly()
  layer = ours_layers.Dense(2, kernel_initializer="ones",
                            bias_initializer="ones")
  y = layer(np.ones((3, 4), np.float32))
  assert not tf.is_symbolic_tensor(y)
  np.testing.assert_array_equal(y.numpy(), np.full((3, 2), 5.0))
  assert [v.name for v in layer.variables] == [
      layer.scope_name + "/kernel:0", layer.scope_name + "/bias:0"]


def test_bad_feed_is_a_runtime_error_not_a_crash():
  with tf.Graph().as_default():
    x = _ph([None, None, None, 3])
    y = ours_layers.conv2d(x, 2, 3)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      with pytest.raises(tf.errors.InvalidArgumentError):
        sess.run(y, {x: np.ones((1, 1, 1, 3))})
