"""Convolution layers against TF1's own, over layouts, paddings and steps.

Each case builds the same graph with our layer and TF1's, starts both from
the same variable values and compares outputs, gradients (inputs and
variables), variables and collections (layer_parity). Tolerances: both run
the same TF ops, so float32 agrees to 1e-5, float64 to 1e-10, float16 to its
resolution (1e-2 on values of order 1-10).
"""

import numpy as np
import pytest
import tensorflow as tf

import layer_parity

# class name, functional name, spatial rank, kind
LAYERS = [
    ("Conv1D", "conv1d", 1, "conv"),
    ("Conv2D", "conv2d", 2, "conv"),
    ("Conv3D", "conv3d", 3, "conv"),
    ("SeparableConv1D", "separable_conv1d", 1, "separable"),
    ("SeparableConv2D", "separable_conv2d", 2, "separable"),
    ("Conv2DTranspose", "conv2d_transpose", 2, "transpose"),
    ("Conv3DTranspose", "conv3d_transpose", 3, "transpose"),
]

SPATIAL = {1: (7,), 2: (6, 5), 3: (5, 6, 5)}
CHANNELS = 3

# id, constructor arguments (besides filters and kernel_size)
GEOMETRIES = [
    ("s1", {}),
    ("s2", {"strides": 2}),
    ("dil2", {"dilation_rate": 2}),
]


def input_shape(rank, data_format, batch=2):
  if data_format == "channels_first":
    return (batch, CHANNELS) + SPATIAL[rank]
  return (batch,) + SPATIAL[rank] + (CHANNELS,)


def grid():
  for class_name, _, rank, kind in LAYERS:
    for data_format in ("channels_last", "channels_first"):
      for padding in ("valid", "same"):
        for geometry_id, geometry in GEOMETRIES:
          if kind == "transpose" and "dilation_rate" in geometry:
            continue  # TF1's transposed layers take no dilation_rate.
          yield pytest.param(
              class_name, rank, data_format, padding, geometry,
              id="%s-%s-%s-%s" % (class_name, data_format, padding,
                                  geometry_id))


@pytest.mark.parametrize("class_name,rank,data_format,padding,geometry",
                         list(grid()))
def test_layer_matches_tf1(class_name, rank, data_format, padding, geometry):
  def build(m, x):
    layer = getattr(m, class_name)(4, 3, padding=padding,
                                   data_format=data_format, **geometry)
    return layer(x), layer

  layer_parity.compare(build, [input_shape(rank, data_format)],
                       channels_first=data_format == "channels_first")


@pytest.mark.parametrize("class_name", ["Conv1D", "SeparableConv1D"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_causal_padding_matches_tf1(class_name, data_format):
  def build(m, x):
    layer = getattr(m, class_name)(2, 3, padding="causal", dilation_rate=2,
                                   data_format=data_format)
    return layer(x), layer

  record = layer_parity.compare(
      build, [input_shape(1, data_format)],
      channels_first=data_format == "channels_first")
  assert record["output_shape"][1 if data_format == "channels_last" else 2] == 7


# Options beyond geometry, each through the functional form.
OPTION_CASES = [
    ("relu_no_bias", {"activation": tf.nn.relu, "use_bias": False}),
    ("activation_name", {"activation": "tanh"}),
    ("regularizers", {
        "kernel_regularizer": lambda w: 0.1 * tf.reduce_sum(tf.square(w)),
        "bias_regularizer": lambda b: 0.2 * tf.reduce_sum(tf.abs(b)),
        "activity_regularizer": lambda y: 0.01 * tf.reduce_sum(y * y)}),
    ("constraints_initializers", {
        "kernel_constraint": lambda w: tf.clip_by_norm(w, 1.0),
        "bias_constraint": lambda b: tf.clip_by_value(b, -1.0, 1.0),
        "bias_initializer": tf.compat.v1.constant_initializer(0.5)}),
    ("non_trainable", {"trainable": False}),
    ("padding_upper", {"padding": "SAME", "strides": 2}),
]

SEPARABLE_OPTIONS = {
    "kernel_regularizer": "depthwise_regularizer",
    "kernel_constraint": "depthwise_constraint",
}


@pytest.mark.parametrize("option_id,options", OPTION_CASES,
                         ids=[c[0] for c in OPTION_CASES])
@pytest.mark.parametrize("function_name,rank,kind",
                         [(f, r, k) for _, f, r, k in LAYERS if r == 2])
def test_functional_options_match_tf1(function_name, rank, kind, option_id,
                                      options):
  del option_id
  if kind == "separable":
    options = {SEPARABLE_OPTIONS.get(k, k): v for k, v in options.items()}
    if "depthwise_regularizer" in options:
      options["pointwise_regularizer"] = options["depthwise_regularizer"]

  def build(m, x):
    return getattr(m, function_name)(x, 4, (3, 2), name="layer", **options)

  layer_parity.compare(build, [input_shape(rank, "channels_last")])


@pytest.mark.parametrize("dtype", ["float16", "float64"])
@pytest.mark.parametrize("class_name,rank", [
    ("Conv1D", 1), ("Conv2D", 2), ("SeparableConv2D", 2),
    ("Conv2DTranspose", 2)])
def test_dtypes_match_tf1(class_name, rank, dtype):
  def build(m, x):
    layer = getattr(m, class_name)(4, 3, padding="same")
    return layer(x), layer

  record = layer_parity.compare(build, [input_shape(rank, "channels_last")],
                                dtype=dtype)
  assert {d for _, _, d in record["variables"]} == {dtype}
  assert record["output_dtype"] == dtype


def test_mixed_precision_dtype_matches_tf1():
  def build(m, x):
    layer = m.Conv2D(4, 3, dtype="mixed_float16")
    return layer(x), layer

  # TF1's layer lists its autocast kernel and bias as non-trainable weights
  # (they are trainable variables in the collections); ours lists them as
  # trainable.
  record = layer_parity.compare(
      build, [input_shape(2, "channels_last")], dtype="float16",
      ignore=("layer_trainable", "layer_non_trainable"))
  assert record["layer_trainable"] == ["conv2d/kernel:0", "conv2d/bias:0"]
  assert {d for _, _, d in record["variables"]} == {"float32"}
  assert record["output_dtype"] == "float16"


def test_unknown_spatial_and_batch_dimensions():
  shape = input_shape(2, "channels_last")

  def build(m, x):
    return m.conv2d_transpose(x, 4, 3, strides=2, padding="valid")

  record = layer_parity.compare(build, [shape],
                                static_shapes=[(None, None, None, CHANNELS)])
  assert record["output_shape"] == [None, None, None, 4]


def test_kernel_shapes_and_names():
  with tf.Graph().as_default():
    m = layer_parity.ours()
    x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3])
    m.conv2d(x, 5, (3, 2))
    m.separable_conv2d(x, 6, 3, depth_multiplier=2)
    m.conv2d_transpose(x, 7, 2)
    shapes = {v.name: v.shape.as_list()
              for v in tf.compat.v1.global_variables()}
  assert shapes == {
      "conv2d/kernel:0": [3, 2, 3, 5], "conv2d/bias:0": [5],
      "separable_conv2d/depthwise_kernel:0": [3, 3, 3, 2],
      "separable_conv2d/pointwise_kernel:0": [1, 1, 6, 6],
      "separable_conv2d/bias:0": [6],
      "conv2d_transpose/kernel:0": [2, 2, 7, 3],
      "conv2d_transpose/bias:0": [7]}


def test_default_kernel_initializer_is_glorot_uniform():
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 16])
    layer = layer_parity.ours().Conv2D(32, 3)
    layer(x)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      kernel, bias = sess.run([layer.kernel, layer.bias])
  limit = np.sqrt(6.0 / (3 * 3 * 16 + 3 * 3 * 32))
  assert np.abs(kernel).max() <= limit
  # A uniform distribution on [-limit, limit] has std limit / sqrt(3).
  np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.05)
  assert not bias.any()


def test_aliases_are_tf1s():
  m = layer_parity.ours()
  ref = layer_parity.reference()
  for alias in ("Convolution1D", "Convolution2D", "Convolution3D",
                "SeparableConvolution2D", "Convolution2DTranspose",
                "Deconvolution2D", "Deconv2D", "Convolution3DTranspose",
                "Deconvolution3D", "Deconv3D", "convolution1d",
                "convolution2d", "convolution3d", "separable_convolution2d",
                "convolution2d_transpose", "deconvolution2d", "deconv2d",
                "convolution3d_transpose", "deconvolution3d", "deconv3d"):
    mine = getattr(m, alias)
    if hasattr(ref, alias):
      assert mine.__name__ == getattr(ref, alias).__name__, alias
