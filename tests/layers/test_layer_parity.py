"""Differential tests: our layer against TF1's own, over a grid of configs.

Each case builds the same graph twice, once with `tf_bn_compat.layers` and
once with TF1's layer (tf_keras' legacy layers), runs training steps and an
inference step, and compares everything observable (see parity.run_layer).

Tolerances: the composite path runs the same TF ops as TF1 and matches to
float rounding; the fused path runs our compiled op, whose reductions sum in
another order than TF's kernel, so float32 agrees to ~1e-6 relative on
normalized outputs, and gradients that sum over a batch (gamma, beta) to
~1e-5. Half precision inputs are compared at their own resolution
(float16 eps ~1e-3, bfloat16 eps ~8e-3, on outputs of magnitude ~3).
"""

import numpy as np
import pytest
import tensorflow as tf

import parity

TOLERANCES = {
    "float32": dict(rtol=1e-4, atol=1e-4),
    "float64": dict(rtol=1e-9, atol=1e-9),
    "float16": dict(rtol=2e-2, atol=2e-2),
    "bfloat16": dict(rtol=6e-2, atol=6e-2),
}

# (id, constructor config, input shape, placeholder shape or None)
CASES = [
    ("default_nhwc", {}, (8, 5, 5, 3), None),
    ("fused_true", {"fused": True}, (8, 5, 5, 3), None),
    ("fused_false", {"fused": False}, (8, 5, 5, 3), None),
    ("nchw_axis1", {"axis": 1}, (6, 3, 4, 5), None),
    ("negative_axis", {"axis": -3}, (6, 3, 4, 5), None),
    ("rank2", {}, (16, 7), None),
    ("rank3", {"axis": 1}, (8, 4, 6), None),
    ("rank5_ndhwc", {}, (4, 3, 3, 3, 2), None),
    ("rank5_ncdhw", {"axis": 1}, (4, 2, 3, 3, 3), None),
    ("rank5_axis2", {"axis": 2}, (4, 2, 3, 3, 3), None),
    ("rank4_axis2", {"axis": 2}, (4, 2, 3, 5), None),
    ("axis_list", {"axis": [1, 3]}, (6, 4, 5, 3), None),
    ("axis_list_negative", {"axis": [-1, -2]}, (6, 4, 5, 3), None),
    ("unknown_batch", {}, (8, 4, 4, 3), (None, 4, 4, 3)),
    ("unknown_spatial", {"fused": False}, (8, 4, 4, 3), (None, None, None, 3)),
    ("no_center", {"center": False}, (8, 4, 4, 3), None),
    ("no_scale", {"scale": False}, (8, 4, 4, 3), None),
    ("no_center_no_scale", {"center": False, "scale": False}, (8, 4, 4, 3),
     None),
    ("no_center_composite", {"center": False, "fused": False}, (8, 6), None),
    ("momentum_eps", {"momentum": 0.5, "epsilon": 0.1}, (8, 4, 4, 3), None),
    ("momentum_eps_composite", {"momentum": 0.7, "epsilon": 1e-5},
     (12, 5), None),
    ("initializers", {
        "gamma_initializer": tf.compat.v1.constant_initializer(1.5),
        "beta_initializer": tf.compat.v1.constant_initializer(-0.5),
        "moving_mean_initializer": tf.compat.v1.constant_initializer(0.3),
        "moving_variance_initializer": tf.compat.v1.constant_initializer(2.0),
    }, (8, 4, 4, 3), None),
    ("string_initializers", {"gamma_initializer": "ones",
                             "moving_variance_initializer": "ones"},
     (8, 3), None),
    ("regularizers", {
        "gamma_regularizer": lambda v: 0.1 * tf.reduce_sum(tf.square(v)),
        "beta_regularizer": lambda v: 0.2 * tf.reduce_sum(tf.abs(v)),
    }, (8, 4, 4, 3), None),
    ("constraints", {
        "gamma_constraint": lambda v: tf.clip_by_value(v, 0.0, 1.0),
        "beta_constraint": lambda v: tf.clip_by_value(v, -0.1, 0.1),
    }, (8, 4, 4, 3), None),
    ("trainable_false", {"trainable": False}, (8, 4, 4, 3), None),
    ("trainable_false_composite", {"trainable": False, "fused": False},
     (8, 5), None),
    ("renorm", {"renorm": True}, (8, 4, 4, 3), None),
    ("renorm_clipping", {"renorm": True, "renorm_momentum": 0.5,
                         "renorm_clipping": {"rmax": 1.2, "rmin": 0.8,
                                             "dmax": 0.3}},
     (8, 4, 4, 3), None),
    ("renorm_rank2", {"renorm": True, "renorm_clipping": {"rmax": 3.0}},
     (10, 4), None),
    ("renorm_axis_list", {"renorm": True, "axis": [1, 2]}, (6, 3, 2, 4), None),
    ("virtual_batch", {"virtual_batch_size": 4}, (8, 4, 4, 3), None),
    ("virtual_batch_unknown", {"virtual_batch_size": 2}, (8, 3, 3, 2),
     (None, 3, 3, 2)),
    ("virtual_batch_axis1", {"virtual_batch_size": 2, "axis": 1},
     (6, 3, 4, 4), None),
    ("virtual_batch_renorm", {"virtual_batch_size": 4, "renorm": True},
     (8, 5), None),
    ("adjustment", {"adjustment": lambda shape: (
        tf.fill(shape[-1:], 1.05), tf.fill(shape[-1:], -0.1))},
     (8, 4, 4, 3), None),
    ("adjustment_rank2", {"adjustment": lambda shape: (
        tf.cast(tf.range(1, shape[-1] + 1), tf.float32) * 0.1 + 0.8,
        tf.zeros(shape[-1:]))}, (12, 4), None),
]


@pytest.mark.parametrize("training", ["bool", "tensor"])
@pytest.mark.parametrize("case_id,config,shape,static_shape", CASES,
                         ids=[c[0] for c in CASES])
def test_matches_tf1_layer(graph_mode, case_id, config, shape, static_shape,
                           training):
  del graph_mode, case_id
  ours = parity.run_layer(parity.ours_module(), dict(config), shape,
                          training=training, static_shape=static_shape)
  ref = parity.run_layer(parity.reference_module(), dict(config), shape,
                         training=training, static_shape=static_shape)
  parity.assert_records_match(ours, ref, **TOLERANCES["float32"])


DTYPE_CASES = [
    ("fused", {}, (8, 4, 4, 3)),
    ("composite", {"fused": False}, (8, 4, 4, 3)),
    ("rank2", {}, (16, 5)),
    ("renorm", {"renorm": True}, (8, 4, 4, 3)),
]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32",
                                   "float64"])
@pytest.mark.parametrize("case_id,config,shape", DTYPE_CASES,
                         ids=[c[0] for c in DTYPE_CASES])
def test_dtypes_match_tf1_layer(case_id, config, shape, dtype):
  ours = parity.run_layer(parity.ours_module(), dict(config), shape, dtype,
                          training="tensor")
  if case_id == "renorm" and dtype == "float64":
    # TF1's renorm floors a float64 stddev with a float32 sqrt(epsilon) and
    # fails to build; ours builds. With the initial renorm statistics
    # (mean 0, stddev 1) the first step's correction undoes the
    # normalization exactly: y = xhat * stddev + mean = x.
    with pytest.raises((TypeError, ValueError)):
      parity.run_layer(parity.reference_module(), dict(config), shape, dtype,
                       training="tensor")
    first_batch = parity.make_batches(shape, "float64")[0]
    np.testing.assert_allclose(ours["train_outputs"][0], first_batch,
                               rtol=1e-9, atol=1e-9)
    return
  ref = parity.run_layer(parity.reference_module(), dict(config), shape,
                         dtype, training="tensor")
  parity.assert_records_match(ours, ref, **TOLERANCES[dtype])
  variable_dtypes = {dtype_name for _, _, dtype_name in ours["variables"]}
  expected = "float64" if dtype == "float64" else "float32"
  assert variable_dtypes == {expected}
  assert ours["output_dtype"] == dtype


@pytest.mark.parametrize("training", ["int", "none", "constant"])
@pytest.mark.parametrize("config", [{}, {"fused": False}],
                         ids=["fused", "composite"])
def test_training_argument_kinds(graph_mode, training, config):
  del graph_mode
  shape = (8, 3, 3, 4)
  ours = parity.run_layer(parity.ours_module(), dict(config), shape,
                          training=training)
  ref = parity.run_layer(parity.reference_module(), dict(config), shape,
                         training=training)
  parity.assert_records_match(ours, ref, **TOLERANCES["float32"])


@pytest.mark.parametrize("config", [{}, {"fused": False}, {"renorm": True},
                                    {"axis": [1, 3]}],
                         ids=["fused", "composite", "renorm", "axis_list"])
def test_functional_form_matches(graph_mode, config):
  del graph_mode
  shape = (8, 4, 4, 3)
  ours = parity.run_layer(parity.ours_module(), dict(config), shape,
                          training="tensor", functional=True)
  ref = parity.run_layer(parity.reference_module(), dict(config), shape,
                         training="tensor", functional=True)
  parity.assert_records_match(ours, ref, **TOLERANCES["float32"])


@pytest.mark.parametrize("layer_dtype,tolerance", [
    ("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16"),
    ("float64", "float64"), ("float16", "float16")])
@pytest.mark.parametrize("config", [{}, {"fused": False}],
                         ids=["fused", "composite"])
def test_layer_dtype_argument(config, layer_dtype, tolerance):
  config = dict(config, dtype=layer_dtype)
  shape = (8, 3, 3, 4)
  ours = parity.run_layer(parity.ours_module(), dict(config), shape,
                          training="tensor")
  ref = parity.run_layer(parity.reference_module(), dict(config), shape,
                         training="tensor")
  parity.assert_records_match(ours, ref, **TOLERANCES[tolerance])
  assert ours["output_dtype"] == layer_dtype.replace("mixed_", "")
