"""Bad input: the exception type TF1 raises, a clear message, nothing built."""

import numpy as np
import pytest
import tensorflow as tf

import parity


def _placeholder(shape, dtype=tf.float32):
  return tf.compat.v1.placeholder(dtype, shape)


def _call_twice(m, first, second):
  layer = m.BatchNormalization()
  layer(first)
  layer(second)


# (id, builder taking (module, x), exception type, message fragment of ours)
CASES = [
    ("scalar_input", lambda m, x: m.BatchNormalization()(_placeholder([])),
     ValueError, "rank 1 or more"),
    ("unknown_rank", lambda m, x: m.BatchNormalization()(_placeholder(None)),
     ValueError, "known rank"),
    ("axis_out_of_range", lambda m, x: m.BatchNormalization(axis=4)(x),
     ValueError, "out of range"),
    ("negative_axis_out_of_range",
     lambda m, x: m.BatchNormalization(axis=-5)(x), ValueError,
     "out of range"),
    ("duplicate_axis", lambda m, x: m.BatchNormalization(axis=[1, -3])(x),
     ValueError, "twice"),
    ("axis_not_int", lambda m, x: m.BatchNormalization(axis="1"),
     TypeError, "int or a list of ints"),
    ("unknown_channel",
     lambda m, x: m.BatchNormalization()(_placeholder([None, 2, 2, None])),
     ValueError, "must be known"),
    ("virtual_batch_zero",
     lambda m, x: m.BatchNormalization(virtual_batch_size=0)(x), ValueError,
     "positive integer"),
    ("virtual_batch_negative",
     lambda m, x: m.BatchNormalization(virtual_batch_size=-2)(x), ValueError,
     "positive integer"),
    ("virtual_batch_axis_0",
     lambda m, x: m.BatchNormalization(virtual_batch_size=2, axis=0)(x),
     ValueError, "batch axis"),
    ("virtual_batch_with_adjustment",
     lambda m, x: m.BatchNormalization(
         virtual_batch_size=2, adjustment=lambda s: (1.0, 0.0))(x),
     ValueError, "adjustment"),
    ("renorm_clipping_keys",
     lambda m, x: m.BatchNormalization(
         renorm=True, renorm_clipping={"rmax": 1.0, "bogus": 2.0}),
     ValueError, "bogus"),
    ("rank_changes", lambda m, x: _call_twice(m, x, _placeholder([None, 3])),
     ValueError, "expected ndim=4"),
    ("channels_change",
     lambda m, x: _call_twice(m, x, _placeholder([None, 4, 4, 5])),
     ValueError, "to have value 3"),
    ("training_string",
     lambda m, x: m.BatchNormalization()(x, training="yes"), TypeError,
     "training"),
    ("integer_input",
     lambda m, x: m.BatchNormalization()(_placeholder([None, 3], tf.int32)),
     TypeError, "floating-point"),
]


@pytest.mark.parametrize("case_id,builder,error,fragment", CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_raises_like_tf1(case_id, builder, error, fragment):
  del case_id
  for module in (parity.reference_module(), parity.ours_module()):
    with tf.Graph().as_default():
      x = _placeholder([None, 4, 4, 3])
      with pytest.raises(error) as info:
        builder(module, x)
  assert fragment in str(info.value)


def test_failed_build_leaves_no_variables():
  with tf.Graph().as_default():
    x = _placeholder([None, 2, 2, None])
    with pytest.raises(ValueError):
      parity.ours_module().BatchNormalization()(x)
    assert tf.compat.v1.global_variables() == []
    assert tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS) == []


@pytest.mark.parametrize("module_name", ["ours", "reference"])
def test_virtual_batch_not_dividing_batch_fails_at_run_time(module_name):
  module = (parity.ours_module() if module_name == "ours"
            else parity.reference_module())
  with tf.Graph().as_default():
    x = _placeholder([None, 3])
    y = module.BatchNormalization(virtual_batch_size=3)(x, training=True)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(y, {x: np.ones((6, 3))})
      with pytest.raises(tf.errors.InvalidArgumentError):
        sess.run(y, {x: np.ones((8, 3))})


def test_fused_true_where_impossible_falls_back_with_warning(caplog):
  with tf.Graph().as_default():
    x = _placeholder([None, 4, 4, 3])
    layer = parity.ours_module().BatchNormalization(fused=True, renorm=True)
    layer(x, training=True)
    reference = parity.reference_module().BatchNormalization(
        fused=True, renorm=True)
    reference(x, training=True)
  assert layer.fused is False and reference.fused is False
  assert "renorm=True" in caplog.text
